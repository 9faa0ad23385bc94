package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// A partner is credited only with a deal it could have sourced: created at
// or after submitted_at (less the grace), or accepted by an AE; a deal
// closed before the registration existed never.
func TestCredit(t *testing.T) {
	submitted := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	r := registration.Record{CaseNumber: "R-12", SubmittedAt: submitted}
	noGrace := mustPolicy(t, testPartners, nil)
	grace := mustPolicy(t, testPartners, func(r *Rules) { r.Attribution.Grace = 48 * time.Hour })
	open := func(created time.Time) registration.Deal {
		return registration.Deal{ID: "D", CreatedAt: created, CloseDate: created.AddDate(0, 2, 0)}
	}
	closed := func(created, closedAt time.Time, won bool) registration.Deal {
		return registration.Deal{ID: "D", CreatedAt: created, CloseDate: closedAt, Closed: true, Won: won}
	}
	sept := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		p        *Policy
		d        registration.Deal
		r        registration.Record
		accepted string
		ok       bool
		why      string
	}{
		{"created after", noGrace, open(submitted.Add(time.Hour)), r, "", true,
			"created after the registration (2026-12-07T10:00:00Z < 2026-12-07T11:00:00Z)"},
		{"created at the same instant", noGrace, open(submitted), r, "", true,
			"created after the registration (2026-12-07T10:00:00Z = 2026-12-07T10:00:00Z)"},
		{"created a second before", noGrace, open(submitted.Add(-time.Second)), r, "", false,
			"created before the registration (2026-12-07T09:59:59Z < 2026-12-07T10:00:00Z)"},
		{"created months before", noGrace, open(sept), r, "", false,
			"created before the registration (2026-09-01 < 2026-12-07)"},
		{"created within the grace", grace, open(submitted.Add(-47 * time.Hour)), r, "", true,
			"created within rules.attribution.grace (48h0m0s) before the registration (2026-12-05 < 2026-12-07)"},
		{"created before the grace", grace, open(submitted.Add(-49 * time.Hour)), r, "", false,
			"created more than rules.attribution.grace (48h0m0s) before the registration (2026-12-05 < 2026-12-07)"},
		{"closed won in September", noGrace, closed(sept.AddDate(0, -2, 0), sept.AddDate(0, 0, 14), true), r, "", false,
			"closed before the registration (2026-09-15 < 2026-12-07)"},
		{"closed before, inside the grace", grace, closed(submitted.Add(-30*time.Hour), submitted.Add(-time.Hour), true), r, "", false,
			"closed before the registration (2026-12-07T09:00:00Z < 2026-12-07T10:00:00Z)"},
		{"closed before, accepted by an AE", noGrace, closed(sept, sept.AddDate(0, 1, 0), false), r, AcceptedDealID, false,
			"closed before the registration (2026-10-01 < 2026-12-07)"},
		{"a close date on the submission day is the whole day", noGrace,
			closed(submitted.Add(time.Hour), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), true), r, "", true,
			"created after the registration (2026-12-07T10:00:00Z < 2026-12-07T11:00:00Z)"},
		{"a close date the day before", noGrace,
			closed(sept, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), true), r, AcceptedReview, false,
			"closed before the registration (2026-12-06 < 2026-12-07)"},
		{"closed after, created before, accepted", noGrace, closed(sept, submitted.AddDate(0, 0, 3), true), r, AcceptedReview, true,
			AcceptedReview},
		{"created before, deal_id names it", noGrace, open(sept), r, AcceptedDealID, true, AcceptedDealID},
		{"created before, associated by hand", noGrace, open(sept), r, AcceptedAssociation, true, AcceptedAssociation},
		{"unknown creation time", noGrace, registration.Deal{ID: "D"}, r, "", false, "the deal's creation time is unknown"},
		{"no submitted_at: the creation in the CRM", noGrace, open(submitted.Add(-time.Hour)),
			registration.Record{CreatedAt: submitted.Add(-2 * time.Hour)}, "", true,
			"created after the registration (2026-12-07T08:00:00Z < 2026-12-07T09:00:00Z)"},
		{"no time at all", noGrace, open(submitted), registration.Record{}, "", false, "the registration has no submitted_at"},
		{"no time at all, accepted", noGrace, open(submitted), registration.Record{}, AcceptedAssociation, true, AcceptedAssociation},
	}
	for _, tt := range tests {
		ok, why := tt.p.Credit(tt.d, &tt.r, tt.accepted)
		if ok != tt.ok || why != tt.why {
			t.Errorf("%s: Credit = %v, %q; want %v, %q", tt.name, ok, why, tt.ok, tt.why)
		}
	}
}

func TestAttributionGraceIsValidated(t *testing.T) {
	for _, g := range []time.Duration{-time.Second, MaxAttributionGrace + time.Second} {
		r := DefaultRules()
		r.Attribution.Grace = g
		_, err := NewPolicy(testPartners, r)
		want := "rules.attribution.grace: must be between 0 and 720h (30 days), not " + g.String()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("grace %s: error %v, want %q", g, err, want)
		}
	}
	if DefaultRules().Attribution.Grace != 0 {
		t.Error("the default grace is not 0")
	}
}

// The deal an existing_deal review named is found in its trace.
func TestExistingDealIn(t *testing.T) {
	p := mustPolicy(t, testPartners, func(r *Rules) { r.ExistingDeal = ExistingDealReview })
	r := clean()
	r.SubmittedAt = t0
	d := Decide(p, &r, Facts{Company: &Company{ID: "c-1"}, OpenDeals: []Deal{{ID: "d-42", CompanyID: "c-1"}}}, t0)
	if d.Status != registration.StatusInReview || d.Reason != ReasonExistingDeal {
		t.Fatalf("decided %s %s", d.Status, d.Reason)
	}
	if got := ExistingDealIn(d.Trace); got != "d-42" {
		t.Errorf("ExistingDealIn = %q, want d-42 (trace %+v)", got, d.Trace)
	}
	ok := Decide(p, &r, Facts{Company: &Company{ID: "c-1"}}, t0)
	if got := ExistingDealIn(ok.Trace); got != "" {
		t.Errorf("a trace without an existing deal names %q", got)
	}
}
