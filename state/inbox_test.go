package state

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func wantItem(t *testing.T, got, want Item) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("item:\n got %+v\nwant %+v", got, want)
	}
}

func TestItemKey(t *testing.T) {
	if got, want := ItemKey("salesforce", "Partner_Registration__c", "a0B5e00000XyZ"), "salesforce/Partner_Registration__c/a0B5e00000XyZ"; got != want {
		t.Fatalf("ItemKey = %q, want %q", got, want)
	}
}

func TestEnqueueNewItem(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("101", "webhook"))
	wantItem(t, mustItem(t, db, hsKey("101")), Item{
		Key: "hubspot/partner_registration/101", CRM: "hubspot", Object: "partner_registration", RecordID: "101",
		Reason: "webhook", EnqueuedAt: t0, UpdatedAt: t0, NotBefore: t0, Gen: 1,
	})
	if _, err := db.Item(hsKey("999")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Item(missing) = %v, want ErrNotFound", err)
	}
	mustCheck(t, db)
}

func TestEnqueueCollapses(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	// Two items for one record in one call collapse too.
	mustEnqueue(t, db, hs("7", "webhook"), hs("7", "webhook"))
	t1 := clock.Advance(time.Minute)
	mustEnqueue(t, db, hs("7", "poll"), hs("7", " sweep , webhook"))

	wantItem(t, mustItem(t, db, hsKey("7")), Item{
		Key: hsKey("7"), CRM: "hubspot", Object: "partner_registration", RecordID: "7",
		Reason: "webhook,poll,sweep", EnqueuedAt: t0, UpdatedAt: t1, NotBefore: t1, Gen: 4,
	})
	got := mustItem(t, db, hsKey("7"))
	if r := got.Reasons(); !slices.Equal(r, []string{"webhook", "poll", "sweep"}) {
		t.Fatalf("Reasons = %q", r)
	}
	pending, err := db.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %d items, %v; want 1", len(pending), err)
	}
	mustCheck(t, db)
}

func TestEnqueueReasonsCapped(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	var items []Item
	for i := range maxReasons + 4 {
		items = append(items, hs("1", fmt.Sprintf("r%02d", i)))
	}
	mustEnqueue(t, db, items...)
	r := mustItem(t, db, hsKey("1")).Reasons()
	if len(r) != maxReasons || r[0] != "r04" || r[len(r)-1] != "r19" {
		t.Fatalf("Reasons = %q, want the newest %d (r04…r19)", r, maxReasons)
	}
}

func TestEnqueueByKeyOnly(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, Item{Key: "salesforce/Partner_Registration__c/a0B/x", Reason: "manual"})
	it := mustItem(t, db, "salesforce/Partner_Registration__c/a0B/x")
	if it.CRM != "salesforce" || it.Object != "Partner_Registration__c" || it.RecordID != "a0B/x" {
		t.Fatalf("parsed %q %q %q", it.CRM, it.Object, it.RecordID)
	}
}

func TestEnqueueRejects(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	for _, tc := range []struct {
		name string
		it   Item
		want string
	}{
		{"no id", Item{CRM: "hubspot", Object: "o"}, `state: enqueue: item "hubspot/o/": empty record id`},
		{"slash in crm", Item{CRM: "hub/spot", Object: "o", RecordID: "1"}, `state: enqueue: item "hub/spot/o/1": crm "hub/spot" must be non-empty and contain no '/'`},
		{"no object", Item{CRM: "hubspot", RecordID: "1"}, `state: enqueue: item "hubspot//1": object "" must be non-empty and contain no '/'`},
		{"key mismatch", Item{Key: "hubspot/o/2", CRM: "hubspot", Object: "o", RecordID: "1"}, `state: enqueue: item key "hubspot/o/2" does not match crm/object/id "hubspot/o/1"`},
		{"bad key", Item{Key: "hubspot/1"}, `state: enqueue: item key "hubspot/1" is not crm/object/id`},
	} {
		err := db.Enqueue(hs("ok", "poll"), tc.it)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		}
	}
	// A rejected call stores nothing, not even its valid items.
	if p, _ := db.Pending(); len(p) != 0 {
		t.Fatalf("Pending after rejected enqueues = %v", keysOf(p))
	}
	if err := db.Enqueue(); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
}

