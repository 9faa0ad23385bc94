package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Source is what the cache reads of the CRM: every registration and deal,
// their change feeds, batch reads of what changed, and the API budget.
type Source interface {
	Name() string
	All(ctx context.Context, fn func([]registration.Record) error) error
	AllDeals(ctx context.Context, fn func([]registration.Deal) error) error
	Changed(ctx context.Context, cursor string) (ids []string, next string, err error)
	ChangedDeals(ctx context.Context, cursor string) (ids []string, next string, err error)
	Registrations(ctx context.Context, ids []string) ([]registration.Record, error)
	Deals(ctx context.Context, ids []string) ([]registration.Deal, error)
	Usage() connectors.Usage
}

// Store is what the cache reads of the state file: the change-feed
// cursors, and the inbox counts and dead letters shown as they are now.
type Store interface {
	Cursor(name string) (string, error)
	InboxStats() (state.InboxStats, error)
	Dead() ([]state.Item, error)
}

// CacheOptions wire a Cache.
type CacheOptions struct {
	// Config and Policy return the dashboard section and the policy in
	// force (a reload swaps them).
	Config func() *Config
	Policy func() *rules.Policy
	CRM    Source
	State  Store
	// RegCursor and DealCursor name the state cursors of the worker's
	// registration feed and of the deal feed; a full read starts from
	// them, so the next delta covers whatever changed while it ran.
	RegCursor, DealCursor string
	// DealFeed is false when no deal feed runs (hubspot.object: deals):
	// deals are read again at full reads.
	DealFeed bool
	Logger   *slog.Logger
	Now      func() time.Time
}

// Cache serves GET /dashboard over a cache of the CRM's records kept
// current from the change feeds: Loop refreshes it, ServeHTTP shows the
// last snapshot built from it.
type Cache struct {
	o   CacheOptions
	log *slog.Logger

	// The handler, rebuilt when a reload changes the dashboard section.
	hmu  sync.Mutex
	hcfg *Config
	h    http.Handler

	// The data and the last snapshot built from it.
	mu      sync.Mutex
	data    *Data
	snap    *Snapshot
	failure string    // the last failed refresh, "" after a good one
	failAt  time.Time // when it failed
}

// Data is what the dashboard needs of every registration and deal, kept
// current with the change feed since the last full read.
type Data struct {
	Regs       map[string]registration.Record
	Deals      map[string]registration.Deal
	RegCursor  string
	DealCursor string
	FullAt     time.Time // the last full read
	ReadAt     time.Time // the last successful refresh
}

// NewCache returns a cache that has read nothing yet.
func NewCache(o CacheOptions) *Cache {
	return &Cache{o: o, log: o.Logger.With("component", "dashboard")}
}

// ServeHTTP serves the dashboard with the configuration in force: a reload
// that changes the dashboard section (credentials, title, refresh) takes
// effect at the next request.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := c.o.Config()
	c.hmu.Lock()
	if c.hcfg != cfg {
		if c.h == nil || !sameConfig(c.hcfg, cfg) {
			c.h = New(*cfg, c.provide, c.log)
		}
		c.hcfg = cfg
	}
	h := c.h
	c.hmu.Unlock()
	h.ServeHTTP(w, r)
}

func sameConfig(a, b *Config) bool {
	return a.Token.Reveal() == b.Token.Reveal() && a.User == b.User && a.Password.Reveal() == b.Password.Reveal() &&
		a.Refresh == b.Refresh && a.Title == b.Title
}

// provide returns the last snapshot built, with the state's dead letters
// and inbox counts and the connector's usage as they are now, and a
// problem noted when the last refresh failed.
func (c *Cache) provide(context.Context) (*Snapshot, error) {
	c.mu.Lock()
	snap, failure, failAt := c.snap, c.failure, c.failAt
	c.mu.Unlock()
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
	if st, err := c.o.State.InboxStats(); err == nil {
		out.Inbox = &st
	} else {
		out.Problems = append(out.Problems, "The state file could not be read: "+err.Error())
	}
	if dead, err := c.o.State.Dead(); err == nil {
		out.DeadLetters = dead
	}
	out.Budgets = []Budget{{Connector: c.o.CRM.Name(), Usage: c.o.CRM.Usage()}}
	return &out, nil
}

// Refresh brings the cache up to date — a full read when none was made,
// when the change-feed cursors are not known yet or when
// dashboard.full_refresh has passed; else the records changed since — and
// builds a new snapshot; it returns the data the snapshot was built from.
// A failure keeps the last snapshot and notes it.
func (c *Cache) Refresh(ctx context.Context) (*Data, error) {
	cfg := c.o.Config()
	c.mu.Lock()
	d := c.data
	c.mu.Unlock()
	now := c.o.Now()
	var err error
	if d == nil || d.RegCursor == "" || (c.o.DealFeed && d.DealCursor == "") || now.Sub(d.FullAt) >= cfg.FullRefresh {
		d, err = c.readAll(ctx, now)
	} else {
		d, err = c.readChanges(ctx, d, now)
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err() // shutting down: not the CRM's failure
		}
		c.mu.Lock()
		c.failure, c.failAt = err.Error(), now
		c.mu.Unlock()
		c.log.Warn("dashboard: the CRM data could not be refreshed; the last snapshot stays", "err", err)
		return nil, err
	}
	snap, err := buildSnapshot(c.o.Policy(), d, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.data, c.snap, c.failure = d, snap, ""
	c.mu.Unlock()
	return d, nil
}

