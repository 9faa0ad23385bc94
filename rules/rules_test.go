package rules

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/regsync/regsync/registration"
)

var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) // Monday

func mustPolicy(t testing.TB, partners []Partner, mod func(*Rules)) *Policy {
	t.Helper()
	r := DefaultRules()
	if mod != nil {
		mod(&r)
	}
	p, err := NewPolicy(partners, r)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	return p
}

var testPartners = []Partner{
	{ID: "northwind", Name: "Northwind Consulting", Tier: "gold", EmailDomains: []string{"northwind.example"}},
	{ID: "fabrikam", Name: "Fabrikam Partners", Tier: "silver", EmailDomains: []string{"fabrikam.example"}},
	{ID: "contoso", Name: "Contoso SI", Tier: "silver", EmailDomains: []string{"contoso.example"}},
}

func clean() registration.Record {
	r := registration.Record{
		CaseNumber: "R-100", PartnerID: "northwind", PartnerEmail: "jo@northwind.example",
		CompanyName: "Globex Corporation", CompanyDomain: "globex.example", ContactName: "Ann",
		ContactEmail: "ann@globex.example", Problem: "Spreadsheets.", Consent: true, Country: "US",
		Status: registration.StatusSubmitted, SubmittedAt: t0.Add(-time.Hour),
	}
	r.Index()
	return r
}

func TestDecideTracesEveryCheckInOrder(t *testing.T) {
	p := mustPolicy(t, testPartners, func(r *Rules) {
		r.Territories = []Territory{{Name: "na", Countries: []string{"US"}, Owner: "ae-na"}}
		r.Caps.ActivePerPartner = 10
		r.HoldWindow.ByTier = map[string]int{"gold": 90}
	})
	rec := clean()
	d := Decide(p, &rec, Facts{}, t0)
	if d.Status != registration.StatusApproved || d.Reason != ReasonApproved {
		t.Fatalf("decision = %s %s", d.Status, d.Reason)
	}
	var names []string
	for _, c := range d.Trace {
		names = append(names, c.Name)
		if c.Result != Pass {
			t.Errorf("check %s = %s (%s)", c.Name, c.Result, c.Detail)
		}
	}
	want := "required partner submitter free_email blocked duplicate existing_deal conflict possible_duplicate cap territory approve"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("trace order:\n got %s\nwant %s", got, want)
	}
	if !d.Changed {
		t.Error("a decision on a submitted record must be a change")
	}
	if got, want := d.HoldUntil, t0.Add(90*24*time.Hour); !got.Equal(want) {
		t.Errorf("HoldUntil = %v, want %v", got, want)
	}
}

func TestDecideDoesNotMutateItsInputs(t *testing.T) {
	p := mustPolicy(t, testPartners, nil)
	rec := clean()
	rival := registration.Record{CaseNumber: "R-1", PartnerID: "fabrikam", Status: registration.StatusApproved,
		CompanyDomain: "globex.example", HoldUntil: t0.Add(time.Hour)}
	facts := Facts{Registrations: []registration.Record{rival}, OpenDeals: []Deal{{ID: "d", PartnerID: "northwind"}}}
	recCopy, rivalCopy := rec, rival
	d1 := Decide(p, &rec, facts, t0)
	d2 := Decide(p, &rec, facts, t0)
	if !reflect.DeepEqual(rec, recCopy) || !reflect.DeepEqual(facts.Registrations[0], rivalCopy) {
		t.Fatal("Decide mutated its inputs")
	}
	if !reflect.DeepEqual(d1, d2) {
		t.Fatal("Decide is not deterministic")
	}
	if d1.Reason != ReasonConflictProtected {
		t.Fatalf("reason = %s", d1.Reason)
	}
}

// Unindexed rivals (no DomainKey) are still matched by registrable domain.
func TestDecideIndexesRivalsItself(t *testing.T) {
	p := mustPolicy(t, testPartners, nil)
	rec := clean()
	rec.DomainKey, rec.NameKey = "", ""
	rival := registration.Record{CaseNumber: "R-1", PartnerID: "fabrikam", Status: registration.StatusSubmitted,
		CompanyDomain: "https://EU.Globex.example/x", SubmittedAt: t0.Add(-48 * time.Hour)}
	d := Decide(p, &rec, Facts{Registrations: []registration.Record{rival}}, t0)
	if d.Reason != ReasonConflictPending || d.ConflictWith != "R-1" {
		t.Fatalf("decision = %s %s %q", d.Status, d.Reason, d.ConflictWith)
	}
}

