package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Item is one unit of inbox work: "look at this record again". There is at
// most one item per record; news about a record already in the inbox
// collapses into its item.
type Item struct {
	// Key is ItemKey(CRM, Object, RecordID); unique in the inbox.
	Key      string `json:"key"`
	CRM      string `json:"crm"`
	Object   string `json:"object"`
	RecordID string `json:"record_id"`

	// Reason is why the item is here: webhook, poll, sweep, intake,
	// manual, … When news collapses into an existing item its reason is
	// added, so Reason is a comma-separated set in first-seen order (see
	// Reasons). No reason is lost until the item is acked.
	Reason string `json:"reason,omitempty"`

	// EnqueuedAt is when the item first entered the inbox; collapsing news
	// keeps it, so the lease order is by age of the oldest unprocessed news.
	EnqueuedAt time.Time `json:"enqueued_at"`
	// UpdatedAt is the last time the item changed (enqueue, lease, retry).
	UpdatedAt time.Time `json:"updated_at"`

	// Attempts counts consecutive failures (Retry, Bury); a successful Ack
	// that keeps the item resets it. A postponement is not counted.
	Attempts int `json:"attempts,omitempty"`
	// NotBefore is the earliest time the item may be leased.
	NotBefore time.Time `json:"not_before,omitzero"`
	// LastError is the cause of the last failure (Retry, Postpone, Bury).
	LastError string `json:"last_error,omitempty"`
	// LastClass is the class of the last failure, as the worker named it
	// (connectors.Class: retry, postpone, unknown, permanent). A dead
	// letter's is permanent; it is empty for an item that never failed and
	// for dead letters buried before failures had classes.
	LastClass string `json:"last_class,omitempty"`

	// Gen is bumped every time the item is enqueued again; Ack compares it
	// to tell whether news arrived while the item was leased.
	Gen uint64 `json:"gen"`

	// LeasedUntil is set by Lease. It doubles as the lease token: Ack and
	// Retry act only when it still matches the stored item.
	LeasedUntil time.Time `json:"leased_until,omitzero"`
}

// ItemKey is the inbox key of a record: crm + "/" + object + "/" + id.
func ItemKey(crm, object, id string) string {
	return crm + "/" + object + "/" + id
}

// Reasons splits Reason into its parts.
func (it Item) Reasons() []string {
	if it.Reason == "" {
		return nil
	}
	return strings.Split(it.Reason, ",")
}

// Failure says what the last failure was and why: "class: error", e.g.
// "permanent: batch update: invalid (HTTP 400): Property values were not
// valid"; just the error when it has no class, "" when the item never
// failed.
func (it Item) Failure() string {
	switch {
	case it.LastError == "":
		return it.LastClass
	case it.LastClass == "":
		return it.LastError
	}
	return it.LastClass + ": " + it.LastError
}

func (it Item) leased(now time.Time) bool { return it.LeasedUntil.After(now) }

func (it Item) due(now time.Time) bool {
	return !it.NotBefore.After(now) && !it.leased(now)
}

// InboxStats is a snapshot of the inbox. Pending = Leased + Due + Waiting.
type InboxStats struct {
	Pending int `json:"pending"` // items in the inbox
	Leased  int `json:"leased"`  // held by a worker under an unexpired lease
	Due     int `json:"due"`     // ready to be leased now
	Waiting int `json:"waiting"` // backing off after a failure
	Dead    int `json:"dead"`    // in the dead-letter bucket
	// OldestEnqueued is the EnqueuedAt of the oldest pending item; zero
	// when the inbox is empty.
	OldestEnqueued time.Time `json:"oldest_enqueued,omitzero"`
}

// The classes the inbox itself records (Bury, Postpone); they are
// connectors.Class values, named here because state does not depend on the
// connectors.
const (
	ClassPermanent = "permanent"
	ClassPostpone  = "postpone"
)

const (
	maxKeyLen       = 1024
	maxReasons      = 16
	maxLastErrorLen = 2048
	manualReason    = "manual"
)

