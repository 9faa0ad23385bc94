package hubspot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/secret"
)

const (
	testToken        = "pat-na1-11111111-2222-3333-4444-555555555555"
	testClientSecret = "cs-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	testRefresh      = "rt-99999999-8888-7777-6666-555555555555"
)

// logBuf collects a client's log lines (JSON, debug and up).
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is a valid configuration pointing at base.
func testConfig(base string) Config {
	cfg := DefaultConfig()
	cfg.BaseURL = base
	cfg.Token = secret.New(testToken)
	cfg.ClientSecret = secret.New(testClientSecret)
	return cfg
}

// newTestClient builds a client for base with a captured log.
func newTestClient(t testing.TB, cfg Config, opts Options) (*Client, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	if opts.Logger == nil {
		opts.Logger = lb.logger()
	}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, lb
}

// handlerTransport serves requests in-process with h: for tests inside a
// synctest bubble, where loopback connections would keep the bubble from
// ever being idle.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		_ = r.Body.Close()
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.RequestURI = r.URL.RequestURI()
	t.h.ServeHTTP(rec, r2)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// hits records the instants at which a handler was called.
type hits struct {
	mu sync.Mutex
	at []time.Time
}

func (h *hits) add() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at = append(h.at, time.Now())
	return len(h.at)
}

func (h *hits) all() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.at...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// noSecrets fails the test when text holds any credential.
func noSecrets(t testing.TB, where, text string, extra ...string) {
	t.Helper()
	for _, s := range append([]string{testToken, testClientSecret, testRefresh}, extra...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks a credential %q:\n%s", where, s[:8]+"…", text)
		}
	}
}