func TestSLADue(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name     string
		calendar string
		tz       string
		days     int
		from     time.Time
		want     time.Time
	}{
		{"weekday", "US", "UTC", 2, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)},
		{"friday skips the weekend", "US", "UTC", 2, time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)},
		{"saturday", "US", "UTC", 2, time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)},
		{"sunday", "US", "UTC", 1, time.Date(2026, 3, 8, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 23, 0, 0, 0, time.UTC)},
		{"local date, not UTC date", "US", "America/New_York", 1, time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC), // Fri 22:00 EST
			time.Date(2026, 3, 9, 22, 0, 0, 0, ny)},
		{"keeps local clock across DST", "US", "America/New_York", 2, time.Date(2026, 3, 6, 10, 0, 0, 0, ny), time.Date(2026, 3, 10, 10, 0, 0, 0, ny)},
		{"Thanksgiving", "US", "UTC", 2, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
		{"Christmas and New Year", "US", "UTC", 3, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 30, 9, 0, 0, 0, time.UTC)},
		{"observed: 4 July 2026 is a Saturday, Friday 3rd off", "US", "UTC", 1, time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 7, 6, 9, 0, 0, 0, time.UTC)},
		{"German Easter Monday", "DE", "Europe/Berlin", 1, time.Date(2026, 4, 2, 9, 0, 0, 0, berlin), time.Date(2026, 4, 7, 9, 0, 0, 0, berlin)},
		{"no calendar: only weekends", "none", "UTC", 1, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 25, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, nil, func(r *Rules) {
				r.SLA = SLA{RespondWithinBusinessDays: tt.days, Calendar: tt.calendar, Timezone: tt.tz}
			})
			if got := p.SLADue(tt.from); !got.Equal(tt.want) {
				t.Errorf("SLADue(%v) = %v, want %v", tt.from, got.In(tt.want.Location()), tt.want)
			}
		})
	}
}

// genRival draws another registration on the same company.
func genRival(t *rapid.T, i int) registration.Record {
	statuses := registration.Statuses
	partner := rapid.SampledFrom([]string{"northwind", "fabrikam", "contoso"}).Draw(t, "partner")
	at := func(label string) time.Time {
		return t0.Add(time.Duration(rapid.IntRange(-2000, 2000).Draw(t, label)) * time.Hour)
	}
	r := registration.Record{
		CaseNumber:    fmt.Sprintf("R-%d", i),
		PartnerID:     partner,
		PartnerName:   "Secret Rival Partner " + partner,
		OwnerID:       "internal-owner-" + partner,
		Status:        rapid.SampledFrom(statuses).Draw(t, "status"),
		CompanyName:   rapid.SampledFrom([]string{"Globex", "Globex Inc.", "Initrode"}).Draw(t, "name"),
		CompanyDomain: rapid.SampledFrom([]string{"globex.example", "eu.globex.example", "globex.co.uk"}).Draw(t, "domain"),
		SubmittedAt:   at("submitted"),
		HoldUntil:     at("hold"),
		MeetingDue:    at("meeting_due"),
		Segment:       rapid.SampledFrom([]string{"", "smb", "enterprise"}).Draw(t, "segment"),
	}
	if rapid.Bool().Draw(t, "met") {
		r.FirstMeetingAt = at("met_at")
	}
	r.Index()
	return r
}

func genPolicy(t *rapid.T) *Policy {
	p, err := NewPolicy(testPartners, func() Rules {
		r := DefaultRules()
		r.Conflict.Policy = rapid.SampledFrom([]string{FirstApprovedWins, FirstMeetingWins, SplitBySegment}).Draw(t, "policy")
		r.ExistingDeal = rapid.SampledFrom([]string{ExistingDealDecline, ExistingDealReview}).Draw(t, "existing_deal")
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Whatever the rivals, the partner-facing message never names a rival
// partner, a rival's case or an internal owner, and every decision is a
// transition the table allows.
func TestDecisionsAreSafeAndAllowed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPolicy(t)
		rec := clean()
		rec.Segment = rapid.SampledFrom([]string{"", "smb"}).Draw(t, "my_segment")
		n := rapid.IntRange(0, 8).Draw(t, "n")
		var f Facts
		for i := range n {
			f.Registrations = append(f.Registrations, genRival(t, i))
		}
		d := Decide(p, &rec, f, t0)
		if err := registration.CheckTransition(rec.Status, d.Status, d.Reason); err != nil {
			t.Fatalf("Decide made a forbidden transition: %v", err)
		}
		for _, o := range f.Registrations {
			for _, leak := range []string{o.PartnerName, o.OwnerID, o.CaseNumber + " ", o.CaseNumber + ")"} {
				if o.PartnerID != rec.PartnerID && strings.Contains(d.Message, leak) {
					t.Fatalf("message %q names the rival: %q", d.Message, leak)
				}
			}
		}
		// The same record, approved, swept later: still an allowed transition.
		if d.Status == registration.StatusApproved {
			rec.Status, rec.StatusReason, rec.HoldUntil, rec.MeetingDue = d.Status, d.Reason, d.HoldUntil, d.MeetingDue
			later := t0.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "later")) * time.Hour)
			s := Sweep(p, &rec, f, later)
			if err := registration.CheckTransition(rec.Status, s.Status, s.Reason); err != nil {
				t.Fatalf("Sweep made a forbidden transition: %v", err)
			}
			m := OnMeeting(p, &rec, later)
			if err := registration.CheckTransition(rec.Status, m.Status, m.Reason); err != nil {
				t.Fatalf("OnMeeting made a forbidden transition: %v", err)
			}
			if m.Status == registration.StatusMeetingBooked && m.HoldUntil.After(rec.HoldUntil.Add(0)) &&
				m.HoldUntil.After(days(t0, p.Rules.HoldWindow.MaxDays)) {
				t.Fatalf("meeting extended the window past max_days: %v", m.HoldUntil)
			}
		}
	})
}