// normalizeNew validates what a caller may set on an item to enqueue: the
// record (CRM, Object, RecordID, or just Key) and Reason. Everything else
// is the inbox's to decide.
func normalizeNew(it Item) (Item, error) {
	if it.CRM == "" && it.Object == "" && it.RecordID == "" && it.Key != "" {
		parts := strings.SplitN(it.Key, "/", 3)
		if len(parts) != 3 {
			return Item{}, fmt.Errorf("item key %q is not crm/object/id", it.Key)
		}
		it.CRM, it.Object, it.RecordID = parts[0], parts[1], parts[2]
	}
	key := ItemKey(it.CRM, it.Object, it.RecordID)
	switch {
	case it.CRM == "" || strings.Contains(it.CRM, "/"):
		return Item{}, fmt.Errorf("item %q: crm %q must be non-empty and contain no '/'", key, it.CRM)
	case it.Object == "" || strings.Contains(it.Object, "/"):
		return Item{}, fmt.Errorf("item %q: object %q must be non-empty and contain no '/'", key, it.Object)
	case it.RecordID == "":
		return Item{}, fmt.Errorf("item %q: empty record id", key)
	}
	if it.Key != "" && it.Key != key {
		return Item{}, fmt.Errorf("item key %q does not match crm/object/id %q", it.Key, key)
	}
	if len(key) > maxKeyLen {
		return Item{}, fmt.Errorf("item key %.40q… is longer than %d bytes", key, maxKeyLen)
	}
	return Item{Key: key, CRM: it.CRM, Object: it.Object, RecordID: it.RecordID, Reason: mergeReasons("", it.Reason)}, nil
}

// mergeReasons adds the reasons in b to the set a, keeping first-seen order
// and at most maxReasons (the oldest are dropped).
func mergeReasons(a, b string) string {
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(a+","+b, ",") {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	if len(out) > maxReasons {
		out = out[len(out)-maxReasons:]
	}
	return strings.Join(out, ",")
}

func truncateError(cause error) string {
	if cause == nil {
		return "unknown error"
	}
	s := cause.Error()
	if len(s) <= maxLastErrorLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLastErrorLen], "") + "…"
}

// inboxBuckets are the three buckets every inbox operation touches.
type inboxBuckets struct {
	inbox, order, dead bkt
}

func openInbox(tx *bolt.Tx) (inboxBuckets, error) {
	var ib inboxBuckets
	var err error
	if ib.inbox, err = bucket(tx, bucketInbox); err != nil {
		return ib, err
	}
	if ib.order, err = bucket(tx, bucketInboxOrder); err != nil {
		return ib, err
	}
	ib.dead, err = bucket(tx, bucketDead)
	return ib, err
}

// orderKey is the item's key in inbox_order.v1: EnqueuedAt, then Key, so a
// cursor walks the inbox oldest first.
func orderKey(it Item) []byte {
	k := make([]byte, 8, 8+len(it.Key))
	binary.BigEndian.PutUint64(k, orderedNanos(it.EnqueuedAt))
	return append(k, it.Key...)
}

// readyAt is the index value: the earliest time the item may be leased.
func readyAt(it Item) uint64 {
	t := it.NotBefore
	if it.LeasedUntil.After(t) {
		t = it.LeasedUntil
	}
	return orderedNanos(t)
}

// item reads and checks the item stored at key.
func (k bkt) item(key []byte) (Item, bool, error) {
	var it Item
	ok, err := k.getJSON(key, &it)
	if err != nil || !ok {
		return Item{}, ok, err
	}
	if it.Key != string(key) {
		return Item{}, true, corrupt(k.name, key, fmt.Errorf("value holds item key %q", it.Key))
	}
	return it, true, nil
}

// itemAt resolves an inbox_order.v1 entry to its item.
func (ib inboxBuckets) itemAt(k, v []byte) (Item, error) {
	if len(k) <= 8 || len(v) != 8 {
		return Item{}, corrupt(ib.order.name, k, errors.New("malformed index entry"))
	}
	it, ok, err := ib.inbox.item(k[8:])
	if err != nil {
		return Item{}, err
	}
	if !ok {
		return Item{}, corrupt(ib.order.name, k, fmt.Errorf("indexes item %q, which is not in %s", k[8:], ib.inbox.name))
	}
	return it, nil
}

