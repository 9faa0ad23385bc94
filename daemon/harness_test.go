package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/dashboard"
)

// t0 is a Monday afternoon.
var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// testPolicy is the partners and rules of the end-to-end tests.
const testPolicy = `
partners:
  - {id: northwind, name: Northwind Consulting, tier: gold, email_domains: [northwind.example], manager: pm-northwind@ourco.example}
  - {id: fabrikam, name: Fabrikam Partners, tier: silver, email_domains: [fabrikam.example]}
  - {id: contoso, name: Contoso SI, tier: silver, email_domains: [contoso.example]}
  - {id: oldco, name: Old Co, email_domains: [oldco.example], active: false}
rules:
  blocked: {domains: [initech.example]}
  existing_deal: decline
  conflict: {policy: first_approved_wins}
  territories:
    - {name: na, countries: [US, CA], owner: ae-na}
    - {name: emea, countries: [DE, FR, GB, NL], owner: ae-emea}
  unassigned: review
  hold_window: {days: 60, by_tier: {gold: 90}, meeting_within_days: 14, extend_on_meeting_days: 30, max_days: 180}
  sla: {respond_within_business_days: 2, calendar: US, timezone: America/New_York}
`

// fakeCRM is what the end-to-end tests need of a protocol-faithful fake
// CRM. Every test runs over each implementation (the table in crms), so the
// daemon's behaviour is proved the same on HubSpot and Salesforce.
type fakeCRM interface {
	// Kind is the crm.kind the daemon runs with.
	Kind() string
	// Object is the registrations' object name in inbox keys.
	Object() string
	// ConfigYAML is the CRM's configuration section(s), pointing at the fake.
	ConfigYAML(o harnessOpts) string
	// Subscribe makes the fake push changes (webhooks, outbound messages)
	// to the daemon's base URL.
	Subscribe(t testing.TB, baseURL string)
	// Push turns change notifications on or off.
	Push(on bool)
	// Register creates a registration as a form or an AE would (canonical
	// field names), and returns its id.
	Register(t testing.TB, fields map[string]string) string
	// Update changes a registration as an AE in the CRM would.
	Update(t testing.TB, id string, fields map[string]string)
	// Get reads a registration's fields by canonical name ("" when unset).
	Get(t testing.TB, id string) map[string]string
	// Company creates a company (account) with a website domain.
	Company(t testing.TB, name, domain string) string
	// OpenDeal creates an open deal (opportunity) on a company.
	OpenDeal(t testing.TB, companyID string) string
	// Linked lists what a registration is associated with: "company",
	// "deal", "notes", "tasks".
	Linked(t testing.TB, id, what string) []string
	// WriteCount is the number of API writes made to a registration.
	WriteCount(id string) int
	// Clock is the fake's data clock, shared with the daemon.
	Now() time.Time
	Advance(d time.Duration)
	// TotalCalls and RateLimited are the fake's counters.
	TotalCalls() int
	RateLimited() int
	// Close stops the fake.
	Close()
	// CloseDeal moves a deal (opportunity) to closed won or closed lost, as
	// an AE in the CRM would.
	CloseDeal(t testing.TB, dealID string, won bool)
	// DealPartner is the partner stamped on a deal ("" when none).
	DealPartner(t testing.TB, dealID string) string
}

// crm is one row of the table: how to start a fake.
type crm struct {
	name  string
	start func(t testing.TB, o harnessOpts) fakeCRM
}

// crms are the CRMs every end-to-end test runs against.
var crms = []crm{
	{"hubspot", startHubSpotFake},
	{"salesforce", startSalesforceFake},
}

// forEachCRM runs a test against every fake CRM.
func forEachCRM(t *testing.T, f func(t *testing.T, c crm)) {
	for _, c := range crms {
		t.Run(c.name, func(t *testing.T) { f(t, c) })
	}
}

type harnessOpts struct {
	webhooks     bool
	pollInterval time.Duration
	perTen       int           // the fake's rate limit per 10 s (HubSpot; default 100)
	searchPerSec int           // the fake's search limit per second (HubSpot; default 5, <0 unlimited)
	searchLag    time.Duration // how long a write stays out of search (HubSpot; default 0)
	pollSettle   time.Duration // hubspot.poll_settle (default 0s)
	policy       string        // default testPolicy
	extra        string        // more YAML
	// salesforce is more keys of the salesforce: section (Salesforce
	// fake), one "key: value" per line.
	salesforce string
	// adminToken is admin.token (default: none, the daemon generates one).
	adminToken string
	seed       bool
	sweep      string // schedule.sweep (default off)
	// realClock runs the fake on the real clock (for a daemon in another
	// process, which cannot share a fake one); Advance is then refused.
	realClock bool
}

