package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Plan is the worker's write-ahead intent for one record: what it is about
// to write to the CRM and the side effects still owed after the write. It is
// stored before the write and deleted when the last step is done, so a crash
// at any point resumes the plan instead of deciding the record twice.
type Plan struct {
	// Key is the record's ItemKey.
	Key string `json:"key"`
	// Expect is the fingerprint the record has once the planned write
	// landed: a re-read record matching it means the write happened.
	Expect string `json:"expect"`
	// Steps are the side effects still to do, in order.
	Steps []string `json:"steps,omitempty"`
	// Data is the worker's own description of the plan (the decision, its
	// trace, the task and note texts), stored as given; valid JSON.
	Data json.RawMessage `json:"data,omitempty"`
	// At is when the plan was made (set by PutPlans when zero).
	At time.Time `json:"at"`
}

// Done reports whether step is no longer owed.
func (p Plan) Done(step string) bool { return !slices.Contains(p.Steps, step) }

// migrateV2 adds the plans bucket.
func migrateV2(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketPlans)
	return err
}

// PutPlans durably stores plans (replacing any stored for the same keys) in
// one transaction.
func (db *DB) PutPlans(plans ...Plan) error {
	if len(plans) == 0 {
		return nil
	}
	now := db.now()
	for i := range plans {
		if plans[i].Key == "" {
			return errors.New("state: put plans: a plan has no key")
		}
		if len(plans[i].Data) > 0 && !json.Valid(plans[i].Data) {
			return fmt.Errorf("state: put plan %q: data is not valid JSON", plans[i].Key)
		}
		if plans[i].At.IsZero() {
			plans[i].At = now
		}
	}
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPlans)
		if err != nil {
			return err
		}
		for _, p := range plans {
			if err := b.putJSON([]byte(p.Key), p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: put %d plans: %w", len(plans), err)
	}
	return nil
}

// Plans returns the stored plans for keys; keys without one are absent.
func (db *DB) Plans(keys ...string) (map[string]Plan, error) {
	out := make(map[string]Plan, len(keys))
	err := db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPlans)
		if err != nil {
			return err
		}
		for _, k := range keys {
			var p Plan
			ok, err := b.getJSON([]byte(k), &p)
			if err != nil {
				return err
			}
			if ok {
				out[k] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: read %d plans: %w", len(keys), err)
	}
	return out, nil
}

// AllPlans returns every stored plan, for operators and recovery.
func (db *DB) AllPlans() ([]Plan, error) {
	var out []Plan
	err := db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPlans)
		if err != nil {
			return err
		}
		return b.b.ForEach(func(k, v []byte) error {
			var p Plan
			if err := json.Unmarshal(v, &p); err != nil {
				return corrupt(bucketPlans, k, err)
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: read plans: %w", err)
	}
	return out, nil
}

// FinishSteps marks steps done on the plans of keys in one transaction; a
// plan with no step left is deleted. Keys without a plan are skipped.
func (db *DB) FinishSteps(keys []string, steps ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := db.bdb.Update(func(tx *bolt.Tx) error { return finishSteps(tx, keys, steps) })
	if err != nil {
		return fmt.Errorf("state: finish %v on %d plans: %w", steps, len(keys), err)
	}
	return nil
}

func finishSteps(tx *bolt.Tx, keys, steps []string) error {
	b, err := bucket(tx, bucketPlans)
	if err != nil {
		return err
	}
	for _, k := range keys {
		var p Plan
		ok, err := b.getJSON([]byte(k), &p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		p.Steps = slices.DeleteFunc(p.Steps, func(s string) bool { return slices.Contains(steps, s) })
		if len(p.Steps) == 0 {
			if err := b.b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete %s %q: %w", bucketPlans, k, err)
			}
			continue
		}
		if err := b.putJSON([]byte(k), p); err != nil {
			return err
		}
	}
	return nil
}

// DeletePlans forgets the plans of keys. Missing ones are not an error.
func (db *DB) DeletePlans(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPlans)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete %s %q: %w", bucketPlans, k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: delete %d plans: %w", len(keys), err)
	}
	return nil
}

// SetFingerprints durably records several fingerprints (record key → fp)
// in one transaction; see SetFingerprint.
func (db *DB) SetFingerprints(fps map[string]string) error {
	if len(fps) == 0 {
		return nil
	}
	now := db.now()
	err := db.bdb.Update(func(tx *bolt.Tx) error { return putFingerprints(tx, fps, now) })
	if err != nil {
		return fmt.Errorf("state: set %d fingerprints: %w", len(fps), err)
	}
	return nil
}

// putFingerprints records fingerprints within tx.
func putFingerprints(tx *bolt.Tx, fps map[string]string, now time.Time) error {
	if len(fps) == 0 {
		return nil
	}
	b, err := bucket(tx, bucketFingerprints)
	if err != nil {
		return err
	}
	for k, fp := range fps {
		if k == "" {
			return errors.New("empty key")
		}
		if err := b.putJSON([]byte(k), fingerprintRecord{FP: fp, At: now}); err != nil {
			return err
		}
	}
	return nil
}

// Fingerprints returns the stored fingerprints of keys (absent when none).
func (db *DB) Fingerprints(keys ...string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	err := db.bdb.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketFingerprints)
		if err != nil {
			return err
		}
		for _, k := range keys {
			var rec fingerprintRecord
			ok, err := b.getJSON([]byte(k), &rec)
			if err != nil {
				return err
			}
			if ok {
				out[k] = rec.FP
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: read %d fingerprints: %w", len(keys), err)
	}
	return out, nil
}
