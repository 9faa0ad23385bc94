package state

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

type cursorRecord struct {
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Cursor returns the sync cursor called name, or "" when none was set.
func (db *DB) Cursor(name string) (string, error) {
	var rec cursorRecord
	err := db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketCursors)
		if err != nil {
			return err
		}
		_, err = b.getJSON([]byte(name), &rec)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("state: cursor %q: %w", name, err)
	}
	return rec.Value, nil
}

// SetCursor durably stores the sync cursor called name. Move a cursor only
// after the work it covers is itself durable (enqueued or written).
func (db *DB) SetCursor(name, value string) error {
	if name == "" {
		return errors.New("state: set cursor: empty name")
	}
	rec := cursorRecord{Value: value, UpdatedAt: db.now()}
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketCursors)
		if err != nil {
			return err
		}
		return b.putJSON([]byte(name), rec)
	})
	if err != nil {
		return fmt.Errorf("state: set cursor %q: %w", name, err)
	}
	return nil
}

// Remember records key → value for ttl, durably, if key is absent or its
// previous record expired, and returns seen=false. If key is present and
// unexpired it changes nothing and returns the stored value with seen=true.
// Concurrent callers share transactions (bbolt Batch); among concurrent
// calls with one key exactly one sees seen=false.
func (db *DB) Remember(key, value string, ttl time.Duration) (prior string, seen bool, err error) {
	if key == "" {
		return "", false, errors.New("state: remember: empty key")
	}
	if ttl <= 0 {
		return "", false, fmt.Errorf("state: remember %q: ttl %s must be positive", key, ttl)
	}
	now := db.now()
	rec := ttlRecord{Value: value, At: now, ExpiresAt: now.Add(ttl)}
	err = db.bdb.Batch(func(tx *bolt.Tx) error {
		prior, seen = "", false
		b, err := bucket(tx, bucketIdempotency)
		if err != nil {
			return err
		}
		var old ttlRecord
		ok, err := b.getJSON([]byte(key), &old)
		if err != nil {
			return err
		}
		if ok && !old.expired(now) {
			prior, seen = old.Value, true
			return nil
		}
		return b.putJSON([]byte(key), rec)
	})
	if err != nil {
		return "", false, fmt.Errorf("state: remember %q: %w", key, err)
	}
	return prior, seen, nil
}

// purgeChunk bounds how many keys one purge transaction looks at, so a
// large bucket never holds the write lock for long.
const purgeChunk = 1000

// PurgeExpired deletes expired idempotency keys and reports how many. It
// works in small transactions; n counts those committed even when a later
// one fails. The maintenance loop (Maintain) runs it.
func (db *DB) PurgeExpired() (n int, err error) {
	n, err = db.purgeTTL(bucketIdempotency, db.now())
	if err != nil {
		return n, fmt.Errorf("state: purge expired: %w", err)
	}
	return n, nil
}

// purge deletes the entries of a bucket that expired says are expired and
// reports how many. It looks at purgeChunk entries per read transaction
// and takes the write lock only to delete what it found, asking expired
// again under the lock (an entry renewed meanwhile stays), so a long purge
// never holds the database for long and a purge that finds nothing writes
// nothing. n counts the deletions committed even when a later
// transaction fails.
func (db *DB) purge(name []byte, expired func(b bkt, k []byte) (bool, error)) (n int, err error) {
	var after []byte // last key examined
	for {
		var examined int
		var gone [][]byte
		err := db.bdb.View(func(tx *bolt.Tx) error {
			examined, gone = 0, nil
			b, err := bucket(tx, name)
			if err != nil {
				return err
			}
			c := b.b.Cursor()
			k, _ := seekAfter(c, after)
			for ; k != nil && examined < purgeChunk; k, _ = c.Next() {
				examined++
				after = append(after[:0], k...)
				ok, err := expired(b, k)
				if err != nil {
					return err
				}
				if ok {
					gone = append(gone, append([]byte(nil), k...))
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		if len(gone) > 0 {
			deleted := 0
			err := db.bdb.Update(func(tx *bolt.Tx) error {
				deleted = 0
				b, err := bucket(tx, name)
				if err != nil {
					return err
				}
				for _, k := range gone {
					if b.b.Get(k) == nil {
						continue
					}
					ok, err := expired(b, k)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
					if err := b.b.Delete(k); err != nil {
						return err
					}
					deleted++
				}
				return nil
			})
			if err != nil {
				return n, err
			}
			n += deleted
		}
		if examined < purgeChunk {
			return n, nil
		}
	}
}

// seekAfter moves c to the first key after after (nil: the first key),
// where a chunked walk resumes in its next transaction.
func seekAfter(c *bolt.Cursor, after []byte) (k, v []byte) {
	if after == nil {
		return c.First()
	}
	k, v = c.Seek(after)
	if k != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}

type fingerprintRecord struct {
	FP string    `json:"fp"`
	At time.Time `json:"at"`
}

// SetFingerprint durably records fp as what regsync last wrote to the
// record key, at now.
func (db *DB) SetFingerprint(key, fp string) error {
	if key == "" {
		return errors.New("state: set fingerprint: empty key")
	}
	rec := fingerprintRecord{FP: fp, At: db.now()}
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketFingerprints)
		if err != nil {
			return err
		}
		return b.putJSON([]byte(key), rec)
	})
	if err != nil {
		return fmt.Errorf("state: set fingerprint %q: %w", key, err)
	}
	return nil
}

// Fingerprint returns the fingerprint stored for key and when it was
// stored; ok is false when there is none.
func (db *DB) Fingerprint(key string) (fp string, at time.Time, ok bool, err error) {
	var rec fingerprintRecord
	err = db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketFingerprints)
		if err != nil {
			return err
		}
		ok, err = b.getJSON([]byte(key), &rec)
		return err
	})
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("state: fingerprint %q: %w", key, err)
	}
	return rec.FP, rec.At, ok, nil
}

// DeleteFingerprint forgets the fingerprint for key. Deleting a missing one
// is not an error.
func (db *DB) DeleteFingerprint(key string) error {
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketFingerprints)
		if err != nil {
			return err
		}
		return b.b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("state: delete fingerprint %q: %w", key, err)
	}
	return nil
}
