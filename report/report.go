// Package report computes regsync's seven program metrics from the CRM's
// registrations and deals, renders them as a table, CSV or JSON, and composes
// the weekly partner summaries.
//
// The metrics are computed by an Accumulator that reads registrations and
// deals a page at a time (as connectors.CRM's All and AllDeals stream them)
// and keeps only a compact projection of each, so a report over 50,000
// registrations and 20,000 deals never holds the records twice. Nothing here
// does I/O or reads a clock: the instant is Options.Now.
//
// The definitions, with their exact formulas, are in docs/reports.md ("The
// seven metrics"); every exported figure's doc comment repeats its formula.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// GroupBy is a breakdown of the metrics: by the registration's partner
// (partner_id), segment, region or product (product_interest).
type GroupBy string

// Breakdowns.
const (
	ByNone    GroupBy = ""
	ByPartner GroupBy = "partner"
	BySegment GroupBy = "segment"
	ByRegion  GroupBy = "region"
	ByProduct GroupBy = "product"
)

// breakdowns are the breakdowns in the order the Accumulator indexes them.
var breakdowns = [...]GroupBy{ByPartner, BySegment, ByRegion, ByProduct}

func (g GroupBy) index() int {
	for i, b := range breakdowns {
		if b == g {
			return i
		}
	}
	return -1
}

// ParseGroupBy reads a --by value: partner, segment, region, product, or
// empty for none.
func ParseGroupBy(s string) (GroupBy, error) {
	g := GroupBy(strings.ToLower(strings.TrimSpace(s)))
	if g == ByNone || g.index() >= 0 {
		return g, nil
	}
	return ByNone, fmt.Errorf("--by: must be partner, segment, region or product, not %q", s)
}

// Format is an output format of Render.
type Format string

// Formats.
const (
	FormatTable Format = "table"
	FormatCSV   Format = "csv"
	FormatJSON  Format = "json"
)

// ParseFormat reads a --format value (empty means table).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatTable, nil
	case FormatTable, FormatCSV, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("--format: must be table, csv or json, not %q", s)
}

// ParseDate reads a --since or --until value: an RFC 3339 instant, or a bare
// date (2006-01-02), which is a local date in loc (the policy's
// sla.timezone). A bare --until date is inclusive: with end set it means the
// following local midnight, so --until 2026-03-31 takes in all of 31 March.
func ParseDate(s string, loc *time.Location, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if loc == nil {
		loc = time.UTC
	}
	d, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02) or an RFC 3339 time", s)
	}
	if end {
		d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
	}
	return d.UTC(), nil
}

// Figure is a number that may be undefined — a rate over nothing, the median
// of no values. An undefined figure is null in JSON and "n/a" in text, never
// NaN.
type Figure struct {
	Value float64
	Valid bool
}

// NA is the undefined figure.
var NA = Figure{}

// Num is a defined figure.
func Num(v float64) Figure { return Figure{Value: v, Valid: true} }

// ratio is n/d rounded to 4 decimals, undefined when d is 0.
func ratio(n, d int) Figure {
	if d == 0 {
		return NA
	}
	return Num(round(float64(n)/float64(d), 4))
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	r := math.Round(v*p) / p
	if r == 0 {
		return 0 // no -0
	}
	return r
}

// String is the figure in shortest decimal form, or "n/a".
func (f Figure) String() string {
	if !f.Valid {
		return "n/a"
	}
	return strconv.FormatFloat(f.Value, 'f', -1, 64)
}

// Percent is the figure as a percentage with one decimal ("66.7%"), or "n/a".
func (f Figure) Percent() string {
	if !f.Valid {
		return "n/a"
	}
	return strconv.FormatFloat(f.Value*100, 'f', 1, 64) + "%"
}

// MarshalJSON writes the number, or null.
func (f Figure) MarshalJSON() ([]byte, error) {
	if !f.Valid || math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f.Value, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number or null.
func (f *Figure) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = NA
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Num(v)
	return nil
}

