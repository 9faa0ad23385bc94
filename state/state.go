package state

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the state file this build reads and writes.
// It is always len(migrations)+1.
const SchemaVersion = 4

var (
	// ErrInUse is returned (wrapped) by Open when another process holds the
	// state file's lock for longer than Options.Timeout.
	ErrInUse = errors.New("state file is in use by another regsync")

	// ErrSchemaTooNew is returned (wrapped) by Open when the file was written
	// by a newer regsync than this one.
	ErrSchemaTooNew = errors.New("state file schema is newer than this regsync")

	// ErrNotFound is returned (wrapped) when a named item does not exist.
	ErrNotFound = errors.New("not found")

	// ErrLeaseLost is returned (wrapped) by Ack and Retry when the item is no
	// longer held under the lease the caller got from Lease: the lease
	// expired and someone else leased it, or it was acked meanwhile. Nothing
	// is changed; whoever holds the item now is responsible for it. It is
	// benign: log it, do not retry.
	ErrLeaseLost = errors.New("lease lost")

	// ErrCorrupt is returned (wrapped) when a stored value cannot be decoded
	// or a bucket is missing. The message names the bucket and the key.
	ErrCorrupt = errors.New("corrupt state")
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file lock before failing with ErrInUse. Zero or negative means 1s;
	// Open never waits forever.
	Timeout time.Duration

	// Now is the clock. Default time.Now.
	Now func() time.Time

	// Backoff is how long an item waits after its attempt-th transient
	// failure (attempt starts at 1). It should grow to a cap: an item is
	// retried however many times it fails (only a permanent failure buries
	// it), so the cap is the longest a record waits. Default
	// DefaultBackoff.
	Backoff func(attempt int) time.Duration
}

const (
	defaultTimeout = time.Second
	backoffBase    = 2 * time.Second
	backoffMax     = 30 * time.Minute
)

// DefaultBackoff is 2s·2^(attempt-1), capped at 30m: 2s, 4s, 8s, … 30m —
// quick first retries, so a transient fault costs seconds, not minutes.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := backoffBase
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= backoffMax {
			return backoffMax
		}
	}
	return d
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	return o
}

// DB is an open state file. Its methods are safe for concurrent use.
type DB struct {
	bdb     *bolt.DB
	path    string
	nowFn   func() time.Time
	backoff func(int) time.Duration
	version int
}

// Bucket names. A change of a bucket's layout gets a new name.
var (
	bucketMeta          = []byte("meta")
	bucketCursors       = []byte("cursors.v1")
	bucketInbox         = []byte("inbox.v1")
	bucketInboxOrder    = []byte("inbox_order.v1")
	bucketDead          = []byte("dead.v1")
	bucketIdempotency   = []byte("idempotency.v1")
	bucketFingerprints  = []byte("fingerprints.v1")
	bucketAudit         = []byte("audit.v1")
	bucketAuditByRecord = []byte("audit_by_record.v1")
	bucketPlans         = []byte("plans.v1")         // schema version 2
	bucketHolds         = []byte("holds.v1")         // schema version 3
	bucketEscalations   = []byte("escalations.v1")   // schema version 4
	bucketSummaries     = []byte("summaries.v1")     // schema version 4
	bucketSlackOrigins  = []byte("slack_origins.v1") // schema version 4

	keySchemaVersion = []byte("schema_version")
)

// allBuckets are the buckets of SchemaVersion, created by Open.
var allBuckets = [][]byte{
	bucketMeta, bucketCursors, bucketInbox, bucketInboxOrder, bucketDead,
	bucketIdempotency, bucketFingerprints, bucketAudit, bucketAuditByRecord, bucketPlans, bucketHolds,
	bucketEscalations, bucketSummaries, bucketSlackOrigins,
}

// A migration moves the file from schema version n to n+1 inside one
// read-write transaction; migrations[i] upgrades version i+1 to i+2. It must
// create the buckets its version introduces.
type migration func(tx *bolt.Tx) error

// migrations is the upgrade path; len(migrations)+1 == SchemaVersion.
var migrations = []migration{migrateV2, migrateV3, migrateV4}

// Open opens (creating it when missing, mode 0600) the state file at path.
// The directory must exist. When another process holds the file, Open waits
// up to opts.Timeout and returns an error wrapping ErrInUse.
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, migrations)
}

func open(path string, opts Options, migs []migration) (*DB, error) {
	if path == "" {
		return nil, errors.New("state: open: no path given for the state file")
	}
	opts = opts.withDefaults()

	dir := filepath.Dir(path)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("state: directory %s for state file %s does not exist; create it first", dir, path)
	case err != nil:
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("state: %s (directory of state file %s) is not a directory", dir, path)
	}

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, &inUseError{path: path, waited: opts.Timeout}
		}
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	db := &DB{
		bdb:     bdb,
		path:    path,
		nowFn:   opts.Now,
		backoff: opts.Backoff,
	}
	if err := db.prepare(migs); err != nil {
		return nil, errors.Join(err, db.bdb.Close())
	}
	return db, nil
}

