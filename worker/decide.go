package worker

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// decide applies the rules (or the change of a Transition, or a human's
// status) to w, setting w.decision; false when there is nothing to write
// (the outcome is then set).
func (e *Engine) decide(w *work, p *rules.Policy, now time.Time) bool {
	var d rules.Decision
	switch w.act {
	case actDecide:
		d = rules.Decide(p, &w.rec, w.facts, now)
		d.Changed = true
	case actSweep:
		d = rules.Sweep(p, &w.rec, w.facts, now)
	case actMeeting:
		d = rules.Meeting(p, &w.rec, w.facts, w.rec.FirstMeetingAt, now)
	case actCustom:
		var ok bool
		d, w.extra, ok = w.custom(&w.rec)
		if !ok {
			w.out.Result = ResultObserved
			return false
		}
		if err := registration.CheckTransition(w.rec.Status, d.Status, d.Reason); err != nil {
			e.log.Warn("transition not allowed; left as it is", "case", w.rec.CaseNumber, "err", err)
			w.out.Result = ResultObserved
			return false
		}
		d.Changed = true
	case actManual:
		prev := registration.StatusNone
		if w.hasFP {
			prev = w.prevFP.Status
		}
		d = rules.Manual(p, &w.rec, prev, w.prevFP.Reason, now)
		if d.Reason == rules.ReasonManualOverride {
			e.overridden(w, prev, d, now)
			return false
		}
	default:
		w.out.Result = ResultObserved
		return false
	}
	w.decision = d
	if !d.Changed {
		w.out.Result = ResultObserved
		if d.Escalate {
			w.out.Result = ResultEscalate
			w.out.Decision = &w.decision
		}
		return false
	}
	return true
}

// gate holds back a grant of protection that could still miss an earlier
// rival: on a CRM whose search lags (HubSpot), an approval waits until the
// settle time has passed since the registration's submission — every
// rival submitted before it is then visible to the search that decides it —
// and, under first_meeting_wins, a meeting wins the race only once the
// settle time has passed since it was logged, so an earlier-logged meeting
// of a rival is seen first. It reports until when (the engine's clock).
//
// On a CRM that keeps whole seconds (Salesforce), an approval also waits
// for the end of its submission's second: a rival created later in that
// second has the same submitted_at and may come first by the tie rule
// (registration.Place), so it must exist before the decision is taken.
func (e *Engine) gate(w *work, p *rules.Policy, now time.Time) (time.Time, bool) {
	var since time.Time
	wait := e.settle
	switch {
	case (w.act == actDecide || w.act == actSweep) && w.decision.Status == registration.StatusApproved:
		since = w.rec.SubmittedAt
		if e.prec > time.Millisecond {
			// The second has closed once a whole precision has passed
			// since this process first saw the record (which it cannot
			// see before the record's second began), on the real clock.
			// On the CRM's clock it closes at submitted_at + precision;
			// whichever comes first.
			rem := min(e.prec-time.Since(e.seen.first(w.rec.ID)), w.rec.SubmittedAt.Add(e.prec).Sub(now))
			if rem > 0 {
				return now.Add(rem), true
			}
		}
	case w.act == actMeeting && w.decision.Status == registration.StatusMeetingBooked &&
		p.Rules.Conflict.Policy == rules.FirstMeetingWins:
		since = w.rec.ModifiedAt
	default:
		return time.Time{}, false
	}
	if since.IsZero() || wait <= 0 {
		return time.Time{}, false
	}
	until := since.Add(wait)
	return until, now.Before(until)
}

// deferWaiting looks at waiting registrations again when their wait ends.
func (e *Engine) deferWaiting(ws []*work, now time.Time) {
	if e.o.State == nil || len(ws) == 0 {
		return
	}
	byAt := map[time.Time][]state.Item{}
	for _, w := range ws {
		// The wait is on the engine's clock; the inbox runs on the real
		// one. A little margin so the search has surely caught up.
		at := time.Now().Add(w.out.Until.Sub(now) + 50*time.Millisecond)
		byAt[at] = append(byAt[at], state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: w.rec.ID, Reason: "settle"})
	}
	for at, items := range byAt {
		if err := e.o.State.Defer(at, items...); err != nil {
			e.log.Warn("schedule approvals after the settle time", "records", len(items), "err", err)
		}
	}
}

