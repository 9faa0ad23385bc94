package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
)

// The deal change feed that drives attribution.

// dealObject names the CRM's deal object in events and inbox keys: both
// connectors call it "deals".
func dealObject(connectors.CRM) string { return "deals" }

// dealCursor names the state cursor of the deal change feed.
func dealCursor(d *Daemon) string { return "poll/" + d.crm.Name() + "/" + dealObject(d.crm) }

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
		d.dash.Loop(ctx)
	}()
	go func() {
		defer wg.Done()
		d.summaries.Loop(ctx)
	}()
}
