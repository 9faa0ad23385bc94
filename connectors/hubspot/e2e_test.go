package hubspot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// fake starts a fake portal on loopback for the test.
func fake(t testing.TB, opts hubspottest.Options) *hubspottest.Server {
	t.Helper()
	s, err := hubspottest.Start(opts)
	if err != nil {
		t.Fatalf("start fake: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// client builds a client for the fake.
func client(t testing.TB, s *hubspottest.Server, mutate func(*hubspot.Config)) *hubspot.Client {
	t.Helper()
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL = s.URL()
	cfg.Token = secret.New("sandbox-token")
	cfg.ClientSecret = secret.New("client-secret")
	cfg.PollSettle = 0
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := hubspot.New(cfg, hubspot.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func setup(t testing.TB, c *hubspot.Client) string {
	t.Helper()
	var out bytes.Buffer
	if _, err := c.Setup(ctxFor(t), &out); err != nil {
		t.Fatalf("Setup: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestSetupBarePortal: setup on a new portal creates the object; run
// again, it changes nothing and says so.
func TestSetupBarePortal(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	c := client(t, s, nil)
	ctx := ctxFor(t)
	if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "regsync setup") {
		t.Fatalf("Ping before setup: %v, want a hint to run setup", err)
	}
	var out bytes.Buffer
	changed, err := c.Setup(ctx, &out)
	if err != nil || !changed {
		t.Fatalf("first Setup: changed %v err %v\n%s", changed, err, out.String())
	}
	if !strings.Contains(out.String(), "created custom object partner_registration") {
		t.Errorf("first Setup output:\n%s", out.String())
	}
	typeID, err := s.TypeID("partner_registration")
	if err != nil {
		t.Fatalf("no object after setup: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after setup: %v", err)
	}
	// The object works: a record with every field, unique keys enforced.
	res, err := c.Write(ctx, []connectors.Update{{SubmissionKey: "k1", Fields: fullRecordFields()}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create: %v %v", err, res[0].Err)
	}
	rec, ok := s.GetRecord(typeID, res[0].ID)
	if !ok || rec.Properties["case_number"] != registration.CaseNumberFor("k1") {
		t.Fatalf("record %+v", rec)
	}

	out.Reset()
	changed, err = c.Setup(ctx, &out)
	if err != nil || changed {
		t.Fatalf("second Setup: changed %v err %v\n%s", changed, err, out.String())
	}
	if !strings.Contains(out.String(), "nothing to change") {
		t.Errorf("second Setup does not say it changed nothing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("second Setup warns:\n%s", out.String())
	}
}

// fullRecordFields sets every writable field.
func fullRecordFields() map[string]string {
	return map[string]string{
		"status": "submitted", "status_reason": "", "source": "webform", "partner_id": "northwind",
		"partner_name": "Northwind Consulting", "partner_email": "deals@northwind.example", "partner_type": "reseller",
		"company_name": "Globex Corporation", "company_domain": "https://eu.globex.example/", "contact_name": "Hank Scorpio",
		"contact_email": "hank@globex.example", "contact_role": "CEO", "problem": "Needs a platform", "solution_fit": "good",
		"services_needed": "implementation", "stage_guess": "discovery", "consent": "true", "region": "NA", "country": "US",
		"segment": "enterprise", "product_interest": "platform", "target_revenue": "120000", "competing_vendors": "Initech",
		"submitted_at": "2025-03-01T10:00:00Z", "hold_until": "2025-06-01T00:00:00Z", "sla_due": "2025-03-03T10:00:00Z",
	}
}

// TestSetupDealsMode: with object deals, setup adds the regsync group and
// properties to deals, once.
func TestSetupDealsMode(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true, Seed: hubspottest.DefaultSeed})
	c := client(t, s, func(c *hubspot.Config) { c.Object = hubspot.ObjectDeals })
	out := setup(t, c)
	if !strings.Contains(out, "property group regsync") || !strings.Contains(out, "deals properties") {
		t.Errorf("deals setup output:\n%s", out)
	}
	if out := setup(t, c); !strings.Contains(out, "nothing to change") {
		t.Errorf("second deals setup:\n%s", out)
	}
	if _, err := s.TypeID("partner_registration"); err == nil {
		t.Error("deals mode created the custom object")
	}
}

// TestLifecycle drives every operation of the CRM interface against the
// seeded fake.
func TestLifecycle(t *testing.T) {
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c := client(t, s, nil)
	setup(t, c)
	ctx := ctxFor(t)
	typeID, _ := s.TypeID("partner_registration")

	acme, _ := s.FindRecord("companies", "domain", "acme.example")
	globex, _ := s.FindRecord("companies", "domain", "globex.example")
	if acme.ID == "" || globex.ID == "" {
		t.Fatal("seed lacks acme/globex")
	}
	// A company stored under a sub-domain.
	subco, err := s.CreateRecord("companies", map[string]string{"name": "Stark EU", "domain": "eu.starkindustries.example"})
	if err != nil {
		t.Fatal(err)
	}

	ups := []connectors.Update{
		{SubmissionKey: "web:1", Fields: map[string]string{"status": "submitted", "partner_id": "northwind", "company_name": "ACME Corp.",
			"company_domain": "www.acme.example", "contact_email": "wile@acme.example", "submitted_at": "2025-03-01T10:00:00Z", "consent": "yes"}},
		{SubmissionKey: "web:2", Fields: map[string]string{"status": "approved", "partner_id": "fabrikam", "company_name": "Acme Corporation",
			"company_domain": "https://shop.acme.example", "submitted_at": "2025-02-01T10:00:00Z", "hold_until": "2099-01-01T00:00:00Z"}},
		{SubmissionKey: "web:3", Fields: map[string]string{"status": "declined", "partner_id": "contoso", "company_name": "Acme",
			"company_domain": "acme.example"}},
		{SubmissionKey: "web:4", Fields: map[string]string{"status": "submitted", "partner_id": "northwind", "company_name": "Globex Corporation",
			"company_domain": "eu.globex.example", "target_revenue": "50,000"}},
		{SubmissionKey: "web:5", Fields: map[string]string{"status": "in_review", "partner_id": "tailspin", "company_name": "Globex Corp",
			"company_domain": "globex-other.example"}},
		{SubmissionKey: "web:6", Fields: map[string]string{"status": "submitted", "partner_id": "northwind", "company_name": "Stark",
			"company_domain": "starkindustries.example"}},
	}
	res, err := c.Write(ctx, ups)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil || r.ID == "" || !r.Created {
			t.Fatalf("create %d: %+v", i, r)
		}
		ids[i] = r.ID
	}
	// The same submission again, meanwhile decided: the same record, left
	// as it is (create only), not a new one.
	if _, err := c.Write(ctx, []connectors.Update{{ID: ids[0], Fields: map[string]string{"status": "approved"}}}); err != nil {
		t.Fatal(err)
	}
	again, err := c.Write(ctx, []connectors.Update{{SubmissionKey: "web:1", Fields: map[string]string{"status": "submitted", "company_name": "Changed"}}})
	if err != nil || again[0].ID != ids[0] || again[0].Created || !again[0].Exists || again[0].Err != nil {
		t.Fatalf("create again: %+v %v", again, err)
	}
	if got, err := c.Registrations(ctx, ids[:1]); err != nil || len(got) != 1 || got[0].Status != registration.StatusApproved || got[0].CompanyName != "ACME Corp." {
		t.Fatalf("the existing record was written over: %+v %v", got, err)
	}
	if _, err := c.Write(ctx, []connectors.Update{{ID: ids[0], Fields: map[string]string{"status": "submitted"}}}); err != nil {
		t.Fatal(err)
	}

	recs, err := c.Registrations(ctx, append([]string{"999999999"}, ids...))
	if err != nil || len(recs) != len(ids) {
		t.Fatalf("Registrations: %d %v", len(recs), err)
	}
	r0 := recs[0]
	if r0.ID != ids[0] || r0.Status != registration.StatusSubmitted || r0.CaseNumber != registration.CaseNumberFor("web:1") ||
		!r0.Consent || r0.DomainKey != "acme.example" || !r0.SubmittedAt.Equal(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("record %+v", r0)
	}
	if recs[3].TargetRevenue != 50000 {
		t.Errorf("target revenue %v", recs[3].TargetRevenue)
	}

	got, err := c.Lookup(ctx, []string{registration.CaseNumberFor("web:2"), registration.CaseNumberFor("web:4"), "R-0000000000"})
	if err != nil || len(got) != 2 {
		t.Fatalf("Lookup: %d %v", len(got), err)
	}
	found, err := c.Find(ctx, []registration.Status{registration.StatusSubmitted, registration.StatusInReview})
	if err != nil || len(found) != 4 {
		t.Fatalf("Find: %d %v", len(found), err)
	}

	facts, err := c.Facts(ctx, recs)
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	f0 := facts[0]
	if f0.Company == nil || f0.Company.ID != acme.ID {
		t.Errorf("acme company: %+v", f0.Company)
	}
	var open []string
	for _, d := range f0.OpenDeals {
		open = append(open, d.Name)
		if d.Closed || d.CompanyID != acme.ID {
			t.Errorf("deal %+v", d)
		}
	}
	if !slices.Contains(open, "Acme Corporation — Platform") || slices.Contains(open, "Acme Corporation — Pilot") {
		t.Errorf("acme open deals %v", open)
	}
	// Rivals of web:1: web:2 (same registrable domain, approved); web:3 is
	// declined (closed) and left out.
	var rivals []string
	for _, o := range f0.Registrations {
		rivals = append(rivals, o.CaseNumber)
	}
	if !slices.Equal(rivals, []string{registration.CaseNumberFor("web:2")}) {
		t.Errorf("rivals of web:1 = %v", rivals)
	}
	if facts[3].Company == nil || facts[3].Company.ID != globex.ID {
		t.Errorf("globex by sub-domain: %+v", facts[3].Company)
	}
	// web:5 shares web:4's company name (another domain).
	if len(facts[3].Registrations) != 1 || facts[3].Registrations[0].ID != ids[4] {
		t.Errorf("rivals of web:4: %+v", facts[3].Registrations)
	}
	// northwind holds web:1, web:4, web:6 active: two others each.
	if facts[0].PartnerActive != 2 || facts[3].PartnerActive != 2 || facts[1].PartnerActive != 0 {
		t.Errorf("partner counts %d %d %d", facts[0].PartnerActive, facts[3].PartnerActive, facts[1].PartnerActive)
	}
	if facts[5].Company != nil {
		t.Errorf("sub-domain company matched without match_company_subdomains: %+v", facts[5].Company)
	}
	// With the option, the company on eu.starkindustries.example is found.
	c2 := client(t, s, func(c *hubspot.Config) { c.MatchCompanySubdomains = true })
	facts2, err := c2.Facts(ctx, recs[5:6])
	if err != nil || facts2[0].Company == nil || facts2[0].Company.ID != subco {
		t.Errorf("sub-domain company: %+v %v", facts2[0].Company, err)
	}
	// Facts for a submission not yet in the CRM.
	newRec := registration.Record{PartnerID: "northwind", CompanyName: "Acme", CompanyDomain: "acme.example", Status: registration.StatusSubmitted}
	newRec.Index()
	nf, err := c.Facts(ctx, []registration.Record{newRec})
	if err != nil || nf[0].Company == nil || len(nf[0].Registrations) != 2 || nf[0].PartnerActive != 3 {
		t.Errorf("facts of a new submission: %+v %v", nf, err)
	}

	// Decide and link.
	wr, err := c.Write(ctx, []connectors.Update{{ID: ids[0], Fields: map[string]string{"status": "approved", "status_reason": "ok",
		"decided_at": "2025-03-02T00:00:00Z", "owner_id": "maria.garcia@regsync-sandbox.example"}}})
	if err != nil || wr[0].Err != nil || wr[0].ID != ids[0] {
		t.Fatalf("update: %+v %v", wr, err)
	}
	if err := c.Link(ctx, []connectors.Link{{RegistrationID: ids[0], CompanyID: acme.ID}, {RegistrationID: ids[0], CompanyID: acme.ID},
		{RegistrationID: ids[3], CompanyID: globex.ID}}); err != nil {
		t.Fatalf("Link: %v", err)
	}
	if a := s.Associations(typeID, ids[0], "companies"); !slices.Contains(a, acme.ID) {
		t.Errorf("registration → company associations %v", a)
	}
	if err := c.Task(ctx, []connectors.Task{
		{RegistrationID: ids[0], OwnerID: "maria.garcia@regsync-sandbox.example", Subject: "First meeting", Body: "Book it", Due: time.Now().Add(48 * time.Hour)},
		{RegistrationID: ids[3], OwnerID: "81297001", Subject: "Review"},
		{RegistrationID: ids[3], OwnerID: "ae-dach", Subject: "Unassigned"},
		{RegistrationID: ids[3], OwnerID: "99999999", Subject: "Unknown owner"},
	}); err != nil {
		t.Fatalf("Task: %v", err)
	}
	tasks := s.Records("tasks")
	owners := map[string]string{}
	for _, tk := range tasks {
		owners[tk.Properties["hs_task_subject"]] = tk.Properties["hubspot_owner_id"]
	}
	if owners["First meeting"] != "81297003" || owners["Review"] != "81297001" || owners["Unassigned"] != "" || owners["Unknown owner"] != "" || len(tasks) != 4 {
		t.Errorf("task owners %v", owners)
	}
	var taskOfReg string
	for _, tk := range tasks {
		if tk.Properties["hs_task_subject"] == "First meeting" {
			taskOfReg = tk.ID
		}
	}
	if a := s.Associations("tasks", taskOfReg, typeID); !slices.Contains(a, ids[0]) {
		t.Errorf("task → registration associations %v", a)
	}
	if err := c.Note(ctx, []connectors.Note{{RegistrationID: ids[0], Body: "approved by regsync", At: time.Now()}}); err != nil {
		t.Fatalf("Note: %v", err)
	}
	notes := s.Records("notes")
	if len(notes) != 1 || !slices.Contains(s.Associations("notes", notes[0].ID, typeID), ids[0]) {
		t.Errorf("notes %+v", notes)
	}

	// Attribution and deals.
	deal, _ := s.FindRecord("deals", "dealname", "Acme Corporation — Platform")
	ar, err := c.Attribute(ctx, []connectors.Attribution{{DealID: deal.ID, RegistrationID: ids[0], PartnerID: "northwind"},
		{DealID: "", PartnerID: "x"}})
	if err != nil || ar[0].Err != nil || ar[1].Err == nil {
		t.Fatalf("Attribute: %+v %v", ar, err)
	}
	if d, _ := s.GetRecord("deals", deal.ID); d.Properties["partner_id"] != "northwind" {
		t.Errorf("partner not stamped: %v", d.Properties["partner_id"])
	}
	ds, err := c.Deals(ctx, []string{deal.ID, "123456789"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deals: %+v %v", ds, err)
	}
	d := ds[0]
	if d.CompanyID != acme.ID || !slices.Contains(d.RegistrationIDs, ids[0]) || d.PartnerID != "northwind" || d.Amount != 120000 || d.Closed {
		t.Errorf("deal %+v", d)
	}
	nDeals := 0
	won := 0
	if err := c.AllDeals(ctx, func(ds []registration.Deal) error {
		nDeals += len(ds)
		for _, d := range ds {
			if d.Won {
				won++
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("AllDeals: %v", err)
	}
	if nDeals != len(s.Records("deals")) || won == 0 {
		t.Errorf("AllDeals: %d deals (%d won), fake has %d", nDeals, won, len(s.Records("deals")))
	}
	nRegs := 0
	if err := c.All(ctx, func(rs []registration.Record) error { nRegs += len(rs); return nil }); err != nil || nRegs != len(ids) {
		t.Errorf("All: %d %v", nRegs, err)
	}
	dids, next, err := c.ChangedDeals(ctx, "")
	if err != nil || !slices.Contains(dids, deal.ID) || next == "" {
		t.Errorf("ChangedDeals: %d ids, next %q, %v", len(dids), next, err)
	}

	// Forms.
	s.AddForm("f-1")
	for i := range 3 {
		s.AddFormSubmission("f-1", hubspottest.FormSubmission{PageURL: "https://partners.example/register",
			Values: []hubspottest.FormValue{{Name: "email", Value: fmt.Sprintf("p%d@northwind.example", i)}, {Name: "partner_id", Value: "northwind"}}})
	}
	subs, _, err := c.FormSubmissions(ctx, "f-1", "")
	if err != nil || len(subs) != 3 || subs[0].Values["partner_id"] != "northwind" || subs[0].ConversionID == "" || subs[0].SubmittedAt.IsZero() {
		t.Errorf("FormSubmissions: %+v %v", subs, err)
	}

	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	u := c.Usage()
	// Two clients (c and c2) shared the portal's search limit, so a 429
	// may have happened and been retried; every one was seen.
	if u.Calls["search"] == 0 || u.Calls["batch create"] == 0 || u.RateLimited+c2.Usage().RateLimited != int64(s.Count429()) {
		t.Errorf("usage %+v, fake counted %d 429s", u, s.Count429())
	}
}

// TestPollOneInstant5000: polling over 5,000 records that share one
// hs_lastmodifieddate sees each exactly once, then the later changes.
func TestPollOneInstant5000(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 records: about 8 s of searches at 4/s")
	}
	clk := hubspottest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	s := fake(t, hubspottest.Options{Bare: true, Clock: clk})
	c := client(t, s, nil)
	setup(t, c)
	typeID, _ := s.TypeID("partner_registration")
	want := map[string]bool{}
	for i := range 5000 {
		id, err := s.CreateRecord(typeID, map[string]string{"case_number": fmt.Sprintf("R-%010d", i), "status": "submitted"})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	ctx := ctxFor(t)
	seen := map[string]int{}
	cur := ""
	calls := 0
	for {
		ids, next, err := c.Changed(ctx, cur)
		if err != nil {
			t.Fatalf("Changed: %v", err)
		}
		calls++
		for _, id := range ids {
			seen[id]++
		}
		cur = next
		if len(ids) == 0 {
			break
		}
		if calls > 10 {
			t.Fatal("Changed never ends")
		}
	}
	if len(seen) != 5000 {
		t.Fatalf("saw %d records, want 5000", len(seen))
	}
	for id, n := range seen {
		if n != 1 || !want[id] {
			t.Fatalf("record %s seen %d times", id, n)
		}
	}
	// Later changes, some sharing an instant, come next, once each.
	clk.Advance(time.Second)
	var later []string
	for i, id := range slices.Sorted(mapsKeys(want))[:300] {
		if i == 150 {
			clk.Advance(time.Millisecond)
		}
		if err := s.UpdateRecord(typeID, id, map[string]string{"status": "approved"}); err != nil {
			t.Fatal(err)
		}
		later = append(later, id)
	}
	ids, next, err := c.Changed(ctx, cur)
	if err != nil || len(ids) != 300 {
		t.Fatalf("after changes: %d ids, %v", len(ids), err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(later))) {
		t.Error("changed ids differ")
	}
	if ids2, _, err := c.Changed(ctx, next); err != nil || len(ids2) != 0 {
		t.Errorf("caught up: %d ids %v", len(ids2), err)
	}
	if n := s.Count429(); n != 0 {
		t.Errorf("%d answers 429", n)
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestWebhooksFromFake: the fake's signed deliveries of the client's own
// writes pass VerifyWebhook and name the registration object; a tampered
// delivery is refused.
func TestWebhooksFromFake(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	c := client(t, s, func(c *hubspot.Config) { c.AppID = "1160452" })
	setup(t, c)
	var mu sync.Mutex
	var got []connectors.Event
	var refused int
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := c.VerifyWebhook(r, body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, evs...)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	if err := s.Subscribe(hubspottest.Subscription{URL: hook.URL + "/hooks/hubspot?portal=62515", ClientSecret: "client-secret"}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	res, err := c.Write(ctx, []connectors.Update{{SubmissionKey: "hook:1", Fields: map[string]string{"status": "submitted", "company_name": "Hooli"}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create: %v %+v", err, res)
	}
	if _, err := c.Write(ctx, []connectors.Update{{ID: res[0].ID, Fields: map[string]string{"status": "approved"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 0 {
		t.Fatalf("%d deliveries refused", refused)
	}
	var status bool
	for _, e := range got {
		if e.Object != hubspot.ObjectRegistration || e.RecordID != res[0].ID {
			t.Errorf("event %+v", e)
		}
		if e.Property == "status" && e.Value == "approved" {
			status = true
		}
	}
	if !status {
		t.Errorf("no status change among %d events: %+v", len(got), got)
	}
	// Another app's client secret: every delivery refused.
	other := client(t, s, func(c *hubspot.Config) { c.ClientSecret = secret.New("not-the-secret") })
	r := httptest.NewRequest(http.MethodPost, "/hooks/hubspot", strings.NewReader("[]"))
	r.Header.Set("X-HubSpot-Signature-v3", hubspottest.SignV3("client-secret", "POST", "http://example.com/hooks/hubspot", []byte("[]"), fmt.Sprint(time.Now().UnixMilli())))
	r.Header.Set("X-HubSpot-Request-Timestamp", fmt.Sprint(time.Now().UnixMilli()))
	if _, err := other.VerifyWebhook(r, []byte("[]")); !errors.Is(err, connectors.ErrWebhookSignature) {
		t.Errorf("wrong secret: %v", err)
	}
}

// TestDealsMode runs registrations kept as deals: creates carry a deal
// name, pipeline and stage; a registration's own deal never counts as an
// existing deal; the change feed sees registrations only.
func TestDealsMode(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true, Seed: hubspottest.DefaultSeed})
	c := client(t, s, func(c *hubspot.Config) { c.Object = hubspot.ObjectDeals })
	setup(t, c)
	ctx := ctxFor(t)
	acme, _ := s.FindRecord("companies", "domain", "acme.example")
	res, err := c.Write(ctx, []connectors.Update{
		{SubmissionKey: "d:1", Fields: map[string]string{"status": "submitted", "partner_id": "northwind", "company_name": "Acme", "company_domain": "acme.example"}},
		{SubmissionKey: "d:2", Fields: map[string]string{"status": "approved", "partner_id": "fabrikam", "company_name": "Acme", "company_domain": "acme.example"}},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("create: %v %+v", err, res)
	}
	d, _ := s.GetRecord("deals", res[0].ID)
	if d.Properties["dealstage"] != "appointmentscheduled" || !strings.Contains(d.Properties["dealname"], "Acme") {
		t.Errorf("registration deal %+v", d.Properties)
	}
	// Its own deal is associated with the company, like any deal.
	if err := c.Link(ctx, []connectors.Link{{RegistrationID: res[0].ID, CompanyID: acme.ID}, {RegistrationID: res[1].ID, CompanyID: acme.ID}}); err != nil {
		t.Fatal(err)
	}
	recs, err := c.Registrations(ctx, []string{res[0].ID, res[1].ID})
	if err != nil || len(recs) != 2 {
		t.Fatalf("Registrations %d %v", len(recs), err)
	}
	facts, err := c.Facts(ctx, recs[:1])
	if err != nil {
		t.Fatal(err)
	}
	for _, od := range facts[0].OpenDeals {
		if od.ID == res[0].ID || od.ID == res[1].ID {
			t.Errorf("a registration counts as an open deal: %+v", od)
		}
	}
	if len(facts[0].OpenDeals) == 0 || len(facts[0].Registrations) != 1 || facts[0].Registrations[0].ID != res[1].ID {
		t.Errorf("facts %+v", facts[0])
	}
	// Plain deals are not registrations.
	plain, _ := s.FindRecord("deals", "dealname", "Acme Corporation — Platform")
	if got, err := c.Registrations(ctx, []string{plain.ID}); err != nil || len(got) != 0 {
		t.Errorf("a plain deal read as a registration: %+v %v", got, err)
	}
	ids, _, err := c.Changed(ctx, "")
	if err != nil || len(ids) != 2 {
		t.Errorf("Changed in deals mode: %v %v", ids, err)
	}
	// Attribution of a plain deal points the registration at it.
	ar, err := c.Attribute(ctx, []connectors.Attribution{{DealID: plain.ID, RegistrationID: res[0].ID, PartnerID: "northwind"}})
	if err != nil || ar[0].Err != nil {
		t.Fatalf("Attribute %+v %v", ar, err)
	}
	if r, _ := s.GetRecord("deals", res[0].ID); r.Properties["deal_id"] != plain.ID {
		t.Errorf("registration deal_id %q", r.Properties["deal_id"])
	}
	ds, err := c.Deals(ctx, []string{plain.ID})
	if err != nil || len(ds) != 1 || !slices.Contains(ds[0].RegistrationIDs, res[0].ID) || ds[0].PartnerID != "northwind" {
		t.Errorf("Deals %+v %v", ds, err)
	}
}

// TestSetupRepairs: on an existing object, setup adds the properties a
// changed mapping needs and the status options someone removed, warns about
// a property of the wrong type without touching it, and is idempotent.
func TestSetupRepairs(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	setup(t, client(t, s, nil))
	typeID, _ := s.TypeID("partner_registration")
	ctx := ctxFor(t)
	// Someone removed the withdrawn option and created country_code as a number.
	patch := `{"options":[` + func() string {
		var o []string
		for i, st := range registration.Statuses {
			if st != registration.StatusWithdrawn {
				o = append(o, fmt.Sprintf(`{"label":%q,"value":%q,"displayOrder":%d,"hidden":false}`, st, st, i))
			}
		}
		return strings.Join(o, ",")
	}() + `]}`
	do := func(method, path, body string) {
		req, _ := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sandbox-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	do(http.MethodPatch, "/crm/v3/properties/"+typeID+"/status", patch)
	do(http.MethodPost, "/crm/v3/properties/"+typeID, `{"name":"country_code","label":"Country code","type":"number","fieldType":"number","groupName":"partner_registration_information"}`)

	c := client(t, s, func(c *hubspot.Config) {
		c.Properties = map[string]string{"region": "partner_region", "country": "country_code"}
	})
	var out bytes.Buffer
	changed, err := c.Setup(ctx, &out)
	if err != nil || !changed {
		t.Fatalf("Setup: %v %v\n%s", changed, err, out.String())
	}
	for _, want := range []string{"added 1 options to partner_registration property status: withdrawn",
		"added 1 partner_registration properties: partner_region",
		"warning: partner_registration property country_code is of type number, regsync expects string"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Setup output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	changed, err = c.Setup(ctx, &out)
	if err != nil || changed || !strings.Contains(out.String(), "nothing to change") {
		t.Errorf("second Setup: %v %v\n%s", changed, err, out.String())
	}
}

// TestPollOrder: records over several instants come in modification order,
// a full page spanning instants included, and a bad cursor is refused.
func TestPollOrder(t *testing.T) {
	clk := hubspottest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	s := fake(t, hubspottest.Options{Bare: true, Clock: clk})
	c := client(t, s, nil)
	setup(t, c)
	typeID, _ := s.TypeID("partner_registration")
	at := map[string]time.Time{}
	for i := range 450 {
		if i%150 == 0 {
			clk.Advance(time.Second)
		}
		id, err := s.CreateRecord(typeID, map[string]string{"case_number": fmt.Sprintf("R-%010d", i)})
		if err != nil {
			t.Fatal(err)
		}
		at[id] = clk.Now()
	}
	ctx := ctxFor(t)
	ids, next, err := c.Changed(ctx, "")
	if err != nil || len(ids) != 450 {
		t.Fatalf("Changed: %d ids, %v", len(ids), err)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("%s twice", id)
		}
		seen[id] = true
		if i > 0 && at[id].Before(at[ids[i-1]]) {
			t.Fatalf("out of modification order at %d", i)
		}
	}
	if !strings.HasPrefix(next, "v1:") {
		t.Errorf("cursor %q", next)
	}
	if _, _, err := c.Changed(ctx, "garbage"); err == nil {
		t.Error("a bad cursor was accepted")
	}
	// Modified less than poll_settle ago: left for later.
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token = s.URL(), secret.New("sandbox-token")
	cfg.PollSettle = time.Second
	slow, err := hubspot.New(cfg, hubspot.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ids, _, err = slow.Changed(ctx, "")
	if err != nil || len(ids) != 300 {
		t.Errorf("settle: %d ids %v, want the 300 at least 1 s old", len(ids), err)
	}
}

// TestKeyRepair: a registration created in HubSpot's UI has no match keys.
// Facts finds it anyway (it searches the not-yet-indexed registrations and
// computes their keys); reading it says its keys are stale and writes
// nothing; an update carrying the keys (the worker's next write of it)
// stores them, so later searches find it by them. Setup backfills the keys
// of every registration.
func TestKeyRepair(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	c := client(t, s, nil)
	setup(t, c)
	typeID, _ := s.TypeID("partner_registration")
	ctx := ctxFor(t)
	manual, err := s.CreateRecord(typeID, map[string]string{"case_number": "R-MANUAL0001", "status": "approved",
		"partner_id": "fabrikam", "company_name": "Initech", "company_domain": "www.initech.example", "hold_until": "4102444800000"})
	if err != nil {
		t.Fatal(err)
	}
	sub := registration.Record{PartnerID: "northwind", CompanyName: "Initech LLC", CompanyDomain: "initech.example", Status: registration.StatusSubmitted}
	sub.Index()
	f, err := c.Facts(ctx, []registration.Record{sub})
	if err != nil || len(f[0].Registrations) != 1 || f[0].Registrations[0].ID != manual {
		t.Fatalf("before the repair, the unindexed rival must be found: %+v %v", f, err)
	}
	recs, err := c.Registrations(ctx, []string{manual})
	if err != nil || len(recs) != 1 || !recs[0].KeysStale {
		t.Fatalf("a registration without match keys must read as stale: %+v %v", recs, err)
	}
	if n := s.WriteCount(typeID, manual); n != 0 {
		t.Fatalf("a read wrote %d times", n)
	}
	res, err := c.Write(ctx, []connectors.Update{{ID: manual, Keys: &connectors.MatchKeys{Domain: recs[0].DomainKey, Name: recs[0].NameKey}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("write the keys: %v %v", err, res[0].Err)
	}
	if r, _ := s.GetRecord(typeID, manual); r.Properties["domain_key"] != "initech.example" || r.Properties["name_key"] != registration.CompanyKey("Initech") {
		t.Fatalf("keys not repaired: %v", r.Properties)
	}
	if recs, err := c.Registrations(ctx, []string{manual}); err != nil || len(recs) != 1 || recs[0].KeysStale {
		t.Fatalf("after the repair the keys must read as current: %+v %v", recs, err)
	}
	f, err = c.Facts(ctx, []registration.Record{sub})
	if err != nil || len(f[0].Registrations) != 1 || f[0].Registrations[0].ID != manual {
		t.Fatalf("after the repair: %+v %v", f, err)
	}
	// Setup backfills what was never read.
	other, _ := s.CreateRecord(typeID, map[string]string{"case_number": "R-MANUAL0002", "status": "submitted", "company_domain": "hooli.example"})
	out := setup(t, c)
	if !strings.Contains(out, "wrote the match keys (domain_key, name_key) of 1 registrations") {
		t.Errorf("setup output:\n%s", out)
	}
	if r, _ := s.GetRecord(typeID, other); r.Properties["domain_key"] != "hooli.example" {
		t.Errorf("not backfilled: %v", r.Properties)
	}
	if out := setup(t, c); !strings.Contains(out, "nothing to change") {
		t.Errorf("setup after the backfill:\n%s", out)
	}
}

// TestPollWithSearchLag: HubSpot's search index shows a write 2 to 3 s
// after its hs_lastmodifieddate (the fake hides records for 2 s after the
// write, and stamps each write up to 1 s in the past), so records become
// searchable out of timestamp order. With poll_settle at 3.5 s, polling
// while records are being written misses none and returns none twice.
func TestPollWithSearchLag(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s of real time")
	}
	clk := hubspottest.NewClock(time.Now())
	s := fake(t, hubspottest.Options{Bare: true, SearchLag: 2 * time.Second, Clock: clk})
	c := client(t, s, func(c *hubspot.Config) { c.PollSettle = 3500 * time.Millisecond })
	setup(t, c)
	typeID, _ := s.TypeID("partner_registration")
	ctx := ctxFor(t)
	var mu sync.Mutex
	var created []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 60 {
			clk.Set(time.Now().Add(-time.Duration(i*7919%1000) * time.Millisecond))
			id, err := s.CreateRecord(typeID, map[string]string{"case_number": fmt.Sprintf("R-LAG%07d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			created = append(created, id)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	seen := map[string]int{}
	cur := ""
	poll := func() {
		ids, next, err := c.Changed(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
		for _, id := range ids {
			seen[id]++
		}
	}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		poll()
		time.Sleep(300 * time.Millisecond)
	}
	<-done
	time.Sleep(4 * time.Second)
	poll()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range created {
		if seen[id] != 1 {
			t.Errorf("record %s seen %d times", id, seen[id])
		}
	}
	if len(seen) != len(created) {
		t.Errorf("saw %d records, created %d", len(seen), len(created))
	}
}

// TestWebhookEscapedURLFromFake: a delivery to a URL with an escape HubSpot
// decodes before signing (%40) verifies.
func TestWebhookEscapedURLFromFake(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	c := client(t, s, nil)
	setup(t, c)
	var mu sync.Mutex
	ok, refused := 0, 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := c.VerifyWebhook(r, body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	if err := s.Subscribe(hubspottest.Subscription{URL: hook.URL + "/hooks/hubspot?from=ops%40regsync.example", ClientSecret: "client-secret"}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if _, err := c.Write(ctx, []connectors.Update{{SubmissionKey: "esc:1", Fields: map[string]string{"status": "submitted"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ok == 0 || refused != 0 {
		t.Errorf("%d deliveries verified, %d refused", ok, refused)
	}
}
