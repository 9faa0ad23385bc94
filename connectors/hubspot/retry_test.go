package hubspot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regsync/regsync/connectors"
)

const (
	bodyTen   = `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c1","policyName":"TEN_SECONDLY_ROLLING","requestId":"r1"}`
	bodyDaily = `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c2","policyName":"DAILY","requestId":"r2"}`
	bodySec   = `{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"c3","policyName":"SECONDLY","requestId":"r3"}`
	bodyErr   = `{"status":"error","message":"boom","correlationId":"c4","category":"VALIDATION_ERROR"}`
)

// statusCase is one HubSpot answer and what the client must do with it.
type statusCase struct {
	name   string
	status int
	header map[string]string
	body   string
	search bool
	// retry: retried within the call, after wait (exactly, or ±20% when
	// jitter).
	retry  bool
	wait   time.Duration
	jitter bool
	// The classified error of the final answer to a read; a write is the
	// same but for a 5xx, whose outcome is unknown (writeClass).
	reason string
	class  connectors.Class
	after  time.Duration
}

// Short names of the classes, for the tables.
const (
	R = connectors.ClassRetry
	P = connectors.ClassPostpone
	U = connectors.ClassUnknown
	X = connectors.ClassPermanent
)

// writeClass is the class of tc's answer to a write.
func (tc statusCase) writeClass() connectors.Class {
	if tc.class == R && tc.status >= 500 {
		return U
	}
	return tc.class
}

// statusCases covers every status HubSpot documents (D-err, D-usage) and
// the 5xx family its CDN answers with.
var statusCases = []statusCase{
	{name: "400 validation", status: 400, body: bodyErr, reason: "invalid", class: X},
	{name: "401 unauthorized", status: 401, body: bodyErr, reason: "unauthorized", class: X},
	{name: "403 missing scope", status: 403, body: bodyErr, reason: "forbidden", class: X},
	{name: "404 not found", status: 404, body: bodyErr, reason: "not_found", class: X},
	{name: "405 method", status: 405, body: bodyErr, reason: "invalid", class: X},
	{name: "409 conflict", status: 409, body: bodyErr, reason: "conflict", class: X},
	{name: "414 uri too long", status: 414, body: bodyErr, reason: "invalid", class: X},
	{name: "415 media type", status: 415, body: bodyErr, reason: "invalid", class: X},
	{name: "423 locked", status: 423, body: bodyErr, retry: true, wait: 2 * time.Second,
		reason: "rate_limited", class: R, after: 2 * time.Second},
	{name: "429 ten-secondly", status: 429, body: bodyTen,
		header: map[string]string{"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Remaining": "0"},
		retry:  true, wait: 10 * time.Second, reason: "rate_limited", class: P, after: 10 * time.Second},
	{name: "429 ten-secondly without headers", status: 429, body: bodyTen, retry: true, wait: 10 * time.Second,
		reason: "rate_limited", class: P, after: 10 * time.Second},
	{name: "429 unnamed", status: 429, body: `{"status":"error","message":"slow down"}`, retry: true, wait: 10 * time.Second,
		reason: "rate_limited", class: P, after: 10 * time.Second},
	{name: "429 search secondly", status: 429, body: bodySec, search: true, retry: true, wait: time.Second,
		reason: "rate_limited", class: P, after: time.Second},
	{name: "429 search without body", status: 429, search: true, retry: true, wait: time.Second,
		reason: "rate_limited", class: P, after: time.Second},
	{name: "429 daily", status: 429, body: bodyDaily, reason: "daily_limit", class: P},
	{name: "477 migration, Retry-After 30", status: 477, header: map[string]string{"Retry-After": "30"}, body: bodyErr,
		retry: true, wait: 30 * time.Second, reason: "server_error", class: P, after: 30 * time.Second},
	{name: "477 migration, Retry-After 2h", status: 477, header: map[string]string{"Retry-After": "7200"}, body: bodyErr,
		reason: "server_error", class: P, after: 2 * time.Hour},
	{name: "477 migration, no Retry-After", status: 477, body: bodyErr, retry: true, wait: 2 * time.Second,
		reason: "server_error", class: P, after: 2 * time.Second},
	{name: "500", status: 500, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "501 not implemented", status: 501, reason: "server_error", class: X},
	{name: "502 timeout", status: 502, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "503 unavailable", status: 503, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "503 Retry-After 5", status: 503, header: map[string]string{"Retry-After": "5"}, retry: true, wait: 5 * time.Second,
		reason: "server_error", class: R, after: 5 * time.Second},
	{name: "504 timeout", status: 504, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "505 version", status: 505, reason: "server_error", class: X},
	{name: "521 web server down", status: 521, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "522 connection timed out", status: 522, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "523 origin unreachable", status: 523, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "524 timeout", status: 524, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "525 ssl handshake", status: 525, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
	{name: "530 origin dns", status: 530, retry: true, wait: waitBase, jitter: true, reason: "server_error", class: R, after: waitBase},
}

func fakeResponse(tc statusCase) *http.Response {
	path := "/crm/v3/objects/deals/batch/read"
	if tc.search {
		path = "/crm/v3/objects/deals/search"
	}
	req := httptest.NewRequest(http.MethodPost, "https://api.hubapi.com"+path, nil)
	resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Request: req,
		Body: io.NopCloser(strings.NewReader(tc.body))}
	for k, v := range tc.header {
		resp.Header.Set(k, v)
	}
	return resp
}

