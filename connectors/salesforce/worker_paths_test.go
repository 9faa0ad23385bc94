package salesforce

import (
	"slices"
	"testing"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
)

// Registrations created outside regsync (a form, a flow, an AE in the UI)
// have no Domain_Key__c or Name_Key__c until regsync first writes to them;
// while they wait in a status that can conflict, Facts still finds them as
// rivals, on keys it computes itself.
func TestFactsFindsRegistrationsNotYetIndexed(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, nil)
	ctx := ctxT(t)
	ae := e.sf.AsAE()
	mk := func(caseNumber, name, domain, status string) string {
		id, err := ae.Create(obj, map[string]any{"Case_Number__c": caseNumber, "Company_Name__c": name,
			"Company_Domain__c": domain, "Partner_Id__c": "p-1", "Status__c": status})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	sameDomain := mk("R-1", "Globex", "https://eu.globex.example/", "submitted")
	sameName := mk("R-2", "GLOBEX, Inc.", "globex-corp.example", "submitted")
	mk("R-3", "Globex", "globex.example", "declined") // cannot conflict
	mk("R-4", "Initech", "initech.example", "submitted")
	mine := mk("R-5", "Globex", "www.globex.example", "submitted")

	recs, err := e.c.Registrations(ctx, []string{mine})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	before := e.sf.TotalCalls()
	facts, err := e.c.Facts(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.sf.TotalCalls() - before; n > 2 {
		t.Errorf("facts took %d calls, want at most 2", n)
	}
	var got []string
	for _, r := range facts[0].Registrations {
		got = append(got, r.ID)
	}
	slices.Sort(got)
	want := []string{sameDomain, sameName}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rivals %v, want the unindexed submitted ones on the domain or name %v", got, want)
	}

	// Once regsync read them (their keys read as stale) and wrote them with
	// their keys (as the worker does when it decides them), their keys are
	// stored and the ordinary IN filters find them.
	read, err := e.c.Registrations(ctx, []string{sameDomain, sameName})
	if err != nil || len(read) != 2 {
		t.Fatal(read, err)
	}
	var ups []connectors.Update
	for _, r := range read {
		if !r.KeysStale {
			t.Errorf("%s: keys not read as stale", r.ID)
		}
		ups = append(ups, connectors.Update{ID: r.ID, Fields: map[string]string{"status": "approved"},
			Keys: &connectors.MatchKeys{Domain: r.DomainKey, Name: r.NameKey}})
	}
	mustWrite(t, e.c, ups...)
	for _, id := range []string{sameDomain, sameName} {
		v, _ := e.sf.Get(obj, id)
		if v[FieldDomainKey] == nil || v[FieldNameKey] == nil {
			t.Errorf("%s: keys not stored with the first write: %v %v", id, v[FieldDomainKey], v[FieldNameKey])
		}
	}
	if read, err := e.c.Registrations(ctx, []string{sameDomain, sameName}); err != nil || len(read) != 2 || read[0].KeysStale || read[1].KeysStale {
		t.Errorf("keys still read as stale after the write: %+v %v", read, err)
	}
	facts, err = e.c.Facts(ctx, recs)
	if err != nil || len(facts[0].Registrations) != 2 {
		t.Fatalf("rivals after indexing: %+v %v", facts[0].Registrations, err)
	}
}

// The worker writes company_id with a decision and links the same Account
// right after: the link is not written twice. What was read or written
// differently is linked.
func TestLinkSkipsLookupsAlreadyInPlace(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	id := mustWrite(t, e.c, newRegistration("l-1", "Globex Corporation", "globex.example", "p-1"))[0].ID
	recs, err := e.c.Registrations(ctx, []string{id})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	facts, err := e.c.Facts(ctx, recs)
	if err != nil || facts[0].Company == nil || len(facts[0].OpenDeals) == 0 {
		t.Fatal(facts, err)
	}
	acct, deal := facts[0].Company.ID, facts[0].OpenDeals[0].ID
	mustWrite(t, e.c, connectors.Update{ID: id, Fields: map[string]string{"status": "declined", "company_id": acct}})
	writes, calls := e.sf.Writes(id), e.sf.TotalCalls()
	if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct}}); err != nil {
		t.Fatal(err)
	}
	if e.sf.Writes(id) != writes || e.sf.TotalCalls() != calls {
		t.Errorf("linking the Account the decision wrote cost %d writes and %d calls", e.sf.Writes(id)-writes, e.sf.TotalCalls()-calls)
	}
	// The deal is new: written (the Account with it, unchanged).
	if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct, DealID: deal}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.sf.Get(obj, id); v[FieldAccount] != acct || v[FieldOpportunity] != deal || e.sf.Writes(id) != writes+1 {
		t.Errorf("link of a new deal: %v %v, %d writes", v[FieldAccount], v[FieldOpportunity], e.sf.Writes(id)-writes)
	}
	// An AE clears the lookup; once the record is read again, linking
	// writes it back.
	if err := e.sf.AsAE().Update(obj, id, map[string]any{FieldAccount: nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Registrations(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.sf.Get(obj, id); v[FieldAccount] != acct {
		t.Errorf("Account__c after the AE cleared it and regsync linked again: %v", v[FieldAccount])
	}
	// A client that never read the record links it (a plan resumed after
	// a restart): one write.
	c2, err := New(testConfig(e.sf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	writes = e.sf.Writes(id)
	if err := c2.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct}}); err != nil {
		t.Fatal(err)
	}
	if e.sf.Writes(id) != writes+1 {
		t.Errorf("a client that never read the registration wrote %d times", e.sf.Writes(id)-writes)
	}
}
