package state

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// t0 is the fake clock's start.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// openTest opens a fresh state file in a temp dir with a fake clock; it is
// closed when the test ends.
func openTest(t *testing.T, opts Options) (*DB, *fakeClock, string) {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	path := filepath.Join(t.TempDir(), "regsync.db")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, clock, path
}

func reopen(t *testing.T, db *DB, opts Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db2, err := Open(db.Path(), opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = db2.Close() })
	return db2
}

func hs(id string, reason string) Item {
	return Item{CRM: "hubspot", Object: "partner_registration", RecordID: id, Reason: reason}
}

func hsKey(id string) string { return ItemKey("hubspot", "partner_registration", id) }

func keysOf(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func mustEnqueue(t *testing.T, db *DB, items ...Item) {
	t.Helper()
	if err := db.Enqueue(items...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func mustLease(t *testing.T, db *DB, max int, d time.Duration) []Item {
	t.Helper()
	items, err := db.Lease(max, d)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return items
}

func mustItem(t *testing.T, db *DB, key string) Item {
	t.Helper()
	it, err := db.Item(key)
	if err != nil {
		t.Fatalf("Item(%s): %v", key, err)
	}
	return it
}

func mustCheck(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}
