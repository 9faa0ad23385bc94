package salesforce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
)

// usage is what the client has spent and what Salesforce last reported.
type usage struct {
	mu          sync.Mutex
	calls       map[string]int64
	failures    map[string]int64
	rateLimited int64
	used, limit int64
	pausedUntil time.Time
	slow        bool
	nextCall    time.Time
}

func (u *usage) init() {
	u.calls = map[string]int64{}
	u.failures = map[string]int64{}
}

func (u *usage) call(op string) {
	u.mu.Lock()
	u.calls[op]++
	u.mu.Unlock()
}

func (u *usage) failed(reason string) {
	u.mu.Lock()
	u.failures[reason]++
	u.mu.Unlock()
}

func (u *usage) limited() {
	u.mu.Lock()
	u.rateLimited++
	u.mu.Unlock()
}

// Usage reports the client's API consumption. It makes no call.
func (c *Client) Usage() connectors.Usage {
	u := &c.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	out := connectors.Usage{
		Calls:       make(map[string]int64, len(u.calls)),
		Failures:    make(map[string]int64, len(u.failures)),
		RateLimited: u.rateLimited,
		DailyUsed:   u.used,
		DailyLimit:  u.limit,
	}
	for k, v := range u.calls {
		out.Calls[k] = v
	}
	for k, v := range u.failures {
		out.Failures[k] = v
	}
	if u.pausedUntil.After(c.now()) {
		out.PausedUntil = u.pausedUntil
	}
	return out
}

// observeLimit records Salesforce's count of the day's calls and alerts
// (once, until usage falls back) when it crosses the configured share.
func (c *Client) observeLimit(used, limit int64) {
	u := &c.usage
	u.mu.Lock()
	u.used, u.limit = used, limit
	over := limit > 0 && float64(used) >= c.cfg.SlowDownAt*float64(limit)
	changed := over != u.slow
	u.slow = over
	if !over {
		u.nextCall = time.Time{}
	}
	u.mu.Unlock()
	switch {
	case changed && over:
		c.log.Warn("salesforce: daily API allocation nearly spent: slowing down",
			"used", used, "limit", limit, "slow_down_at", c.cfg.SlowDownAt)
	case changed:
		c.log.Info("salesforce: daily API usage back under the slow-down share", "used", used, "limit", limit)
	}
}

// pause stops calls for limitPause: Salesforce refused one with
// REQUEST_LIMIT_EXCEEDED (the rolling 24-hour allocation is spent).
func (c *Client) pause() {
	u := &c.usage
	u.mu.Lock()
	until := c.now().Add(limitPause)
	first := !u.pausedUntil.After(c.now())
	if until.After(u.pausedUntil) {
		u.pausedUntil = until
	}
	u.mu.Unlock()
	if first {
		c.log.Error("salesforce: daily API allocation spent (REQUEST_LIMIT_EXCEEDED): writes stop until the rolling window frees",
			"until", until.UTC().Format(time.RFC3339))
	}
}

// errPaused is wrapped by the error calls get while writes are stopped.
var errPaused = errors.New("the daily API allocation is spent")

// gate runs before every call: while the allocation is spent it fails
// fast with a retryable daily_limit error (the work stays in the inbox);
// above the slow-down share it spaces calls so that what is left of the
// allocation lasts the rolling day.
func (c *Client) gate(ctx context.Context, op string) error {
	u := &c.usage
	u.mu.Lock()
	now := c.now()
	if u.pausedUntil.After(now) {
		until := u.pausedUntil
		u.mu.Unlock()
		c.usage.failed("daily_limit")
		e := connectors.NewError(op, 0, connectors.ClassPostpone, "daily_limit",
			fmt.Errorf("%w: calls resume after %s", errPaused, until.UTC().Format(time.RFC3339)))
		e.After = until.Sub(now)
		return e
	}
	var wait time.Duration
	if u.slow && u.limit > 0 {
		left := max(u.limit-u.used, 1)
		interval := min(24*time.Hour/time.Duration(left), 30*time.Second)
		next := u.nextCall
		if next.Before(now) {
			next = now
		}
		wait = next.Sub(now)
		u.nextCall = next.Add(interval)
	}
	u.mu.Unlock()
	if wait > 0 {
		return c.sleep(ctx, wait)
	}
	return nil
}
