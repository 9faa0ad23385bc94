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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Steps of a plan, in order.
const (
	stepWrite  = "write"
	stepLink   = "link"
	stepTask   = "task"
	stepNote   = "note"
	stepAudit  = "audit"
	stepNotify = "notify"
)

// EngineOptions configure an Engine.
type EngineOptions struct {
	// CRM is the connector. Required.
	CRM connectors.CRM
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
	crm  connectors.CRM
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

// Outcome is what processing did with one record.
type Outcome struct {
	ID string
	// Result: decided (a decision was written), resumed (a plan was
	// finished), echo (our own write came back), observed (nothing to do),
	// waiting (an approval waits for earlier rivals to show in the CRM's
	// search: looked at again at Until), created (registered by Create,
	// decided next by the worker), exists (Create: already registered),
	// missing (not in the CRM), failed.
	Result string
	// Until is when a waiting registration is looked at again (the
	// engine's clock).
	Until    time.Time
	Decision *rules.Decision
	Record   registration.Record // the record as it stands after processing
	Err      error
}

// Permanent reports whether err is a definite refusal (see
// connectors.Class): retrying cannot mend it, and a write it answers was
// not applied. Anything else — a write whose outcome is unknown included —
// is not permanent.
func Permanent(err error) bool {
	return err != nil && connectors.ClassOf(err) == connectors.ClassPermanent
}

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

// planData is what a plan remembers of its decision, to finish the side
// effects after a crash without deciding again.
type planData struct {
	From         registration.Status `json:"from"`
	To           registration.Status `json:"to"`
	Reason       string              `json:"reason"`
	Message      string              `json:"message"`
	Missing      []string            `json:"missing,omitempty"`
	CaseNumber   string              `json:"case_number,omitempty"`
	CompanyName  string              `json:"company_name,omitempty"`
	PartnerID    string              `json:"partner_id,omitempty"`
	PartnerEmail string              `json:"partner_email,omitempty"`
	Owner        string              `json:"owner,omitempty"`
	CompanyID    string              `json:"company_id,omitempty"`
	DealID       string              `json:"deal_id,omitempty"`
	HoldUntil    time.Time           `json:"hold_until,omitzero"`
	MeetingDue   time.Time           `json:"meeting_due,omitzero"`
	SLADue       time.Time           `json:"sla_due,omitzero"`
	Actor        string              `json:"actor"`
	Trace        []rules.Check       `json:"trace,omitempty"`
	At           time.Time           `json:"at"`
	// Task is the AE task to open, if any.
	Task *connectors.Task `json:"task,omitempty"`
	// Rivals are in_review conflict_pending rivals waiting on this one.
	Rivals []string `json:"rivals,omitempty"`
}

// fingerprint is what regsync last wrote to (or saw on) a record: its
// status and reason, a digest of every field, and the registrable domain
// and submitted_at it had — a domain set or changed since, under the same
// submitted_at, is a new claim on that domain (identify).
type fingerprint struct {
	Status registration.Status
	Reason string
	Digest string
	// Known is set when Domain and At were recorded (fingerprints written
	// before they were kept have only the first three parts).
	Known  bool
	Domain string
	At     string
}

func (f fingerprint) String() string {
	return string(f.Status) + "|" + f.Reason + "|" + f.Digest + "|" + f.Domain + "|" + f.At
}

func parseFingerprint(s string) (fingerprint, bool) {
	parts := strings.SplitN(s, "|", 5)
	switch len(parts) {
	case 3:
		return fingerprint{Status: registration.Status(parts[0]), Reason: parts[1], Digest: parts[2]}, true
	case 5:
		return fingerprint{Status: registration.Status(parts[0]), Reason: parts[1], Digest: parts[2],
			Known: true, Domain: parts[3], At: parts[4]}, true
	}
	return fingerprint{}, false
}

// fingerprintOf digests every CRM field of r but its id.
func fingerprintOf(r *registration.Record) fingerprint {
	h := sha256.New()
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		h.Write([]byte(f.Name))
		h.Write([]byte{'='})
		h.Write([]byte(f.Get(r)))
		h.Write([]byte{0})
	}
	return fingerprint{Status: r.Status, Reason: r.StatusReason, Digest: hex.EncodeToString(h.Sum(nil)[:16]),
		Known: true, Domain: r.DomainKey, At: placeText(r)}
}

