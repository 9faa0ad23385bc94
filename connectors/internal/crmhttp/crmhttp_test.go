package crmhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/httpfault"
)

// The one Retry-After rule of both connectors: seconds or an HTTP date
// (against the answer's Date when it has one), bounded at 24 hours.
func TestRetryAfter(t *testing.T) {
	date := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"none", http.Header{}, 0, false},
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{"zero", http.Header{"Retry-After": {"0"}}, 0, true},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0, false},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"hours (a HubSpot 477)", http.Header{"Retry-After": {"7200"}}, 2 * time.Hour, true},
		{"beyond a day", http.Header{"Retry-After": {"9999999999999"}}, MaxRetryAfter, true},
		{"date against the answer's Date", http.Header{"Retry-After": {date.Add(90 * time.Second).Format(http.TimeFormat)},
			"Date": {date.Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"date in the past", http.Header{"Retry-After": {date.Format(http.TimeFormat)},
			"Date": {date.Add(time.Minute).Format(http.TimeFormat)}}, 0, true},
		{"date a year on", http.Header{"Retry-After": {date.AddDate(1, 0, 0).Format(http.TimeFormat)},
			"Date": {date.Format(http.TimeFormat)}}, MaxRetryAfter, true},
	} {
		got, ok := RetryAfter(tc.h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %s %v, want %s %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// Without a Date header, the local clock.
	h := http.Header{"Retry-After": {time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)}}
	if got, _ := RetryAfter(h); got < 18*time.Second || got > 20*time.Second {
		t.Errorf("date against the local clock: %s, want about 20s", got)
	}
}

func TestServerFault(t *testing.T) {
	for s, want := range map[int]bool{200: false, 429: false, 499: false, 500: true, 501: false, 502: true, 503: true, 505: false, 521: true} {
		if ServerFault(s) != want {
			t.Errorf("ServerFault(%d) = %v", s, !want)
		}
	}
}

func TestHeaderInt(t *testing.T) {
	h := http.Header{"X-N": {" 42 "}, "X-Bad": {"many"}}
	if HeaderInt(h, "X-N", -1) != 42 || HeaderInt(h, "X-Bad", -1) != -1 || HeaderInt(h, "X-None", 7) != 7 {
		t.Error(HeaderInt(h, "X-N", -1), HeaderInt(h, "X-Bad", -1), HeaderInt(h, "X-None", 7))
	}
}

func TestExponential(t *testing.T) {
	if Exponential(0) != WaitBase || Exponential(3) != 8*WaitBase || Exponential(-1) != WaitBase || Exponential(100) != WaitBase<<16 {
		t.Errorf("%s %s %s %s", Exponential(0), Exponential(3), Exponential(-1), Exponential(100))
	}
}

func TestRetrierCheck(t *testing.T) {
	ctx := context.Background()
	resp := &http.Response{StatusCode: 503, Header: http.Header{}}
	if done, _, _ := (Retrier{}).Check(ctx, resp, nil); done {
		t.Error("an answer is the connector's to judge")
	}
	if done, retry, _ := (Retrier{}).Check(ctx, nil, &url.Error{Op: "Get", URL: "x", Err: errors.New("connection reset")}); !done || !retry {
		t.Error("a reset is retried")
	}
	final := errors.New("refresh failed")
	if done, retry, _ := (Retrier{Final: func(err error) bool { return errors.Is(err, final) }}).Check(ctx, nil, final); !done || retry {
		t.Error("a final error is not retried")
	}
	if done, retry, _ := (Retrier{}).Check(WithoutResend(ctx), resp, nil); !done || retry {
		t.Error("a create that may have been applied is not sent again")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if done, retry, err := (Retrier{}).Check(cctx, resp, nil); !done || retry || err == nil {
		t.Error("a cancelled call is not retried")
	}
}

func TestErrors(t *testing.T) {
	_, att := httpfault.WithAttempts(context.Background())
	if e := SendError("op", true, errors.New("reset"), att, "reset"); e.Class != connectors.ClassUnknown || e.Reason != "network" || e.After != WaitBase {
		t.Errorf("a write without an answer: %+v", e)
	}
	if e := SendError("op", false, errors.New("reset"), att, "reset"); e.Class != connectors.ClassRetry {
		t.Errorf("a read without an answer: %+v", e)
	}
	if e := AnswerError("op", 200, true, "bad_response", errors.New("x")); e.Class != connectors.ClassUnknown || e.After != WaitBase {
		t.Errorf("an unreadable answer to a write: %+v", e)
	}
	e := connectors.NewError("op", 400, connectors.ClassPermanent, "invalid", errors.New("x"))
	MaybeApplied(e, true, att)
	if e.Class != connectors.ClassPermanent {
		t.Errorf("no attempt may have been applied: %s", e.Class)
	}
}

func TestUsage(t *testing.T) {
	var u Usage
	u.Call("search")
	u.Call("search")
	u.Call("")
	u.Fail("network")
	u.Limited()
	u.SetDaily(10, 100)
	s := u.Snapshot()
	if s.Calls["search"] != 2 || s.Calls["other"] != 1 || s.Failures["network"] != 1 || s.RateLimited != 1 ||
		s.DailyUsed != 10 || s.DailyLimit != 100 || u.Total() != 3 {
		t.Errorf("%+v total %d", s, u.Total())
	}
	s.Calls["search"] = 99
	if u.Snapshot().Calls["search"] != 2 {
		t.Error("a snapshot shares the counters")
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber("tok-123456", "", "abc")
	s.Add("pass word/+")
	got := s.String("Bearer tok-123456 q=" + url.QueryEscape("pass word/+") + " jane.doe@globex.example abc")
	if strings.Contains(got, "tok-123456") || strings.Contains(got, "jane.doe") || strings.Contains(got, "pass") ||
		!strings.Contains(got, "<secret>") || !strings.Contains(got, "j***@globex.example") || !strings.Contains(got, "abc") {
		t.Errorf("scrubbed: %s", got)
	}
	var none *Scrubber
	if got := none.String("x jane.doe@globex.example"); strings.Contains(got, "jane.doe") {
		t.Errorf("a nil scrubber still masks addresses: %s", got)
	}
	var buf bytes.Buffer
	l := s.Logger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.With("k", "tok-123456").WithGroup("g").Info("m tok-123456", "err", errors.New("x tok-123456"), "v", url.Values{"t": {"tok-123456"}})
	if strings.Contains(buf.String(), "tok-123456") || !strings.Contains(buf.String(), "<secret>") {
		t.Errorf("log: %s", buf.String())
	}
}

func TestClip(t *testing.T) {
	if got := Clip("héllo", 2); got != "h…" {
		t.Errorf("%q", got)
	}
	if got := Clip("hello", 5); got != "hello" {
		t.Errorf("%q", got)
	}
}

// retryablehttp's own messages reach the log at debug level only, without
// query strings.
func TestRetryLogging(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	calls := 0
	rt := roundTripper(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})
	rc := NewClient(Options{Transport: rt, Retries: 1, Logger: l, Prefix: "test http",
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			return resp != nil && resp.StatusCode == 503, nil
		},
		Backoff: func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }})
	resp, err := rc.Get("http://crm.example/services/data/v63.0/query?q=SELECT+Id+FROM+Account+WHERE+Name%3D%27Globex%27")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	out := buf.String()
	if strings.Contains(out, "Globex") || !strings.Contains(out, "test http: ") || strings.Contains(out, "level=INFO") ||
		strings.Contains(out, "level=ERROR") {
		t.Errorf("log:\n%s", out)
	}
	if got := DropQueries("GET https://x/q?a=1&b=2 (status: 503): retrying in 1s GET /y?z"); got != "GET https://x/q?… (status: 503): retrying in 1s GET /y?…" {
		t.Errorf("%q", got)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
