package report

import (
	"strconv"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// synthetic builds n registrations and m deals spread over 2026, in pages
// of 100 as a HubSpot list returns them.
func synthetic(n, m int) ([][]registration.Record, [][]registration.Deal) {
	statuses := []registration.Status{sApproved, sMeeting, sConverted, sExpired, sDeclined, sInReview, sNeedsInfo, sAppealed, sWithdrawn}
	partners := []string{"northwind", "fabrikam", "contoso"}
	segs := []string{"SMB", "Mid-Market", "Enterprise"}
	regions := []string{"EMEA", "NA", "APAC", "LATAM"}
	base := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	var pages [][]registration.Record
	var page []registration.Record
	for i := range n {
		sub := base.Add(time.Duration(i%300) * 24 * time.Hour).Add(time.Duration(i%17) * time.Hour)
		r := registration.Record{
			ID: strconv.Itoa(i + 1), CaseNumber: "R-" + strconv.Itoa(i+1), PartnerID: partners[i%3],
			Segment: segs[i%len(segs)], Region: regions[i%len(regions)], ProductInterest: "analytics;platform",
			Status: statuses[i%len(statuses)], SubmittedAt: sub, FirstResponseAt: sub.Add(time.Duration(i%50) * time.Hour),
		}
		switch r.Status {
		case sApproved, sMeeting, sConverted, sExpired:
			r.ApprovedAt = r.FirstResponseAt
			r.HoldUntil = r.ApprovedAt.Add(60 * 24 * time.Hour)
			if i%2 == 0 {
				r.FirstMeetingAt = r.ApprovedAt.Add(time.Duration(i%20) * 24 * time.Hour)
			}
			if i%3 == 0 {
				r.AttributedAt = r.ApprovedAt.Add(40 * 24 * time.Hour)
			}
		case sInReview:
			r.StatusReason = "conflict_pending"
		}
		page = append(page, r)
		if len(page) == 100 {
			pages, page = append(pages, page), nil
		}
	}
	if page != nil {
		pages = append(pages, page)
	}
	var dpages [][]registration.Deal
	var dpage []registration.Deal
	for j := range m {
		d := registration.Deal{
			ID: "D" + strconv.Itoa(j), PartnerID: partners[j%3], Amount: float64(1000 + j%50*100),
			Closed: j%3 != 0, Won: j%3 == 1, CloseDate: base.Add(time.Duration(j%330) * 24 * time.Hour),
			RegistrationIDs: []string{strconv.Itoa((j*7)%n + 1)},
		}
		dpage = append(dpage, d)
		if len(dpage) == 100 {
			dpages, dpage = append(dpages, dpage), nil
		}
	}
	if dpage != nil {
		dpages = append(dpages, dpage)
	}
	return pages, dpages
}

// BenchmarkReport50k computes the report over 50,000 registrations and
// 20,000 deals (the scale), by partner, from pages of 100.
func BenchmarkReport50k(b *testing.B) {
	pages, dpages := synthetic(50000, 20000)
	p := fixPolicy(b)
	opt := Options{Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), By: ByPartner}
	b.ReportAllocs()
	for b.Loop() {
		acc, err := New(p, opt)
		if err != nil {
			b.Fatal(err)
		}
		for _, pg := range pages {
			_ = acc.Add(pg)
		}
		for _, pg := range dpages {
			_ = acc.AddDeals(pg)
		}
		r := acc.Result()
		if r.Meta.Registrations != 50000 || r.Meta.Deals != 20000 {
			b.Fatalf("read %d/%d", r.Meta.Registrations, r.Meta.Deals)
		}
	}
}
