package crmhttp

import (
	"maps"
	"sync"

	"github.com/regsync/regsync/connectors"
)

// Usage counts what a connector reports as connectors.Usage: HTTP requests
// by operation, failures by reason, limit refusals, and the CRM's own
// count of the day's calls. The zero value is ready; it is safe for
// concurrent use.
type Usage struct {
	mu          sync.Mutex
	calls       map[string]int64
	failures    map[string]int64
	rateLimited int64
	dailyUsed   int64
	dailyLimit  int64
}

// Call counts one HTTP request (an attempt: retries count) of op; an
// empty op is "other".
func (u *Usage) Call(op string) {
	if op == "" {
		op = "other"
	}
	u.mu.Lock()
	if u.calls == nil {
		u.calls = map[string]int64{}
	}
	u.calls[op]++
	u.mu.Unlock()
}

// Fail counts a failed operation by its reason (connectors.Error.Reason).
func (u *Usage) Fail(reason string) {
	u.mu.Lock()
	if u.failures == nil {
		u.failures = map[string]int64{}
	}
	u.failures[reason]++
	u.mu.Unlock()
}

// Limited counts an answer that said a limit was reached.
func (u *Usage) Limited() {
	u.mu.Lock()
	u.rateLimited++
	u.mu.Unlock()
}

// SetDaily records the CRM's count of the day's calls and its limit.
func (u *Usage) SetDaily(used, limit int64) {
	u.mu.Lock()
	u.dailyUsed, u.dailyLimit = used, limit
	u.mu.Unlock()
}

// Snapshot returns the counters as connectors.Usage (PausedUntil is the
// connector's to set).
func (u *Usage) Snapshot() connectors.Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := connectors.Usage{
		Calls:       make(map[string]int64, len(u.calls)),
		Failures:    make(map[string]int64, len(u.failures)),
		RateLimited: u.rateLimited,
		DailyUsed:   u.dailyUsed,
		DailyLimit:  u.dailyLimit,
	}
	maps.Copy(out.Calls, u.calls)
	maps.Copy(out.Failures, u.failures)
	return out
}

// Total is the number of HTTP requests counted, retries included.
func (u *Usage) Total() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for _, v := range u.calls {
		n += v
	}
	return n
}
