package hubspot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/secret"
)

// oauthServer is a HubSpot stand-in with the OAuth token endpoint and one
// API endpoint that accepts only the current access token.
type oauthServer struct {
	*httptest.Server
	mu        sync.Mutex
	current   string // the valid access token
	refresh   string // the valid refresh token
	n         int
	tokenHits atomic.Int64
	apiHits   atomic.Int64
	expiresIn int
	rotate    bool
	always401 bool
	badGrant  bool
}

func newOAuthServer(t *testing.T) *oauthServer {
	s := &oauthServer{refresh: testRefresh, expiresIn: 1800}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *oauthServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/v1/token" {
		s.tokenHits.Add(1)
		_ = r.ParseForm()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.badGrant || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != s.refresh ||
			r.PostForm.Get("client_id") != "app-1" || r.PostForm.Get("client_secret") != testClientSecret {
			// A hostile answer that echoes what it got.
			writeJSON(w, 400, fmt.Sprintf(`{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token %s (form %s)","correlationId":"c"}`,
				r.PostForm.Get("refresh_token"), r.PostForm.Encode()))
			return
		}
		s.n++
		s.current = fmt.Sprintf("at-%d-secretvalue", s.n)
		rt := ""
		if s.rotate {
			s.refresh = fmt.Sprintf("rt-rotated-%d", s.n)
			rt = s.refresh
		}
		writeJSON(w, 200, fmt.Sprintf(`{"token_type":"bearer","access_token":%q,"refresh_token":%q,"expires_in":%d}`, s.current, rt, s.expiresIn))
		return
	}
	s.apiHits.Add(1)
	s.mu.Lock()
	ok := !s.always401 && r.Header.Get("Authorization") == "Bearer "+s.current && s.current != ""
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 401, fmt.Sprintf(`{"status":"error","message":"Authentication credentials not found: %s","category":"INVALID_AUTHENTICATION","correlationId":"c"}`,
			r.Header.Get("Authorization")))
		return
	}
	writeJSON(w, 200, `{"status":"COMPLETE","results":[]}`)
}