// put writes an inbox item and its index entry. EnqueuedAt never changes
// while an item is in the inbox, so the index key is stable.
func (ib inboxBuckets) put(it Item) error {
	if err := ib.inbox.putJSON([]byte(it.Key), it); err != nil {
		return err
	}
	if err := ib.order.b.Put(orderKey(it), be64(readyAt(it))); err != nil {
		return fmt.Errorf("put %s %s: %w", ib.order.name, keyString(orderKey(it)), err)
	}
	return nil
}

func (ib inboxBuckets) delete(it Item) error {
	if err := ib.inbox.b.Delete([]byte(it.Key)); err != nil {
		return fmt.Errorf("delete %s %q: %w", ib.inbox.name, it.Key, err)
	}
	if err := ib.order.b.Delete(orderKey(it)); err != nil {
		return fmt.Errorf("delete %s %s: %w", ib.order.name, keyString(orderKey(it)), err)
	}
	return nil
}

// Enqueue durably adds items to the inbox and returns after the fsync.
// Only the record (CRM, Object, RecordID — or just Key) and Reason of each
// item are used.
//
// An item whose key is already in the inbox collapses into it: EnqueuedAt
// and Attempts are kept, Gen is bumped, the reason is added to Reason, and
// NotBefore becomes now so the news is processed promptly even if the item
// was backing off. A lease is left alone; Ack will see the new Gen and keep
// the item. An item whose key is in the dead-letter bucket comes back to
// life: fresh news deserves fresh attempts (Attempts 0, LastError and
// LastClass kept).
//
// Concurrent callers share transactions (bbolt Batch), so many webhook
// handlers cost few fsyncs.
func (db *DB) Enqueue(items ...Item) error {
	if len(items) == 0 {
		return nil
	}
	in := make([]Item, len(items))
	for i, it := range items {
		n, err := normalizeNew(it)
		if err != nil {
			return fmt.Errorf("state: enqueue: %w", err)
		}
		in[i] = n
	}
	now := db.now()
	// Batch may run this function more than once; it only reads in.
	err := db.bdb.Batch(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		for _, it := range in {
			if err := ib.enqueue(it, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: enqueue %d items: %w", len(items), err)
	}
	return nil
}

func (ib inboxBuckets) enqueue(it Item, now time.Time) error {
	key := []byte(it.Key)
	cur, ok, err := ib.inbox.item(key)
	if err != nil {
		return err
	}
	if ok {
		cur.Gen++
		cur.Reason = mergeReasons(cur.Reason, it.Reason)
		cur.NotBefore = now
		cur.UpdatedAt = now
		return ib.put(cur)
	}

	it.Gen = 1
	dead, ok, err := ib.dead.item(key)
	if err != nil {
		return err
	}
	if ok {
		if err := ib.dead.b.Delete(key); err != nil {
			return fmt.Errorf("delete %s %q: %w", ib.dead.name, key, err)
		}
		it.Gen = dead.Gen + 1 // Gen never repeats for a key while it is known
		it.Reason = mergeReasons(dead.Reason, it.Reason)
		it.LastError, it.LastClass = dead.LastError, dead.LastClass
	}
	it.EnqueuedAt = now
	it.UpdatedAt = now
	it.NotBefore = now
	return ib.put(it)
}

// Lease hands out up to max due items (NotBefore <= now, not leased or the
// lease expired), oldest EnqueuedAt first, and marks them leased until
// now+d. The caller must Ack or Retry each one with the Item it got.
func (db *DB) Lease(max int, d time.Duration) ([]Item, error) {
	if max <= 0 {
		return nil, fmt.Errorf("state: lease: max %d must be positive", max)
	}
	if d <= 0 {
		return nil, fmt.Errorf("state: lease: duration %s must be positive", d)
	}
	now := db.now()
	until := now.Add(d)
	nowOrd := orderedNanos(now)
	var out []Item
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		out = nil
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		c := ib.order.b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(v) == 8 && binary.BigEndian.Uint64(v) > nowOrd {
				continue // leased or backing off: skip without decoding
			}
			it, err := ib.itemAt(k, v)
			if err != nil {
				return err
			}
			if !it.due(now) {
				continue
			}
			it.LeasedUntil = until
			it.UpdatedAt = now
			out = append(out, it)
		}
		if len(out) == 0 {
			return errNothingLeased // roll back: an empty commit still costs an fsync
		}
		// Write after the walk: changing a bucket under its cursor is unsafe.
		for _, it := range out {
			if err := ib.put(it); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNothingLeased) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: lease: %w", err)
	}
	return out, nil
}

