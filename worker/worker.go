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
	"github.com/regsync/regsync/state"
)

// Options configure a Worker.
type Options struct {
	Engine *Engine
	State  *state.DB
	Logger *slog.Logger
	// Metrics defaults to the engine's.
	Metrics *metrics.Metrics
	Now     func() time.Time

	// BatchSize is how many inbox items one batch takes (default 100, the
	// CRM batch size).
	BatchSize int
	// Concurrency is how many batches run at once (default 2): enough to
	// hide network latency; the connector's limiter paces the calls.
	Concurrency int
	// LeaseFor is how long a batch holds its items (default 5m); a crashed
	// worker's items come back after it.
	LeaseFor time.Duration
	// Idle is how long the drain loop waits for work before looking at the
	// inbox again when nobody Kicks it (default 1s).
	Idle time.Duration
	// EscalationTo receives SLA escalations for partners without a manager.
	EscalationTo []string
}

// Worker drains the inbox, polls the CRM's change feed and runs the sweeps.
type Worker struct {
	o    Options
	e    *Engine
	db   *state.DB
	crm  CRM
	log  *slog.Logger
	m    *metrics.Metrics
	wake chan struct{}

	sweepMu sync.Mutex // one sweep at a time (cron, admin endpoint, CLI)
}

// New builds a Worker.
func New(o Options) (*Worker, error) {
	if o.Engine == nil || o.State == nil {
		return nil, errors.New("worker: needs an engine and the state file")
	}
	if o.Logger == nil {
		o.Logger = o.Engine.log
	}
	if o.Metrics == nil {
		o.Metrics = o.Engine.m
	}
	if o.Now == nil {
		o.Now = time.Now // the inbox's clock: real time, whatever the business clock says
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.LeaseFor <= 0 {
		o.LeaseFor = 5 * time.Minute
	}
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	return &Worker{o: o, e: o.Engine, db: o.State, crm: o.Engine.crm, log: o.Logger, m: o.Metrics,
		wake: make(chan struct{}, 1)}, nil
}

// Kick tells the drain loop that work arrived. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run drains the inbox until ctx ends, with Concurrency batches in flight.
// When ctx ends no new batch starts; Run returns once the batches in flight
// finished, or when hard ends (their CRM calls are then cancelled and their
// items come back after the lease).
func (w *Worker) Run(ctx, hard context.Context) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, w.o.Concurrency)
	work := context.WithoutCancel(hard)
	work, cancel := context.WithCancel(work)
	defer cancel()
	go func() {
		select {
		case <-hard.Done():
			cancel()
		case <-work.Done():
		}
	}()
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		items, err := w.db.Lease(w.o.BatchSize, w.o.LeaseFor)
		if err != nil {
			<-sem
			w.log.Error("lease inbox items", "err", err)
			w.sleep(ctx, w.o.Idle)
			continue
		}
		if len(items) == 0 {
			<-sem
			w.sleep(ctx, w.o.Idle)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.handle(work, items)
			w.Kick() // there may be more
		}()
	}
	wg.Wait()
	return nil
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// Drain processes the inbox until nothing is due, one batch at a time, and
// returns how many items it handled. Tests and `regsync sweep` use it.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		items, err := w.db.Lease(w.o.BatchSize, w.o.LeaseFor)
		if err != nil {
			return n, err
		}
		if len(items) == 0 {
			return n, nil
		}
		w.handle(ctx, items)
		n += len(items)
	}
	return n, ctx.Err()
}

// handle processes one leased batch and acks, retries or buries each item.
func (w *Worker) handle(ctx context.Context, items []state.Item) {
	regs, deals, other := w.partition(items)
	var ack []state.Item
	ack = append(ack, w.handleDeals(ctx, deals)...)
	for _, it := range other {
		w.log.Debug("inbox item for an object regsync does not follow; dropped", "key", it.Key)
		ack = append(ack, it)
	}
	ack = append(ack, w.handleRegistrations(ctx, regs)...)
	if lost, err := w.db.AckAll(ack); err != nil {
		w.log.Error("ack inbox items", "items", len(ack), "err", err)
	} else if len(lost) > 0 {
		w.log.Warn("inbox leases expired before their items were acked; they will be looked at again", "items", len(lost))
	}
	w.gauge()
}