func (s *oauthServer) revoke() {
	s.mu.Lock()
	s.current = ""
	s.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func oauthClient(t *testing.T, s *oauthServer, clk *clock) (*Client, *logBuf) {
	cfg := DefaultConfig()
	cfg.BaseURL = s.URL
	cfg.Object = ObjectDeals
	cfg.ClientID = "app-1"
	cfg.ClientSecret = secret.New(testClientSecret)
	cfg.RefreshToken = secret.New(testRefresh)
	opts := Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	return newTestClient(t, cfg, opts)
}

func TestOAuthRefreshBeforeExpiry(t *testing.T) {
	s := newOAuthServer(t)
	s.rotate = true
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, _ := oauthClient(t, s, clk)
	ctx := bg(t)
	for range 3 {
		if _, err := c.batchRead(ctx, "deals", []string{"1"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.tokenHits.Load(); n != 1 {
		t.Fatalf("%d token requests for 3 calls, want 1", n)
	}
	clk.Add(29*time.Minute + 30*time.Second) // within a minute of expiry
	if _, err := c.batchRead(ctx, "deals", []string{"1"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := s.tokenHits.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2 (refreshed before expiry)", n)
	}
	// The rotated refresh token is used from now on.
	s.revoke()
	if _, err := c.batchRead(ctx, "deals", []string{"1"}, nil); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

// TestOAuthRefreshOn401Once: a revoked access token is refreshed once;
// twenty concurrent calls that all got 401 share one refresh.
func TestOAuthRefreshOn401Once(t *testing.T) {
	s := newOAuthServer(t)
	c, _ := oauthClient(t, s, nil)
	ctx := bg(t)
	if _, err := c.batchRead(ctx, "deals", []string{"1"}, nil); err != nil {
		t.Fatal(err)
	}
	s.revoke()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.batchRead(ctx, "deals", []string{"1"}, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call after revocation: %v", err)
		}
	}
	if n := s.tokenHits.Load(); n != 2 {
		t.Errorf("%d token requests, want 2 (one initial, one shared refresh)", n)
	}
}

// TestOAuthPersistent401 fails clearly after one refresh, without looping.
func TestOAuthPersistent401(t *testing.T) {
	s := newOAuthServer(t)
	s.always401 = true
	c, lb := oauthClient(t, s, nil)
	_, err := c.batchRead(bg(t), "deals", []string{"1"}, nil)
	if connectors.Reason(err) != "unauthorized" || connectors.ClassOf(err).Transient() {
		t.Fatalf("err = %v, want a non-retryable unauthorized", err)
	}
	if !strings.Contains(err.Error(), "freshly refreshed") {
		t.Errorf("error does not say the token was refreshed: %v", err)
	}
	if s.tokenHits.Load() != 2 || s.apiHits.Load() != 2 {
		t.Errorf("token %d, api %d requests; want 2 and 2", s.tokenHits.Load(), s.apiHits.Load())
	}
	noSecrets(t, "error", err.Error(), "at-1-secretvalue", "at-2-secretvalue")
	noSecrets(t, "log", lb.String(), "at-1-secretvalue", "at-2-secretvalue")
}

func TestOAuthBadRefreshToken(t *testing.T) {
	s := newOAuthServer(t)
	s.badGrant = true
	c, lb := oauthClient(t, s, nil)
	_, err := c.batchRead(bg(t), "deals", []string{"1"}, nil)
	if err == nil || connectors.ClassOf(err).Transient() {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
	if !strings.Contains(err.Error(), "refresh token") {
		t.Errorf("error does not name the refresh token: %v", err)
	}
	if s.tokenHits.Load() != 1 || s.apiHits.Load() != 0 {
		t.Errorf("token %d api %d requests", s.tokenHits.Load(), s.apiHits.Load())
	}
	noSecrets(t, "error", err.Error())
	noSecrets(t, "log", lb.String())
}

// TestNoSecretLeaks drives every failure path against a hostile server that
// echoes the Authorization header, the query and the body into its error
// messages, and checks that no token or client secret reaches an error or
// a log line, and that e-mail addresses are masked.
func TestNoSecretLeaks(t *testing.T) {
	statuses := []int{400, 401, 403, 404, 409, 423, 429, 477, 500, 503}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := 400
		_, _ = fmt.Sscanf(r.URL.Query().Get("status"), "%d", &status)
		if strings.Contains(string(body), "status-") {
			_, _ = fmt.Sscanf(string(body)[strings.Index(string(body), "status-")+7:], "%d", &status)
		}
		msg := fmt.Sprintf("bad request from jane.doe@globex.example with %s, query %s, body %s, secret %s",
			r.Header.Get("Authorization"), r.URL.RawQuery, body, testClientSecret)
		w.Header().Set("Retry-After", "0")
		w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10")
		writeJSON(w, status, fmt.Sprintf(`{"status":"error","message":%q,"category":"VALIDATION_ERROR","correlationId":"c","errors":[{"message":%q}]}`, msg, msg))
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.Object = ObjectDeals
	cfg.MaxRetries = 1
	c, lb := newTestClient(t, cfg, Options{})
	ctx := bg(t)
	var all []string
	for _, st := range statuses {
		_, err := c.Registrations(ctx, []string{fmt.Sprintf("status-%d", st)})
		if err == nil {
			t.Fatalf("status %d: no error", st)
		}
		all = append(all, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		res, err := c.Write(ctx, []connectors.Update{{ID: fmt.Sprintf("status-%d", st), Fields: map[string]string{"contact_email": "jane.doe@globex.example"}}})
		if err != nil {
			all = append(all, err.Error())
		}
		for _, r := range res {
			if r.Err != nil {
				all = append(all, r.Err.Error())
			}
		}
	}
	_, err := c.search(ctx, "deals", searchRequest{Limit: 1})
	all = append(all, fmt.Sprint(err))
	// A network failure.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cfg2 := testConfig(deadURL)
	cfg2.Object = ObjectDeals
	cfg2.MaxRetries = 0
	c2, lb2 := newTestClient(t, cfg2, Options{})
	_, err = c2.batchRead(ctx, "deals", []string{"1"}, nil)
	if connectors.Reason(err) != "network" || !connectors.ClassOf(err).Transient() {
		t.Errorf("network failure: %v", err)
	}
	all = append(all, err.Error())
	text := strings.Join(all, "\n")
	noSecrets(t, "errors", text)
	noSecrets(t, "log", lb.String()+lb2.String())
	if strings.Contains(text, "jane.doe@") || strings.Contains(lb.String(), "jane.doe@") {
		t.Error("a full e-mail address reached an error or the log")
	}
	if !strings.Contains(text, "j***@globex.example") {
		t.Errorf("errors do not carry HubSpot's (masked) message:\n%s", text)
	}
	if !strings.Contains(lb.String(), "hubspot call failed") {
		t.Errorf("failures were not logged:\n%s", lb.String())
	}
}

// TestScrubHandler: the logger the client uses scrubs any attribute.
func TestScrubHandler(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.ClientID = "app-1"
	cfg.RefreshToken = secret.New(testRefresh)
	c, lb := newTestClient(t, cfg, Options{})
	c.log.Info("oops "+testToken, "token", testToken, "err", fmt.Errorf("x %s", testClientSecret),
		"url", url.Values{"refresh_token": {testRefresh}}, "who", "jane.doe@globex.example")
	c.log.With("k", testToken).WithGroup("g").Warn("m", "v", testClientSecret)
	noSecrets(t, "log", lb.String(), url.QueryEscape(testRefresh))
	if strings.Contains(lb.String(), "jane.doe@") {
		t.Errorf("address not masked: %s", lb.String())
	}
	if !strings.Contains(lb.String(), "<secret>") {
		t.Errorf("nothing was redacted: %s", lb.String())
	}
}

func TestNewRefusesMissingCredentials(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := New(cfg, Options{}); err == nil {
		t.Fatal("New without credentials succeeded")
	}
	cfg.Token = secret.New(testToken)
	cfg.PerTenSeconds = 0
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "per_10s") {
		t.Fatalf("invalid config: %v", err)
	}
	_ = context.Background()
}
