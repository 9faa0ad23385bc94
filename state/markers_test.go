package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestMarkersExpire(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	for _, m := range []Markers{db.Escalations(), db.Summaries(), db.SlackOrigins()} {
		t.Run(string(m.name), func(t *testing.T) {
			if v, ok, err := m.Get("k"); err != nil || ok || v != "" {
				t.Fatalf("unset Get = %q, %v, %v", v, ok, err)
			}
			if err := m.Put("k", "v1"); err != nil {
				t.Fatal(err)
			}
			if err := m.PutAll(map[string]string{"a": "x", "b": "y"}); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := m.Get("k"); err != nil || !ok || v != "v1" {
				t.Fatalf("Get = %q, %v, %v", v, ok, err)
			}
			if err := m.PutAll(map[string]string{"": "x"}); err == nil {
				t.Fatal("PutAll with an empty key succeeded")
			}
			start := clock.Now()
			clock.Advance(m.ttl - time.Nanosecond)
			if _, ok, _ := m.Get("k"); !ok {
				t.Fatal("gone before its TTL")
			}
			clock.Advance(time.Nanosecond) // exactly at expiry: gone, even unpurged
			if _, ok, _ := m.Get("k"); ok {
				t.Fatal("still there at its TTL")
			}
			if n, err := m.purge(); err != nil || n != 3 {
				t.Fatalf("purge = %d, %v, want 3", n, err)
			}
			clock.Advance(start.Sub(clock.Now())) // back, for the next bucket
			mustCheck(t, db)
		})
	}
}

// TestEscalationKeptWhileAskedAbout: a marker the sweep keeps asking about
// never expires, and Keep writes only once half the TTL has passed.
func TestEscalationKeptWhileAskedAbout(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	m := db.Escalations()
	if ok, err := m.Keep("escalated/x"); err != nil || ok {
		t.Fatalf("Keep of an unset marker = %v, %v", ok, err)
	}
	if err := m.Put("escalated/x", "2025-03-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	tx := committedTxID(t, db)
	if ok, err := m.Keep("escalated/x"); err != nil || !ok {
		t.Fatalf("Keep = %v, %v", ok, err)
	}
	if committedTxID(t, db) != tx {
		t.Fatal("Keep wrote a fresh marker")
	}
	for range 5 { // five times the TTL, asked about every 0.3 TTL
		clock.Advance(EscalationTTL * 3 / 10)
		if ok, err := m.Keep("escalated/x"); err != nil || !ok {
			t.Fatalf("Keep at %v = %v, %v", clock.Now(), ok, err)
		}
		if n, err := m.purge(); err != nil || n != 0 {
			t.Fatalf("purge = %d, %v", n, err)
		}
	}
	if v, ok, _ := m.Get("escalated/x"); !ok || v != "2025-03-01T00:00:00Z" {
		t.Fatalf("value after Keep %q, %v", v, ok)
	}
	clock.Advance(EscalationTTL)
	if ok, _ := m.Keep("escalated/x"); ok {
		t.Fatal("Keep revived an expired marker")
	}
}

func TestCorruptMarkerIsAnError(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if err := db.bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSlackOrigins).Put([]byte("k"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	m := db.SlackOrigins()
	for name, err := range map[string]error{
		"Get":   func() error { _, _, err := m.Get("k"); return err }(),
		"Keep":  second(m.Keep("k")),
		"purge": second(m.purge()),
		"Check": db.Check(),
	} {
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `bucket slack_origins.v1 key "k"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
