package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesFile(t *testing.T) {
	db, _, path := openTest(t, Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	err = db.bdb.View(func(tx *bolt.Tx) error {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		want := "audit.v1 audit_by_record.v1 cursors.v1 dead.v1 escalations.v1 fingerprints.v1 holds.v1 idempotency.v1 inbox.v1 inbox_order.v1 meta plans.v1 slack_origins.v1 summaries.v1"
		if got := strings.Join(names, " "); got != want {
			return fmt.Errorf("buckets %q, want %q", got, want)
		}
		if v := string(tx.Bucket(bucketMeta).Get(keySchemaVersion)); v != "4" {
			return fmt.Errorf("schema_version %q, want 4", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)
}

func TestMigrationListMatchesSchemaVersion(t *testing.T) {
	if len(migrations)+1 != SchemaVersion {
		t.Fatalf("SchemaVersion %d but %d migrations", SchemaVersion, len(migrations))
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	path := filepath.Join(dir, "regsync.db")
	_, err := Open(path, Options{})
	want := fmt.Sprintf("state: directory %s for state file %s does not exist; create it first", dir, path)
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the directory: %v", err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open("", Options{}); err == nil || err.Error() != "state: open: no path given for the state file" {
		t.Fatalf("Open(\"\") = %v", err)
	}
}

func TestOpenInUseInProcess(t *testing.T) {
	db, _, path := openTest(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	waited := time.Since(start)
	checkInUse(t, err, path, "100ms", waited)

	// Released on Close.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = db2.Close()
}

func checkInUse(t *testing.T, err error, path, waitedText string, waited time.Duration) {
	t.Helper()
	want := fmt.Sprintf("state file %s is in use by another regsync (waited %s)", path, waitedText)
	if err == nil || err.Error() != want {
		t.Fatalf("second Open = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("errors.Is(%v, ErrInUse) = false", err)
	}
	if waited < 40*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("second Open gave up after %s, want about 100ms", waited)
	}
}

func TestOpenDefaultTimeoutIsNotForever(t *testing.T) {
	_, _, path := openTest(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 0})
	if waited := time.Since(start); !errors.Is(err, ErrInUse) || waited > 3*time.Second {
		t.Fatalf("Open with zero Timeout = %v after %s", err, waited)
	}
	if !strings.HasSuffix(err.Error(), "(waited 1s)") {
		t.Fatalf("message %q, want the 1s default", err)
	}
}

// setVersion rewrites meta/schema_version of a closed file.
func setVersion(t *testing.T, path string, v string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(v))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSchemaTooNew(t *testing.T) {
	db, _, path := openTest(t, Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion(t, path, "5")
	_, err := Open(path, Options{})
	want := fmt.Sprintf("state file %s has schema version 5; this regsync understands up to 4", path)
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("errors.Is(%v, ErrSchemaTooNew) = false", err)
	}
	// The refusal released the lock and left the file as it was.
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("file still locked after refusal: %v", err)
	}
	defer b.Close()
	_ = b.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchemaVersion)); v != "5" {
			t.Errorf("schema_version rewritten to %q", v)
		}
		return nil
	})
}

func TestOpenCorruptVersion(t *testing.T) {
	db, _, path := openTest(t, Options{})
	_ = db.Close()
	setVersion(t, path, "one")
	_, err := Open(path, Options{})
	want := fmt.Sprintf(`state: open %s: corrupt state: bucket meta key "schema_version": invalid character 'o' looking for beginning of value`, path)
	if err == nil || err.Error() != want || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
}

func TestOpenForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
	_ = b.Close()
	_, err = Open(path, Options{})
	want := fmt.Sprintf(`state: initialise %s: state file %s has no schema version but holds buckets ["widgets"]: it was not written by regsync`, path, path)
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
}

func TestOpenNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "state: open "+path+": ") {
		t.Fatalf("Open = %v", err)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	db, err := open(path, Options{}, nil) // a version-1 file
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, db, hs("1", "poll"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A failing migration leaves the file at its old version.
	failing := []migration{func(tx *bolt.Tx) error { return errors.New("disk says no") }}
	_, err = open(path, Options{}, failing)
	want := fmt.Sprintf("state: migrate %s from schema version 1 to 2: disk says no", path)
	if err == nil || err.Error() != want {
		t.Fatalf("open with failing migration = %v\nwant %s", err, want)
	}

	// A working one: version 1 → 2 adds a bucket and rewrites every item's
	// reason. It runs once.
	runs := 0
	fake := []migration{func(tx *bolt.Tx) error {
		runs++
		if _, err := tx.CreateBucket([]byte("fake.v2")); err != nil {
			return err
		}
		ib, err := openInbox(tx)
		if err != nil {
			return err
		}
		var items []Item
		_ = ib.inbox.b.ForEach(func(k, _ []byte) error {
			it, _, err := ib.inbox.item(k)
			items = append(items, it)
			return err
		})
		for _, it := range items {
			it.Reason = "migrated"
			if err := ib.put(it); err != nil {
				return err
			}
		}
		return nil
	}}
	for range 2 {
		db, err := open(path, Options{}, fake)
		if err != nil {
			t.Fatalf("open with migration: %v", err)
		}
		if db.version != 2 {
			t.Fatalf("version %d after migration", db.version)
		}
		if r := mustItem(t, db, hsKey("1")).Reason; r != "migrated" {
			t.Fatalf("Reason %q after migration", r)
		}
		_ = db.bdb.View(func(tx *bolt.Tx) error {
			if v := string(tx.Bucket(bucketMeta).Get(keySchemaVersion)); v != "2" {
				t.Errorf("schema_version %q, want 2", v)
			}
			if tx.Bucket([]byte("fake.v2")) == nil {
				t.Error("migration's bucket missing")
			}
			return nil
		})
		mustCheck(t, db)
		_ = db.Close()
	}
	if runs != 1 {
		t.Fatalf("migration ran %d times, want 1", runs)
	}

	// And a binary that knows only version 1 now refuses the file.
	if _, err := open(path, Options{}, nil); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of migrated file = %v", err)
	}
}

func TestCorruptValuesAreErrorsNotPanics(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "poll"))
	if err := db.SetCursor("hubspot", "x"); err != nil {
		t.Fatal(err)
	}
	put := func(bucket []byte, key, value string) {
		t.Helper()
		if err := db.bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).Put([]byte(key), []byte(value))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(bucketInbox, hsKey("1"), "{not json")
	put(bucketCursors, "hubspot", `{"value": 7}`)
	put(bucketFingerprints, "k", `[]`)
	put(bucketIdempotency, "evt-1", `"x"`)
	if err := db.bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).Put(be64(1), []byte("{"))
	}); err != nil {
		t.Fatal(err)
	}

	const inboxErr = `corrupt state: bucket inbox.v1 key "hubspot/partner_registration/1": invalid character 'n' looking for beginning of object key string`
	for name, err := range map[string]error{
		"Pending":     second(db.Pending()),
		"Lease":       second(db.Lease(1, time.Minute)),
		"InboxStats":  second(db.InboxStats()),
		"Item":        second(db.Item(hsKey("1"))),
		"Enqueue":     db.Enqueue(hs("1", "poll")),
		"Cursor":      second(db.Cursor("hubspot")),
		"Fingerprint": func() error { _, _, _, err := db.Fingerprint("k"); return err }(),
		"Remember":    func() error { _, _, err := db.Remember("evt-1", "v", time.Hour); return err }(),
		"Purge":       second(db.PurgeExpired()),
		"Audit":       second(db.Audit(0, 0)),
	} {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := db.Pending(); err == nil || err.Error() != "state: pending: "+inboxErr {
		t.Errorf("Pending error %q", err)
	}
	if _, err := db.Audit(0, 0); err == nil || err.Error() != `state: audit after 0: corrupt state: bucket audit.v1 key 0x0000000000000001: unexpected end of JSON input` {
		t.Errorf("Audit error %q", err)
	}

	err := db.Check()
	if err == nil {
		t.Fatal("Check passed on a corrupt file")
	}
	for _, want := range []string{inboxErr, `bucket cursors.v1 key "hubspot"`, `bucket fingerprints.v1 key "k"`, `bucket idempotency.v1 key "evt-1"`, `bucket audit.v1 key 0x0000000000000001`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q:\n%v", want, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestCheckFindsIndexDrift(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	mustEnqueue(t, db, hs("1", "poll"), hs("2", "poll"))
	if err := db.bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInbox).Delete([]byte(hsKey("2")))
	}); err != nil {
		t.Fatal(err)
	}
	err := db.Check()
	if err == nil || !strings.Contains(err.Error(), `indexes item "hubspot/partner_registration/2", which is not in inbox.v1`) ||
		!strings.Contains(err.Error(), "bucket inbox.v1 holds 1 items but inbox_order.v1 indexes 2") {
		t.Fatalf("Check = %v", err)
	}
}

// TestMigrateV2 opens a file as the first release wrote it (schema version
// 1, no plans bucket) and finds it migrated with its items intact.
func TestMigrateV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	db, err := open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, db, hs("7", "webhook"))
	if err := db.bdb.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketPlans) }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("open version-1 file: %v", err)
	}
	defer db.Close()
	if db.version != SchemaVersion {
		t.Fatalf("version %d after open, want %d", db.version, SchemaVersion)
	}
	if r := mustItem(t, db, hsKey("7")).Reason; r != "webhook" {
		t.Fatalf("item reason %q after migration", r)
	}
	if err := db.PutPlans(Plan{Key: hsKey("7"), Expect: "x", Steps: []string{"note"}}); err != nil {
		t.Fatalf("plans after migration: %v", err)
	}
	mustCheck(t, db)
}