type harness struct {
	t    testing.TB
	o    harnessOpts
	crm  fakeCRM
	d    *Daemon
	cfg  *config.Config
	dir  string
	logs *syncBuffer
	// dashData is the dashboard's data as refreshDashboard last left it.
	dashData *dashboard.Data

	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// testConfig writes and loads the daemon's configuration for a fake.
func testConfig(t testing.TB, dir string, f fakeCRM, o harnessOpts) *config.Config {
	t.Helper()
	policy := o.policy
	if policy == "" {
		policy = testPolicy
	}
	sweep := o.sweep
	if sweep == "" {
		sweep = "off"
	}
	admin := `admin: {addr: "127.0.0.1:0"}`
	if o.adminToken != "" {
		admin = fmt.Sprintf(`admin: {addr: "127.0.0.1:0", token: %q}`, o.adminToken)
	}
	yaml := fmt.Sprintf(`
server: {addr: "127.0.0.1:0", shutdown_timeout: 20s}
%s
state: {path: %q}
crm: {kind: %s}
%s
schedule: {sweep: %q, reconcile: "off", summaries: "off"}
worker: {recheck_after: 1s}
notify: {enabled: true, outbox: %q}
%s
%s`, admin, filepath.Join(dir, "regsync.db"), f.Kind(), f.ConfigYAML(o), sweep, filepath.Join(dir, "outbox"), policy, o.extra)
	path := filepath.Join(dir, "regsync.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func startHarness(t testing.TB, c crm, o harnessOpts) *harness {
	t.Helper()
	h := newHarness(t, c, o)
	h.start()
	return h
}

// newHarness starts the fake and loads the configuration, but not the
// daemon (for a test that changes the configuration or the state
// directory first).
func newHarness(t testing.TB, c crm, o harnessOpts) *harness {
	t.Helper()
	if o.pollInterval == 0 {
		o.pollInterval = time.Hour
	}
	f := c.start(t, o)
	t.Cleanup(f.Close)
	dir := t.TempDir()
	return &harness{t: t, o: o, crm: f, dir: dir, cfg: testConfig(t, dir, f, o), logs: &syncBuffer{}}
}

// adminURL is the base URL of the daemon's admin API.
func (h *harness) adminURL() string { return "http://" + h.d.AdminAddr().String() }

// adminToken is the daemon's admin token: admin.token, or the one it
// generated into the file beside the state file.
func (h *harness) adminToken() string {
	h.t.Helper()
	if h.cfg.Admin.Token.IsSet() {
		return h.cfg.Admin.Token.Reveal()
	}
	b, err := os.ReadFile(AdminTokenFile(h.cfg.State.Path))
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// start runs a daemon on the harness's state file.
func (h *harness) start() {
	t := h.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(context.Background(), h.cfg, Options{Logger: log, Now: h.crm.Now, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("daemon: %v", err)
	}
	h.d = d
	h.crm.Subscribe(t, d.public)
	h.crm.Push(h.o.webhooks)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
}

// stop stops the daemon and checks it shut down cleanly.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Error("daemon did not stop within 30s")
	}
	path := os.Getenv("REGSYNC_TEST_LOGS")
	switch {
	case !h.t.Failed() || path == "":
	case strings.HasSuffix(path, ".log"):
		_ = os.WriteFile(path, []byte(h.logs.String()), 0o600)
	default:
		logs := h.logs.String()
		if len(logs) > 20000 {
			logs = logs[len(logs)-20000:]
		}
		h.t.Logf("daemon log (tail):\n%s", logs)
	}
}

// register creates a registration in the fake, each at its own instant.
func (h *harness) register(fields map[string]string) string {
	h.t.Helper()
	p := map[string]string{"status": "submitted"}
	for k, v := range fields {
		p[k] = v
	}
	h.crm.Advance(time.Second)
	return h.crm.Register(h.t, p)
}

func (h *harness) get(id string) map[string]string {
	h.t.Helper()
	return h.crm.Get(h.t, id)
}

// waitDecided waits until the registration leaves status submitted.
func (h *harness) waitDecided(id string, within time.Duration) (map[string]string, time.Duration) {
	h.t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		p := h.get(id)
		if s := p["status"]; s != "" && s != "submitted" {
			return p, time.Since(start)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("registration %s not decided within %s (status %q)", id, within, p["status"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the worker has nothing left due: every due item in
// the inbox handled and every plan finished.
func (h *harness) settle(within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := h.d.db.InboxStats()
		if err != nil {
			h.t.Fatal(err)
		}
		plans, err := h.d.db.AllPlans()
		if err != nil {
			h.t.Fatal(err)
		}
		if st.Pending == 0 && len(plans) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("worker not idle after %s: inbox %+v, %d plans", within, st, len(plans))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// auditKey is the state key of a registration.
func (h *harness) auditKey(id string) string { return h.d.engine.Key(id) }

// clean is a registration every check passes.
func clean(n int, domain string) map[string]string {
	return map[string]string{
		"partner_id": "northwind", "partner_email": "jo@northwind.example", "company_name": fmt.Sprintf("Prospect %d", n),
		"company_domain": domain, "contact_name": "Ann Lee", "contact_email": fmt.Sprintf("ann%d@prospect.example", n),
		"problem": "Spreadsheets everywhere.", "consent": "true", "country": "US",
		"submitted_at": t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339),
		"case_number":  fmt.Sprintf("R-%d", 1000+n),
	}
}

// waitUntil waits for cond — the sign that the daemon has done something:
// a metric, a log line, a request the fake counted — and fails the test
// when it has not come within.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pollRuns is how many polls (registrations and deals) have succeeded.
func (h *harness) pollRuns() float64 {
	return testutil.ToFloat64(h.d.m.PollRuns.WithLabelValues(h.d.crm.Name(), "ok"))
}
