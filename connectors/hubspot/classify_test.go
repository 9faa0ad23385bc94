package hubspot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
)

// The classification over loopback: a small HubSpot of our own answers each
// shape (not the fake, whose faults are its own), and the client's error
// must carry the class docs/errors.md gives it.

type hsShape func(w http.ResponseWriter, r *http.Request, n int)

// hsServer serves shape on loopback (the daily-usage question is refused)
// and returns a client of the deals flavour for it, with maxRetries
// retries within a call. base, when set, replaces the server's URL (a dead
// port).
func hsServer(t *testing.T, shape hsShape, maxRetries int, base string) (*Client, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/account-info/v3/api-usage/daily/private-apps" {
			writeJSON(w, 403, bodyErr)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		shape(w, r, int(calls.Add(1)))
	}))
	t.Cleanup(srv.Close)
	if base == "" {
		base = srv.URL
	}
	cfg := testConfig(base)
	cfg.Object = ObjectDeals
	cfg.MaxRetries = maxRetries
	c, _ := newTestClient(t, cfg, Options{})
	return c, &calls
}

func hsAlways(status int, header map[string]string, body string) hsShape {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		writeJSON(w, status, body)
	}
}

// hsReset reads the request and drops the connection with a TCP reset.
func hsReset(w http.ResponseWriter, _ *http.Request, _ int) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// hsCutShort promises more body than it sends, then drops the connection.
func hsCutShort(status int, body string) hsShape {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n%s", status, http.StatusText(status), body)
		_ = buf.Flush()
		_ = conn.Close()
	}
}

func hsDeadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	_ = l.Close()
	return u
}

func hsUpdate(id string) connectors.Update {
	return connectors.Update{ID: id, Fields: map[string]string{"status": "approved", "status_reason": "no_conflict"}}
}

func TestClassifyOverLoopback(t *testing.T) {
	ctx := context.Background()
	write := func(c *Client) error {
		res, err := c.Write(ctx, []connectors.Update{hsUpdate("11")})
		if res[0].Err == nil {
			return err
		}
		return res[0].Err
	}
	read := func(c *Client) error {
		_, err := c.batchRead(ctx, "deals", []string{"11"}, []string{"dealname"})
		return err
	}
	invalid := `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"1x is not a valid number\",\"name\":\"amount\"}]","correlationId":"c9","category":"VALIDATION_ERROR"}`
	for _, tc := range []struct {
		name       string
		shape      hsShape
		dead       bool
		maxRetries int
		write      bool
		class      connectors.Class
		reason     string
		afterMin   time.Duration
	}{
		{"429 TEN_SECONDLY_ROLLING with Retry-After on a write",
			hsAlways(429, map[string]string{"Retry-After": "3", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, bodyTen),
			false, 0, true, P, "rate_limited", 10 * time.Second},
		{"429 DAILY on a write", hsAlways(429, nil, bodyDaily), false, 0, true, P, "daily_limit", time.Minute},
		{"477 migration, Retry-After 2h, on a write", hsAlways(477, map[string]string{"Retry-After": "7200"}, bodyErr),
			false, 0, true, P, "server_error", 2 * time.Hour},
		{"423 locked on a write", hsAlways(423, nil, bodyErr), false, 0, true, R, "rate_limited", 2 * time.Second},
		{"502 on a write", hsAlways(502, nil, `<html>Bad Gateway</html>`), false, 0, true, U, "server_error", 0},
		{"504 on a write", hsAlways(504, nil, ``), false, 0, true, U, "server_error", 0},
		{"502 on a read", hsAlways(502, nil, `<html>Bad Gateway</html>`), false, 0, false, R, "server_error", 0},
		{"503 then 400 on a write: the first attempt may have landed", func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				writeJSON(w, 503, `{"status":"error","message":"unavailable"}`)
				return
			}
			writeJSON(w, 400, invalid)
		}, false, 1, true, U, "invalid", 0},
		{"reset after sending a write", hsReset, false, 0, true, U, "network", 0},
		{"reset after sending a read", hsReset, false, 0, false, R, "network", 0},
		{"connection refused on a write: never sent", nil, true, 0, true, R, "network", 0},
		{"truncated 2xx on a write (JSON cut short)", hsAlways(200, nil, `{"status":"COMPLETE","results":[{"id":"11","proper`),
			false, 0, true, U, "bad_response", 0},
		{"truncated 2xx on a write (connection dropped)", hsCutShort(200, `{"status":"COMPLETE","res`), false, 0, true, U, "network", 0},
		{"truncated 2xx on a read", hsAlways(200, nil, `{"status":"COMPLETE","results":[{"id":"11"`), false, 0, false, R, "bad_response", 0},
		{"truncated 2xx on a read (connection dropped)", hsCutShort(200, `{"status":"COMP`), false, 0, false, R, "network", 0},
		{"400 on a write", hsAlways(400, nil, invalid), false, 0, true, X, "invalid", 0},
		{"401 on a read", hsAlways(401, nil, `{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}`),
			false, 0, false, X, "unauthorized", 0},
		{"404 on a write", hsAlways(404, nil, bodyErr), false, 0, true, X, "not_found", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := ""
			if tc.dead {
				base = hsDeadURL(t)
			}
			c, _ := hsServer(t, tc.shape, tc.maxRetries, base)
			var err error
			if tc.write {
				err = write(c)
			} else {
				err = read(c)
			}
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *connectors.Error", err)
			}
			if got := connectors.ClassOf(err); got != tc.class || ce.Reason != tc.reason {
				t.Errorf("class %s, reason %s; want %s, %s (%v)", got, ce.Reason, tc.class, tc.reason, err)
			}
			if ce.Retry != tc.class.Transient() || connectors.ClassOf(err).Transient() != tc.class.Transient() {
				t.Errorf("Retry %v, Retryable %v for class %s", ce.Retry, connectors.ClassOf(err).Transient(), tc.class)
			}
			if ce.After < tc.afterMin {
				t.Errorf("After %s, want at least %s", ce.After, tc.afterMin)
			}
		})
	}
}

