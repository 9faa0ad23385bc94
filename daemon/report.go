package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/dashboard"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/worker"
)

// The report side of the daemon: GET /dashboard over a cache of the CRM's
// records kept current from the change feed, the deal change feed that
// drives attribution, and the weekly partner summaries.

// ErrNoSandbox is returned by ConnectReader for crm.kind sandbox when no
// sandbox CRM answers at crm.sandbox.addr.
var ErrNoSandbox = errors.New("crm.kind is sandbox and no sandbox CRM answers at crm.sandbox.addr: " +
	"start `regsync serve` with this configuration first (the sandbox CRM lives inside it)")

// ConnectReader builds a connector for commands that only read the CRM
// (regsync report). For kinds hubspot and salesforce it is Connect. For
// kind sandbox it reaches the sandbox CRM of a running `regsync serve` —
// the fake HubSpot portal it serves on crm.sandbox.addr, with the bearer
// token SandboxToken — and checks that it answers (one cheap call), so
// that "start serve first" is said plainly rather than as a connection
// error halfway through.
func ConnectReader(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (connectors.CRM, error) {
	if cfg.CRM.Kind != config.KindSandbox {
		c, _, err := Connect(cfg, log, now)
		return c, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hcfg := cfg.HubSpot
	hcfg.BaseURL = "http://" + cfg.CRM.Sandbox.Addr
	hcfg.Token = secret.New(SandboxToken)
	hcfg.RefreshToken = secret.Secret{}
	hcfg.PerTenSeconds = cfg.CRM.Sandbox.PerTenSeconds
	hcfg.PollSettle = cfg.SandboxPollSettle()
	c, err := hubspot.New(hcfg, hubspot.Options{Logger: log.With("connector", "hubspot"), Now: now})
	if err != nil {
		return nil, err
	}
	// Nothing listening is said at once, not after the client's retries.
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", cfg.CRM.Sandbox.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoSandbox, hcfg.BaseURL, err)
	}
	_ = conn.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoSandbox, hcfg.BaseURL, err)
	}
	return c, nil
}

// reportSide is the daemon's report side.
type reportSide struct {
	once sync.Once
	d    *Daemon

	// The dashboard handler, rebuilt when a reload changes its section.
	hmu  sync.Mutex
	hcfg *config.Config
	h    http.Handler

	// The data cache and the last snapshot built from it.
	mu      sync.Mutex
	cache   *dataCache
	snap    *dashboard.Snapshot
	failure string    // the last failed refresh, "" after a good one
	failAt  time.Time // when it failed

	// summaries is kicked by the cron; the loop it wakes sends them and
	// retries what failed.
	summaries chan struct{}
}

// dataCache holds what the dashboard needs of every registration and deal,
// kept current with the change feed since the last full read.
type dataCache struct {
	regs       map[string]registration.Record
	deals      map[string]registration.Deal
	regCursor  string
	dealCursor string
	fullAt     time.Time // the last full read
	readAt     time.Time // the last successful refresh
}

// dealCursor names the state cursor of the deal change feed.
func dealCursor(d *Daemon) string { return "poll/" + d.crm.Name() + "/" + dealObject(d.crm) }

// init sets the report side up once, whichever hook runs first.
func (s *reportSide) init(d *Daemon) {
	s.once.Do(func() {
		s.d = d
		s.summaries = make(chan struct{}, 1)
	})
}

// mountDashboard mounts GET /dashboard.
func mountDashboard(d *Daemon, mux *http.ServeMux) {
	d.rep.init(d)
	mux.Handle("GET /dashboard", &d.rep)
}

// ServeHTTP serves the dashboard with the configuration in force: a reload
// that changes the dashboard section (credentials, title, refresh) takes
// effect at the next request.
func (s *reportSide) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := s.d.cfg.Load()
	s.hmu.Lock()
	if s.hcfg != cfg {
		if s.h == nil || !sameDashboard(&s.hcfg.Dashboard, &cfg.Dashboard) {
			s.h = dashboard.New(cfg.Dashboard, s.provide, s.d.log.With("component", "dashboard"))
		}
		s.hcfg = cfg
	}
	h := s.h
	s.hmu.Unlock()
	h.ServeHTTP(w, r)
}

