package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// v3File writes a state file as schema version 3 left it: escalation and
// summary markers among the fingerprints, Slack origins among the cursors,
// beside one entry of every other kind.
func v3File(t *testing.T) (path string, clock *fakeClock) {
	t.Helper()
	clock = newClock()
	path = filepath.Join(t.TempDir(), "regsync.db")
	db, err := open(path, Options{Now: clock.Now}, migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustEnqueue(t, db, hs("1", "webhook"), hs("2", "poll"))
	must(db.Bury(mustLease(t, db, 1, time.Minute)[0], errors.New("refused")))
	must(db.SetCursor("poll/hubspot/partner_registration", "1741000000000"))
	must(db.SetCursor("hubspot_form/0c1b", "1741000000000:a"))
	must(db.SetCursor("slack/origin/RS-0001", `{"team_id":"T1","channel_id":"C1"}`))
	must(db.SetFingerprint(hsKey("1"), "approved|x|abcd"))
	clock.Advance(time.Hour)
	must(db.SetFingerprints(map[string]string{
		"escalated/" + hsKey("2") + "/2025-03-01T00:00:00Z": "2025-03-01T00:00:00Z",
		"summary/northwind/2025-W10/sent":                   "1741000000",
	}))
	if _, _, err := db.Remember("summary/northwind/2025-W10", `{"subject":"kept"}`, 21*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	must(db.Append(AuditEntry{CRM: "hubspot", Object: "partner_registration", RecordID: "1", To: "approved"}))
	must(db.PutPlans(Plan{Key: hsKey("1"), Expect: "x", Steps: []string{"note"}}))
	if _, err := db.ChangeHold("h", t0, func(*Hold) (*Hold, error) {
		return &Hold{Key: "h", ExpiresAt: t0.Add(time.Hour)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	must(db.bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEscalations, bucketSummaries, bucketSlackOrigins} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	}))
	must(db.Close())
	return path, clock
}

// contents lists every key of every bucket but meta: bucket/key → value.
func contents(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string]string{}
	_ = b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			if string(name) == "meta" {
				out["meta/schema_version"] = string(bk.Get(keySchemaVersion))
				return nil
			}
			return bk.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+keyString(k)] = string(v)
				return nil
			})
		})
	})
	return out
}

func TestMigrateV4MovesMarkers(t *testing.T) {
	path, clock := v3File(t)
	before := contents(t, path)
	if before["meta/schema_version"] != "3" {
		t.Fatalf("fixture at version %q", before["meta/schema_version"])
	}

	db, err := Open(path, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)
	if db.version != 4 {
		t.Fatalf("version %d", db.version)
	}
	// Everything reads back where version 4 keeps it.
	esc := "escalated/" + hsKey("2") + "/2025-03-01T00:00:00Z"
	if ok, err := db.Escalations().Keep(esc); err != nil || !ok {
		t.Errorf("escalation marker: %v, %v", ok, err)
	}
	if v, ok, err := db.Summaries().Get("summary/northwind/2025-W10"); err != nil || !ok || v != "1741000000" {
		t.Errorf("summary marker %q, %v, %v", v, ok, err)
	}
	if v, ok, err := db.SlackOrigins().Get("RS-0001"); err != nil || !ok || v != `{"team_id":"T1","channel_id":"C1"}` {
		t.Errorf("slack origin %q, %v, %v", v, ok, err)
	}
	if v, _ := db.Cursor("slack/origin/RS-0001"); v != "" {
		t.Errorf("slack origin still among the cursors: %q", v)
	}
	if fps, _ := db.Fingerprints(esc, "summary/northwind/2025-W10/sent", hsKey("1")); len(fps) != 1 || fps[hsKey("1")] != "approved|x|abcd" {
		t.Errorf("fingerprints after the move: %v", fps)
	}
	if prior, seen, _ := db.Remember("summary/northwind/2025-W10", "new", time.Hour); !seen || prior != `{"subject":"kept"}` {
		t.Errorf("summary draft %q, %v", prior, seen)
	}
	_ = db.Close()

	// Nothing lost, nothing added: every entry is where it was or moved.
	after := contents(t, path)
	moved := map[string]string{
		"fingerprints.v1/" + keyString([]byte(esc)):                               "escalations.v1/" + keyString([]byte(esc)),
		"fingerprints.v1/" + keyString([]byte("summary/northwind/2025-W10/sent")): "summaries.v1/" + keyString([]byte("summary/northwind/2025-W10")),
		"cursors.v1/" + keyString([]byte("slack/origin/RS-0001")):                 "slack_origins.v1/" + keyString([]byte("RS-0001")),
	}
	for k := range moved {
		if before[k] == "" {
			t.Fatalf("fixture lacks %s", k)
		}
	}
	for k, v := range before {
		switch {
		case k == "meta/schema_version":
			if after[k] != "4" {
				t.Errorf("schema_version %q", after[k])
			}
		case moved[k] != "":
			if _, ok := after[k]; ok {
				t.Errorf("%s left behind", k)
			}
			if after[moved[k]] == "" {
				t.Errorf("%s did not land in %s", k, moved[k])
			}
		case after[k] != v:
			t.Errorf("%s changed: %q → %q", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d entries after the migration, %d before", len(after), len(before))
	}
	// The moved entries keep when they were written; they expire from then.
	var rec ttlRecord
	db, _ = Open(path, Options{Now: clock.Now})
	defer db.Close()
	_ = db.bdb.View(func(tx *bolt.Tx) error {
		_, err := bkt{bucketSlackOrigins, tx.Bucket(bucketSlackOrigins)}.getJSON([]byte("RS-0001"), &rec)
		return err
	})
	if !rec.At.Equal(t0) || !rec.ExpiresAt.Equal(t0.Add(SlackOriginTTL)) {
		t.Errorf("slack origin at %v expires %v", rec.At, rec.ExpiresAt)
	}
}

// TestMigrateV4IsOneTransaction: a migration that fails after moving
// everything leaves the version-3 file exactly as it was.
func TestMigrateV4IsOneTransaction(t *testing.T) {
	path, clock := v3File(t)
	before := contents(t, path)
	crashing := append(migrations[:2:2], func(tx *bolt.Tx) error {
		if err := migrateV4(tx); err != nil {
			return err
		}
		return errors.New("power cut")
	})
	_, err := open(path, Options{Now: clock.Now}, crashing)
	if want := fmt.Sprintf("state: migrate %s from schema version 3 to 4: power cut", path); err == nil || err.Error() != want {
		t.Fatalf("open = %v\nwant %s", err, want)
	}
	after := contents(t, path)
	if len(after) != len(before) {
		t.Fatalf("%d entries after a failed migration, %d before", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %q → %q", k, v, after[k])
		}
	}
	// And the real one then succeeds.
	db, err := Open(path, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCheck(t, db)
}