// partition sorts a batch's items into registrations, deals (attribution)
// and items of objects regsync does not follow.
func (w *Worker) partition(items []state.Item) (regs, deals, other []state.Item) {
	for _, it := range items {
		switch {
		case it.CRM != w.crm.Name():
			other = append(other, it)
		case it.Object == w.e.o.Object:
			regs = append(regs, it)
		case w.e.o.DealObject != "" && it.Object == w.e.o.DealObject:
			deals = append(deals, it)
		default:
			other = append(other, it)
		}
	}
	return regs, deals, other
}

// handleDeals attributes the deals and returns the items done; the others
// are failed (fail).
func (w *Worker) handleDeals(ctx context.Context, deals []state.Item) (ack []state.Item) {
	if len(deals) == 0 {
		return nil
	}
	errs := w.attribute(ctx, deals)
	for i, it := range deals {
		if errs[i] != nil {
			w.fail(it, errs[i])
		} else {
			ack = append(ack, it)
		}
	}
	return ack
}

// handleRegistrations processes the registrations — swept when a rival
// they wait on was decided or a re-check is due — and returns the items
// done; the others are failed (fail).
func (w *Worker) handleRegistrations(ctx context.Context, regs []state.Item) (ack []state.Item) {
	if len(regs) == 0 {
		return nil
	}
	ids := make([]string, len(regs))
	sweep := map[string]bool{}
	for i, it := range regs {
		ids[i] = it.RecordID
		for _, r := range it.Reasons() {
			if r == "recheck" || r == "rival_decided" {
				sweep[it.RecordID] = true
			}
		}
	}
	outs, err := w.e.ProcessSweeping(ctx, ids, sweep)
	for i, it := range regs {
		o := outs[i]
		if err != nil && o.Err == nil && o.Result != ResultMissing {
			o.Err = err
		}
		if o.Err == nil {
			ack = append(ack, it)
			continue
		}
		w.fail(it, o.Err)
	}
	return ack
}

// fail decides what becomes of an item whose processing failed, by the
// failure's class (connectors.ClassOf; the table is docs/errors.md):
//
//   - permanent: the CRM refused the record for good; it goes to the dead
//     letters, which record the class and the reason;
//   - postpone: the CRM said to wait (a rate or daily limit); the item
//     comes back not before the CRM's time (Error.After, a minute when it
//     did not say), and no attempt is counted against it;
//   - retry and unknown (and an error no connector classified, which is
//     unknown): the item comes back after a backoff that grows with its
//     attempts up to a cap (state.DefaultBackoff: 30 minutes), and not
//     before a wait the CRM asked for.
//
// A transient fault never dead-letters an item, however many times it
// recurs.
func (w *Worker) fail(it state.Item, cause error) {
	w.m.CRMFailed.WithLabelValues(w.crm.Name(), connectors.Reason(cause)).Inc()
	class := connectors.ClassOf(cause)
	switch class {
	case connectors.ClassPermanent:
		w.log.Error("record refused by the CRM; moved to the dead letters", "key", it.Key, "class", class, "err", cause)
		w.m.Processed.WithLabelValues("dead").Inc()
		if err := w.db.Bury(it, cause); err != nil && !errors.Is(err, state.ErrLeaseLost) {
			w.log.Error("bury inbox item", "key", it.Key, "err", err)
		}
	case connectors.ClassPostpone:
		// The CRM said to wait: the item is fine, the allowance is not.
		// It waits as long as the CRM said, and no attempt is counted, so
		// a daily allocation that runs out for hours loses no work.
		wait := connectors.After(cause)
		if wait <= 0 {
			wait = time.Minute
		}
		if err := w.db.Postpone(it, w.o.Now().Add(wait), cause); err != nil && !errors.Is(err, state.ErrLeaseLost) {
			w.log.Error("postpone inbox item", "key", it.Key, "err", err)
		}
		w.log.Warn("CRM limit reached; the record waits", "key", it.Key, "wait", wait, "reason", connectors.Reason(cause))
	default:
		if err := w.db.Retry(it, string(class), connectors.After(cause), cause); err != nil && !errors.Is(err, state.ErrLeaseLost) {
			w.log.Error("retry inbox item", "key", it.Key, "err", err)
			return
		}
		w.log.Warn("record failed; will retry", "key", it.Key, "class", class, "attempt", it.Attempts+1, "err", cause)
	}
}

