package hubspot

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// daily is the pause after HubSpot's daily allowance ran out.
//
// HubSpot resets the daily allowance at midnight in the portal's time
// zone. When a pause starts, regsync asks HubSpot once when the allowance
// resets (GET /account-info/v3/api-usage/daily/private-apps, resetsAt) and
// resumes a minute after that; when HubSpot cannot say (an OAuth app, the
// call refused), it resumes a minute after the next midnight in
// hubspot.time_zone (default UTC). If HubSpot still refuses right after a
// resume (the zone is wrong), it probes once an hour until calls pass.
type daily struct {
	mu      sync.Mutex
	loc     *time.Location
	until   time.Time
	resumed time.Time // when the pause before this one ended
	refined bool      // HubSpot was asked for the reset of this pause
	logged  bool      // this pause was logged
	source  string    // where until comes from
}

func (d *daily) pausedUntil(now time.Time) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Before(d.until) {
		return d.until, true
	}
	return time.Time{}, false
}

func (d *daily) until0() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.until
}

// pause starts a pause (unless one runs) until the next midnight in the
// zone, or an hour when HubSpot refused right after a resume.
func (d *daily) pause(now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Before(d.until) {
		return d.until
	}
	local := now.In(d.loc)
	next := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 1, 0, 0, d.loc)
	d.source = "midnight " + d.loc.String()
	if !d.resumed.IsZero() && now.Sub(d.resumed) >= 0 && now.Sub(d.resumed) < 15*time.Minute {
		if probe := now.Add(time.Hour); probe.Before(next) {
			next, d.source = probe, "hourly probe: HubSpot refused right after the expected reset"
		}
	}
	d.until, d.resumed = next, next
	d.refined, d.logged = false, false
	return next
}

// dailyPaused completes a pause: asks HubSpot for the reset once, logs the
// pause once, and returns when calls resume.
func (c *Client) dailyPaused(ctx context.Context) time.Time {
	d := &c.daily
	d.mu.Lock()
	ask := !d.refined
	d.refined = true
	d.mu.Unlock()
	if ask {
		if reset, ok := c.dailyReset(ctx); ok {
			d.mu.Lock()
			if now := c.now(); reset.After(now) && reset.Before(now.Add(48*time.Hour)) {
				d.until, d.resumed = reset.Add(time.Minute), reset.Add(time.Minute)
				d.source = "HubSpot's resetsAt"
			}
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	until, log, source := d.until, !d.logged, d.source
	d.logged = true
	d.mu.Unlock()
	if log {
		c.log.Error("hubspot: the daily API limit is used up; regsync stops calling HubSpot until the reset",
			"until", until.Format(time.RFC3339), "from", source)
	}
	return until
}

// dailyReset asks HubSpot when the daily allowance resets.
func (c *Client) dailyReset(ctx context.Context) (time.Time, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ans struct {
		Results []struct {
			Name         string `json:"name"`
			UsageLimit   int64  `json:"usageLimit"`
			CurrentUsage int64  `json:"currentUsage"`
			ResetsAt     string `json:"resetsAt"`
		} `json:"results"`
	}
	_, err := c.do(ctx, call{op: "daily usage", method: http.MethodGet, path: "/account-info/v3/api-usage/daily/private-apps",
		out: &ans, bypassPause: true})
	if err != nil {
		return time.Time{}, false
	}
	for _, r := range ans.Results {
		if r.ResetsAt == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, r.ResetsAt)
		if err != nil {
			continue
		}
		if r.UsageLimit > 0 {
			c.usage.SetDaily(r.CurrentUsage, r.UsageLimit)
		}
		return t, true
	}
	return time.Time{}, false
}