// A registration never loses to one submitted after it: rivals that are all
// later and merely pending never make it a duplicate, pending or possible
// duplicate.
func TestNeverLosesToALaterPendingRegistration(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPolicy(t)
		rec := clean()
		n := rapid.IntRange(1, 8).Draw(t, "n")
		var f Facts
		for i := range n {
			o := genRival(t, i+200)
			o.Status = rapid.SampledFrom([]registration.Status{registration.StatusSubmitted, registration.StatusInReview,
				registration.StatusNeedsInfo, registration.StatusAppealed}).Draw(t, "pending")
			o.SubmittedAt = rec.SubmittedAt.Add(time.Duration(rapid.IntRange(1, 1000).Draw(t, "after")) * time.Minute)
			f.Registrations = append(f.Registrations, o)
		}
		d := Decide(p, &rec, f, t0)
		if d.Status != registration.StatusApproved {
			t.Fatalf("lost to a later registration: %s %s (%s)", d.Status, d.Reason, d.ConflictWith)
		}
	})
}

func TestNewPolicyRejectsNonsense(t *testing.T) {
	r := DefaultRules()
	r.Required = []string{"company_name", "favourite_colour"}
	r.HoldWindow.Days = 400
	r.Territories = []Territory{{Name: "x"}}
	_, err := NewPolicy([]Partner{{ID: "a", EmailDomains: []string{"not a domain"}}}, r)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`partners.0.email_domains.0: "not a domain" is not a domain`,
		`rules.required.1: unknown field "favourite_colour"`,
		`rules.territories.0.owner: territory "x" has no owner`,
		`rules.territories.0: territory "x" needs countries or regions`,
		`rules.hold_window.days: 400 days is longer than max_days (180)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// An AE approved a rival by hand and regsync has not written its window
// yet (hold_until unset): the rival protects the company all the same.
// (Regression: the fault torture test saw a newcomer approved in that
// gap, two partners protected on one company.)
func TestApprovedRivalWithoutWindowYetProtects(t *testing.T) {
	p := mustPolicy(t, testPartners, nil)
	rec := clean()
	rival := registration.Record{CaseNumber: "R-1", PartnerID: "fabrikam", Status: registration.StatusApproved,
		StatusReason: "manual", CompanyDomain: "globex.example"}
	d := Decide(p, &rec, Facts{Registrations: []registration.Record{rival}}, t0)
	if d.Status != registration.StatusDeclined || d.Reason != ReasonConflictProtected {
		t.Fatalf("with an approved rival whose window is not set yet: %s/%s", d.Status, d.Reason)
	}
	rival.HoldUntil = t0.Add(-time.Hour) // a window that has ended does not protect
	if d := Decide(p, &rec, Facts{Registrations: []registration.Record{rival}}, t0); d.Reason == ReasonConflictProtected {
		t.Fatalf("an ended window still protects: %s/%s", d.Status, d.Reason)
	}
}

// Only addresses at the partner's own email_domains may get its mail.
func TestAtPartnerDomain(t *testing.T) {
	p := mustPolicy(t, testPartners, nil)
	for addr, want := range map[string]bool{
		"jo@northwind.example":         true,
		"Jo@NorthWind.Example":         true,
		"jo@eu.northwind.example":      true,
		"jo@evilnorthwind.example":     false,
		"jo@northwind.example.evil":    false,
		"jo@fabrikam.example":          false, // another partner's
		"victim@elsewhere.example":     false,
		"not an address":               false,
		"":                             false,
		"jo@northwind.example@evil.io": false,
	} {
		if got := p.AtPartnerDomain("northwind", addr); got != want {
			t.Errorf("AtPartnerDomain(northwind, %q) = %v, want %v", addr, got, want)
		}
	}
	if p.AtPartnerDomain("nobody", "jo@northwind.example") {
		t.Error("an unknown partner has no domains")
	}
}