// readAll reads every registration and deal. The cursors are taken from
// the worker's and the deal feed's before the read, so the next delta
// covers whatever changed while it ran.
func (c *Cache) readAll(ctx context.Context, now time.Time) (*Data, error) {
	regCur, err := c.o.State.Cursor(c.o.RegCursor)
	if err != nil {
		return nil, err
	}
	dealCur, err := c.o.State.Cursor(c.o.DealCursor)
	if err != nil {
		return nil, err
	}
	d := &Data{Regs: map[string]registration.Record{}, Deals: map[string]registration.Deal{},
		RegCursor: regCur, DealCursor: dealCur, FullAt: now, ReadAt: now}
	if err := c.o.CRM.All(ctx, func(page []registration.Record) error {
		for i := range page {
			d.Regs[page[i].ID] = trim(page[i])
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the registrations: %w", err)
	}
	if err := c.o.CRM.AllDeals(ctx, func(page []registration.Deal) error {
		for _, dl := range page {
			d.Deals[dl.ID] = dl
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the deals: %w", err)
	}
	c.log.Debug("dashboard: read the CRM", "registrations", len(d.Regs), "deals", len(d.Deals))
	return d, nil
}

// maxDelta bounds the changed records a refresh reads by id; more is read
// with the list endpoints instead.
const maxDelta = 10000

// readChanges reads the registrations and deals changed since the data's
// cursors, into a copy of it.
func (c *Cache) readChanges(ctx context.Context, old *Data, now time.Time) (*Data, error) {
	crm := c.o.CRM
	regIDs, regNext, err := changedSince(ctx, crm.Changed, old.RegCursor)
	if err != nil {
		return nil, fmt.Errorf("registrations changed: %w", err)
	}
	var dealIDs []string
	dealNext := old.DealCursor
	if old.DealCursor != "" {
		dealIDs, dealNext, err = changedSince(ctx, crm.ChangedDeals, old.DealCursor)
		if err != nil {
			return nil, fmt.Errorf("deals changed: %w", err)
		}
	}
	if len(regIDs)+len(dealIDs) > maxDelta {
		return c.readAll(ctx, now)
	}
	d := &Data{Regs: old.Regs, Deals: old.Deals, RegCursor: regNext, DealCursor: dealNext, FullAt: old.FullAt, ReadAt: now}
	if len(regIDs) > 0 {
		recs, err := crm.Registrations(ctx, regIDs)
		if err != nil {
			return nil, fmt.Errorf("read %d changed registrations: %w", len(regIDs), err)
		}
		d.Regs = maps.Clone(old.Regs)
		for _, id := range regIDs {
			delete(d.Regs, id) // deleted in the CRM unless read back below
		}
		for _, r := range recs {
			d.Regs[r.ID] = trim(r)
		}
	}
	if len(dealIDs) > 0 {
		deals, err := crm.Deals(ctx, dealIDs)
		if err != nil {
			return nil, fmt.Errorf("read %d changed deals: %w", len(dealIDs), err)
		}
		d.Deals = maps.Clone(old.Deals)
		for _, id := range dealIDs {
			delete(d.Deals, id)
		}
		for _, dl := range deals {
			d.Deals[dl.ID] = dl
		}
	}
	return d, nil
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

// trim keeps of a registration what the metrics and the page use: the
// long free-text fields and the contact's details are dropped, so 50,000
// cached registrations stay small.
func trim(r registration.Record) registration.Record {
	r.Problem, r.SolutionFit, r.ServicesNeeded, r.CompetingVendors = "", "", "", ""
	r.ContactName, r.ContactEmail, r.ContactRole, r.StageGuess = "", "", "", ""
	r.StatusMessage, r.SubmissionKey, r.Source, r.PartnerType = "", "", "", ""
	return r
}

// buildSnapshot computes the page's figures from the data: the program
// metrics over every registration (by partner) and the collector's queue,
// weeks and windows.
func buildSnapshot(p *rules.Policy, d *Data, now time.Time) (*Snapshot, error) {
	acc, err := report.New(p, report.Options{Now: now, By: report.ByPartner})
	if err != nil {
		return nil, err
	}
	col := NewCollector(p, now, CollectorOptions{})
	regs := slices.Collect(maps.Values(d.Regs))
	deals := slices.Collect(maps.Values(d.Deals))
	_ = acc.Add(regs)
	_ = acc.AddDeals(deals)
	_ = col.Add(regs)
	rep := acc.Result()
	snap := &Snapshot{DataAsOf: d.ReadAt, Report: &rep}
	col.Fill(snap)
	return snap, nil
}

// Loop refreshes the data every dashboard.data_refresh (after a failure,
// sooner: from 5 s, doubling up to it) until ctx ends.
func (c *Cache) Loop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		wait := c.o.Config().DataRefresh
		if _, err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
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
