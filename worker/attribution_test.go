package worker

import (
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

func TestPickRegistration(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	reg := func(id, partner string, st registration.Status, approved int, dealID string) registration.Record {
		return registration.Record{ID: id, CaseNumber: "R-" + id, PartnerID: partner, Status: st, ApprovedAt: day(approved), DealID: dealID}
	}
	approved, booked := registration.StatusApproved, registration.StatusMeetingBooked
	regs := []registration.Record{
		reg("1", "northwind", approved, 5, ""),
		reg("2", "fabrikam", booked, 3, ""),
		reg("3", "contoso", approved, 9, ""),
		reg("4", "tailspin", registration.StatusExpired, 1, ""),
		reg("5", "", approved, 1, ""),
	}
	tests := []struct {
		name  string
		deal  registration.Deal
		taken map[string]bool
		want  string
	}{
		{"the earliest approved", registration.Deal{ID: "D"}, nil, "2"},
		{"the one stamped on the deal", registration.Deal{ID: "D", PartnerID: "contoso"}, nil, "3"},
		{"the one associated with the deal", registration.Deal{ID: "D", PartnerID: "contoso", RegistrationIDs: []string{"1"}}, nil, "1"},
		{"not one taken by an earlier deal", registration.Deal{ID: "D"}, map[string]bool{"2": true}, "1"},
		{"none left", registration.Deal{ID: "D"}, map[string]bool{"1": true, "2": true, "3": true}, ""},
	}
	for _, tt := range tests {
		r, ok := pickRegistration(tt.deal, regs, tt.taken)
		if got := r.ID; got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: picked %q (%v), want %q", tt.name, got, ok, tt.want)
		}
	}
	withOwn := append([]registration.Record{reg("9", "northwind", approved, 20, "D")}, regs...)
	if r, _ := pickRegistration(registration.Deal{ID: "D", RegistrationIDs: []string{"1"}}, withOwn, nil); r.ID != "9" {
		t.Errorf("the registration naming the deal in deal_id lost to %s", r.ID)
	}
}

func TestSameID(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"123", "123", true}, {"123", "124", false}, {"", "", false},
		{"0065g000000000F", "0065g000000000FAAQ", true}, {"0065g000000000G", "0065g000000000FAAQ", false},
	} {
		if got := sameID(c.a, c.b); got != c.want {
			t.Errorf("sameID(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
