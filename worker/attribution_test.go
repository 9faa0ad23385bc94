package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
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

// The deal an AE accepted by approving a registration over an
// existing_deal review is read from the registration's audit entries.
func TestApprovedOverReview(t *testing.T) {
	review := func(deal string) state.AuditEntry {
		trace, _ := json.Marshal([]rules.Check{
			{Name: "duplicate", Result: rules.Pass},
			{Name: "existing_deal", Result: rules.Fail, Detail: "open deal " + deal + " not sourced by northwind"},
		})
		return state.AuditEntry{From: "submitted", To: "in_review", Reason: rules.ReasonExistingDeal, Trace: trace}
	}
	step := func(from, to, reason string) state.AuditEntry {
		return state.AuditEntry{From: from, To: to, Reason: reason}
	}
	// Oldest first, as AuditFor returns them.
	tests := []struct {
		name    string
		history []state.AuditEntry
		want    string
	}{
		{"approved over the review", []state.AuditEntry{review("D1"), step("in_review", "approved", "manual")}, "D1"},
		{"still in review", []state.AuditEntry{review("D1")}, ""},
		{"approved by the rules", []state.AuditEntry{step("submitted", "approved", "approved")}, ""},
		{"declined by the AE", []state.AuditEntry{review("D1"), step("in_review", "declined", "manual")}, ""},
		{"in review for another reason, then approved", []state.AuditEntry{
			review("D1"), step("in_review", "needs_info", "manual"), step("needs_info", "submitted", "manual"),
			step("submitted", "in_review", "no_territory"), step("in_review", "approved", "manual")}, ""},
		{"approved, then a meeting", []state.AuditEntry{
			review("D1"), step("in_review", "approved", "manual"), step("approved", "meeting_booked", "meeting_logged")}, "D1"},
		{"reviewed again over another deal", []state.AuditEntry{
			review("D1"), step("in_review", "approved", "manual"), step("approved", "expired", "expired"),
			review("D2"), step("in_review", "approved", "manual")}, "D2"},
	}
	for _, tt := range tests {
		if got := approvedOverReview(tt.history); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// What the record and the deal say of an AE's acceptance reaches the rule:
// a deal opened before the registration is credited only when accepted.
func TestCreditReadsTheAEsAcceptance(t *testing.T) {
	p, err := rules.NewPolicy([]rules.Partner{{ID: "northwind"}}, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{}
	submitted := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	reg := registration.Record{ID: "R1", CaseNumber: "R-12", PartnerID: "northwind", Status: registration.StatusApproved, SubmittedAt: submitted}
	before := registration.Deal{ID: "0065g000000000FAAQ", CreatedAt: submitted.AddDate(0, -3, 0)}
	tests := []struct {
		name string
		deal func(registration.Deal) registration.Deal
		reg  func(registration.Record) registration.Record
		want string // "" when not credited
	}{
		{"nothing", nil, nil, ""},
		{"deal_id, 15-character form", nil, func(r registration.Record) registration.Record { r.DealID = "0065g000000000F"; return r }, rules.AcceptedDealID},
		{"associated", func(d registration.Deal) registration.Deal { d.RegistrationIDs = []string{"R0", "R1"}; return d }, nil, rules.AcceptedAssociation},
		{"stamped with the partner", func(d registration.Deal) registration.Deal { d.PartnerID = "Northwind"; return d }, nil, rules.AcceptedStamp},
		{"stamped with another partner", func(d registration.Deal) registration.Deal { d.PartnerID = "fabrikam"; return d }, nil, ""},
		{"linked, but closed before", func(d registration.Deal) registration.Deal {
			d.Closed, d.CloseDate = true, submitted.AddDate(0, -1, 0)
			return d
		}, func(r registration.Record) registration.Record { r.DealID = "0065g000000000FAAQ"; return r }, ""},
	}
	for _, tt := range tests {
		d, r := before, reg
		if tt.deal != nil {
			d = tt.deal(d)
		}
		if tt.reg != nil {
			r = tt.reg(r)
		}
		ok, why := e.credit(p, d, &r)
		if ok != (tt.want != "") || (ok && why != tt.want) {
			t.Errorf("%s: credit = %v, %q; want %q", tt.name, ok, why, tt.want)
		}
	}
}
