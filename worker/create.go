package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// intakePlanPrefix keys the plans of records being created: they have no
// CRM id until the create returns.
const intakePlanPrefix = "intake/"

// Create registers new submissions. It asks the CRM what it already holds
// under their case numbers (a repeated submission is reported, never
// created twice), decides the new ones with the same rules as the daemon —
// their rivals include the earlier submissions of the same call — and
// creates each record already decided, in batched upserts on its
// submission key, then runs the side effects.
//
// Deciding before creating means a registration is decided exactly once
// even when a daemon runs beside `regsync import`: the daemon sees a decided
// record, never a submitted one it might decide again.
//
// Each record must carry SubmissionKey; CaseNumber defaults to
// registration.CaseNumberFor(SubmissionKey), SubmittedAt to now. Outcomes
// are parallel to recs: decided (created now), exists (already registered),
// failed.
func (e *Engine) Create(ctx context.Context, recs []registration.Record) ([]Outcome, error) {
	now := e.now()
	outs := make([]Outcome, len(recs))
	var cases []string
	for i := range recs {
		r := &recs[i]
		if strings.TrimSpace(r.SubmissionKey) == "" {
			outs[i] = Outcome{Result: "failed", Err: fmt.Errorf("submission %d has no submission key", i+1)}
			continue
		}
		if r.CaseNumber == "" {
			r.CaseNumber = registration.CaseNumberFor(r.SubmissionKey)
		}
		if r.SubmittedAt.IsZero() {
			r.SubmittedAt = now
		}
		r.Status, r.ID = registration.StatusSubmitted, ""
		r.Index()
		cases = append(cases, r.CaseNumber)
	}
	existing := map[string]registration.Record{}
	if len(cases) > 0 {
		found, err := e.crm.Lookup(ctx, cases)
		if err != nil {
			return outs, fmt.Errorf("look up %d case numbers: %w", len(cases), err)
		}
		for _, r := range found {
			existing[r.CaseNumber] = r
		}
	}
	p := e.o.Policy()
	var works []*work
	first := map[string]*work{} // case number → the work creating it
	var dups []int
	for i := range recs {
		r := &recs[i]
		if outs[i].Err != nil {
			continue
		}
		if ex, ok := existing[r.CaseNumber]; ok {
			outs[i] = Outcome{ID: ex.ID, Result: "exists", Record: ex}
			continue
		}
		if _, ok := first[r.CaseNumber]; ok {
			dups = append(dups, i)
			continue
		}
		w := &work{rec: *r, key: intakePlanPrefix + r.CaseNumber, act: actDecide, out: &outs[i], quiet: answersInChannel(r.Source)}
		first[r.CaseNumber] = w
		works = append(works, w)
	}
	if len(works) > 0 {
		if err := e.createDecided(ctx, p, works, now); err != nil {
			return outs, err
		}
	}
	for _, i := range dups {
		w := first[recs[i].CaseNumber]
		outs[i] = *w.out
		if outs[i].Result == "decided" {
			outs[i].Result = "exists"
		}
	}
	return outs, nil
}