func TestLeaseOldestFirst(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("b", "poll"), hs("a", "poll")) // same instant: by key
	clock.Advance(time.Second)
	mustEnqueue(t, db, hs("c", "webhook"))
	clock.Advance(time.Second)
	mustEnqueue(t, db, hs("d", "webhook"))
	clock.Advance(time.Second)
	mustEnqueue(t, db, hs("c", "webhook")) // news keeps c's place

	got := mustLease(t, db, 3, time.Minute)
	if want := []string{hsKey("a"), hsKey("b"), hsKey("c")}; !slices.Equal(keysOf(got), want) {
		t.Fatalf("Lease = %q, want %q", keysOf(got), want)
	}
	for _, it := range got {
		if !it.LeasedUntil.Equal(clock.Now().Add(time.Minute)) {
			t.Fatalf("%s LeasedUntil = %v", it.Key, it.LeasedUntil)
		}
	}
	got = mustLease(t, db, 3, time.Minute)
	if want := []string{hsKey("d")}; !slices.Equal(keysOf(got), want) {
		t.Fatalf("second Lease = %q, want %q", keysOf(got), want)
	}
	if got := mustLease(t, db, 3, time.Minute); len(got) != 0 {
		t.Fatalf("third Lease = %q, want none", keysOf(got))
	}
	pending, err := db.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{hsKey("a"), hsKey("b"), hsKey("c"), hsKey("d")}; !slices.Equal(keysOf(pending), want) {
		t.Fatalf("Pending = %q, want %q", keysOf(pending), want)
	}
	mustCheck(t, db)
}

func TestLeaseRejects(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if _, err := db.Lease(0, time.Minute); err == nil || err.Error() != "state: lease: max 0 must be positive" {
		t.Fatalf("Lease(0) = %v", err)
	}
	if _, err := db.Lease(1, 0); err == nil || err.Error() != "state: lease: duration 0s must be positive" {
		t.Fatalf("Lease(1, 0) = %v", err)
	}
}

func TestAckDeletes(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))
	leased := mustLease(t, db, 10, time.Minute)
	if len(leased) != 1 {
		t.Fatalf("leased %d", len(leased))
	}
	if err := db.Ack(leased[0]); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if _, err := db.Item(hsKey("1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Ack: %v, want ErrNotFound", err)
	}
	// A second Ack of the same lease: the item is gone, the lease with it.
	err := db.Ack(leased[0])
	if !errors.Is(err, ErrLeaseLost) || err.Error() != "state: ack hubspot/partner_registration/1: lease lost" {
		t.Fatalf("second Ack = %v", err)
	}
	mustCheck(t, db)
}

func TestAckKeepsItemEnqueuedDuringLease(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))
	leased := mustLease(t, db, 10, 5*time.Minute)[0]
	if leased.Gen != 1 {
		t.Fatalf("leased Gen = %d", leased.Gen)
	}

	t1 := clock.Advance(time.Minute)
	mustEnqueue(t, db, hs("1", "poll")) // news while the worker holds it
	if got := mustLease(t, db, 10, time.Minute); len(got) != 0 {
		t.Fatalf("re-enqueued item leased twice: %q", keysOf(got))
	}
	t2 := clock.Advance(time.Minute)
	if err := db.Ack(leased); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	wantItem(t, mustItem(t, db, hsKey("1")), Item{
		Key: hsKey("1"), CRM: "hubspot", Object: "partner_registration", RecordID: "1",
		Reason: "webhook,poll", EnqueuedAt: t0, UpdatedAt: t2, NotBefore: t1, Gen: 2,
	})

	again := mustLease(t, db, 10, time.Minute)
	if len(again) != 1 || again[0].Gen != 2 {
		t.Fatalf("second lease = %+v", again)
	}
	if err := db.Ack(again[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Item(hsKey("1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after second Ack: %v", err)
	}
}

func TestLeaseExpiry(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))
	first := mustLease(t, db, 1, time.Minute)[0]

	clock.Advance(time.Minute - time.Nanosecond)
	if got := mustLease(t, db, 1, time.Minute); len(got) != 0 {
		t.Fatalf("leased before expiry: %q", keysOf(got))
	}
	clock.Advance(time.Nanosecond) // exactly at LeasedUntil: due again
	second := mustLease(t, db, 1, time.Minute)
	if len(second) != 1 || second[0].Gen != 1 || !second[0].LeasedUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after expiry Lease = %+v", second)
	}

	// The first holder's lease is gone: its Ack and Retry change nothing.
	if err := db.Ack(first); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale Ack = %v, want ErrLeaseLost", err)
	}
	if err := db.Retry(first, "retry", 0, errors.New("late")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale Retry = %v, want ErrLeaseLost", err)
	}
	wantItem(t, mustItem(t, db, hsKey("1")), second[0])

	if err := db.Ack(second[0]); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	// A stale holder never deletes a newer incarnation of the record.
	mustEnqueue(t, db, hs("1", "webhook"))
	if err := db.Ack(first); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale Ack on new incarnation = %v", err)
	}
	if _, err := db.Item(hsKey("1")); err != nil {
		t.Fatalf("new incarnation lost: %v", err)
	}
	// An item never leased cannot be acked.
	if err := db.Ack(mustItem(t, db, hsKey("1"))); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Ack of unleased item = %v", err)
	}
}