// TestStatusPolicy checks, for every status, the retry decision, the wait
// before the retry and the classified error, on the policy functions.
func TestStatusPolicy(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			resp := fakeResponse(tc)
			annotate(resp)
			retry, err := checkRetry(context.Background(), resp, nil)
			if err != nil {
				t.Fatalf("checkRetry error: %v", err)
			}
			if retry != tc.retry {
				t.Errorf("retry = %v, want %v", retry, tc.retry)
			}
			if tc.retry {
				got := jitter(backoff(0, resp, maxDelay), resp)
				lo, hi := tc.wait, tc.wait
				if tc.jitter {
					lo, hi = tc.wait*8/10, tc.wait*12/10
				}
				if got < lo || got > hi {
					t.Errorf("wait = %s, want %s..%s", got, lo, hi)
				}
			}
			for _, write := range []bool{false, true} {
				e := classify("op", resp, "msg", write)
				want := tc.class
				if write {
					want = tc.writeClass()
				}
				if e.Reason != tc.reason || e.Class != want || e.Retry != want.Transient() {
					t.Errorf("write %v: %s %s retry=%v, want %s %s", write, e.Reason, e.Class, e.Retry, tc.reason, want)
				}
				if tc.reason != "daily_limit" && e.After != tc.after {
					t.Errorf("error after = %s, want %s", e.After, tc.after)
				}
				if e.Status != tc.status {
					t.Errorf("error status = %d", e.Status)
				}
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	resp := fakeResponse(statusCase{status: 502})
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second}
	for n, w := range want {
		if got := backoff(n, resp, maxDelay); got != w {
			t.Errorf("attempt %d: %s, want %s", n, got, w)
		}
	}
	// Retry-After above the cap is capped in a call (and such an answer is
	// not retried in the call at all, see TestStatusPolicy).
	ra := fakeResponse(statusCase{status: 503, header: map[string]string{"Retry-After": "3600"}})
	if got := backoff(0, ra, maxDelay); got != maxDelay {
		t.Errorf("Retry-After 3600: %s, want %s", got, maxDelay)
	}
	// Retry-After as an HTTP date.
	when := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	rd := fakeResponse(statusCase{status: 503, header: map[string]string{"Retry-After": when}})
	if got := backoff(0, rd, maxDelay); got < 18*time.Second || got > 20*time.Second {
		t.Errorf("Retry-After date: %s, want about 20s", got)
	}
}

// TestStatusEndToEnd sends a real call through the whole client (limiter,
// retryablehttp, CheckRetry, Backoff) for every status, in a synctest
// bubble so that the waits are measured exactly on the fake clock: the
// server answers the status once, then 200.
func TestStatusEndToEnd(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var h hits
				srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/account-info/v3/api-usage/daily/private-apps" {
						writeJSON(w, 403, bodyErr) // the daily pause asks; not counted here
						return
					}
					if n := h.add(); n == 1 {
						for k, v := range tc.header {
							w.Header().Set(k, v)
						}
						writeJSON(w, tc.status, tc.body)
						return
					}
					writeJSON(w, 200, `{"total":0,"results":[]}`)
				})
				cfg := testConfig("https://api.hubapi.com")
				cfg.Object = ObjectDeals
				c, _ := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
				var err error
				if tc.search {
					_, err = c.search(context.Background(), "deals", searchRequest{Limit: 1})
				} else {
					_, err = c.batchRead(context.Background(), "deals", []string{"1"}, []string{"dealname"})
				}
				at := h.all()
				if tc.retry {
					if err != nil {
						t.Fatalf("call failed after a retryable %d: %v", tc.status, err)
					}
					if len(at) != 2 {
						t.Fatalf("%d attempts, want 2", len(at))
					}
					gap := at[1].Sub(at[0])
					lo, hi := tc.wait, tc.wait
					if tc.jitter {
						lo, hi = tc.wait*8/10, tc.wait*12/10
					}
					if gap < lo || gap > hi {
						t.Errorf("waited %s before the retry, want %s..%s", gap, lo, hi)
					}
					return
				}
				if len(at) != 1 {
					t.Fatalf("%d attempts, want 1 (never retried)", len(at))
				}
				var ce *connectors.Error
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *connectors.Error", err)
				}
				if ce.Reason != tc.reason || ce.Status != tc.status {
					t.Errorf("error %s/%d, want %s/%d", ce.Reason, ce.Status, tc.reason, tc.status)
				}
				if tc.reason == "daily_limit" {
					return // TestDailyLimitPauses
				}
				if ce.Class != tc.class || ce.Retry != tc.class.Transient() || ce.After != tc.after {
					t.Errorf("error class/retry/after %s/%v/%s, want %s/%s", ce.Class, ce.Retry, ce.After, tc.class, tc.after)
				}
				if connectors.ClassOf(err).Transient() != tc.class.Transient() {
					t.Errorf("Retryable = %v", connectors.ClassOf(err).Transient())
				}
			})
		})
	}
}