type inUseError struct {
	path   string
	waited time.Duration
}

func (e *inUseError) Error() string {
	return fmt.Sprintf("state file %s is in use by another regsync (waited %s)", e.path, e.waited)
}

func (e *inUseError) Unwrap() error { return ErrInUse }

type schemaTooNewError struct {
	path      string
	have, max int
}

func (e *schemaTooNewError) Error() string {
	return fmt.Sprintf("state file %s has schema version %d; this regsync understands up to %d", e.path, e.have, e.max)
}

func (e *schemaTooNewError) Unwrap() error { return ErrSchemaTooNew }

// prepare initialises an empty file, refuses a newer one and migrates an
// older one, one version per transaction.
func (db *DB) prepare(migs []migration) error {
	target := len(migs) + 1
	var version int
	err := db.bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v, err := readVersion(meta)
		version = v
		return err
	})
	if err != nil {
		return fmt.Errorf("state: open %s: %w", db.path, err)
	}

	if version == 0 {
		err := db.bdb.Update(func(tx *bolt.Tx) error {
			var foreign []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				foreign = append(foreign, string(name))
				return nil
			})
			if len(foreign) > 0 {
				return fmt.Errorf("state file %s has no schema version but holds buckets %q: it was not written by regsync", db.path, foreign)
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return fmt.Errorf("state: create bucket %s: %w", name, err)
				}
			}
			return writeVersion(tx.Bucket(bucketMeta), target)
		})
		if err != nil {
			return fmt.Errorf("state: initialise %s: %w", db.path, err)
		}
		db.version = target
		return nil
	}

	if version > target {
		return &schemaTooNewError{path: db.path, have: version, max: target}
	}
	for version < target {
		from := version
		err := db.bdb.Update(func(tx *bolt.Tx) error {
			if err := migs[from-1](tx); err != nil {
				return err
			}
			return writeVersion(tx.Bucket(bucketMeta), from+1)
		})
		if err != nil {
			return fmt.Errorf("state: migrate %s from schema version %d to %d: %w", db.path, from, from+1, err)
		}
		version = from + 1
	}
	db.version = version

	// Every bucket of this version must exist; a migration that forgot one
	// is a bug, reported rather than papered over.
	return db.bdb.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("state: open %s: %w: bucket %s is missing", db.path, ErrCorrupt, name)
			}
		}
		return nil
	})
}

func readVersion(meta *bolt.Bucket) (int, error) {
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, corrupt(bucketMeta, keySchemaVersion, errors.New("schema_version is missing"))
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, corrupt(bucketMeta, keySchemaVersion, err)
	}
	if v < 1 {
		return 0, corrupt(bucketMeta, keySchemaVersion, fmt.Errorf("schema_version %d is not positive", v))
	}
	return v, nil
}

func writeVersion(meta *bolt.Bucket, v int) error {
	if meta == nil {
		return fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, bucketMeta)
	}
	return meta.Put(keySchemaVersion, []byte(strconv.Itoa(v)))
}

// Close closes the file and releases its lock. It waits for open
// transactions to finish.
func (db *DB) Close() error {
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", db.path, err)
	}
	return nil
}

// Path is the file's path as given to Open.
func (db *DB) Path() string { return db.path }

// now reads the injected clock once per operation, before any transaction,
// and drops the monotonic reading so it compares like stored times.
func (db *DB) now() time.Time { return db.nowFn().UTC() }

// Check verifies the file: bbolt's page-level consistency check, then that
// every value decodes and the indexes agree with what they index. It holds
// the write lock while it runs, so call it at startup or from an operator
// command, not on a hot path.
func (db *DB) Check() error {
	tx, err := db.bdb.Begin(true)
	if err != nil {
		return fmt.Errorf("state: check: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	const maxReported = 20
	var errs []error
	report := func(err error) {
		if len(errs) < maxReported {
			errs = append(errs, err)
		}
	}
	for err := range tx.Check() { // drain fully: the checker goroutine sends until done
		report(fmt.Errorf("bbolt: %w", err))
	}

	if meta := tx.Bucket(bucketMeta); meta == nil {
		report(fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, bucketMeta))
	} else if v, err := readVersion(meta); err != nil {
		report(err)
	} else if v != db.version {
		report(fmt.Errorf("schema version %d, expected %d", v, db.version))
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			report(fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, name))
		}
	}
	if len(errs) == 0 {
		checkValues(tx, report)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("state: check %s: %w", db.path, errors.Join(errs...))
}

