package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// benchPolicy has 100 territories of 3 countries each (generated two-letter
// codes) and three partners; the registration under test routes to the
// last territory, so the territory check does its full work.
func benchPolicy(b *testing.B) *Policy {
	b.Helper()
	r := DefaultRules()
	r.Caps.ActivePerPartner = 50
	r.Blocked.Domains = []string{"initech.example", "umbrella.example"}
	for i := range 100 {
		var cs []string
		for j := range 3 {
			n := i*3 + j
			cs = append(cs, string([]byte{byte('A' + n/26%26), byte('A' + n%26)}))
		}
		r.Territories = append(r.Territories, Territory{
			Name: fmt.Sprintf("t%03d", i), Countries: cs, Regions: []string{fmt.Sprintf("region-%d", i)}, Owner: fmt.Sprintf("ae-%d", i),
		})
	}
	p, err := NewPolicy(testPartners, r)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchRivals are 1,000 other registrations on the same registrable domain
// or the same company name, as a connector would gather them: a realistic
// mix of history (expired, declined, withdrawn, won, lost), other partners'
// approvals whose windows have passed, and later pending registrations —
// nothing that stops the registration, so every check runs and every rival
// is examined.
func benchRivals(now time.Time) []registration.Record {
	out := make([]registration.Record, 1000)
	partners := []string{"fabrikam", "contoso", "northwind"}
	for i := range out {
		r := registration.Record{
			CaseNumber:  fmt.Sprintf("R-%d", 1000+i),
			PartnerID:   partners[i%3],
			CompanyName: "Globex Corporation",
			SubmittedAt: now.Add(-time.Duration(1000-i) * time.Hour),
			Segment:     "smb",
		}
		if i%2 == 0 {
			r.CompanyDomain = fmt.Sprintf("https://dept%d.globex.example/", i)
		} else {
			r.CompanyDomain = fmt.Sprintf("globex-%d.example", i)
		}
		switch i % 7 {
		case 0:
			r.Status = registration.StatusExpired
		case 1:
			r.Status = registration.StatusDeclined
		case 2:
			r.Status = registration.StatusWithdrawn
		case 3:
			r.Status = registration.StatusLost
		case 4:
			r.Status = registration.StatusWon
		case 5: // another partner's approval whose window has passed
			r.Status, r.PartnerID = registration.StatusApproved, "fabrikam"
			r.HoldUntil = now.Add(-time.Hour)
			r.CompanyDomain = fmt.Sprintf("sales%d.globex.example", i)
		case 6: // pending, but submitted after the registration under test
			r.Status, r.PartnerID = registration.StatusSubmitted, "contoso"
			r.SubmittedAt = now.Add(time.Duration(i) * time.Second)
		}
		r.Index()
		out[i] = r
	}
	return out
}

// BenchmarkDecide measures one decision for a registration against 1,000
// other registrations and 100 territories. Compare runs with benchstat.
func BenchmarkDecide(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.Country = p.Rules.Territories[99].Countries[2]
	rec.SubmittedAt = now.Add(-time.Minute)
	facts := Facts{Registrations: benchRivals(now), PartnerActive: 12, OpenDeals: []Deal{{ID: "d-1", PartnerID: "northwind"}}}
	d := Decide(p, &rec, facts, now)
	if d.Status != registration.StatusApproved || d.Territory != "t099" {
		b.Fatalf("benchmark registration must pass every check: %s %s %s", d.Status, d.Reason, d.Territory)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d = Decide(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	_ = d
}

// BenchmarkDecideUnindexed is the same decision when the rivals arrive
// without their match keys (Decide then normalises each one itself): the
// cost Index saves.
func BenchmarkDecideUnindexed(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.SubmittedAt = now.Add(-time.Minute)
	rivals := benchRivals(now)
	for i := range rivals {
		rivals[i].DomainKey, rivals[i].NameKey = "", ""
	}
	facts := Facts{Registrations: rivals}
	b.ReportAllocs()
	for b.Loop() {
		Decide(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkSweep is the cron's per-registration cost.
func BenchmarkSweep(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.Status, rec.StatusReason = registration.StatusApproved, ReasonApproved
	rec.HoldUntil, rec.MeetingDue = now.Add(48*time.Hour), now.Add(24*time.Hour)
	facts := Facts{Registrations: benchRivals(now)}
	b.ReportAllocs()
	for b.Loop() {
		Sweep(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sweeps/s")
}
