package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// Company, Deal and Facts are the CRM's side of a decision; they live in
// package registration so that connectors can gather them without knowing
// the rules.
type (
	Company = registration.Company
	Deal    = registration.Deal
	Facts   = registration.Facts
)

// Check is one line of a decision's trace.
type Check struct {
	Name   string `json:"check"`
	Result string `json:"result"` // pass, fail, skip or info
	Detail string `json:"detail,omitempty"`
}

// Trace results.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
	Info = "info"
)

// Decision is what the rules decided for one registration.
type Decision struct {
	Status registration.Status `json:"status"`
	// Reason is a stable reason code (see Reasons).
	Reason string `json:"reason"`
	// Message is safe to show the partner: it never names a rival partner or
	// an internal account owner.
	Message      string    `json:"message"`
	Missing      []string  `json:"missing,omitempty"`
	HoldUntil    time.Time `json:"hold_until,omitzero"`
	MeetingDue   time.Time `json:"meeting_due,omitzero"`
	SLADue       time.Time `json:"sla_due,omitzero"`
	Owner        string    `json:"owner,omitempty"`
	Territory    string    `json:"territory,omitempty"`
	ConflictWith string    `json:"conflict_with,omitempty"`
	// Escalate is set by Sweep when a waiting registration missed its SLA.
	Escalate bool `json:"escalate,omitempty"`
	// Changed is false when OnMeeting or Sweep leave the record's status and
	// dates as they are (Escalate may still be set).
	Changed bool    `json:"changed"`
	Trace   []Check `json:"trace"`
}

type decider struct {
	p   *Policy
	r   *registration.Record
	f   Facts
	now time.Time
	d   Decision
	// The trace so far: each check's name and result, and its detail as a
	// span of the trace's text (see trace). The text is written to text
	// while it fits, then to long. Arrays, not slices of local arrays: a
	// slice stored through x would move the decider, and the Facts it holds,
	// to the heap.
	n     int
	names [maxChecks]string
	res   [maxChecks]string
	spans [maxChecks][2]int
	text  [768]byte
	ntext int
	long  []byte
}

// maxChecks bounds the checks one decision traces: Decide runs at most 12.
const maxChecks = 16

// trace records a check. Its detail is the concatenation of parts, written
// into a buffer shared by the whole trace, on the stack while it fits; the
// decision allocates its trace text once (see decide).
func (x *decider) trace(name, result string, parts ...string) {
	start := x.textLen()
	for _, s := range parts {
		if x.long == nil && len(s) <= len(x.text)-x.ntext {
			x.ntext += copy(x.text[x.ntext:], s)
			continue
		}
		if x.long == nil {
			x.long = append(make([]byte, 0, 2*len(x.text)+len(s)), x.text[:x.ntext]...)
		}
		x.long = append(x.long, s...)
	}
	x.names[x.n], x.res[x.n] = name, result
	x.spans[x.n] = [2]int{start, x.textLen()}
	x.n++
}

func (x *decider) textLen() int {
	if x.long != nil {
		return len(x.long)
	}
	return x.ntext
}

func (x *decider) decide(status registration.Status, reason, message string) Decision {
	var text string
	if x.long != nil {
		text = string(x.long)
	} else {
		text = string(x.text[:x.ntext])
	}
	x.d.Trace = make([]Check, x.n)
	for i := range x.d.Trace {
		sp := x.spans[i]
		x.d.Trace[i] = Check{Name: x.names[i], Result: x.res[i], Detail: text[sp[0]:sp[1]]}
	}
	x.d.Status, x.d.Reason, x.d.Message = status, reason, message
	x.d.Changed = status != x.r.Status || reason != x.r.StatusReason
	return x.d
}

