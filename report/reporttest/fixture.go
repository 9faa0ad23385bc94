// Package reporttest is the report fixture: 3 partners, 18 registrations
// and 11 deals whose seven metrics are computed by hand (in the comments),
// and checkers for each output format. The report package's tests use it; so
// do the tests that seed it into a fake CRM and run regsync report.
//
// The default rules apply (meeting_within_days 14; SLA 2 business days, US
// calendar, UTC — no US holiday falls in February or March 2026). The report
// runs as of Tuesday 31 March 2026 12:00 UTC (Now) over the period
// [1 March, 28 March 2026) (Since, Until) with --by partner.
// March 2026: Mon 2, 9, 16, 23, 30; Sat 7, 14, 21, 28.
//
// Registration "R-n" in the comments is the record with CRM id "n" (its case
// number is CaseNumber("n")); deals name their registrations by those ids —
// a fake CRM that assigns its own ids must map them.
package reporttest

import (
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// The fixture's instants.
var (
	Now   = ts("2026-03-31T12:00")
	Since = ts("2026-03-01T00:00")
	Until = ts("2026-03-28T00:00")
)

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// Partners are the program's partners.
var Partners = []rules.Partner{
	{ID: "northwind", Name: "Northwind Consulting", Tier: "gold", EmailDomains: []string{"northwind.example"}},
	{ID: "fabrikam", Name: "Fabrikam Partners", Tier: "silver", EmailDomains: []string{"fabrikam.example"}},
	{ID: "contoso", Name: "Contoso SI", Tier: "silver", EmailDomains: []string{"contoso.example"}},
}

// Policy is the fixture's policy: Partners and the default rules.
func Policy() (*rules.Policy, error) {
	return rules.NewPolicy(Partners, rules.DefaultRules())
}

// CaseNumber is the case number of the fixture's registration with CRM id id.
func CaseNumber(id string) string { return registration.CaseNumberFor("report-fixture-" + id) }

// Records returns the 18 registrations, Indexed, in the order listed below.
func Records() []registration.Record {
	out := make([]registration.Record, len(recs))
	for i, x := range recs {
		out[i] = x.record()
	}
	return out
}

// Deals returns the 11 deals.
func Deals() []registration.Deal {
	out := make([]registration.Deal, len(deals))
	for i, d := range deals {
		d.RegistrationIDs = append([]string(nil), d.RegistrationIDs...)
		out[i] = d
	}
	return out
}

// Figure is one hand-computed figure.
type Figure struct {
	Metric, By, Group, Figure, Value string
}

type rec struct {
	id, partner, segment, region, product string
	status                                registration.Status
	reason                                string
	submitted, firstResponse, approved    string
	meeting, hold, slaDue, attributed     string
	dealID                                string
}

func (x rec) record() registration.Record {
	at := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		return ts(s)
	}
	r := registration.Record{
		ID: x.id, CaseNumber: CaseNumber(x.id), SubmissionKey: "report-fixture-" + x.id, PartnerID: x.partner, Segment: x.segment, Region: x.region,
		ProductInterest: x.product, Status: x.status, StatusReason: x.reason,
		CompanyName: "Company " + x.id, CompanyDomain: "company" + x.id + ".example",
		SubmittedAt: at(x.submitted), FirstResponseAt: at(x.firstResponse), ApprovedAt: at(x.approved),
		DecidedAt: at(x.firstResponse), FirstMeetingAt: at(x.meeting), HoldUntil: at(x.hold),
		SLADue: at(x.slaDue), AttributedAt: at(x.attributed), DealID: x.dealID,
	}
	if !r.ApprovedAt.IsZero() {
		r.MeetingDue = r.ApprovedAt.Add(14 * 24 * time.Hour)
	}
	r.Index()
	return r
}

const (
	sApproved  = registration.StatusApproved
	sMeeting   = registration.StatusMeetingBooked
	sConverted = registration.StatusConverted
	sExpired   = registration.StatusExpired
	sDeclined  = registration.StatusDeclined
	sInReview  = registration.StatusInReview
	sAppealed  = registration.StatusAppealed
	sNeedsInfo = registration.StatusNeedsInfo
	sWithdrawn = registration.StatusWithdrawn
)

