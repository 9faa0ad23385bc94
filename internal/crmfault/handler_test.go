package crmfault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// store is a tiny CRM: POST /items adds an item and answers the list,
// GET /items lists, DELETE /items empties it (204), /control is a test
// endpoint, /token a login.
type store struct {
	mu    sync.Mutex
	items []string
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/items":
		b, _ := io.ReadAll(r.Body)
		s.items = append(s.items, string(b))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": len(s.items), "items": s.items})
	case r.Method == http.MethodDelete && r.URL.Path == "/items":
		s.items = nil
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "items": s.items})
	}
}

func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// shapes answer like a small CRM; limit false makes RateLimited decline.
type shapes struct{ decline bool }

func (sh shapes) RateLimited(w http.ResponseWriter, _ *http.Request, _ Fault) bool {
	if sh.decline {
		return false
	}
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, `{"error":"slow down"}`)
	return true
}

func (shapes) ServerError(w http.ResponseWriter, _ *http.Request, f Fault) {
	w.WriteHeader([]int{502, 503, 504}[f.Pick%3])
	_, _ = io.WriteString(w, `{"error":"unavailable"}`)
}

type rig struct {
	st  *store
	srv *httptest.Server
	in  atomic.Pointer[Injector]
	hc  *http.Client
}

func newRig(t *testing.T, spec string, seed uint64, o Options, sh Shapes) *rig {
	t.Helper()
	g := &rig{st: &store{}}
	if spec != "" {
		sp, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		g.in.Store(New(sp, seed, o))
	}
	done := make(chan struct{})
	g.srv = httptest.NewServer(&Handler{Next: g.st, Injector: g.in.Load, Shapes: sh, Done: done,
		Route: func(r *http.Request) Route {
			switch r.URL.Path {
			case "/control":
				return Exempt
			case "/token":
				return Auth
			}
			return API
		}})
	t.Cleanup(func() {
		close(done)
		g.srv.Close()
	})
	// No keep-alive: a reset must not be retried on a fresh connection by
	// the transport.
	g.hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return g
}

type outcome struct {
	status int
	body   []byte
	err    error
}