func sameDashboard(a, b *dashboard.Config) bool {
	return a.Token.Reveal() == b.Token.Reveal() && a.User == b.User && a.Password.Reveal() == b.Password.Reveal() &&
		a.Refresh == b.Refresh && a.Title == b.Title
}

// provide returns the last snapshot built, with the state's dead letters
// and inbox counts and the connector's usage as they are now, and a
// problem noted when the last refresh failed.
func (s *reportSide) provide(context.Context) (*dashboard.Snapshot, error) {
	s.mu.Lock()
	snap, failure, failAt := s.snap, s.failure, s.failAt
	s.mu.Unlock()
	if snap == nil {
		if failure != "" {
			return nil, errors.New("the CRM could not be read yet: " + failure)
		}
		return nil, errors.New("the CRM data is still being read")
	}
	out := *snap
	out.Problems = slices.Clone(snap.Problems)
	if failure != "" {
		out.Problems = append(out.Problems, fmt.Sprintf("The last refresh of the CRM data failed at %s UTC (%s); the figures are those read at %s UTC.",
			failAt.UTC().Format("2 Jan 15:04"), failure, out.DataAsOf.UTC().Format("2 Jan 15:04")))
	}
	db := s.d.db
	if st, err := db.InboxStats(); err == nil {
		out.Inbox = &st
	} else {
		out.Problems = append(out.Problems, "The state file could not be read: "+err.Error())
	}
	if dead, err := db.Dead(); err == nil {
		out.DeadLetters = dead
	}
	out.Budgets = []dashboard.Budget{{Connector: s.d.crm.Name(), Usage: s.d.crm.Usage()}}
	return &out, nil
}

// refreshDashboard brings the cache up to date — a full read when none was
// made, when the change-feed cursors are not known yet or when
// dashboard.full_refresh has passed; else the records changed since — and
// builds a new snapshot. A failure keeps the last snapshot and notes it.
func (s *reportSide) refreshDashboard(ctx context.Context) error {
	d := s.d
	cfg := d.cfg.Load()
	s.mu.Lock()
	c := s.cache
	s.mu.Unlock()
	now := d.now()
	var err error
	// In deals mode no deal feed runs: deals are read again at full reads.
	dealFeed := dealObject(d.crm) != d.object
	if c == nil || c.regCursor == "" || (dealFeed && c.dealCursor == "") || now.Sub(c.fullAt) >= cfg.Dashboard.FullRefresh {
		c, err = s.readAll(ctx, now)
	} else {
		c, err = s.readChanges(ctx, c, now)
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err() // shutting down: not the CRM's failure
		}
		s.mu.Lock()
		s.failure, s.failAt = err.Error(), now
		s.mu.Unlock()
		d.log.Warn("dashboard: the CRM data could not be refreshed; the last snapshot stays", "err", err)
		return err
	}
	snap, err := buildSnapshot(cfg, c, now)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cache, s.snap, s.failure = c, snap, ""
	s.mu.Unlock()
	return nil
}