var errNothingLeased = errors.New("nothing to lease")

// held reads the stored item and tells whether the caller's leased copy
// still holds it.
func (ib inboxBuckets) held(it Item) (Item, bool, error) {
	cur, ok, err := ib.inbox.item([]byte(it.Key))
	if err != nil || !ok {
		return Item{}, false, err
	}
	if it.LeasedUntil.IsZero() || !cur.LeasedUntil.Equal(it.LeasedUntil) {
		return Item{}, false, nil
	}
	return cur, true, nil
}

// updateHeld runs f on the stored item in one read-write transaction,
// provided the caller's leased copy still holds the lease; otherwise it
// changes nothing and returns ErrLeaseLost. op names the operation in
// errors.
func (db *DB) updateHeld(op string, it Item, f func(ib inboxBuckets, cur Item) error) error {
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		cur, ok, err := ib.held(it)
		if err != nil {
			return err
		}
		if !ok {
			return ErrLeaseLost
		}
		return f(ib, cur)
	})
	if err != nil {
		return fmt.Errorf("state: %s %s: %w", op, it.Key, err)
	}
	return nil
}

// Ack reports that the leased item was processed. The item is deleted —
// unless it was enqueued again since it was leased (its Gen changed): then
// it stays, its lease is cleared and its failure count reset, so the newer
// news is processed too. Nothing is lost.
//
// If the caller's lease is no longer the item's (it expired and someone
// else leased the item, or the item is gone) Ack changes nothing and
// returns an error wrapping ErrLeaseLost.
func (db *DB) Ack(it Item) error {
	now := db.now()
	return db.updateHeld("ack", it, func(ib inboxBuckets, cur Item) error {
		if cur.Gen != it.Gen {
			cur.LeasedUntil = time.Time{}
			cur.Attempts = 0
			cur.UpdatedAt = now
			return ib.put(cur)
		}
		return ib.delete(cur)
	})
}

// Retry reports that processing the leased item failed with a transient
// cause of class (retry or unknown). The item's Attempts goes up by one,
// LastError and LastClass record the failure and the lease is cleared; it
// becomes due again after Backoff(Attempts), which grows with the attempts
// up to a cap (DefaultBackoff: 30 minutes), and not before after has
// passed (the wait the CRM asked for).
//
// Retry never moves an item to the dead letters, however many times it
// fails: a transient fault says nothing against the record. Only Bury
// does, for a failure no retry can mend.
//
// If the caller's lease is no longer the item's, Retry changes nothing and
// returns an error wrapping ErrLeaseLost.
func (db *DB) Retry(it Item, class string, after time.Duration, cause error) error {
	now := db.now()
	msg := truncateError(cause)
	return db.updateHeld("retry", it, func(ib inboxBuckets, cur Item) error {
		cur.Attempts++
		cur.LastError = msg
		cur.LastClass = class
		cur.LeasedUntil = time.Time{}
		cur.UpdatedAt = now
		wait := max(db.backoff(cur.Attempts), after, 0)
		cur.NotBefore = now.Add(wait)
		return ib.put(cur)
	})
}

// Item returns the pending inbox item with key, or an error wrapping
// ErrNotFound.
func (db *DB) Item(key string) (Item, error) {
	var it Item
	err := db.bdb.View(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		var ok bool
		it, ok, err = ib.inbox.item([]byte(key))
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("state: item %s: %w", key, err)
	}
	return it, nil
}

