package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// salesforceFake runs the end-to-end tests against salesforcetest: the
// daemon logs in with the client-credentials flow, polls SystemModstamp,
// and receives outbound messages (SOAP notifications) at
// /webhooks/salesforce. Registrations are created and changed as an AE in
// Salesforce's UI would (no API calls, no derived match keys), companies
// are Accounts with a Website, deals Opportunities, audit notes Chatter
// posts (FeedItem) and AE tasks Tasks.
type salesforceFake struct {
	sf        *salesforcetest.Server
	realClock bool
}

func startSalesforceFake(t testing.TB, o harnessOpts) fakeCRM {
	t.Helper()
	sf, err := salesforcetest.Start(salesforcetest.Options{
		Empty: !o.seed, OutboundRetryBase: 50 * time.Millisecond, OutboundRetryMax: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.realClock {
		sf.SetNow(t0) // stands still unless advanced
	}
	// What `regsync setup` checks must hold in the fake org: the object,
	// every field, the permissions and the organization id.
	cfg := salesforce.DefaultConfig()
	cfg.Domain, cfg.ClientID = sf.URL(), salesforcetest.DefaultClientID
	cfg.ClientSecret = secret.New(salesforcetest.DefaultClientSecret)
	cfg.OrganizationID = sf.OrganizationID()
	c, err := salesforce.New(cfg, salesforce.Options{})
	if err != nil {
		sf.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok, err := c.Setup(ctx, io.Discard); err != nil || !ok {
		sf.Close()
		t.Fatalf("setup: ready %v, %v", ok, err)
	}
	sf.ResetCalls()
	return &salesforceFake{sf: sf, realClock: o.realClock}
}

func (f *salesforceFake) Kind() string   { return "salesforce" }
func (f *salesforceFake) Object() string { return salesforce.EventRegistration }

func (f *salesforceFake) ConfigYAML(o harnessOpts) string {
	y := fmt.Sprintf(`salesforce:
  domain: %q
  client_id: %s
  client_secret: %s
  organization_id: %s
  webhook_secret: %s
  poll_interval: %s
  timeout: 10s`, f.sf.URL(), salesforcetest.DefaultClientID, salesforcetest.DefaultClientSecret,
		f.sf.OrganizationID(), outboundSecret, o.pollInterval)
	for _, l := range strings.Split(strings.TrimSpace(o.salesforce), "\n") {
		if l != "" {
			y += "\n  " + strings.TrimSpace(l)
		}
	}
	return y
}

// outboundSecret is the endpoint secret of the outbound messages, as the
// README tells an admin to set it (…/webhooks/salesforce?secret=…).
const outboundSecret = "e2e-outbound-secret"

// Subscribe sets up outbound messages on registrations and opportunities,
// as the README tells an admin to (a record-triggered flow with an
// Outbound Message action, fields Id and SystemModstamp, the endpoint
// secret in the URL).
func (f *salesforceFake) Subscribe(_ testing.TB, baseURL string) {
	url := baseURL + "/webhooks/salesforce?secret=" + outboundSecret
	fields := []string{"Id", "SystemModstamp"}
	f.sf.SetOutbound(
		salesforcetest.OutboundMessage{Object: salesforcetest.RegistrationObject, URL: url, Fields: fields},
		salesforcetest.OutboundMessage{Object: "Opportunity", URL: url, Fields: fields},
	)
}

func (f *salesforceFake) Push(on bool) {
	flt := f.sf.Faults()
	flt.OutboundOff = !on
	f.sf.SetFaults(flt)
}

// apiValues converts canonical fields to the UI's values by API name.
func apiValues(t testing.TB, fields map[string]string) map[string]any {
	t.Helper()
	out := make(map[string]any, len(fields))
	for name, v := range fields {
		fl, ok := registration.LookupField(name)
		if !ok || name == "id" {
			t.Fatalf("no registration field %q", name)
		}
		api := salesforce.DefaultFieldName(name)
		switch {
		case v == "":
			out[api] = nil
		case fl.Kind == registration.KindBool:
			b, ok := registration.ParseBool(v)
			if !ok {
				t.Fatalf("%s: %q is not a yes/no value", name, v)
			}
			out[api] = b
		case fl.Kind == registration.KindNumber:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[api] = n
		default:
			out[api] = v
		}
	}
	return out
}

func (f *salesforceFake) Register(t testing.TB, fields map[string]string) string {
	t.Helper()
	id, err := f.sf.AsAE().Create(salesforcetest.RegistrationObject, apiValues(t, fields))
	if err != nil {
		t.Fatalf("create registration: %v", err)
	}
	return id
}

func (f *salesforceFake) Update(t testing.TB, id string, fields map[string]string) {
	t.Helper()
	if err := f.sf.AsAE().Update(salesforcetest.RegistrationObject, id, apiValues(t, fields)); err != nil {
		t.Fatalf("update registration: %v", err)
	}
}

// Get reads a registration in canonical form (times as RFC 3339).
func (f *salesforceFake) Get(t testing.TB, id string) map[string]string {
	t.Helper()
	vals, ok := f.sf.Get(salesforcetest.RegistrationObject, id)
	if !ok {
		t.Fatalf("registration %s not found", id)
	}
	var rec registration.Record
	out := map[string]string{}
	for _, fl := range registration.Fields() {
		if fl.Name == "id" {
			continue
		}
		var text string
		switch v := vals[salesforce.DefaultFieldName(fl.Name)].(type) {
		case nil:
			continue
		case string:
			text = v
		case bool:
			text = strconv.FormatBool(v)
		case float64:
			text = strconv.FormatFloat(v, 'f', -1, 64)
		case time.Time:
			text = v.UTC().Format(time.RFC3339Nano)
		default:
			t.Fatalf("%s: unexpected value %T", fl.Name, v)
		}
		if text == "" {
			continue
		}
		if err := fl.Set(&rec, text); err != nil {
			out[fl.Name] = text
			continue
		}
		out[fl.Name] = fl.Get(&rec)
	}
	return out
}

func (f *salesforceFake) Company(t testing.TB, name, domain string) string {
	t.Helper()
	id, err := f.sf.AsAE().Create("Account", map[string]any{"Name": name, "Website": "https://www." + domain + "/"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *salesforceFake) OpenDeal(t testing.TB, companyID string) string {
	t.Helper()
	id, err := f.sf.AsAE().Create("Opportunity", map[string]any{"Name": "Direct deal", "AccountId": companyID,
		"StageName": "Qualification", "Amount": 5000, "CloseDate": f.sf.Now().AddDate(0, 2, 0).Format("2006-01-02")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Linked lists the registration's Account and Opportunity lookups, its
// Chatter posts and its Tasks.
func (f *salesforceFake) Linked(t testing.TB, id, what string) []string {
	t.Helper()
	lookup := func(field string) []string {
		vals, ok := f.sf.Get(salesforcetest.RegistrationObject, id)
		if !ok {
			t.Fatalf("registration %s not found", id)
		}
		if v, _ := vals[field].(string); v != "" {
			return []string{v}
		}
		return nil
	}
	switch what {
	case "company":
		return lookup(salesforce.FieldAccount)
	case "deal":
		return lookup(salesforce.FieldOpportunity)
	case "notes":
		return f.sf.Find(salesforce.NoteFeedItem, "ParentId", id)
	case "tasks":
		return f.sf.Find("Task", "WhatId", id)
	}
	t.Fatalf("Linked: unknown kind %q", what)
	return nil
}

func (f *salesforceFake) WriteCount(id string) int { return f.sf.Writes(id) }
func (f *salesforceFake) Now() time.Time           { return f.sf.Now() }
func (f *salesforceFake) Advance(d time.Duration) {
	if f.realClock {
		panic("salesforceFake: Advance on a fake running on the real clock")
	}
	f.sf.Advance(d)
}
func (f *salesforceFake) TotalCalls() int  { return f.sf.TotalCalls() }
func (f *salesforceFake) RateLimited() int { return f.sf.LimitRefusals() }
func (f *salesforceFake) Close()           { f.sf.Close() }

// The worker's own writes come back (outbound messages, webhooks) and are
// recognised as its echo, even when the clock has sub-second digits that
// Salesforce drops from every DateTime: a registration decided once gets
// exactly one write and is never looked at as changed by someone else.
func TestEchoOfOwnWritesAtCRMPrecision(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true})
		h.crm.Advance(1234 * time.Millisecond) // decided_at and the windows get milliseconds
		id := h.register(clean(30, "echo-precision.example"))
		h.waitDecided(id, 5*time.Second)
		echo := func() float64 { return testutil.ToFloat64(h.d.m.Processed.WithLabelValues("echo")) }
		deadline := time.Now().Add(5 * time.Second)
		for echo() < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the echo of the decision was never recognised (%v observed)",
					testutil.ToFloat64(h.d.m.Processed.WithLabelValues("observed")))
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.settle(5 * time.Second)
		if n := testutil.ToFloat64(h.d.m.Processed.WithLabelValues("observed")); n != 0 {
			t.Errorf("%v of the worker's own writes were taken for someone else's change", n)
		}
		if n := testutil.ToFloat64(h.d.m.Processed.WithLabelValues("decided")); n != 1 {
			t.Errorf("decided %v times", n)
		}
		// Its decision, plus at most the write that stores the match keys of
		// a registration created outside regsync — which the Salesforce
		// connector makes with the decision.
		maxWrites := 2
		if h.crm.Kind() == "salesforce" {
			maxWrites = 1
		}
		if w := h.crm.WriteCount(id); w < 1 || w > maxWrites {
			t.Errorf("%d API writes for one decision, want 1 to %d", w, maxWrites)
		}
		p := h.get(id)
		if at, _ := time.Parse(time.RFC3339, p["decided_at"]); !at.Equal(h.crm.Now().Truncate(time.Second)) && !at.Equal(h.crm.Now().Truncate(time.Millisecond)) {
			t.Errorf("decided_at %s, clock %s", p["decided_at"], h.crm.Now())
		}
	})
}

func (f *salesforceFake) CloseDeal(t testing.TB, dealID string, won bool) {
	t.Helper()
	stage := "Closed Lost"
	if won {
		stage = "Closed Won"
	}
	if err := f.sf.AsAE().Update("Opportunity", dealID, map[string]any{"StageName": stage}); err != nil {
		t.Fatalf("close opportunity: %v", err)
	}
}

func (f *salesforceFake) DealPartner(t testing.TB, dealID string) string {
	t.Helper()
	v, ok := f.sf.Get("Opportunity", dealID)
	if !ok {
		t.Fatalf("opportunity %s not found", dealID)
	}
	p, _ := v[salesforce.DefaultConfig().OpportunityPartnerField].(string)
	return p
}

// Outbound messages reach the daemon at /webhooks/salesforce: a wrong
// endpoint secret or organization, malformed XML, an entity declaration
// (XXE, billion laughs) or an oversized body is refused with the right code
// and leaves the inbox as it was; a good message is stored, answered with
// the SOAP Ack, and its registration decided.
func TestSalesforceOutboundMessageRefusals(t *testing.T) {
	h := startHarness(t, crm{"salesforce", startSalesforceFake}, harnessOpts{})
	sf := h.crm.(*salesforceFake).sf
	// The poll at start has run (the next is an hour away), so only an
	// outbound message can bring the registration below into the inbox.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(h.d.m.PollRuns.WithLabelValues("salesforce", "ok")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the poll at start did not run within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	co := h.crm.Company(t, "Refusal Co", "outbound-refusals.example")
	id := h.register(clean(40, "outbound-refusals.example"))
	envelope := func(org string) []byte { return outboundEnvelope(sf.URL(), org, id) }
	good := envelope(sf.OrganizationID())
	endpoint := h.d.public + "/webhooks/salesforce?secret=" + outboundSecret
	post := func(url string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", `""`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	pending := func() int {
		st, err := h.d.db.InboxStats()
		if err != nil {
			t.Fatal(err)
		}
		return st.Pending + st.Dead
	}
	xxe := []byte(`<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + string(good[len(`<?xml version="1.0" encoding="UTF-8"?>`):]))
	laughs := []byte(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`)
	big := append(append([]byte{}, good[:len(good)-30]...), bytes.Repeat([]byte(" "), 2<<20)...)
	for _, tc := range []struct {
		name string
		url  string
		body []byte
		want int
	}{
		{"no endpoint secret", h.d.public + "/webhooks/salesforce", good, http.StatusUnauthorized},
		{"wrong endpoint secret", h.d.public + "/webhooks/salesforce?secret=guess", good, http.StatusUnauthorized},
		{"another organization", endpoint, envelope("00D5g000004SbxTEAS"), http.StatusUnauthorized},
		{"malformed XML", endpoint, good[:len(good)-40], http.StatusBadRequest},
		{"not a notifications envelope", endpoint, []byte(`<?xml version="1.0"?><a><b/></a>`), http.StatusBadRequest},
		{"XXE", endpoint, xxe, http.StatusBadRequest},
		{"billion laughs", endpoint, laughs, http.StatusBadRequest},
		{"empty body", endpoint, nil, http.StatusBadRequest},
		{"2 MB body", endpoint, big, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := pending()
			if got, body := post(tc.url, tc.body); got != tc.want {
				t.Errorf("answered %d, want %d: %s", got, tc.want, body)
			} else if strings.Contains(body, "<Ack>true</Ack>") {
				t.Errorf("a refusal acknowledged the message: %s", body)
			}
			if after := pending(); after != before {
				t.Errorf("the inbox changed: %d items before, %d after", before, after)
			}
		})
	}
	if got := h.get(id)["status"]; got != "submitted" {
		t.Fatalf("status %q before any good message (push is off, the poll interval an hour)", got)
	}
	got, body := post(endpoint, good)
	if got != http.StatusOK || !strings.Contains(body, "<Ack>true</Ack>") || !strings.Contains(body, "notificationsResponse") {
		t.Fatalf("a good outbound message answered %d: %s", got, body)
	}
	if n := testutil.ToFloat64(h.d.m.WebhookEvents.WithLabelValues("salesforce")); n != 1 {
		t.Errorf("%v events stored, want 1", n)
	}
	h.waitDecided(id, 5*time.Second)
	h.settle(5 * time.Second)
	h.checkApproved(id, h.get(id), co)
}

// Salesforce refuses requests with REQUEST_LIMIT_EXCEEDED when too many
// long requests run at once, and answers 503 now and then: the connector
// waits and retries, so neither reaches the worker — no failed item, no
// dead letter, every registration decided once with one write.
func TestSalesforceTransientLimitsNeverReachTheWorker(t *testing.T) {
	h := startHarness(t, crm{"salesforce", startSalesforceFake}, harnessOpts{webhooks: true})
	sf := h.crm.(*salesforceFake).sf
	flt := sf.Faults()
	flt.ConcurrentLimit, flt.Fail5xx = 2, 2
	sf.SetFaults(flt)
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = h.register(clean(50+i, fmt.Sprintf("limits%d.example", i)))
	}
	for _, id := range ids {
		h.waitDecided(id, 30*time.Second)
	}
	h.settle(30 * time.Second)
	if n := sf.LimitRefusals(); n != 2 {
		t.Fatalf("the fake refused %d requests for the concurrent limit, want the 2 injected", n)
	}
	if f := sf.Faults(); f.Fail5xx != 0 {
		t.Fatalf("%d injected 503s were never sent", f.Fail5xx)
	}
	for _, reason := range []string{"rate_limited", "daily_limit", "server_error", "network", "error"} {
		if n := testutil.ToFloat64(h.d.m.CRMFailed.WithLabelValues("salesforce", reason)); n != 0 {
			t.Errorf("%v inbox items failed with %s: the connector let it reach the worker", n, reason)
		}
	}
	if n := testutil.ToFloat64(h.d.m.Processed.WithLabelValues("failed")); n != 0 {
		t.Errorf("%v records failed", n)
	}
	if dead, _ := h.d.db.Dead(); len(dead) != 0 {
		t.Errorf("%d dead letters", len(dead))
	}
	for _, id := range ids {
		if p := h.get(id); p["status"] != "approved" || h.crm.WriteCount(id) != 1 {
			t.Errorf("%s: %s/%s with %d writes", p["case_number"], p["status"], p["status_reason"], h.crm.WriteCount(id))
		}
	}
	if u := h.d.crm.Usage(); u.RateLimited != 2 {
		t.Errorf("the connector counted %d limit refusals, want 2", u.RateLimited)
	}
}

// outboundEnvelope is an outbound message of the org org about the
// registration id, as Salesforce sends it.
func outboundEnvelope(sfURL, org, id string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>` + org + `</OrganizationId>
   <ActionId>04k5g000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>` + sfURL + `/services/Soap/c/63.0/` + org[:15] + `</EnterpriseUrl>
   <PartnerUrl>` + sfURL + `/services/Soap/u/63.0/` + org[:15] + `</PartnerUrl>
   <Notification>
    <Id>04l5g00000Gx7QzAAJ</Id>
    <sObject xsi:type="sf:Partner_Registration__c" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>` + id + `</sf:Id>
     <sf:SystemModstamp>2026-03-02T15:00:01.000Z</sf:SystemModstamp>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
`)
}
