package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// resume finishes the side effects of plans whose write landed.
func (e *Engine) resume(ctx context.Context, ws []*work) {
	var ok []*work
	for _, w := range ws {
		var data planData
		if err := json.Unmarshal(w.plan.Data, &data); err != nil {
			w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("plan of %s: %w", w.key, err)
			continue
		}
		w.data = data
		w.decision = rules.Decision{Status: data.To, Reason: data.Reason, Message: data.Message, Missing: data.Missing,
			HoldUntil: data.HoldUntil, MeetingDue: data.MeetingDue, SLADue: data.SLADue, Owner: data.Owner, Trace: data.Trace}
		if !w.plan.Done(stepWrite) {
			// The record is the plan's write (run matched it): remember it
			// as seen, or its next read looks like someone else's change
			// (the write's answer was lost, or a crash came between the
			// write and the commit's record of it).
			if err := e.o.State.SetFingerprints(map[string]string{w.key: w.plan.Expect}); err != nil {
				w.out.Result, w.out.Err = ResultFailed, err
				continue
			}
			if err := e.o.State.FinishSteps([]string{w.key}, stepWrite); err != nil {
				w.out.Result, w.out.Err = ResultFailed, err
				continue
			}
			w.plan.Steps = slices.DeleteFunc(w.plan.Steps, func(s string) bool { return s == stepWrite })
		}
		w.out.Result = ResultResumed
		ok = append(ok, w)
	}
	if len(ok) > 0 {
		e.log.Info("resuming interrupted decisions", "records", len(ok))
		e.sideEffects(ctx, ok)
	}
}

// sideEffect is one step owed after a written decision: which works need
// it done (the others owe it and skip it), and how to do it for a group.
type sideEffect struct {
	step string
	want func(e *Engine, w *work) bool
	do   func(e *Engine, ctx context.Context, g []*work) error
}

// The steps done in the CRM and by the notifier, in their
// plan order; the audit log between the note and the notification is local
// (audit).
var (
	linkEffect   = sideEffect{stepLink, wantsLink, (*Engine).link}
	taskEffect   = sideEffect{stepTask, func(_ *Engine, w *work) bool { return w.data.Task != nil }, (*Engine).openTasks}
	noteEffect   = sideEffect{stepNote, func(*Engine, *work) bool { return true }, (*Engine).addNotes}
	notifyEffect = sideEffect{stepNotify, wantsNotice, (*Engine).notifyPartners}
)

// sideEffects runs the steps owed after a written decision, each in batch,
// recording each as done. A failed step leaves the rest for the next try.
func (e *Engine) sideEffects(ctx context.Context, ws []*work) {
	e.effect(ctx, ws, linkEffect)
	e.effect(ctx, ws, taskEffect)
	e.effect(ctx, ws, noteEffect)
	e.audit(ws)
	e.effect(ctx, ws, notifyEffect)
	e.wakeRivals(ws)
}

// owes reports whether w still owes the step (without a state file every
// step is owed: there is no plan to record it in).
func (e *Engine) owes(w *work, step string) bool {
	return w.out.Err == nil && (w.plan == nil || !w.plan.Done(step) || e.o.State == nil)
}

// effect runs one step for the works that owe it and records it as done
// for them, those that needed nothing included; a group whose step failed
// keeps owing it.
func (e *Engine) effect(ctx context.Context, ws []*work, fx sideEffect) {
	var group, skip []*work
	for _, w := range ws {
		if !e.owes(w, fx.step) {
			continue
		}
		if fx.want(e, w) {
			group = append(group, w)
		} else {
			skip = append(skip, w)
		}
	}
	if len(group) > 0 {
		if err := fx.do(e, ctx, group); err != nil {
			failStep(group, fx.step, err)
			group = nil
		}
	}
	e.finishStep(fx.step, append(group, skip...))
}

// finishStep records the step as done for the works.
func (e *Engine) finishStep(step string, done []*work) {
	if e.o.State == nil || len(done) == 0 {
		return
	}
	keys := make([]string, len(done))
	for i, w := range done {
		keys[i] = w.key
	}
	if err := e.o.State.FinishSteps(keys, step); err != nil {
		failAll(done, err)
	}
}

func failStep(group []*work, step string, err error) {
	failAll(group, fmt.Errorf("%s: %w", step, err))
}