// Decide applies the policy to a registration. It runs the checks in order;
// the first that fails decides. Every check run is recorded in the trace.
func Decide(p *Policy, r *registration.Record, f Facts, now time.Time) Decision {
	now = now.UTC()
	x := &decider{p: p, r: r, f: f, now: now}
	x.d.SLADue = p.SLADue(waitingSince(r, now))
	if r.Status == registration.StatusInReview && !r.SLADue.IsZero() {
		x.d.SLADue = r.SLADue.UTC()
	}
	if i := p.territory(r.Country, r.Region); i >= 0 {
		t := &p.Rules.Territories[i]
		x.d.Owner, x.d.Territory = t.Owner, t.Name
	}

	// Parse the domain and addresses once; several checks use them.
	var in parsed
	in.host, in.hostErr = r.CompanyHost()
	in.contactErr = emailErr(r.ContactEmail)
	in.partnerDomain = registration.EmailDomain(r.PartnerEmail)

	// 1. Required fields.
	for _, fld := range p.required {
		if in.missing(fld, r) {
			x.d.Missing = append(x.d.Missing, fld.Name)
		}
	}
	if len(x.d.Missing) > 0 {
		x.trace("required", Fail, "missing or invalid: ", strings.Join(x.d.Missing, ", "))
		return x.decide(registration.StatusNeedsInfo, ReasonMissingFields, msgMissing(x.d.Missing))
	}
	x.trace("required", Pass, strconv.Itoa(len(p.required)), " required fields present")

	// 2. Partner known and active.
	partner, ok := p.partners[r.PartnerID]
	if !ok {
		x.trace("partner", Fail, "no partner with id ", `"`, r.PartnerID, `"`)
		return x.decide(registration.StatusDeclined, ReasonUnknownPartner, messages[ReasonUnknownPartner])
	}
	if !partner.IsActive() {
		x.trace("partner", Fail, "partner ", partner.ID, " is inactive")
		return x.decide(registration.StatusDeclined, ReasonPartnerInactive, messages[ReasonPartnerInactive])
	}
	x.trace("partner", Pass, partner.ID, " is an active partner")

	// 3. The submitter belongs to the partner.
	sender := in.partnerDomain
	if !domainIn(sender, p.partnerDoms[partner.ID]) {
		x.trace("submitter", Fail, "partner_email domain ", `"`, sender, `"`, " is not one of the partner's email_domains")
		return x.decide(registration.StatusDeclined, ReasonSubmitterNotPartner, messages[ReasonSubmitterNotPartner])
	}
	x.trace("submitter", Pass, "partner_email domain ", sender, " belongs to ", partner.ID)

	// 4. The company domain is not a free-mail provider.
	host := in.host
	if p.freeMail.IsFreeHost(host) {
		x.trace("free_email", Fail, host, " is a free-mail domain")
		x.d.Missing = []string{registration.FieldCompanyDomain}
		return x.decide(registration.StatusNeedsInfo, ReasonFreeEmailDomain, messages[ReasonFreeEmailDomain])
	}
	x.trace("free_email", Pass, host, " is not a free-mail domain")

	// 5. Not a blocked account (the domain or any parent of it).
	if b := p.blockedBy(host); b != "" {
		x.trace("blocked", Fail, host, " is blocked by ", b)
		msg := p.Rules.Blocked.Reason
		if strings.TrimSpace(msg) == "" {
			msg = messages[ReasonBlockedAccount]
		}
		return x.decide(registration.StatusDeclined, ReasonBlockedAccount, msg)
	}
	x.trace("blocked", Pass, host, " is not blocked")

	key := r.DomainKey
	if key == "" {
		key = domainKey(r.CompanyDomain)
	}
	name := r.NameKey
	if name == "" {
		name = registration.CompanyKey(r.CompanyName)
	}
	s := x.scan(key, name)

	// 6. Not a duplicate of the partner's own earlier registration.
	if s.duplicate != nil {
		x.trace("duplicate", Fail, "same partner registered ", key, " as ", s.duplicate.CaseNumber, " (", string(s.duplicate.Status), ")")
		x.d.ConflictWith = s.duplicate.CaseNumber
		return x.decide(registration.StatusDeclined, ReasonDuplicate, msgDuplicate(s.duplicate.CaseNumber))
	}
	x.trace("duplicate", Pass, "no earlier active registration of ", partner.ID, " on ", key)

	// 7. No open deal on the company that this partner did not source.
	if deal := x.foreignDeal(); deal != nil {
		x.trace("existing_deal", Fail, existingDealPrefix, deal.ID, existingDealSuffix, partner.ID)
		if p.Rules.ExistingDeal == ExistingDealReview {
			return x.decide(registration.StatusInReview, ReasonExistingDeal, messages[ReasonExistingDeal+"/review"])
		}
		return x.decide(registration.StatusDeclined, ReasonExistingDeal, messages[ReasonExistingDeal])
	}
	x.trace("existing_deal", Pass, strconv.Itoa(len(f.OpenDeals)), " open deals, none held by someone else")

	// 8. Other partners on the same registrable domain.
	switch {
	case s.protector != nil:
		x.trace("conflict", Fail, s.protector.CaseNumber, " (", string(s.protector.Status), ") protects ", key, " until ", fmtTime(s.protector.HoldUntil))
		x.d.ConflictWith = s.protector.CaseNumber
		return x.decide(registration.StatusDeclined, ReasonConflictProtected, messages[ReasonConflictProtected])
	case s.pending != nil:
		x.trace("conflict", Fail, "earlier registration ", s.pending.CaseNumber, " (", string(s.pending.Status), ") on ", key, " is still pending")
		x.d.ConflictWith = s.pending.CaseNumber
		return x.decide(registration.StatusInReview, ReasonConflictPending, messages[ReasonConflictPending])
	case len(s.racing) > 0:
		x.d.ConflictWith = strings.Join(s.racing, ",")
		x.trace("conflict", Info, "racing ", x.d.ConflictWith, " for the first meeting (", p.Rules.Conflict.Policy, ")")
	default:
		x.trace("conflict", Pass, "no other partner holds or awaits ", key, " (", p.Rules.Conflict.Policy, ")")
	}

	// 9. Same company under another domain: a human looks.
	if s.sameName != nil {
		x.trace("possible_duplicate", Fail, "company name matches ", s.sameName.CaseNumber, " on another domain (", s.sameName.CompanyDomain, ")")
		x.d.ConflictWith = s.sameName.CaseNumber
		return x.decide(registration.StatusInReview, ReasonPossibleDuplicate, messages[ReasonPossibleDuplicate])
	}
	x.trace("possible_duplicate", Pass, "no other partner's active registration named ", `"`, name, `"`)

	// 10. Partner cap.
	if limit := p.Rules.Caps.ActivePerPartner; limit > 0 {
		if f.PartnerActive >= limit {
			x.trace("cap", Fail, partner.ID, " holds ", strconv.Itoa(f.PartnerActive), " active registrations, cap ", strconv.Itoa(limit))
			return x.decide(registration.StatusDeclined, ReasonPartnerCapReached, msgCap(limit))
		}
		x.trace("cap", Pass, partner.ID, " holds ", strconv.Itoa(f.PartnerActive), " of ", strconv.Itoa(limit))
	} else {
		x.trace("cap", Skip, "no cap configured")
	}

	// 11. Territory.
	switch {
	case len(p.Rules.Territories) == 0:
		x.trace("territory", Skip, "no territories configured")
	case x.d.Territory != "":
		x.trace("territory", Pass, "territory ", x.d.Territory, ", owner ", x.d.Owner)
	case p.Rules.Unassigned == UnassignedApprove:
		x.trace("territory", Info, "no territory matches country ", `"`, r.Country, `"`, " / region ", `"`, r.Region, `"`, "; unassigned: approve")
	default:
		x.trace("territory", Fail, "no territory matches country ", `"`, r.Country, `"`, " / region ", `"`, r.Region, `"`)
		return x.decide(registration.StatusInReview, ReasonNoTerritory, messages[ReasonNoTerritory])
	}

	// 12. Approved.
	hold := p.HoldDays(partner.Tier)
	x.d.HoldUntil = days(now, hold)
	x.d.MeetingDue = days(now, p.Rules.HoldWindow.MeetingWithinDays)
	x.trace("approve", Pass, "hold ", strconv.Itoa(hold), " days (tier ", `"`, partner.Tier, `"`, "), first meeting within ", strconv.Itoa(p.Rules.HoldWindow.MeetingWithinDays), " days")
	return x.decide(registration.StatusApproved, ReasonApproved, msgApproved(x.d.HoldUntil, x.d.MeetingDue))
}