// gauge refreshes the inbox gauges.
func (w *Worker) gauge() {
	st, err := w.db.InboxStats()
	if err != nil {
		return
	}
	w.m.InboxDepth.Set(float64(st.Pending))
	w.m.InboxDeadLetters.Set(float64(st.Dead))
	if st.OldestEnqueued.IsZero() {
		w.m.InboxOldestAge.Set(0)
	} else {
		w.m.InboxOldestAge.Set(w.o.Now().Sub(st.OldestEnqueued).Seconds())
	}
}

// Gauge refreshes the inbox gauges (for /metrics).
func (w *Worker) Gauge() { w.gauge() }

// Enqueue durably adds records to the inbox (after which they are safe)
// and wakes the drain loop.
func (w *Worker) Enqueue(object string, ids []string, reason string) error {
	if len(ids) == 0 {
		return nil
	}
	items := make([]state.Item, len(ids))
	for i, id := range ids {
		items[i] = state.Item{CRM: w.crm.Name(), Object: object, RecordID: id, Reason: reason}
	}
	if err := w.db.Enqueue(items...); err != nil {
		return err
	}
	w.Kick()
	return nil
}

// activeStatuses are what sweeps look at: everything time can change
// (needs_info expires after rules.needs_info_expire_days).
var activeStatuses = []registration.Status{
	registration.StatusSubmitted, registration.StatusInReview, registration.StatusAppealed,
	registration.StatusApproved, registration.StatusMeetingBooked, registration.StatusNeedsInfo,
}

// SweepResult says what a sweep did.
type SweepResult struct {
	Looked    int `json:"looked"`    // active registrations found
	Changed   int `json:"changed"`   // decisions written (expired, conflict_lost, re-decided)
	Escalated int `json:"escalated"` // SLA escalations sent (each once)
	Failed    int `json:"failed"`
}

// Sweep applies the passing of time to every active registration: expiry
// after the meeting deadline or the window, the first-meeting race, the
// re-decision of conflict_pending registrations whose rivals are settled,
// and SLA escalations (once per registration and deadline).
func (w *Worker) Sweep(ctx context.Context) (SweepResult, error) {
	w.sweepMu.Lock()
	defer w.sweepMu.Unlock()
	start := time.Now()
	res, err := w.sweep(ctx)
	w.m.SweepDuration.WithLabelValues("sweep").Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	w.m.SweepRuns.WithLabelValues("sweep", result).Inc()
	return res, err
}

func (w *Worker) sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	recs, err := w.crm.Find(ctx, activeStatuses)
	if err != nil {
		return res, fmt.Errorf("sweep: find active registrations: %w", err)
	}
	res.Looked = len(recs)
	var escalate []Outcome
	// Each batch is read again by id under the records' locks, like any
	// other path that decides: the search's copy may lag, and another path
	// may be working on a record right now.
	for i := 0; i < len(recs); i += w.o.BatchSize {
		batch := recs[i:min(i+w.o.BatchSize, len(recs))]
		ids := make([]string, len(batch))
		sweep := make(map[string]bool, len(batch))
		for j := range batch {
			ids[j] = batch[j].ID
			sweep[ids[j]] = true
		}
		outs, err := w.e.ProcessSweeping(ctx, ids, sweep)
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		for _, o := range outs {
			switch o.Result {
			case ResultDecided, ResultResumed:
				res.Changed++
			case ResultEscalate:
				escalate = append(escalate, o)
			case ResultFailed:
				res.Failed++
				w.log.Warn("sweep: record failed; the next sweep tries again", "id", o.ID, "err", o.Err)
			}
		}
	}
	n, err := w.escalate(ctx, escalate)
	res.Escalated = n
	if err != nil {
		return res, err
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("sweep: %d of %d registrations failed", res.Failed, res.Looked)
	}
	return res, nil
}