// placeText is the place in line as a fingerprint keeps it: submitted_at
// and submission_seq (a new place within the same second on Salesforce
// differs by its sequence).
func placeText(r *registration.Record) string {
	at, _ := r.Get("submitted_at")
	seq, _ := r.Get("submission_seq")
	return at + "/" + seq
}

// Process looks at the registrations with these CRM ids: decides the new
// ones, follows through what humans changed, finishes interrupted plans,
// and writes everything back in batch. Outcomes are parallel to ids. The
// error is for failures of the whole batch (the CRM could not be read);
// per-record failures are in the outcomes.
func (e *Engine) Process(ctx context.Context, ids []string) ([]Outcome, error) {
	return e.ProcessSweeping(ctx, ids, nil)
}

// ProcessSweeping is Process where the records with sweep[id] set are
// swept (rules.Sweep) even when they did not change: a rival they wait on
// may have been decided, or time may have passed.
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
		outs[i] = Outcome{ID: id, Result: "missing"}
		byID[id] = &outs[i]
	}
	unlock, err := e.lockRecords(ctx, ids)
	if err != nil {
		for i := range outs {
			outs[i].Result = ""
		}
		return outs, err
	}
	defer unlock()
	recs, err := e.crm.Registrations(ctx, ids)
	if err != nil {
		for i := range outs {
			outs[i].Result = ""
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
		o.Result = ""
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
			w.out.Result, w.out.Err = "failed", err
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
					w.out.Result, w.out.Err = "failed", err
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
			w.out.Result = "echo"
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
		if prev.out.Err != nil && w.out.Result == "" {
			w.out.Result, w.out.Err = "failed", fmt.Errorf("finish the earlier decision first: %w", prev.out.Err)
		}
	}

	// What is decided now, under the claim locks of its companies.
	var deciding []*work
	for _, w := range works {
		if w.out.Result == "" && w.act != actNone {
			e.identify(w, now)
			deciding = append(deciding, w)
		}
	}
	release := func() {}
	if len(deciding) > 0 {
		unlock, err := e.lockClaims(ctx, deciding)
		if err != nil {
			for _, w := range deciding {
				w.out.Result, w.out.Err = "failed", err
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
		if w.out.Result == "" && needsFacts(w, p) {
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
				w.out.Result, w.out.Err = "failed", fmt.Errorf("gather facts: %w", err)
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
			if w.out.Result != "" {
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
				w.out.Result, w.out.Until = "waiting", until
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
			if w.out.Result == "observed" {
				fps[w.key] = fingerprintOf(&w.rec).String()
			}
		}
		if err := e.o.State.SetFingerprints(fps); err != nil {
			e.log.Warn("remember fingerprints", "records", len(fps), "err", err)
		}
	}
	for _, w := range works {
		if w.out.Result == "" {
			w.out.Result = "observed"
		}
		w.out.Record = w.rec
		e.m.Processed.WithLabelValues(w.out.Result).Inc()
	}
}

// writtenBeneath reports whether a record that no longer matches its
// plan's fingerprint still holds what only that plan's write put there:
// the decision's instant in decided_at (to the CRM's precision) with its
// status message or reason. An AE changes the status, a meeting date, an
// owner; regsync alone stamps decided_at. A plan that wrote no decided_at
// (a sweep that changed no status) cannot tell, and is void as before.
func (e *Engine) writtenBeneath(r *registration.Record, pl *state.Plan) bool {
	var data planData
	if err := json.Unmarshal(pl.Data, &data); err != nil || data.At.IsZero() || r.DecidedAt.IsZero() {
		return false
	}
	if !r.DecidedAt.Equal(data.At.UTC().Truncate(e.prec)) {
		return false
	}
	return r.StatusMessage == data.Message || r.StatusReason == data.Reason
}

// samePrint reports whether a plan's expected fingerprint is the record's:
// the same status, reason and digest (what the plan's write sets).
func samePrint(expect string, fp fingerprint) bool {
	x, ok := parseFingerprint(expect)
	return ok && x.Status == fp.Status && x.Reason == fp.Reason && x.Digest == fp.Digest
}

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
			w.out.Result = "observed"
			return false
		}
		if err := registration.CheckTransition(w.rec.Status, d.Status, d.Reason); err != nil {
			e.log.Warn("transition not allowed; left as it is", "case", w.rec.CaseNumber, "err", err)
			w.out.Result = "observed"
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
		w.out.Result = "observed"
		return false
	}
	w.decision = d
	if !d.Changed {
		w.out.Result = "observed"
		if d.Escalate {
			w.out.Result = "escalate"
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

// identify gives w's record the identity regsync writes with its first
// decision, when the CRM lacks it: the case number (derived from the CRM
// id, so the same on every read) and the place in line — submitted_at is
// the CRM's creation time of a record created outside regsync, never the
// instant regsync first saw it. A registration whose registrable domain
// was set or changed since regsync last saw it, under the same
// submitted_at, claims the new domain afresh: its place starts at the
// change (the CRM's modification time).
func (e *Engine) identify(w *work, now time.Time) {
	r := &w.rec
	stamp := func(name string) {
		if w.stamp == nil {
			w.stamp = map[string]string{}
		}
		w.stamp[name], _ = r.Get(name)
	}
	if r.CaseNumber == "" && r.ID != "" {
		r.CaseNumber = e.derivedCase(r.ID)
		stamp("case_number")
	}
	switch {
	case r.SubmittedAt.IsZero():
		t := r.CreatedAt
		if t.IsZero() {
			t = now
		}
		r.SubmittedAt = t.UTC().Truncate(e.prec)
		stamp("submitted_at")
	case w.hasFP && w.prevFP.Known && r.DomainKey != "" && w.prevFP.Domain != r.DomainKey && w.prevFP.At == placeText(r):
		t := r.ModifiedAt
		if t.IsZero() {
			t = now
		}
		e.log.Info("the registration names another company domain: a new place in line", "case", r.CaseNumber,
			"from", w.prevFP.Domain, "to", r.DomainKey, "submitted_at", t.UTC().Truncate(e.prec))
		r.SubmittedAt, r.SubmissionSeq = t.UTC().Truncate(e.prec), 0
		stamp("submitted_at")
		stamp("submission_seq")
	}
}

// identifyRivals gives the rivals in f the identity identify would give
// them: a record created outside regsync and not yet decided is in line
// from its creation time, under its derived case number.
func (e *Engine) identifyRivals(f *registration.Facts) {
	for i := range f.Registrations {
		o := &f.Registrations[i]
		if o.CaseNumber == "" && o.ID != "" {
			o.CaseNumber = e.derivedCase(o.ID)
		}
		if o.SubmittedAt.IsZero() && !o.CreatedAt.IsZero() {
			o.SubmittedAt = o.CreatedAt.UTC().Truncate(e.prec)
		}
	}
}

// derivedCase is the case number of a registration created outside regsync.
func (e *Engine) derivedCase(id string) string {
	return registration.CaseNumberFor("crm:" + e.crm.Name() + ":" + id)
}

func (e *Engine) debugFacts(ctx context.Context, w *work) {
	if !e.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var rv []string
	for _, o := range w.facts.Registrations {
		rv = append(rv, o.CaseNumber+"/"+o.ID+":"+string(o.Status))
	}
	e.log.Debug("facts", "case", w.rec.CaseNumber, "id", w.rec.ID, "rivals", strings.Join(rv, ","), "deals", len(w.facts.OpenDeals))
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
		if w.out.Result != "observed" || w.rec.Status != registration.StatusInReview || w.rec.StatusReason != rules.ReasonConflictPending {
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

// loadLocal reads fingerprints and plans for the batch.
func (e *Engine) loadLocal(works []*work) error {
	if e.o.State == nil {
		return nil
	}
	keys := make([]string, len(works))
	for i, w := range works {
		keys[i] = w.key
	}
	fps, err := e.o.State.Fingerprints(keys...)
	if err != nil {
		return err
	}
	plans, err := e.o.State.Plans(keys...)
	if err != nil {
		return err
	}
	for _, w := range works {
		if s, ok := fps[w.key]; ok {
			w.prevFP, w.hasFP = parseFingerprint(s)
		}
		if pl, ok := plans[w.key]; ok {
			w.plan = &pl
		}
	}
	return nil
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

// overridden audits a human's change the transition table forbids: kept,
// never reverted.
func (e *Engine) overridden(w *work, prev registration.Status, d rules.Decision, now time.Time) {
	w.out.Result = "observed"
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

// plan turns a decision into the record's update and the side effects owed.
func (e *Engine) plan(w *work, p *rules.Policy, now time.Time) {
	r, d := &w.rec, w.decision
	u := map[string]string{}
	set := func(name, v string) {
		if cur, _ := r.Get(name); cur != v {
			u[name] = v
		}
	}
	setTime := func(name string, t time.Time) {
		if t.IsZero() {
			set(name, "")
			return
		}
		set(name, t.UTC().Truncate(e.prec).Format(time.RFC3339Nano))
	}
	from := r.Status
	if w.act == actManual && w.hasFP && w.prevFP.Status.Valid() {
		// A human changed the status in the CRM: the transition is from
		// what regsync last saw, and the partner hears of it.
		from = w.prevFP.Status
	}
	if from == registration.StatusNone {
		from = registration.StatusSubmitted
	}
	actor := "regsync"
	if w.act == actManual {
		actor = "crm"
	}
	set("status", string(d.Status))
	set("status_reason", d.Reason)
	set("status_message", d.Message)
	setTime("hold_until", d.HoldUntil)
	setTime("meeting_due", d.MeetingDue)
	if d.Status.Waiting() {
		setTime("sla_due", d.SLADue)
	}
	if d.Owner != "" {
		set("owner_id", d.Owner)
	}
	set("conflict_with", d.ConflictWith)
	if d.Status == registration.StatusDeclined {
		set("declined_reason", d.Reason) // kept when the partner appeals
	}
	for k, v := range w.stamp {
		u[k] = v // identity the CRM lacks (identify)
	}
	decision := d.Status != from || w.act == actDecide || w.act == actManual
	if decision && d.Status != registration.StatusSubmitted {
		setTime("decided_at", now)
		if r.FirstResponseAt.IsZero() {
			setTime("first_response_at", now)
		}
	}
	if d.Status == registration.StatusApproved && r.ApprovedAt.IsZero() {
		setTime("approved_at", now)
	}
	if w.facts.Company != nil && r.CompanyID == "" {
		set("company_id", w.facts.Company.ID)
	}
	// Links are made once, when regsync first learns the company or the
	// partner's own deal: a lookup an AE set or changed is theirs.
	linkCompany, linkDeal := "", ""
	if w.facts.Company != nil && r.CompanyID == "" {
		linkCompany = w.facts.Company.ID
	}
	if r.DealID == "" {
		for _, dl := range w.facts.OpenDeals {
			if dl.PartnerID != "" && dl.PartnerID == r.PartnerID {
				linkDeal = dl.ID // the partner's own deal on the company
				set("deal_id", linkDeal)
				break
			}
		}
	}
	for k, v := range w.extra {
		set(k, v)
	}
	w.update = u

	data := planData{
		From: from, To: d.Status, Reason: d.Reason, Message: d.Message, Missing: d.Missing,
		CaseNumber: r.CaseNumber, CompanyName: r.CompanyName, PartnerID: r.PartnerID, PartnerEmail: r.PartnerEmail,
		Owner: firstNonEmpty(d.Owner, r.OwnerID), CompanyID: linkCompany, DealID: linkDeal, HoldUntil: d.HoldUntil, MeetingDue: d.MeetingDue,
		SLADue: d.SLADue, Actor: actor, Trace: d.Trace, At: now,
	}
	data.Task = aeTask(p, r, d, data, now)
	if d.Status != registration.StatusInReview || d.Reason != rules.ReasonConflictPending {
		// A decision that takes this registration out of pending may settle
		// rivals waiting on it.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusInReview && o.StatusReason == rules.ReasonConflictPending &&
				o.ID != "" && slices.Contains(strings.Split(o.ConflictWith, ","), data.CaseNumber) {
				data.Rivals = append(data.Rivals, o.ID)
			}
		}
	}
	if d.Status == registration.StatusMeetingBooked && p.Rules.Conflict.Policy == rules.FirstMeetingWins {
		// The race is won: the other partners' approved racers on the
		// company have lost it, now rather than at the next sweep.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusApproved && o.PartnerID != r.PartnerID && o.ID != "" &&
				o.DomainKey != "" && o.DomainKey == r.DomainKey && !slices.Contains(data.Rivals, o.ID) {
				data.Rivals = append(data.Rivals, o.ID)
			}
		}
	}
	w.data = data
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// expected is the record as it will read back once the update landed.
func expected(r registration.Record, u map[string]string) registration.Record {
	for k, v := range u {
		_ = r.Set(k, v)
	}
	return r
}

// commit stores the plans, writes the updates in batch, and records what
// was written (fingerprints, the plans' write step, the overlay, channels
// waiting for a decision). It returns the works whose decision landed: the
// caller runs their side effects.
func (e *Engine) commit(ctx context.Context, ws []*work, now time.Time) []*work {
	if len(ws) == 0 {
		return nil
	}
	if e.o.State != nil {
		plans := make([]state.Plan, 0, len(ws))
		for _, w := range ws {
			exp := expected(w.rec, w.update)
			data, err := json.Marshal(w.data)
			if err != nil {
				w.out.Result, w.out.Err = "failed", err
				continue
			}
			pl := state.Plan{Key: w.key, Expect: fingerprintOf(&exp).String(), Data: data, At: now,
				Steps: []string{stepWrite, stepLink, stepTask, stepNote, stepAudit, stepNotify}}
			plans = append(plans, pl)
			w.plan = &plans[len(plans)-1]
		}
		if err := e.o.State.PutPlans(plans...); err != nil {
			for _, w := range ws {
				w.out.Result, w.out.Err = "failed", err
			}
			return nil
		}
	}
	var batch []*work
	var updates []connectors.Update
	for _, w := range ws {
		if w.out.Result != "" {
			continue
		}
		batch = append(batch, w)
		if len(w.update) > 0 {
			updates = append(updates, connectors.Update{ID: w.rec.ID, Fields: w.update, Keys: keysToStore(&w.rec)})
		}
	}
	var results []connectors.Result
	if len(updates) > 0 {
		var err error
		results, err = e.crm.Write(ctx, updates)
		if err != nil && len(results) != len(updates) {
			results = make([]connectors.Result, len(updates))
			for i := range results {
				results[i].Err = fmt.Errorf("write %d decisions: %w", len(updates), err)
			}
		}
	}
	var ok, refused, unknown []*work
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
			w.out.Result, w.out.Err = "failed", res.Err
			refused = append(refused, w)
		default:
			// Not heard: the CRM may have applied it. The plan stays.
			w.out.Err = res.Err
			unknown = append(unknown, w)
		}
	}
	e.dropPlans(refused)
	ok = append(ok, e.settleUnknown(ctx, unknown)...)
	if len(ok) == 0 {
		return nil
	}
	if e.o.State != nil {
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
	recs := make([]registration.Record, 0, len(ok))
	var quiet []string
	for _, w := range ok {
		w.out.Result = "decided"
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
	// The partner has seen these decisions in their channel: no status
	// e-mail, also when the plan is resumed after a later step failed.
	if e.o.State != nil && len(quiet) > 0 {
		if err := e.o.State.FinishSteps(quiet, stepNotify); err != nil {
			e.log.Warn("record decisions shown in the channel", "err", err)
		}
		for _, w := range ok {
			if w.quiet && w.plan != nil {
				w.plan.Steps = slices.DeleteFunc(w.plan.Steps, func(s string) bool { return s == stepNotify })
			}
		}
	}
	// Later decisions see these at once, whatever the search says.
	e.ov.observe(now, recs...)
	return ok
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
			w.out.Result = "unknown"
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
		w.out.Result = "failed"
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

// resume finishes the side effects of plans whose write landed.
func (e *Engine) resume(ctx context.Context, ws []*work) {
	var ok []*work
	for _, w := range ws {
		var data planData
		if err := json.Unmarshal(w.plan.Data, &data); err != nil {
			w.out.Result, w.out.Err = "failed", fmt.Errorf("plan of %s: %w", w.key, err)
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
				w.out.Result, w.out.Err = "failed", err
				continue
			}
			if err := e.o.State.FinishSteps([]string{w.key}, stepWrite); err != nil {
				w.out.Result, w.out.Err = "failed", err
				continue
			}
			w.plan.Steps = slices.DeleteFunc(w.plan.Steps, func(s string) bool { return s == stepWrite })
		}
		w.out.Result = "resumed"
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
				w.out.Result, w.out.Err = "failed", err
			}
		}
	}
	fail := func(group []*work, step string, err error) {
		for _, w := range group {
			w.out.Result, w.out.Err = "failed", fmt.Errorf("%s: %w", step, err)
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

// aeTask is the AE's to-do for a decision, if it needs one: a review for
// in_review and appeals, a follow-up for approvals.
func aeTask(p *rules.Policy, r *registration.Record, d rules.Decision, data planData, now time.Time) *connectors.Task {
	company := firstNonEmpty(r.CompanyName, r.CompanyDomain, "a prospect")
	partner := r.PartnerID
	if pt, ok := p.Partner(r.PartnerID); ok && pt.Name != "" {
		partner = pt.Name
	}
	var subject, body string
	due := d.SLADue
	switch d.Status {
	case registration.StatusInReview:
		subject = fmt.Sprintf("Review partner registration %s: %s (%s)", data.CaseNumber, company, d.Reason)
		body = fmt.Sprintf("%s registered %s (%s). The rules sent it to review: %s.\n\n%s", partner, company, r.CompanyDomain,
			d.Reason, traceText(d.Trace))
	case registration.StatusAppealed:
		subject = fmt.Sprintf("Decide the appeal of partner registration %s: %s", data.CaseNumber, company)
		body = fmt.Sprintf("%s appealed the decline of %s (%s). Set the status to approved or declined.", partner, company, r.CompanyDomain)
	case registration.StatusApproved:
		subject = fmt.Sprintf("Approved partner registration %s: %s — first meeting by %s", data.CaseNumber, company, d.MeetingDue.Format("2 Jan 2006"))
		body = fmt.Sprintf("%s's registration of %s (%s) is approved and protected until %s. Make sure the first meeting is logged by %s.",
			partner, company, r.CompanyDomain, d.HoldUntil.Format("2 Jan 2006"), d.MeetingDue.Format("2 Jan 2006"))
		due = d.MeetingDue
	default:
		return nil
	}
	if due.IsZero() {
		due = now.Add(48 * time.Hour)
	}
	return &connectors.Task{OwnerID: data.Owner, Subject: subject, Body: body, Due: due}
}

// auditNote is the CRM note recording a decision and its trace.
func auditNote(d planData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "regsync: %s → %s (%s) by %s at %s\n", d.From, d.To, d.Reason, d.Actor, d.At.Format(time.RFC3339))
	if d.Message != "" {
		fmt.Fprintf(&b, "Partner was told: %s\n", d.Message)
	}
	b.WriteString(traceText(d.Trace))
	return b.String()
}

func traceText(trace []rules.Check) string {
	var b strings.Builder
	for _, c := range trace {
		fmt.Fprintf(&b, "- %s: %s", c.Name, c.Result)
		if c.Detail != "" {
			b.WriteString(" — ")
			b.WriteString(c.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
