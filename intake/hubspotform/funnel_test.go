package hubspotform

import (
	"testing"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// A HubSpot form submission has the problems every channel refuses, with
// the field and why: a free-mail company website and a contact at the
// partner's own company. As for any unusable value of a form, the
// registration goes ahead without it and the rules ask for it; before the
// funnel both values were kept.
func TestFormSubmissionRefusesWhatEveryChannelRefuses(t *testing.T) {
	p := NewPoller(Options{Partners: intake.NewDirectory([]rules.Partner{{ID: "northwind", Name: "Northwind Consulting", EmailDomains: []string{"northwind.example"}}})})
	for _, tc := range []struct {
		name, field, reason string
		values              map[string]string
	}{
		{"free-mail website", "company_domain", "gmail.com is a free e-mail provider: enter the company's own website",
			map[string]string{"email": "hank@globex.example", "company": "Globex", "website": "gmail.com", "partner_id": "northwind"}},
		{"own-company contact", "contact_email", "that is an address at your own company; give the prospect's address",
			map[string]string{"email": "sam@northwind.example", "company": "Globex", "website": "globex.example", "partner_id": "northwind"}},
	} {
		m, err := Map(intake.HubSpotForm{GUID: "guid-1"}, sub("conv-9", tc.values), p.funnel)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Problems) != 1 || m.Problems[0].Field != tc.field || m.Problems[0].Reason != tc.reason {
			t.Errorf("%s: problems %v", tc.name, m.Problems)
		}
		if v, _ := m.Submission.Record.Get(tc.field); v != "" {
			t.Errorf("%s: kept %q", tc.name, v)
		}
		const key = "hubspot_form:guid-1:conv-9"
		if m.Submission.Key != key || m.Submission.Record.CaseNumber != "R-KX9P995722" || m.Submission.Record.CaseNumber != registration.CaseNumberFor(key) {
			t.Errorf("%s: key %q case %q", tc.name, m.Submission.Key, m.Submission.Record.CaseNumber)
		}
		if m.Submission.Record.PartnerName != "Northwind Consulting" {
			t.Errorf("%s: partner name %q", tc.name, m.Submission.Record.PartnerName)
		}
	}
}