// waitingSince is the instant the record entered its waiting status: its
// submission for a new registration, now for a resubmission or an appeal.
func waitingSince(r *registration.Record, now time.Time) time.Time {
	if r.DecidedAt.IsZero() && !r.SubmittedAt.IsZero() {
		return r.SubmittedAt
	}
	return now
}

// parsed holds the registration's domain and addresses, parsed once.
type parsed struct {
	host          string
	hostErr       error
	contactErr    error
	partnerDomain string
}

func emailErr(s string) error {
	_, err := registration.ParseEmail(s)
	return err
}

// missing reports whether a required field is blank — or, for domain and
// e-mail fields, present but unusable.
func (in *parsed) missing(f registration.Field, r *registration.Record) bool {
	if f.IsZero(r) {
		return true
	}
	switch f.Name {
	case registration.FieldConsent:
		return !r.Consent
	case registration.FieldCompanyDomain:
		return in.hostErr != nil
	case registration.FieldContactEmail:
		return in.contactErr != nil
	case registration.FieldPartnerEmail:
		return in.partnerDomain == ""
	}
	return false
}

func domainKey(domain string) string {
	d, err := registration.NormalizeDomain(domain)
	if err != nil {
		return ""
	}
	k, err := registration.RegistrableDomain(d)
	if err != nil {
		return ""
	}
	return k
}

