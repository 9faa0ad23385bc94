package hubspot_test

import (
	"slices"
	"testing"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
)

// TestCompanyRegistrations finds a company's registrations by association,
// by company_id and by registrable domain, only in the statuses asked, in
// a handful of calls for several companies.
func TestCompanyRegistrations(t *testing.T) {
	s := fake(t, hubspottest.Options{})
	setup(t, client(t, s, nil))
	typeID, err := s.TypeID("partner_registration")
	if err != nil {
		t.Fatal(err)
	}
	acme, _ := s.CreateRecord("companies", map[string]string{"name": "Acme", "domain": "https://www.acme.example/"})
	beta, _ := s.CreateRecord("companies", map[string]string{"name": "Beta", "domain": "beta.example"})
	lone, _ := s.CreateRecord("companies", map[string]string{"name": "Lone", "domain": "lone.example"})
	reg := func(status, domain string, extra map[string]string) string {
		t.Helper()
		p := map[string]string{"status": status, "company_domain": domain}
		var r registration.Record
		r.CompanyDomain = domain
		r.Index()
		p["domain_key"] = r.DomainKey
		for k, v := range extra {
			p[k] = v
		}
		id, err := s.CreateRecord(typeID, p)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	byAssoc := reg("approved", "acme-corp.example", nil) // another domain, associated by an AE
	if err := s.Associate("companies", acme, typeID, byAssoc); err != nil {
		t.Fatal(err)
	}
	byDomain := reg("meeting_booked", "eu.acme.example", nil)
	_ = reg("declined", "acme.example", nil)                                               // not in the statuses asked
	byField := reg("approved", "beta-labs.example", map[string]string{"company_id": beta}) // named by company_id
	_ = reg("approved", "gamma.example", nil)                                              // another company
	declinedAssoc := reg("declined", "acme.example", nil)
	_ = s.Associate("companies", acme, typeID, declinedAssoc)

	c := client(t, s, nil)
	ctx := ctxFor(t)
	_, _, _ = c.Changed(ctx, "") // learn the type id, as the daemon has
	s.ResetCalls()
	got, err := c.CompanyRegistrations(ctx, []string{acme, beta, lone, acme},
		[]registration.Status{registration.StatusApproved, registration.StatusMeetingBooked})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []registration.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	want := []string{byAssoc, byDomain}
	slices.Sort(want)
	if g := ids(got[acme]); !slices.Equal(g, want) {
		t.Errorf("acme: %v, want %v", g, want)
	}
	if g := ids(got[beta]); !slices.Equal(g, []string{byField}) {
		t.Errorf("beta: %v, want [%s]", g, byField)
	}
	if _, ok := got[lone]; ok || len(got) != 2 {
		t.Errorf("result %v: want acme and beta only", got)
	}
	for _, r := range got[acme] {
		if r.ID == byDomain && (r.Status != registration.StatusMeetingBooked || r.DomainKey != "acme.example") {
			t.Errorf("record not decoded: %+v", r)
		}
	}
	if n := s.TotalCalls(); n > 4 {
		t.Errorf("%d calls, want at most 4: %v", n, s.Calls())
	}
	if got, err := c.CompanyRegistrations(ctx, nil, []registration.Status{registration.StatusApproved}); err != nil || len(got) != 0 {
		t.Errorf("no companies: %v %v", got, err)
	}
}
