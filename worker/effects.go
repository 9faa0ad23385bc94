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

// sideEffects runs the steps owed after a written decision, each in batch,
// recording each as done. A failed step leaves the rest for the next try.
func (e *Engine) sideEffects(ctx context.Context, ws []*work) {
	owes := func(w *work, step string) bool {
		return w.out.Err == nil && (w.plan == nil || !w.plan.Done(step) || e.o.State == nil)
	}
	finish := func(step string, done []*work) {
		if e.o.State == nil || len(done) == 0 {
			return
		}
		keys := make([]string, len(done))
		for i, w := range done {
			keys[i] = w.key
		}
		if err := e.o.State.FinishSteps(keys, step); err != nil {
			for _, w := range done {
				w.out.Result, w.out.Err = ResultFailed, err
			}
		}
	}
	fail := func(group []*work, step string, err error) {
		for _, w := range group {
			w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("%s: %w", step, err)
		}
	}
	run := func(step string, want func(*work) bool, do func([]*work) error) {
		var group, skip []*work
		for _, w := range ws {
			if !owes(w, step) {
				continue
			}
			if want(w) {
				group = append(group, w)
			} else {
				skip = append(skip, w)
			}
		}
		if len(group) > 0 {
			if err := do(group); err != nil {
				fail(group, step, err)
				group = nil
			}
		}
		finish(step, append(group, skip...))
	}

	run(stepLink, func(w *work) bool { return w.data.CompanyID != "" || w.data.DealID != "" }, func(g []*work) error {
		links := make([]connectors.Link, 0, len(g))
		for _, w := range g {
			links = append(links, connectors.Link{RegistrationID: w.rec.ID, CompanyID: w.data.CompanyID, DealID: w.data.DealID})
		}
		return e.crm.Link(ctx, links)
	})
	run(stepTask, func(w *work) bool { return w.data.Task != nil }, func(g []*work) error {
		tasks := make([]connectors.Task, 0, len(g))
		for _, w := range g {
			t := *w.data.Task
			t.RegistrationID = w.rec.ID
			t.Key, t.Fresh = sideKey(w, stepTask), firstTry(w)
			tasks = append(tasks, t)
		}
		return e.crm.Task(ctx, tasks)
	})
	run(stepNote, func(*work) bool { return true }, func(g []*work) error {
		notes := make([]connectors.Note, 0, len(g))
		for _, w := range g {
			notes = append(notes, connectors.Note{RegistrationID: w.rec.ID, Body: auditNote(w.data), At: w.data.At, Key: sideKey(w, stepNote), Fresh: firstTry(w)})
		}
		return e.crm.Note(ctx, notes)
	})
	// The audit log is local: the entries and the step's completion are
	// one transaction, so a crash never audits a decision twice.
	if e.o.State != nil {
		var entries []state.AuditEntry
		var keys []string
		var group []*work
		for _, w := range ws {
			if !owes(w, stepAudit) {
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
			fail(group, stepAudit, err)
		}
	}
	run(stepNotify, func(w *work) bool { return e.o.Notifier != nil && w.data.To != w.data.From && !w.quiet }, func(g []*work) error {
		ns := make([]Notification, 0, len(g))
		for _, w := range g {
			ns = append(ns, e.statusNotification(w))
		}
		return e.o.Notifier.Notify(ctx, ns)
	})
	// Rivals waiting on these decisions are looked at again now, not at the
	// next sweep.
	if e.o.State != nil {
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
}
