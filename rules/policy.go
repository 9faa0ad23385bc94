// Package rules is regsync's policy engine: the YAML policy RevOps writes, as
// Go types, and the pure functions that apply it — Decide for a new
// registration, OnMeeting when a first meeting is logged, Sweep for the cron.
// Nothing here does I/O or reads a clock: the instant is always passed in.
package rules

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
)

// Partner is one member of the partner program.
type Partner struct {
	ID           string   `yaml:"id" json:"id"`
	Name         string   `yaml:"name" json:"name"`
	Type         string   `yaml:"type" json:"type"`
	Tier         string   `yaml:"tier" json:"tier"`
	EmailDomains []string `yaml:"email_domains" json:"email_domains"`
	// Active defaults to true; set false to stop accepting the partner's
	// registrations.
	Active *bool `yaml:"active" json:"active"`
	// Manager is the partner manager's e-mail address: SLA escalations for
	// the partner's registrations go there.
	Manager string `yaml:"manager,omitempty" json:"manager,omitempty"`
}

// IsActive reports whether the partner may register (Active unset = true).
func (p Partner) IsActive() bool { return p.Active == nil || *p.Active }

// Rules is the `rules:` block of the configuration.
type Rules struct {
	Required         []string         `yaml:"required" json:"required"`
	FreeEmailDomains FreeEmailDomains `yaml:"free_email_domains" json:"free_email_domains"`
	Blocked          Blocked          `yaml:"blocked" json:"blocked"`
	ExistingDeal     string           `yaml:"existing_deal" json:"existing_deal"`
	Conflict         Conflict         `yaml:"conflict" json:"conflict"`
	Caps             Caps             `yaml:"caps" json:"caps"`
	Territories      []Territory      `yaml:"territories" json:"territories"`
	Unassigned       string           `yaml:"unassigned" json:"unassigned"`
	HoldWindow       HoldWindow       `yaml:"hold_window" json:"hold_window"`
	SLA              SLA              `yaml:"sla" json:"sla"`
	// NeedsInfoExpireDays is how long a needs_info registration waits for
	// the partner's missing details before it expires (needs_info_expired):
	// a placeholder cannot hold a place in line for ever. 0: never.
	NeedsInfoExpireDays int     `yaml:"needs_info_expire_days" json:"needs_info_expire_days"`
	Appeals             Appeals `yaml:"appeals" json:"appeals"`
	// Attribution says which deals a registration may be credited with.
	Attribution Attribution `yaml:"attribution" json:"attribution"`
}

// Appeals limits a partner's appeals of a decline.
type Appeals struct {
	// Max is how many times a partner may appeal one registration's
	// decline; 0: appeals are not offered.
	Max int `yaml:"max" json:"max"`
	// WithinDays is how long after the decline an appeal is accepted.
	WithinDays int `yaml:"within_days" json:"within_days"`
}

// FreeEmailDomains adjusts the embedded list of free-mail providers.
type FreeEmailDomains struct {
	Extra []string `yaml:"extra" json:"extra"`
	Allow []string `yaml:"allow" json:"allow"`
}

// Blocked lists companies partners may not register.
type Blocked struct {
	Domains []string `yaml:"domains" json:"domains"`
	// Reason is shown to the partner; keep it partner-safe.
	Reason string `yaml:"reason" json:"reason"`
}

// Conflict is the policy between partners registering the same company.
type Conflict struct {
	Policy  string `yaml:"policy" json:"policy"`
	SplitOn string `yaml:"split_on" json:"split_on"`
}

// Caps limit how much a partner may hold at once.
type Caps struct {
	// ActivePerPartner: 0 means no cap.
	ActivePerPartner int `yaml:"active_per_partner" json:"active_per_partner"`
}

// Territory routes a registration to an owner by country or region.
type Territory struct {
	Name      string   `yaml:"name" json:"name"`
	Countries []string `yaml:"countries" json:"countries"`
	Regions   []string `yaml:"regions" json:"regions"`
	Owner     string   `yaml:"owner" json:"owner"`
}

// HoldWindow is how long an approval protects the partner, in whole days.
type HoldWindow struct {
	Days                int            `yaml:"days" json:"days"`
	ByTier              map[string]int `yaml:"by_tier" json:"by_tier"`
	MeetingWithinDays   int            `yaml:"meeting_within_days" json:"meeting_within_days"`
	ExtendOnMeetingDays int            `yaml:"extend_on_meeting_days" json:"extend_on_meeting_days"`
	MaxDays             int            `yaml:"max_days" json:"max_days"`
}

