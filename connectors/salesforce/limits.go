package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
)

// allocation is what Salesforce last reported of the day's API
// allocation and how the client paces itself by it.
type allocation struct {
	mu          sync.Mutex
	used, limit int64
	pausedUntil time.Time
	slow        bool
	nextCall    time.Time
}

// Usage reports the client's API consumption. It makes no call.
func (c *Client) Usage() connectors.Usage {
	out := c.usage.Snapshot()
	c.limit.mu.Lock()
	defer c.limit.mu.Unlock()
	if c.limit.pausedUntil.After(c.now()) {
		out.PausedUntil = c.limit.pausedUntil
	}
	return out
}

// observeLimit records Salesforce's count of the day's calls and alerts
// (once, until usage falls back) when it crosses the configured share.
func (c *Client) observeLimit(used, limit int64) {
	c.usage.SetDaily(used, limit)
	u := &c.limit
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
	u := &c.limit
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
	u := &c.limit
	u.mu.Lock()
	now := c.now()
	if u.pausedUntil.After(now) {
		until := u.pausedUntil
		u.mu.Unlock()
		c.usage.Fail("daily_limit")
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

// parseLimitInfo reads "api-usage=10018/100000" (other entries, such as
// per-app usage, may follow after a comma).
func parseLimitInfo(v string) (used, limit int64, ok bool) {
	for _, part := range strings.Split(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || k != "api-usage" {
			continue
		}
		a, b, found := strings.Cut(val, "/")
		if !found {
			return 0, 0, false
		}
		u, e1 := strconv.ParseInt(a, 10, 64)
		l, e2 := strconv.ParseInt(b, 10, 64)
		if e1 != nil || e2 != nil || u < 0 || l < 0 {
			return 0, 0, false
		}
		return u, l, true
	}
	return 0, 0, false
}
