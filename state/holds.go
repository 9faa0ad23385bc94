package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Hold is a submission waiting for something outside regsync before it may
// count — the web form's, for its submitter to confirm their address. It is
// not a registration: nothing about it is in the CRM. It is kept until it
// expires, and dropped then (PurgeHolds).
type Hold struct {
	// Key names the hold (the web form: its submission key).
	Key string `json:"key"`
	// Data is the channel's own description of the hold, stored as given;
	// valid JSON.
	Data json.RawMessage `json:"data"`
	// At is when the hold was first stored (set by ChangeHold).
	At time.Time `json:"at"`
	// ExpiresAt is when it is dropped; required.
	ExpiresAt time.Time `json:"expires_at"`
}

func (h Hold) expired(now time.Time) bool { return !now.Before(h.ExpiresAt) }

// migrateV3 adds the holds bucket.
func migrateV3(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketHolds)
	return err
}

// Holds live in the time of the channel that keeps them (the daemon's
// clock, which tests set), not in the inbox's: each call takes now.

// ChangeHold reads the hold stored under key — nil when there is none or
// it has expired at now — and stores what change returns in its place: a hold
// (with the same key), or nil to delete it. Read, change and write are one
// transaction, committed and fsynced before ChangeHold returns, so two
// callers changing one hold never both see it as it was. change runs under
// the file's write lock: it must be quick and must not touch the network.
// An error from change leaves the file as it was and is returned as it is.
// ChangeHold returns what is stored now.
func (db *DB) ChangeHold(key string, now time.Time, change func(cur *Hold) (*Hold, error)) (*Hold, error) {
	if key == "" {
		return nil, errors.New("state: change hold: empty key")
	}
	var stored *Hold
	var changeErr error
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketHolds)
		if err != nil {
			return err
		}
		var cur *Hold
		var old Hold
		ok, err := b.getJSON([]byte(key), &old)
		if err != nil {
			return err
		}
		if ok && !old.expired(now) {
			cur = &old
		}
		next, err := change(cur)
		if err != nil {
			changeErr = err
			return err
		}
		if next == nil {
			stored = nil
			if ok {
				return b.b.Delete([]byte(key))
			}
			return nil
		}
		h := *next
		switch {
		case h.Key != key:
			return fmt.Errorf("a hold under %q was given key %q", key, h.Key)
		case h.ExpiresAt.IsZero():
			return fmt.Errorf("hold %q has no expiry", key)
		case len(h.Data) > 0 && !json.Valid(h.Data):
			return fmt.Errorf("hold %q: data is not valid JSON", key)
		}
		if cur != nil {
			h.At = cur.At
		} else if h.At.IsZero() {
			h.At = now.UTC()
		}
		h.ExpiresAt = h.ExpiresAt.UTC()
		stored = &h
		return b.putJSON([]byte(key), h)
	})
	if changeErr != nil {
		return nil, changeErr
	}
	if err != nil {
		return nil, fmt.Errorf("state: change hold %q: %w", key, err)
	}
	return stored, nil
}

// GetHold returns the hold stored under key, or nil when there is none or
// it has expired at now.
func (db *DB) GetHold(key string, now time.Time) (*Hold, error) {
	var out *Hold
	err := db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketHolds)
		if err != nil {
			return err
		}
		var h Hold
		ok, err := b.getJSON([]byte(key), &h)
		if ok && err == nil && !h.expired(now) {
			out = &h
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: hold %q: %w", key, err)
	}
	return out, nil
}

// PurgeHolds deletes the holds that have expired at now and reports how
// many, in small transactions (see PurgeExpired); n counts those committed
// even when a later one fails.
func (db *DB) PurgeHolds(now time.Time) (n int, err error) {
	n, err = db.purge(bucketHolds, func(b bkt, k []byte) (bool, error) {
		var h Hold
		_, err := b.getJSON(k, &h)
		return err == nil && h.expired(now), err
	})
	if err != nil {
		return n, fmt.Errorf("state: purge holds: %w", err)
	}
	return n, nil
}