// TestRetriesAreBounded: a status that stays 503 is tried 1+max_retries
// times, with growing waits, then surfaces as retryable.
func TestRetriesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h hits
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.add()
			writeJSON(w, 503, `{"status":"error","message":"unavailable"}`)
		})
		cfg := testConfig("https://api.hubapi.com")
		cfg.Object = ObjectDeals
		cfg.MaxRetries = 3
		c, _ := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
		start := time.Now()
		_, err := c.batchRead(context.Background(), "deals", []string{"1"}, nil)
		if !connectors.ClassOf(err).Transient() || connectors.Reason(err) != "server_error" {
			t.Fatalf("err = %v, want a retryable server_error", err)
		}
		if n := len(h.all()); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		// 0.5 + 1 + 2 s ± 20%.
		if d := time.Since(start); d < 2800*time.Millisecond || d > 4200*time.Millisecond {
			t.Errorf("took %s", d)
		}
		if u := c.Usage(); u.Calls["batch read"] != 4 || u.Failures["server_error"] != 1 {
			t.Errorf("usage %+v", u)
		}
	})
}

// TestDailyLimitPauses: a DAILY 429 stops every call until a minute after
// the reset, logs one error, shows in Usage, and calls resume by themselves
// after it. The reset is HubSpot's own resetsAt when it says, else the next
// midnight in the configured zone.
func TestDailyLimitPauses(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("resetsAt known %v", known), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var h, usageHits hits
				daily := true
				reset := time.Now().Add(5*time.Hour + 17*time.Minute).UTC()
				srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/account-info/v3/api-usage/daily/private-apps" {
						usageHits.add()
						if known {
							writeJSON(w, 200, fmt.Sprintf(`{"results":[{"name":"api-calls-daily","usageLimit":250000,"currentUsage":250000,"collectedAt":%q,"fetchStatus":"SUCCESS","resetsAt":%q}]}`,
								time.Now().UTC().Format(time.RFC3339), reset.Format(time.RFC3339)))
						} else {
							writeJSON(w, 429, bodyDaily)
						}
						return
					}
					h.add()
					if daily {
						writeJSON(w, 429, bodyDaily)
						return
					}
					writeJSON(w, 200, `{"results":[]}`)
				})
				cfg := testConfig("https://api.hubapi.com")
				cfg.Object = ObjectDeals
				cfg.TimeZone = "America/New_York"
				c, lb := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
				ctx := context.Background()
				_, err := c.batchRead(ctx, "deals", []string{"1"}, nil)
				if connectors.Reason(err) != "daily_limit" || !connectors.ClassOf(err).Transient() {
					t.Fatalf("err = %v, want a retryable daily_limit", err)
				}
				want := reset.Add(time.Minute)
				if !known {
					ny, _ := time.LoadLocation("America/New_York")
					local := time.Now().In(ny)
					want = time.Date(local.Year(), local.Month(), local.Day()+1, 0, 1, 0, 0, ny)
				}
				u := c.Usage()
				if !u.PausedUntil.Equal(want) {
					t.Fatalf("PausedUntil %s, want %s", u.PausedUntil, want)
				}
				if known && (u.DailyUsed != 250000 || u.DailyLimit != 250000) {
					t.Errorf("daily usage %d/%d", u.DailyUsed, u.DailyLimit)
				}
				var ce *connectors.Error
				errors.As(err, &ce)
				if ce.After != time.Until(want) {
					t.Errorf("After = %s, want %s", ce.After, time.Until(want))
				}
				// Paused: no request leaves, and HubSpot was asked once.
				for range 3 {
					_, err = c.batchRead(ctx, "deals", []string{"1"}, nil)
					if connectors.Reason(err) != "daily_limit" {
						t.Fatalf("paused call: %v", err)
					}
				}
				if n, m := len(h.all()), len(usageHits.all()); n != 1 || m != 1 {
					t.Fatalf("%d requests and %d reset questions while paused, want 1 and 1", n, m)
				}
				if n := strings.Count(lb.String(), "daily API limit is used up"); n != 1 {
					t.Errorf("%d error lines about the daily limit, want 1:\n%s", n, lb.String())
				}
				// After the reset, calls go through again.
				daily = false
				time.Sleep(time.Until(want) + time.Second)
				if _, err := c.batchRead(ctx, "deals", []string{"1"}, nil); err != nil {
					t.Fatalf("after the reset: %v", err)
				}
				if !c.Usage().PausedUntil.IsZero() {
					t.Error("still paused after the reset")
				}
			})
		})
	}
}

