// Package worker is the daemon's work: it drains the durable inbox in
// batches, re-reads each record from the CRM (the CRM is the truth), gathers
// facts in batch, applies the rules, writes the decision back in batch and
// follows it with associations, AE tasks, an audit note, the audit log and
// the partner's notification. It also polls the CRM's change feed, runs the
// cron sweeps, and registers intake submissions.
//
// Nothing is decided twice: before the decision is written to the CRM, a
// plan (the expected fingerprint of the record and the side effects owed)
// is stored durably in the state file; a crash at any point resumes the
// plan — a re-read record that matches it shows the write landed — instead
// of deciding again. The worker's own writes come back as webhooks and poll
// hits; the fingerprint of what it wrote makes it skip them.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// CRM is what the worker uses of a connector: reading and writing
// registrations, facts, side effects, the change feed and attribution —
// not webhooks, reports or health, which belong to the server, the reports
// and the daemon.
type CRM interface {
	connectors.Records
	connectors.FactFinder
	connectors.Writer
	connectors.SideEffects
	connectors.Feed
	connectors.Attributor
}

// EngineOptions configure an Engine.
type EngineOptions struct {
	// CRM is the connector. Required.
	CRM CRM
	// Object is the registrations' object name in inbox keys and events
	// (partner_registration, deals, Partner_Registration__c).
	Object string
	// DealObject is the deals' object name in inbox keys and events
	// (deals, Opportunity): their changes drive attribution.
	DealObject string
	// Policy returns the current policy (a reload swaps it). Required.
	Policy func() *rules.Policy
	// State is the state file; nil runs without local state (regsync
	// import): no plans, fingerprints or audit log — the CRM alone.
	State *state.DB
	// Notifier sends partner and AE notifications; nil sends none.
	Notifier Notifier
	// StatusURL makes a registration's login-free status link.
	StatusURL func(caseNumber string) string
	// RecheckAfter is when a registration sent to review because an
	// earlier rival is pending is looked at again (default 30s): a rival
	// decided at the same moment in another batch cannot have listed it.
	RecheckAfter time.Duration
	Logger       *slog.Logger
	Metrics      *metrics.Metrics
	Now          func() time.Time
}

// Engine decides and writes back registrations. It is safe for concurrent
// use by goroutines working on different records.
type Engine struct {
	o    EngineOptions
	crm  CRM
	log  *slog.Logger
	m    *metrics.Metrics
	prec time.Duration // instants written are truncated to this

	tmu  sync.Mutex
	tmpl templates

	locks  recordLocks // one path at a time on a record (locks.go)
	claims recordLocks // one decision at a time on a company (claims.go)
	ov     *overlay    // what this process knows fresher than the CRM's search
	acc    acceptance  // places in line of intake submissions
	waits  waiters     // channels waiting to show a decision
	settle time.Duration
	seen   seenSince // when this process first read each record (real clock)
}

