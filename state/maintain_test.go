package state

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestPurgeAudit(t *testing.T) {
	db, clock, _ := openTest(t, Options{})
	// More old entries than one transaction looks at, one of them
	// appended late with its earlier instant, then young ones.
	var old []AuditEntry
	for i := range purgeChunk + 300 {
		old = append(old, AuditEntry{CRM: "hubspot", Object: "partner_registration", RecordID: fmt.Sprint(i % 7), To: "approved"})
	}
	if err := db.Append(old...); err != nil {
		t.Fatal(err)
	}
	cutoff := clock.Advance(24 * time.Hour)
	young := AuditEntry{CRM: "hubspot", Object: "partner_registration", RecordID: "1", To: "declined"}
	late := AuditEntry{At: t0, CRM: "hubspot", Object: "partner_registration", RecordID: "2", To: "expired"}
	other := AuditEntry{Message: "reload"} // names no record
	if err := db.Append(young, late, other); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeAudit(t0); err != nil || n != 0 {
		t.Fatalf("PurgeAudit(t0) = %d, %v: nothing is older", n, err)
	}
	if n, err := db.PurgeAudit(cutoff); err != nil || n != len(old)+1 {
		t.Fatalf("PurgeAudit = %d, %v, want %d", n, err, len(old)+1)
	}
	left, err := db.Audit(0, 0)
	if err != nil || len(left) != 2 || left[0].To != "declined" || left[1].Message != "reload" {
		t.Fatalf("left %+v, %v", left, err)
	}
	if es, err := db.AuditFor(hsKey("1"), 0); err != nil || len(es) != 1 || es[0].To != "declined" {
		t.Fatalf("AuditFor(1) = %+v, %v", es, err)
	}
	if es, err := db.AuditFor(hsKey("2"), 0); err != nil || len(es) != 0 {
		t.Fatalf("AuditFor(2) = %+v, %v", es, err)
	}
	mustCheck(t, db) // the index holds nothing of the purged entries
	// Sequence numbers go on.
	e := AuditEntry{Message: "next"}
	if err := db.Append(e); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Audit(0, 0); all[len(all)-1].Seq != uint64(len(old)+4) {
		t.Fatalf("next seq %d", all[len(all)-1].Seq)
	}
}

// TestMaintainPurgesOnItsTicks runs the loop in a synctest bubble: its
// ticker and the file's clock are the bubble's, and the test waits for
// each run's report.
func TestMaintainPurgesOnItsTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := Open(filepath.Join(t.TempDir(), "regsync.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		start := time.Now()
		business := func() time.Time { return time.Now().Add(-time.Minute) } // holds and audit: the daemon's clock
		var retention atomic.Int64                                           // the configuration, reloaded while the loop runs
		retention.Store(int64(2 * 24 * time.Hour))
		runs := make(chan MaintenanceRun)
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			db.Maintain(ctx, Maintenance{Now: business, AuditRetention: func() time.Duration { return time.Duration(retention.Load()) },
				Done: func(r MaintenanceRun) { runs <- r }})
		}()
		if r := <-runs; r.Err != nil || r.Purged != nil || r.FileBytes == 0 {
			t.Fatalf("first run at start %+v", r)
		}

		if _, _, err := db.Remember("summary/p/2025-W10", "draft", 30*time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := db.Summaries().Put("summary/p/2025-W10", "1"); err != nil {
			t.Fatal(err)
		}
		if err := db.SlackOrigins().Put("RS-1", "{}"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ChangeHold("h", business(), func(*Hold) (*Hold, error) {
			return &Hold{Key: "h", ExpiresAt: business().Add(90 * time.Minute)}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.Append(AuditEntry{At: business(), Message: "a decision"}); err != nil {
			t.Fatal(err)
		}

		r := <-runs // an hour on: the draft
		if r.Err != nil || len(r.Purged) != 1 || r.Purged["idempotency.v1"] != 1 || time.Since(start) != time.Hour {
			t.Fatalf("run after 1h (%s): %+v", time.Since(start), r)
		}
		if r := <-runs; r.Purged["holds.v1"] != 1 || len(r.Purged) != 1 {
			t.Fatalf("run after 2h: %+v", r)
		}
		// The audit entry goes once the retention has passed on the
		// business clock; a shorter retention applies at the next run.
		retention.Store(int64(time.Hour)) // under the minimum: a day
		for i := 3; i <= 24; i++ {
			if r := <-runs; r.Purged != nil {
				t.Fatalf("run after %dh: %+v", i, r)
			}
		}
		if r := <-runs; r.Purged["audit.v1"] != 1 {
			t.Fatalf("run after 25h: %+v", r)
		}
		for i := 26; i <= 21*24; i++ {
			if r := <-runs; r.Purged != nil {
				t.Fatalf("run after %dh: %+v", i, r)
			}
		}
		if r := <-runs; r.Purged["summaries.v1"] != 1 || len(r.Purged) != 1 {
			t.Fatalf("run after 21 days: %+v", r)
		}
		if _, ok, _ := db.SlackOrigins().Get("RS-1"); !ok {
			t.Fatal("slack origin gone before its TTL")
		}
		cancel()
		<-stopped
		mustCheck(t, db)
	})
}
