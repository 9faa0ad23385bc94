package worker

import (
	"context"
	"fmt"
	"time"

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
// locks: only hold calls it. Works with sweep set are swept (rules.Sweep:
// time passed, a rival was decided) rather than classified by what changed.
//
// The way of a batch, one stage per file:
//
//	fingerprint.go  load what regsync last wrote or saw (fingerprints, plans)
//	classify.go     settle interrupted plans; classify what changed
//	effects.go      resume the plans whose write landed
//	claims.go       take the claim locks of the companies to decide
//	facts.go        identify the records; gather facts once, in batch
//	decide.go       decide in rounds — each round decides at most one
//	                registration of each group sharing a domain or a name,
//	                earliest in line first,
//	plan.go         turns each decision into an update and the side effects owed,
//	write.go        and writes the round's plans and updates before the next
//	                round merges them into its facts;
//	effects.go      release the claims; run the side effects.
func (e *Engine) run(ctx context.Context, works []*work) {
	if len(works) == 0 {
		return
	}
	now := e.now()
	p := e.o.Policy()
	if err := e.loadLocal(works); err != nil {
		failAll(works, err)
		return
	}
	resume, earlier := e.sortOut(works)
	e.resume(ctx, resume)
	awaitEarlier(earlier)

	deciding := e.toDecide(works, now)
	release, deciding := e.claim(ctx, deciding)
	defer release()
	// The decisions' instant is when their facts are read — after the
	// claims, which may wait for another batch, and the resumed plans —
	// not when the batch began: a decision is never stamped earlier than
	// the reads it is made on by more than those reads take.
	now = e.now()
	e.gatherFacts(ctx, deciding, p)
	written, waiting := e.rounds(ctx, deciding, p, now)
	release()

	e.sideEffects(ctx, written)
	e.deferWaiting(waiting, now)
	e.recheckInFlight(works)
	e.rememberObserved(works)
	e.account(works)
}

// failAll fails every work with err.
func failAll(ws []*work, err error) {
	for _, w := range ws {
		w.out.Result, w.out.Err = ResultFailed, err
	}
}

// awaitEarlier fails the works whose record's earlier decision could not be
// finished: a record's next decision waits until its earlier one is done,
// since a record has one plan, and planning the next would drop what the
// earlier still owes (its note, audit entry, e-mail).
func awaitEarlier(earlier map[*work]*work) {
	for w, prev := range earlier {
		if prev.out.Err != nil && w.out.Result == resultPending {
			w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("finish the earlier decision first: %w", prev.out.Err)
		}
	}
}

// toDecide is what is decided now: the works classified for an action,
// each given the identity regsync writes with its first decision.
func (e *Engine) toDecide(works []*work, now time.Time) []*work {
	var deciding []*work
	for _, w := range works {
		if w.out.Result == resultPending && w.act != actNone {
			e.identify(w, now)
			deciding = append(deciding, w)
		}
	}
	return deciding
}

// account gives the works left alone their result (observed), their
// outcome the record as it stands, and counts them.
func (e *Engine) account(works []*work) {
	for _, w := range works {
		if w.out.Result == resultPending {
			w.out.Result = ResultObserved
		}
		w.out.Record = w.rec
		e.m.Processed.WithLabelValues(string(w.out.Result)).Inc()
	}
}
