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

// sortOut settles the works' interrupted plans and classifies what the
// rest need. It returns the works whose plan is to be resumed (a work of
// its own for a plan whose record changed since), and for each changed
// record the work finishing its earlier decision.
func (e *Engine) sortOut(works []*work) (resume []*work, earlier map[*work]*work) {
	earlier = map[*work]*work{}
	for _, w := range works {
		fp := fingerprintOf(&w.rec)
		if w.plan != nil {
			r, goOn := e.settlePlan(w, fp)
			if r != nil {
				resume = append(resume, r)
				if r != w {
					earlier[w] = r
				}
			}
			if !goOn {
				continue
			}
		}
		classifyWork(e, w, fp)
	}
	return resume, earlier
}

// settlePlan looks at the interrupted plan of w's record. It returns the
// work that finishes the plan (w itself when the record is the plan's
// write, nil when the plan is void) and whether w's record goes on to be
// classified (it changed since the plan).
func (e *Engine) settlePlan(w *work, fp fingerprint) (finish *work, goOn bool) {
	switch {
	case samePrint(w.plan.Expect, fp):
		return w, false
	case !w.plan.Done(stepWrite) && e.writtenBeneath(&w.rec, w.plan):
		// The write landed unheard, then someone (an AE) changed the
		// record before regsync read it back: finish what we owe for our
		// decision, then look at the change, from the decision's status.
		prev := &work{rec: w.rec, key: w.key, plan: w.plan, out: &Outcome{}}
		w.prevFP, w.hasFP = parseFingerprint(w.plan.Expect)
		w.plan = nil
		return prev, true
	case !w.plan.Done(stepWrite):
		// The write never landed (or someone changed the record before it
		// could): the plan is void.
		if err := e.o.State.DeletePlans(w.key); err != nil {
			w.out.Result, w.out.Err = ResultFailed, err
			return nil, false
		}
		w.plan = nil
		return nil, true
	default:
		// Written, then changed by someone else: finish what we owe for
		// our decision, then look at the change too.
		prev := &work{rec: w.rec, key: w.key, plan: w.plan, out: &Outcome{}}
		w.plan = nil
		return prev, true
	}
}

// classifyWork sets what w needs: the change of a Transition, a sweep, the
// action its change calls for — or nothing, when the record is regsync's
// own last write coming back (an echo).
func classifyWork(e *Engine, w *work, fp fingerprint) {
	if w.custom != nil {
		w.act = actCustom
		return
	}
	if w.hasFP && w.prevFP.Digest == fp.Digest {
		if w.sweep {
			w.act = actSweep
			return
		}
		w.out.Result = ResultEcho
		return
	}
	w.act = e.classify(w)
	if w.sweep && w.act == actNone {
		w.act = actSweep
	}
}
