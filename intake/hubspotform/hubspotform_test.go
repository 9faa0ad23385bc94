package hubspotform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

var at = time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC)

func sub(id string, values map[string]string) hubspot.FormSubmission {
	return hubspot.FormSubmission{ConversionID: id, SubmittedAt: at, PageURL: "https://northwind.example/partner-offer", Values: values}
}

func TestMapTypicalForm(t *testing.T) {
	m, err := Map(intake.HubSpotForm{GUID: "f-1"}, sub("c-1", map[string]string{
		"firstname": "Hank", "lastname": "Scorpio", "email": "hank@globex.example", "company": "Globex",
		"jobtitle": "CEO", "message": "They reconcile stock by hand.", "partner_id": "northwind", "partner_program": "referral",
		"partner_email": "sam@northwind.example", "LEGAL_CONSENT.processing": "true", "LEGAL_CONSENT.subscription_type_4681882": "false",
		"hs_context": `{"pageUrl":"x"}`, "utm_source": "partner",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Submission.Record
	got := map[string]string{}
	for _, f := range []string{"source", "partner_id", "partner_type", "partner_email", "company_name", "company_domain", "contact_name", "contact_email", "contact_role", "problem", "consent", "submitted_at", "submission_key", "case_number"} {
		got[f], _ = r.Get(f)
	}
	key := "hubspot_form:f-1:c-1"
	want := map[string]string{
		"source": "hubspot_form", "partner_id": "northwind", "partner_type": "referral", "partner_email": "sam@northwind.example",
		"company_name": "Globex", "company_domain": "globex.example", "contact_name": "Hank Scorpio", "contact_email": "hank@globex.example",
		"contact_role": "CEO", "problem": "They reconcile stock by hand.", "consent": "true", "submitted_at": "2025-03-04T09:30:00Z",
		"submission_key": key, "case_number": registration.CaseNumberFor(key),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("record\n%v\nwant\n%v", got, want)
	}
	if m.Submission.Key != key || m.Submission.Channel != intake.ChannelHubSpotForm || len(m.Problems) != 0 || r.DomainKey != "globex.example" {
		t.Errorf("submission %+v problems %v", m.Submission, m.Problems)
	}
}

func TestMapEdgeCases(t *testing.T) {
	form := intake.HubSpotForm{GUID: "f-2", PartnerID: "contoso", PartnerEmail: "pm@contoso.example", Fields: map[string]string{"what_do_they_need": "problem"}}
	m, err := Map(form, sub("c-2", map[string]string{"email": "jane@gmail.com", "what_do_they_need": "A new WMS", "website": "not a site!", "consent": "Checked"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Submission.Record
	if r.PartnerID != "contoso" || r.PartnerEmail != "pm@contoso.example" || r.Problem != "A new WMS" || r.CompanyDomain != "" || !r.Consent {
		t.Errorf("record %+v", r)
	}
	if len(m.Problems) != 1 || m.Problems[0].Error() != "company_domain: not a website or domain" {
		t.Errorf("problems %v", m.Problems)
	}
	// A ticked-off consent box is no consent.
	m, _ = Map(form, sub("c-3", map[string]string{"LEGAL_CONSENT.processing": "false"}), nil)
	if m.Submission.Record.Consent {
		t.Error("consent from an unticked box")
	}
	for _, c := range []struct {
		form intake.HubSpotForm
		s    hubspot.FormSubmission
		want string
	}{
		{intake.HubSpotForm{GUID: "f"}, sub("c", map[string]string{"email": "a@b.example"}), "partner_id: the form has no partner_id hidden field and no partner is configured for it"},
		{form, sub("c", map[string]string{"partner_id": "northwind"}), "partner_id: the hidden field names northwind, but this form belongs to partner contoso"},
		{intake.HubSpotForm{GUID: "f"}, sub("", map[string]string{"partner_id": "northwind"}), "conversion_id: the submission has no conversion id"},
		{intake.HubSpotForm{GUID: "f"}, sub("c", map[string]string{"partner_id": "north\x00wind"}), "partner_id: not a partner id"},
	} {
		_, err := Map(c.form, c.s, nil)
		var fe *intake.FieldError
		if !errors.As(err, &fe) || err.Error() != c.want {
			t.Errorf("Map = %v, want %s", err, c.want)
		}
	}
}

type memCursors struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *memCursors) Cursor(_ context.Context, guid string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[guid], nil
}

func (c *memCursors) SetCursor(_ context.Context, guid, v string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[guid] = v
	return nil
}

// The poller against the HubSpot fake, through the real client. The
// submissions carry no partner, so none reaches the (nil) Registrar: this
// tests paging, ordering and the cursor.
func TestPollerPagesToItsCursor(t *testing.T) {
	clock := hubspottest.NewClock(at)
	srv, err := hubspottest.Start(hubspottest.Options{Clock: clock, PerTenSeconds: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token = srv.URL(), secret.New("sandbox-token")
	client, err := hubspot.New(cfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddForm("f-1")
	add := func(n int) {
		for i := 0; i < n; i++ {
			clock.Set(clock.Now().Add(time.Second))
			srv.AddFormSubmission("f-1", hubspottest.FormSubmission{Values: []hubspottest.FormValue{{Name: "email", Value: fmt.Sprintf("p%d@globex.example", i)}}})
		}
	}
	add(120)
	cursors := &memCursors{m: map[string]string{}}
	p := NewPoller(Options{Source: client, Cursors: cursors, Config: intake.HubSpotFormConfig{PollInterval: time.Minute}})
	form := intake.HubSpotForm{GUID: "f-1"}
	res, err := p.PollForm(t.Context(), form)
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 120 || res.Skipped != 120 || res.Calls != 3 || res.Registered != 0 || res.Truncated {
		t.Errorf("first poll %+v", res)
	}
	first := cursors.m["f-1"]
	if !strings.HasPrefix(first, fmt.Sprint(at.Add(120*time.Second).UnixMilli())+":") {
		t.Errorf("cursor %q", first)
	}
	// Nothing new: one page, nothing read.
	res, _ = p.PollForm(t.Context(), form)
	if res.Read != 0 || res.Calls != 1 || cursors.m["f-1"] != first {
		t.Errorf("idle poll %+v cursor %q", res, cursors.m["f-1"])
	}
	// Three new, two of them in the same millisecond.
	add(1)
	srv.AddFormSubmission("f-1", hubspottest.FormSubmission{Values: []hubspottest.FormValue{{Name: "email", Value: "x@globex.example"}}})
	res, _ = p.PollForm(t.Context(), form)
	if res.Read != 2 || res.Calls != 1 {
		t.Errorf("poll after two more %+v", res)
	}
	res, _ = p.PollForm(t.Context(), form)
	if res.Read != 0 {
		t.Errorf("submissions in the cursor's millisecond read again: %+v (cursor %q)", res, cursors.m["f-1"])
	}
	// MaxPages bounds a poll.
	p2 := NewPoller(Options{Source: client, Cursors: &memCursors{m: map[string]string{}}, MaxPages: 1})
	res, _ = p2.PollForm(t.Context(), form)
	if !res.Truncated || res.Read != 50 || res.Calls != 1 {
		t.Errorf("truncated poll %+v", res)
	}
}

func TestCursorText(t *testing.T) {
	c := parseCursor("1741080600000:a,b")
	if c.ms != 1741080600000 || strings.Join(c.ids, ",") != "a,b" || c.String() != "1741080600000:a,b" {
		t.Errorf("%+v", c)
	}
	if parseCursor("").ms != 0 || parseCursor("junk").ms != 0 {
		t.Error("bad cursors")
	}
}