var recs = []rec{
	// In the period (submitted 1–27 March): R-1 …, R-18 = 15.
	//   first response (bd)  approval (bd)  meeting (deadline approved + 14 d)
	// R-1 Mon 10:00 → 16:00 = 0.25; approved 0.25; meeting 10 Mar ≤ 16 Mar 16:00: in time.
	{id: "1", partner: "northwind", segment: "SMB", region: "EMEA", product: "analytics", status: sMeeting, reason: "meeting_logged",
		submitted: "2026-03-02T10:00", firstResponse: "2026-03-02T16:00", approved: "2026-03-02T16:00",
		meeting: "2026-03-10T10:00", hold: "2026-04-09T10:00", attributed: "2026-03-21T12:00"},
	// R-2 Fri 10:00 → Mon 10:00 = 14/24 + 10/24 = 1.0; approved 1.0; no meeting, deadline 23 Mar passed.
	{id: "2", partner: "northwind", segment: "SMB", region: "EMEA", product: "analytics;platform", status: sExpired, reason: "no_meeting",
		submitted: "2026-03-06T10:00", firstResponse: "2026-03-09T10:00", approved: "2026-03-09T10:00", hold: "2026-05-08T00:00"},
	// R-3 Tue 09:00 → Wed 21:00 = 15/24 + 21/24 = 1.5; approved Thu 09:00 = 15/24 + 1 + 9/24 = 2.0;
	// meeting 25 Mar > deadline 19 Mar: late. Its deal D3 is linked by deal_id only.
	{id: "3", partner: "fabrikam", segment: "Enterprise", region: "NA", product: "platform", status: sConverted, reason: "deal_created",
		submitted: "2026-03-03T09:00", firstResponse: "2026-03-04T21:00", approved: "2026-03-05T09:00",
		meeting: "2026-03-25T09:00", attributed: "2026-03-20T12:00", dealID: "D3"},
	// R-4 Mon 12:00 → Tue 00:00 = 0.5; approved 0.5; no meeting, deadline 7 Apr ahead: awaiting.
	{id: "4", partner: "fabrikam", segment: "enterprise", region: "NA", status: sApproved, reason: "approved",
		submitted: "2026-03-23T12:00", firstResponse: "2026-03-24T00:00", approved: "2026-03-24T00:00", hold: "2026-05-22T00:00"},
	// R-5 Wed 12:00 → Thu 00:00 = 0.5; declined conflict_protected.
	{id: "5", partner: "contoso", segment: "SMB", region: "APAC", product: "analytics", status: sDeclined, reason: "conflict_protected",
		submitted: "2026-03-04T12:00", firstResponse: "2026-03-05T00:00"},
	// R-6 Thu 00:00 → Fri 00:00 = 1.0; approved 1.0, then declined conflict_lost; no meeting (deadline 20 Mar passed).
	{id: "6", partner: "contoso", region: "APAC", status: sDeclined, reason: "conflict_lost",
		submitted: "2026-03-05T00:00", firstResponse: "2026-03-06T00:00", approved: "2026-03-06T00:00", attributed: "2026-03-12T00:00"},
	// R-7 Mon 09:00 → 15:00 = 0.25; in_review conflict_pending, SLA due Wed 11 Mar 09:00: past.
	{id: "7", partner: "northwind", segment: "Mid-Market", region: "NA", product: "platform", status: sInReview, reason: "conflict_pending",
		submitted: "2026-03-09T09:00", firstResponse: "2026-03-09T15:00"},
	// R-8 submitted Fri 27 Mar 18:00, in_review conflict_pending, SLA due Tue 31 Mar 18:00 — after now
	// (12:00): within its SLA. No response recorded yet.
	{id: "8", partner: "fabrikam", segment: "SMB", region: "EMEA", status: sInReview, reason: "conflict_pending",
		submitted: "2026-03-27T18:00"},
	// R-9 Mon 09:00 → 09:00 = 0; in_review possible_duplicate, sla_due 18 Mar set: past.
	{id: "9", partner: "contoso", segment: "Enterprise", region: "NA", status: sInReview, reason: "possible_duplicate",
		submitted: "2026-03-16T09:00", firstResponse: "2026-03-16T09:00", slaDue: "2026-03-18T09:00"},
	// R-10 Tue 10:00 → Thu 10:00 = 14/24 + 1 + 10/24 = 2.0, exactly at the SLA due: within; appealed.
	{id: "10", partner: "northwind", segment: "SMB", region: "EMEA", status: sAppealed, reason: "appealed",
		submitted: "2026-03-10T10:00", firstResponse: "2026-03-12T10:00"},
	// R-11 Wed 10:00 → Fri 16:00 = 14/24 + 1 + 16/24 = 2.25, after the SLA due Fri 10:00: late.
	{id: "11", partner: "contoso", segment: "SMB", status: sNeedsInfo, reason: "missing_fields",
		submitted: "2026-03-11T10:00", firstResponse: "2026-03-13T16:00"},
	// R-12 Sat 10:00 → Mon 06:00 = 0 + 0 + 6/24 = 0.25 (SLA due Tue 17 Mar 10:00: within); withdrawn.
	{id: "12", partner: "fabrikam", segment: "SMB", region: "EMEA", status: sWithdrawn, reason: "withdrawn",
		submitted: "2026-03-14T10:00", firstResponse: "2026-03-16T06:00"},
	// R-13 Thu 10:00 → 10:00 = 0; declined duplicate (not a conflict).
	{id: "13", partner: "northwind", segment: "SMB", region: "EMEA", status: sDeclined, reason: "duplicate",
		submitted: "2026-03-12T10:00", firstResponse: "2026-03-12T10:00"},
	// R-17 blank status; its first response is before its submission: invalid, left out.
	{id: "17", partner: "contoso", submitted: "2026-03-20T10:00", firstResponse: "2026-03-19T10:00"},
	// R-18 Mon 08:00 → 14:00 = 0.25; in_review existing_deal, SLA due Wed 4 Mar 08:00: past.
	{id: "18", partner: "northwind", segment: "SMB", region: "NA", status: sInReview, reason: "existing_deal",
		submitted: "2026-03-02T08:00", firstResponse: "2026-03-02T14:00"},

	// Outside the period: only metric 6 (a snapshot) and metric 7 (by deal close date) see them.
	// R-14 submitted in February; window open until 20 Apr (not within 14 days of now: 14 Apr 12:00).
	{id: "14", partner: "northwind", segment: "SMB", region: "EMEA", product: "platform;Analytics", status: sMeeting, reason: "meeting_logged",
		submitted: "2026-02-20T10:00", firstResponse: "2026-02-20T12:00", approved: "2026-02-21T10:00",
		meeting: "2026-02-25T10:00", hold: "2026-04-20T00:00", attributed: "2026-03-16T06:00"},
	// R-15 submitted 29 Mar, after the period; window until 10 Apr: expiring soon.
	{id: "15", partner: "fabrikam", segment: "Enterprise", region: "NA", product: "analytics", status: sApproved, reason: "approved",
		submitted: "2026-03-29T10:00", firstResponse: "2026-03-30T10:00", approved: "2026-03-30T10:00", hold: "2026-04-10T00:00"},
	// R-16 no submitted_at (predates regsync): outside any bounded period; its window ended 30 Mar.
	{id: "16", partner: "northwind", segment: "SMB", region: "EMEA", status: sApproved, reason: "approved", hold: "2026-03-30T00:00"},
}

