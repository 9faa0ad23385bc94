package rules

import (
	"time"

	"github.com/regsync/regsync/registration"
)

// Partner-safe messages for statuses a human set in the CRM.
const (
	msgManualDeclined = "After review, our team has declined this registration. Reply to this message if you would like to appeal."
	msgManualReview   = "Your registration is with an account executive for review. We will get back to you shortly."
	msgManualNeeds    = "Our team needs a few more details before deciding this registration. Please reply with more about the prospect and the opportunity."
	msgManualExpired  = "The protection for this registration has ended."
	msgAppealed       = "Your appeal was received. An account executive will review the registration again."
	msgWithdrawn      = "This registration was withdrawn."
	msgConverted      = "A deal was opened from this registration. Thank you!"
	msgWon            = "The deal from this registration was won. Thank you!"
	msgLost           = "The deal from this registration was closed lost."
)

// Manual follows through a status that a human set in the CRM. prev and
// prevReason are the status and reason regsync last knew for the record
// (StatusNone and "" when it never saw it; a record first seen in another
// status counts as coming from submitted).
//
// The CRM is the truth, so the new status is always kept. When the
// transition table allows the change it is followed through: a manual
// approve gets its hold window and meeting deadline (unless the AE set
// them), an owner from the territories when none is set, and the approval
// message; a manual meeting_booked extends the window as a logged first
// meeting does; an appeal starts a new SLA. The reason is the AE's own when
// they changed status_reason to a known code, else the status's own code
// (withdrawn, appealed, deal_created, won, lost, meeting_logged) or manual.
//
// When the table forbids the change (approved → declined other than as
// conflict_lost, expired → approved, …) the decision keeps the record as it
// is, with Reason manual_override and Changed false: audit it, never
// revert it.
func Manual(p *Policy, r *registration.Record, prev registration.Status, prevReason string, now time.Time) Decision {
	now = now.UTC()
	from := prev
	if from == registration.StatusNone {
		from = registration.StatusSubmitted
	}
	d := unchanged(r)
	if r.Status == from {
		d.Trace = []Check{{Name: "manual", Result: Skip, Detail: "status unchanged (" + string(r.Status) + ")"}}
		return d
	}
	if err := registration.CheckTransition(from, r.Status, r.StatusReason); err != nil {
		d.Reason = ReasonManualOverride
		d.Trace = []Check{{Name: "manual", Result: Fail, Detail: "set by hand: " + err.Error() + "; kept, not reverted"}}
		return d
	}
	d.Changed = true
	ownReason := r.StatusReason != "" && r.StatusReason != prevReason && knownReason(r.StatusReason)
	reason := func(def string) string {
		if ownReason {
			return r.StatusReason
		}
		return def
	}
	message := func(def string) string {
		if r.StatusMessage != "" && ownReason {
			return r.StatusMessage
		}
		return def
	}
	detail := "set by hand: " + string(from) + " → " + string(r.Status)
	switch r.Status {
	case registration.StatusApproved:
		tier := ""
		if pt, ok := p.Partner(r.PartnerID); ok {
			tier = pt.Tier
		}
		if d.HoldUntil.IsZero() {
			d.HoldUntil = days(now, p.HoldDays(tier))
		}
		if d.MeetingDue.IsZero() {
			d.MeetingDue = days(now, p.Rules.HoldWindow.MeetingWithinDays)
		}
		if d.Owner == "" {
			if i := p.territory(r.Country, r.Region); i >= 0 {
				d.Owner, d.Territory = p.Rules.Territories[i].Owner, p.Rules.Territories[i].Name
			}
		}
		d.Reason, d.Message = reason(ReasonManual), msgApproved(d.HoldUntil, d.MeetingDue)
		detail += "; hold until " + fmtTime(d.HoldUntil) + ", first meeting by " + fmtTime(d.MeetingDue)
	case registration.StatusMeetingBooked:
		at := r.FirstMeetingAt
		if at.IsZero() {
			at = now
		}
		c := *r
		c.Status, c.MeetingDue = registration.StatusApproved, time.Time{} // the AE's word: in time
		m := OnMeeting(p, &c, at)
		d.HoldUntil, d.Reason, d.Message = m.HoldUntil, reason(ReasonMeetingLogged), m.Message
		detail += "; hold until " + fmtTime(d.HoldUntil)
	case registration.StatusDeclined:
		d.Reason, d.Message = reason(ReasonManual), message(msgManualDeclined)
		if r.StatusReason == ReasonConflictLost {
			d.Reason, d.Message = ReasonConflictLost, messages[ReasonConflictLost]
		}
	case registration.StatusInReview:
		d.Reason, d.Message = reason(ReasonManual), message(msgManualReview)
	case registration.StatusNeedsInfo:
		d.Reason, d.Message = reason(ReasonManual), message(msgManualNeeds)
	case registration.StatusAppealed:
		d.Reason, d.Message = ReasonAppealed, msgAppealed
		d.SLADue = p.SLADue(now)
	case registration.StatusExpired:
		d.Reason, d.Message = reason(ReasonManual), message(msgManualExpired)
	case registration.StatusWithdrawn:
		d.Reason, d.Message = ReasonWithdrawn, msgWithdrawn
	case registration.StatusConverted:
		d.Reason, d.Message = ReasonDealCreated, msgConverted
	case registration.StatusWon:
		d.Reason, d.Message = ReasonWon, msgWon
	case registration.StatusLost:
		d.Reason, d.Message = ReasonLost, msgLost
	case registration.StatusSubmitted:
		// needs_info → submitted: the caller decides it again with Decide.
		d.Reason, d.Message = r.StatusReason, r.StatusMessage
	}
	d.Trace = []Check{{Name: "manual", Result: Pass, Detail: detail}}
	return d
}

func knownReason(code string) bool {
	for _, r := range Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
