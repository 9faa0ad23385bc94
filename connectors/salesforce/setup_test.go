package salesforce

import (
	"fmt"
	"strings"
	"testing"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
)

func TestSetupReportsWhatIsMissing(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Bare: true, Empty: true}, nil)
	ctx := ctxT(t)
	var out strings.Builder
	before := e.sf.TotalCalls()
	ok, err := e.c.Setup(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.sf.TotalCalls() - before; n > 2 {
		t.Errorf("setup took %d calls", n)
	}
	report := out.String()
	if ok {
		t.Fatalf("bare org passed:\n%s", report)
	}
	for _, want := range []string{
		"missing  object Partner_Registration__c: not deployed",
		"missing  Opportunity.Partner_Id__c: no such field, or hidden from the integration user by field-level security",
		"cd deploy/salesforce && sf project deploy start --source-dir force-app",
		"ok       organization " + e.sf.OrganizationID() + " (Regsync Sandbox) matches salesforce.organization_id",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// Deploy the package: ready.
	e.sf.AddRegistrationObject()
	out.Reset()
	ok, err = e.c.Setup(ctx, &out)
	if err != nil || !ok {
		t.Fatalf("after deploying: ok=%v err=%v\n%s", ok, err, out.String())
	}
	if !strings.Contains(out.String(), "ok       Partner_Registration__c.Case_Number__c (string)") {
		t.Errorf("report:\n%s", out.String())
	}
	// Field-level security, a wrong type, a missing status, a wrong org.
	_ = e.sf.SetFieldAccess(obj, "Hold_Until__c", true, false)
	_ = e.sf.SetFieldAccess(obj, "Status_Reason__c", false, true)
	_ = e.sf.AddField(obj, salesforcetest.Field{Name: "Consent__c", Type: salesforcetest.TypeString, Length: 10})
	_ = e.sf.AddField(obj, salesforcetest.Field{Name: "Status__c", Type: salesforcetest.TypePicklist, Picklist: []string{"submitted", "approved"}})
	_ = e.sf.AddField(obj, salesforcetest.Field{Name: "Submission_Key__c", Type: salesforcetest.TypeString, Length: 255})
	e2 := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.OrganizationID = "00D000000000001" })
	out.Reset()
	ok, err = e.c.Setup(ctx, &out)
	if err != nil || ok {
		t.Fatalf("broken object passed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"missing  Partner_Registration__c.Hold_Until__c: no such field, or hidden from the integration user by field-level security",
		"access   Partner_Registration__c.Status_Reason__c is read-only for the integration user",
		"type     Partner_Registration__c.Consent__c is a string field; regsync needs boolean",
		"type     Partner_Registration__c.Status__c lacks the picklist values in_review, needs_info, meeting_booked",
		"warn     Partner_Registration__c.Status__c is not a restricted picklist",
		"type     Partner_Registration__c.Submission_Key__c must be an External ID and unique",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if ok, err := e2.c.Setup(ctx, &out); err != nil || ok || !strings.Contains(out.String(), "config   salesforce.organization_id is 00D000000000001 but these credentials log in to") {
		t.Errorf("wrong org: %v %v\n%s", ok, err, out.String())
	}
	// Not reachable: an error, not a report.
	e.sf.SetFaults(salesforcetest.Faults{Fail5xx: 100})
	if _, err := e.c.Setup(ctx, &out); !connectors.ClassOf(err).Transient() {
		t.Errorf("setup against a failing org: %v", err)
	}
}

// Imports over bulk_threshold go through a Bulk API 2.0 insert job on the
// case number; a re-run finds every record existing and writes none over,
// and per-row failures come back.
func TestBulkImport(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.BulkThreshold = 10 })
	ctx := ctxT(t)
	var ups []connectors.Update
	for i := range 30 {
		ups = append(ups, newRegistration(fmt.Sprintf("import:%d", i), fmt.Sprintf("Imported %d", i), fmt.Sprintf("imp%d.example", i), "p-1"))
	}
	ups[7].Fields["problem"] = ""            // cleared, not left alone
	ups[9].Fields["target_revenue"] = "1e20" // outside the currency field's range
	ups = append(ups, ups[3])                // the same submission twice in one import
	res, err := e.c.Write(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.sf.Calls(); c["POST jobs/ingest"] != 1 || c["PATCH composite/sobjects"] != 0 {
		t.Errorf("calls: %v", c)
	}
	created := 0
	for i, r := range res {
		switch {
		case i == 9:
			if connectors.Reason(r.Err) != "invalid" || connectors.ClassOf(r.Err).Transient() {
				t.Errorf("row 9: %v", r.Err)
			}
		case r.Err != nil || r.ID == "":
			t.Errorf("row %d: %+v", i, r)
		case r.Created:
			created++
		}
	}
	if created != 29 || res[30].ID != res[3].ID || res[30].Created {
		t.Errorf("created %d; duplicate row %+v vs %+v", created, res[30], res[3])
	}
	if n := e.sf.Count(obj); n != 29 {
		t.Fatalf("%d records", n)
	}
	got, _ := e.sf.Get(obj, res[7].ID)
	if got["Problem__c"] != nil || got["Domain_Key__c"] != "imp7.example" {
		t.Errorf("row 7: %v %v", got["Problem__c"], got["Domain_Key__c"])
	}
	// Run again, one of them decided meanwhile: all exist, none is new
	// and none written over.
	mustWrite(t, e.c, connectors.Update{ID: res[4].ID, Fields: map[string]string{"status": "approved"}})
	first := res
	res, err = e.c.Write(ctx, ups[:30])
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i != 9 && (r.Err != nil || r.Created || !r.Exists || r.ID != first[i].ID) {
			t.Errorf("re-run row %d: %+v", i, r)
		}
	}
	if got, _ := e.sf.Get(obj, res[4].ID); got["Status__c"] != "approved" {
		t.Errorf("re-run wrote over a decided record: status %v", got["Status__c"])
	}
	if n := e.sf.Count(obj); n != 29 {
		t.Errorf("%d records after a re-run", n)
	}
}