// A truncated success to a write is unknown on HubSpot too: the worker
// keeps the records, whichever way the answer was cut.
func TestTruncatedSuccessIsUnknownHubSpot(t *testing.T) {
	c, calls := hsServer(t, hsAlways(200, nil, `{"status":"COMPLETE","results":[{"id":"11","properties":{}},{"id":"1`), 3, "")
	res, err := c.Write(context.Background(), []connectors.Update{hsUpdate("11"), hsUpdate("12")})
	if connectors.ClassOf(err) != connectors.ClassUnknown {
		t.Errorf("call error %v: class %s", err, connectors.ClassOf(err))
	}
	for i, r := range res {
		if connectors.ClassOf(r.Err) != connectors.ClassUnknown {
			t.Errorf("record %d: class %s (%v), want unknown", i, connectors.ClassOf(r.Err), r.Err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls: a 2xx is not retried within the call", n)
	}
}

// A 207 answer gives each record its own class: VALIDATION_ERROR and
// OBJECT_NOT_FOUND are permanent, RATE_LIMITS postpones, LOCKED retries,
// and a record the answer names nowhere has an unknown outcome.
func TestBatch207PerRecordClasses(t *testing.T) {
	errs := []string{
		`{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid","context":{"ids":["11"]},"errors":[{"message":"amount must be a number"}]}`,
		`{"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get some deals objects, they may be deleted or not exist.","context":{"ids":["12"]}}`,
		`{"status":"error","category":"RATE_LIMITS","message":"You have reached your secondly limit.","context":{"ids":["13"]}}`,
		`{"status":"error","category":"LOCKED","message":"The object is locked","context":{"ids":["14"]}}`,
	}
	body := `{"status":"COMPLETE","results":[{"id":"15","objectWriteTraceId":"4","properties":{}}],"numErrors":4,"errors":[` + strings.Join(errs, ",") + `]}`
	c, _ := hsServer(t, hsAlways(207, nil, body), 0, "")
	res, err := c.Write(context.Background(), []connectors.Update{hsUpdate("11"), hsUpdate("12"), hsUpdate("13"), hsUpdate("14"), hsUpdate("15"), hsUpdate("16")})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	want := []struct {
		class  connectors.Class
		reason string
	}{{X, "invalid"}, {X, "not_found"}, {P, "rate_limited"}, {R, "rate_limited"}, {"", ""}, {U, "bad_response"}}
	for i, w := range want {
		if got := connectors.ClassOf(res[i].Err); got != w.class || (w.reason != "" && connectors.Reason(res[i].Err) != w.reason) {
			t.Errorf("record %d: %q %s, want %q %s (%v)", i, got, connectors.Reason(res[i].Err), w.class, w.reason, res[i].Err)
		}
	}
	var ce *connectors.Error
	if errors.As(res[2].Err, &ce) && ce.After < 10*time.Second {
		t.Errorf("RATE_LIMITS record: After %s", ce.After)
	}
}

// docs/errors.md names every HubSpot code the client classifies.
func TestErrorsDocNamesHubSpotCodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"VALIDATION_ERROR", "OBJECT_NOT_FOUND", "CONFLICT", "OBJECT_ALREADY_EXISTS", "RATE_LIMITS",
		"LOCKED", "TEN_SECONDLY_ROLLING", "DAILY", "RATE_LIMIT", "Retry-After", "X-HubSpot-RateLimit-Interval-Milliseconds"} {
		if !strings.Contains(string(doc), "`"+code+"`") {
			t.Errorf("docs/errors.md does not name %s", code)
		}
	}
	for _, status := range []string{"423", "429", "477", "500", "501"} {
		if !strings.Contains(string(doc), "| "+status) {
			t.Errorf("docs/errors.md has no row for %s", status)
		}
	}
}
