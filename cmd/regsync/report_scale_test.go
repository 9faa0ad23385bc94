package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
)

// The scale: 50,000 registrations and 20,000 deals.
const (
	scaleRegs  = 50000
	scaleDeals = 20000
)

// seedScale fills a portal with n registrations and m deals, each deal
// associated with one registration, through the fake's helpers (no API
// calls): partners, segments, regions, statuses and instants vary.
func seedScale(t testing.TB, hs *hubspottest.Server, n, m int) {
	t.Helper()
	typeID, err := hs.TypeID("partner_registration")
	if err != nil {
		t.Fatal(err)
	}
	statuses := []string{"approved", "meeting_booked", "converted", "expired", "declined", "in_review", "needs_info", "appealed", "withdrawn", "won"}
	partners := []string{"northwind", "fabrikam", "contoso"}
	segs := []string{"SMB", "Mid-Market", "Enterprise"}
	regions := []string{"EMEA", "NA", "APAC", "LATAM"}
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	regIDs := make([]string, n)
	for i := range n {
		sub := base.Add(time.Duration(i%80) * 24 * time.Hour).Add(time.Duration(i%9) * time.Hour)
		st := statuses[i%len(statuses)]
		p := map[string]string{
			"case_number": "R-" + strconv.Itoa(100000+i), "submission_key": "scale-" + strconv.Itoa(i),
			"status": st, "partner_id": partners[i%3], "segment": segs[i%3], "region": regions[i%4],
			"product_interest": "analytics;platform", "company_name": "Company " + strconv.Itoa(i),
			"company_domain": "company" + strconv.Itoa(i) + ".example", "submitted_at": ms(sub),
			"first_response_at": ms(sub.Add(time.Duration(i%30) * time.Hour)),
		}
		switch st {
		case "approved", "meeting_booked", "converted", "expired", "won":
			appr := sub.Add(time.Duration(i%30) * time.Hour)
			p["approved_at"], p["hold_until"] = ms(appr), ms(appr.Add(60*24*time.Hour))
			if i%2 == 0 {
				p["first_meeting_at"] = ms(appr.Add(time.Duration(i%20) * 24 * time.Hour))
			}
			if i%3 == 0 {
				p["attributed_at"] = ms(appr.Add(30 * 24 * time.Hour))
			}
		case "in_review":
			p["status_reason"] = "conflict_pending"
		}
		id, err := hs.CreateRecord(typeID, p)
		if err != nil {
			t.Fatal(err)
		}
		regIDs[i] = id
	}
	for j := range m {
		d := map[string]string{"dealname": "Deal " + strconv.Itoa(j), "amount": strconv.Itoa(1000 + j%50*100),
			"dealstage": []string{"qualifiedtobuy", "closedwon", "closedlost"}[j%3], "partner_id": partners[j%3],
			"closedate": ms(base.Add(time.Duration(j%120) * 24 * time.Hour))}
		id, err := hs.CreateRecord("deals", d)
		if err != nil {
			t.Fatal(err)
		}
		if err := hs.Associate("deals", id, typeID, regIDs[(j*7)%n]); err != nil {
			t.Fatal(err)
		}
	}
}

// scaleReport runs `regsync report --format json` over the portal and
// returns the API calls it made and how long it took.
func scaleReport(t testing.TB, hs *hubspottest.Server, perTen int) (calls int, took time.Duration) {
	t.Helper()
	cfg := reportConfig(t, hs, perTen)
	before := hs.TotalCalls()
	start := time.Now()
	code, out, errOut := runCLI2(t, "report", "--config", cfg, "--by", "partner", "--format", "json",
		"--now", "2026-06-01T00:00:00Z")
	took = time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Approval struct {
			Submitted int `json:"submitted"`
		} `json:"approval_rate"`
		Win struct {
			Deals int `json:"deals"`
		} `json:"win_rate"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Approval.Submitted != scaleRegs {
		t.Fatalf("report counted %d registrations, want %d", doc.Approval.Submitted, scaleRegs)
	}
	if doc.Win.Deals == 0 {
		t.Fatal("report counted no deals of approved registrations")
	}
	return hs.TotalCalls() - before, took
}

// TestReportCallBudgetAtScale: over 50,000 registrations and 20,000 deals
// the report makes at most one API call per 100 records. The count does not
// depend on pacing, so the portal is unlimited here; the time under a
// Professional portal's limits is measured by BenchmarkReportAtScale.
func TestReportCallBudgetAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 70,000 records")
	}
	hs := startPortal(t, hubspottest.Options{PerTenSeconds: -1, SearchPerSecond: -1})
	seedScale(t, hs, scaleRegs, scaleDeals)
	calls, took := scaleReport(t, hs, 100000)
	records := scaleRegs + scaleDeals
	t.Logf("%d API calls for %d records (%.3f per 100), %s unpaced; by operation: %v",
		calls, records, float64(calls)*100/float64(records), took.Round(time.Millisecond), hs.Calls())
	if calls*100 > records {
		t.Errorf("%d API calls for %d records: more than 1 per 100", calls, records)
	}
}

// BenchmarkReportAtScale runs `regsync report` over 50,000 registrations
// and 20,000 deals in a fake portal limited as HubSpot Professional (190
// calls per 10 s, 4 searches per second), the client paced to match:
//
//	go test -run '^$' -bench ReportAtScale -benchtime 1x ./cmd/regsync/
func BenchmarkReportAtScale(b *testing.B) {
	hs := startPortal(b, hubspottest.Options{PerTenSeconds: 190, SearchPerSecond: 4})
	seedScale(b, hs, scaleRegs, scaleDeals)
	var calls int
	var took time.Duration
	for b.Loop() {
		calls, took = scaleReport(b, hs, 190)
	}
	b.ReportMetric(float64(calls)*100/float64(scaleRegs+scaleDeals), "calls/100records")
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(took.Seconds(), "s/report")
	b.ReportMetric(float64(hs.Count429()), "429s")
}

// runCLI2 is runCLI for benchmarks too.
func runCLI2(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}
