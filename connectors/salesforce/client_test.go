package salesforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/registration"
)

const obj = salesforcetest.RegistrationObject

func TestWriteCreatesOnCaseNumberAndNeverDuplicates(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	u := newRegistration("web:abc-123", "Globex Corporation", "https://eu.globex.example/about", "p-1")
	res := mustWrite(t, e.c, u)
	if !res[0].Created || res[0].ID == "" {
		t.Fatalf("create: %+v", res[0])
	}
	id := res[0].ID
	// The same submission again (a retried intake), changed: the record
	// exists, and it is neither created again nor written over.
	again := newRegistration("web:abc-123", "Globex Changed", "https://eu.globex.example/about", "p-1")
	again.Fields["status"] = "in_review"
	res2 := mustWrite(t, e.c, again)
	if res2[0].Created || !res2[0].Exists || res2[0].ID != id {
		t.Fatalf("second write: %+v", res2[0])
	}
	if n := e.sf.Count(obj); n != 1 {
		t.Fatalf("%d registrations after the same submission twice", n)
	}
	got, _ := e.sf.Get(obj, id)
	cn := registration.CaseNumberFor("web:abc-123")
	for k, want := range map[string]any{
		"Case_Number__c": cn, "Submission_Key__c": "web:abc-123", "Status__c": "submitted",
		"Company_Domain__c": "https://eu.globex.example/about", "Domain_Key__c": "globex.example", "Name_Key__c": "globex",
		"Consent__c": true, "Target_Revenue__c": 25000.0, "Name": "Globex Corporation (" + cn + ")",
	} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if ts, _ := got["Submitted_At__c"].(time.Time); !ts.Equal(time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("Submitted_At__c = %v", got["Submitted_At__c"])
	}
	// Read back through every read path.
	recs, err := e.c.Registrations(ctx, []string{id, "not-an-id", missingID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("registrations: %v %v", recs, err)
	}
	r := recs[0]
	if r.ID != id || r.CaseNumber != cn || r.Status != registration.StatusSubmitted || r.DomainKey != "globex.example" ||
		r.NameKey != "globex" || !r.Consent || r.TargetRevenue != 25000 || r.ContactEmail != "jane.doe@https://eu.globex.example/about" && r.ContactEmail == "" {
		t.Errorf("read back: %+v", r)
	}
	if !r.SubmittedAt.Equal(time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("submitted_at = %v", r.SubmittedAt)
	}
	byCase, err := e.c.Lookup(ctx, []string{cn, "R-NOTHERE000"})
	if err != nil || len(byCase) != 1 || byCase[0].ID != id {
		t.Fatalf("lookup: %v %v", byCase, err)
	}
	found, err := e.c.Find(ctx, []registration.Status{registration.StatusSubmitted, registration.StatusInReview})
	if err != nil || len(found) != 1 {
		t.Fatalf("find: %v %v", found, err)
	}
	if _, err := e.c.Find(ctx, []registration.Status{"bogus"}); err == nil {
		t.Error("find with an unknown status worked")
	}
	// Update by id: decision fields, and clearing a field.
	res3 := mustWrite(t, e.c, connectors.Update{ID: id, Fields: map[string]string{
		"status": "approved", "status_reason": "ok", "hold_until": "2026-06-01T00:00:00Z", "problem": "",
	}})
	if res3[0].ID != id || res3[0].Created {
		t.Fatalf("update: %+v", res3[0])
	}
	got, _ = e.sf.Get(obj, id)
	if got["Status__c"] != "approved" || got["Problem__c"] != nil {
		t.Errorf("after update: status %v, problem %#v", got["Status__c"], got["Problem__c"])
	}
	var pages int
	if err := e.c.All(ctx, func(rs []registration.Record) error { pages++; return nil }); err != nil || pages != 1 {
		t.Errorf("all: %d pages, %v", pages, err)
	}
}

func TestWritePerRecordErrors(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	ok := mustWrite(t, e.c, newRegistration("k-1", "Initech", "initech.example", "p-1"))
	deleted := mustWrite(t, e.c, newRegistration("k-2", "Hooli", "hooli.example", "p-1"))
	if err := e.sf.AsAE().Delete(obj, deleted[0].ID); err != nil {
		t.Fatal(err)
	}
	locked := mustWrite(t, e.c, newRegistration("k-3", "Soylent", "soylent.example", "p-2"))
	if err := e.sf.LockRecord(locked[0].ID, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"); err != nil {
		t.Fatal(err)
	}
	if err := e.sf.AddDuplicateRule(obj, "Company_Domain__c"); err != nil {
		t.Fatal(err)
	}
	before := e.sf.TotalCalls()
	res, err := e.c.Write(ctx, []connectors.Update{
		{ID: ok[0].ID, Fields: map[string]string{"status": "in_review"}},
		{ID: deleted[0].ID, Fields: map[string]string{"status": "approved"}},
		{ID: locked[0].ID, Fields: map[string]string{"status": "approved"}},
		{ID: ok[0].ID, Fields: map[string]string{"status_reason": "manual"}}, // merged with the first
		newRegistration("k-4", "Initech Again", "initech.example", "p-3"),    // the org's duplicate rule
		{SubmissionKey: "k-5", Fields: map[string]string{"status": "maybe"}},
		{SubmissionKey: "k-6", Fields: map[string]string{"consent": "perhaps"}},
		{Fields: map[string]string{"status": "submitted"}},
		{ID: "robert'); DROP TABLE", Fields: map[string]string{}},
		{ID: ok[0].ID, Fields: map[string]string{"status_message": "must not land", "consent": "perhaps"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		reason string
		retry  bool
	}{{"", false}, {"deleted", false}, {"converted", false}, {"", false}, {"duplicate", false},
		{"invalid", false}, {"invalid", false}, {"invalid", false}, {"invalid", false}, {"invalid", false}}
	for i, w := range want {
		r := res[i]
		switch {
		case w.reason == "" && r.Err != nil:
			t.Errorf("update %d: %v", i, r.Err)
		case w.reason != "" && (r.Err == nil || connectors.Reason(r.Err) != w.reason || connectors.ClassOf(r.Err).Transient() != w.retry):
			t.Errorf("update %d: err %v (reason %q, retry %v), want %s", i, r.Err, connectors.Reason(r.Err), connectors.ClassOf(r.Err).Transient(), w.reason)
		}
	}
	var ce *connectors.Error
	if !errors.As(res[1].Err, &ce) || !strings.Contains(ce.Error(), "ENTITY_IS_DELETED") {
		t.Errorf("deleted error text: %v", res[1].Err)
	}
	got, _ := e.sf.Get(obj, ok[0].ID)
	if got["Status__c"] != "in_review" || got["Status_Reason__c"] != "manual" || got["Status_Message__c"] != nil {
		t.Errorf("merged update: %v %v %v", got["Status__c"], got["Status_Reason__c"], got["Status_Message__c"])
	}
	// Updates in one call, upserts in another; no retry loop.
	if n := e.sf.TotalCalls() - before; n != 2 {
		t.Errorf("%d calls for one mixed batch, want 2", n)
	}
	// A restricted picklist value that slips past our own check (a custom
	// mapping onto a picklist) comes back as a per-record error.
	e2 := newEnv(t, salesforcetest.Options{}, func(c *Config) { c.Fields = map[string]string{"segment": "Status__c", "status": "Status_Text__c"} })
	_ = e2.sf.AddField(obj, salesforcetest.Field{Name: "Status_Text__c", Type: salesforcetest.TypeString, Length: 255})
	res, _ = e2.c.Write(ctx, []connectors.Update{{SubmissionKey: "k-9", Fields: map[string]string{"segment": "enterprise"}}})
	if connectors.Reason(res[0].Err) != "invalid" || !strings.Contains(res[0].Err.Error(), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST") {
		t.Errorf("restricted picklist: %v", res[0].Err)
	}
}

func TestFieldLevelSecurityIsClassified(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	res := mustWrite(t, e.c, newRegistration("k-1", "Initech", "initech.example", "p-1"))
	if err := e.sf.SetFieldAccess(obj, "Status_Reason__c", false, true); err != nil {
		t.Fatal(err)
	}
	out, _ := e.c.Write(ctx, []connectors.Update{{ID: res[0].ID, Fields: map[string]string{"status_reason": "x"}}})
	if r := connectors.Reason(out[0].Err); r != "field_access" || connectors.ClassOf(out[0].Err).Transient() {
		t.Errorf("read-only field: %v (%s)", out[0].Err, r)
	}
	if err := e.sf.SetFieldAccess(obj, "Region__c", true, false); err != nil {
		t.Fatal(err)
	}
	before := e.sf.TotalCalls()
	_, err := e.c.Registrations(ctx, []string{res[0].ID})
	if connectors.Reason(err) != "field_access" || connectors.ClassOf(err).Transient() || !strings.Contains(err.Error(), "Region__c") {
		t.Errorf("hidden field on read: %v", err)
	}
	if n := e.sf.TotalCalls() - before; n != 1 {
		t.Errorf("%d calls for a non-retryable failure", n)
	}
}

func TestFacts(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	// Rivals: same registrable domain (another sub-domain), same company
	// name written differently, and an unrelated one.
	rival := mustWrite(t, e.c,
		newRegistration("r-1", "Globex Corp.", "http://www.globex.example", "p-2"),
		newRegistration("r-2", "GLOBEX CORPORATION", "globex-eu.example", "p-3"),
		newRegistration("r-3", "Initech", "initech.example", "p-1"),
		newRegistration("r-4", "Hooli", "hooli.example", "p-1"),
	)
	if err := e.sf.AsAE().Update(obj, rival[3].ID, map[string]any{"Status__c": "declined"}); err != nil {
		t.Fatal(err)
	}
	mine := mustWrite(t, e.c,
		newRegistration("m-1", "Globex Corporation", "https://shop.globex.example/x", "p-1"),
		newRegistration("m-2", "Acme", "acme.example", "p-9"),
		newRegistration("m-3", "Nobody", "nobody-at-all.example", "p-1"),
	)
	recs, err := e.c.Registrations(ctx, []string{mine[0].ID, mine[1].ID, mine[2].ID})
	if err != nil || len(recs) != 3 {
		t.Fatal(recs, err)
	}
	byID := map[string]registration.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	in := []registration.Record{byID[mine[0].ID], byID[mine[1].ID], byID[mine[2].ID]}
	before := e.sf.TotalCalls()
	facts, err := e.c.Facts(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.sf.TotalCalls() - before; n > 2 {
		t.Errorf("facts took %d calls, want at most 2", n)
	}
	globex := facts[0]
	if globex.Company == nil || globex.Company.Name != "Globex Corporation" || globex.Company.Domain != "globex.example" {
		t.Fatalf("globex company: %+v", globex.Company)
	}
	var open []string
	for _, d := range globex.OpenDeals {
		open = append(open, d.Stage)
		if d.Closed || d.CompanyID != globex.Company.ID || d.Amount == 0 || d.CloseDate.IsZero() {
			t.Errorf("open deal: %+v", d)
		}
	}
	if !slices.Equal(open, []string{"Negotiation/Review"}) {
		t.Errorf("globex open deals: %v", open)
	}
	var rivals []string
	for _, r := range globex.Registrations {
		rivals = append(rivals, r.SubmissionKey)
		if r.DomainKey == "" && r.NameKey == "" {
			t.Errorf("rival not indexed: %+v", r)
		}
	}
	slices.Sort(rivals)
	if !slices.Equal(rivals, []string{"r-1", "r-2"}) {
		t.Errorf("globex rivals: %v", rivals)
	}
	// p-1 has r-3, r-4 (declined: not active), m-1 (itself), m-3: two others.
	if globex.PartnerActive != 2 {
		t.Errorf("partner active = %d, want 2", globex.PartnerActive)
	}
	if acme := facts[1]; acme.Company == nil || acme.Company.Name != "Acme Corporation" || len(acme.OpenDeals) != 0 || len(acme.Registrations) != 0 || acme.PartnerActive != 0 {
		t.Errorf("acme facts: %+v", acme)
	}
	if none := facts[2]; none.Company != nil || len(none.Registrations) != 0 {
		t.Errorf("nobody facts: %+v", none)
	}
}

// Website is free text: sub-domains, schemes, case and paths match the
// registrable domain; look-alikes never do.
func TestAccountMatchingByRegistrableDomain(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, nil)
	ctx := ctxT(t)
	ae := e.sf.AsAE()
	mk := func(name, site string) string {
		id, err := ae.Create("Account", map[string]any{"Name": name, "Website": site})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	sub := mk("Globex EU", "HTTPS://EU.GLOBEX.EXAMPLE/de")
	exact := mk("Globex", "www.globex.example")
	mk("Notglobex", "notglobex.example")
	mk("Phish", "https://globex.example.phish.test/")
	mk("Percent", "https://glob%ex.example")
	mk("Underscore", "glob_x.example")
	if _, err := ae.Create("Opportunity", map[string]any{"Name": "EU deal", "AccountId": sub, "StageName": "Qualification", "CloseDate": "2030-01-01", "Amount": 1000}); err != nil {
		t.Fatal(err)
	}
	facts, err := e.c.Facts(ctx, []registration.Record{{CompanyDomain: "globex.example"}, {CompanyDomain: "globex.example.phish.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := facts[0].Company; c == nil || c.ID != exact {
		t.Errorf("company: %+v, want the exact-domain account", c)
	}
	if len(facts[0].OpenDeals) != 1 || facts[0].OpenDeals[0].Name != "EU deal" {
		t.Errorf("open deals of every account on the domain: %+v", facts[0].OpenDeals)
	}
	if c := facts[1].Company; c == nil || c.Name != "Phish" {
		t.Errorf("phish.test registration matched %+v", c)
	}
	// A custom domain field is matched exactly.
	e2 := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.AccountDomainField = "Domain__c" })
	if err := e2.sf.AddField("Account", salesforcetest.Field{Name: "Domain__c", Type: salesforcetest.TypeString, Length: 255, ExternalID: true}); err != nil {
		t.Fatal(err)
	}
	id, _ := e2.sf.AsAE().Create("Account", map[string]any{"Name": "Initech", "Domain__c": "initech.example"})
	facts, err = e2.c.Facts(ctx, []registration.Record{{CompanyDomain: "https://www.initech.example/"}})
	if err != nil || facts[0].Company == nil || facts[0].Company.ID != id {
		t.Fatalf("custom domain field: %+v %v", facts[0].Company, err)
	}
}

func TestLinkTaskNoteAttribute(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	res := mustWrite(t, e.c, newRegistration("k-1", "Globex Corporation", "globex.example", "p-1"))
	id := res[0].ID
	recs, _ := e.c.Registrations(ctx, []string{id})
	facts, err := e.c.Facts(ctx, recs)
	if err != nil || facts[0].Company == nil || len(facts[0].OpenDeals) == 0 {
		t.Fatal(facts, err)
	}
	acct, deal := facts[0].Company.ID, facts[0].OpenDeals[0].ID
	if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct}, {RegistrationID: id, DealID: deal}}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.sf.Get(obj, id)
	if got["Account__c"] != acct || got["Opportunity__c"] != deal || got["Company_Id__c"] != acct || got["Deal_Id__c"] != deal {
		t.Errorf("links: %v %v %v %v", got["Account__c"], got["Opportunity__c"], got["Company_Id__c"], got["Deal_Id__c"])
	}
	recs, _ = e.c.Registrations(ctx, []string{id})
	if recs[0].CompanyID != acct || recs[0].DealID != deal {
		t.Errorf("read back: %s %s", recs[0].CompanyID, recs[0].DealID)
	}
	err = e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: "001000000000000AAA"}})
	if connectors.Reason(err) != "not_found" || connectors.ClassOf(err).Transient() {
		t.Errorf("link to a missing account: %v", err)
	}
	// Tasks: owner by e-mail, resolved; a retried batch does not double.
	due := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	task := connectors.Task{RegistrationID: id, OwnerID: "Sam.Lee@regsync-sandbox.example", Subject: "Review registration R-1", Body: "Please review.", Due: due}
	for range 2 {
		if err := e.c.Task(ctx, []connectors.Task{task, {RegistrationID: id, OwnerID: "nobody@nowhere.example", Subject: "Other"}}); err != nil {
			t.Fatal(err)
		}
	}
	tasks := e.sf.Records("Task")
	if len(tasks) != 2 {
		t.Fatalf("%d tasks", len(tasks))
	}
	if tasks[0]["OwnerId"] != e.sf.UserID("sam.lee@regsync-sandbox.example") || tasks[0]["WhatId"] != id ||
		!tasks[0]["ActivityDate"].(time.Time).Equal(due) {
		t.Errorf("task: %v", tasks[0])
	}
	if tasks[1]["OwnerId"] != e.sf.IntegrationUserID() {
		t.Errorf("unknown owner: %v", tasks[1]["OwnerId"])
	}
	if strings.Contains(e.logs.String(), "nobody@nowhere.example") {
		t.Error("an e-mail address was logged in full")
	}
	// Notes: a Chatter post each, not doubled on retry.
	at := time.Date(2026, 3, 2, 15, 4, 0, 0, time.UTC)
	for range 2 {
		if err := e.c.Note(ctx, []connectors.Note{{RegistrationID: id, Body: "approved: rule hold_window", At: at}}); err != nil {
			t.Fatal(err)
		}
	}
	posts := e.sf.Records("FeedItem")
	if len(posts) != 1 || posts[0]["ParentId"] != id || posts[0]["Body"] != "[2026-03-02 15:04 UTC] approved: rule hold_window" {
		t.Errorf("feed items: %v", posts)
	}
	// Attribution stamps the partner and links both ways.
	ar, err := e.c.Attribute(ctx, []connectors.Attribution{{DealID: deal, RegistrationID: id, PartnerID: "p-1"}, {DealID: "bad", PartnerID: "p"}})
	if err != nil || ar[0].Err != nil || ar[0].ID != deal || connectors.Reason(ar[1].Err) != "invalid" {
		t.Fatalf("attribute: %+v %v", ar, err)
	}
	opp, _ := e.sf.Get("Opportunity", deal)
	if opp["Partner_Id__c"] != "p-1" {
		t.Errorf("partner stamp: %v", opp["Partner_Id__c"])
	}
	deals, err := e.c.Deals(ctx, []string{deal, "006000000000000AAA"})
	if err != nil || len(deals) != 1 || deals[0].PartnerID != "p-1" || !slices.Equal(deals[0].RegistrationIDs, []string{id}) {
		t.Fatalf("deals: %+v %v", deals, err)
	}
	n := 0
	if err := e.c.AllDeals(ctx, func(ds []registration.Deal) error {
		for _, d := range ds {
			n++
			if d.ID == deal && !slices.Equal(d.RegistrationIDs, []string{id}) {
				t.Errorf("all deals: %+v", d)
			}
		}
		return nil
	}); err != nil || n != e.sf.Count("Opportunity") {
		t.Errorf("all deals: %d of %d, %v", n, e.sf.Count("Opportunity"), err)
	}
}