// Group names one row of a breakdown.
type Group struct {
	By GroupBy `json:"by"`
	// Group is the partner id, or the segment, region or product as
	// written on the registrations (grouped case-insensitively); "" for
	// registrations that leave it blank (shown as "(none)").
	Group string `json:"group"`
	// Name is the partner's name from the configuration (partner rows only).
	Name string `json:"name,omitempty"`
}

// Label is how the group is shown: "(none)" for a blank group, else the
// group, followed by the partner's name when there is one.
func (g Group) Label() string {
	l := g.Group
	if l == "" {
		l = "(none)"
	}
	if g.Name != "" && g.Name != g.Group {
		l += " (" + g.Name + ")"
	}
	return l
}

// Report holds the seven program metrics. Its JSON form has exactly the
// seven top-level keys of the contract.
type Report struct {
	MeetingRate   MeetingRate   `json:"registration_to_meeting_rate"`
	Approval      ApprovalRate  `json:"approval_rate"`
	Conflicts     Conflicts     `json:"conflicts"`
	WinRate       WinRate       `json:"win_rate"`
	ResponseTimes ResponseTimes `json:"response_times"`
	ActiveWindows ActiveWindows `json:"active_windows"`
	Attribution   Attribution   `json:"attribution"`

	// Meta describes the run; it is shown by the table and CSV formats
	// and left out of the JSON, whose keys are a contract.
	Meta Meta `json:"-"`
}

// Meta describes what a report covers.
type Meta struct {
	Since, Until time.Time // the period, [Since, Until); zero = open
	Now          time.Time // "as of"
	By           GroupBy
	// Registrations and Deals are how many distinct records were read;
	// InPeriod is how many registrations were submitted in the period.
	Registrations, Deals, InPeriod int
	// DuplicatesSkipped counts records read twice (same CRM id), counted once.
	DuplicatesSkipped int
}

// MeetingCounts is metric 1 over one population of registrations submitted
// in the period with approved_at set ("approved").
type MeetingCounts struct {
	// Approved: approved_at set.
	Approved int `json:"approved"`
	// MetInTime: first_meeting_at ≤ approved_at + meeting_within_days × 24 h.
	MetInTime int `json:"met_in_time"`
	// MetLate: first_meeting_at after that deadline.
	MetLate int `json:"met_late"`
	// NoMeeting: no first_meeting_at and the deadline has passed (now).
	NoMeeting int `json:"no_meeting"`
	// Awaiting: no first_meeting_at and the deadline is still ahead; left
	// out of the rate until it is settled.
	Awaiting int `json:"awaiting"`
	// Rate = MetInTime / (MetInTime + MetLate + NoMeeting).
	Rate Figure `json:"rate"`
}

// MeetingRate is metric 1, registration-to-meeting rate.
type MeetingRate struct {
	// MeetingWithinDays is the policy's hold_window.meeting_within_days.
	MeetingWithinDays int `json:"meeting_within_days"`
	MeetingCounts
	Groups []MeetingGroup `json:"groups,omitempty"`
}

// MeetingGroup is metric 1 for one group.
type MeetingGroup struct {
	Group
	MeetingCounts
}

// ApprovalCounts is metric 2 over one population of registrations submitted
// in the period. Every registration is in exactly one of Approved, Declined,
// Pending, Withdrawn and Other.
type ApprovalCounts struct {
	// Submitted: every registration submitted in the period.
	Submitted int `json:"submitted"`
	// Approved: ever approved — approved_at set, or a status only an
	// approval leads to (approved, meeting_booked, converted, won, lost,
	// expired).
	Approved int `json:"approved"`
	// Declined: status declined, never approved.
	Declined int `json:"declined"`
	// Pending: submitted, in_review, needs_info or appealed, never approved.
	Pending int `json:"pending"`
	// Withdrawn: withdrawn before any approval.
	Withdrawn int `json:"withdrawn"`
	// Other: a blank or unknown status.
	Other int `json:"other"`
	// Rate = Approved / (Approved + Declined).
	Rate Figure `json:"rate"`
}