// SLA is how fast the program answers a partner.
type SLA struct {
	RespondWithinBusinessDays int    `yaml:"respond_within_business_days" json:"respond_within_business_days"`
	Calendar                  string `yaml:"calendar" json:"calendar"`
	Timezone                  string `yaml:"timezone" json:"timezone"`
}

// Policy values.
const (
	ExistingDealDecline = "decline"
	ExistingDealReview  = "review"

	FirstApprovedWins = "first_approved_wins"
	FirstMeetingWins  = "first_meeting_wins"
	SplitBySegment    = "split_by_segment"

	UnassignedReview  = "review"
	UnassignedApprove = "approve"
)

// DefaultRequired is the default list of required fields.
var DefaultRequired = []string{
	registration.FieldCompanyName, registration.FieldCompanyDomain, registration.FieldContactName, registration.FieldContactEmail, registration.FieldProblem,
	registration.FieldPartnerID, registration.FieldPartnerEmail, registration.FieldConsent,
}

// DefaultRules returns the rules that apply when a key is absent. Decode YAML
// into this value so that absent keys keep their defaults.
func DefaultRules() Rules {
	return Rules{
		Required:            slices.Clone(DefaultRequired),
		ExistingDeal:        ExistingDealDecline,
		Conflict:            Conflict{Policy: FirstApprovedWins, SplitOn: registration.FieldSegment},
		Unassigned:          UnassignedReview,
		HoldWindow:          HoldWindow{Days: 60, MeetingWithinDays: 14, ExtendOnMeetingDays: 30, MaxDays: 180},
		SLA:                 SLA{RespondWithinBusinessDays: 2, Calendar: "US", Timezone: "UTC"},
		NeedsInfoExpireDays: 30,
		Appeals:             Appeals{Max: 1, WithinDays: 30},
	}
}

// Policy is the compiled program policy: partners and rules, validated, with
// the indexes Decide needs to stay fast. Build it with NewPolicy; it is
// immutable and safe for concurrent use.
type Policy struct {
	Partners []Partner
	Rules    Rules

	partners    map[string]*Partner
	partnerDoms map[string][]string // partner id → normalised e-mail domains
	freeMail    *registration.FreeMail
	blocked     map[string]bool
	required    []registration.Field
	byCountry   map[string]int // first territory index per country
	byRegion    map[string]int // first territory index per lower-case region
	sla         *slaCalendar
	conflict    conflictPolicy
}

type conflictPolicy uint8

const (
	conflictFirstApproved conflictPolicy = iota
	conflictFirstMeeting
	conflictSplit
)