// readAll reads every registration and deal. The cursors are taken from
// the worker's and the deal feed's before the read, so the next delta
// covers whatever changed while it ran.
func (s *reportSide) readAll(ctx context.Context, now time.Time) (*dataCache, error) {
	d := s.d
	regCur, err := d.db.Cursor(d.worker.PollCursor())
	if err != nil {
		return nil, err
	}
	dealCur, err := d.db.Cursor(dealCursor(d))
	if err != nil {
		return nil, err
	}
	c := &dataCache{regs: map[string]registration.Record{}, deals: map[string]registration.Deal{},
		regCursor: regCur, dealCursor: dealCur, fullAt: now, readAt: now}
	if err := d.crm.All(ctx, func(page []registration.Record) error {
		for i := range page {
			c.regs[page[i].ID] = trim(page[i])
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the registrations: %w", err)
	}
	if err := d.crm.AllDeals(ctx, func(page []registration.Deal) error {
		for _, dl := range page {
			c.deals[dl.ID] = dl
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the deals: %w", err)
	}
	d.log.Debug("dashboard: read the CRM", "registrations", len(c.regs), "deals", len(c.deals))
	return c, nil
}

// maxDelta bounds the changed records a refresh reads by id; more is read
// with the list endpoints instead.
const maxDelta = 10000

// readChanges reads the registrations and deals changed since the cache's
// cursors, into a copy of the cache.
func (s *reportSide) readChanges(ctx context.Context, old *dataCache, now time.Time) (*dataCache, error) {
	d := s.d
	regIDs, regNext, err := changedSince(ctx, d.crm.Changed, old.regCursor)
	if err != nil {
		return nil, fmt.Errorf("registrations changed: %w", err)
	}
	var dealIDs []string
	dealNext := old.dealCursor
	if old.dealCursor != "" {
		dealIDs, dealNext, err = changedSince(ctx, d.crm.ChangedDeals, old.dealCursor)
		if err != nil {
			return nil, fmt.Errorf("deals changed: %w", err)
		}
	}
	if len(regIDs)+len(dealIDs) > maxDelta {
		return s.readAll(ctx, now)
	}
	c := &dataCache{regs: old.regs, deals: old.deals, regCursor: regNext, dealCursor: dealNext, fullAt: old.fullAt, readAt: now}
	if len(regIDs) > 0 {
		recs, err := d.crm.Registrations(ctx, regIDs)
		if err != nil {
			return nil, fmt.Errorf("read %d changed registrations: %w", len(regIDs), err)
		}
		c.regs = cloneMap(old.regs)
		for _, id := range regIDs {
			delete(c.regs, id) // deleted in the CRM unless read back below
		}
		for _, r := range recs {
			c.regs[r.ID] = trim(r)
		}
	}
	if len(dealIDs) > 0 {
		deals, err := d.crm.Deals(ctx, dealIDs)
		if err != nil {
			return nil, fmt.Errorf("read %d changed deals: %w", len(dealIDs), err)
		}
		c.deals = cloneMap(old.deals)
		for _, id := range dealIDs {
			delete(c.deals, id)
		}
		for _, dl := range deals {
			c.deals[dl.ID] = dl
		}
	}
	return c, nil
}

// changedSince pages a change feed from cursor until it is exhausted (at
// most maxDelta ids).
func changedSince(ctx context.Context, feed func(context.Context, string) ([]string, string, error), cursor string) ([]string, string, error) {
	var ids []string
	for len(ids) <= maxDelta {
		got, next, err := feed(ctx, cursor)
		if err != nil {
			return nil, cursor, err
		}
		for _, id := range got {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(got) == 0 || next == cursor {
			return ids, next, nil
		}
		cursor = next
	}
	return ids, cursor, nil
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// trim keeps of a registration what the metrics and the page use: the
// long free-text fields and the contact's details are dropped, so 50,000
// cached registrations stay small.
func trim(r registration.Record) registration.Record {
	r.Problem, r.SolutionFit, r.ServicesNeeded, r.CompetingVendors = "", "", "", ""
	r.ContactName, r.ContactEmail, r.ContactRole, r.StageGuess = "", "", "", ""
	r.StatusMessage, r.SubmissionKey, r.Source, r.PartnerType = "", "", "", ""
	return r
}

// buildSnapshot computes the page's figures from the cache: the program
// metrics over every registration (by partner) and the collector's queue,
// weeks and windows.
func buildSnapshot(cfg *config.Config, c *dataCache, now time.Time) (*dashboard.Snapshot, error) {
	p := cfg.Policy
	acc, err := report.New(p, report.Options{Now: now, By: report.ByPartner})
	if err != nil {
		return nil, err
	}
	col := dashboard.NewCollector(p, now, dashboard.CollectorOptions{})
	regs := make([]registration.Record, 0, len(c.regs))
	for _, r := range c.regs {
		regs = append(regs, r)
	}
	deals := make([]registration.Deal, 0, len(c.deals))
	for _, dl := range c.deals {
		deals = append(deals, dl)
	}
	_ = acc.Add(regs)
	_ = acc.AddDeals(deals)
	_ = col.Add(regs)
	rep := acc.Result()
	snap := &dashboard.Snapshot{DataAsOf: c.readAt, Report: &rep}
	col.Fill(snap)
	return snap, nil
}

// dashboardLoop refreshes the dashboard's data every dashboard.data_refresh
// (after a failure, sooner: from 5 s, doubling up to it) until ctx ends.
func (s *reportSide) dashboardLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		wait := s.d.cfg.Load().Dashboard.DataRefresh
		if err := s.refreshDashboard(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, 5*time.Second), wait)
			wait = backoff
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pollDeals reads the deal change feed once: every deal created or changed
// since the cursor goes into the inbox (object "deals", for attribution),
// and only then does the cursor move. The first poll of a new state file
// reads every deal: history, read for its facts. Attribution credits of it
// only what a partner could have sourced (worker/credit.go) — a deal opened
// after an approved registration's submitted_at while no daemon ran — and
// never a deal that closed before the registration existed.
func pollDeals(ctx context.Context, d *Daemon) (int, error) {
	name := dealCursor(d)
	cur, err := d.db.Cursor(name)
	if err != nil {
		return 0, err
	}
	ids, next, err := d.crm.ChangedDeals(ctx, cur)
	if err != nil {
		d.m.PollRuns.WithLabelValues(d.crm.Name(), "error").Inc()
		return 0, fmt.Errorf("poll %s deals: %w", d.crm.Name(), err)
	}
	if cur == "" && len(ids) > 0 {
		d.log.Info("first deal poll of this state file: existing deals are read for their facts; only deals created after a registration's submitted_at, or accepted by an AE, are credited",
			"cursor", name, "deals", len(ids))
	}
	if err := d.worker.Enqueue(dealObject(d.crm), ids, "poll"); err != nil {
		d.m.PollRuns.WithLabelValues(d.crm.Name(), "error").Inc()
		return 0, err
	}
	if next != cur {
		if err := d.db.SetCursor(name, next); err != nil {
			return len(ids), err
		}
	}
	d.m.PollRuns.WithLabelValues(d.crm.Name(), "ok").Inc()
	return len(ids), nil
}

// dealLoop polls the deal change feed every poll interval until ctx ends;
// a full page is followed at once by the next.
func dealLoop(ctx context.Context, d *Daemon) {
	for {
		n, err := pollDeals(ctx, d)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Warn("deal poll failed; webhooks still work, the next poll catches up", "err", err)
		case err == nil && n > 0:
			d.log.Debug("deal poll", "changed", n)
		}
		wait := d.pollInterval()
		if err == nil && n >= 1000 {
			wait = 0 // more to come
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// startReportLoops starts the deal change feed (attribution), the
// dashboard's data refresh and the summaries sender; each calls wg.Done
// when ctx ends.
func startReportLoops(d *Daemon, ctx context.Context, wg *sync.WaitGroup) {
	s := &d.rep
	s.init(d)
	wg.Add(2)
	// With hubspot.object: deals a registration is itself a deal, which the
	// worker's own feed follows: there is no other deal to credit.
	if dealObject(d.crm) != d.object {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dealLoop(ctx, d)
		}()
	}
	go func() {
		defer wg.Done()
		s.dashboardLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		s.summariesLoop(ctx)
	}()
}

// --- partner summaries ---------------------------------------------------------

// addReportJobs schedules the weekly partner summaries (schedule.summaries).
func addReportJobs(d *Daemon, c *cron.Cron) error {
	d.rep.init(d)
	cfg := d.cfg.Load()
	spec := cfg.Schedule.Summaries
	if spec == "" || spec == "off" {
		return nil
	}
	loc, err := time.LoadLocation(cfg.Schedule.Timezone)
	if err != nil {
		return err
	}
	sch, err := config.ParseSchedule(spec, loc)
	if err != nil {
		return fmt.Errorf("schedule.summaries: %w", err)
	}
	// The job only wakes the summaries loop, so a retry waiting for its
	// turn never holds the cron (and the shutdown) up.
	c.Schedule(sch, cron.FuncJob(func() {
		select {
		case d.rep.summaries <- struct{}{}:
		default:
		}
	}))
	return nil
}

// summaryRetries are the waits before the retries of a summaries run that
// failed (the CRM could not be read, a message could not be handed over);
// partners already sent are never sent again.
var summaryRetries = []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// summariesLoop sends the summaries when the cron says, until ctx ends.
func (s *reportSide) summariesLoop(ctx context.Context) {
	d := s.d
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.summaries:
		}
		for attempt := 0; ; attempt++ {
			res, err := d.SendSummaries(ctx)
			if err == nil {
				d.log.Info("partner summaries", "week", res.Week, "sent", res.Sent, "already_sent", res.AlreadySent, "skipped", len(res.Skipped))
				break
			}
			if ctx.Err() != nil {
				return
			}
			if attempt >= len(summaryRetries) {
				d.log.Error("partner summaries failed; giving up until the next run", "week", res.Week, "sent", res.Sent, "err", err)
				break
			}
			d.log.Warn("partner summaries failed; will retry", "week", res.Week, "sent", res.Sent,
				"retry_in", summaryRetries[attempt], "err", err)
			t := time.NewTimer(summaryRetries[attempt])
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// SummaryResult says what a summaries run did.
type SummaryResult struct {
	Week        string        `json:"week"` // ISO week, 2026-W14
	Sent        int           `json:"sent"`
	AlreadySent int           `json:"already_sent"` // sent by an earlier run this week
	Skipped     []report.Skip `json:"skipped,omitempty"`
}

// summaryKeep is how long a composed summary is kept to be resent
// identically by a retry of its week.
const summaryKeep = 21 * 24 * time.Hour

// SendSummaries e-mails each partner the summary of its registrations,
// read from the CRM (list endpoints), through the daemon's notifier: one
// message per partner and ISO week (in schedule.timezone). A partner is
// sent at most one summary a week whatever the retries: the message is
// composed once and kept in the state file (so a retry after a crash sends
// the same message, with the same Message-ID), and marked sent once the
// notifier took it. Unsubscribed and inactive partners get none.
func (d *Daemon) SendSummaries(ctx context.Context) (SummaryResult, error) {
	cfg := d.cfg.Load()
	now := d.now()
	loc, err := time.LoadLocation(cfg.Schedule.Timezone)
	if err != nil {
		loc = time.UTC
	}
	y, wk := now.In(loc).ISOWeek()
	res := SummaryResult{Week: fmt.Sprintf("%d-W%02d", y, wk)}
	if !cfg.Summaries.Enabled {
		return res, nil
	}
	n := d.notifier(cfg)
	if n == nil {
		d.log.Warn("partner summaries are not sent: notify.enabled is false")
		return res, nil
	}
	b := report.NewSummaryBuilder(cfg.Policy, now, report.SummaryOptions{Config: cfg.Summaries, StatusLink: d.statusURL})
	if err := d.crm.All(ctx, b.Add); err != nil {
		return res, fmt.Errorf("summaries: read the registrations: %w", err)
	}
	sums, skips := b.Result()
	res.Skipped = skips
	var errs []error
	for _, s := range sums {
		key := "summary/" + s.PartnerID + "/" + res.Week
		if _, sent, err := d.db.Summaries().Get(key); err != nil {
			errs = append(errs, err)
			continue
		} else if sent {
			res.AlreadySent++
			continue
		}
		note := worker.Notification{Kind: worker.KindSummary, PartnerID: s.PartnerID, To: s.To, Subject: s.Subject,
			Text: s.Text, HTML: s.HTML, RecordID: key}
		js, err := json.Marshal(note)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		prior, seen, err := d.db.Remember(key, string(js), summaryKeep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen {
			// Composed by an earlier run that did not finish: send that.
			var kept worker.Notification
			if json.Unmarshal([]byte(prior), &kept) == nil {
				note = kept
			}
		}
		if err := n.Notify(ctx, []worker.Notification{note}); err != nil {
			errs = append(errs, fmt.Errorf("summary of %s: %w", s.PartnerID, err))
			continue
		}
		if err := d.db.Summaries().Put(key, strconv.FormatInt(now.Unix(), 10)); err != nil {
			errs = append(errs, err)
		}
		res.Sent++
	}
	return res, errors.Join(errs...)
}