// domainIn reports whether d is one of the domains or a sub-domain of one.
func domainIn(d string, domains []string) bool {
	if d == "" {
		return false
	}
	for _, x := range domains {
		if d == x || (len(d) > len(x) && strings.HasSuffix(d, x) && d[len(d)-len(x)-1] == '.') {
			return true
		}
	}
	return false
}

// blockedBy returns the blocked entry covering host (itself or a parent).
func (p *Policy) blockedBy(host string) string {
	if len(p.blocked) == 0 || host == "" {
		return ""
	}
	for d := host; ; {
		if p.blocked[d] {
			return d
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return ""
		}
		d = d[i+1:]
	}
}

func (x *decider) foreignDeal() *Deal {
	for i := range x.f.OpenDeals {
		d := &x.f.OpenDeals[i]
		if (x.r.DealID != "" && d.ID == x.r.DealID) || (d.PartnerID != "" && d.PartnerID == x.r.PartnerID) {
			continue
		}
		return d
	}
	return nil
}

// scanResult is what one pass over the other registrations found.
type scanResult struct {
	duplicate *registration.Record // same partner, same domain, earlier or protected
	protector *registration.Record // another partner's registration protecting the company
	pending   *registration.Record // another partner's earlier pending registration
	racing    []string             // first_meeting_wins: approved rivals racing for the first meeting
	sameName  *registration.Record // another partner's active registration, same name, other domain
}