func TestRetryBacksOffAndNeverDeadLetters(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))

	it := mustLease(t, db, 1, time.Minute)[0]
	t1 := clock.Advance(2 * time.Second)
	if err := db.Retry(it, "unknown", 0, errors.New("hubspot: 502 bad gateway")); err != nil {
		t.Fatalf("Retry = %v", err)
	}
	wantItem(t, mustItem(t, db, hsKey("1")), Item{
		Key: hsKey("1"), CRM: "hubspot", Object: "partner_registration", RecordID: "1", Reason: "webhook",
		EnqueuedAt: t0, UpdatedAt: t1, Attempts: 1, NotBefore: t1.Add(2 * time.Second),
		LastError: "hubspot: 502 bad gateway", LastClass: "unknown", Gen: 1,
	})

	clock.Advance(2*time.Second - time.Nanosecond)
	if got := mustLease(t, db, 1, time.Minute); len(got) != 0 {
		t.Fatalf("leased during backoff: %+v", got)
	}
	clock.Advance(time.Nanosecond)
	it = mustLease(t, db, 1, time.Minute)[0]
	t2 := clock.Now()
	if err := db.Retry(it, "retry", 0, nil); err != nil {
		t.Fatalf("second Retry = %v", err)
	}
	got := mustItem(t, db, hsKey("1"))
	if got.Attempts != 2 || !got.NotBefore.Equal(t2.Add(4*time.Second)) || got.LastError != "unknown error" || got.LastClass != "retry" {
		t.Fatalf("after second Retry: %+v", got)
	}

	// However many times it fails, a transient fault never buries the
	// item: the backoff grows to its cap (30 minutes) and stays there.
	for n := 3; n <= 100; n++ {
		clock.Advance(mustItem(t, db, hsKey("1")).NotBefore.Sub(clock.Now()))
		it = mustLease(t, db, 1, time.Minute)[0]
		now := clock.Now()
		if err := db.Retry(it, "unknown", 0, errors.New("still down")); err != nil {
			t.Fatalf("Retry %d: %v", n, err)
		}
		got := mustItem(t, db, hsKey("1"))
		if want := now.Add(DefaultBackoff(n)); got.Attempts != n || !got.NotBefore.Equal(want) {
			t.Fatalf("Retry %d: attempts %d, not before %s, want %s", n, got.Attempts, got.NotBefore, want)
		}
	}
	if got := mustItem(t, db, hsKey("1")); got.NotBefore.Sub(got.UpdatedAt) != 30*time.Minute {
		t.Fatalf("backoff after 100 failures: %s, want the 30m cap", got.NotBefore.Sub(got.UpdatedAt))
	}
	if d, err := db.Dead(); err != nil || len(d) != 0 {
		t.Fatalf("Dead = %+v, %v", d, err)
	}

	// A wait the CRM asked for, longer than the backoff, is kept.
	clock.Advance(30 * time.Minute)
	it = mustLease(t, db, 1, time.Minute)[0]
	t3 := clock.Now()
	if err := db.Retry(it, "retry", 2*time.Hour, errors.New("locked")); err != nil {
		t.Fatal(err)
	}
	if got := mustItem(t, db, hsKey("1")); !got.NotBefore.Equal(t3.Add(2 * time.Hour)) {
		t.Fatalf("NotBefore %s, want the CRM's 2h", got.NotBefore)
	}

	// A permanent failure buries it at once, with its class.
	clock.Advance(2 * time.Hour)
	it = mustLease(t, db, 1, time.Minute)[0]
	t4 := clock.Now()
	if err := db.Bury(it, errors.New("batch update: invalid (HTTP 400): Property values were not valid")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Item(hsKey("1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dead item still pending: %v", err)
	}
	deadItems, err := db.Dead()
	if err != nil {
		t.Fatal(err)
	}
	if len(deadItems) != 1 {
		t.Fatalf("Dead = %+v", deadItems)
	}
	wantItem(t, deadItems[0], Item{
		Key: hsKey("1"), CRM: "hubspot", Object: "partner_registration", RecordID: "1", Reason: "webhook",
		EnqueuedAt: t0, UpdatedAt: t4, Attempts: 102, LastError: "batch update: invalid (HTTP 400): Property values were not valid",
		LastClass: "permanent", Gen: 1,
	})
	if got := deadItems[0].Failure(); got != "permanent: batch update: invalid (HTTP 400): Property values were not valid" {
		t.Errorf("Failure() = %q", got)
	}
	st, err := db.InboxStats()
	if err != nil || st != (InboxStats{Dead: 1}) {
		t.Fatalf("InboxStats = %+v, %v", st, err)
	}
	mustCheck(t, db)
}