// ApprovalRate is metric 2, approval rate, always by partner and by segment.
type ApprovalRate struct {
	ApprovalCounts
	ByPartner []ApprovalGroup `json:"by_partner"`
	BySegment []ApprovalGroup `json:"by_segment"`
	Groups    []ApprovalGroup `json:"groups,omitempty"`
}

// ApprovalGroup is metric 2 for one group.
type ApprovalGroup struct {
	Group
	ApprovalCounts
}

// ConflictCounts is metric 3 over one population of registrations submitted
// in the period, by their current status and status_reason. A registration
// is counted at most once.
type ConflictCounts struct {
	// Avoided = ConflictProtected + ConflictLost + ConflictPending.
	Avoided int `json:"avoided"`
	// ConflictProtected, ConflictLost: status_reason conflict_protected or
	// conflict_lost (declined by the rules: a second partner kept off a
	// protected company).
	ConflictProtected int `json:"conflict_protected"`
	ConflictLost      int `json:"conflict_lost"`
	// ConflictPending: in_review conflict_pending, not yet past its SLA.
	ConflictPending int `json:"conflict_pending"`
	// Unresolved = Appealed + InReviewPastSLA.
	Unresolved int `json:"unresolved"`
	// Appealed: status appealed.
	Appealed int `json:"appealed"`
	// InReviewPastSLA: in_review with a conflict reason (conflict_pending,
	// possible_duplicate or existing_deal) whose sla_due (or, when blank,
	// submitted_at + the SLA) has passed; split by reason below.
	InReviewPastSLA          int `json:"in_review_past_sla"`
	PastSLAConflictPending   int `json:"past_sla_conflict_pending"`
	PastSLAPossibleDuplicate int `json:"past_sla_possible_duplicate"`
	PastSLAExistingDeal      int `json:"past_sla_existing_deal"`
}

// Conflicts is metric 3, conflicts avoided vs unresolved disputes.
type Conflicts struct {
	ConflictCounts
	Groups []ConflictGroup `json:"groups,omitempty"`
}

// ConflictGroup is metric 3 for one group.
type ConflictGroup struct {
	Group
	ConflictCounts
}

// WinCounts is metric 4 over the approved registrations (as in
// ApprovalCounts) submitted in the period and their associated deals: the
// deals whose registration ids name one of them, and the deal each names in
// deal_id. A deal associated with several of them counts once.
type WinCounts struct {
	// ApprovedRegistrations: approved registrations submitted in the period.
	ApprovedRegistrations int `json:"approved_registrations"`
	// WithDeals: those with at least one associated deal.
	WithDeals int `json:"with_deals"`
	// Deals = Open + Won + Lost.
	Deals int `json:"deals"`
	Open  int `json:"open"`
	Won   int `json:"won"`
	Lost  int `json:"lost"`
	// Rate = Won / (Won + Lost).
	Rate Figure `json:"rate"`
	// SalesVolume: the sum of the won deals' amounts; OpenPipeline: of the
	// open deals' amounts (CRM currency, rounded to cents).
	SalesVolume  float64 `json:"sales_volume"`
	OpenPipeline float64 `json:"open_pipeline"`
}

// WinRate is metric 4, win rate and sales volume on approved registrations.
type WinRate struct {
	WinCounts
	Groups []WinGroup `json:"groups,omitempty"`
}

// WinGroup is metric 4 for one group.
type WinGroup struct {
	Group
	WinCounts
}

// Stats summarises durations: how many, their median and their 90th
// percentile (linear interpolation between closest ranks: for n sorted
// values x₀…xₙ₋₁, the p-quantile is x⌊h⌋ + (h − ⌊h⌋)(x⌊h⌋₊₁ − x⌊h⌋) with
// h = (n − 1)p — Excel's PERCENTILE.INC), rounded to 2 decimals.
type Stats struct {
	Count  int    `json:"count"`
	Median Figure `json:"median"`
	P90    Figure `json:"p90"`
	// Invalid counts pairs of instants in the wrong order (a response
	// before the submission), left out.
	Invalid int `json:"invalid,omitempty"`
}

