package daemon

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

const testSecret = "e2e-client-secret"

// hubspotFake runs the end-to-end tests against hubspottest.
type hubspotFake struct {
	hs     *hubspottest.Server
	clock  *hubspottest.Clock
	typeID string
}

func startHubSpotFake(t testing.TB, o harnessOpts) fakeCRM {
	t.Helper()
	clock := hubspottest.NewClock(t0)
	opts := hubspottest.Options{Clock: clock, PerTenSeconds: o.perTen, SearchPerSecond: o.searchPerSec,
		SearchLag: o.searchLag, WebhookRetryBase: 50 * time.Millisecond}
	if o.realClock {
		clock = nil
		opts.Clock, opts.Now = nil, time.Now
	}
	if o.seed {
		opts.Seed = hubspottest.DefaultSeed
	}
	hs, err := hubspottest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
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
	return &hubspotFake{hs: hs, clock: clock, typeID: typeID}
}

func (f *hubspotFake) Kind() string   { return "hubspot" }
func (f *hubspotFake) Object() string { return hubspot.ObjectRegistration }

func (f *hubspotFake) ConfigYAML(o harnessOpts) string {
	return fmt.Sprintf(`hubspot:
  base_url: %q
  token: sandbox-token
  client_secret: %q
  poll_interval: %s
  poll_settle: %s`, f.hs.URL(), testSecret, o.pollInterval, o.pollSettle)
}

func (f *hubspotFake) Subscribe(t testing.TB, baseURL string) {
	if err := f.hs.Subscribe(hubspottest.Subscription{URL: baseURL + "/webhooks/hubspot", ClientSecret: testSecret}); err != nil {
		t.Fatal(err)
	}
}

func (f *hubspotFake) Push(on bool) {
	flt := f.hs.Faults()
	flt.WebhooksOff = !on
	f.hs.SetFaults(flt)
}

func (f *hubspotFake) Register(t testing.TB, fields map[string]string) string {
	t.Helper()
	id, err := f.hs.CreateRecord(f.typeID, fields)
	if err != nil {
		t.Fatalf("create registration: %v", err)
	}
	return id
}

func (f *hubspotFake) Update(t testing.TB, id string, fields map[string]string) {
	t.Helper()
	if err := f.hs.UpdateRecord(f.typeID, id, fields); err != nil {
		t.Fatalf("update registration: %v", err)
	}
}

// Get reads a registration in canonical form (times as RFC 3339).
func (f *hubspotFake) Get(t testing.TB, id string) map[string]string {
	t.Helper()
	r, ok := f.hs.GetRecord(f.typeID, id)
	if !ok {
		t.Fatalf("registration %s not found", id)
	}
	var rec registration.Record
	out := map[string]string{}
	for _, fl := range registration.Fields() {
		v, ok := r.Properties[fl.Name]
		if !ok || v == "" {
			continue
		}
		if err := fl.Set(&rec, v); err != nil {
			out[fl.Name] = v
			continue
		}
		out[fl.Name] = fl.Get(&rec)
	}
	return out
}

func (f *hubspotFake) Company(t testing.TB, name, domain string) string {
	t.Helper()
	id, err := f.hs.CreateRecord("companies", map[string]string{"name": name, "domain": domain})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *hubspotFake) OpenDeal(t testing.TB, companyID string) string {
	t.Helper()
	deal, err := f.hs.CreateRecord("deals", map[string]string{"dealname": "Direct deal", "dealstage": "qualifiedtobuy", "amount": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.hs.Associate("deals", deal, "companies", companyID); err != nil {
		t.Fatal(err)
	}
	return deal
}

func (f *hubspotFake) Linked(_ testing.TB, id, what string) []string {
	switch what {
	case "company":
		what = "companies"
	case "deal":
		what = "deals"
	}
	return f.hs.Associations(f.typeID, id, what)
}

func (f *hubspotFake) WriteCount(id string) int { return f.hs.WriteCount(f.typeID, id) }
func (f *hubspotFake) Now() time.Time {
	if f.clock == nil {
		return time.Now()
	}
	return f.clock.Now()
}

func (f *hubspotFake) Advance(d time.Duration) {
	if f.clock == nil {
		panic("hubspotFake: Advance on a fake running on the real clock")
	}
	f.clock.Advance(d)
}
func (f *hubspotFake) TotalCalls() int  { return f.hs.TotalCalls() }
func (f *hubspotFake) RateLimited() int { return f.hs.Count429() }
func (f *hubspotFake) Close()           { f.hs.Close() }

func (f *hubspotFake) CloseDeal(t testing.TB, dealID string, won bool) {
	t.Helper()
	stage := "closedlost"
	if won {
		stage = "closedwon"
	}
	if err := f.hs.UpdateRecord("deals", dealID, map[string]string{"dealstage": stage}); err != nil {
		t.Fatalf("close deal: %v", err)
	}
}

func (f *hubspotFake) DealPartner(t testing.TB, dealID string) string {
	t.Helper()
	d, ok := f.hs.GetRecord("deals", dealID)
	if !ok {
		t.Fatalf("deal %s not found", dealID)
	}
	return d.Properties["partner_id"]
}
