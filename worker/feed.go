package worker

import (
	"context"
	"fmt"
	"time"
)

// feed is one of the CRM's change feeds: the registrations (the worker's
// own) and the deals (attribution). A poll reads every record changed
// since the feed's cursor, queues them, and only then moves the cursor, so
// a crash between the two reads them again rather than losing them.
type feed struct {
	// object is the records' object in inbox keys (partner_registration,
	// deals, Opportunity…).
	object string
	// what names the feed in errors and logs ("", "deals").
	what string
	// changed is the CRM's changed-since call.
	changed func(ctx context.Context, cursor string) (ids []string, next string, err error)
	// firstPoll, when set, is logged when the first poll of a new state
	// file finds records: what becomes of history.
	firstPoll string
}

// fullPage is how many records a poll must bring for the next poll to
// follow at once rather than after the interval: more are waiting.
const fullPage = 1000

// regFeed is the registrations' change feed.
func (w *Worker) regFeed() feed {
	return feed{object: w.e.o.Object, changed: w.crm.Changed}
}

// dealFeed is the deals' change feed, which drives attribution. The first
// poll of a new state file reads every deal: history, read for its facts.
// Attribution credits of it only what a partner could have sourced
// (credit.go) — a deal opened after an approved registration's
// submitted_at while no daemon ran — and never a deal that closed before
// the registration existed.
func (w *Worker) dealFeed() feed {
	return feed{object: w.e.o.DealObject, what: "deals", changed: w.crm.ChangedDeals,
		firstPoll: "first deal poll of this state file: existing deals are read for their facts; only deals created after a registration's submitted_at, or accepted by an AE, are credited"}
}

// cursor names the feed's state cursor.
func (w *Worker) cursor(f feed) string { return "poll/" + w.crm.Name() + "/" + f.object }

// PollCursor names the state cursor of the registrations' change feed.
func (w *Worker) PollCursor() string { return w.cursor(w.regFeed()) }

// DealCursor names the state cursor of the deals' change feed.
func (w *Worker) DealCursor() string { return w.cursor(w.dealFeed()) }

// Poll reads the registrations' change feed once and returns how many
// records it queued.
func (w *Worker) Poll(ctx context.Context) (int, error) { return w.poll(ctx, w.regFeed()) }

// PollDeals reads the deals' change feed once (object DealObject, for
// attribution) and returns how many deals it queued.
func (w *Worker) PollDeals(ctx context.Context) (int, error) { return w.poll(ctx, w.dealFeed()) }

// PollLoop polls the registrations' change feed every interval until ctx
// ends; a full page is followed at once by the next.
func (w *Worker) PollLoop(ctx context.Context, interval func() time.Duration) {
	w.loop(ctx, w.regFeed(), interval)
}

// DealLoop polls the deals' change feed every interval until ctx ends; a
// full page is followed at once by the next.
func (w *Worker) DealLoop(ctx context.Context, interval func() time.Duration) {
	w.loop(ctx, w.dealFeed(), interval)
}

// poll reads a feed once: every record changed since the cursor goes into
// the inbox, and only then does the cursor move.
func (w *Worker) poll(ctx context.Context, f feed) (int, error) {
	name := w.cursor(f)
	cur, err := w.db.Cursor(name)
	if err != nil {
		return 0, err
	}
	ids, next, err := f.changed(ctx, cur)
	if err != nil {
		w.m.PollRuns.WithLabelValues(w.crm.Name(), "error").Inc()
		return 0, fmt.Errorf("poll %s: %w", w.feedName(f), err)
	}
	if cur == "" && len(ids) > 0 && f.firstPoll != "" {
		w.log.Info(f.firstPoll, "cursor", name, f.object, len(ids))
	}
	if err := w.Enqueue(f.object, ids, "poll"); err != nil {
		w.m.PollRuns.WithLabelValues(w.crm.Name(), "error").Inc()
		return 0, err
	}
	if next != cur {
		if err := w.db.SetCursor(name, next); err != nil {
			return len(ids), err
		}
	}
	w.m.PollRuns.WithLabelValues(w.crm.Name(), "ok").Inc()
	return len(ids), nil
}

// feedName is the feed as errors and logs name it ("hubspot", "hubspot deals").
func (w *Worker) feedName(f feed) string {
	if f.what == "" {
		return w.crm.Name()
	}
	return w.crm.Name() + " " + f.what
}

// loop polls a feed every interval until ctx ends; a full page is followed
// at once by the next. A failed poll is logged and tried again after the
// interval: webhooks still work meanwhile, and the next poll catches up.
func (w *Worker) loop(ctx context.Context, f feed, interval func() time.Duration) {
	for {
		n, err := w.poll(ctx, f)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Warn("poll failed; webhooks still work, the next poll catches up", "feed", w.feedName(f), "err", err)
		case err == nil && n > 0:
			w.log.Debug("poll", "feed", w.feedName(f), "changed", n)
		}
		wait := interval()
		if err == nil && n >= fullPage {
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
