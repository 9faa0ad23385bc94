package worker

import (
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// action is what one record needs.
type action int

const (
	actNone    action = iota
	actDecide         // run rules.Decide
	actSweep          // run rules.Sweep (time passed, a rival was decided)
	actMeeting        // run rules.OnMeeting
	actManual         // follow through a human's status change
	actCustom         // a change decided outside the rules (Transition)
)

// needsFacts reports whether deciding w looks at the CRM around it.
func needsFacts(w *work, p *rules.Policy) bool {
	switch w.act {
	case actDecide:
		return true
	case actSweep:
		return sweepNeedsFacts(&w.rec, p)
	case actMeeting:
		// Under first_meeting_wins a meeting may come second in a race.
		return p.Rules.Conflict.Policy == rules.FirstMeetingWins
	}
	return false
}

// classify decides what a (changed) record needs.
func (e *Engine) classify(w *work) action {
	r := &w.rec
	prev := registration.StatusNone
	if w.hasFP {
		prev = w.prevFP.Status
	}
	switch {
	case r.Status == registration.StatusNone || r.Status == registration.StatusSubmitted:
		return actDecide // new, resubmitted by the partner, or reset by an AE
	case !r.Status.Valid():
		return actNone
	case w.hasFP && prev != r.Status, !w.hasFP && manualLooking(r):
		return actManual
	case r.Status == registration.StatusApproved && !r.FirstMeetingAt.IsZero():
		return actMeeting
	case r.Status == registration.StatusInReview && r.StatusReason == rules.ReasonConflictPending:
		return actSweep
	}
	return actNone
}

// sweepNeedsFacts reports whether sweeping r looks at its rivals: an
// in_review conflict_pending registration is decided again once they are
// settled; under first_meeting_wins an approved one may have lost the race.
func sweepNeedsFacts(r *registration.Record, p *rules.Policy) bool {
	switch r.Status {
	case registration.StatusInReview:
		return r.StatusReason == rules.ReasonConflictPending
	case registration.StatusApproved:
		return p.Rules.Conflict.Policy == rules.FirstMeetingWins
	}
	return false
}

// manualLooking reports whether a record regsync never saw carries a status
// set by a human rather than by regsync (which always stamps decided_at).
func manualLooking(r *registration.Record) bool {
	return r.DecidedAt.IsZero() && r.Status != registration.StatusSubmitted
}