func wantsLink(_ *Engine, w *work) bool { return w.data.CompanyID != "" || w.data.DealID != "" }

// link associates the registrations with the company and the partner's
// own deal regsync found for them.
func (e *Engine) link(ctx context.Context, g []*work) error {
	links := make([]connectors.Link, 0, len(g))
	for _, w := range g {
		links = append(links, connectors.Link{RegistrationID: w.rec.ID, CompanyID: w.data.CompanyID, DealID: w.data.DealID})
	}
	return e.crm.Link(ctx, links)
}

// openTasks opens the AE tasks of the decisions, on keys that make a
// repeat harmless (sidekeys.go).
func (e *Engine) openTasks(ctx context.Context, g []*work) error {
	tasks := make([]connectors.Task, 0, len(g))
	for _, w := range g {
		t := *w.data.Task
		t.RegistrationID = w.rec.ID
		t.Key, t.Fresh = sideKey(w, stepTask), firstTry(w)
		tasks = append(tasks, t)
	}
	return e.crm.Task(ctx, tasks)
}

// addNotes adds the audit note of each decision to its record.
func (e *Engine) addNotes(ctx context.Context, g []*work) error {
	notes := make([]connectors.Note, 0, len(g))
	for _, w := range g {
		notes = append(notes, connectors.Note{RegistrationID: w.rec.ID, Body: auditNote(w.data), At: w.data.At,
			Key: sideKey(w, stepNote), Fresh: firstTry(w)})
	}
	return e.crm.Note(ctx, notes)
}

// audit appends the decisions to the local audit log. The entries and the
// step's completion are one transaction, so a crash never audits a
// decision twice.
func (e *Engine) audit(ws []*work) {
	if e.o.State == nil {
		return
	}
	var entries []state.AuditEntry
	var keys []string
	var group []*work
	for _, w := range ws {
		if !e.owes(w, stepAudit) {
			continue
		}
		trace, _ := json.Marshal(w.data.Trace)
		entries = append(entries, state.AuditEntry{At: w.data.At, CRM: e.crm.Name(), Object: e.o.Object,
			RecordID: w.rec.ID, CaseNumber: w.data.CaseNumber, From: string(w.data.From), To: string(w.data.To),
			Reason: w.data.Reason, Actor: w.data.Actor, Message: w.data.Message, Trace: trace})
		keys = append(keys, w.key)
		group = append(group, w)
	}
	if err := e.o.State.AppendFinishing(keys, stepAudit, entries...); err != nil {
		failStep(group, stepAudit, err)
	}
}

// wantsNotice: the partner hears of a change of status, unless the channel
// that registered it shows them the decision.
func wantsNotice(e *Engine, w *work) bool {
	return e.o.Notifier != nil && w.data.To != w.data.From && !w.quiet
}

// notifyPartners sends the status notifications of the decisions.
func (e *Engine) notifyPartners(ctx context.Context, g []*work) error {
	ns := make([]Notification, 0, len(g))
	for _, w := range g {
		ns = append(ns, e.statusNotification(w))
	}
	return e.o.Notifier.Notify(ctx, ns)
}

// wakeRivals looks again now, not at the next sweep, at the rivals waiting
// on these decisions, and later at registrations these decisions sent to
// wait for an earlier rival (one decided at the same moment in another
// batch cannot have listed them).
func (e *Engine) wakeRivals(ws []*work) {
	if e.o.State == nil {
		return
	}
	var items []state.Item
	for _, w := range ws {
		for _, id := range w.data.Rivals {
			items = append(items, state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: id, Reason: "rival_decided"})
		}
	}
	if err := e.o.State.Enqueue(items...); err != nil {
		e.log.Warn("enqueue waiting rivals", "err", err)
	}
	var recheck []state.Item
	for _, w := range ws {
		if w.data.To == registration.StatusInReview && w.data.Reason == rules.ReasonConflictPending && w.rec.ID != "" {
			recheck = append(recheck, state.Item{CRM: e.crm.Name(), Object: e.o.Object, RecordID: w.rec.ID, Reason: "recheck"})
		}
	}
	if err := e.o.State.Defer(time.Now().Add(e.o.RecheckAfter), recheck...); err != nil {
		e.log.Warn("schedule conflict re-checks", "err", err)
	}
}
