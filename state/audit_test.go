package state

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func seqs(entries []AuditEntry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func TestAuditAppendAndList(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	entries := []AuditEntry{
		{CRM: "hubspot", Object: "partner_registration", RecordID: "1", CaseNumber: "REG-0001",
			From: "submitted", To: "approved", Reason: "approved", Actor: "regsync", Message: "hold until 2025-05-02",
			Trace: json.RawMessage(`{"rules": [ "required", "duplicate_domain" ]}`)},
		{CRM: "hubspot", Object: "partner_registration", RecordID: "10", From: "submitted", To: "declined",
			Reason: "blocked_account", Actor: "regsync", At: at},
		{Actor: "regsync", Message: "config reloaded"},
	}
	if err := db.Append(entries...); err != nil {
		t.Fatal(err)
	}
	if got := seqs(entries); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("assigned Seq %v", got)
	}
	if !entries[0].At.Equal(t0) || !entries[1].At.Equal(at) {
		t.Fatalf("At = %v, %v", entries[0].At, entries[1].At)
	}

	all, err := db.Audit(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want0 := AuditEntry{Seq: 1, At: t0, CRM: "hubspot", Object: "partner_registration", RecordID: "1", CaseNumber: "REG-0001",
		From: "submitted", To: "approved", Reason: "approved", Actor: "regsync", Message: "hold until 2025-05-02",
		Trace: json.RawMessage(`{"rules":["required","duplicate_domain"]}`)}
	if len(all) != 3 || !reflect.DeepEqual(all[0], want0) {
		t.Fatalf("Audit(0,0)[0] = %+v\nwant %+v", all, want0)
	}
	if !all[1].At.Equal(at) || all[1].At.Location() != time.UTC {
		t.Fatalf("explicit At stored as %v", all[1].At)
	}

	for _, tc := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}}, {1, 1, []uint64{2}}, {2, 10, []uint64{3}}, {3, 0, []uint64{}}, {1 << 63, 0, []uint64{}}, {^uint64(0), 5, []uint64{}},
	} {
		got, err := db.Audit(tc.after, tc.limit)
		if err != nil || !slices.Equal(seqs(got), tc.want) {
			t.Errorf("Audit(%d, %d) = %v, %v; want %v", tc.after, tc.limit, seqs(got), err, tc.want)
		}
	}

	// Seq keeps counting across a reopen.
	clock.Advance(time.Minute)
	db = reopen(t, db, Options{Now: clock.Now})
	more := []AuditEntry{{CRM: "hubspot", Object: "partner_registration", RecordID: "1", From: "approved", To: "meeting_booked", Actor: "ae-17"}}
	if err := db.Append(more...); err != nil {
		t.Fatal(err)
	}
	if more[0].Seq != 4 || !more[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after reopen Seq %d At %v", more[0].Seq, more[0].At)
	}

	// By record: oldest first, the newest `limit`; "…/1" is not "…/10".
	for _, tc := range []struct {
		key   string
		limit int
		want  []uint64
	}{
		{hsKey("1"), 0, []uint64{1, 4}}, {hsKey("1"), 1, []uint64{4}}, {hsKey("10"), 0, []uint64{2}},
		{hsKey("2"), 0, []uint64{}}, {"", 0, []uint64{}},
	} {
		got, err := db.AuditFor(tc.key, tc.limit)
		if err != nil || !slices.Equal(seqs(got), tc.want) {
			t.Errorf("AuditFor(%q, %d) = %v, %v; want %v", tc.key, tc.limit, seqs(got), err, tc.want)
		}
	}
	mustCheck(t, db)
}

func TestAuditRejectsInvalidTrace(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	err := db.Append(AuditEntry{CRM: "hubspot", Object: "o", RecordID: "1", Trace: json.RawMessage(`{"a":`)})
	if err == nil || err.Error() != `state: append audit entry for "hubspot/o/1": trace is not valid JSON` {
		t.Fatalf("Append = %v", err)
	}
	if got, _ := db.Audit(0, 0); len(got) != 0 {
		t.Fatalf("rejected entry stored: %+v", got)
	}
}

func TestAuditConcurrentAppendSeqUnique(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	const goroutines, per = 20, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				e := []AuditEntry{{CRM: "hubspot", Object: "o", RecordID: fmt.Sprint(g), Message: fmt.Sprint(i)}}
				if err := db.Append(e...); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	all, err := db.Audit(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != goroutines*per {
		t.Fatalf("%d entries", len(all))
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has Seq %d", i, e.Seq)
		}
	}
	for g := range goroutines {
		got, err := db.AuditFor(ItemKey("hubspot", "o", fmt.Sprint(g)), 0)
		if err != nil || len(got) != per {
			t.Fatalf("AuditFor g%d = %d entries, %v", g, len(got), err)
		}
		for i, e := range got {
			if e.Message != fmt.Sprint(i) {
				t.Fatalf("g%d entry %d message %q: per-caller order lost", g, i, e.Message)
			}
		}
	}
	mustCheck(t, db)
}

// A record key that extends another's by 0x00… must not leak into the
// shorter one's history.
func TestAuditForPrefixRecordKey(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if err := db.Append(
		AuditEntry{CRM: "hubspot", Object: "o", RecordID: "1", Message: "mine"},
		AuditEntry{CRM: "hubspot", Object: "o", RecordID: "1\x00x", Message: "other"},
	); err != nil {
		t.Fatal(err)
	}
	got, err := db.AuditFor(ItemKey("hubspot", "o", "1"), 0)
	if err != nil || len(got) != 1 || got[0].Message != "mine" {
		t.Fatalf("AuditFor = %+v, %v", got, err)
	}
	got, err = db.AuditFor(ItemKey("hubspot", "o", "1\x00x"), 0)
	if err != nil || len(got) != 1 || got[0].Message != "other" {
		t.Fatalf("AuditFor = %+v, %v", got, err)
	}
	mustCheck(t, db)
}

// TestAppendSeenRemembersWithTheEntry: an observed change is audited and
// its fingerprint recorded in one transaction; an entry that cannot be
// written (invalid trace) records no fingerprint either.
func TestAppendSeenRemembersWithTheEntry(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	key := "hubspot/p_reg/7"
	if err := db.AppendSeen(map[string]string{key: "declined|manual|abc"},
		AuditEntry{CRM: "hubspot", Object: "p_reg", RecordID: "7", From: "needs_info", To: "declined", Actor: "crm"}); err != nil {
		t.Fatal(err)
	}
	if fp, _, ok, err := db.Fingerprint(key); err != nil || !ok || fp != "declined|manual|abc" {
		t.Fatalf("fingerprint %q %v %v", fp, ok, err)
	}
	if es, err := db.AuditFor(key, 0); err != nil || len(es) != 1 || es[0].To != "declined" {
		t.Fatalf("audit %+v %v", es, err)
	}
	other := "hubspot/p_reg/8"
	if err := db.AppendSeen(map[string]string{other: "x"}, AuditEntry{RecordID: "8", Trace: []byte("{")}); err == nil {
		t.Fatal("an invalid entry was appended")
	}
	if _, _, ok, _ := db.Fingerprint(other); ok {
		t.Error("a fingerprint was recorded without its entry")
	}
}
