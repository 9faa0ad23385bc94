package hubspot

import (
	"net/http"
	"strconv"
	"time"
)

// limiter enforces the 10-second rolling window, the search per-second
// window and the daily allowance of one portal. Guarded by Server.cmu.
type limiter struct {
	ten      []time.Time // accepted non-search requests in the last 10 s, oldest first
	sec      []time.Time // accepted searches in the last second
	day      time.Time   // midnight UTC of the current day
	dayCount int
}

// limitResult is the outcome of one take: policy is "" when the request is
// allowed, otherwise the policy it broke.
type limitResult struct {
	policy       string
	tenRemaining int
	dayRemaining int
	tenUnlimited bool
	dayUnlimited bool
}

const tenSecondWindow = 10 * time.Second

func prune(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}

func (l *limiter) take(now time.Time, search bool, o Options) limitResult {
	day := midnight(now, o.TimeZone)
	if !day.Equal(l.day) {
		l.day, l.dayCount = day, 0
	}
	l.ten = prune(l.ten, now.Add(-tenSecondWindow))
	l.sec = prune(l.sec, now.Add(-time.Second))
	res := limitResult{tenUnlimited: o.PerTenSeconds < 0, dayUnlimited: o.Daily < 0}
	res.tenRemaining = o.PerTenSeconds - len(l.ten)
	res.dayRemaining = o.Daily - l.dayCount
	switch {
	case o.Daily >= 0 && l.dayCount >= o.Daily:
		res.policy = "DAILY"
		res.dayRemaining = 0
		return res
	case search && o.SearchPerSecond >= 0 && len(l.sec) >= o.SearchPerSecond:
		res.policy = "SECONDLY"
		return res
	case !search && o.PerTenSeconds >= 0 && len(l.ten) >= o.PerTenSeconds:
		res.policy = "TEN_SECONDLY_ROLLING"
		res.tenRemaining = 0
		return res
	}
	l.dayCount++
	res.dayRemaining--
	if search {
		l.sec = append(l.sec, now)
	} else {
		l.ten = append(l.ten, now)
		res.tenRemaining--
	}
	return res
}

// peek reports the windows without taking from them.
func (l *limiter) peek(now time.Time, o Options) limitResult {
	l.ten = prune(l.ten, now.Add(-tenSecondWindow))
	return limitResult{tenUnlimited: o.PerTenSeconds < 0, dayUnlimited: o.Daily < 0,
		tenRemaining: o.PerTenSeconds - len(l.ten), dayRemaining: o.Daily - l.used(now, o.TimeZone)}
}

// retryAfter is how many seconds until the window (the search window
// for a search) has room again: until its oldest call leaves it, at least
// 1.
func (l *limiter) retryAfter(now time.Time, search bool) int {
	ts, window := l.ten, tenSecondWindow
	if search {
		ts, window = l.sec, time.Second
	}
	for _, t := range ts { // oldest first
		if wait := t.Add(window).Sub(now); wait > 0 {
			return max(1, int((wait+time.Second-1)/time.Second))
		}
	}
	return 1
}

// used is the number of calls counted today.
func (l *limiter) used(now time.Time, loc *time.Location) int {
	if !midnight(now, loc).Equal(l.day) {
		return 0
	}
	return l.dayCount
}

func (r limitResult) setHeaders(h http.Header, o Options) {
	if !r.tenUnlimited {
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(o.PerTenSeconds))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(r.tenRemaining, 0)))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	}
	if !r.dayUnlimited {
		h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(o.Daily))
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(r.dayRemaining, 0)))
	}
}

// midnight is the start of now's day in the portal's time zone: the daily
// limit resets then.
func midnight(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}
