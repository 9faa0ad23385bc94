package rules

import (
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

func TestManual(t *testing.T) {
	p := mustPolicy(t, testPartners, func(r *Rules) {
		r.Territories = []Territory{{Name: "na", Countries: []string{"US"}, Owner: "ae-na"}}
		r.HoldWindow.ByTier = map[string]int{"gold": 90}
	})
	now := t0
	type tc struct {
		name       string
		prev       registration.Status
		prevReason string
		set        func(r *registration.Record)
		status     registration.Status
		reason     string
		changed    bool
		check      func(t *testing.T, d Decision)
	}
	for _, c := range []tc{
		{name: "manual approve gets its hold window, deadline and owner", prev: registration.StatusInReview, prevReason: ReasonNoTerritory,
			set: func(r *registration.Record) {
				r.Status, r.StatusReason = registration.StatusApproved, ReasonNoTerritory
			},
			status: registration.StatusApproved, reason: ReasonManual, changed: true,
			check: func(t *testing.T, d Decision) {
				if !d.HoldUntil.Equal(now.Add(90*24*time.Hour)) || !d.MeetingDue.Equal(now.Add(14*24*time.Hour)) {
					t.Errorf("hold %v meeting %v", d.HoldUntil, d.MeetingDue)
				}
				if d.Owner != "ae-na" || d.Message == "" {
					t.Errorf("owner %q message %q", d.Owner, d.Message)
				}
			}},
		{name: "an AE's own window is kept", prev: registration.StatusSubmitted,
			set: func(r *registration.Record) {
				r.Status, r.HoldUntil = registration.StatusApproved, now.Add(30*24*time.Hour)
			},
			status: registration.StatusApproved, reason: ReasonManual, changed: true,
			check: func(t *testing.T, d Decision) {
				if !d.HoldUntil.Equal(now.Add(30 * 24 * time.Hour)) {
					t.Errorf("hold %v, want the AE's", d.HoldUntil)
				}
			}},
		{name: "a first sighting counts as coming from submitted", prev: registration.StatusNone,
			set:    func(r *registration.Record) { r.Status = registration.StatusApproved },
			status: registration.StatusApproved, reason: ReasonManual, changed: true},
		{name: "manual decline keeps an AE's reason code", prev: registration.StatusInReview, prevReason: ReasonPossibleDuplicate,
			set: func(r *registration.Record) {
				r.Status, r.StatusReason, r.StatusMessage = registration.StatusDeclined, ReasonDuplicate, "Already yours as R-1."
			},
			status: registration.StatusDeclined, reason: ReasonDuplicate, changed: true,
			check: func(t *testing.T, d Decision) {
				if d.Message != "Already yours as R-1." {
					t.Errorf("message %q", d.Message)
				}
			}},
		{name: "manual decline with a stale reason becomes manual", prev: registration.StatusInReview, prevReason: ReasonConflictPending,
			set: func(r *registration.Record) {
				r.Status, r.StatusReason = registration.StatusDeclined, ReasonConflictPending
			},
			status: registration.StatusDeclined, reason: ReasonManual, changed: true},
		{name: "approved to declined is only conflict_lost", prev: registration.StatusApproved, prevReason: ReasonApproved,
			set:    func(r *registration.Record) { r.Status = registration.StatusDeclined },
			status: registration.StatusDeclined, reason: ReasonManualOverride, changed: false},
		{name: "expired to approved is kept but not followed through", prev: registration.StatusExpired, prevReason: ReasonNoMeeting,
			set: func(r *registration.Record) {
				r.Status, r.StatusReason = registration.StatusApproved, ReasonNoMeeting
			},
			status: registration.StatusApproved, reason: ReasonManualOverride, changed: false,
			check: func(t *testing.T, d Decision) {
				if !d.HoldUntil.IsZero() {
					t.Errorf("a forbidden change was followed through: hold %v", d.HoldUntil)
				}
			}},
		{name: "meeting booked by hand extends the window", prev: registration.StatusApproved, prevReason: ReasonApproved,
			set: func(r *registration.Record) {
				r.Status, r.DecidedAt = registration.StatusMeetingBooked, now.Add(-10*24*time.Hour)
				r.HoldUntil, r.MeetingDue = now.Add(5*24*time.Hour), now.Add(-time.Hour) // deadline passed: the AE's word wins
				r.FirstMeetingAt = now.Add(-2 * time.Hour)
			},
			status: registration.StatusMeetingBooked, reason: ReasonMeetingLogged, changed: true,
			check: func(t *testing.T, d Decision) {
				if want := now.Add(-2 * time.Hour).Add(30 * 24 * time.Hour); !d.HoldUntil.Equal(want) {
					t.Errorf("hold %v, want %v", d.HoldUntil, want)
				}
			}},
		{name: "appeal starts a new SLA", prev: registration.StatusDeclined, prevReason: ReasonExistingDeal,
			set:    func(r *registration.Record) { r.Status = registration.StatusAppealed },
			status: registration.StatusAppealed, reason: ReasonAppealed, changed: true,
			check: func(t *testing.T, d Decision) {
				if !d.SLADue.Equal(p.SLADue(now)) {
					t.Errorf("sla %v", d.SLADue)
				}
			}},
		{name: "withdrawn", prev: registration.StatusApproved, set: func(r *registration.Record) { r.Status = registration.StatusWithdrawn },
			status: registration.StatusWithdrawn, reason: ReasonWithdrawn, changed: true},
		{name: "won", prev: registration.StatusConverted, set: func(r *registration.Record) { r.Status = registration.StatusWon },
			status: registration.StatusWon, reason: ReasonWon, changed: true},
		{name: "unchanged status is no change", prev: registration.StatusApproved, set: func(r *registration.Record) { r.Status = registration.StatusApproved },
			status: registration.StatusApproved, changed: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := clean()
			c.set(&r)
			d := Manual(p, &r, c.prev, c.prevReason, now)
			if d.Status != c.status || d.Changed != c.changed || (c.reason != "" && d.Reason != c.reason) {
				t.Fatalf("Manual = %s %s changed=%v, want %s %s changed=%v (trace %+v)", d.Status, d.Reason, d.Changed, c.status, c.reason, c.changed, d.Trace)
			}
			if len(d.Trace) != 1 || d.Trace[0].Name != "manual" {
				t.Errorf("trace %+v", d.Trace)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}
