package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/secret"
)

// The classification over loopback: a small Salesforce of our own answers
// each shape (not the fake, whose faults are its own), and the client's
// error must carry the class docs/errors.md gives it.

// sfShape answers a data request (login and describe are answered before).
type sfShape func(w http.ResponseWriter, r *http.Request, n int)

// sfServer is a loopback org: it logs in anyone and hands data requests to
// shape, counting them. instance, when set, is the instance URL the login
// hands out (a dead port, to refuse connections).
func sfServer(t *testing.T, shape sfShape, instance string) (*Client, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/services/oauth2/token":
			inst := instance
			if inst == "" {
				inst = srv.URL
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "00Dxx!session", "instance_url": inst,
				"token_type": "Bearer", "id": srv.URL + "/id/00D/005", "issued_at": "1", "signature": "s"})
		case strings.HasSuffix(r.URL.Path, "/describe"):
			sfJSON(w, 404, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`)
		default:
			_, _ = io.Copy(io.Discard, r.Body)
			shape(w, r, int(calls.Add(1)))
		}
	}))
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.Domain = srv.URL
	cfg.ClientID = "client-id"
	cfg.ClientSecret = secret.New("client-secret-value")
	cfg.Timeout = 5 * time.Second
	cfg.MaxRetries = 1
	c, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), MaxRetryWait: time.Millisecond,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func sfJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// reset reads the request and drops the connection with a TCP reset: the
// request was sent, no answer comes.
func reset(w http.ResponseWriter, _ *http.Request, _ int) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cutShort promises more body than it sends, then drops the connection.
func cutShort(status int, body string) sfShape {
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

func always(status int, body string) sfShape {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { sfJSON(w, status, body) }
}

// deadURL is the address of a port nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	_ = l.Close()
	return u
}

var (
	regA = id18("a0R5g000000AAAA")
	regB = id18("a0R5g000000BBBB")
	regC = id18("a0R5g000000CCCC")
	regD = id18("a0R5g000000DDDD")
)

func update(id string) connectors.Update {
	return connectors.Update{ID: id, Fields: map[string]string{"status": "approved", "status_reason": "no_conflict"}}
}

// sfWrite writes one update by id and returns its error.
func sfWrite(c *Client) error {
	res, err := c.Write(context.Background(), []connectors.Update{update(regA)})
	if err != nil {
		return err
	}
	return res[0].Err
}

// sfRead reads one registration by id.
func sfRead(c *Client) error {
	_, err := c.Registrations(context.Background(), []string{regA})
	return err
}

func TestClassifyOverLoopback(t *testing.T) {
	const (
		R = connectors.ClassRetry
		P = connectors.ClassPostpone
		U = connectors.ClassUnknown
		X = connectors.ClassPermanent
	)
	limit := `[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]`
	invalid := `[{"errorCode":"INVALID_FIELD","message":"No such column 'Bogus__c' on sobject of type Partner_Registration__c","fields":["Bogus__c"]}]`
	for _, tc := range []struct {
		name     string
		shape    sfShape
		dead     bool // the instance refuses connections
		write    bool
		class    connectors.Class
		reason   string
		afterMin time.Duration
	}{
		{"403 REQUEST_LIMIT_EXCEEDED on a write", always(403, limit), false, true, P, "daily_limit", limitPause},
		{"429 with Retry-After on a read", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "0")
			sfJSON(w, 429, `[]`)
		}, false, false, P, "rate_limited", 0},
		{"503 on a write", always(503, `[{"errorCode":"SERVER_UNAVAILABLE","message":"Server is temporarily unavailable"}]`), false, true, U, "server_error", 0},
		{"500 HTML page on a write", always(500, `<html>maintenance</html>`), false, true, U, "server_error", 0},
		{"503 on a read", always(503, `<html>maintenance</html>`), false, false, R, "server_error", 0},
		{"503 then 400 on a write: the first attempt may have landed", func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				sfJSON(w, 503, `[]`)
				return
			}
			sfJSON(w, 400, invalid)
		}, false, true, U, "field_access", 0},
		{"reset after sending a write", reset, false, true, U, "network", 0},
		{"reset after sending a read", reset, false, false, R, "network", 0},
		{"connection refused on a write: never sent", nil, true, true, R, "network", 0},
		{"truncated 2xx on a write (JSON cut short)", always(200, `[{"id":"`+regA+`","success":tr`), false, true, U, "bad_response", 0},
		{"truncated 2xx on a write (connection dropped)", cutShort(200, `[{"id":"`+regA+`","succ`), false, true, U, "network", 0},
		{"truncated 2xx on a read", always(200, `{"totalSize":1,"done":true,"records":[{"Id":"`), false, false, R, "bad_response", 0},
		{"truncated 2xx on a read (connection dropped)", cutShort(200, `{"totalSize":1,"done":`), false, false, R, "network", 0},
		{"400 INVALID_FIELD on a write", always(400, invalid), false, true, X, "field_access", 0},
		{"400 on a read", always(400, `[{"errorCode":"MALFORMED_QUERY","message":"unexpected token"}]`), false, false, X, "invalid", 0},
		{"404 on a write", always(404, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`), false, true, X, "not_found", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := ""
			if tc.dead {
				inst = deadURL(t)
			}
			c, _ := sfServer(t, tc.shape, inst)
			var err error
			if tc.write {
				err = sfWrite(c)
			} else {
				err = sfRead(c)
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

// Regression (issue 11): a 2xx answer to a write whose JSON is cut short was
// classified invalid and not retryable, so the worker dead-lettered records
// Salesforce may well have saved (133 registrations and 100 deals in a
// run). The outcome is unknown: transient, never permanent.
func TestTruncatedSuccessIsUnknown(t *testing.T) {
	body := `[{"id":"` + regA + `","success":true,"errors":[]},{"id":"` + regB + `","succ`
	c, calls := sfServer(t, always(200, body), "")
	res, err := c.Write(context.Background(), []connectors.Update{update(regA), update(regB)})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for i, r := range res {
		if got := connectors.ClassOf(r.Err); got != connectors.ClassUnknown {
			t.Errorf("record %d: class %q (%v), want unknown", i, got, r.Err)
		}
		if !connectors.ClassOf(r.Err).Transient() {
			t.Errorf("record %d: not retryable: %v", i, r.Err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls: a 2xx is not retried within the call", n)
	}
	// The same cut-short answer to a read is simply retry.
	c, _ = sfServer(t, always(200, `{"totalSize":1,"done":true,"records":[{"Id":"`+regA), "")
	if err := sfRead(c); connectors.ClassOf(err) != connectors.ClassRetry {
		t.Errorf("read: class %q (%v), want retry", connectors.ClassOf(err), err)
	}
}

// Per-record errors of a collection answer (200, allOrNone=false): each
// record gets its own class; a record missing from the answer is unknown.
func TestCollectionPerRecordClasses(t *testing.T) {
	body := `[
	{"id":"` + regA + `","success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"unable to obtain exclusive access to this record","fields":[]}]},
	{"id":"` + regB + `","success":false,"errors":[{"statusCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded.","fields":[]}]},
	{"id":"` + regC + `","success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [Partner_Id__c]","fields":["Partner_Id__c"]}]},
	{"id":"` + regD + `","success":false,"errors":[{"statusCode":"DUPLICATE_VALUE","message":"duplicate value found: Case_Number__c duplicates value on record with id: a0R5g000000EEEE","fields":[]}]}
	]`
	c, _ := sfServer(t, always(200, body), "")
	res, err := c.Write(context.Background(), []connectors.Update{update(regA), update(regB), update(regC), update(regD)})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		class  connectors.Class
		reason string
	}{{connectors.ClassRetry, "locked"}, {connectors.ClassPostpone, "daily_limit"},
		{connectors.ClassPermanent, "invalid"}, {connectors.ClassPermanent, "duplicate_value"}}
	for i, w := range want {
		if got := connectors.ClassOf(res[i].Err); got != w.class || connectors.Reason(res[i].Err) != w.reason {
			t.Errorf("record %d: %s %s, want %s %s (%v)", i, got, connectors.Reason(res[i].Err), w.class, w.reason, res[i].Err)
		}
	}
	// Fewer results than records: which were saved is unknown.
	c, _ = sfServer(t, always(200, `[{"id":"`+regA+`","success":true,"errors":[]}]`), "")
	res, err = c.Write(context.Background(), []connectors.Update{update(regA), update(regB)})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if connectors.ClassOf(r.Err) != connectors.ClassUnknown {
			t.Errorf("short answer, record %d: %s (%v)", i, connectors.ClassOf(r.Err), r.Err)
		}
	}
}