// Pending lists every inbox item (leased and backing-off ones included),
// oldest EnqueuedAt first — the order Lease uses.
func (db *DB) Pending() ([]Item, error) {
	var out []Item
	err := db.bdb.View(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		return ib.order.b.ForEach(func(k, v []byte) error {
			it, err := ib.itemAt(k, v)
			if err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: pending: %w", err)
	}
	return out, nil
}

// Dead lists the dead-letter bucket, oldest EnqueuedAt first (ties by key).
func (db *DB) Dead() ([]Item, error) {
	var out []Item
	err := db.bdb.View(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		return ib.dead.b.ForEach(func(k, _ []byte) error {
			it, _, err := ib.dead.item(k)
			if err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: dead: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].EnqueuedAt.Equal(out[j].EnqueuedAt) {
			return out[i].EnqueuedAt.Before(out[j].EnqueuedAt)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// RetryDead moves a dead-lettered item back into the inbox with Attempts 0,
// due now, with "manual" added to its reasons (LastError and LastClass are
// kept as history). If news brought the record back into the inbox meanwhile, the
// dead entry merges into that item. A missing key is ErrNotFound.
func (db *DB) RetryDead(key string) error {
	now := db.now()
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		dead, ok, err := ib.dead.item([]byte(key))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := ib.dead.b.Delete([]byte(key)); err != nil {
			return err
		}
		it, ok, err := ib.inbox.item([]byte(key))
		if err != nil {
			return err
		}
		if !ok {
			it = dead
			it.EnqueuedAt = now
			it.LeasedUntil = time.Time{}
		}
		it.Gen++
		it.Reason = mergeReasons(mergeReasons(it.Reason, dead.Reason), manualReason)
		it.Attempts = 0
		it.NotBefore = now
		it.UpdatedAt = now
		return ib.put(it)
	})
	if err != nil {
		return fmt.Errorf("state: retry dead %s: %w", key, err)
	}
	return nil
}

// DropDead deletes a dead-lettered item for good. A missing key is
// ErrNotFound.
func (db *DB) DropDead(key string) error {
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		dead, err := bucket(tx, bucketDead)
		if err != nil {
			return err
		}
		if dead.b.Get([]byte(key)) == nil {
			return ErrNotFound
		}
		return dead.b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("state: drop dead %s: %w", key, err)
	}
	return nil
}

// InboxStats counts the inbox as of now.
func (db *DB) InboxStats() (InboxStats, error) {
	now := db.now()
	var st InboxStats
	err := db.bdb.View(func(tx *bolt.Tx) error {
		st = InboxStats{}
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		err = ib.inbox.b.ForEach(func(k, _ []byte) error {
			it, _, err := ib.inbox.item(k)
			if err != nil {
				return err
			}
			st.Pending++
			switch {
			case it.leased(now):
				st.Leased++
			case it.due(now):
				st.Due++
			default:
				st.Waiting++
			}
			if st.OldestEnqueued.IsZero() || it.EnqueuedAt.Before(st.OldestEnqueued) {
				st.OldestEnqueued = it.EnqueuedAt
			}
			return nil
		})
		if err != nil {
			return err
		}
		c := ib.dead.b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			st.Dead++
		}
		return nil
	})
	if err != nil {
		return InboxStats{}, fmt.Errorf("state: inbox stats: %w", err)
	}
	return st, nil
}

// AckAll acks several leased items in one transaction (one fsync); see Ack.
// Items whose lease was lost are skipped; lost lists their keys.
func (db *DB) AckAll(items []Item) (lost []string, err error) {
	if len(items) == 0 {
		return nil, nil
	}
	now := db.now()
	err = db.bdb.Update(func(tx *bolt.Tx) error {
		lost = lost[:0]
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		for _, it := range items {
			cur, ok, err := ib.held(it)
			if err != nil {
				return err
			}
			if !ok {
				lost = append(lost, it.Key)
				continue
			}
			if cur.Gen != it.Gen {
				cur.LeasedUntil = time.Time{}
				cur.Attempts = 0
				cur.UpdatedAt = now
				if err := ib.put(cur); err != nil {
					return err
				}
				continue
			}
			if err := ib.delete(cur); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: ack %d items: %w", len(items), err)
	}
	return lost, nil
}

// Bury moves a leased item straight to the dead-letter bucket with cause:
// for failures no retry can mend (the CRM refused the record as invalid, a
// field-level security error), class permanent. An operator retries it
// with RetryDead once the cause is fixed. News about the record brings it
// back by itself.
func (db *DB) Bury(it Item, cause error) error {
	now := db.now()
	msg := truncateError(cause)
	return db.updateHeld("bury", it, func(ib inboxBuckets, cur Item) error {
		if err := ib.delete(cur); err != nil {
			return err
		}
		cur.Attempts++
		cur.LastError = msg
		cur.LastClass = ClassPermanent
		cur.LeasedUntil, cur.NotBefore = time.Time{}, time.Time{}
		cur.UpdatedAt = now
		return ib.dead.putJSON([]byte(cur.Key), cur)
	})
}

// Defer durably adds items that must not be looked at before at: a
// re-check a little later (a conflict that may settle). An item not in the
// inbox is created with NotBefore at; an item already there (even one
// leased right now) gets the news — Gen bumped, reason added — and is held
// back until at. A dead item is left alone.
func (db *DB) Defer(at time.Time, items ...Item) error {
	if len(items) == 0 {
		return nil
	}
	in := make([]Item, len(items))
	for i, it := range items {
		n, err := normalizeNew(it)
		if err != nil {
			return fmt.Errorf("state: defer: %w", err)
		}
		in[i] = n
	}
	now := db.now()
	at = at.UTC()
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		for _, it := range in {
			key := []byte(it.Key)
			cur, ok, err := ib.inbox.item(key)
			if err != nil {
				return err
			}
			if ok {
				// The order index is keyed by EnqueuedAt, unchanged here;
				// put rewrites its ready-at.
				cur.Gen++
				cur.Reason = mergeReasons(cur.Reason, it.Reason)
				if at.After(cur.NotBefore) {
					cur.NotBefore = at
				}
				cur.UpdatedAt = now
				if err := ib.put(cur); err != nil {
					return err
				}
				continue
			}
			if _, dead, err := ib.dead.item(key); err != nil || dead {
				if err != nil {
					return err
				}
				continue
			}
			it.Gen, it.EnqueuedAt, it.UpdatedAt, it.NotBefore = 1, now, now, at
			if err := ib.put(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: defer %d items: %w", len(items), err)
	}
	return nil
}

// ReleaseLeases makes every leased item due again and reports how many it
// freed. Only one process opens the state file, so leases found when it
// starts were taken by a process that died (a crash, kill -9): the daemon
// calls this at startup so their items are not held until the leases
// expire.
func (db *DB) ReleaseLeases() (int, error) {
	now := db.now()
	n := 0
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		n = 0
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		var held []Item
		err = ib.inbox.b.ForEach(func(k, v []byte) error {
			it, _, err := ib.inbox.item(k)
			if err != nil {
				return err
			}
			if it.leased(now) {
				held = append(held, it)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range held {
			it.LeasedUntil = time.Time{}
			it.UpdatedAt = now
			if err := ib.put(it); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("state: release leases: %w", err)
	}
	return n, nil
}

// Postpone gives a leased item back without counting a failure: the CRM
// said to wait (a rate or daily limit), which says nothing about the item.
// It becomes due again at until; cause is kept as LastError, with
// LastClass postpone.
func (db *DB) Postpone(it Item, until time.Time, cause error) error {
	now := db.now()
	msg := truncateError(cause)
	return db.updateHeld("postpone", it, func(ib inboxBuckets, cur Item) error {
		cur.LastError = msg
		cur.LastClass = ClassPostpone
		cur.LeasedUntil = time.Time{}
		cur.UpdatedAt = now
		if until.After(now) {
			cur.NotBefore = until.UTC()
		} else {
			cur.NotBefore = now
		}
		return ib.put(cur)
	})
}
