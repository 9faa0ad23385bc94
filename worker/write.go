package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/state"
)

// commit stores the plans, writes the updates in batch, and records what
// was written (fingerprints, the plans' write step, the overlay, channels
// waiting for a decision). It returns the works whose decision landed: the
// caller runs their side effects.
func (e *Engine) commit(ctx context.Context, ws []*work, now time.Time) []*work {
	if len(ws) == 0 || !e.storePlans(ws, now) {
		return nil
	}
	ok, unknown := e.write(ctx, ws)
	ok = append(ok, e.settleUnknown(ctx, unknown)...)
	if len(ok) == 0 {
		return nil
	}
	e.recordWritten(ok)
	e.announce(ok, now)
	return ok
}

// storePlans stores, before anything is written, each decision's plan: the
// record as it will read back, and the side effects owed. It reports
// false when the plans could not be stored (the works fail: nothing is
// written without its plan).
func (e *Engine) storePlans(ws []*work, now time.Time) bool {
	if e.o.State == nil {
		return true
	}
	// Sized for all, so the works' pointers into it stay put.
	plans := make([]state.Plan, 0, len(ws))
	for _, w := range ws {
		exp := expected(w.rec, w.update)
		data, err := json.Marshal(w.data)
		if err != nil {
			w.out.Result, w.out.Err = ResultFailed, err
			continue
		}
		pl := state.Plan{Key: w.key, Expect: fingerprintOf(&exp).String(), Data: data, At: now,
			Steps: []string{stepWrite, stepLink, stepTask, stepNote, stepAudit, stepNotify}}
		plans = append(plans, pl)
		w.plan = &plans[len(plans)-1]
	}
	if err := e.o.State.PutPlans(plans...); err != nil {
		failAll(ws, err)
		return false
	}
	return true
}

// write sends the planned updates in one batch. It returns the works whose
// write landed (or had nothing to write) and those whose answer was not
// heard; a definite refusal fails its work and drops its plan (nothing was
// written).
func (e *Engine) write(ctx context.Context, ws []*work) (ok, unknown []*work) {
	var batch []*work
	var updates []connectors.Update
	for _, w := range ws {
		if w.out.Result != resultPending {
			continue
		}
		batch = append(batch, w)
		if len(w.update) > 0 {
			updates = append(updates, connectors.Update{ID: w.rec.ID, Fields: w.update, Keys: keysToStore(&w.rec)})
		}
	}
	results := e.writeUpdates(ctx, updates)
	var refused []*work
	j := 0
	for _, w := range batch {
		if len(w.update) == 0 {
			ok = append(ok, w) // nothing to write: straight to the side effects
			continue
		}
		res := results[j]
		j++
		switch {
		case res.Err == nil:
			ok = append(ok, w)
		case Permanent(res.Err):
			// A definite refusal: nothing was written.
			w.out.Result, w.out.Err = ResultFailed, res.Err
			refused = append(refused, w)
		default:
			// Not heard: the CRM may have applied it. The plan stays.
			w.out.Err = res.Err
			unknown = append(unknown, w)
		}
	}
	e.dropPlans(refused)
	return ok, unknown
}

// writeUpdates writes the updates in batch and returns one result per
// update: a failure of the whole call is every update's.
func (e *Engine) writeUpdates(ctx context.Context, updates []connectors.Update) []connectors.Result {
	if len(updates) == 0 {
		return nil
	}
	results, err := e.crm.Write(ctx, updates)
	if err != nil && len(results) != len(updates) {
		results = make([]connectors.Result, len(updates))
		for i := range results {
			results[i].Err = fmt.Errorf("write %d decisions: %w", len(updates), err)
		}
	}
	return results
}

// recordWritten remembers the written records' fingerprints (their echo is
// recognised) and finishes their plans' write step.
func (e *Engine) recordWritten(ok []*work) {
	if e.o.State == nil {
		return
	}
	keys := make([]string, len(ok))
	fps := make(map[string]string, len(ok))
	for i, w := range ok {
		keys[i] = w.key
		fps[w.key] = w.plan.Expect
	}
	if err := e.o.State.SetFingerprints(fps); err != nil {
		e.log.Warn("remember fingerprints", "err", err)
	}
	if err := e.o.State.FinishSteps(keys, stepWrite); err != nil {
		e.log.Warn("finish write step", "err", err)
	}
}

