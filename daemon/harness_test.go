package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
)

// t0 is a Monday afternoon.
var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

const testSecret = "e2e-client-secret"

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

type harnessOpts struct {
	webhooks     bool
	pollInterval time.Duration
	perTen       int    // the fake's 10-second limit (default 100)
	policy       string // default testPolicy
	extra        string // more YAML
	seed         bool
	sweep        string // schedule.sweep (default off)
}

type harness struct {
	t      *testing.T
	o      harnessOpts
	hs     *hubspottest.Server
	clock  *hubspottest.Clock
	d      *Daemon
	cfg    *config.Config
	typeID string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
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

// startFake starts a fake HubSpot with the partner_registration object.
func startFake(t testing.TB, clock *hubspottest.Clock, perTen int, seed bool) (*hubspottest.Server, string) {
	t.Helper()
	opts := hubspottest.Options{Clock: clock, PerTenSeconds: perTen, WebhookRetryBase: 50 * time.Millisecond}
	if seed {
		opts.Seed = hubspottest.DefaultSeed
	}
	hs, err := hubspottest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Close)
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token = hs.URL(), secret.New("sandbox-token")
	c, err := hubspot.New(cfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(context.Background(), io.Discard); err != nil {
		t.Fatalf("setup: %v", err)
	}
	hs.ResetCalls()
	typeID, err := hs.TypeID("partner_registration")
	if err != nil {
		t.Fatal(err)
	}
	return hs, typeID
}

func testConfig(t testing.TB, dir, baseURL string, o harnessOpts) *config.Config {
	t.Helper()
	policy := o.policy
	if policy == "" {
		policy = testPolicy
	}
	sweep := o.sweep
	if sweep == "" {
		sweep = "off"
	}
	yaml := fmt.Sprintf(`
server: {addr: "127.0.0.1:0", shutdown_timeout: 20s}
state: {path: %q}
crm: {kind: hubspot}
hubspot:
  base_url: %q
  token: sandbox-token
  client_secret: %q
  poll_interval: %s
  poll_settle: 0s
schedule: {sweep: %q, reconcile: "off"}
worker: {recheck_after: 1s}
notify: {enabled: true, outbox: %q}
%s
%s`, filepath.Join(dir, "regsync.db"), baseURL, testSecret, o.pollInterval, sweep, filepath.Join(dir, "outbox"), policy, o.extra)
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

func startHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.pollInterval == 0 {
		o.pollInterval = time.Hour
	}
	clock := hubspottest.NewClock(t0)
	hs, typeID := startFake(t, clock, o.perTen, o.seed)
	dir := t.TempDir()
	cfg := testConfig(t, dir, hs.URL(), o)
	h := &harness{t: t, o: o, hs: hs, clock: clock, cfg: cfg, typeID: typeID, logs: &syncBuffer{}}
	h.start()
	return h
}

// start runs a daemon on the harness's state file.
func (h *harness) start() {
	t := h.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(context.Background(), h.cfg, Options{Logger: log, Now: h.clock.Now, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("daemon: %v", err)
	}
	h.d = d
	if err := h.hs.Subscribe(hubspottest.Subscription{URL: d.PublicURL() + "/webhooks/hubspot", ClientSecret: testSecret}); err != nil {
		t.Fatal(err)
	}
	if !h.o.webhooks {
		h.hs.SetFaults(hubspottest.Faults{WebhooksOff: true})
	}
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
	if path := os.Getenv("REGSYNC_TEST_LOGS"); h.t.Failed() && strings.HasSuffix(path, ".log") {
		_ = os.WriteFile(path, []byte(h.logs.String()), 0o600)
	} else if h.t.Failed() && path != "" {
		logs := h.logs.String()
		if len(logs) > 20000 {
			logs = logs[len(logs)-20000:]
		}
		h.t.Logf("daemon log (tail):\n%s", logs)
	}
}

// register creates a registration in the fake as a HubSpot form or an AE
// would, and returns its id.
func (h *harness) register(props map[string]string) string {
	h.t.Helper()
	p := map[string]string{"status": "submitted"}
	for k, v := range props {
		p[k] = v
	}
	h.clock.Advance(time.Second) // each registration at its own instant, as in life
	id, err := h.hs.CreateRecord(h.typeID, p)
	if err != nil {
		h.t.Fatalf("create registration: %v", err)
	}
	return id
}

func (h *harness) get(id string) map[string]string {
	h.t.Helper()
	r, ok := h.hs.GetRecord(h.typeID, id)
	if !ok {
		h.t.Fatalf("registration %s not found", id)
	}
	return r.Properties
}

// waitStatus waits until the registration leaves status submitted.
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

// company creates a company in the fake.
func (h *harness) company(name, domain string) string {
	h.t.Helper()
	id, err := h.hs.CreateRecord("companies", map[string]string{"name": name, "domain": domain})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// settle waits until the worker has nothing left: the inbox is empty and
// every plan finished.
func (h *harness) settle(within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := h.d.State().InboxStats()
		if err != nil {
			h.t.Fatal(err)
		}
		plans, err := h.d.State().AllPlans()
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

// clean is a registration every check passes.
func clean(n int, domain string) map[string]string {
	return map[string]string{
		"partner_id": "northwind", "partner_email": "jo@northwind.example", "company_name": fmt.Sprintf("Prospect %d", n),
		"company_domain": domain, "contact_name": "Ann Lee", "contact_email": fmt.Sprintf("ann%d@prospect.example", n), "problem": "Spreadsheets everywhere.",
		"consent": "true", "country": "US", "submitted_at": fmt.Sprint(t0.Add(time.Duration(n) * time.Second).UnixMilli()),
		"case_number": fmt.Sprintf("R-%d", 1000+n),
	}
}
