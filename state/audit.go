package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry is one decision or change regsync made or saw. Entries are
// append-only: there is no update, and the only delete is the
// maintenance loop's, of entries older than the audit retention
// (PurgeAudit).
type AuditEntry struct {
	// Seq is assigned by Append: 1, 2, 3, … for the life of the file.
	Seq uint64 `json:"seq"`
	// At defaults to now when zero.
	At time.Time `json:"at"`

	CRM        string `json:"crm,omitempty"`
	Object     string `json:"object,omitempty"`
	RecordID   string `json:"record_id,omitempty"`
	CaseNumber string `json:"case_number,omitempty"`

	From    string `json:"from,omitempty"` // status before
	To      string `json:"to,omitempty"`   // status after
	Reason  string `json:"reason,omitempty"`
	Actor   string `json:"actor,omitempty"` // "regsync", an AE's user id, a partner id, …
	Message string `json:"message,omitempty"`

	// Trace is the rules' trace of the decision, stored as given; it must
	// be valid JSON when set.
	Trace json.RawMessage `json:"trace,omitempty"`
}

// recordKey is the entry's ItemKey, or "" when it names no record.
func (e AuditEntry) recordKey() string {
	if e.CRM == "" || e.Object == "" || e.RecordID == "" {
		return ""
	}
	return ItemKey(e.CRM, e.Object, e.RecordID)
}

