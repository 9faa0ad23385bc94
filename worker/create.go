package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/state"
)

// intakePlanPrefix keys the plans of records being created by earlier
// versions of regsync, which decided a submission before creating it
// (Recover finishes them).
const intakePlanPrefix = "intake/"

// Create registers new submissions: it gives each its place in line (the
// instant regsync accepted it and its acceptance sequence, unless the
// record carries them), asks the CRM what it already holds under their
// case numbers (a repeated submission is reported, never created twice),
// and creates the rest as submitted, in batched creates on their
// submission keys (create only: a record that holds the key by then is
// reported as existing and never written over). It does not decide them: the worker does, through the
// same path, locks and order as every other registration, so first come,
// first served holds whatever channel a registration came by. The created
// registrations are queued for it (with a state file).
//
// Channels that show the partner the decision register interest with
// awaitUntil (real clock; zero: none): while they wait, that decision's
// status e-mail is theirs to replace (see waiters).
//
// A record's partner_name is the policy's name of its partner_id, never
// what the channel read.
//
// Each record must carry SubmissionKey; CaseNumber defaults to
// registration.CaseNumberFor(SubmissionKey). Outcomes are parallel to
// recs: created (registered now, status submitted), exists (already
// registered: the record as the CRM holds it), failed.
func (e *Engine) Create(ctx context.Context, recs []registration.Record, awaitUntil time.Time) ([]Outcome, error) {
	outs := make([]Outcome, len(recs))
	var fresh []int
	first := map[string]int{} // case number → index of its first submission in this call
	var dups []int
	for i := range recs {
		r := &recs[i]
		if strings.TrimSpace(r.SubmissionKey) == "" {
			outs[i] = Outcome{Result: ResultFailed, Err: fmt.Errorf("submission %d has no submission key", i+1)}
			continue
		}
		if r.CaseNumber == "" {
			r.CaseNumber = registration.CaseNumberFor(r.SubmissionKey)
		}
		if _, ok := first[r.CaseNumber]; ok {
			dups = append(dups, i)
			continue
		}
		first[r.CaseNumber] = i
		r.Status, r.ID = registration.StatusSubmitted, ""
		// The partner's name is the policy's, whatever the channel read
		// (a HubSpot form's hidden partner_name, a CSV column): "" for a
		// partner the policy does not know, which is declined anyway.
		r.PartnerName = e.partnerName(r.PartnerID)
		if r.StatusMessage == "" {
			r.StatusMessage = MsgReceived
		}
		r.Index()
		fresh = append(fresh, i)
	}
	if len(fresh) == 0 {
		e.copyDups(outs, recs, dups, first)
		return outs, nil
	}

	// The place in line is taken at acceptance, before any call to the CRM.
	accepted := make([]registration.Record, len(fresh))
	for j, i := range fresh {
		accepted[j] = recs[i]
	}
	e.accept(accepted)
	cases := make([]string, len(fresh))
	for j, i := range fresh {
		recs[i] = accepted[j]
		cases[j] = recs[i].CaseNumber
	}

	// Already registered? The CRM's answer, and what this process created
	// moments ago that the CRM's search may not show yet.
	found, err := e.crm.Lookup(ctx, cases)
	if err != nil {
		e.ov.drop(cases...)
		return outs, fmt.Errorf("look up %d case numbers: %w", len(cases), err)
	}
	existing := map[string]registration.Record{}
	for _, r := range found {
		existing[r.CaseNumber] = r
	}
	for _, c := range cases {
		if _, ok := existing[c]; !ok {
			if r, ok := e.ov.known(c); ok {
				existing[c] = r
			}
		}
	}
	var create []int
	for _, i := range fresh {
		r := &recs[i]
		if ex, ok := existing[r.CaseNumber]; ok {
			e.ov.drop(r.CaseNumber)
			outs[i] = Outcome{ID: ex.ID, Result: ResultExists, Record: ex}
			continue
		}
		create = append(create, i)
	}
	if len(create) > 0 {
		if err := e.createSubmitted(ctx, recs, create, outs, awaitUntil); err != nil {
			return outs, err
		}
	}
	e.copyDups(outs, recs, dups, first)
	return outs, nil
}