func deal(id, partner string, amount float64, closed, won bool, close string, regs ...string) registration.Deal {
	d := registration.Deal{ID: id, PartnerID: partner, Amount: amount, Closed: closed, Won: won, RegistrationIDs: regs}
	if close != "" {
		d.CloseDate = ts(close)
	}
	return d
}

var deals = []registration.Deal{
	deal("D1", "northwind", 10000, false, false, "2026-04-30T00:00", "1"),  // R-1, open
	deal("D8", "northwind", 4000, true, true, "2026-03-29T00:00", "1"),     // R-1, won after the period
	deal("D7", "fabrikam", 3000, true, true, "2026-03-18T00:00", "1"),      // R-1 (northwind) stamped fabrikam: mismatched
	deal("D2", "fabrikam", 8000, true, false, "2026-03-19T00:00", "3"),     // R-3, lost
	deal("D3", "fabrikam", 50000, true, true, "2026-03-26T00:00"),          // R-3 through its deal_id
	deal("D4a", "", 20000, true, true, "2026-03-27T00:00", "4"),            // R-4, no stamp: missing
	deal("D4b", "contoso", 5000, true, true, "2026-03-10T00:00", "4", "6"), // stamp contoso → R-6
	deal("D14", "northwind", 7000, true, true, "2026-03-15T00:00", "14"),   // R-14 (outside the period)
	deal("D99", "fabrikam", 9000, true, true, "2026-03-20T00:00"),          // stamped, no registration
	deal("D5", "contoso", 6000, true, true, "2026-03-22T00:00", "5"),       // R-5 was declined: no approved registration
	deal("D100", "", 12000, true, true, "2026-03-21T00:00"),                // a direct deal: ignored
}

