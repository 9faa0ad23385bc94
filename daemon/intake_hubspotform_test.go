package daemon

import (
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/intake/channels"
)

// A partner's HubSpot form with hidden fields: polled, registered once —
// even when the poller's cursor is lost and every submission is read
// again — and the partner gets the decision by e-mail (the form has no
// answer of its own).
func TestIntakeHubSpotFormPolled(t *testing.T) {
	r := startRig(t, rigOpts{formPoll: 100 * time.Millisecond})
	v := func(name, value string) hubspottest.FormValue { return hubspottest.FormValue{Name: name, Value: value} }
	conv := r.fake.hs.AddFormSubmission(rigFormGUID, hubspottest.FormSubmission{PageURL: "https://www.northwind.example/register",
		Values: []hubspottest.FormValue{v("firstname", "Dana"), v("lastname", "Scully"), v("email", "dana@fbi-labs.example"),
			v("company", "FBI Labs"), v("website", "fbi-labs.example"), v("message", "Evidence tracking is manual."),
			v("country", "US"), v("LEGAL_CONSENT.subscription_type_1", "true"),
			v("partner_id", "northwind"), v("partner_email", "sam@northwind.example")}})
	// A submission without a partner is skipped.
	r.fake.hs.AddFormSubmission(rigFormGUID, hubspottest.FormSubmission{
		Values: []hubspottest.FormValue{v("email", "x@nopartner.example"), v("company", "No Partner")}})

	deadline := time.Now().Add(5 * time.Second)
	for r.records() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	recs := r.fake.hs.Records(r.fake.typeID)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	rec := r.crm.Get(t, recs[0].ID)
	if rec["source"] != "hubspot_form" || rec["partner_id"] != "northwind" || rec["contact_name"] != "Dana Scully" ||
		rec["company_domain"] != "fbi-labs.example" || rec["consent"] != "true" || rec["submission_key"] != "hubspot_form:"+rigFormGUID+":"+conv {
		t.Errorf("record %v", rec)
	}
	rec = r.waitCase(rec["case_number"], 5*time.Second, "approved")
	mail := r.mailTo("sam@northwind.example", rec["case_number"], 5*time.Second)
	if mail.Header("Reply-To") != rigIntakeAddr {
		t.Errorf("status e-mail reply-to %q", mail.Header("Reply-To"))
	}

	// More polls, then a lost cursor: every submission is read again.
	formPolls := func() int { return r.fake.hs.Calls()["GET /form-integrations/v1/submissions/forms/{formGuid}"] }
	polled := formPolls()
	waitUntil(t, 5*time.Second, "more form polls", func() bool { return formPolls() >= polled+2 })
	if err := r.d.db.SetCursor(channels.HubSpotFormPrefix+rigFormGUID, ""); err != nil {
		t.Fatal(err)
	}
	polled = formPolls()
	waitUntil(t, 5*time.Second, "form polls after the lost cursor", func() bool { return formPolls() >= polled+2 })
	if cur, _ := r.d.db.Cursor(channels.HubSpotFormPrefix + rigFormGUID); cur == "" {
		t.Error("the cursor was not stored again")
	}
	if n := r.records(); n != 1 {
		t.Errorf("%d records after polling again, want 1", n)
	}
	r.settle(5 * time.Second)
	if n := r.mailsTo("sam@northwind.example", rec["case_number"]); n != 1 {
		t.Errorf("%d status e-mails, want 1", n)
	}
}