// NewEngine checks the options and builds an Engine.
func NewEngine(o EngineOptions) (*Engine, error) {
	if o.CRM == nil || o.Policy == nil {
		return nil, errors.New("worker: an engine needs a CRM and a policy")
	}
	if o.Object == "" {
		o.Object = "partner_registration"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StatusURL == nil {
		o.StatusURL = func(string) string { return "" }
	}
	if o.RecheckAfter <= 0 {
		o.RecheckAfter = 30 * time.Second
	}
	prec := time.Millisecond
	if tp, ok := o.CRM.(connectors.TimePrecision); ok && tp.TimePrecision() > prec {
		prec = tp.TimePrecision()
	}
	var settle time.Duration
	if ss, ok := o.CRM.(connectors.SearchSettle); ok {
		settle = max(ss.SearchSettle(), 0)
	}
	return &Engine{o: o, crm: o.CRM, log: o.Logger, m: o.Metrics, prec: prec, settle: settle,
		ov: newOverlay(settle + 10*time.Second)}, nil
}

// Settle is how long after a registration's submission its approval waits
// so that every earlier rival is visible to the CRM's search (HubSpot's
// poll_settle; 0 for a CRM whose queries do not lag).
func (e *Engine) Settle() time.Duration { return e.settle }

// now is the clock, truncated to what the CRM keeps (milliseconds, or
// seconds on Salesforce): every instant the worker writes must read back
// unchanged, or its fingerprint would not recognise its own echo.
func (e *Engine) now() time.Time { return e.o.Now().UTC().Truncate(e.prec) }

// Key is the inbox / fingerprint key of a registration.
func (e *Engine) Key(id string) string { return state.ItemKey(e.crm.Name(), e.o.Object, id) }

// Permanent reports whether err is a definite refusal (see
// connectors.Class): retrying cannot mend it, and a write it answers was
// not applied. Anything else — a write whose outcome is unknown included —
// is not permanent.
func Permanent(err error) bool {
	return err != nil && connectors.ClassOf(err) == connectors.ClassPermanent
}

// ProcessSweeping looks at the registrations with these CRM ids: decides
// the new ones, follows through what humans changed, finishes interrupted
// plans, and writes everything back in batch; the records with sweep[id]
// set are swept (rules.Sweep) even when they did not change: a rival they
// wait on may have been decided, or time may have passed. Outcomes are
// parallel to ids. The error is for failures of the whole batch (the CRM
// could not be read); per-record failures are in the outcomes.
func (e *Engine) ProcessSweeping(ctx context.Context, ids []string, sweep map[string]bool) ([]Outcome, error) {
	return e.hold(ctx, ids, func(r registration.Record, o *Outcome) *work {
		return &work{rec: r, key: e.Key(r.ID), out: o, sweep: sweep[r.ID]}
	})
}

// hold is the one way into the engine's decisions and side effects: every
// path that decides or acts for registrations — the worker's batches, the
// sweep, attribution's transitions, the channels' submissions and
// amendments (through the worker), reconcile — comes through it. It takes
// the records' locks, so no two paths work on one record at once (a plan
// is never resumed by one while another carries it out), reads them by id
// (the current record, whatever the search says), and runs them. The
// outcomes are parallel to ids; a record the CRM does not have is
// "missing".
func (e *Engine) hold(ctx context.Context, ids []string, mk func(r registration.Record, o *Outcome) *work) ([]Outcome, error) {
	outs := make([]Outcome, len(ids))
	byID := make(map[string]*Outcome, len(ids))
	for i, id := range ids {
		outs[i] = Outcome{ID: id, Result: ResultMissing}
		byID[id] = &outs[i]
	}
	unlock, err := e.lockRecords(ctx, ids)
	if err != nil {
		for i := range outs {
			outs[i].Result = resultPending
		}
		return outs, err
	}
	defer unlock()
	recs, err := e.crm.Registrations(ctx, ids)
	if err != nil {
		for i := range outs {
			outs[i].Result = resultPending
		}
		return outs, fmt.Errorf("read %d registrations: %w", len(ids), err)
	}
	e.ov.observe(e.now(), recs...)
	e.seen.note(ids)
	works := make([]*work, 0, len(recs))
	for i := range recs {
		o := byID[recs[i].ID]
		if o == nil {
			continue
		}
		o.Result = resultPending
		works = append(works, mk(recs[i], o))
	}
	e.run(ctx, works)
	e.storeStaleKeys(ctx, works)
	return outs, nil
}

// Transition applies a change decided outside the rules — attribution: a
// deal was opened for an approved registration (converted), its deal closed
// (won, lost) — to the registrations with these ids, with the same plan,
// write-back, audit note, audit log and partner notification as a
// decision. change sees each record as the CRM holds it and returns the
// decision, more fields to write (attributed_at, deal_id…), and whether
// to apply it. A change the transition table forbids is logged and not
// written.
func (e *Engine) Transition(ctx context.Context, ids []string,
	change func(r *registration.Record) (d rules.Decision, fields map[string]string, ok bool)) ([]Outcome, error) {
	return e.hold(ctx, ids, func(r registration.Record, o *Outcome) *work {
		return &work{rec: r, key: e.Key(r.ID), out: o, custom: change}
	})
}
