package hubspot_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
)

var benchPartners = []string{"northwind", "fabrikam", "contoso", "tailspin", "adventureworks", "litware", "proseware", "wingtip"}

// newSubmissions builds n submissions as intake writes them: four in ten
// on companies the seed has (some under a sub-domain or www.), the rest on
// new domains; one in twenty on a domain another submission also names.
func newSubmissions(rng *rand.Rand, batch, n int, seedDomains []string) []connectors.Update {
	ups := make([]connectors.Update, n)
	for i := range n {
		var domain, name string
		switch r := rng.IntN(100); {
		case r < 40:
			d := seedDomains[rng.IntN(len(seedDomains))]
			switch rng.IntN(3) {
			case 0:
				domain = "www." + d
			case 1:
				domain = "eu." + d
			default:
				domain = d
			}
			name = d[:len(d)-len(".example")]
		case r < 45 && i > 0:
			domain = fmt.Sprintf("prospect-%d-%d.example", batch, rng.IntN(i))
			name = fmt.Sprintf("Prospect %d %d Ltd", batch, rng.IntN(i))
		default:
			domain = fmt.Sprintf("prospect-%d-%d.example", batch, i)
			name = fmt.Sprintf("Prospect %d %d Ltd", batch, i)
		}
		ups[i] = connectors.Update{SubmissionKey: fmt.Sprintf("bench:%d:%d", batch, i), Fields: map[string]string{
			"status": "submitted", "source": "webform", "partner_id": benchPartners[rng.IntN(len(benchPartners))],
			"company_name": name, "company_domain": domain, "contact_name": "Pat Doe",
			"contact_email": fmt.Sprintf("pat%d@%s", i, domain), "problem": "needs the product", "consent": "true",
			"submitted_at": time.Date(2025, 3, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339),
		}}
	}
	return ups
}

func seedDomains(s *hubspottest.Server) []string {
	var out []string
	for _, co := range s.Records("companies") {
		if d := co.Properties["domain"]; d != "" {
			out = append(out, d)
		}
	}
	return out
}

// BenchmarkDecisionCycle measures the API calls of one worker cycle for
// 1,000 new registrations against the fake: read them (batch read), gather
// their facts (companies by domain, open deals, rival registrations,
// partner counts), write the decisions and associate the companies.
// calls/op is the fake's own count; calls/100 per 100 registrations.
func BenchmarkDecisionCycle(b *testing.B) {
	s := fake(b, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c := client(b, s, nil)
	setup(b, c)
	ctx := ctxFor(b)
	rng := rand.New(rand.NewPCG(1, 2))
	domains := seedDomains(s)
	// Earlier registrations, already decided, on some of the same domains.
	prior := newSubmissions(rng, 0, 300, domains)
	for i := range prior {
		prior[i].Fields["status"] = []string{"approved", "declined", "in_review", "expired"}[i%4]
	}
	if _, err := c.Write(ctx, prior); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	var calls, searches int
	b.ResetTimer()
	for it := range b.N {
		b.StopTimer()
		res, err := c.Write(ctx, newSubmissions(rng, it+1, n, domains))
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, n)
		for i, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			ids[i] = r.ID
		}
		s.ResetCalls()
		b.StartTimer()

		recs, err := c.Registrations(ctx, ids)
		if err != nil || len(recs) != n {
			b.Fatalf("read %d: %v", len(recs), err)
		}
		facts, err := c.Facts(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		updates := make([]connectors.Update, 0, n)
		var links []connectors.Link
		for i, r := range recs {
			f := facts[i]
			status := registration.StatusApproved
			reason := "approved"
			switch {
			case len(f.OpenDeals) > 0:
				status, reason = registration.StatusDeclined, "existing_deal"
			case len(f.Registrations) > 0:
				status, reason = registration.StatusInReview, "conflict_pending"
			}
			updates = append(updates, connectors.Update{ID: r.ID, Fields: map[string]string{
				"status": string(status), "status_reason": reason, "decided_at": "2025-03-02T00:00:00Z",
				"first_response_at": "2025-03-02T00:00:00Z", "hold_until": "2025-06-01T00:00:00Z",
			}})
			if f.Company != nil {
				links = append(links, connectors.Link{RegistrationID: r.ID, CompanyID: f.Company.ID})
			}
		}
		wr, err := c.Write(ctx, updates)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range wr {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		if err := c.Link(ctx, links); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		calls += s.TotalCalls()
		for k, v := range s.Calls() {
			if len(k) > 7 && k[len(k)-7:] == "/search" {
				searches += v
			}
		}
		if it == 0 {
			b.Logf("one cycle of %d: %d calls %v; %d companies linked", n, s.TotalCalls(), s.Calls(), len(links))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	b.ReportMetric(float64(calls)/float64(b.N)/float64(n)*100, "calls/100")
	b.ReportMetric(float64(searches)/float64(b.N), "searches/op")
	if s.Count429() != 0 {
		b.Errorf("%d answers 429", s.Count429())
	}
	_ = hubspot.ObjectRegistration
}