// Figures are the fixture's figures, computed by hand, as a report with
// --by partner shows them. Each is addressed as in the CSV output (metric,
// by, group, figure); the value is as the CSV and the JSON write it ("n/a"
// is JSON null).
var Figures = []Figure{
	// 1. Approved in the period (approved_at set), R-6 = 5. In time: R-1. Late: R-3.
	// No meeting, deadline passed. Awaiting: R-4. Rate = 1 / (1 + 1 + 2) = 0.25.
	{"registration_to_meeting_rate", "", "all", "approved", "5"},
	{"registration_to_meeting_rate", "", "all", "met_in_time", "1"},
	{"registration_to_meeting_rate", "", "all", "met_late", "1"},
	{"registration_to_meeting_rate", "", "all", "no_meeting", "2"},
	{"registration_to_meeting_rate", "", "all", "awaiting", "1"},
	{"registration_to_meeting_rate", "", "all", "rate", "0.25"},
	// northwind: R-1 in time, R-2 none → 1/2. fabrikam: R-3 late, R-4 awaiting → 0/1.
	{"registration_to_meeting_rate", "partner", "northwind", "rate", "0.5"},
	{"registration_to_meeting_rate", "partner", "fabrikam", "rate", "0"},
	{"registration_to_meeting_rate", "partner", "fabrikam", "awaiting", "1"},

	// 2. 15 submitted. Approved (ever), R-6 = 5. Declined: R-5, R-13 = 2.
	// Pending: and R-10 (appealed) = 6. Withdrawn: R-12. Other: R-17 (blank).
	// Rate = 5 / 7 = 0.714285… → 0.7143.
	{"approval_rate", "", "all", "submitted", "15"},
	{"approval_rate", "", "all", "approved", "5"},
	{"approval_rate", "", "all", "declined", "2"},
	{"approval_rate", "", "all", "pending", "6"},
	{"approval_rate", "", "all", "withdrawn", "1"},
	{"approval_rate", "", "all", "other", "1"},
	{"approval_rate", "", "all", "rate", "0.7143"},
	// northwind: approved; R-13 declined; pending → 2/3 = 0.6667.
	{"approval_rate", "partner", "northwind", "submitted", "6"},
	{"approval_rate", "partner", "northwind", "rate", "0.6667"},
	// fabrikam: approved; R-8 pending; R-12 withdrawn → 2/2 = 1.
	{"approval_rate", "partner", "fabrikam", "submitted", "4"},
	{"approval_rate", "partner", "fabrikam", "rate", "1"},
	// contoso: R-6 approved; R-5 declined; pending; R-17 other → 1/2.
	{"approval_rate", "partner", "contoso", "submitted", "5"},
	{"approval_rate", "partner", "contoso", "other", "1"},
	{"approval_rate", "partner", "contoso", "rate", "0.5"},
	// Segments, case-insensitive ("Enterprise" and "enterprise" are one row, labelled "Enterprise").
	// Enterprise: approved, R-9 pending → 1. Mid-Market: R-7 pending → n/a.
	// SMB: approved; declined; pending; R-12 withdrawn → 2/4.
	// (none): R-6 approved, R-17 other → 1.
	{"approval_rate", "segment", "Enterprise", "submitted", "3"},
	{"approval_rate", "segment", "Enterprise", "rate", "1"},
	{"approval_rate", "segment", "Mid-Market", "rate", "n/a"},
	{"approval_rate", "segment", "SMB", "submitted", "9"},
	{"approval_rate", "segment", "SMB", "rate", "0.5"},
	{"approval_rate", "segment", "(none)", "submitted", "2"},
	{"approval_rate", "segment", "(none)", "rate", "1"},

	// 3. Avoided: R-5 conflict_protected, R-6 conflict_lost, R-8 conflict_pending within SLA = 3.
	// Unresolved: R-10 appealed; past SLA: R-7 conflict_pending, R-9 possible_duplicate,
	// R-18 existing_deal = 3 → 4. R-13 (duplicate) is neither.
	{"conflicts", "", "all", "avoided", "3"},
	{"conflicts", "", "all", "conflict_protected", "1"},
	{"conflicts", "", "all", "conflict_lost", "1"},
	{"conflicts", "", "all", "conflict_pending", "1"},
	{"conflicts", "", "all", "unresolved", "4"},
	{"conflicts", "", "all", "appealed", "1"},
	{"conflicts", "", "all", "in_review_past_sla", "3"},
	{"conflicts", "", "all", "past_sla_conflict_pending", "1"},
	{"conflicts", "", "all", "past_sla_possible_duplicate", "1"},
	{"conflicts", "", "all", "past_sla_existing_deal", "1"},
	{"conflicts", "partner", "northwind", "unresolved", "3"},
	{"conflicts", "partner", "contoso", "avoided", "2"},

	// 4. Approved registrations in the period, R-6 = 5; with deals: all but R-2 = 4.
	// Their deals: D1 (open 10,000), D8 (won 4,000), D7 (won 3,000), D2 (lost), D3 (won 50,000),
	// D4a (won 20,000), D4b (won 5,000, once though on) = 7; D14 is R-14's (not in the period).
	// Rate = 5 / (5 + 1) = 0.8333; volume = 4,000 + 3,000 + 50,000 + 20,000 + 5,000 = 82,000.
	{"win_rate", "", "all", "approved_registrations", "5"},
	{"win_rate", "", "all", "with_deals", "4"},
	{"win_rate", "", "all", "deals", "7"},
	{"win_rate", "", "all", "open", "1"},
	{"win_rate", "", "all", "won", "5"},
	{"win_rate", "", "all", "lost", "1"},
	{"win_rate", "", "all", "rate", "0.8333"},
	{"win_rate", "", "all", "sales_volume", "82000"},
	{"win_rate", "", "all", "open_pipeline", "10000"},
	// fabrikam: R-3 (D3 won, D2 lost), R-4 (D4a, D4b won) → 3 / 4 = 0.75, volume 75,000.
	{"win_rate", "partner", "fabrikam", "deals", "4"},
	{"win_rate", "partner", "fabrikam", "rate", "0.75"},
	{"win_rate", "partner", "fabrikam", "sales_volume", "75000"},
	// contoso: R-6 (D4b) → 1 / 1, volume 5,000. northwind: R-1 (D1 open, D8, D7 won), R-2 none.
	{"win_rate", "partner", "contoso", "sales_volume", "5000"},
	{"win_rate", "partner", "northwind", "with_deals", "1"},
	{"win_rate", "partner", "northwind", "sales_volume", "7000"},

	// 5. First responses (bd), sorted: R-9 0, R-13 0, R-1 .25, R-7 .25, R-12 .25, R-18 .25, R-4 .5, R-5 .5,
	// R-2 1, R-6 1, R-3 1.5, R-10 2, R-11 2.25 → 13. Median: h = 12 × .5 = 6 → 0.5.
	// P90: h = 12 × .9 = 10.8 → 1.5 + .8 × (2 − 1.5) = 1.9. Within SLA: all but R-11 = 12 → 0.9231.
	// R-17 (response before submission) is invalid.
	{"response_times", "", "all", "first_response_count", "13"},
	{"response_times", "", "all", "first_response_median", "0.5"},
	{"response_times", "", "all", "first_response_p90", "1.9"},
	{"response_times", "", "all", "first_response_within_sla", "12"},
	{"response_times", "", "all", "first_response_within_sla_rate", "0.9231"},
	// Approvals: R-1 .25, R-4 .5, R-2 1, R-6 1, R-3 2 → median 1; p90: h = 3.6 → 1 + .6 × 1 = 1.6.
	{"response_times", "", "all", "approval_count", "5"},
	{"response_times", "", "all", "approval_median", "1"},
	{"response_times", "", "all", "approval_p90", "1.6"},
	// contoso: responses R-5 .5, R-6 1, R-9 0, R-11 2.25 → sorted 0, .5, 1, 2.25: median .75;
	// p90: h = 2.7 → 1 + .7 × 1.25 = 1.875 → 1.88. Approvals: R-6 1.
	{"response_times", "partner", "contoso", "first_response_median", "0.75"},
	{"response_times", "partner", "contoso", "first_response_p90", "1.88"},
	{"response_times", "partner", "contoso", "approval_median", "1"},
	// A partner with no approvals in the period has none: fabrikam has R-3, R-4 (2 and .5).
	{"response_times", "partner", "fabrikam", "approval_median", "1.25"},

	// 6. As of now, approved/meeting_booked with hold_until after now: R-1 (9 Apr, expiring: ≤ 14 Apr 12:00),
	// R-4 (22 May), R-14 (20 Apr), R-15 (10 Apr, expiring) = 4, 2 expiring. R-16 ended 30 Mar.
	{"active_windows", "", "all", "active", "4"},
	{"active_windows", "", "all", "expiring_soon", "2"},
	// Regions: EMEA R-1*, R-14; NA R-4, R-15*; APAC none.
	{"active_windows", "region", "EMEA", "active", "2"},
	{"active_windows", "region", "EMEA", "expiring_soon", "1"},
	{"active_windows", "region", "NA", "active", "2"},
	{"active_windows", "region", "NA", "expiring_soon", "1"},
	{"active_windows", "region", "APAC", "active", "0"},
	// Products (a multi-select counts in each): analytics R-1*, R-14, R-15* (labelled "Analytics", the
	// smallest spelling); platform R-14; (none) R-4.
	{"active_windows", "product", "Analytics", "active", "3"},
	{"active_windows", "product", "Analytics", "expiring_soon", "2"},
	{"active_windows", "product", "platform", "active", "1"},
	{"active_windows", "product", "(none)", "active", "1"},
	// --by partner: northwind R-1*, R-14; fabrikam R-4, R-15*; contoso none.
	{"active_windows", "partner", "northwind", "active", "2"},
	{"active_windows", "partner", "contoso", "active", "0"},

	// 7. Won deals closed in [1 Mar, 28 Mar): D7, D3, D4a, D4b, D14, D99, D5, D100 (D8 closed 29 Mar).
	// With an approved registration: D7 (R-1 northwind, stamp fabrikam: mismatched), D3 (R-3, matched),
	// D4a (R-4, no stamp: missing), D4b (R-6 contoso, matched), D14 (R-14, matched) = 5.
	// Accuracy = 3 / 5 = 0.6. Stamped without registration: D99, D5 (R-5 declined) = 2. D100 direct: ignored.
	// Cycle (days from close to attributed_at): D7 3.5 (18 Mar 00:00 → 21 Mar 12:00), D3 0 (attributed
	// 20 Mar, before the 26 Mar close), D4b 2 (10 → 12 Mar), D14 1.25 (15 Mar → 16 Mar 06:00); D4a's R-4
	// is not attributed. Sorted 0, 1.25, 2, 3.5: median h = 1.5 → 1.25 + .5 × .75 = 1.625 → 1.63;
	// p90 h = 2.7 → 2 + .7 × 1.5 = 3.05.
	{"attribution", "", "all", "won_deals", "5"},
	{"attribution", "", "all", "matched", "3"},
	{"attribution", "", "all", "missing", "1"},
	{"attribution", "", "all", "mismatched", "1"},
	{"attribution", "", "all", "accuracy", "0.6"},
	{"attribution", "", "all", "without_registration", "2"},
	{"attribution", "", "all", "cycle_days_count", "4"},
	{"attribution", "", "all", "cycle_days_median", "1.63"},
	{"attribution", "", "all", "cycle_days_p90", "3.05"},
	{"attribution", "", "all", "not_attributed", "1"},
	// northwind: D7 mismatched, D14 matched → 0.5. fabrikam: D3 matched, D4a missing → 0.5, plus D99.
	// contoso: D4b matched → 1, plus D5.
	{"attribution", "partner", "northwind", "accuracy", "0.5"},
	{"attribution", "partner", "fabrikam", "accuracy", "0.5"},
	{"attribution", "partner", "fabrikam", "without_registration", "1"},
	{"attribution", "partner", "contoso", "accuracy", "1"},
	{"attribution", "partner", "contoso", "without_registration", "1"},
}
