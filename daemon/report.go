package daemon

import (
	"context"
	"sync"

	"github.com/regsync/regsync/connectors"
)

// The deal change feed that drives attribution.

// dealObject names the CRM's deal object in events and inbox keys: both
// connectors call it "deals".
func dealObject(connectors.CRM) string { return "deals" }

// dealCursor names the state cursor of the deal change feed.
func dealCursor(d *Daemon) string { return d.worker.DealCursor() }

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
			d.worker.DealLoop(ctx, d.pollInterval)
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