// scan walks the other registrations once. Only earlier registrations (by
// submitted_at, ties by case number) count as duplicates or pending rivals;
// a protecting one counts whatever its age.
//
// A sieve passes over the rivals that cannot change the findings (most of
// them, as a rule: history, later submissions, lapsed approvals) in a tight
// loop of its own; the rest are examined here in full.
func (x *decider) scan(key, name string) scanResult {
	var s scanResult
	r, p, now := x.r, x.p, x.now
	mine := r.SubmittedAt
	if mine.IsZero() {
		mine = now
	}
	me := r.Place()
	me.At = mine
	earlier := func(o *registration.Record) bool { return o.Place().Before(me) }
	meetingWins := p.conflict == conflictFirstMeeting
	split := p.conflict == conflictSplit
	splitOn := p.Rules.Conflict.SplitOn
	regs := x.f.Registrations
	sv := newSieve(key, r.PartnerID, now, mine, meetingWins)
	for i := sv.next(regs, 0); i < len(regs); i = sv.next(regs, i+1) {
		o := &regs[i]
		c := classByCode[o.StatusCode()] // classify(o.Status)
		if c == clsClosed {
			continue // expired, declined, withdrawn, won and lost never conflict
		}
		if c == clsPending && o.Status == registration.StatusAppealed && !AppealHoldsLine(o) {
			continue // an appeal of any other decline waits for an AE, holding nobody back
		}
		ok := o.DomainKey
		if ok == "" && o.CompanyDomain != "" {
			ok = domainKey(o.CompanyDomain)
		}
		samePartner := o.PartnerID == r.PartnerID
		if key == "" || ok != key {
			// Another domain: only a possible duplicate by name, from
			// another partner's active registration.
			if samePartner || c == clsConverted || s.sameName != nil || name == "" {
				continue
			}
			on := o.NameKey
			if on == "" {
				on = registration.CompanyKey(o.CompanyName)
			}
			if on == name && !x.self(o) && (protects(c, o, false, now) || earlier(o)) {
				s.sameName = o
			}
			continue
		}
		if samePartner {
			if s.duplicate == nil && !x.self(o) && (protects(c, o, false, now) || earlier(o)) {
				s.duplicate = o
			}
			continue
		}
		if split {
			a, b := splitValue(r, splitOn), splitValue(o, splitOn)
			if a != "" && b != "" && !strings.EqualFold(a, b) {
				continue
			}
		}
		switch {
		case c == clsPending:
			if earlier(o) && !x.self(o) && (s.pending == nil || o.Place().Before(s.pending.Place())) {
				s.pending = o
			}
		case protects(c, o, meetingWins, now):
			if s.protector == nil && !x.self(o) {
				s.protector = o
			}
		case meetingWins && c == clsApproved && open(o.HoldUntil, now) && open(o.MeetingDue, now):
			if o.CaseNumber != "" && !x.self(o) {
				s.racing = append(s.racing, o.CaseNumber)
			}
		}
	}
	return s
}

// sieve passes over rivals that scan would examine without effect. It
// keeps what it needs in a few words, so that its loop runs in registers,
// and compares instants as Unix seconds: the clock methods of time.Time are
// not inlined.
type sieve struct {
	key, partner    string
	nowSec, mineSec int64
	nowNsec         int
	mineMono        bool
	meetingWins     bool
}

// newSieve prepares a sieve for the registration of partner on the
// registrable domain key, submitted at mine, decided at now (which carries
// no monotonic clock reading: Decide takes its UTC).
func newSieve(key, partner string, now, mine time.Time, meetingWins bool) sieve {
	return sieve{
		key: key, partner: partner,
		nowSec: now.Unix(), nowNsec: now.Nanosecond(), mineSec: mine.Unix(),
		// Round(0) strips a monotonic clock reading and nothing else.
		mineMono:    mine != mine.Round(0),
		meetingWins: meetingWins,
	}
}

// next returns the index of the first rival from i on that scan must
// examine, or len(regs). It passes over exactly these, for which scan would
// find nothing:
//   - a closed rival (expired, declined, withdrawn, won, lost): it never
//     conflicts;
//   - a pending rival submitted in a later second than the registration: a
//     pending registration never protects, so it counts only if earlier
//     (earlierThan is false: neither zero nor, with no monotonic reading on
//     mine, before or tied);
//   - an approved or meeting_booked rival of another partner on the same
//     registrable domain whose hold window has closed (hold_until not after
//     now; under first_meeting_wins, also set, for an unset one is open and
//     its approval may race): it neither protects nor races, and another
//     partner's registration on the same domain is neither a duplicate nor
//     a possible duplicate by name.
//
// Anything else, including every rival without a DomainKey, is left to scan.
func (sv *sieve) next(regs []registration.Record, i int) int {
	for ; i < len(regs); i++ {
		o := &regs[i]
		switch classByCode[o.StatusCode()] { // classify(o.Status)
		case clsClosed:
			continue
		case clsPending:
			if sec := o.SubmittedAt.Unix(); !sv.mineMono && sec > sv.mineSec && sec != zeroUnix {
				continue
			}
		case clsApproved, clsMeeting:
			if sv.key != "" && o.DomainKey != "" && o.DomainKey == sv.key && o.PartnerID != sv.partner {
				// A window that has ended (!o.HoldUntil.After(now)) — not
				// the zero time, a window not written yet, which is open.
				sec := o.HoldUntil.Unix()
				if sec != zeroUnix && (sec < sv.nowSec || sec == sv.nowSec && o.HoldUntil.Nanosecond() <= sv.nowNsec) {
					continue
				}
			}
		}
		return i
	}
	return i
}

