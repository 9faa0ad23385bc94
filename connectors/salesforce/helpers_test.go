package salesforce

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// env is a fake org and a client logged in to it.
type env struct {
	t    *testing.T
	sf   *salesforcetest.Server
	c    *Client
	logs *syncBuffer
	// slept records the waits the client asked for (pacing, bulk polls).
	slept []time.Duration
	mu    sync.Mutex
	clock time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(s *salesforcetest.Server) Config {
	cfg := DefaultConfig()
	cfg.Domain = s.URL()
	cfg.ClientID = salesforcetest.DefaultClientID
	cfg.ClientSecret = secret.New(salesforcetest.DefaultClientSecret)
	cfg.OrganizationID = s.OrganizationID()
	cfg.Timeout = 5 * time.Second
	cfg.MaxRetries = 3
	return cfg
}

func newEnv(t testing.TB, opts salesforcetest.Options, edit func(*Config)) *env {
	t.Helper()
	s, err := salesforcetest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := testConfig(s)
	if edit != nil {
		edit(&cfg)
	}
	e := &env{sf: s, logs: &syncBuffer{}, clock: time.Now()}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	c, err := New(cfg, Options{
		Logger:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          e.now,
		Sleep:        e.sleep,
		BulkPoll:     time.Millisecond,
		MaxRetryWait: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.clock = e.clock.Add(d)
	e.mu.Unlock()
}

func (e *env) sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	e.slept = append(e.slept, d)
	e.mu.Unlock()
	return ctx.Err()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newRegistration is an intake create for a company.
func newRegistration(key, company, domain, partner string) connectors.Update {
	return connectors.Update{SubmissionKey: key, Fields: map[string]string{
		"status":         string(registration.StatusSubmitted),
		"company_name":   company,
		"company_domain": domain,
		"partner_id":     partner,
		"partner_name":   "Partner " + partner,
		"contact_name":   "Jane Doe",
		"contact_email":  "jane.doe@" + domain,
		"problem":        "Needs a better partner programme.",
		"consent":        "yes",
		"target_revenue": "25,000",
		"submitted_at":   "2026-03-02T15:04:05Z",
		"source":         "web",
	}}
}

func mustWrite(t testing.TB, c *Client, ups ...connectors.Update) []connectors.Result {
	t.Helper()
	res, err := c.Write(ctxT(t), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("update %d: %v", i, r.Err)
		}
	}
	return res
}

// id18 returns the 18-character form of a 15-character id.
func id18(id15 string) string {
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	out := []byte(id15)
	for i := 0; i < 3; i++ {
		bits := 0
		for j := 0; j < 5; j++ {
			if c := id15[i*5+j]; 'A' <= c && c <= 'Z' {
				bits |= 1 << j
			}
		}
		out = append(out, suffix[bits])
	}
	return string(out)
}

// missingID is a well-formed registration id that no record has.
var missingID = id18("a0R5g000000ZZZZ")

func TestID18(t *testing.T) {
	if !validID(missingID) || validID("a0R5g000000ZZZZAAA") || !validID("a0R5g000000ZZZZ") {
		t.Errorf("validID: %s", missingID)
	}
}

func TestFullID(t *testing.T) {
	if got := fullID("a0R5g000000ZZZZ"); got != missingID {
		t.Errorf("fullID = %s", got)
	}
	if fullID(missingID) != missingID || fullID("x") != "x" {
		t.Error("fullID changed a non-15-character value")
	}
}

// hasKey reports whether text is marked with key (connectors.MarkKey).
func hasKey(text, key string) bool {
	return slices.Contains(connectors.MarkedKeys(text), connectors.StoredKey(key))
}
