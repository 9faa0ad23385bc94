package hubspot

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/internal/httpfault"
)

// limitTransport paces every attempt through the client's windows, counts
// it, reads HubSpot's rate-limit headers and records the policy of a 429
// for CheckRetry and Backoff.
type limitTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	ri := infoOf(ctx)
	c := t.c
	// Searches have their own per-second limit and are exempt from the
	// 10-second window (the spec's x-hubspot-rate-limit-exemptions).
	w := c.win
	if ri.search {
		w = c.searchWin
	}
	free, seq, err := w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	c.usage.Call(ri.op)
	resp, err := t.next.RoundTrip(req)
	httpfault.FromContext(ctx).Observe(resp, err)
	w.release()
	if err != nil {
		return nil, err
	}
	c.observe(resp, free, seq, ri)
	return resp, nil
}

// observe reads the rate-limit headers of an answer and reacts to a 429.
func (c *Client) observe(resp *http.Response, free int, seq uint64, ri reqInfo) {
	h := resp.Header
	if !ri.search {
		remaining := crmhttp.HeaderInt(h, "X-HubSpot-RateLimit-Remaining", -1)
		max := crmhttp.HeaderInt(h, "X-HubSpot-RateLimit-Max", 0)
		if remaining >= 0 || max > 0 {
			c.win.observe(free, seq, remaining, max)
		}
	}
	if limit := crmhttp.HeaderInt(h, "X-HubSpot-RateLimit-Daily", -1); limit > 0 {
		if rem := crmhttp.HeaderInt(h, "X-HubSpot-RateLimit-Daily-Remaining", -1); rem >= 0 {
			c.usage.SetDaily(int64(limit-rem), int64(limit))
			if rem == 0 && resp.StatusCode < 400 {
				// The next call would be refused: stop before HubSpot says so.
				c.daily.pause(c.now())
			}
		}
	}
	if resp.StatusCode < 400 {
		return
	}
	policy, eb := annotate(resp)
	if resp.StatusCode != http.StatusTooManyRequests {
		return
	}
	c.usage.Limited()
	switch policy {
	case policyDaily:
		c.daily.pause(c.now())
	case policySecondly:
		c.searchWin.pause(waitSecondly)
		c.log.Warn("hubspot search rate limit reached", "op", ri.op, "correlation_id", eb.CorrelationID)
	default:
		// The window is rolling: a call may go again once the oldest
		// call in it leaves. HubSpot's Retry-After says when; without it,
		// wait a whole interval.
		d := waitWindow
		if ms := crmhttp.HeaderInt(h, "X-HubSpot-RateLimit-Interval-Milliseconds", 0); ms > 0 {
			d = time.Duration(ms) * time.Millisecond
		}
		if ra, ok := crmhttp.RetryAfter(h); ok && ra > 0 && ra < d {
			d = ra
		}
		c.win.pause(d)
		c.log.Warn("hubspot rate limit reached; pausing", "op", ri.op, "policy", eb.PolicyName,
			"pause", d, "correlation_id", eb.CorrelationID)
	}
}

// jitter spreads plain exponential waits (network failures, 5xx without
// Retry-After) by ±20% so that concurrent callers do not retry in step;
// waits HubSpot prescribes are kept as they are.
func jitter(d time.Duration, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode < 500 || resp.Header.Get("Retry-After") != "") {
		return d
	}
	f := 0.8 + 0.4*rand.Float64()
	return min(time.Duration(float64(d)*f), maxDelay)
}

// authTransport adds the bearer token. It runs before the limiter, so that
// an OAuth refresh never waits for a slot while holding one.
type authTransport struct {
	a    *authenticator
	next http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if infoOf(req.Context()).noAuth {
		return t.next.RoundTrip(req)
	}
	tok, err := t.a.token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.a.invalidate(tok)
	}
	return resp, err
}

// Usage reports the client's API consumption. It makes no call.
func (c *Client) Usage() connectors.Usage {
	u := c.usage.Snapshot()
	if until, ok := c.daily.pausedUntil(c.now()); ok {
		u.PausedUntil = until
	}
	return u
}

// TotalCalls is the number of HTTP requests the client sent, retries
// included.
func (c *Client) TotalCalls() int64 { return c.usage.Total() }
