package state

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCursors(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	if v, err := db.Cursor("hubspot/partner_registration"); err != nil || v != "" {
		t.Fatalf("unset Cursor = %q, %v", v, err)
	}
	if err := db.SetCursor("hubspot/partner_registration", "1740992400000"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("salesforce/Partner_Registration__c", "2025-03-03T09:00:00Z"); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{Now: clock.Now})
	for name, want := range map[string]string{
		"hubspot/partner_registration":       "1740992400000",
		"salesforce/Partner_Registration__c": "2025-03-03T09:00:00Z",
		"other":                              "",
	} {
		if v, err := db.Cursor(name); err != nil || v != want {
			t.Errorf("Cursor(%s) = %q, %v, want %q", name, v, err, want)
		}
	}
	if err := db.SetCursor("", "x"); err == nil || err.Error() != "state: set cursor: empty name" {
		t.Fatalf("SetCursor(\"\") = %v", err)
	}
}

func TestRememberExpiry(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	remember := func(key, value string, ttl time.Duration, wantPrior string, wantSeen bool) {
		t.Helper()
		prior, seen, err := db.Remember(key, value, ttl)
		if err != nil || prior != wantPrior || seen != wantSeen {
			t.Fatalf("Remember(%s, %s) = %q, %v, %v; want %q, %v", key, value, prior, seen, err, wantPrior, wantSeen)
		}
	}
	remember("hubspot:evt-1", "case-0001", time.Hour, "", false)
	remember("hubspot:evt-1", "case-0002", time.Hour, "case-0001", true)
	remember("hubspot:evt-2", "case-0003", 2*time.Hour, "", false)

	clock.Advance(time.Hour - time.Nanosecond)
	remember("hubspot:evt-1", "case-0004", time.Hour, "case-0001", true)
	clock.Advance(time.Nanosecond) // exactly at expiry: gone
	remember("hubspot:evt-1", "case-0005", time.Hour, "", false)
	remember("hubspot:evt-1", "case-0006", time.Hour, "case-0005", true)
	remember("hubspot:evt-2", "x", time.Hour, "case-0003", true)

	if _, _, err := db.Remember("k", "v", 0); err == nil || err.Error() != `state: remember "k": ttl 0s must be positive` {
		t.Fatalf("Remember ttl 0 = %v", err)
	}
	if _, _, err := db.Remember("", "v", time.Hour); err == nil {
		t.Fatal("Remember with empty key succeeded")
	}
}

func TestRememberConcurrentOneWinner(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	const n = 30
	var wg sync.WaitGroup
	results := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, seen, err := db.Remember("evt", fmt.Sprint(i), time.Hour)
			if err != nil {
				t.Error(err)
			}
			results <- seen
		}()
	}
	wg.Wait()
	close(results)
	fresh := 0
	for seen := range results {
		if !seen {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d callers saw the key as new, want exactly 1", fresh)
	}
}

func TestPurgeExpired(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	// More keys than one purge transaction looks at, remembered from
	// concurrent callers (each sequential Remember would wait for a batch).
	const short, long, workers = purgeChunk*2 + 37, 25, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < short; i += workers {
				if _, _, err := db.Remember(fmt.Sprintf("short-%05d", i), "v", time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range long {
		if _, _, err := db.Remember(fmt.Sprintf("long-%02d", i), "v", 3*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.PurgeExpired(); err != nil || n != 0 {
		t.Fatalf("PurgeExpired before expiry = %d, %v", n, err)
	}
	clock.Advance(2 * time.Hour)
	if n, err := db.PurgeExpired(); err != nil || n != short {
		t.Fatalf("PurgeExpired = %d, %v, want %d", n, err, short)
	}
	if n, err := db.PurgeExpired(); err != nil || n != 0 {
		t.Fatalf("second PurgeExpired = %d, %v", n, err)
	}
	if _, seen, _ := db.Remember("long-07", "w", time.Hour); !seen {
		t.Fatal("unexpired key was purged")
	}
	if _, seen, _ := db.Remember("short-00100", "w", time.Hour); seen {
		t.Fatal("purged key still seen")
	}
	mustCheck(t, db)
}

func TestFingerprints(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	key := hsKey("42")
	if fp, at, ok, err := db.Fingerprint(key); err != nil || ok || fp != "" || !at.IsZero() {
		t.Fatalf("unset Fingerprint = %q, %v, %v, %v", fp, at, ok, err)
	}
	if err := db.SetFingerprint(key, "sha256:aaaa"); err != nil {
		t.Fatal(err)
	}
	t1 := clock.Advance(time.Minute)
	if err := db.SetFingerprint(key, "sha256:bbbb"); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{Now: clock.Now})
	if fp, at, ok, err := db.Fingerprint(key); err != nil || !ok || fp != "sha256:bbbb" || !at.Equal(t1) {
		t.Fatalf("Fingerprint = %q, %v, %v, %v; want sha256:bbbb at %v", fp, at, ok, err, t1)
	}
	if err := db.DeleteFingerprint(key); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := db.Fingerprint(key); err != nil || ok {
		t.Fatalf("after delete ok=%v err=%v", ok, err)
	}
	if err := db.DeleteFingerprint(key); err != nil {
		t.Fatalf("deleting a missing fingerprint: %v", err)
	}
	if err := db.SetFingerprint("", "x"); err == nil {
		t.Fatal("SetFingerprint with empty key succeeded")
	}
}