func checkValues(tx *bolt.Tx, report func(error)) {
	decodeAll := func(name []byte, v func() any) {
		_ = tx.Bucket(name).ForEach(func(k, raw []byte) error {
			if err := json.Unmarshal(raw, v()); err != nil {
				report(corrupt(name, k, err))
			}
			return nil
		})
	}
	decodeAll(bucketCursors, func() any { return new(cursorRecord) })
	for _, name := range [][]byte{bucketIdempotency, bucketEscalations, bucketSummaries, bucketSlackOrigins} {
		decodeAll(name, func() any { return new(ttlRecord) })
	}
	decodeAll(bucketFingerprints, func() any { return new(fingerprintRecord) })
	decodeAll(bucketPlans, func() any { return new(Plan) })
	decodeAll(bucketHolds, func() any { return new(Hold) })

	ib := inboxBuckets{
		inbox: bkt{bucketInbox, tx.Bucket(bucketInbox)},
		order: bkt{bucketInboxOrder, tx.Bucket(bucketInboxOrder)},
		dead:  bkt{bucketDead, tx.Bucket(bucketDead)},
	}
	indexed := 0
	_ = ib.order.b.ForEach(func(k, v []byte) error {
		indexed++
		it, err := ib.itemAt(k, v)
		if err != nil {
			report(err)
			return nil
		}
		if want := orderKey(it); string(want) != string(k) {
			report(corrupt(bucketInboxOrder, k, fmt.Errorf("index key does not match item %s", it.Key)))
		} else if want := readyAt(it); binary.BigEndian.Uint64(v) != want {
			report(corrupt(bucketInboxOrder, k, fmt.Errorf("ready-at does not match item %s", it.Key)))
		}
		return nil
	})
	items := 0
	_ = ib.inbox.b.ForEach(func(k, _ []byte) error {
		items++
		if _, _, err := ib.inbox.item(k); err != nil {
			report(err)
		}
		return nil
	})
	if items != indexed {
		report(fmt.Errorf("%w: bucket %s holds %d items but %s indexes %d", ErrCorrupt, bucketInbox, items, bucketInboxOrder, indexed))
	}
	_ = ib.dead.b.ForEach(func(k, _ []byte) error {
		if _, _, err := ib.dead.item(k); err != nil {
			report(err)
		}
		return nil
	})

	audit := bkt{bucketAudit, tx.Bucket(bucketAudit)}
	_ = audit.b.ForEach(func(k, _ []byte) error {
		if _, err := audit.auditEntry(k); err != nil {
			report(err)
		}
		return nil
	})
	_ = tx.Bucket(bucketAuditByRecord).ForEach(func(k, _ []byte) error {
		if len(k) < 9 || k[len(k)-9] != 0 {
			report(corrupt(bucketAuditByRecord, k, errors.New("malformed index key")))
			return nil
		}
		e, err := audit.auditEntry(k[len(k)-8:])
		switch {
		case err != nil:
			report(err)
		case e.Seq == 0:
			report(corrupt(bucketAuditByRecord, k, errors.New("indexes a missing audit entry")))
		case e.recordKey() != string(k[:len(k)-9]):
			report(corrupt(bucketAuditByRecord, k, fmt.Errorf("indexes audit entry %d of %s", e.Seq, e.recordKey())))
		}
		return nil
	})
}

// bkt is a bucket with its name, for error messages.
type bkt struct {
	name []byte
	b    *bolt.Bucket
}

func bucket(tx *bolt.Tx, name []byte) (bkt, error) {
	b := tx.Bucket(name)
	if b == nil {
		return bkt{}, fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, name)
	}
	return bkt{name, b}, nil
}

// getJSON decodes the value at key into v; ok is false when there is none.
func (k bkt) getJSON(key []byte, v any) (ok bool, err error) {
	raw := k.b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, corrupt(k.name, key, err)
	}
	return true, nil
}

func (k bkt) putJSON(key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", k.name, keyString(key), err)
	}
	if err := k.b.Put(key, raw); err != nil {
		return fmt.Errorf("put %s %s: %w", k.name, keyString(key), err)
	}
	return nil
}

func corrupt(bucket, key []byte, err error) error {
	return fmt.Errorf("%w: bucket %s key %s: %v", ErrCorrupt, bucket, keyString(key), err)
}

// keyString shows a key quoted when it is text, in hex when it is not.
func keyString(key []byte) string {
	if utf8.Valid(key) {
		printable := true
		for _, r := range string(key) {
			if r < 0x20 || r == 0x7f {
				printable = false
				break
			}
		}
		if printable {
			return strconv.Quote(string(key))
		}
	}
	return "0x" + hex.EncodeToString(key)
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// orderedNanos maps t to a uint64 whose big-endian bytes sort like t. The
// zero time sorts first.
func orderedNanos(t time.Time) uint64 {
	switch {
	case t.Before(minNanoTime):
		return 0
	case t.After(maxNanoTime):
		return math.MaxUint64
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

func be64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}
