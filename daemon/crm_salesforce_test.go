package daemon

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

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
	return fmt.Sprintf(`salesforce:
  domain: %q
  client_id: %s
  client_secret: %s
  organization_id: %s
  poll_interval: %s
  timeout: 10s`, f.sf.URL(), salesforcetest.DefaultClientID, salesforcetest.DefaultClientSecret,
		f.sf.OrganizationID(), o.pollInterval)
}

// Subscribe sets up outbound messages on registrations and opportunities,
// as the README tells an admin to (a record-triggered flow with an
// Outbound Message action, fields Id and SystemModstamp).
func (f *salesforceFake) Subscribe(_ testing.TB, baseURL string) {
	url := baseURL + "/webhooks/salesforce"
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
