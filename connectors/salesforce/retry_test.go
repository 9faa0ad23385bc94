package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// The retry policy: which answers the HTTP layer retries, and how every
// failure is classified for the worker, on a read and on a write (a 5xx on
// a write is an unknown outcome), and as a record's own error in a
// collection answer (never unknown: that record was not saved).
func TestRetryClassification(t *testing.T) {
	const (
		R = connectors.ClassRetry
		P = connectors.ClassPostpone
		U = connectors.ClassUnknown
		X = connectors.ClassPermanent
	)
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status      int
		code, msg   string
		httpRetry   bool // retried by the HTTP client
		reason      string
		read, write connectors.Class
		afterAtMin  time.Duration
	}{
		{200, "", "", false, "invalid", X, X, 0},
		{400, "MALFORMED_QUERY", "unexpected token", false, "invalid", X, X, 0},
		{400, "INVALID_FIELD", "No such column 'X__c'", false, "field_access", X, X, 0},
		{400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields", false, "field_access", X, X, 0},
		{400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights", false, "field_access", X, X, 0},
		{400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", false, "invalid", X, X, 0},
		{400, "DUPLICATES_DETECTED", "Use one of these records?", false, "duplicate", X, X, 0},
		{400, "DUPLICATE_VALUE", "duplicate value found", false, "duplicate_value", X, X, 0},
		{404, "ENTITY_IS_DELETED", "entity is deleted", false, "deleted", X, X, 0},
		{400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", false, "converted", X, X, 0},
		{400, "ENTITY_IS_LOCKED", "the entity is locked for editing", false, "record_locked", X, X, 0},
		{400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Close date must be in the future", false, "validation", X, X, 0},
		{400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value", false, "invalid", X, X, 0},
		{400, "STRING_TOO_LONG", "data value too large", false, "invalid", X, X, 0},
		{404, "NOT_FOUND", "The requested resource does not exist", false, "not_found", X, X, 0},
		{400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", false, "not_found", X, X, 0},
		{400, "INVALID_QUERY_LOCATOR", "invalid query locator", false, "query_expired", R, R, 0},
		{400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", true, "locked", R, R, waitLock},
		{400, "ALL_OR_NONE_OPERATION_ROLLED_BACK", "rolled back", false, "rolled_back", R, R, waitBase},
		{401, "INVALID_SESSION_ID", "Session expired or invalid", false, "unauthorized", X, X, 0},
		{403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", false, "daily_limit", P, P, limitPause},
		{403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", true, "rate_limited", P, P, waitConcurrent},
		{403, "API_DISABLED_FOR_ORG", "API is not enabled for this Organization", false, "forbidden", X, X, 0},
		{403, "", "", false, "forbidden", X, X, 0},
		{429, "", "", true, "rate_limited", P, P, 0},
		{300, "", "", false, "conflict", X, X, 0},
		{409, "", "", false, "conflict", X, X, 0},
		{500, "UNKNOWN_EXCEPTION", "An unexpected error occurred", true, "server_error", R, U, waitBase},
		{503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable", true, "server_error", R, U, waitBase},
		{503, "", "", true, "server_error", R, U, 0},
		{502, "", "", true, "server_error", R, U, 0},
		{501, "", "", false, "server_error", X, X, 0},
		{400, "QUERY_TIMEOUT", "Your query request was running for too long.", true, "server_error", R, R, waitBase},
		{400, "STORAGE_LIMIT_EXCEEDED", "storage limit exceeded", false, "storage_limit", X, X, 0},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.code != "" {
			resp.Header.Set(hdrCode, tc.code)
			resp.Header.Set(hdrMessage, tc.msg)
		}
		got, err := checkRetry(context.Background(), resp, nil)
		if err != nil || got != tc.httpRetry {
			t.Errorf("%d %s: HTTP retry = %v, want %v", tc.status, tc.code, got, tc.httpRetry)
		}
		if tc.status == 200 {
			continue
		}
		c := &Client{}
		var errs []sfError
		if tc.code != "" {
			errs = []sfError{{ErrorCode: tc.code, Message: tc.msg}}
		}
		for _, w := range []struct {
			write bool
			want  connectors.Class
		}{{false, tc.read}, {true, tc.write}} {
			e := c.classify("op", tc.status, errs, w.write)
			if e.Reason != tc.reason || e.Class != w.want || e.Retry != w.want.Transient() || e.After < tc.afterAtMin {
				t.Errorf("%d %s (write %v): classified %s %s retry=%v after=%s, want %s %s after≥%s", tc.status, tc.code, w.write,
					e.Reason, e.Class, e.Retry, e.After, tc.reason, w.want, tc.afterAtMin)
			}
			if connectors.ClassOf(e) != w.want {
				t.Errorf("%d %s: ClassOf = %s", tc.status, tc.code, connectors.ClassOf(e))
			}
		}
		if tc.code != "" && !strings.Contains(string(doc), "`"+tc.code+"`") {
			t.Errorf("docs/errors.md does not name %s", tc.code)
		}
		// Per-record errors say statusCode instead of errorCode, and are
		// as the code says: the record was not saved (never unknown).
		if tc.code != "" {
			pr := c.recordError("op", []sfError{{StatusCode: tc.code, Message: tc.msg}})
			if _, _, known := reasonOf(tc.code, tc.msg); known && (pr.Reason != tc.reason || pr.Class != tc.read || pr.Retry != tc.read.Transient()) {
				t.Errorf("per-record %s: %s %s retry=%v", tc.code, pr.Reason, pr.Class, pr.Retry)
			}
		}
	}
	// Network failures are retried, TLS trust failures are not, and a
	// cancelled context stops everything.
	if ok, _ := checkRetry(context.Background(), nil, &url.Error{Op: "Get", URL: "x", Err: errors.New("connection reset")}); !ok {
		t.Error("network error not retried")
	}
	if ok, _ := checkRetry(context.Background(), nil, &url.Error{Op: "Get", URL: "x", Err: x509.UnknownAuthorityError{}}); ok {
		t.Error("TLS trust error retried")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := checkRetry(ctx, &http.Response{StatusCode: 503, Header: http.Header{}}, nil); ok || err == nil {
		t.Error("retried after cancellation")
	}
}

func TestBackoffIsCapped(t *testing.T) {
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"86400"}}}
	if d := backoff(0, resp); d != maxDelay {
		t.Errorf("Retry-After of a day gave %s", d)
	}
	if d := backoff(30, nil); d != maxDelay {
		t.Errorf("attempt 30 gave %s", d)
	}
	if d := backoff(0, nil); d != waitBase {
		t.Errorf("first backoff %s", d)
	}
}

func TestParseLimitInfo(t *testing.T) {
	for _, tc := range []struct {
		in          string
		used, limit int64
		ok          bool
	}{
		{"api-usage=10018/100000", 10018, 100000, true},
		{"api-usage=25/15000, per-app-api-usage=17/250(appName=sample)", 25, 15000, true},
		{"per-app-api-usage=17/250(appName=x), api-usage=3/5", 3, 5, true},
		{"", 0, 0, false},
		{"api-usage=x/5", 0, 0, false},
		{"api-usage=5", 0, 0, false},
	} {
		u, l, ok := parseLimitInfo(tc.in)
		if u != tc.used || l != tc.limit || ok != tc.ok {
			t.Errorf("%q: %d/%d %v", tc.in, u, l, ok)
		}
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, nil)
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	e.sf.ResetCalls()
	e.sf.SetFaults(salesforcetest.Faults{Fail5xx: 2})
	if _, err := e.c.Registrations(ctx, []string{missingID}); err != nil {
		t.Fatalf("after two 503s: %v", err)
	}
	if n := e.sf.TotalCalls(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	// An HTML maintenance page, past the retry budget: classified, retryable.
	e.sf.SetFaults(salesforcetest.Faults{Fail5xx: 10, HTMLErrors: true})
	_, err := e.c.Registrations(ctx, []string{missingID})
	if connectors.Reason(err) != "server_error" || !connectors.ClassOf(err).Transient() {
		t.Errorf("HTML 503: %v", err)
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != 503 {
		t.Errorf("status lost: %v", err)
	}
	// The concurrent-request limit passes in seconds: retried.
	e.sf.SetFaults(salesforcetest.Faults{ConcurrentLimit: 1})
	if _, err := e.c.Registrations(ctx, []string{missingID}); err != nil {
		t.Errorf("after a concurrent-limit answer: %v", err)
	}
	if u := e.c.Usage(); u.Failures["server_error"] != 1 || u.RateLimited != 1 || u.Calls["read registrations"] < 6 {
		t.Errorf("usage: %+v", u)
	}
}

// An expired session is refreshed once, under a lock, however many calls
// find it expired at once.
func TestSessionRefreshOnce(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, nil)
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.sf.AuthCalls(); n != 1 {
		t.Fatalf("%d logins", n)
	}
	e.sf.ExpireSessions()
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := e.c.Registrations(ctx, []string{missingID})
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sf.AuthCalls(); n != 2 {
		t.Errorf("%d logins after the session expired, want 2", n)
	}
	// A session refused again right after logging in is not retried in a
	// loop: an access token cannot be refreshed.
	e2 := newEnv(t, salesforcetest.Options{Empty: true, AccessTokens: []string{"00Dstatic!token-value"}}, func(c *Config) {
		c.ClientID, c.ClientSecret = "", secret.Secret{}
		c.AccessToken = secret.New("00Dstatic!token-value")
	})
	if err := e2.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	e2.sf.ExpireSessions()
	before := e2.sf.TotalCalls()
	err := e2.c.Ping(ctx)
	if connectors.Reason(err) != "unauthorized" || connectors.ClassOf(err).Transient() {
		t.Errorf("expired access token: %v", err)
	}
	if n := e2.sf.TotalCalls() - before; n != 1 {
		t.Errorf("%d calls for an expired access token", n)
	}
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.ClientSecret = secret.New("wrong-secret-value") })
	err := e.c.Ping(ctxT(t))
	if connectors.Reason(err) != "unauthorized" || connectors.ClassOf(err).Transient() {
		t.Errorf("bad secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("secret in error: %v", err)
	}
	// Nothing listening: a retryable network failure.
	cfg := DefaultConfig()
	cfg.Domain, cfg.ClientID, cfg.ClientSecret = "http://127.0.0.1:1", "x", secret.New("y")
	cfg.Timeout = 2 * time.Second
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(ctxT(t))
	if connectors.Reason(err) != "network" || !connectors.ClassOf(err).Transient() {
		t.Errorf("connection refused: %v", err)
	}
}

// Above the slow-down share calls are spaced out and an alert is logged
// once; REQUEST_LIMIT_EXCEEDED stops writes, fast and retryably, until the
// pause ends, losing nothing.
func TestDailyLimit(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true, DailyLimit: 1000}, func(c *Config) { c.SlowDownAt = 0.8 })
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if u := e.c.Usage(); u.DailyLimit != 1000 || u.DailyUsed < 1 {
		t.Fatalf("usage not read from Sforce-Limit-Info: %+v", u)
	}
	e.sf.SetAPIUsage(900)
	for range 3 {
		if err := e.c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var paced []time.Duration
	for _, d := range e.slept {
		if d > 0 {
			paced = append(paced, d)
		}
	}
	// ~99 calls left of 1,000 for the rolling day: one call per 24h/99,
	// capped at one per 30 s.
	if len(paced) == 0 || paced[0] != 30*time.Second {
		t.Errorf("no pacing above 80%%: %v", e.slept)
	}
	if n := strings.Count(e.logs.String(), "nearly spent"); n != 1 {
		t.Errorf("%d slow-down alerts, want 1:\n%s", n, e.logs.String())
	}
	// The allocation runs out.
	e.sf.SetAPIUsage(1000)
	up := newRegistration("k-1", "Initech", "initech.example", "p-1")
	res, err := e.c.Write(ctx, []connectors.Update{up})
	if err != nil {
		t.Fatal(err)
	}
	var ce *connectors.Error
	if !errors.As(res[0].Err, &ce) || ce.Reason != "daily_limit" || !ce.Retry || ce.After <= 0 {
		t.Fatalf("write over the limit: %v", res[0].Err)
	}
	if u := e.c.Usage(); u.PausedUntil.IsZero() || u.RateLimited < 1 {
		t.Errorf("usage while paused: %+v", u)
	}
	before := e.sf.TotalCalls()
	res, _ = e.c.Write(ctx, []connectors.Update{up})
	if connectors.Reason(res[0].Err) != "daily_limit" || !connectors.ClassOf(res[0].Err).Transient() {
		t.Errorf("second write while paused: %v", res[0].Err)
	}
	if n := e.sf.TotalCalls() - before; n != 0 {
		t.Errorf("%d calls while paused", n)
	}
	if n := e.sf.Count(obj); n != 0 {
		t.Fatalf("%d records written over the limit", n)
	}
	// The window frees; the same update (kept by the worker) goes through.
	e.sf.Advance(25 * time.Hour)
	e.advance(limitPause + time.Second)
	mustWrite(t, e.c, up)
	if n := e.sf.Count(obj); n != 1 {
		t.Errorf("%d records after the pause", n)
	}
	if u := e.c.Usage(); !u.PausedUntil.IsZero() {
		t.Errorf("still paused: %v", u.PausedUntil)
	}
}

// No secret reaches an error or a log line.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	const (
		clientSecret = "cs-7d1f0e9a-secret"
		password     = "pw-2b8c-secret"
		token        = "tok-99aa-secret"
	)
	e := newEnv(t, salesforcetest.Options{Empty: true, Username: "int@example.com", Password: password, SecurityToken: token,
		ClientSecret: clientSecret}, func(c *Config) {
		c.ClientSecret = secret.New(clientSecret)
		c.Username, c.Password, c.SecurityToken = "int@example.com", secret.New(password), secret.New(token)
		c.WebhookSecret = secret.New("hook-secret-0123456")
	})
	ctx := ctxT(t)
	var errs []error
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	accessToken := e.c.sf.GetAccessToken()
	if accessToken == "" {
		t.Fatal("no access token")
	}
	// Failures of every kind.
	e.sf.SetFaults(salesforcetest.Faults{Fail5xx: 100})
	_, err := e.c.Registrations(ctx, []string{missingID})
	errs = append(errs, err)
	e.sf.SetFaults(salesforcetest.Faults{})
	res, _ := e.c.Write(ctx, []connectors.Update{{ID: missingID, Fields: map[string]string{"status": "approved", "contact_email": "secret.person@globex.example"}}})
	errs = append(errs, res[0].Err)
	_, err = e.c.VerifyWebhook(&http.Request{URL: &url.URL{RawQuery: "secret=nope"}}, []byte("<x/>"))
	errs = append(errs, err)
	e.sf.ExpireSessions()
	bad := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.ClientSecret = secret.New(clientSecret) })
	errs = append(errs, bad.c.Ping(ctx))
	text := e.logs.String() + bad.logs.String()
	for _, err := range errs {
		if err == nil {
			t.Error("expected a failure")
			continue
		}
		text += "\n" + err.Error()
	}
	for _, s := range []string{clientSecret, password, token, accessToken, "hook-secret-0123456", "secret.person@"} {
		if strings.Contains(text, s) {
			t.Errorf("%q leaked:\n%s", s, text)
		}
	}
	// Config and client print redacted.
	cfgText := strings.Join([]string{e.c.cfg.ClientSecret.String(), e.c.cfg.Password.String()}, " ")
	if strings.Contains(cfgText, "secret") && !strings.Contains(cfgText, "<secret>") {
		t.Errorf("config prints %s", cfgText)
	}
}

func TestMaskInErrorMessages(t *testing.T) {
	c := &Client{scrub: crmhttp.NewScrubber("s3cr3t-value")}
	got := c.describeErrors(400, []sfError{{ErrorCode: "INVALID_EMAIL_ADDRESS", Message: "Contact Email: invalid email address: jane.doe@globex.example (s3cr3t-value)"}})
	if strings.Contains(got, "jane.doe") || strings.Contains(got, "s3cr3t-value") || !strings.Contains(got, "j***@globex.example") {
		t.Errorf("scrubbed: %s", got)
	}
	_ = registration.MaskEmail
}

// Every flow the library supports logs in through the client.
func TestClientAuthFlows(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	opts := salesforcetest.Options{Empty: true, Username: "int@example.com", Password: "pw", SecurityToken: "tok",
		JWTKey: &key.PublicKey, AccessTokens: []string{"00Dx!static"}}
	for name, edit := range map[string]func(*Config){
		"client credentials": nil,
		"password": func(c *Config) {
			c.Username, c.Password, c.SecurityToken = "int@example.com", secret.New("pw"), secret.New("tok")
		},
		"jwt": func(c *Config) {
			c.ClientSecret = secret.Secret{}
			c.Username, c.PrivateKey = "int@example.com", secret.New(pemKey)
		},
		"access token": func(c *Config) {
			c.ClientID, c.ClientSecret = "", secret.Secret{}
			c.AccessToken = secret.New("00Dx!static")
		},
	} {
		e := newEnv(t, opts, edit)
		if err := e.c.Ping(ctxT(t)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A slow org: each attempt is bounded by salesforce.timeout, retried, and
// reported as a retryable network failure; the context is honoured.
func TestSlowOrgTimesOut(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.Timeout, c.MaxRetries = 100*time.Millisecond, 1 })
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	e.sf.ResetCalls()
	e.sf.SetFaults(salesforcetest.Faults{Latency: time.Second})
	err := e.c.Ping(ctx)
	if connectors.Reason(err) != "network" || !connectors.ClassOf(err).Transient() {
		t.Errorf("slow org: %v", err)
	}
	if n := e.sf.TotalCalls(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.c.Ping(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