func TestItemFailure(t *testing.T) {
	for _, tc := range []struct {
		it   Item
		want string
	}{
		{Item{}, ""},
		{Item{LastError: "boom"}, "boom"},
		{Item{LastError: "boom", LastClass: "unknown"}, "unknown: boom"},
		{Item{LastClass: "postpone"}, "postpone"},
	} {
		if got := tc.it.Failure(); got != tc.want {
			t.Errorf("%+v: Failure() = %q, want %q", tc.it, got, tc.want)
		}
	}
}

func TestRetryUsesBackoffOption(t *testing.T) {
	var calls []int
	db, clock, _ := openTest(t, Options{Backoff: func(n int) time.Duration {
		calls = append(calls, n)
		return time.Duration(n) * time.Hour
	}})
	mustEnqueue(t, db, hs("1", "poll"))
	for want := 1; want <= 3; want++ {
		it := mustLease(t, db, 1, time.Minute)
		if len(it) != 1 {
			t.Fatalf("attempt %d: nothing due", want)
		}
		if err := db.Retry(it[0], "retry", 0, errors.New("x")); err != nil {
			t.Fatal(err)
		}
		if got := mustItem(t, db, hsKey("1")).NotBefore; !got.Equal(clock.Now().Add(time.Duration(want) * time.Hour)) {
			t.Fatalf("attempt %d NotBefore = %v", want, got)
		}
		clock.Advance(time.Duration(want) * time.Hour)
	}
	if !slices.Equal(calls, []int{1, 2, 3}) {
		t.Fatalf("Backoff called with %v", calls)
	}
}

func TestRetryTruncatesLongError(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "poll"))
	it := mustLease(t, db, 1, time.Minute)[0]
	if err := db.Retry(it, "retry", 0, errors.New(strings.Repeat("é", maxLastErrorLen))); err != nil {
		t.Fatal(err)
	}
	got := mustItem(t, db, hsKey("1")).LastError
	if len(got) > maxLastErrorLen+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("LastError of %d bytes: %.20q…", len(got), got)
	}
}

func TestEnqueueDuringBackoffIsPrompt(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "poll"))
	it := mustLease(t, db, 1, time.Minute)[0]
	if err := db.Retry(it, "retry", 0, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	t1 := clock.Advance(time.Second)
	mustEnqueue(t, db, hs("1", "webhook"))
	got := mustLease(t, db, 1, time.Minute)
	if len(got) != 1 || !got[0].NotBefore.Equal(t1) || got[0].Attempts != 1 || got[0].Gen != 2 {
		t.Fatalf("Lease after news = %+v", got)
	}
}