// zeroUnix is the Unix time of the zero time.Time (a test checks it).
const zeroUnix = -62135596800

// self reports whether o is the registration being decided.
func (x *decider) self(o *registration.Record) bool {
	return (o.CaseNumber != "" && o.CaseNumber == x.r.CaseNumber) || (o.ID != "" && o.ID == x.r.ID)
}

// Status classes, as matching sees them.
const (
	clsClosed    = iota // expired, declined, withdrawn, won, lost: never conflict
	clsPending          // submitted, in_review, needs_info, appealed
	clsApproved         // approved
	clsMeeting          // meeting_booked
	clsConverted        // converted: its deal exists
)

// classByCode is classify of each status, by its registration.Status.Code;
// every code that is not a status (0, and the codes no status has) maps to
// clsClosed, as classify maps any text that is not a status.
var classByCode = func() (t [256]uint8) {
	for _, st := range registration.Statuses {
		t[st.Code()] = classify(st)
	}
	return t
}()

// classify maps a status to its class with a few integer compares.
func classify(s registration.Status) uint8 {
	switch len(s) {
	case 8:
		if s == registration.StatusApproved {
			return clsApproved
		}
		if s == registration.StatusAppealed {
			return clsPending
		}
	case 9:
		if s == registration.StatusSubmitted || s == registration.StatusInReview {
			return clsPending
		}
		if s == registration.StatusConverted {
			return clsConverted
		}
	case 10:
		if s == registration.StatusNeedsInfo {
			return clsPending
		}
	case 14:
		if s == registration.StatusMeetingBooked {
			return clsMeeting
		}
	}
	return clsClosed
}

// protects reports whether o, of status class c, holds the company against
// newcomers: converted always; meeting_booked while its window is open;
// approved while its window is open — under first_meeting_wins only once its
// first meeting is logged. A window not set yet is open: an AE approved the
// registration by hand and regsync has not written its window yet.
func protects(c uint8, o *registration.Record, meetingWins bool, now time.Time) bool {
	switch c {
	case clsApproved:
		if meetingWins && (o.FirstMeetingAt.IsZero() || o.FirstMeetingAt.After(now)) {
			return false
		}
		return open(o.HoldUntil, now)
	case clsMeeting:
		return open(o.HoldUntil, now)
	case clsConverted:
		return true
	}
	return false
}

// open reports whether a deadline is unset or still ahead.
func open(deadline, now time.Time) bool { return deadline.IsZero() || deadline.After(now) }

func splitValue(r *registration.Record, on string) string {
	if on == registration.FieldProductInterest {
		return strings.TrimSpace(r.ProductInterest)
	}
	return strings.TrimSpace(r.Segment)
}

// AppealHoldsLine reports whether an appealed registration still holds its
// place in line against other partners: only the appeal of a conflict
// decision (conflict_protected, conflict_lost) does, since the partner
// contests who came first. Any other appeal waits for an AE without
// holding anyone back.
func AppealHoldsLine(r *registration.Record) bool {
	return r.DeclinedReason == ReasonConflictProtected || r.DeclinedReason == ReasonConflictLost
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unset)"
	}
	return t.UTC().Format(time.RFC3339)
}
