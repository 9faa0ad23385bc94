package salesforce

import (
	"fmt"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/registration"
)

// newRegistrations runs what the worker does for n new registrations —
// create them (intake), read them back, gather facts, write decisions,
// link accounts and deals — and returns the API calls it took.
func newRegistrations(tb testing.TB, e *env, run, n int) int {
	tb.Helper()
	ctx := ctxT(tb)
	var sites []string
	for _, a := range e.sf.Records("Account") {
		if w, _ := a["Website"].(string); w != "" {
			sites = append(sites, w)
		}
	}
	ups := make([]connectors.Update, n)
	for i := range ups {
		domain := fmt.Sprintf("https://www.new-%d-%d.example/", run, i)
		if i%2 == 0 {
			domain = sites[i%len(sites)] // an existing customer, written as AEs write it
		}
		ups[i] = newRegistration(fmt.Sprintf("bench:%d:%d", run, i), fmt.Sprintf("Company %d", i%700), domain, fmt.Sprintf("p-%d", i%40))
	}
	before := e.sf.TotalCalls()
	res, err := e.c.Write(ctx, ups)
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, n)
	for i, r := range res {
		if r.Err != nil || !r.Created {
			tb.Fatalf("create %d: %+v", i, r)
		}
		ids[i] = r.ID
	}
	recs, err := e.c.Registrations(ctx, ids)
	if err != nil || len(recs) != n {
		tb.Fatalf("read: %d records, %v", len(recs), err)
	}
	facts, err := e.c.Facts(ctx, recs)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	decisions := make([]connectors.Update, n)
	var links []connectors.Link
	matched := 0
	for i, r := range recs {
		f := facts[i]
		status, reason := registration.StatusApproved, "approved"
		switch {
		case len(f.OpenDeals) > 0:
			status, reason = registration.StatusDeclined, "existing_deal"
		case len(f.Registrations) > 0:
			status, reason = registration.StatusInReview, "conflict"
		}
		decisions[i] = connectors.Update{ID: r.ID, Fields: map[string]string{
			"status": string(status), "status_reason": reason, "decided_at": now.Format(time.RFC3339),
			"first_response_at": now.Format(time.RFC3339), "hold_until": now.AddDate(0, 0, 90).Format(time.RFC3339),
		}}
		if f.Company != nil {
			matched++
			l := connectors.Link{RegistrationID: r.ID, CompanyID: f.Company.ID}
			if len(f.OpenDeals) > 0 {
				l.DealID = f.OpenDeals[0].ID
			}
			links = append(links, l)
		}
	}
	if matched < n/4 {
		tb.Fatalf("only %d of %d registrations matched an account", matched, n)
	}
	res, err = e.c.Write(ctx, decisions)
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("decision %d: %v", i, r.Err)
		}
	}
	if err := e.c.Link(ctx, links); err != nil {
		tb.Fatal(err)
	}
	return e.sf.TotalCalls() - before
}

// TestCallBudget: 1,000 new registrations cost at most 50 API calls.
func TestCallBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t, salesforcetest.Options{DailyLimit: -1}, nil)
	calls := newRegistrations(t, e, 0, 1000)
	t.Logf("1,000 new registrations: %d API calls %v", calls, e.sf.Calls())
	if calls > 50 {
		t.Errorf("%d API calls for 1,000 new registrations, budget 50", calls)
	}
	if n := e.sf.Count(obj); n != 1000 {
		t.Errorf("%d registrations", n)
	}
}

// BenchmarkNewRegistrations reports the API calls for 1,000 new
// registrations (create, read, facts, decisions, links).
func BenchmarkNewRegistrations(b *testing.B) {
	e := newEnv(b, salesforcetest.Options{DailyLimit: -1}, nil)
	run := 0
	total := 0
	for b.Loop() {
		total += newRegistrations(b, e, run, 1000)
		run++
	}
	b.ReportMetric(float64(total)/float64(run), "calls/1000regs")
}
