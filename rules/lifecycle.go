package rules

import (
	"strconv"
	"time"

	"github.com/regsync/regsync/registration"
)

// unchanged is a decision that leaves the record as it is.
func unchanged(r *registration.Record, trace ...Check) Decision {
	return Decision{
		Status: r.Status, Reason: r.StatusReason, Message: r.StatusMessage,
		HoldUntil: r.HoldUntil, MeetingDue: r.MeetingDue, SLADue: r.SLADue,
		Owner: r.OwnerID, ConflictWith: r.ConflictWith, Trace: trace,
	}
}

// OnMeeting applies a first meeting logged at `at`. Only the first meeting
// counts: an approved registration whose meeting came by its meeting deadline
// becomes meeting_booked, its window extended to at + extend_on_meeting_days
// (never shortened, never past decided_at + max_days); a meeting after the
// deadline does not revive protection: the registration expires. Any other
// status is left unchanged.
func OnMeeting(p *Policy, r *registration.Record, at time.Time) Decision {
	at = at.UTC()
	if !r.FirstMeetingAt.IsZero() && r.FirstMeetingAt.Before(at) {
		at = r.FirstMeetingAt.UTC() // only the first meeting counts
	}
	if r.Status != registration.StatusApproved {
		return unchanged(r, Check{Name: "meeting", Result: Skip, Detail: "status " + string(r.Status) + ": a meeting changes nothing"})
	}
	d := unchanged(r)
	d.Changed = true
	if !r.MeetingDue.IsZero() && at.After(r.MeetingDue) {
		d.Status, d.Reason, d.Message = registration.StatusExpired, ReasonNoMeeting, msgNoMeeting(r.MeetingDue)
		d.Trace = []Check{{Name: "meeting", Result: Fail, Detail: "first meeting " + fmtTime(at) + " after the deadline " + fmtTime(r.MeetingDue)}}
		return d
	}
	base := r.DecidedAt
	if base.IsZero() {
		base = r.ApprovedAt
	}
	if base.IsZero() {
		base = at
	}
	limit := days(base, p.Rules.HoldWindow.MaxDays)
	ext := days(at, p.Rules.HoldWindow.ExtendOnMeetingDays)
	if ext.After(limit) {
		ext = limit
	}
	hold := r.HoldUntil.UTC()
	if ext.After(hold) {
		hold = ext
	}
	d.Status, d.Reason, d.HoldUntil, d.Message = registration.StatusMeetingBooked, ReasonMeetingLogged, hold, msgMeeting(hold)
	d.Trace = []Check{{Name: "meeting", Result: Pass, Detail: "first meeting " + fmtTime(at) + " by the deadline " + fmtTime(r.MeetingDue) + "; hold until " + fmtTime(hold) + " (at most " + fmtTime(limit) + ")"}}
	return d
}

// Meeting applies a first meeting logged at `at` as OnMeeting does, and
// under first_meeting_wins settles the race first: an approved
// registration loses (declined conflict_lost, conflict_with naming the
// winner) when another partner's registration on the same registrable
// domain already holds the company — meeting_booked with its window open,
// or converted: protection once granted is never taken back — or logged an
// in-time first meeting before this one (equal meeting times go to the
// earlier submission). A meeting after this registration's own deadline
// wins nothing either way: OnMeeting expires it.
func Meeting(p *Policy, r *registration.Record, f Facts, at, now time.Time) Decision {
	now = now.UTC()
	if p.conflict != conflictFirstMeeting || r.Status != registration.StatusApproved {
		return OnMeeting(p, r, at)
	}
	first := at.UTC()
	if !r.FirstMeetingAt.IsZero() && r.FirstMeetingAt.Before(first) {
		first = r.FirstMeetingAt.UTC()
	}
	if !r.MeetingDue.IsZero() && first.After(r.MeetingDue) {
		return OnMeeting(p, r, at)
	}
	w := holder(r, f, now)
	if w == nil {
		w = meetingWinner(r, f, now)
	}
	if w == nil {
		return OnMeeting(p, r, at)
	}
	d := unchanged(r, Check{Name: "conflict", Result: Fail, Detail: w.CaseNumber + " (" + string(w.Status) + ") won the first-meeting race: its first meeting " + fmtTime(w.FirstMeetingAt) + ", this one " + fmtTime(first)})
	d.Status, d.Reason, d.Message, d.Changed = registration.StatusDeclined, ReasonConflictLost, messages[ReasonConflictLost], true
	d.ConflictWith = w.CaseNumber
	return d
}

// holder returns another partner's registration on r's registrable domain
// that holds the company under first_meeting_wins: meeting_booked with its
// window open, or converted.
func holder(r *registration.Record, f Facts, now time.Time) *registration.Record {
	key := r.DomainKey
	if key == "" {
		key = domainKey(r.CompanyDomain)
	}
	if key == "" {
		return nil
	}
	for i := range f.Registrations {
		o := &f.Registrations[i]
		if o.PartnerID == r.PartnerID || (o.ID != "" && o.ID == r.ID) || (o.CaseNumber != "" && o.CaseNumber == r.CaseNumber) {
			continue
		}
		ok := o.DomainKey
		if ok == "" {
			ok = domainKey(o.CompanyDomain)
		}
		if ok != key {
			continue
		}
		if (o.Status == registration.StatusMeetingBooked && open(o.HoldUntil, now)) || o.Status == registration.StatusConverted {
			return o
		}
	}
	return nil
}