func (g *rig) do(t *testing.T, method, path string) outcome {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, strings.NewReader(`item`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.hc.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return outcome{status: res.StatusCode, body: b, err: err}
}

func (o outcome) parses() bool {
	var v any
	return o.err == nil && json.Unmarshal(o.body, &v) == nil
}

// Each kind, over loopback with a real client: what the client sees and
// whether the request was applied.
func TestEachKind(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		applied bool
		check   func(t *testing.T, o outcome)
	}{
		{"429", false, func(t *testing.T, o outcome) {
			if o.status != 429 || string(o.body) != `{"error":"slow down"}` {
				t.Errorf("429: %d %s %v", o.status, o.body, o.err)
			}
		}},
		{"5xx_before", false, func(t *testing.T, o outcome) {
			if o.status < 502 || o.status > 504 || o.err != nil {
				t.Errorf("5xx_before: %d %v", o.status, o.err)
			}
		}},
		{"5xx_after", true, func(t *testing.T, o outcome) {
			if o.status < 502 || o.status > 504 || string(o.body) != `{"error":"unavailable"}` {
				t.Errorf("5xx_after: %d %s %v", o.status, o.body, o.err)
			}
		}},
		{"reset_before", false, func(t *testing.T, o outcome) {
			if o.err == nil {
				t.Errorf("reset_before: the client got an answer %d %s", o.status, o.body)
			}
		}},
		{"reset_after", true, func(t *testing.T, o outcome) {
			if o.err == nil {
				t.Errorf("reset_after: the client got an answer %d %s", o.status, o.body)
			}
		}},
		{"truncate", true, func(t *testing.T, o outcome) {
			if o.parses() {
				t.Errorf("truncate: the client parsed %d %s", o.status, o.body)
			}
		}},
		{"latency", true, func(t *testing.T, o outcome) {
			if o.status != 201 || !o.parses() {
				t.Errorf("latency: %d %s %v", o.status, o.body, o.err)
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			g := newRig(t, "1,"+tc.kind+"=1", 1, Options{MaxLatency: 60 * time.Millisecond}, shapes{})
			for i := range 6 {
				start := time.Now()
				tc.check(t, g.do(t, "POST", "/items"))
				if tc.kind == "latency" && time.Since(start) < 5*time.Millisecond {
					t.Errorf("latency: answered in %s (at least 5ms drawn)", time.Since(start))
				}
				want := 0
				if tc.applied {
					want = i + 1
				}
				if got := g.st.len(); got != want {
					t.Fatalf("after %d requests the store holds %d items, want %d", i+1, got, want)
				}
			}
			k, _ := ParseKind(tc.kind)
			if n := g.in.Load().Injected()[k]; n != 6 {
				t.Errorf("Injected()[%s] = %d, want 6", tc.kind, n)
			}
		})
	}
}

// Truncation comes both ways: short of its Content-Length (the client
// reads an unexpected EOF) and as a complete answer with cut JSON. A body
// with nothing to cut is served as it is and not counted.
func TestTruncateBothWays(t *testing.T) {
	g := newRig(t, "1,truncate=1", 3, Options{}, shapes{})
	var eof, cut int
	for range 40 {
		o := g.do(t, "POST", "/items")
		switch {
		case errors.Is(o.err, io.ErrUnexpectedEOF):
			eof++
		case o.err == nil && o.status == 201 && !o.parses():
			cut++
		default:
			t.Fatalf("truncate: %d %q %v", o.status, o.body, o.err)
		}
	}
	if eof == 0 || cut == 0 || g.st.len() != 40 {
		t.Errorf("40 truncations: %d short of Content-Length, %d cut, %d applied", eof, cut, g.st.len())
	}
	if o := g.do(t, "DELETE", "/items"); o.status != 204 || o.err != nil {
		t.Errorf("DELETE (204, no body): %d %v", o.status, o.err)
	}
	if n := g.in.Load().Injected()[Truncate]; n != 40 || g.st.len() != 0 {
		t.Errorf("truncations counted %d (want 40), items %d", n, g.st.len())
	}
}

// Exempt routes never fault; the token route only with Options.Auth; a
// 429 the CRM declines is served as usual and not counted.
func TestRoutesAndDeclines(t *testing.T) {
	g := newRig(t, "1,5xx_before=1", 1, Options{}, shapes{})
	for _, p := range []string{"/control", "/token"} {
		if o := g.do(t, "GET", p); o.status != 200 {
			t.Errorf("%s without Auth: %d", p, o.status)
		}
	}
	if o := g.do(t, "GET", "/items"); o.status < 500 {
		t.Errorf("/items: %d", o.status)
	}
	g = newRig(t, "1,5xx_before=1", 1, Options{Auth: true}, shapes{})
	if o := g.do(t, "GET", "/token"); o.status < 500 {
		t.Errorf("/token with Auth: %d", o.status)
	}
	if o := g.do(t, "GET", "/control"); o.status != 200 {
		t.Errorf("/control with Auth: %d", o.status)
	}
	g = newRig(t, "1,429=1", 1, Options{}, shapes{decline: true})
	if o := g.do(t, "POST", "/items"); o.status != 201 || g.st.len() != 1 {
		t.Errorf("declined 429: %d, %d items", o.status, g.st.len())
	}
	if n := g.in.Load().Total(); n != 0 {
		t.Errorf("a declined 429 counted: %d", n)
	}
}

// Faults switch on and off while serving.
func TestSwitchWhileServing(t *testing.T) {
	g := newRig(t, "", 0, Options{}, shapes{})
	if o := g.do(t, "POST", "/items"); o.status != 201 {
		t.Fatalf("no injector: %d", o.status)
	}
	sp, _ := Parse("1,5xx_before=1")
	g.in.Store(New(sp, 1, Options{}))
	if o := g.do(t, "POST", "/items"); o.status < 500 {
		t.Errorf("injector on: %d", o.status)
	}
	g.in.Store(nil)
	if o := g.do(t, "POST", "/items"); o.status != 201 || g.st.len() != 2 {
		t.Errorf("injector off: %d, %d items", o.status, g.st.len())
	}
}

// A latency wait ends when the client gives up: nothing is applied and the
// server stops at once, not after the drawn delay (minutes here).
func TestLatencyHonoursTheRequestContext(t *testing.T) {
	g := newRig(t, "1,latency=1", 1, Options{MaxLatency: time.Hour}, shapes{})
	g.hc.Timeout = 100 * time.Millisecond
	if o := g.do(t, "GET", "/items"); o.err == nil {
		t.Fatalf("answered within the client's timeout: %d", o.status)
	}
	closed := make(chan struct{})
	go func() { g.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not stop within 5s: the latency wait ignored the client leaving")
	}
	if g.st.len() != 0 {
		t.Error("a request the client abandoned during its latency was applied")
	}
}

// Under one seed, the same sequence of requests meets the same faults.
func TestSameSeedSameFaultsOverHTTP(t *testing.T) {
	run := func(seed uint64) string {
		g := newRig(t, "0.5", seed, Options{MaxLatency: 12 * time.Millisecond}, shapes{})
		var b strings.Builder
		for range 40 {
			o := g.do(t, "POST", "/items")
			switch {
			case o.err != nil:
				b.WriteString("E")
			default:
				fmt.Fprintf(&b, "%d", o.status/100)
			}
		}
		return fmt.Sprintf("%s applied=%d %s", b.String(), g.st.len(), g.in.Load().Summary())
	}
	a, b := run(99), run(99)
	if a != b {
		t.Errorf("seed 99 twice:\n%s\n%s", a, b)
	}
	if c := run(100); c == a {
		t.Errorf("seeds 99 and 100 met the same faults: %s", a)
	}
}

// Without Shapes a Handler answers plain 429s and 503s.
func TestPlainShapes(t *testing.T) {
	for spec, want := range map[string]int{"1,429=1": 429, "1,5xx_before=1": 503, "1,5xx_after=1": 503} {
		g := newRig(t, spec, 1, Options{}, nil)
		if o := g.do(t, "POST", "/items"); o.status != want {
			t.Errorf("%s without Shapes: %d, want %d", spec, o.status, want)
		}
	}
}
