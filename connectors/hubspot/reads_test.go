package hubspot_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
)

// TestAllAndAllDealsReadOneCallPer100Records: a fresh client (as regsync
// report runs) lists 250 registrations and 250 deals in 3 + 3 calls — no
// schema lookup, no associations read — and every deal comes with its
// primary company and its registrations.
func TestAllAndAllDealsReadOneCallPer100Records(t *testing.T) {
	s := fake(t, hubspottest.Options{})
	setup(t, client(t, s, nil))
	typeID, err := s.TypeID("partner_registration")
	if err != nil {
		t.Fatal(err)
	}
	co1, _ := s.CreateRecord("companies", map[string]string{"name": "One", "domain": "one.example"})
	co2, _ := s.CreateRecord("companies", map[string]string{"name": "Two", "domain": "two.example"})
	var regs, deals []string
	for i := range 250 {
		id, err := s.CreateRecord(typeID, map[string]string{"case_number": "R-" + strconv.Itoa(i), "status": "approved"})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, id)
	}
	for i := range 250 {
		id, err := s.CreateRecord("deals", map[string]string{"dealname": "D" + strconv.Itoa(i), "dealstage": "closedwon", "amount": "100"})
		if err != nil {
			t.Fatal(err)
		}
		deals = append(deals, id)
		_ = s.Associate("deals", id, typeID, regs[i])
		if i%2 == 0 {
			_ = s.Associate("deals", id, typeID, regs[(i+1)%250])
		}
	}
	// Deal 0: an unlabeled company, then the primary one, which wins.
	_ = s.Associate("deals", deals[0], "companies", co1)
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/crm/v4/objects/deals/"+deals[0]+"/associations/companies/"+co2,
		strings.NewReader(`[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":5}]`))
	req.Header.Set("Authorization", "Bearer sandbox-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("primary association: %s", resp.Status)
	}
	s.ResetCalls()

	c := client(t, s, nil)
	ctx := ctxFor(t)
	n := 0
	if err := c.All(ctx, func(rs []registration.Record) error { n += len(rs); return nil }); err != nil || n != 250 {
		t.Fatalf("All: %d registrations, %v", n, err)
	}
	got := map[string]registration.Deal{}
	if err := c.AllDeals(ctx, func(ds []registration.Deal) error {
		for _, d := range ds {
			got[d.ID] = d
		}
		return nil
	}); err != nil || len(got) != 250 {
		t.Fatalf("AllDeals: %d deals, %v", len(got), err)
	}
	if calls := s.TotalCalls(); calls != 6 {
		t.Errorf("%d calls for 250 registrations and 250 deals, want 6: %v", calls, s.Calls())
	}
	for i, id := range deals {
		d := got[id]
		want := []string{regs[i]}
		if i%2 == 0 {
			want = append(want, regs[(i+1)%250])
		}
		slices.Sort(want)
		slices.Sort(d.RegistrationIDs)
		if !slices.Equal(d.RegistrationIDs, want) || !d.Won || d.Amount != 100 {
			t.Fatalf("deal %s: %+v, want registrations %v", id, d, want)
		}
	}
	if d := got[deals[0]]; d.CompanyID != co2 {
		t.Errorf("deal 0 company %q, want the primary %s", d.CompanyID, co2)
	}
}

// TestAllWithoutTheObjectSaysRunSetup: a portal without partner_registration
// refuses the shorthand; the client looks the schema up and says what to do.
func TestAllWithoutTheObjectSaysRunSetup(t *testing.T) {
	s := fake(t, hubspottest.Options{Bare: true})
	c := client(t, s, nil)
	err := c.All(ctxFor(t), func([]registration.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "regsync setup") {
		t.Fatalf("All on a bare portal: %v", err)
	}
}

// TestAllDealsInDealsMode keeps finding registrations kept as deals.
func TestAllDealsInDealsMode(t *testing.T) {
	s := fake(t, hubspottest.Options{})
	setup(t, client(t, s, func(cfg *hubspot.Config) { cfg.Object = hubspot.ObjectDeals }))
	c := client(t, s, func(cfg *hubspot.Config) { cfg.Object = hubspot.ObjectDeals })
	won, _ := s.CreateRecord("deals", map[string]string{"dealname": "Won", "dealstage": "closedwon"})
	reg, err := s.CreateRecord("deals", map[string]string{"dealname": "Registration", "dealstage": "appointmentscheduled",
		"case_number": "R-1", "deal_id": won})
	if err != nil {
		t.Fatal(err)
	}
	var ds []registration.Deal
	if err := c.AllDeals(ctxFor(t), func(p []registration.Deal) error { ds = append(ds, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == won && !slices.Contains(d.RegistrationIDs, reg) {
			t.Errorf("won deal %+v lacks its registration %s", d, reg)
		}
	}
}
