package hubspot

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/httpfault"
	"github.com/regsync/regsync/registration"
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
	c.usage.call(ri.op)
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
		remaining := headerInt(h, "X-HubSpot-RateLimit-Remaining", -1)
		max := headerInt(h, "X-HubSpot-RateLimit-Max", 0)
		if remaining >= 0 || max > 0 {
			c.win.observe(free, seq, remaining, max)
		}
	}
	if limit := headerInt(h, "X-HubSpot-RateLimit-Daily", -1); limit > 0 {
		if rem := headerInt(h, "X-HubSpot-RateLimit-Daily-Remaining", -1); rem >= 0 {
			c.usage.setDaily(int64(limit-rem), int64(limit))
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
	c.usage.limited()
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
		if ms := headerInt(h, "X-HubSpot-RateLimit-Interval-Milliseconds", 0); ms > 0 {
			d = time.Duration(ms) * time.Millisecond
		}
		if ra, ok := retryAfter(h); ok && ra > 0 && ra < d {
			d = ra
		}
		c.win.pause(d)
		c.log.Warn("hubspot rate limit reached; pausing", "op", ri.op, "policy", eb.PolicyName,
			"pause", d, "correlation_id", eb.CorrelationID)
	}
}

func headerInt(h http.Header, name string, def int) int {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
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

// usage counts what Usage reports.
type usage struct {
	mu          sync.Mutex
	calls       map[string]int64
	failures    map[string]int64
	rateLimited int64
	dailyUsed   int64
	dailyLimit  int64
}

func (u *usage) init() {
	u.calls = map[string]int64{}
	u.failures = map[string]int64{}
}

func (u *usage) call(op string) {
	if op == "" {
		op = "other"
	}
	u.mu.Lock()
	u.calls[op]++
	u.mu.Unlock()
}

func (u *usage) fail(reason string) {
	u.mu.Lock()
	u.failures[reason]++
	u.mu.Unlock()
}

func (u *usage) limited() {
	u.mu.Lock()
	u.rateLimited++
	u.mu.Unlock()
}

func (u *usage) setDaily(used, limit int64) {
	u.mu.Lock()
	u.dailyUsed, u.dailyLimit = used, limit
	u.mu.Unlock()
}

// Usage reports the client's API consumption. It makes no call.
func (c *Client) Usage() connectors.Usage {
	c.usage.mu.Lock()
	u := connectors.Usage{
		Calls:       make(map[string]int64, len(c.usage.calls)),
		Failures:    make(map[string]int64, len(c.usage.failures)),
		RateLimited: c.usage.rateLimited,
		DailyUsed:   c.usage.dailyUsed,
		DailyLimit:  c.usage.dailyLimit,
	}
	for k, v := range c.usage.calls {
		u.Calls[k] = v
	}
	for k, v := range c.usage.failures {
		u.Failures[k] = v
	}
	c.usage.mu.Unlock()
	if until, ok := c.daily.pausedUntil(c.now()); ok {
		u.PausedUntil = until
	}
	return u
}

// TotalCalls is the number of HTTP requests the client sent, retries
// included.
func (c *Client) TotalCalls() int64 {
	c.usage.mu.Lock()
	defer c.usage.mu.Unlock()
	var n int64
	for _, v := range c.usage.calls {
		n += v
	}
	return n
}

// scrubber removes credentials and full e-mail addresses from text that
// may reach an error or a log line.
type scrubber struct {
	mu      sync.RWMutex
	secrets []string
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-']+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`)

func newScrubber(secrets ...string) *scrubber {
	s := &scrubber{}
	s.add(secrets...)
	return s
}

// add registers more secrets (OAuth access and refresh tokens as they come).
func (s *scrubber) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if len(v) >= 4 && !slices.Contains(s.secrets, v) {
			s.secrets = append(s.secrets, v)
			// Also the forms a secret takes in a URL or a form body.
			if q := url.QueryEscape(v); q != v {
				s.secrets = append(s.secrets, q)
			}
		}
	}
	slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
}

// String returns text with every secret replaced by <secret> and every
// e-mail address masked.
func (s *scrubber) String(text string) string {
	s.mu.RLock()
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, "<secret>")
		}
	}
	s.mu.RUnlock()
	if strings.IndexByte(text, '@') >= 0 {
		text = emailRE.ReplaceAllStringFunc(text, registration.MaskEmail)
	}
	return text
}

// scrubHandler is a slog.Handler that scrubs every message and attribute
// before they reach the real handler: a last line of defence, so that no
// token, client secret or full address reaches a log even by mistake.
type scrubHandler struct {
	h slog.Handler
	s *scrubber
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	n := slog.NewRecord(r.Time, r.Level, h.s.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		n.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, n)
}

func (h *scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &scrubHandler{h: h.h.WithAttrs(out), s: h.s}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{h: h.h.WithGroup(name), s: h.s}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = h.attr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.s.String(err.Error()))
		}
		return slog.String(a.Key, h.s.String(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// retryLogger adapts the client's logger to retryablehttp's LeveledLogger.
// Its per-attempt chatter goes to debug; the client logs final failures.
type retryLogger struct{ l *slog.Logger }

func (r retryLogger) Error(msg string, kv ...any) { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Info(msg string, kv ...any)  { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Debug(msg string, kv ...any) { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.l.Debug("retryablehttp: "+msg, kv...) }
