package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sweepPolicy has short windows so that a first meeting extends one.
var sweepPolicy = strings.Replace(testPolicy,
	"hold_window: {days: 60, by_tier: {gold: 90}, meeting_within_days: 14, extend_on_meeting_days: 30, max_days: 180}",
	"hold_window: {days: 20, meeting_within_days: 14, extend_on_meeting_days: 30, max_days: 180}", 1)

func (h *harness) sweep() (looked, changed, escalated int) {
	h.t.Helper()
	res, err := h.d.worker.Sweep(context.Background())
	if err != nil {
		h.t.Fatalf("sweep: %v", err)
	}
	h.settle(10 * time.Second)
	return res.Looked, res.Changed, res.Escalated
}

func (h *harness) want(id, status, reason string) map[string]string {
	h.t.Helper()
	p := h.get(id)
	if p["status"] != status || p["status_reason"] != reason {
		h.t.Fatalf("%s: %s/%s, want %s/%s", p["case_number"], p["status"], p["status_reason"], status, reason)
	}
	return p
}

func TestSweepExpiresAfterTheMeetingDeadline(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, policy: sweepPolicy})
		id := h.register(clean(10, "sweep-meeting.example"))
		h.waitDecided(id, 5*time.Second)
		h.settle(10 * time.Second)
		h.want(id, "approved", "approved")

		h.crm.Advance(13 * 24 * time.Hour) // the deadline is not past yet
		if _, changed, _ := h.sweep(); changed != 0 {
			t.Fatalf("sweep changed %d registrations before any deadline", changed)
		}
		h.want(id, "approved", "approved")
		h.crm.Advance(2 * 24 * time.Hour)
		if _, changed, _ := h.sweep(); changed != 1 {
			t.Fatalf("sweep changed %d registrations, want 1", changed)
		}
		h.want(id, "expired", "no_meeting")
		if _, changed, _ := h.sweep(); changed != 0 {
			t.Fatalf("a second sweep changed %d registrations", changed)
		}
	})
}

func TestSweepMeetingExtendsTheWindowThenItEnds(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, policy: sweepPolicy})
		id := h.register(clean(11, "sweep-window.example"))
		h.waitDecided(id, 5*time.Second)
		h.settle(10 * time.Second)
		p := h.want(id, "approved", "approved")
		approvedHold, _ := time.Parse(time.RFC3339, p["hold_until"])

		// Day 5: the AE logs the first meeting in the CRM.
		h.crm.Advance(5 * 24 * time.Hour)
		met := h.crm.Now().Truncate(time.Second)
		h.crm.Update(t, id, map[string]string{"first_meeting_at": met.Format(time.RFC3339)})
		deadline := time.Now().Add(5 * time.Second)
		for h.get(id)["status"] != "meeting_booked" {
			if time.Now().After(deadline) {
				t.Fatalf("the meeting was not taken into account: %v", h.get(id))
			}
			time.Sleep(20 * time.Millisecond)
		}
		h.settle(10 * time.Second)
		p = h.want(id, "meeting_booked", "meeting_logged")
		hold, _ := time.Parse(time.RFC3339, p["hold_until"])
		if want := met.Add(30 * 24 * time.Hour); !hold.Equal(want) || !hold.After(approvedHold) {
			t.Fatalf("hold_until %s after the meeting, want %s (extended from %s)", hold, want, approvedHold)
		}

		// The old window has passed: still protected.
		h.crm.Advance(20 * 24 * time.Hour)
		if _, changed, _ := h.sweep(); changed != 0 {
			t.Fatalf("sweep changed %d registrations inside the extended window", changed)
		}
		h.want(id, "meeting_booked", "meeting_logged")
		// Past the extended window: expired.
		h.crm.Advance(11 * 24 * time.Hour) // day 36, past day 5 + 30
		if _, changed, _ := h.sweep(); changed != 1 {
			t.Fatalf("sweep changed %d registrations, want 1", changed)
		}
		h.want(id, "expired", "window_ended")
	})
}