// FirstResponse is time to first response.
type FirstResponse struct {
	Stats
	// WithinSLA: responses at or before submitted_at + the SLA
	// (rules.Policy.SLADue); WithinSLARate = WithinSLA / Count.
	WithinSLA     int    `json:"within_sla"`
	WithinSLARate Figure `json:"within_sla_rate"`
}

// ResponseCounts is metric 5 over one population of registrations submitted
// in the period, in business days of the SLA calendar (rules.Policy.BusinessDays).
type ResponseCounts struct {
	// FirstResponse: first_response_at − submitted_at, where both are set.
	FirstResponse FirstResponse `json:"first_response"`
	// Approval: approved_at − submitted_at, where both are set.
	Approval Stats `json:"approval"`
}

// ResponseTimes is metric 5, time to first response and time to approval.
type ResponseTimes struct {
	// Unit is always "business_days".
	Unit string `json:"unit"`
	ResponseCounts
	Groups []ResponseGroup `json:"groups,omitempty"`
}

// ResponseGroup is metric 5 for one group.
type ResponseGroup struct {
	Group
	ResponseCounts
}

// WindowCounts is metric 6 over one population: every registration, whenever
// submitted, approved or meeting_booked with hold_until after now.
type WindowCounts struct {
	Active int `json:"active"`
	// ExpiringSoon: of those, hold_until ≤ now + ExpiringWithinDays.
	ExpiringSoon int `json:"expiring_soon"`
}

// ActiveWindows is metric 6, active protection windows, always by region and
// by product. It is a snapshot at AsOf, not filtered by the period. A
// registration interested in several products (product_interest "a;b")
// counts once in each product's row.
type ActiveWindows struct {
	AsOf               time.Time `json:"as_of"`
	ExpiringWithinDays int       `json:"expiring_within_days"`
	WindowCounts
	ByRegion  []WindowGroup `json:"by_region"`
	ByProduct []WindowGroup `json:"by_product"`
	Groups    []WindowGroup `json:"groups,omitempty"`
}

// WindowGroup is metric 6 for one group.
type WindowGroup struct {
	Group
	WindowCounts
}

// AttributionCounts is metric 7 over the won deals whose close date is in
// the period. A won deal's registration is the approved registration
// associated with it (as in WinCounts) whose partner matches the deal's
// partner stamp, else the earliest approved of them.
type AttributionCounts struct {
	// WonDeals = Matched + Missing + Mismatched: won deals with an approved
	// registration.
	WonDeals int `json:"won_deals"`
	// Matched: the deal's partner stamp is the registration's partner_id.
	Matched int `json:"matched"`
	// Missing: the deal carries no partner stamp.
	Missing int `json:"missing"`
	// Mismatched: the stamp names another partner.
	Mismatched int `json:"mismatched"`
	// Accuracy = Matched / WonDeals.
	Accuracy Figure `json:"accuracy"`
	// WithoutRegistration: won deals stamped with a partner but with no
	// approved registration (a commission nobody registered).
	WithoutRegistration int `json:"without_registration"`
	// CycleDays: calendar days (fractional) from the deal's close date to
	// its registration's attributed_at, over WonDeals whose registration
	// has attributed_at; an attribution before the close counts 0.
	CycleDays Stats `json:"cycle_days"`
	// NotAttributed: WonDeals whose registration has no attributed_at.
	NotAttributed int `json:"not_attributed"`
}

// Attribution is metric 7, commission accuracy and cycle time.
type Attribution struct {
	AttributionCounts
	Groups []AttributionGroup `json:"groups,omitempty"`
}

// AttributionGroup is metric 7 for one group.
type AttributionGroup struct {
	Group
	AttributionCounts
}

func nan() float64 { return math.NaN() }