// escalate opens an AE task and tells the partner manager, once per
// registration and SLA deadline.
func (w *Worker) escalate(ctx context.Context, outs []Outcome) (int, error) {
	type esc struct {
		key string
		o   Outcome
		due time.Time
	}
	var todo []esc
	for _, o := range outs {
		due := o.Decision.SLADue
		if due.IsZero() {
			due = o.Record.SLADue
		}
		key := "escalated/" + w.e.Key(o.ID) + "/" + due.UTC().Format(time.RFC3339)
		if ok, _ := w.db.Escalations().Keep(key); ok {
			continue
		}
		todo = append(todo, esc{key, o, due})
	}
	if len(todo) == 0 {
		return 0, nil
	}
	// Side effects for a record happen under its lock, like every other.
	ids := make([]string, len(todo))
	for i, t := range todo {
		ids[i] = t.o.ID
	}
	unlock, err := w.e.lockRecords(ctx, ids)
	if err != nil {
		return 0, err
	}
	defer unlock()
	p := w.e.o.Policy()
	tasks := make([]connectors.Task, 0, len(todo))
	var ns []Notification
	for _, t := range todo {
		r := t.o.Record
		subject, body := escalationTask(&r, t.due)
		tasks = append(tasks, connectors.Task{RegistrationID: r.ID, OwnerID: r.OwnerID, Due: w.o.Now(), Key: t.key,
			Subject: subject, Body: body})
		to := w.o.EscalationTo
		partner := r.PartnerID
		if pt, ok := p.Partner(r.PartnerID); ok {
			partner = firstNonEmpty(pt.Name, pt.ID)
			if pt.Manager != "" {
				to = []string{pt.Manager}
			}
		}
		if len(to) > 0 {
			subject, text := escalationNotice(&r, partner, t.due)
			ns = append(ns, Notification{Kind: KindEscalation, CaseNumber: r.CaseNumber, RecordID: r.ID, PartnerID: r.PartnerID,
				Status: r.Status, To: to, StatusURL: w.e.o.StatusURL(r.CaseNumber), Subject: subject, Text: text})
		}
	}
	if err := w.crm.Task(ctx, tasks); err != nil {
		return 0, fmt.Errorf("sweep: escalation tasks: %w", err)
	}
	if w.e.o.Notifier != nil && len(ns) > 0 {
		if err := w.e.o.Notifier.Notify(ctx, ns); err != nil {
			w.log.Warn("sweep: escalation notifications failed; tasks were opened", "err", err)
		}
	}
	fps := make(map[string]string, len(todo))
	for _, t := range todo {
		fps[t.key] = t.due.UTC().Format(time.RFC3339)
		w.log.Info("SLA escalated", "case", t.o.Record.CaseNumber, "due", t.due)
	}
	if err := w.db.Escalations().PutAll(fps); err != nil {
		return len(todo), err
	}
	return len(todo), nil
}

// Reconcile compares every active registration with what regsync last
// wrote or saw, and queues those that differ: the safety net for changes
// that neither a webhook nor the poll delivered.
func (w *Worker) Reconcile(ctx context.Context) (int, error) {
	start := time.Now()
	n, err := w.reconcile(ctx)
	w.m.SweepDuration.WithLabelValues("reconcile").Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	w.m.SweepRuns.WithLabelValues("reconcile", result).Inc()
	return n, err
}

func (w *Worker) reconcile(ctx context.Context) (int, error) {
	recs, err := w.crm.Find(ctx, append(activeStatuses, registration.StatusNeedsInfo))
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	keys := make([]string, len(recs))
	for i := range recs {
		keys[i] = w.e.Key(recs[i].ID)
	}
	fps, err := w.db.Fingerprints(keys...)
	if err != nil {
		return 0, err
	}
	var ids []string
	for i := range recs {
		prev, ok := parseFingerprint(fps[keys[i]])
		if !ok || prev.Digest != fingerprintOf(&recs[i]).Digest {
			ids = append(ids, recs[i].ID)
		}
	}
	if err := w.Enqueue(w.e.o.Object, ids, "reconcile"); err != nil {
		return 0, err
	}
	return len(ids), nil
}