func TestRetryDeadAndDropDead(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"), hs("2", "poll"))
	for _, it := range mustLease(t, db, 2, time.Minute) {
		if err := db.Bury(it, errors.New("boom")); err != nil {
			t.Fatalf("Bury = %v", err)
		}
	}
	t1 := clock.Advance(time.Hour)
	if err := db.RetryDead(hsKey("1")); err != nil {
		t.Fatalf("RetryDead: %v", err)
	}
	wantItem(t, mustItem(t, db, hsKey("1")), Item{
		Key: hsKey("1"), CRM: "hubspot", Object: "partner_registration", RecordID: "1",
		Reason: "webhook,manual", EnqueuedAt: t1, UpdatedAt: t1, NotBefore: t1, LastError: "boom", LastClass: "permanent", Gen: 2,
	})
	if err := db.DropDead(hsKey("2")); err != nil {
		t.Fatalf("DropDead: %v", err)
	}
	if d, err := db.Dead(); err != nil || len(d) != 0 {
		t.Fatalf("Dead = %+v, %v", d, err)
	}
	for _, err := range []error{db.RetryDead(hsKey("2")), db.DropDead(hsKey("2")), db.RetryDead("")} {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("on missing dead item: %v, want ErrNotFound", err)
		}
	}
	if err := db.DropDead(hsKey("9")); err == nil || err.Error() != "state: drop dead hubspot/partner_registration/9: not found" {
		t.Fatalf("DropDead message: %v", err)
	}
	mustCheck(t, db)
}

func TestEnqueueRevivesDeadItem(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))
	it := mustLease(t, db, 1, time.Minute)[0]
	if err := db.Bury(it, errors.New("boom")); err != nil {
		t.Fatalf("Bury = %v", err)
	}
	t1 := clock.Advance(time.Hour)
	mustEnqueue(t, db, hs("1", "sweep"))
	wantItem(t, mustItem(t, db, hsKey("1")), Item{
		Key: hsKey("1"), CRM: "hubspot", Object: "partner_registration", RecordID: "1",
		Reason: "webhook,sweep", EnqueuedAt: t1, UpdatedAt: t1, NotBefore: t1, LastError: "boom", LastClass: "permanent", Gen: 2,
	})
	if d, _ := db.Dead(); len(d) != 0 {
		t.Fatalf("Dead still holds %q", keysOf(d))
	}
	// The stale lease from before death cannot touch the revived item.
	if err := db.Ack(it); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale Ack = %v", err)
	}
	mustCheck(t, db)
}