// Sweep is what the passing of time does to a registration: approved with no
// meeting past its meeting deadline → expired no_meeting; approved or
// meeting_booked past its hold window → expired window_ended; under
// first_meeting_wins, approved while a rival logged its first meeting first →
// declined conflict_lost; in_review conflict_pending whose rivals are all
// decided → decided again; a waiting registration past its SLA → unchanged
// with Escalate set.
func Sweep(p *Policy, r *registration.Record, f Facts, now time.Time) Decision {
	now = now.UTC()
	switch r.Status {
	case registration.StatusApproved, registration.StatusMeetingBooked:
		if r.Status == registration.StatusApproved && r.FirstMeetingAt.IsZero() && !r.MeetingDue.IsZero() && now.After(r.MeetingDue) {
			d := unchanged(r, Check{Name: "meeting_deadline", Result: Fail, Detail: "no first meeting by " + fmtTime(r.MeetingDue)})
			d.Status, d.Reason, d.Message, d.Changed = registration.StatusExpired, ReasonNoMeeting, msgNoMeeting(r.MeetingDue), true
			return d
		}
		if !r.HoldUntil.IsZero() && now.After(r.HoldUntil) {
			d := unchanged(r, Check{Name: "hold_window", Result: Fail, Detail: "window ended " + fmtTime(r.HoldUntil)})
			d.Status, d.Reason, d.Message, d.Changed = registration.StatusExpired, ReasonWindowEnded, msgWindowEnded(r.HoldUntil), true
			return d
		}
		if r.Status == registration.StatusApproved && p.conflict == conflictFirstMeeting {
			w := holder(r, f, now)
			if w == nil {
				w = meetingWinner(r, f, now)
			}
			if w != nil {
				d := unchanged(r, Check{Name: "conflict", Result: Fail, Detail: w.CaseNumber + " (" + string(w.Status) + ") won the first-meeting race; its first meeting " + fmtTime(w.FirstMeetingAt)})
				d.Status, d.Reason, d.Message, d.Changed = registration.StatusDeclined, ReasonConflictLost, messages[ReasonConflictLost], true
				d.ConflictWith = w.CaseNumber
				return d
			}
		}
		return unchanged(r, Check{Name: "sweep", Result: Pass, Detail: "window open until " + fmtTime(r.HoldUntil)})
	case registration.StatusNeedsInfo:
		if n := p.Rules.NeedsInfoExpireDays; n > 0 {
			since := r.DecidedAt
			if since.IsZero() {
				since = r.SubmittedAt
			}
			if !since.IsZero() && now.After(days(since, n)) {
				d := unchanged(r, Check{Name: "needs_info", Result: Fail, Detail: "missing details not sent within " + strconv.Itoa(n) + " days of " + fmtTime(since)})
				d.Status, d.Reason, d.Message, d.Changed = registration.StatusExpired, ReasonNeedsInfoExpired, msgNeedsInfoExpired(n), true
				d.ConflictWith = ""
				return d
			}
		}
	case registration.StatusInReview:
		if r.StatusReason == ReasonConflictPending {
			d := Decide(p, r, f, now)
			if d.Reason != ReasonConflictPending {
				d.Trace = append([]Check{{Name: "sweep", Result: Info, Detail: "rival decided; decided again"}}, d.Trace...)
				return d
			}
		}
	}
	d := unchanged(r)
	if r.Status.Waiting() {
		due := r.SLADue
		if due.IsZero() {
			due = p.SLADue(waitingSince(r, now))
		}
		if now.After(due) {
			d.Escalate = true
			d.Trace = []Check{{Name: "sla", Result: Fail, Detail: "answer was due " + fmtTime(due)}}
			return d
		}
		d.Trace = []Check{{Name: "sla", Result: Pass, Detail: "answer due " + fmtTime(due)}}
		return d
	}
	d.Trace = []Check{{Name: "sweep", Result: Skip, Detail: "status " + string(r.Status) + ": nothing to do"}}
	return d
}

// meetingWinner returns another partner's registration on the same
// registrable domain that logged its first meeting (in time) before r did;
// ties go to the earlier submitted.
func meetingWinner(r *registration.Record, f Facts, now time.Time) *registration.Record {
	key := r.DomainKey
	if key == "" {
		key = domainKey(r.CompanyDomain)
	}
	if key == "" {
		return nil
	}
	me := r.Place()
	var best *registration.Record
	for i := range f.Registrations {
		o := &f.Registrations[i]
		if o.PartnerID == r.PartnerID || o.FirstMeetingAt.IsZero() || o.FirstMeetingAt.After(now) {
			continue
		}
		switch o.Status {
		case registration.StatusApproved, registration.StatusMeetingBooked, registration.StatusConverted:
		default:
			continue
		}
		if !o.MeetingDue.IsZero() && o.FirstMeetingAt.After(o.MeetingDue) {
			continue // a late meeting wins nothing
		}
		ok := o.DomainKey
		if ok == "" {
			ok = domainKey(o.CompanyDomain)
		}
		if ok != key {
			continue
		}
		if !r.FirstMeetingAt.IsZero() {
			if o.FirstMeetingAt.After(r.FirstMeetingAt) {
				continue
			}
			if o.FirstMeetingAt.Equal(r.FirstMeetingAt) && !o.Place().Before(me) {
				continue
			}
		}
		if best == nil || o.FirstMeetingAt.Before(best.FirstMeetingAt) {
			best = o
		}
	}
	return best
}