// recheckInFlight looks again later at registrations still waiting on an
// earlier rival that nobody has decided yet (status submitted): that rival
// is in flight in another batch, and its decision may not list them.
func (e *Engine) recheckInFlight(works []*work) {
	if e.o.State == nil {
		return
	}
	var items []state.Item
	for _, w := range works {
		if w.out.Result != ResultObserved || w.rec.Status != registration.StatusInReview || w.rec.StatusReason != rules.ReasonConflictPending {
			continue
		}
		waits := strings.Split(w.rec.ConflictWith, ",")
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusSubmitted && slices.Contains(waits, o.CaseNumber) {
				items = append(items, state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: w.rec.ID, Reason: "recheck"})
				break
			}
		}
	}
	if err := e.o.State.Defer(time.Now().Add(e.o.RecheckAfter), items...); err != nil {
		e.log.Warn("schedule conflict re-checks", "err", err)
	}
}

// overridden audits a human's change the transition table forbids: kept,
// never reverted.
func (e *Engine) overridden(w *work, prev registration.Status, d rules.Decision, now time.Time) {
	w.out.Result = ResultObserved
	w.decision = d
	e.log.Warn("status set by hand outside the transition table; kept", "case", w.rec.CaseNumber,
		"from", prev, "to", w.rec.Status)
	if e.o.State == nil {
		return
	}
	trace, _ := json.Marshal(d.Trace)
	// Audited and remembered as seen in one transaction: a crash before
	// the end of this batch (whose other writes may take long against a
	// faulty CRM) must not audit the same change again on the next read.
	seen := map[string]string{w.key: fingerprintOf(&w.rec).String()}
	err := e.o.State.AppendSeen(seen, state.AuditEntry{At: now, CRM: e.crm.Name(), Object: e.o.Object, RecordID: w.rec.ID,
		CaseNumber: w.rec.CaseNumber, From: string(prev), To: string(w.rec.Status), Reason: rules.ReasonManualOverride,
		Actor: "crm", Message: "status set by hand outside the transition table; kept", Trace: trace})
	if err != nil {
		e.log.Warn("audit manual override", "case", w.rec.CaseNumber, "err", err)
	}
}

// rounds decides the works in rounds: each round decides at most one
// registration of each group sharing a domain or a name (claims.go),
// earliest in line first, and writes the round's decisions (commit) before
// the next round merges them into its facts. It returns the works whose
// decision was written and those waiting (gate).
func (e *Engine) rounds(ctx context.Context, deciding []*work, p *rules.Policy, now time.Time) (written, waiting []*work) {
	gs := groups(deciding)
	for round := 0; ; round++ {
		var writes []*work
		more := false
		for _, g := range gs {
			if round >= len(g) {
				continue
			}
			more = true
			switch w := g[round]; e.decideOne(ctx, w, p, now) {
			case toWrite:
				writes = append(writes, w)
			case toWait:
				waiting = append(waiting, w)
			}
		}
		if !more {
			return written, waiting
		}
		written = append(written, e.commit(ctx, writes, now)...)
	}
}

// verdict is what became of one decision.
type verdict int

const (
	toNothing verdict = iota // nothing to write: the outcome says why
	toWrite                  // planned: commit writes it
	toWait                   // held back by gate: looked at again later
)

// decideOne decides w on its facts (merged with what this process knows
// fresher) and plans its write.
func (e *Engine) decideOne(ctx context.Context, w *work, p *rules.Policy, now time.Time) verdict {
	if w.out.Result != resultPending {
		return toNothing
	}
	if w.hasFacts {
		e.ov.merge(now, &w.rec, &w.facts)
		e.identifyRivals(&w.facts)
		e.debugFacts(ctx, w)
	}
	if !e.decide(w, p, now) {
		return toNothing
	}
	if until, wait := e.gate(w, p, now); wait {
		w.out.Result, w.out.Until = ResultWaiting, until
		return toWait
	}
	e.plan(w, p, now)
	return toWrite
}
