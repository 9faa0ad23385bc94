package state

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Where schema version 3 kept what version 4 gives buckets of its own.
// The prefixes and the suffix only told kinds apart inside a shared
// bucket; the escalation key keeps its prefix, since it is also the CRM
// task's idempotency key.
var (
	v3EscalationPrefix  = []byte("escalated/")    // in fingerprints.v1
	v3SummaryPrefix     = []byte("summary/")      // in fingerprints.v1, with…
	v3SummarySentSuffix = []byte("/sent")         // …this suffix
	v3SlackOriginPrefix = []byte("slack/origin/") // in cursors.v1
)

// migrateV4 moves the markers that schema version 3 kept in buckets meant
// for something else into buckets of their own, each with a TTL:
//
//	fingerprints.v1 "escalated/…"      → escalations.v1, same key
//	fingerprints.v1 "summary/…/sent"   → summaries.v1, without "/sent"
//	cursors.v1      "slack/origin/<n>" → slack_origins.v1, key <n>
//
// The value moves as it was, with the time it was written (at,
// updated_at) and an expiry counted from then. Like every migration it is
// one transaction: a crash leaves the file at version 3, entries unmoved.
func migrateV4(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketEscalations, bucketSummaries, bucketSlackOrigins} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	err := move(tx, bucketFingerprints, bucketEscalations, func(k, v []byte) ([]byte, *ttlRecord, error) {
		if !bytes.HasPrefix(k, v3EscalationPrefix) {
			return nil, nil, nil
		}
		var fp fingerprintRecord
		if err := json.Unmarshal(v, &fp); err != nil {
			return nil, nil, corrupt(bucketFingerprints, k, err)
		}
		return k, &ttlRecord{Value: fp.FP, At: fp.At, ExpiresAt: fp.At.Add(EscalationTTL)}, nil
	})
	if err != nil {
		return err
	}
	err = move(tx, bucketFingerprints, bucketSummaries, func(k, v []byte) ([]byte, *ttlRecord, error) {
		if !bytes.HasPrefix(k, v3SummaryPrefix) || !bytes.HasSuffix(k, v3SummarySentSuffix) {
			return nil, nil, nil
		}
		var fp fingerprintRecord
		if err := json.Unmarshal(v, &fp); err != nil {
			return nil, nil, corrupt(bucketFingerprints, k, err)
		}
		return k[:len(k)-len(v3SummarySentSuffix)], &ttlRecord{Value: fp.FP, At: fp.At, ExpiresAt: fp.At.Add(SummaryTTL)}, nil
	})
	if err != nil {
		return err
	}
	return move(tx, bucketCursors, bucketSlackOrigins, func(k, v []byte) ([]byte, *ttlRecord, error) {
		if !bytes.HasPrefix(k, v3SlackOriginPrefix) {
			return nil, nil, nil
		}
		var c cursorRecord
		if err := json.Unmarshal(v, &c); err != nil {
			return nil, nil, corrupt(bucketCursors, k, err)
		}
		return k[len(v3SlackOriginPrefix):], &ttlRecord{Value: c.Value, At: c.UpdatedAt, ExpiresAt: c.UpdatedAt.Add(SlackOriginTTL)}, nil
	})
}

// move moves the entries of bucket from that pick names (a nil record:
// not this one) into bucket to, under the key pick returns.
func move(tx *bolt.Tx, from, to []byte, pick func(k, v []byte) ([]byte, *ttlRecord, error)) error {
	src, err := bucket(tx, from)
	if err != nil {
		return err
	}
	dst, err := bucket(tx, to)
	if err != nil {
		return err
	}
	var gone [][]byte
	err = src.b.ForEach(func(k, v []byte) error {
		nk, rec, err := pick(k, v)
		if err != nil || rec == nil {
			return err
		}
		if len(nk) == 0 {
			return corrupt(from, k, fmt.Errorf("moves to %s under an empty key", to))
		}
		gone = append(gone, append([]byte(nil), k...))
		return dst.putJSON(append([]byte(nil), nk...), rec)
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := src.b.Delete(k); err != nil {
			return fmt.Errorf("delete %s %s: %w", from, keyString(k), err)
		}
	}
	return nil
}