// NewPolicy validates partners and rules and compiles them. Validation errors
// are *yamlx.PathError values (joined) whose paths start at "partners" or
// "rules", so a loader can point at the offending line.
func NewPolicy(partners []Partner, rules Rules) (*Policy, error) {
	p := &Policy{
		Partners:    partners,
		Rules:       rules,
		partners:    make(map[string]*Partner, len(partners)),
		partnerDoms: make(map[string][]string, len(partners)),
		blocked:     map[string]bool{},
		byCountry:   map[string]int{},
		byRegion:    map[string]int{},
	}
	var errs []error
	bad := func(path []string, format string, args ...any) {
		errs = append(errs, yamlx.Errorf(path, format, args...))
	}

	tiers := map[string]bool{}
	for i := range partners {
		pt := &partners[i]
		path := yamlx.Path("partners", i)
		switch {
		case strings.TrimSpace(pt.ID) == "":
			bad(yamlx.Path(path, "id"), "partner id is required")
		case p.partners[pt.ID] != nil:
			bad(yamlx.Path(path, "id"), "duplicate partner id %q", pt.ID)
		default:
			p.partners[pt.ID] = pt
		}
		if pt.Tier != "" {
			tiers[pt.Tier] = true
		}
		for j, d := range pt.EmailDomains {
			n, err := registration.NormalizeDomain(d)
			if err != nil {
				bad(yamlx.Path(path, "email_domains", j), "%q is not a domain", d)
				continue
			}
			p.partnerDoms[pt.ID] = append(p.partnerDoms[pt.ID], n)
		}
	}

	r := &p.Rules
	for i, name := range r.Required {
		f, ok := registration.LookupField(name)
		if !ok {
			bad(yamlx.Path("rules", "required", i), "unknown field %q", name)
			continue
		}
		p.required = append(p.required, f)
	}
	if err := registration.ValidateFreeMailEntries(r.FreeEmailDomains.Extra); err != nil {
		bad(yamlx.Path("rules", "free_email_domains", "extra"), "%v", err)
	}
	if err := registration.ValidateFreeMailEntries(r.FreeEmailDomains.Allow); err != nil {
		bad(yamlx.Path("rules", "free_email_domains", "allow"), "%v", err)
	}
	p.freeMail = registration.NewFreeMail(r.FreeEmailDomains.Extra, r.FreeEmailDomains.Allow)
	for i, d := range r.Blocked.Domains {
		n, err := registration.NormalizeDomain(d)
		if err != nil {
			bad(yamlx.Path("rules", "blocked", "domains", i), "%q is not a domain", d)
			continue
		}
		p.blocked[n] = true
	}
	if r.ExistingDeal != ExistingDealDecline && r.ExistingDeal != ExistingDealReview {
		bad(yamlx.Path("rules", "existing_deal"), "must be decline or review, not %q", r.ExistingDeal)
	}
	switch r.Conflict.Policy {
	case FirstApprovedWins:
		p.conflict = conflictFirstApproved
	case FirstMeetingWins:
		p.conflict = conflictFirstMeeting
	case SplitBySegment:
		p.conflict = conflictSplit
	default:
		bad(yamlx.Path("rules", "conflict", "policy"),
			"must be first_approved_wins, first_meeting_wins or split_by_segment, not %q", r.Conflict.Policy)
	}
	if r.Conflict.SplitOn != registration.FieldSegment && r.Conflict.SplitOn != registration.FieldProductInterest {
		bad(yamlx.Path("rules", "conflict", "split_on"), "must be segment or product_interest, not %q", r.Conflict.SplitOn)
	}
	if r.Caps.ActivePerPartner < 0 {
		bad(yamlx.Path("rules", "caps", "active_per_partner"), "must be 0 (no cap) or more, not %d", r.Caps.ActivePerPartner)
	}

	names := map[string]bool{}
	for i := range r.Territories {
		t := &r.Territories[i]
		path := yamlx.Path("rules", "territories", i)
		if strings.TrimSpace(t.Name) == "" {
			bad(yamlx.Path(path, "name"), "territory name is required")
		} else if names[t.Name] {
			bad(yamlx.Path(path, "name"), "duplicate territory %q", t.Name)
		}
		names[t.Name] = true
		if strings.TrimSpace(t.Owner) == "" {
			bad(yamlx.Path(path, "owner"), "territory %q has no owner", t.Name)
		}
		if len(t.Countries) == 0 && len(t.Regions) == 0 {
			bad(path, "territory %q needs countries or regions", t.Name)
		}
		for j, c := range t.Countries {
			cc := strings.ToUpper(strings.TrimSpace(c))
			if !isAlpha2(cc) {
				bad(yamlx.Path(path, "countries", j), "%q is not an ISO 3166 alpha-2 country code", c)
				continue
			}
			if _, ok := p.byCountry[cc]; !ok {
				p.byCountry[cc] = i
			}
		}
		for _, reg := range t.Regions {
			k := strings.ToLower(strings.TrimSpace(reg))
			if _, ok := p.byRegion[k]; !ok && k != "" {
				p.byRegion[k] = i
			}
		}
	}
	if r.Unassigned != UnassignedReview && r.Unassigned != UnassignedApprove {
		bad(yamlx.Path("rules", "unassigned"), "must be review or approve, not %q", r.Unassigned)
	}

	hw := r.HoldWindow
	positive := func(key string, v int) {
		if v <= 0 {
			bad(yamlx.Path("rules", "hold_window", key), "must be a positive number of days, not %d", v)
		}
	}
	positive("days", hw.Days)
	positive("meeting_within_days", hw.MeetingWithinDays)
	positive("max_days", hw.MaxDays)
	if hw.ExtendOnMeetingDays < 0 {
		bad(yamlx.Path("rules", "hold_window", "extend_on_meeting_days"), "must be 0 or more days, not %d", hw.ExtendOnMeetingDays)
	}
	if hw.Days > hw.MaxDays && hw.MaxDays > 0 {
		bad(yamlx.Path("rules", "hold_window", "days"), "%d days is longer than max_days (%d)", hw.Days, hw.MaxDays)
	}
	for _, tier := range sortedKeys(hw.ByTier) {
		path := yamlx.Path("rules", "hold_window", "by_tier", tier)
		if !tiers[tier] {
			bad(path, "tier %q is not the tier of any partner", tier)
		}
		if d := hw.ByTier[tier]; d <= 0 {
			bad(path, "must be a positive number of days, not %d", d)
		} else if hw.MaxDays > 0 && d > hw.MaxDays {
			bad(path, "%d days is longer than max_days (%d)", d, hw.MaxDays)
		}
	}

	if r.SLA.RespondWithinBusinessDays <= 0 {
		bad(yamlx.Path("rules", "sla", "respond_within_business_days"), "must be a positive number of days, not %d", r.SLA.RespondWithinBusinessDays)
	}
	loc, err := time.LoadLocation(r.SLA.Timezone)
	if err != nil || r.SLA.Timezone == "" || strings.EqualFold(r.SLA.Timezone, "local") {
		bad(yamlx.Path("rules", "sla", "timezone"), "unknown time zone %q (use an IANA name such as America/New_York)", r.SLA.Timezone)
		loc = time.UTC
	}
	if r.NeedsInfoExpireDays < 0 {
		bad(yamlx.Path("rules", "needs_info_expire_days"), "must be 0 (never) or a positive number of days, not %d", r.NeedsInfoExpireDays)
	}
	if r.Appeals.Max < 0 {
		bad(yamlx.Path("rules", "appeals", "max"), "must be 0 (no appeals) or more, not %d", r.Appeals.Max)
	}
	if r.Appeals.WithinDays <= 0 {
		bad(yamlx.Path("rules", "appeals", "within_days"), "must be a positive number of days, not %d", r.Appeals.WithinDays)
	}
	if g := r.Attribution.Grace; g < 0 || g > MaxAttributionGrace {
		bad(yamlx.Path("rules", "attribution", "grace"), "must be between 0 and 720h (30 days), not %s", g)
	}
	hol, ok := holidays(r.SLA.Calendar)
	if !ok {
		bad(yamlx.Path("rules", "sla", "calendar"), "unknown holiday calendar %q (one of %s, or none)", r.SLA.Calendar, strings.Join(Calendars(), ", "))
	}
	p.sla = newSLACalendar(loc, hol, r.SLA.RespondWithinBusinessDays)

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Partner returns the partner with the given id.
func (p *Policy) Partner(id string) (*Partner, bool) {
	pt, ok := p.partners[id]
	return pt, ok
}

// AtPartnerDomain reports whether addr is an e-mail address at one of the
// partner's email_domains (or a sub-domain of one). It is the one test of
// who may receive a partner's mail: a partner_email comes from input (a
// HubSpot form's hidden field, a CSV row) and may name anyone.
func (p *Policy) AtPartnerDomain(partnerID, addr string) bool {
	if p == nil {
		return false
	}
	return domainIn(registration.EmailDomain(addr), p.partnerDoms[partnerID])
}

// AppealAllowed reports whether the partner may appeal r's decline now:
// the registration is declined, fewer than rules.appeals.max appeals were
// made, and the decline is at most rules.appeals.within_days old. When not,
// why says so in words fit for the partner.
func (p *Policy) AppealAllowed(r *registration.Record, now time.Time) (ok bool, why string) {
	a := p.Rules.Appeals
	switch {
	case r.Status != registration.StatusDeclined:
		return false, "only a declined registration can be appealed"
	case a.Max == 0:
		return false, "this program does not take appeals"
	case int(r.AppealCount) >= a.Max:
		if a.Max == 1 {
			return false, "this registration was already appealed once, and no further appeal is possible"
		}
		return false, "this registration was already appealed " + strconv.Itoa(int(r.AppealCount)) + " times, and no further appeal is possible"
	}
	decided := r.DecidedAt
	if decided.IsZero() {
		decided = r.SubmittedAt
	}
	if !decided.IsZero() && now.After(days(decided, a.WithinDays)) {
		return false, "appeals are accepted within " + strconv.Itoa(a.WithinDays) + " days of the decision, and that time has passed"
	}
	return true, ""
}

// HoldDays is the hold window granted to a partner of the given tier.
func (p *Policy) HoldDays(tier string) int {
	if d, ok := p.Rules.HoldWindow.ByTier[tier]; ok && tier != "" {
		return d
	}
	return p.Rules.HoldWindow.Days
}

// territory returns the first territory matching a country or region, or -1.
func (p *Policy) territory(country, region string) int {
	best := -1
	if c := strings.ToUpper(strings.TrimSpace(country)); c != "" {
		if i, ok := p.byCountry[c]; ok {
			best = i
		}
	}
	if r := strings.ToLower(strings.TrimSpace(region)); r != "" {
		if i, ok := p.byRegion[r]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	return best
}

func isAlpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// days is a window of whole 24-hour days from an instant, in UTC.
func days(from time.Time, n int) time.Time {
	return from.UTC().Add(time.Duration(n) * 24 * time.Hour)
}

// fmtDate writes a date as "2 January 2006" (UTC) without time.Format's
// layout parsing: it runs for every approval.
func fmtDate(t time.Time) string {
	y, m, d := t.UTC().Date()
	b := make([]byte, 0, 20)
	b = strconv.AppendInt(b, int64(d), 10)
	b = append(b, ' ')
	b = append(b, m.String()...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(y), 10)
	return string(b)
}
