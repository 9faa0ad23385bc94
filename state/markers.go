package state

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// How long each kind of marker is kept after it was last written. A
// marker only says "this was done"; it is kept exactly as long as its
// absence could make something be done again (doc.go says why each TTL is
// safe), and then the maintenance loop (Maintain) drops it.
const (
	// EscalationTTL keeps an SLA escalation marker. A registration may
	// wait unanswered for as long as nobody answers it, so the marker is
	// kept alive by every sweep that still finds it overdue (Keep), and
	// only a marker no sweep has asked about for half of it expires.
	EscalationTTL = 400 * 24 * time.Hour
	// SummaryTTL keeps a weekly summary's sent marker: a summary is only
	// ever sent for the current ISO week, so three weeks is ample.
	SummaryTTL = 21 * 24 * time.Hour
	// SlackOriginTTL keeps a Slack registration's origin after its last
	// update (every status posted to its thread updates it).
	SlackOriginTTL = 400 * 24 * time.Hour
)

// ttlRecord is the value of every bucket of expiring keys: idempotency
// keys and markers.
type ttlRecord struct {
	Value     string    `json:"value"`
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (r ttlRecord) expired(now time.Time) bool { return !now.Before(r.ExpiresAt) }

// Markers is one bucket of markers: keys remembered, with a short value,
// for the bucket's TTL after they were last written. An expired marker is
// absent, whether or not the maintenance loop has dropped it yet. Times
// come from the file's clock (Options.Now).
type Markers struct {
	db   *DB
	name []byte
	ttl  time.Duration
}

// Escalations are the SLA escalation markers, one per registration and
// deadline (the worker's sweep): key "escalated/<record key>/<due>", also
// the CRM task's idempotency key; value the deadline. TTL EscalationTTL,
// renewed by Keep.
func (db *DB) Escalations() Markers { return Markers{db, bucketEscalations, EscalationTTL} }

// Summaries are the weekly partner summaries' sent markers (the daemon):
// key "summary/<partner>/<ISO week>", value when it was sent (Unix
// seconds). The composed message itself is an idempotency key (Remember)
// under the same key. TTL SummaryTTL.
func (db *DB) Summaries() Markers { return Markers{db, bucketSummaries, SummaryTTL} }

// SlackOrigins are where registrations made in Slack came from (the
// daemon's notifier posts their status changes there): key the case
// number, value the origin as JSON. TTL SlackOriginTTL after the last
// update.
func (db *DB) SlackOrigins() Markers { return Markers{db, bucketSlackOrigins, SlackOriginTTL} }

// Get returns the value marked under key; ok is false when there is none
// or it expired.
func (m Markers) Get(key string) (value string, ok bool, err error) {
	now := m.db.now()
	var rec ttlRecord
	err = m.db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, m.name)
		if err != nil {
			return err
		}
		ok, err = b.getJSON([]byte(key), &rec)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("state: %s %q: %w", m.name, key, err)
	}
	if !ok || rec.expired(now) {
		return "", false, nil
	}
	return rec.Value, true, nil
}

// Put durably marks key with value for the bucket's TTL from now.
func (m Markers) Put(key, value string) error {
	return m.PutAll(map[string]string{key: value})
}

// PutAll durably marks several keys (key → value) in one transaction.
func (m Markers) PutAll(values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	now := m.db.now()
	rec := ttlRecord{At: now, ExpiresAt: now.Add(m.ttl)}
	err := m.db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, m.name)
		if err != nil {
			return err
		}
		for k, v := range values {
			if k == "" {
				return errors.New("empty key")
			}
			rec.Value = v
			if err := b.putJSON([]byte(k), rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: mark %d in %s: %w", len(values), m.name, err)
	}
	return nil
}

// Keep reports whether key is marked and, when it is, keeps it for
// another TTL: a marker asked about regularly never expires. It writes
// only once more than half the TTL has passed since the marker was last
// written, so asking often costs a read.
func (m Markers) Keep(key string) (bool, error) {
	now := m.db.now()
	var rec ttlRecord
	var ok bool
	err := m.db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, m.name)
		if err != nil {
			return err
		}
		ok, err = b.getJSON([]byte(key), &rec)
		return err
	})
	if err == nil && ok && !rec.expired(now) && rec.ExpiresAt.Sub(now) < m.ttl/2 {
		// Read again under the write lock: a Put in between wins.
		err = m.db.bdb.Update(func(tx *bolt.Tx) error {
			b, err := bucket(tx, m.name)
			if err != nil {
				return err
			}
			var cur ttlRecord
			if ok, err := b.getJSON([]byte(key), &cur); err != nil || !ok || cur.expired(now) {
				return err
			}
			cur.ExpiresAt = now.Add(m.ttl)
			return b.putJSON([]byte(key), cur)
		})
	}
	if err != nil {
		return false, fmt.Errorf("state: keep %s %q: %w", m.name, key, err)
	}
	return ok && !rec.expired(now), nil
}

// purge deletes the expired markers and reports how many, in small
// transactions (see DB.purge).
func (m Markers) purge() (int, error) {
	n, err := m.db.purgeTTL(m.name, m.db.now())
	if err != nil {
		return n, fmt.Errorf("state: purge %s: %w", m.name, err)
	}
	return n, nil
}

// purgeTTL deletes the entries of a bucket of ttlRecords expired at now.
func (db *DB) purgeTTL(name []byte, now time.Time) (int, error) {
	return db.purge(name, func(b bkt, k []byte) (bool, error) {
		var rec ttlRecord
		_, err := b.getJSON(k, &rec)
		return err == nil && rec.expired(now), err
	})
}
