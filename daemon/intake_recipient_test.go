package daemon

import (
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
)

// Who gets a partner's mail. A HubSpot form's hidden fields are the
// visitor's to edit, and a CSV row's partner_email is whatever the file
// says: regsync mails only addresses at the partner's email_domains, and
// the partner's name on the registration is the policy's, never the
// input's.

// A visitor edits the form's hidden partner_email to a stranger's address
// (and partner_name to a name of their own): the registration is declined
// (the submitter is not the partner's), the stranger gets no e-mail, and
// the record names the partner as the policy does.
func TestIntakeHubSpotFormHiddenPartnerEmailIsNotMailed(t *testing.T) {
	r := startRig(t, rigOpts{formPoll: 100 * time.Millisecond})
	v := func(name, value string) hubspottest.FormValue { return hubspottest.FormValue{Name: name, Value: value} }
	r.fake.hs.AddFormSubmission(rigFormGUID, hubspottest.FormSubmission{PageURL: "https://www.northwind.example/register",
		Values: []hubspottest.FormValue{v("firstname", "Dana"), v("lastname", "Scully"), v("email", "dana@fbi-labs.example"),
			v("company", "FBI Labs"), v("website", "fbi-labs.example"), v("message", "Evidence tracking is manual."),
			v("country", "US"), v("LEGAL_CONSENT.subscription_type_1", "true"),
			v("partner_id", "northwind"), v("partner_email", "victim@elsewhere.example"), v("partner_name", "Northwind Billing Dept")}})
	deadline := time.Now().Add(5 * time.Second)
	for r.records() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	recs := r.fake.hs.Records(r.fake.typeID)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	cn := r.crm.Get(t, recs[0].ID)["case_number"]
	rec := r.waitCase(cn, 5*time.Second, "declined")
	if rec["status_reason"] != "submitter_not_partner" {
		t.Errorf("declined for %q, want submitter_not_partner", rec["status_reason"])
	}
	if rec["partner_name"] != "Northwind Consulting" {
		t.Errorf("partner_name %q: taken from the form's hidden field, want the policy's name", rec["partner_name"])
	}
	// The form has no answer of its own: the decision is mailed — but not
	// to the visitor's address.
	r.settle(5 * time.Second)
	for _, m := range r.smtp.Messages() {
		if contains(m.To, "victim@elsewhere.example") {
			t.Errorf("mailed an address outside the partner's email_domains: %v %q", m.To, m.Header("Subject"))
		}
	}
}

// A CSV row names a stranger as its partner_email: the row is registered
// under the uploading partner, but no decision about it is mailed to the
// stranger.
func TestIntakeCSVRowPartnerEmailIsNotMailed(t *testing.T) {
	r := startRig(t, rigOpts{})
	file := "Company,Website,Contact,Email,Problem,Consent,Country,Partner email,Partner name\r\n" +
		"Vandelay Industries,vandelay.example,Art Vandelay,art@vandelay.example,Imports on paper,yes,US,victim@elsewhere.example,Evil Twin Ltd\r\n"
	code, body := r.uploadCSV([]byte(file), rigCSVToken)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rows := readResults(t, body)
	if len(rows) != 1 || rows[0][1] == "" {
		t.Fatalf("results %v", rows)
	}
	cn := rows[0][1]
	rec := r.waitCase(cn, 5*time.Second, "declined", "in_review", "approved")
	if rec["partner_name"] != "Northwind Consulting" {
		t.Errorf("partner_name %q, want the policy's name", rec["partner_name"])
	}
	r.settle(5 * time.Second)
	// The result CSV answered the upload; a later change (the partner
	// manager reopens the case as an appeal) is mailed — to no address of
	// the row's.
	r.crm.Update(t, rec["id"], map[string]string{"status": "appealed"})
	deadline := time.Now().Add(5 * time.Second)
	for r.byCase(cn)["status_reason"] != "appealed" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.settle(5 * time.Second)
	for _, m := range r.smtp.Messages() {
		if contains(m.To, "victim@elsewhere.example") {
			t.Errorf("mailed the CSV row's partner_email outside the partner's email_domains: %q", m.Header("Subject"))
		}
	}
}
