package salesforce

import (
	"slices"
	"testing"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/registration"
)

// TestCompanyRegistrations finds an Account's registrations by lookup, by
// company_id and by registrable domain (from the Account's website), only
// in the statuses asked, in two composite rounds for several Accounts.
func TestCompanyRegistrations(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{Empty: true}, nil)
	ctx := ctxT(t)
	ui := e.sf.AsAE()
	acme, err := ui.Create("Account", map[string]any{"Name": "Acme", "Website": "https://www.acme.example/"})
	if err != nil {
		t.Fatal(err)
	}
	beta, _ := ui.Create("Account", map[string]any{"Name": "Beta", "Website": "beta.example"})
	lone, _ := ui.Create("Account", map[string]any{"Name": "Lone", "Website": "lone.example"})
	res := mustWrite(t, e.c,
		newRegistration("k1", "Acme Corp", "acme-corp.example", "northwind"), // linked to Acme by lookup
		newRegistration("k2", "Acme EU", "eu.acme.example", "fabrikam"),      // on Acme's domain
		newRegistration("k3", "Acme", "acme.example", "contoso"),             // declined: left out
		newRegistration("k4", "Beta Labs", "beta-labs.example", "northwind"), // linked to Beta
		newRegistration("k5", "Gamma", "gamma.example", "northwind"),         // another company
	)
	id := func(i int) string { return res[i].ID }
	status := func(i int, s registration.Status) connectors.Update {
		return connectors.Update{ID: id(i), Fields: map[string]string{"status": string(s)}}
	}
	mustWrite(t, e.c, status(0, registration.StatusApproved), status(1, registration.StatusMeetingBooked),
		status(2, registration.StatusDeclined), status(3, registration.StatusApproved), status(4, registration.StatusApproved))
	if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id(0), CompanyID: acme}, {RegistrationID: id(3), CompanyID: beta}}); err != nil {
		t.Fatal(err)
	}
	e.sf.ResetCalls()
	got, err := e.c.CompanyRegistrations(ctx, []string{acme, beta, lone, acme[:15]},
		[]registration.Status{registration.StatusApproved, registration.StatusMeetingBooked})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []registration.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fullID(r.ID))
		}
		slices.Sort(out)
		return out
	}
	want := []string{fullID(id(0)), fullID(id(1))}
	slices.Sort(want)
	if g := ids(got[acme]); !slices.Equal(g, want) {
		t.Errorf("acme: %v, want %v", g, want)
	}
	if g := ids(got[beta]); !slices.Equal(g, []string{fullID(id(3))}) {
		t.Errorf("beta: %v, want [%s]", g, id(3))
	}
	if _, ok := got[lone]; ok || len(got) != 2 {
		t.Errorf("result has %d companies: want acme and beta only", len(got))
	}
	if n := e.sf.TotalCalls(); n > 2 {
		t.Errorf("%d calls, want at most 2", n)
	}
	if got, err := e.c.CompanyRegistrations(ctx, []string{"not an id"}, []registration.Status{registration.StatusApproved}); err != nil || len(got) != 0 {
		t.Errorf("bad ids: %v %v", got, err)
	}
}
