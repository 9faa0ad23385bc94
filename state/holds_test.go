package state

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func putHold(t *testing.T, db *DB, key, data string, ttl time.Duration, now time.Time) *Hold {
	t.Helper()
	h, err := db.ChangeHold(key, now, func(cur *Hold) (*Hold, error) {
		return &Hold{Key: key, Data: json.RawMessage(data), ExpiresAt: now.Add(ttl)}, nil
	})
	if err != nil {
		t.Fatalf("ChangeHold %s: %v", key, err)
	}
	return h
}

// A hold is durable (it survives a reopen), expires on the injected clock,
// and is purged once expired.
func TestHoldsLifecycle(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	h := putHold(t, db, "webform:a", `{"email":"sam@northwind.example"}`, 24*time.Hour, clock.Now())
	if !h.At.Equal(t0) || !h.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("stored %+v", h)
	}
	putHold(t, db, "webform:b", `{}`, time.Hour, clock.Now())
	db = reopen(t, db, Options{Now: clock.Now})
	got, err := db.GetHold("webform:a", clock.Now())
	if err != nil || got == nil || string(got.Data) != `{"email":"sam@northwind.example"}` {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	// A change keeps when it was first held.
	clock.Advance(30 * time.Minute)
	h = putHold(t, db, "webform:a", `{"email":"sam@northwind.example","mailed":true}`, 24*time.Hour, t0)
	if !h.At.Equal(t0) {
		t.Errorf("At moved to %v", h.At)
	}
	clock.Advance(time.Hour) // b expired
	if got, _ := db.GetHold("webform:b", clock.Now()); got != nil {
		t.Errorf("an expired hold is still read: %+v", got)
	}
	if _, err := db.ChangeHold("webform:b", clock.Now(), func(cur *Hold) (*Hold, error) {
		if cur != nil {
			t.Errorf("change saw an expired hold")
		}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	putHold(t, db, "webform:c", `{}`, time.Minute, clock.Now())
	clock.Advance(time.Minute)
	if n, err := db.PurgeHolds(clock.Now()); err != nil || n != 1 { // c; b was deleted by the change
		t.Fatalf("PurgeHolds = %d, %v", n, err)
	}
	clock.Advance(24 * time.Hour)
	if n, err := db.PurgeHolds(clock.Now()); err != nil || n != 1 {
		t.Fatalf("PurgeHolds = %d, %v", n, err)
	}
	_ = db.bdb.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketHolds).Stats().KeyN; n != 0 {
			t.Errorf("%d holds left after purging", n)
		}
		return nil
	})
	mustCheck(t, db)
}

func TestChangeHoldRefusals(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	boom := errors.New("boom")
	if _, err := db.ChangeHold("k", clock.Now(), func(*Hold) (*Hold, error) { return nil, boom }); err != boom {
		t.Errorf("change error: %v", err)
	}
	for _, tc := range []struct {
		h    Hold
		want string
	}{
		{Hold{Key: "other", ExpiresAt: clock.Now().Add(time.Hour)}, `state: change hold "k": a hold under "k" was given key "other"`},
		{Hold{Key: "k"}, `state: change hold "k": hold "k" has no expiry`},
		{Hold{Key: "k", Data: json.RawMessage("{"), ExpiresAt: clock.Now().Add(time.Hour)}, `state: change hold "k": hold "k": data is not valid JSON`},
	} {
		_, err := db.ChangeHold("k", clock.Now(), func(*Hold) (*Hold, error) { h := tc.h; return &h, nil })
		if err == nil || err.Error() != tc.want {
			t.Errorf("ChangeHold(%+v) = %v, want %s", tc.h, err, tc.want)
		}
	}
	if _, err := db.ChangeHold("", clock.Now(), nil); err == nil {
		t.Error("empty key accepted")
	}
	if got, _ := db.GetHold("k", clock.Now()); got != nil {
		t.Errorf("a refused change stored %+v", got)
	}
}

// Concurrent changes of one hold are serialised: each sees the one before.
func TestChangeHoldIsAtomic(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	var wg sync.WaitGroup
	firsts := make(chan bool, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.ChangeHold("k", clock.Now(), func(cur *Hold) (*Hold, error) {
				firsts <- cur == nil
				n := 0
				if cur != nil {
					_ = json.Unmarshal(cur.Data, &n)
				}
				b, _ := json.Marshal(n + 1)
				return &Hold{Key: "k", Data: b, ExpiresAt: clock.Now().Add(time.Hour)}, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(firsts)
	n := 0
	for f := range firsts {
		if f {
			n++
		}
	}
	got, _ := db.GetHold("k", clock.Now())
	if n != 1 || got == nil || string(got.Data) != "20" {
		t.Fatalf("%d changes saw no hold; count %s", n, got.Data)
	}
}

// A file of schema version 2 (no holds bucket) is migrated.
func TestMigrateV3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	db, err := open(path, Options{}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bdb.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketHolds) }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("open version-2 file: %v", err)
	}
	defer db.Close()
	if db.version != SchemaVersion {
		t.Fatalf("version %d", db.version)
	}
	if _, err := db.ChangeHold("k", t0, func(*Hold) (*Hold, error) {
		return &Hold{Key: "k", ExpiresAt: t0.Add(time.Hour)}, nil
	}); err != nil {
		t.Fatalf("holds after migration: %v", err)
	}
	mustCheck(t, db)
}

func TestCorruptHoldIsAnError(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if err := db.bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketHolds).Put([]byte("k"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"GetHold":    second(db.GetHold("k", t0)),
		"ChangeHold": second(db.ChangeHold("k", t0, func(*Hold) (*Hold, error) { return nil, nil })),
		"PurgeHolds": second(db.PurgeHolds(t0)),
		"Check":      db.Check(),
	} {
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `bucket holds.v1 key "k"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