// announce gives the written decisions their outcome, hands them to the
// channels waiting to show them (whose partners then get no status
// e-mail), counts and logs them, and puts them in the overlay: later
// decisions see them at once, whatever the search says.
func (e *Engine) announce(ok []*work, now time.Time) {
	recs := make([]registration.Record, 0, len(ok))
	var quiet []string
	for _, w := range ok {
		w.out.Result = ResultDecided
		d := w.decision
		w.out.Decision = &d
		w.rec = expected(w.rec, w.update)
		w.rec.Index()
		recs = append(recs, w.rec)
		w.out.Record = w.rec
		if e.waits.deliver(w.rec.CaseNumber, *w.out) {
			w.quiet = true // the channel that registered it shows the partner
			quiet = append(quiet, w.key)
		}
		e.m.Decisions.WithLabelValues(string(d.Status), d.Reason).Inc()
		e.log.Info("decided", "case", w.data.CaseNumber, "from", w.data.From, "status", d.Status, "reason", d.Reason,
			"partner", w.rec.PartnerID, "actor", w.data.Actor)
	}
	e.shownInChannel(ok, quiet)
	e.ov.observe(now, recs...)
}

// shownInChannel records that the partners have seen these decisions in
// their channel: no status e-mail, also when the plan is resumed after a
// later step failed.
func (e *Engine) shownInChannel(ok []*work, quiet []string) {
	if e.o.State == nil || len(quiet) == 0 {
		return
	}
	if err := e.o.State.FinishSteps(quiet, stepNotify); err != nil {
		e.log.Warn("record decisions shown in the channel", "err", err)
	}
	for _, w := range ok {
		if w.quiet && w.plan != nil {
			w.plan.Steps = slices.DeleteFunc(w.plan.Steps, func(s string) bool { return s == stepNotify })
		}
	}
}

// settleUnknown finds out what became of writes whose answer regsync did
// not hear (a timeout, a connection lost after the request went out, a
// 5xx or a cut-short answer): it reads the records back — a read by id
// sees the current record in both CRMs — and returns the works whose
// decision is there, as if the write had answered. A write that did not
// land voids its plan and fails to be tried again; one that cannot be
// read either keeps its plan, so whichever path next reads the record
// finishes the plan when the write is there (run: a record matching the
// plan's fingerprint is regsync's own write) and voids it when not.
func (e *Engine) settleUnknown(ctx context.Context, ws []*work) []*work {
	if len(ws) == 0 {
		return nil
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.rec.ID
	}
	recs, err := e.crm.Registrations(ctx, ids)
	if err != nil {
		for _, w := range ws {
			w.out.Result = ResultUnknown
			e.log.Warn("the CRM's answer to a decision was lost and the record cannot be read back; the plan waits for the next read",
				"case", w.data.CaseNumber, "write", w.out.Err, "read", err)
		}
		return nil
	}
	byID := make(map[string]*registration.Record, len(recs))
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}
	var landed, void []*work
	for _, w := range ws {
		r := byID[w.rec.ID]
		if r != nil && w.plan != nil && (samePrint(w.plan.Expect, fingerprintOf(r)) || e.writtenBeneath(r, w.plan)) ||
			r != nil && w.plan == nil && sameWrite(r, w.update) {
			w.out.Err = nil
			landed = append(landed, w)
			continue
		}
		w.out.Result = ResultFailed
		void = append(void, w)
	}
	e.dropPlans(void)
	if len(landed) > 0 {
		e.log.Info("the CRM's answer to a decision was lost; read back, the decision is there", "records", len(landed))
	}
	return landed
}

// sameWrite reports whether r holds every field of the update.
func sameWrite(r *registration.Record, u map[string]string) bool {
	for k, v := range u {
		if got, _ := r.Get(k); got != v {
			return false
		}
	}
	return true
}

// dropPlans forgets the plans of writes that failed: nothing was written.
func (e *Engine) dropPlans(ws []*work) {
	if e.o.State == nil || len(ws) == 0 {
		return
	}
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = w.key
	}
	if err := e.o.State.DeletePlans(keys...); err != nil {
		e.log.Warn("drop plans of failed writes", "err", err)
	}
}