func (e *Engine) createDecided(ctx context.Context, p *rules.Policy, works []*work, now time.Time) error {
	recs := make([]registration.Record, len(works))
	for i, w := range works {
		recs[i] = w.rec
	}
	facts, err := e.crm.Facts(ctx, recs)
	if err != nil {
		return fmt.Errorf("gather facts for %d submissions: %w", len(works), err)
	}
	for i, w := range works {
		if i < len(facts) {
			w.facts = facts[i]
		}
	}
	order := make([]*work, len(works))
	copy(order, works)
	sort.SliceStable(order, func(i, j int) bool { return earlier(&order[i].rec, &order[j].rec) })
	var done []*work
	for _, w := range order {
		// Earlier submissions of this call are rivals too: they are not in
		// the CRM yet, so the CRM's facts cannot hold them.
		for _, o := range done {
			if (o.rec.DomainKey != "" && o.rec.DomainKey == w.rec.DomainKey) || (o.rec.NameKey != "" && o.rec.NameKey == w.rec.NameKey) {
				rival := o.rec
				rival.Status, rival.StatusReason = o.decision.Status, o.decision.Reason
				rival.HoldUntil, rival.MeetingDue, rival.DecidedAt = o.decision.HoldUntil, o.decision.MeetingDue, now
				w.facts.Registrations = append(w.facts.Registrations, rival)
				if o.decision.Status.Active() && o.rec.PartnerID == w.rec.PartnerID {
					w.facts.PartnerActive++
				}
			}
		}
		w.decision = rules.Decide(p, &w.rec, w.facts, now)
		w.decision.Changed = true
		e.plan(w, p, now)
		// A create writes every field the submission carries.
		for _, f := range registration.Fields() {
			if f.Name == "id" || f.IsZero(&w.rec) {
				continue
			}
			if _, ok := w.update[f.Name]; !ok {
				w.update[f.Name] = f.Get(&w.rec)
			}
		}
		w.update["status"] = string(w.decision.Status)
		done = append(done, w)
	}

	if e.o.State != nil {
		plans := make([]state.Plan, 0, len(works))
		for _, w := range works {
			exp := expected(registration.Record{}, w.update)
			data, err := json.Marshal(w.data)
			if err != nil {
				return err
			}
			plans = append(plans, state.Plan{Key: w.key, Expect: fingerprintOf(&exp).String(), Data: data, At: now,
				Steps: []string{stepWrite, stepLink, stepTask, stepNote, stepAudit, stepNotify}})
			w.plan = &plans[len(plans)-1]
		}
		if err := e.o.State.PutPlans(plans...); err != nil {
			return err
		}
	}
	updates := make([]connectors.Update, len(works))
	for i, w := range works {
		updates[i] = connectors.Update{SubmissionKey: w.rec.SubmissionKey, Fields: w.update}
	}
	results, err := e.crm.Write(ctx, updates)
	if err != nil && len(results) != len(updates) {
		e.dropPlans(works)
		return fmt.Errorf("create %d registrations: %w", len(updates), err)
	}
	var ok, failed []*work
	for i, w := range works {
		if results[i].Err != nil {
			w.out.Result, w.out.Err = "failed", results[i].Err
			failed = append(failed, w)
			continue
		}
		w.rec.ID = results[i].ID
		w.out.ID = results[i].ID
		ok = append(ok, w)
	}
	e.dropPlans(failed)
	if e.o.State != nil && len(ok) > 0 {
		keys := make([]string, len(ok))
		fps := make(map[string]string, len(ok))
		for i, w := range ok {
			keys[i] = w.key
			fps[e.Key(w.rec.ID)] = w.plan.Expect
		}
		if err := e.o.State.SetFingerprints(fps); err != nil {
			e.log.Warn("remember fingerprints of created registrations", "err", err)
		}
		if err := e.o.State.FinishSteps(keys, stepWrite); err != nil {
			e.log.Warn("finish write step", "err", err)
		}
	}
	for _, w := range ok {
		d := w.decision
		w.out.Result, w.out.Decision = "decided", &d
		w.rec = expected(w.rec, w.update)
		w.out.Record = w.rec
		e.m.Decisions.WithLabelValues(string(d.Status), d.Reason).Inc()
		e.log.Info("registered and decided", "case", w.rec.CaseNumber, "source", w.rec.Source, "status", d.Status,
			"reason", d.Reason, "partner", w.rec.PartnerID)
	}
	e.sideEffects(ctx, ok)
	return nil
}

// answersInChannel reports whether an intake channel tells the partner the
// first decision itself (an e-mail reply, the confirmation page, a Slack
// answer, the result CSV), so the status e-mail would say it twice. A
// HubSpot form has no answer of its own: its partners get the e-mail.
func answersInChannel(source string) bool {
	switch source {
	case intake.ChannelEmail, intake.ChannelWebForm, intake.ChannelSlack, intake.ChannelCSV:
		return true
	}
	return false
}

// Recover re-keys the plans of creates interrupted by a crash: a plan whose
// record exists in the CRM (found by case number) is moved to the record's
// key and the record queued, so the worker finishes its side effects; a
// plan whose record never reached the CRM is dropped. The daemon runs it at
// startup, before it takes work.
func (e *Engine) Recover(ctx context.Context) (resumed []string, err error) {
	if e.o.State == nil {
		return nil, nil
	}
	plans, err := e.o.State.AllPlans()
	if err != nil {
		return nil, err
	}
	byCase := map[string]state.Plan{}
	var cases []string
	for _, pl := range plans {
		if c, ok := strings.CutPrefix(pl.Key, intakePlanPrefix); ok {
			byCase[c] = pl
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return nil, nil
	}
	found, err := e.crm.Lookup(ctx, cases)
	if err != nil {
		return nil, fmt.Errorf("recover interrupted registrations: %w", err)
	}
	var moved []state.Plan
	var drop []string
	seen := map[string]bool{}
	for _, r := range found {
		pl, ok := byCase[r.CaseNumber]
		if !ok {
			continue
		}
		seen[r.CaseNumber] = true
		drop = append(drop, pl.Key)
		pl.Key = e.Key(r.ID)
		moved = append(moved, pl)
		resumed = append(resumed, r.ID)
	}
	for c, pl := range byCase {
		if !seen[c] {
			drop = append(drop, pl.Key)
		}
	}
	if err := e.o.State.PutPlans(moved...); err != nil {
		return nil, err
	}
	if err := e.o.State.DeletePlans(drop...); err != nil {
		return nil, err
	}
	return resumed, nil
}