// Many records share a SystemModstamp second: none is skipped, none is
// returned again unless it changed again (or was stamped in the second the
// server answered, which is returned once more), and a poll with no change
// returns nothing.
func TestChangedCursor(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true, PageSize: 7}, func(c *Config) { c.PollOverlap = time.Minute })
	ctx := ctxT(t)
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	e.sf.SetNow(t0)
	var ups []connectors.Update
	for i := range 25 {
		ups = append(ups, newRegistration(fmt.Sprintf("k-%d", i), fmt.Sprintf("Company %d", i), fmt.Sprintf("c%d.example", i), "p"))
	}
	res := mustWrite(t, e.c, ups...)
	sorted := func(ids []string) []string { slices.Sort(ids); return ids }
	all := make([]string, len(res))
	for i, r := range res {
		all[i] = r.ID
	}
	sorted(all)
	// Polled in the same second: all 25, not yet remembered.
	ids, cur, err := e.c.Changed(ctx, "")
	if err != nil || !slices.Equal(sorted(ids), all) {
		t.Fatalf("first poll: %d ids, %v", len(ids), err)
	}
	// Still in that second, an AE changes record 3: same stamp.
	if err := e.sf.AsAE().Update(obj, res[3].ID, map[string]any{"Status__c": "in_review"}); err != nil {
		t.Fatal(err)
	}
	e.sf.Advance(time.Second)
	ids, cur, err = e.c.Changed(ctx, cur)
	if err != nil || !slices.Equal(sorted(ids), all) {
		t.Fatalf("second poll (the same-second records once more): %d ids, %v", len(ids), err)
	}
	e.sf.Advance(time.Second)
	if ids, cur, err = e.c.Changed(ctx, cur); err != nil || len(ids) != 0 {
		t.Fatalf("third poll: %v %v", ids, err)
	}
	// Changes in later seconds, several in one second.
	res2 := mustWrite(t, e.c, newRegistration("k-late", "Late", "late.example", "p"))
	if err := e.sf.AsAE().Update(obj, res[5].ID, map[string]any{"Status__c": "in_review"}); err != nil {
		t.Fatal(err)
	}
	e.sf.Advance(time.Second)
	if err := e.sf.AsAE().Update(obj, res[6].ID, map[string]any{"Status__c": "in_review"}); err != nil {
		t.Fatal(err)
	}
	e.sf.Advance(time.Second)
	ids, cur, err = e.c.Changed(ctx, cur)
	if want := sorted([]string{res[5].ID, res[6].ID, res2[0].ID}); err != nil || !slices.Equal(sorted(ids), want) {
		t.Fatalf("fourth poll: %v, want %v (%v)", ids, want, err)
	}
	e.sf.Advance(time.Second)
	if ids, cur, err = e.c.Changed(ctx, cur); err != nil || len(ids) != 0 {
		t.Fatalf("fifth poll: %v %v", ids, err)
	}
	// Beyond the overlap the cursor forgets old records and stays small.
	e.sf.Advance(time.Hour)
	if err := e.sf.AsAE().Update(obj, res[7].ID, map[string]any{"Status__c": "in_review"}); err != nil {
		t.Fatal(err)
	}
	e.sf.Advance(time.Second)
	ids, cur, err = e.c.Changed(ctx, cur)
	if err != nil || !slices.Equal(ids, []string{res[7].ID}) {
		t.Fatalf("sixth poll: %v %v", ids, err)
	}
	if strings.Count(cur, ",") != 0 {
		t.Errorf("cursor remembers old records: %s", cur)
	}
	if _, _, err := e.c.Changed(ctx, "garbage"); connectors.Reason(err) != "invalid" {
		t.Errorf("bad cursor: %v", err)
	}
	// Deals poll the same way.
	dids, dcur, err := e.c.ChangedDeals(ctx, "")
	if err != nil || len(dids) != 0 {
		t.Fatalf("deals poll: %v %v", dids, err)
	}
	acct, _ := e.sf.AsAE().Create("Account", map[string]any{"Name": "X"})
	opp, _ := e.sf.AsAE().Create("Opportunity", map[string]any{"Name": "X deal", "AccountId": acct, "StageName": "Prospecting", "CloseDate": "2026-05-01"})
	e.sf.Advance(time.Second)
	if dids, _, err = e.c.ChangedDeals(ctx, dcur); err != nil || !slices.Equal(dids, []string{opp}) {
		t.Fatalf("deals poll after a new opportunity: %v %v", dids, err)
	}
}

// A transaction that commits late with an earlier stamp is caught by the
// overlap.
func TestChangedOverlapCatchesLateCommits(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, func(c *Config) { c.PollOverlap = time.Minute })
	ctx := ctxT(t)
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	e.sf.SetNow(t0)
	a := mustWrite(t, e.c, newRegistration("a", "A", "a.example", "p"))
	e.sf.Advance(30 * time.Second)
	b := mustWrite(t, e.c, newRegistration("b", "B", "b.example", "p"))
	e.sf.Advance(time.Second)
	_, cur, err := e.c.Changed(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// A record stamped 10 s before the newest one seen, committed now.
	e.sf.SetNow(t0.Add(20 * time.Second))
	late := mustWrite(t, e.c, newRegistration("late", "Late", "late.example", "p"))
	e.sf.SetNow(t0.Add(40 * time.Second))
	ids, _, err := e.c.Changed(ctx, cur)
	if err != nil || !slices.Equal(ids, []string{late[0].ID}) {
		t.Fatalf("late commit: %v (a %s b %s) %v", ids, a[0].ID, b[0].ID, err)
	}
}
