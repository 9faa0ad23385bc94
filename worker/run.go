package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// work is one record's way through a batch.
type work struct {
	sweep    bool              // apply rules.Sweep whatever changed (time passed, a rival was decided)
	stamp    map[string]string // identity fields to write: case_number, submitted_at (identify)
	custom   func(r *registration.Record) (rules.Decision, map[string]string, bool)
	extra    map[string]string // more fields to write with the decision
	quiet    bool              // the channel answers the partner: no status e-mail
	rec      registration.Record
	key      string
	prevFP   fingerprint
	hasFP    bool
	plan     *state.Plan
	act      action
	facts    registration.Facts
	hasFacts bool
	decision rules.Decision
	update   map[string]string
	data     planData
	out      *Outcome
}

// run processes records already read from the CRM, under their record
// locks: only hold calls it. Works with sweep set are swept (rules.Sweep: time passed, a rival
// was decided) rather than classified by what changed.
//
// The way of a batch: resume interrupted plans; classify what changed;
// take the claim locks of the companies to decide; gather facts once;
// then decide in rounds — each round decides at most one registration of
// each group sharing a domain or a name, earliest in line first, and
// writes the round's decisions before the next round merges them into
// its facts; release the claims; run the side effects.
func (e *Engine) run(ctx context.Context, works []*work) {
	if len(works) == 0 {
		return
	}
	now := e.now()
	p := e.o.Policy()
	if err := e.loadLocal(works); err != nil {
		for _, w := range works {
			w.out.Result, w.out.Err = ResultFailed, err
		}
		return
	}

	// Resume interrupted plans whose write landed; classify the rest.
	var resume []*work
	earlier := map[*work]*work{} // a changed record → its earlier decision being finished
	for _, w := range works {
		fp := fingerprintOf(&w.rec)
		if w.plan != nil {
			switch {
			case samePrint(w.plan.Expect, fp):
				resume = append(resume, w)
				continue
			case !w.plan.Done(stepWrite) && e.writtenBeneath(&w.rec, w.plan):
				// The write landed unheard, then someone (an AE) changed
				// the record before regsync read it back: finish what we
				// owe for our decision, then look at the change, from the
				// decision's status.
				prev := &work{rec: w.rec, key: w.key, plan: w.plan, out: &Outcome{}}
				resume, earlier[w] = append(resume, prev), prev
				w.prevFP, w.hasFP = parseFingerprint(w.plan.Expect)
				w.plan = nil
			case !w.plan.Done(stepWrite):
				// The write never landed (or someone changed the record
				// before it could): the plan is void.
				if err := e.o.State.DeletePlans(w.key); err != nil {
					w.out.Result, w.out.Err = ResultFailed, err
					continue
				}
				w.plan = nil
			default:
				// Written, then changed by someone else: finish what we
				// owe for our decision, then look at the change too.
				prev := &work{rec: w.rec, key: w.key, plan: w.plan, out: &Outcome{}}
				resume, earlier[w] = append(resume, prev), prev
				w.plan = nil
			}
		}
		if w.custom != nil {
			w.act = actCustom
			continue
		}
		if w.hasFP && w.prevFP.Digest == fp.Digest {
			if w.sweep {
				w.act = actSweep
				continue
			}
			w.out.Result = ResultEcho
			continue
		}
		w.act = e.classify(w)
		if w.sweep && w.act == actNone {
			w.act = actSweep
		}
	}
	if len(resume) > 0 {
		e.resume(ctx, resume)
	}
	// A record's next decision waits until its earlier one is finished:
	// a record has one plan, and planning the next would drop what the
	// earlier still owes (its note, audit entry, e-mail).
	for w, prev := range earlier {
		if prev.out.Err != nil && w.out.Result == resultPending {
			w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("finish the earlier decision first: %w", prev.out.Err)
		}
	}

	// What is decided now, under the claim locks of its companies.
	var deciding []*work
	for _, w := range works {
		if w.out.Result == resultPending && w.act != actNone {
			e.identify(w, now)
			deciding = append(deciding, w)
		}
	}
	release := func() {}
	if len(deciding) > 0 {
		unlock, err := e.lockClaims(ctx, deciding)
		if err != nil {
			for _, w := range deciding {
				w.out.Result, w.out.Err = ResultFailed, err
			}
			deciding = nil
		} else {
			var once sync.Once
			release = func() { once.Do(unlock) }
		}
	}
	defer release()

	// Gather facts for what the rules must look at.
	var need []*work
	for _, w := range deciding {
		if w.out.Result == resultPending && needsFacts(w, p) {
			need = append(need, w)
		}
	}
	if len(need) > 0 {
		recs := make([]registration.Record, len(need))
		for i, w := range need {
			recs[i] = w.rec
		}
		facts, err := e.crm.Facts(ctx, recs)
		if err != nil {
			for _, w := range need {
				w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("gather facts: %w", err)
			}
		} else {
			for i, w := range need {
				if i < len(facts) {
					w.facts = facts[i]
				}
				w.hasFacts = true
			}
		}
	}

	// Decide in rounds (see above).
	var written, waiting []*work
	gs := groups(deciding)
	for round := 0; ; round++ {
		var writes []*work
		more := false
		for _, g := range gs {
			if round >= len(g) {
				continue
			}
			more = true
			w := g[round]
			if w.out.Result != resultPending {
				continue
			}
			if w.hasFacts {
				e.ov.merge(now, &w.rec, &w.facts)
				e.identifyRivals(&w.facts)
				e.debugFacts(ctx, w)
			}
			if !e.decide(w, p, now) {
				continue
			}
			if until, wait := e.gate(w, p, now); wait {
				w.out.Result, w.out.Until = ResultWaiting, until
				waiting = append(waiting, w)
				continue
			}
			e.plan(w, p, now)
			writes = append(writes, w)
		}
		if !more {
			break
		}
		written = append(written, e.commit(ctx, writes, now)...)
	}
	release()
	e.sideEffects(ctx, written)
	e.deferWaiting(waiting, now)
	e.recheckInFlight(works)

	// Remember what we saw on records we left alone, so their echo and
	// unchanged re-reads are recognised.
	if e.o.State != nil {
		fps := map[string]string{}
		for _, w := range works {
			if w.out.Result == ResultObserved {
				fps[w.key] = fingerprintOf(&w.rec).String()
			}
		}
		if err := e.o.State.SetFingerprints(fps); err != nil {
			e.log.Warn("remember fingerprints", "records", len(fps), "err", err)
		}
	}
	for _, w := range works {
		if w.out.Result == resultPending {
			w.out.Result = ResultObserved
		}
		w.out.Record = w.rec
		e.m.Processed.WithLabelValues(string(w.out.Result)).Inc()
	}
}