// auditIndexKey is recordKey ‖ 0x00 ‖ seq. The fixed 8-byte suffix after
// the separator tells one record's entries from a longer record key's.
func auditIndexKey(recordKey string, seq uint64) []byte {
	k := make([]byte, 0, len(recordKey)+9)
	k = append(k, recordKey...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// Append durably appends entries to the audit log. It assigns each entry's
// Seq (the log's next sequence number) and, when zero, sets At to now; the
// values are written back into e, so a caller passing a slice with e...
// sees them (they mean nothing if Append fails).
func (db *DB) Append(e ...AuditEntry) error {
	return db.AppendFinishing(nil, "", e...)
}

// AppendFinishing appends entries and, in the same transaction, marks step
// done on the plans of planKeys (see FinishSteps): a crash can never leave
// a decision audited twice.
func (db *DB) AppendFinishing(planKeys []string, step string, e ...AuditEntry) error {
	return db.appendAudit(planKeys, step, nil, e...)
}

// AppendSeen appends entries and, in the same transaction, records the
// fingerprints fps (record key → fingerprint, see SetFingerprints): an
// observed change audited is also remembered as seen, so a crash can never
// audit it twice.
func (db *DB) AppendSeen(fps map[string]string, e ...AuditEntry) error {
	return db.appendAudit(nil, "", fps, e...)
}

func (db *DB) appendAudit(planKeys []string, step string, fps map[string]string, e ...AuditEntry) error {
	if len(e) == 0 && len(planKeys) == 0 && len(fps) == 0 {
		return nil
	}
	for i := range e {
		if len(e[i].Trace) > 0 && !json.Valid(e[i].Trace) {
			return fmt.Errorf("state: append audit entry for %q: trace is not valid JSON", e[i].recordKey())
		}
	}
	now := db.now()
	err := db.bdb.Update(func(tx *bolt.Tx) error {
		log, idx, err := auditBuckets(tx)
		if err != nil {
			return err
		}
		for i := range e {
			seq, err := log.b.NextSequence()
			if err != nil {
				return err
			}
			e[i].Seq = seq
			if e[i].At.IsZero() {
				e[i].At = now
			}
			e[i].At = e[i].At.UTC()
			if err := log.putJSON(be64(seq), e[i]); err != nil {
				return err
			}
			if rk := e[i].recordKey(); rk != "" {
				if err := idx.b.Put(auditIndexKey(rk, seq), nil); err != nil {
					return err
				}
			}
		}
		if err := putFingerprints(tx, fps, now); err != nil {
			return err
		}
		if len(planKeys) > 0 {
			return finishSteps(tx, planKeys, []string{step})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: append %d audit entries: %w", len(e), err)
	}
	return nil
}

// auditBuckets are the log and its per-record index.
func auditBuckets(tx *bolt.Tx) (log, idx bkt, err error) {
	if log, err = bucket(tx, bucketAudit); err != nil {
		return log, idx, err
	}
	idx, err = bucket(tx, bucketAuditByRecord)
	return log, idx, err
}

// auditEntry reads the entry at an 8-byte key; Seq is 0 when absent.
func (k bkt) auditEntry(key []byte) (AuditEntry, error) {
	var e AuditEntry
	if len(key) != 8 {
		return e, corrupt(k.name, key, errors.New("key is not an 8-byte sequence number"))
	}
	ok, err := k.getJSON(key, &e)
	if err != nil || !ok {
		return AuditEntry{}, err
	}
	if seq := binary.BigEndian.Uint64(key); e.Seq != seq {
		return AuditEntry{}, corrupt(k.name, key, fmt.Errorf("value holds seq %d, key says %d", e.Seq, seq))
	}
	return e, nil
}

// Audit lists entries with Seq > afterSeq in Seq order, at most limit of
// them (limit <= 0: all). Page with the last Seq returned.
func (db *DB) Audit(afterSeq uint64, limit int) ([]AuditEntry, error) {
	if afterSeq == math.MaxUint64 {
		return nil, nil
	}
	var out []AuditEntry
	err := db.bdb.View(func(tx *bolt.Tx) error {
		log, err := bucket(tx, bucketAudit)
		if err != nil {
			return err
		}
		c := log.b.Cursor()
		for k, _ := c.Seek(be64(afterSeq + 1)); k != nil; k, _ = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			e, err := log.auditEntry(k)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: audit after %d: %w", afterSeq, err)
	}
	return out, nil
}

// AuditFor lists the newest limit entries (limit <= 0: all) about one
// record, recordKey being ItemKey(crm, object, id), oldest first.
func (db *DB) AuditFor(recordKey string, limit int) ([]AuditEntry, error) {
	prefix := append([]byte(recordKey), 0)
	end := append([]byte(recordKey), 1) // first key after every prefix+seq
	var out []AuditEntry
	err := db.bdb.View(func(tx *bolt.Tx) error {
		log, idx, err := auditBuckets(tx)
		if err != nil {
			return err
		}
		c := idx.b.Cursor()
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if limit > 0 && len(out) >= limit {
				break
			}
			if len(k) != len(prefix)+8 {
				continue // a longer record key that starts with recordKey+0x00
			}
			e, err := log.auditEntry(k[len(prefix):])
			if err != nil {
				return err
			}
			if e.Seq == 0 {
				return corrupt(idx.name, k, errors.New("indexes a missing audit entry"))
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: audit for %s: %w", recordKey, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// auditDisorder is how many younger entries in a row end PurgeAudit's
// walk: a run reads little more than what it deletes.
const auditDisorder = 64

// auditHead is what PurgeAudit reads of an entry: its time and record.
type auditHead struct {
	At       time.Time `json:"at"`
	CRM      string    `json:"crm,omitempty"`
	Object   string    `json:"object,omitempty"`
	RecordID string    `json:"record_id,omitempty"`
}

// PurgeAudit deletes the audit entries made before before (with their
// index entries) and reports how many. It walks the log from its oldest
// entry, purgeChunk entries per read transaction, taking the write lock
// only to delete what it found, and stops once it met auditDisorder
// entries in a row that are younger: entries are appended roughly in time
// order (a resumed decision keeps its earlier instant), so an old entry
// behind young ones waits for them. Sequence numbers are never reused.
func (db *DB) PurgeAudit(before time.Time) (n int, err error) {
	var after []byte // the last key examined
	young := 0       // younger entries met in a row
	for young < auditDisorder {
		var examined int
		var gone, goneIdx [][]byte
		err := db.bdb.View(func(tx *bolt.Tx) error {
			examined, gone, goneIdx = 0, nil, nil
			log, err := bucket(tx, bucketAudit)
			if err != nil {
				return err
			}
			c := log.b.Cursor()
			k, v := seekAfter(c, after)
			for ; k != nil && examined < purgeChunk && young < auditDisorder; k, v = c.Next() {
				examined++
				after = append(after[:0], k...)
				var h auditHead
				if err := json.Unmarshal(v, &h); err != nil {
					return corrupt(bucketAudit, k, err)
				}
				if !h.At.Before(before) {
					young++
					continue
				}
				young = 0
				gone = append(gone, append([]byte(nil), k...))
				if rk := (AuditEntry{CRM: h.CRM, Object: h.Object, RecordID: h.RecordID}).recordKey(); rk != "" && len(k) == 8 {
					goneIdx = append(goneIdx, auditIndexKey(rk, binary.BigEndian.Uint64(k)))
				}
			}
			if k == nil {
				young = auditDisorder // the end of the log: done
			}
			return nil
		})
		if err == nil && len(gone) > 0 {
			err = db.bdb.Update(func(tx *bolt.Tx) error {
				log, idx, err := auditBuckets(tx)
				if err != nil {
					return err
				}
				for _, k := range gone {
					if err := log.b.Delete(k); err != nil {
						return err
					}
				}
				for _, k := range goneIdx {
					if err := idx.b.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return n, fmt.Errorf("state: purge audit entries before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		n += len(gone)
		if examined == 0 {
			break
		}
	}
	return n, nil
}