func TestSweepEscalatesAMissedSLAOnce(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true})
		r := clean(12, "sweep-sla.example")
		r["country"] = "JP" // no territory: an AE must review it
		id := h.register(r)
		h.waitDecided(id, 5*time.Second)
		h.settle(10 * time.Second)
		p := h.want(id, "in_review", "no_territory")
		due, err := time.Parse(time.RFC3339, p["sla_due"])
		if err != nil {
			t.Fatalf("sla_due %q: %v", p["sla_due"], err)
		}
		tasks := len(h.crm.Linked(t, id, "tasks"))
		if tasks != 1 {
			t.Fatalf("%d tasks after the decision, want the review task", tasks)
		}

		if _, _, esc := h.sweep(); esc != 0 {
			t.Fatalf("escalated %d before the SLA", esc)
		}
		h.crm.Advance(due.Sub(h.crm.Now()) + time.Minute)
		if _, _, esc := h.sweep(); esc != 1 {
			t.Fatalf("escalated %d past the SLA, want 1", esc)
		}
		if got := len(h.crm.Linked(t, id, "tasks")); got != tasks+1 {
			t.Fatalf("%d tasks after the escalation, want %d", got, tasks+1)
		}
		// Sent once: later sweeps leave it.
		h.crm.Advance(time.Hour)
		if _, _, esc := h.sweep(); esc != 0 {
			t.Fatalf("escalated again: %d", esc)
		}
		if got := len(h.crm.Linked(t, id, "tasks")); got != tasks+1 {
			t.Fatalf("%d tasks after another sweep, want %d", got, tasks+1)
		}
		h.want(id, "in_review", "no_territory")
	})
}

// TestSweepAndWorkerActOnce: the sweep and a worker pass reach the same
// registrations at the same moment (a cron sweep while their re-checks come
// due). Every path takes the record's lock, so each expiry is decided once:
// one audit note and one partner e-mail per registration, no second task.
// (Regression: the sweep ran the engine without the record locks, and a
// worker pass resumed its plans as interrupted while the sweep was still
// carrying them out — e-mails and tasks twice.)
func TestSweepAndWorkerActOnce(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, policy: sweepPolicy})
		var ids []string
		for i := range 5 {
			id := h.register(clean(20+i, fmt.Sprintf("sweep-once-%d.example", i)))
			h.waitDecided(id, 5*time.Second)
			ids = append(ids, id)
		}
		h.settle(10 * time.Second)
		type before struct{ notes, tasks, mails int }
		was := map[string]before{}
		for _, id := range ids {
			p := h.want(id, "approved", "approved")
			was[id] = before{len(h.crm.Linked(t, id, "notes")), len(h.crm.Linked(t, id, "tasks")), len(h.outboxWith(p["case_number"]))}
		}

		h.crm.Advance(15 * 24 * time.Hour) // past the meeting deadline
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := h.d.worker.Sweep(context.Background()); err != nil {
					t.Errorf("sweep: %v", err)
				}
			})
		}
		wg.Go(func() {
			if err := h.d.worker.Enqueue(h.crm.Object(), ids, "recheck"); err != nil {
				t.Errorf("enqueue: %v", err)
			}
			h.d.worker.Kick()
		})
		wg.Wait()
		h.settle(10 * time.Second)
		for _, id := range ids {
			p := h.want(id, "expired", "no_meeting")
			w := was[id]
			if n := len(h.crm.Linked(t, id, "notes")); n != w.notes+1 {
				t.Errorf("%s: %d audit notes after the expiry, want %d", p["case_number"], n, w.notes+1)
			}
			if n := len(h.crm.Linked(t, id, "tasks")); n != w.tasks {
				t.Errorf("%s: %d tasks after the expiry, want %d", p["case_number"], n, w.tasks)
			}
			if n := len(h.outboxWith(p["case_number"])); n != w.mails+1 {
				t.Errorf("%s: %d e-mails after the expiry, want %d", p["case_number"], n, w.mails+1)
			}
		}
	})
}