// TestDailyWrongZoneProbesHourly: refused again right after a resume, the
// client probes hourly instead of waiting another day.
func TestDailyWrongZoneProbesHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 429, bodyDaily) })
		cfg := testConfig("https://api.hubapi.com")
		cfg.Object = ObjectDeals
		c, _ := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
		_, _ = c.batchRead(context.Background(), "deals", []string{"1"}, nil)
		first := c.Usage().PausedUntil
		time.Sleep(time.Until(first) + time.Second)
		_, _ = c.batchRead(context.Background(), "deals", []string{"1"}, nil)
		if got := c.Usage().PausedUntil; time.Until(got) > time.Hour {
			t.Errorf("paused until %s, want an hourly probe", got)
		}
	})
}

// TestDailyRemainingZeroPausesEarly: X-HubSpot-RateLimit-Daily-Remaining: 0
// pauses before HubSpot has to say 429.
func TestDailyRemainingZeroPausesEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h hits
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/account-info/v3/api-usage/daily/private-apps" {
				writeJSON(w, 429, bodyDaily)
				return
			}
			h.add()
			w.Header().Set("X-HubSpot-RateLimit-Daily", "250000")
			w.Header().Set("X-HubSpot-RateLimit-Daily-Remaining", "0")
			writeJSON(w, 200, `{"results":[]}`)
		})
		cfg := testConfig("https://api.hubapi.com")
		cfg.Object = ObjectDeals
		c, _ := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
		if _, err := c.batchRead(context.Background(), "deals", []string{"1"}, nil); err != nil {
			t.Fatal(err)
		}
		u := c.Usage()
		if u.DailyUsed != 250000 || u.DailyLimit != 250000 || u.PausedUntil.IsZero() {
			t.Fatalf("usage %+v", u)
		}
		_, err := c.batchRead(context.Background(), "deals", []string{"1"}, nil)
		if connectors.Reason(err) != "daily_limit" || len(h.all()) != 1 {
			t.Fatalf("err %v after %d requests", err, len(h.all()))
		}
	})
}

// TestWindowSlowsDownBeforeHubSpot: when HubSpot's remaining count says
// another client is spending the window, the limiter holds the difference
// for a window, so no 429 comes.
func TestWindowSlowsDownBeforeHubSpot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h hits
		// Another client already spent 90 of the 100 calls of this window.
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := h.add()
			w.Header().Set("X-HubSpot-RateLimit-Max", "100")
			w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
			w.Header().Set("X-HubSpot-RateLimit-Remaining", fmt.Sprint(max(100-90-n, 0)))
			writeJSON(w, 200, `{"results":[]}`)
		})
		cfg := testConfig("https://api.hubapi.com")
		cfg.Object = ObjectDeals
		c, _ := newTestClient(t, cfg, Options{Transport: handlerTransport{srv}})
		start := time.Now()
		for range 12 {
			if _, err := c.batchRead(context.Background(), "deals", []string{"1"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		at := h.all()
		// The first call learns of the 90; then at most 9 more fit in the
		// window: the 11th call waits for the window to turn.
		var inFirst int
		for _, a := range at {
			if a.Sub(start) < 10*time.Second {
				inFirst++
			}
		}
		if inFirst > 10 {
			t.Errorf("%d calls in the first window, HubSpot allowed 10", inFirst)
		}
	})
}