// copyDups gives repeated submissions of one call their first's outcome.
func (e *Engine) copyDups(outs []Outcome, recs []registration.Record, dups []int, first map[string]int) {
	for _, i := range dups {
		outs[i] = outs[first[recs[i].CaseNumber]]
		if outs[i].Result == ResultCreated {
			outs[i].Result = ResultExists
		}
	}
}

// createSubmitted creates recs[idx] as submitted and queues them.
func (e *Engine) createSubmitted(ctx context.Context, recs []registration.Record, idx []int, outs []Outcome, awaitUntil time.Time) error {
	updates := make([]connectors.Update, len(idx))
	var awaited []string
	for j, i := range idx {
		r := &recs[i]
		fields := map[string]string{}
		for _, f := range registration.Fields() {
			if f.Name == "id" || f.IsZero(r) {
				continue
			}
			fields[f.Name] = f.Get(r)
		}
		fields["status"] = string(registration.StatusSubmitted)
		updates[j] = connectors.Update{SubmissionKey: r.SubmissionKey, Fields: fields}
		if !awaitUntil.IsZero() && answersInChannel(r.Source) {
			awaited = append(awaited, r.CaseNumber)
		}
	}
	// Interest first: the worker may decide before this call returns.
	e.waits.expect(awaitUntil, awaited...)
	results, err := e.crm.Write(ctx, updates)
	if err != nil && len(results) != len(updates) {
		for _, i := range idx {
			e.ov.drop(recs[i].CaseNumber)
		}
		return fmt.Errorf("create %d registrations: %w", len(updates), err)
	}
	now := e.now()
	var created []registration.Record
	var items []state.Item
	// Creates are create only: a record already holding the submission key
	// (the submission sent again while its first create was in flight, or
	// a create whose answer was lost) is left as it is — it may have been
	// decided since — and reported as it stands in the CRM.
	var held []string
	for j := range idx {
		if res := results[j]; res.Err == nil && res.Exists {
			held = append(held, res.ID)
		}
	}
	standing := map[string]registration.Record{}
	if len(held) > 0 {
		found, err := e.crm.Registrations(ctx, held)
		if err != nil {
			e.log.Warn("read registrations that existed already", "records", len(held), "err", err)
		}
		for _, r := range found {
			standing[r.ID] = r
		}
	}
	for j, i := range idx {
		r := &recs[i]
		res := results[j]
		if res.Err != nil {
			e.ov.drop(r.CaseNumber)
			outs[i] = Outcome{Result: ResultFailed, Err: res.Err}
			continue
		}
		if res.Exists {
			ex, ok := standing[res.ID]
			if !ok {
				// Not readable just now: what the partner sent stands in,
				// with the record's id; the status page reads the CRM.
				ex = *r
				ex.ID = res.ID
			}
			e.ov.observe(now, ex)
			outs[i] = Outcome{ID: res.ID, Result: ResultExists, Record: ex}
			// Its own earlier attempt may have created it: the worker
			// decides it if it is still undecided (and leaves it else).
			items = append(items, state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: res.ID, Reason: "intake"})
			e.log.Info("registered before", "case", r.CaseNumber, "id", res.ID, "source", r.Source, "status", ex.Status)
			continue
		}
		r.ID = res.ID
		outs[i] = Outcome{ID: r.ID, Result: ResultCreated, Record: *r}
		created = append(created, *r)
		items = append(items, state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: r.ID, Reason: "intake"})
		e.log.Info("registered", "case", r.CaseNumber, "id", r.ID, "source", r.Source, "partner", r.PartnerID,
			"submitted_at", r.SubmittedAt)
	}
	e.ov.observe(now, created...)
	if e.o.State != nil && len(items) > 0 {
		// Queued for the worker; the change feed would find them too.
		if err := e.o.State.Enqueue(items...); err != nil {
			e.log.Warn("queue created registrations; the change feed will bring them", "records", len(items), "err", err)
		}
	}
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

// Recover re-keys the plans of creates interrupted by a crash (regsync
// versions that decided a submission before creating it): a plan whose
// record exists in the CRM (found by case number) is moved to the
// record's key and the record queued, so the worker finishes its side
// effects; a plan whose record never reached the CRM is dropped. The daemon
// runs it at startup, before it takes work.
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