func TestInboxStats(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	if st, err := db.InboxStats(); err != nil || st != (InboxStats{}) {
		t.Fatalf("empty InboxStats = %+v, %v", st, err)
	}
	mustEnqueue(t, db, hs("leased", "poll"), hs("waiting", "poll"), hs("dead", "poll"))
	byID := map[string]Item{}
	for _, it := range mustLease(t, db, 3, time.Hour) {
		byID[it.RecordID] = it
	}
	if err := db.Retry(byID["dead"], "retry", 0, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	again := mustLease(t, db, 3, time.Hour)
	if len(again) != 1 || again[0].RecordID != "dead" {
		t.Fatalf("Lease after backoff = %q, want only dead", keysOf(again))
	}
	if err := db.Bury(again[0], errors.New("x")); err != nil {
		t.Fatalf("Bury = %v", err)
	}
	if err := db.Retry(byID["waiting"], "retry", 0, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, db, hs("due", "webhook"))

	st, err := db.InboxStats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (InboxStats{Pending: 3, Leased: 1, Due: 1, Waiting: 1, Dead: 1, OldestEnqueued: t0}); st != want {
		t.Fatalf("InboxStats = %+v, want %+v", st, want)
	}
	// The lease runs out, the backoff ends: everything pending is due.
	clock.Advance(time.Hour)
	st, err = db.InboxStats()
	if want := (InboxStats{Pending: 3, Due: 3, Dead: 1, OldestEnqueued: t0}); err != nil || st != want {
		t.Fatalf("later InboxStats = %+v, %v, want %+v", st, err, want)
	}
	mustCheck(t, db)
}

// TestConcurrentEnqueue: 50 goroutines × 20 items through Batch, plus 5
// records every goroutine enqueues. All arrive, duplicates collapse, and
// the calls share far fewer commits than there are calls.
func TestConcurrentEnqueue(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	txBefore := committedTxID(t, db)

	const goroutines, perG, shared = 50, 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*(perG+shared))
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				errs <- db.Enqueue(hs(fmt.Sprintf("g%02d-%02d", g, i), "webhook"))
				if i < shared {
					errs <- db.Enqueue(hs(fmt.Sprintf("shared-%d", i), "poll"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	calls := goroutines * (perG + shared)
	commits := committedTxID(t, db) - txBefore

	pending, err := db.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != goroutines*perG+shared {
		t.Fatalf("Pending = %d items, want %d", len(pending), goroutines*perG+shared)
	}
	seen := map[string]Item{}
	for _, it := range pending {
		seen[it.Key] = it
	}
	for g := range goroutines {
		for i := range perG {
			it, ok := seen[hsKey(fmt.Sprintf("g%02d-%02d", g, i))]
			if !ok || it.Gen != 1 || it.Reason != "webhook" {
				t.Fatalf("g%02d-%02d: %+v (present %v)", g, i, it, ok)
			}
		}
	}
	for i := range shared {
		it := seen[hsKey(fmt.Sprintf("shared-%d", i))]
		if it.Gen != goroutines || it.Reason != "poll" {
			t.Fatalf("shared-%d: Gen %d Reason %q, want Gen %d", i, it.Gen, it.Reason, goroutines)
		}
	}
	if commits <= 0 || commits > calls/4 {
		t.Fatalf("%d Enqueue calls took %d commits; Batch should coalesce them", calls, commits)
	}
	t.Logf("%d Enqueue calls, %d commits", calls, commits)
	mustCheck(t, db)
}

// committedTxID is the id of the last committed write transaction.
func committedTxID(t *testing.T, db *DB) int {
	t.Helper()
	var id int
	if err := db.bdb.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestConcurrentLeaseAckRetry: producers enqueue while workers lease, ack
// and retry. Every enqueue carries a unique reason token; a token counts as
// processed when a worker acked a leased copy carrying it. Nothing may be
// lost: every token is processed, and no item is held by two workers.
func TestConcurrentLeaseAckRetry(t *testing.T) {
	db, _, _ := openTest(t, Options{Now: time.Now, Backoff: func(int) time.Duration { return 0 }})
	const records, producers, perProducer = 20, 4, 20 // 4 enqueues per record

	var mu sync.Mutex
	processed := map[string]bool{}
	inFlight := map[string]bool{}
	var sent []string

	var producing sync.WaitGroup
	for p := range producers {
		producing.Add(1)
		go func() {
			defer producing.Done()
			for i := range perProducer {
				token := fmt.Sprintf("p%d-%d", p, i)
				if err := db.Enqueue(hs(fmt.Sprint((i*producers+p)%records), token)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent = append(sent, token)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { producing.Wait(); close(done) }()

	var working sync.WaitGroup
	for w := range 4 {
		working.Add(1)
		go func() {
			defer working.Done()
			for round := 0; ; round++ {
				items, err := db.Lease(3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) == 0 {
					select {
					case <-done:
						if st, err := db.InboxStats(); err != nil || st.Pending == 0 {
							return
						}
					default:
					}
					runtime.Gosched()
					continue
				}
				mu.Lock()
				for _, it := range items {
					if inFlight[it.Key] {
						t.Errorf("%s leased twice", it.Key)
					}
					inFlight[it.Key] = true
				}
				mu.Unlock()
				for _, it := range items {
					retry := (round+w)%3 == 0
					mu.Lock()
					delete(inFlight, it.Key)
					mu.Unlock()
					if retry {
						if err := db.Retry(it, "retry", 0, errors.New("transient")); err != nil {
							t.Error(err)
						}
						continue
					}
					if err := db.Ack(it); err != nil {
						t.Error(err)
						continue
					}
					mu.Lock()
					for _, r := range it.Reasons() {
						processed[r] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	working.Wait()

	if len(sent) != producers*perProducer {
		t.Fatalf("sent %d tokens", len(sent))
	}
	for _, token := range sent {
		if !processed[token] {
			t.Errorf("enqueue %s was never processed", token)
		}
	}
	if p := mustPending(t, db); len(p) != 0 {
		t.Fatalf("left pending: %q", keysOf(p))
	}
	mustCheck(t, db)
}

func mustPending(t *testing.T, db *DB) []Item {
	t.Helper()
	p, err := db.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{
		0: 2 * time.Second, 1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second,
		10: 1024 * time.Second, 11: 30 * time.Minute, 100: 30 * time.Minute,
	} {
		if got := DefaultBackoff(n); got != want {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestAckAllAndBury(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "poll"), hs("2", "poll"), hs("3", "poll"), hs("4", "poll"))
	items, err := db.Lease(10, time.Minute)
	if err != nil || len(items) != 4 {
		t.Fatalf("Lease = %d, %v", len(items), err)
	}
	// News for item 2 while leased: AckAll keeps it.
	mustEnqueue(t, db, hs("2", "webhook"))
	lost, err := db.AckAll([]Item{items[0], items[1]})
	if err != nil || len(lost) != 0 {
		t.Fatalf("AckAll = %v, %v", lost, err)
	}
	if err := db.Bury(items[2], errors.New("hubspot: invalid property value")); err != nil {
		t.Fatal(err)
	}
	st, _ := db.InboxStats()
	if st.Pending != 2 || st.Dead != 1 {
		t.Fatalf("stats %+v, want 2 pending (2 with news, 4 leased) and 1 dead", st)
	}
	dead, _ := db.Dead()
	if len(dead) != 1 || dead[0].Key != hsKey("3") || !strings.Contains(dead[0].LastError, "invalid property") {
		t.Fatalf("dead = %+v", dead)
	}
	// An expired lease is lost: AckAll reports it and changes nothing.
	clock.Advance(2 * time.Minute)
	again, _ := db.Lease(10, time.Minute)
	lost, err = db.AckAll([]Item{items[3]})
	if err != nil || len(lost) != 1 || lost[0] != hsKey("4") {
		t.Fatalf("AckAll with a lost lease = %v, %v", lost, err)
	}
	if err := db.Bury(items[3], errors.New("x")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Bury with a lost lease = %v", err)
	}
	if len(again) != 2 {
		t.Fatalf("re-lease got %d items", len(again))
	}
	mustCheck(t, db)
}

func TestDefer(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	// A new item waits until its time.
	if err := db.Defer(clock.Now().Add(time.Minute), hs("1", "recheck")); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Lease(10, time.Minute); len(got) != 0 {
		t.Fatalf("a deferred item was leased early: %+v", got)
	}
	// A leased item deferred while held: acked, it stays, and comes back
	// only after its time.
	mustEnqueue(t, db, hs("2", "webhook"))
	held, _ := db.Lease(10, time.Minute)
	if len(held) != 1 || held[0].Key != hsKey("2") {
		t.Fatalf("lease = %+v", held)
	}
	if err := db.Defer(clock.Now().Add(30*time.Second), hs("2", "recheck")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AckAll(held); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Lease(10, time.Minute); len(got) != 0 {
		t.Fatalf("leased before the deferred time: %+v", got)
	}
	clock.Advance(31 * time.Second)
	got, _ := db.Lease(10, time.Minute)
	if len(got) != 1 || got[0].Key != hsKey("2") || got[0].Reason != "webhook,recheck" {
		t.Fatalf("after 31s: %+v", got)
	}
	clock.Advance(30 * time.Second)
	got2, _ := db.Lease(10, time.Minute)
	if len(got2) != 1 || got2[0].Key != hsKey("1") {
		t.Fatalf("after 61s: %+v", got2)
	}
	mustCheck(t, db)
}

func TestReleaseLeases(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"), hs("2", "webhook"))
	if got, _ := db.Lease(1, time.Hour); len(got) != 1 {
		t.Fatalf("lease: %+v", got)
	}
	// The process dies; a new one opens the file.
	db = reopen(t, db, Options{Now: db.nowFn})
	n, err := db.ReleaseLeases()
	if err != nil || n != 1 {
		t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
	}
	if got, _ := db.Lease(10, time.Minute); len(got) != 2 {
		t.Fatalf("after release, leased %d items, want both", len(got))
	}
	mustCheck(t, db)
}

func TestPostponeCountsNoFailure(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "webhook"))
	for i := range 5 {
		got, _ := db.Lease(1, time.Minute)
		if len(got) != 1 {
			t.Fatalf("round %d: leased %d", i, len(got))
		}
		if err := db.Postpone(got[0], clock.Now().Add(time.Hour), errors.New("daily_limit")); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.Lease(1, time.Minute); len(again) != 0 {
			t.Fatalf("round %d: due before the wait ended", i)
		}
		clock.Advance(time.Hour)
	}
	it := mustItem(t, db, hsKey("1"))
	if it.Attempts != 0 || it.LastError != "daily_limit" || it.LastClass != "postpone" {
		t.Fatalf("after postponing: %+v", it)
	}
	if st, _ := db.InboxStats(); st.Dead != 0 {
		t.Fatal("a postponed item went to the dead letters")
	}
	mustCheck(t, db)
}
