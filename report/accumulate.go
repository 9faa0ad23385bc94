package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// DefaultExpiringWithin is how far ahead a protection window counts as
// expiring soon (metric 6, the dashboard, the partner summaries).
const DefaultExpiringWithin = 14 * 24 * time.Hour

// Options select what a report covers.
type Options struct {
	// Since and Until bound the period, [Since, Until); zero leaves that
	// side open. Registrations are in the period by submitted_at (metrics
	// 1–5); won deals by their close date (metric 7). Metric 6 is a
	// snapshot at Now and ignores the period. With either bound set, a
	// record without the instant is outside the period.
	Since, Until time.Time
	// By adds a breakdown to every metric (the groups rows).
	By GroupBy
	// Now is the instant the report is "as of": outcomes (a meeting
	// deadline passed, an SLA missed, a window still open) are judged at it.
	// Required.
	Now time.Time
	// ExpiringWithin is metric 6's "expiring soon"; 0 means
	// DefaultExpiringWithin.
	ExpiringWithin time.Duration
}

// Accumulator computes a Report from registrations and deals read a page at
// a time, in any order: Add and AddDeals can be passed directly to
// connectors.CRM's All and AllDeals. It keeps counters, the durations the
// percentiles need, and a compact projection of the approved registrations
// and of the deals (for the joins of metrics 4 and 7) — never the records.
// A record or deal seen twice (same CRM id) counts once. An Accumulator is
// not safe for concurrent use.
type Accumulator struct {
	p        *rules.Policy
	opt      Options
	meetFor  time.Duration
	periodOn bool

	all   *cell
	cells [len(breakdowns)]map[string]*cell

	seenRegs  map[string]struct{}
	seenDeals map[string]struct{}
	regs      []regRef
	regByID   map[string]int
	regByDeal map[string][]int
	deals     []dealRef
	meta      Meta
	buf       []*cell
}

// cell holds the counters of one population: all registrations, or one
// group of a breakdown.
type cell struct {
	group     Group
	meeting   MeetingCounts
	approval  ApprovalCounts
	conflicts ConflictCounts
	windows   WindowCounts

	firstResp, approvalTimes     []float64
	firstInvalid, approvalInvald int
	withinSLA                    int
	approvedRegs                 int
}

// regRef is what metrics 4 and 7 need of an approved registration.
type regRef struct {
	partner      string
	caseNumber   string
	approvedAt   time.Time
	attributedAt time.Time
	cohort       bool
	hasDeal      bool
	cells        []*cell
}

// dealRef is what metrics 4 and 7 need of a deal.
type dealRef struct {
	id        string
	partner   string
	amount    float64
	closeDate time.Time
	closed    bool
	won       bool
	regIDs    []string
}

// New starts an accumulation. It fails on a nil policy, a zero Now, an
// unknown breakdown or an empty period.
func New(p *rules.Policy, opt Options) (*Accumulator, error) {
	var errs []error
	if p == nil {
		errs = append(errs, errors.New("report: no policy"))
	}
	if opt.Now.IsZero() {
		errs = append(errs, errors.New("report: Options.Now is required"))
	}
	if opt.By != ByNone && opt.By.index() < 0 {
		errs = append(errs, fmt.Errorf("report: unknown breakdown %q", opt.By))
	}
	if !opt.Since.IsZero() && !opt.Until.IsZero() && !opt.Until.After(opt.Since) {
		errs = append(errs, fmt.Errorf("report: --until (%s) is not after --since (%s)",
			opt.Until.UTC().Format(time.RFC3339), opt.Since.UTC().Format(time.RFC3339)))
	}
	if opt.ExpiringWithin < 0 {
		errs = append(errs, errors.New("report: ExpiringWithin is negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opt.ExpiringWithin == 0 {
		opt.ExpiringWithin = DefaultExpiringWithin
	}
	opt.Now = opt.Now.UTC()
	a := &Accumulator{
		p:         p,
		opt:       opt,
		meetFor:   time.Duration(p.Rules.HoldWindow.MeetingWithinDays) * 24 * time.Hour,
		periodOn:  !opt.Since.IsZero() || !opt.Until.IsZero(),
		all:       &cell{},
		seenRegs:  map[string]struct{}{},
		seenDeals: map[string]struct{}{},
		regByID:   map[string]int{},
		regByDeal: map[string][]int{},
	}
	for i := range a.cells {
		a.cells[i] = map[string]*cell{}
	}
	// Every partner of the program has a row, even without registrations:
	// a silent partner is news too.
	for _, pt := range p.Partners {
		a.cell(ByPartner, pt.ID)
	}
	a.meta = Meta{Since: opt.Since, Until: opt.Until, Now: opt.Now, By: opt.By}
	return a, nil
}

func (a *Accumulator) inPeriod(t time.Time) bool {
	if !a.periodOn {
		return true
	}
	if t.IsZero() {
		return false
	}
	return (a.opt.Since.IsZero() || !t.Before(a.opt.Since)) && (a.opt.Until.IsZero() || t.Before(a.opt.Until))
}

// cell returns the cell of a group, creating it. Partner ids are compared
// as written; segments, regions and products case-insensitively, labelled
// by the smallest spelling seen so the label never depends on read order.
func (a *Accumulator) cell(by GroupBy, value string) *cell {
	value = strings.TrimSpace(value)
	key := value
	if by != ByPartner {
		key = strings.ToLower(value)
	}
	m := a.cells[by.index()]
	c, ok := m[key]
	if !ok {
		c = &cell{group: Group{By: by, Group: value}}
		if by == ByPartner {
			if pt, ok := a.p.Partner(value); ok {
				c.group.Name = pt.Name
			}
		}
		m[key] = c
	} else if value < c.group.Group {
		c.group.Group = value
	}
	return c
}

// products splits a product_interest value: HubSpot and Salesforce write a
// multi-select as "a;b".
func products(v string) []string {
	if !strings.Contains(v, ";") {
		return []string{v}
	}
	var out []string
	for p := range strings.SplitSeq(v, ";") {
		p = strings.TrimSpace(p)
		if p == "" || slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, p) }) {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// cellsOf lists the cells a registration counts in: all, and its group in
// each breakdown (several products for a multi-select). The slice is reused.
func (a *Accumulator) cellsOf(r *registration.Record) []*cell {
	cs := append(a.buf[:0], a.all,
		a.cell(ByPartner, r.PartnerID), a.cell(BySegment, r.Segment), a.cell(ByRegion, r.Region))
	for _, p := range products(r.ProductInterest) {
		cs = append(cs, a.cell(ByProduct, p))
	}
	a.buf = cs
	return cs
}

// everApproved: approved_at set, or a status only an approval leads to.
func everApproved(r *registration.Record) bool {
	if !r.ApprovedAt.IsZero() {
		return true
	}
	switch r.Status {
	case registration.StatusApproved, registration.StatusMeetingBooked, registration.StatusConverted,
		registration.StatusWon, registration.StatusLost, registration.StatusExpired:
		return true
	}
	return false
}

// slaDue is the record's sla_due, or submitted_at + the SLA when blank.
func (a *Accumulator) slaDue(r *registration.Record) time.Time {
	if !r.SLADue.IsZero() {
		return r.SLADue
	}
	if r.SubmittedAt.IsZero() {
		return time.Time{}
	}
	return a.p.SLADue(r.SubmittedAt)
}

// Outcome classes of one registration, computed once and added to each of
// its cells.
const (
	meetNone = iota
	meetInTime
	meetLate
	meetMissed
	meetAwaiting
)

const (
	apOther = iota
	apApproved
	apDeclined
	apPending
	apWithdrawn
)

const (
	cfNone = iota
	cfProtected
	cfLost
	cfPending
	cfAppealed
	cfPastConflictPending
	cfPastPossibleDuplicate
	cfPastExistingDeal
)

// Add counts a page of registrations. It never fails; the error result lets
// it be passed to connectors.CRM.All.
func (a *Accumulator) Add(page []registration.Record) error {
	now := a.opt.Now
	soon := now.Add(a.opt.ExpiringWithin)
	for i := range page {
		r := &page[i]
		if r.ID != "" {
			if _, dup := a.seenRegs[r.ID]; dup {
				a.meta.DuplicatesSkipped++
				continue
			}
			a.seenRegs[r.ID] = struct{}{}
		}
		a.meta.Registrations++
		cells := a.cellsOf(r)

		// Metric 6: a snapshot, whatever the period.
		if r.Status.Protected() && r.HoldUntil.After(now) {
			expiring := !r.HoldUntil.After(soon)
			for _, c := range cells {
				c.windows.Active++
				if expiring {
					c.windows.ExpiringSoon++
				}
			}
		}

		cohort := a.inPeriod(r.SubmittedAt)
		approved := everApproved(r)
		if approved {
			a.addReg(r, cohort, cells)
		}
		if !cohort {
			continue
		}
		a.meta.InPeriod++

		// Metric 1.
		meet := meetNone
		if !r.ApprovedAt.IsZero() {
			deadline := r.ApprovedAt.Add(a.meetFor)
			switch {
			case !r.FirstMeetingAt.IsZero() && !r.FirstMeetingAt.After(deadline):
				meet = meetInTime
			case !r.FirstMeetingAt.IsZero():
				meet = meetLate
			case now.After(deadline):
				meet = meetMissed
			default:
				meet = meetAwaiting
			}
		}

		// Metric 2.
		ap := apOther
		switch {
		case approved:
			ap = apApproved
		case r.Status == registration.StatusDeclined:
			ap = apDeclined
		case r.Status.Pending():
			ap = apPending
		case r.Status == registration.StatusWithdrawn:
			ap = apWithdrawn
		}

		// Metric 3.
		cf := cfNone
		switch {
		case r.Status == registration.StatusAppealed:
			cf = cfAppealed
		case r.StatusReason == rules.ReasonConflictProtected:
			cf = cfProtected
		case r.StatusReason == rules.ReasonConflictLost:
			cf = cfLost
		case r.Status == registration.StatusInReview:
			past := false
			if due := a.slaDue(r); !due.IsZero() && now.After(due) {
				past = true
			}
			switch r.StatusReason {
			case rules.ReasonConflictPending:
				cf = cfPending
				if past {
					cf = cfPastConflictPending
				}
			case rules.ReasonPossibleDuplicate:
				if past {
					cf = cfPastPossibleDuplicate
				}
			case rules.ReasonExistingDeal:
				if past {
					cf = cfPastExistingDeal
				}
			}
		}

		// Metric 5.
		var first, appr float64
		firstOK, firstBad, apprOK, apprBad, inSLA := false, false, false, false, false
		if !r.SubmittedAt.IsZero() && !r.FirstResponseAt.IsZero() {
			if r.FirstResponseAt.Before(r.SubmittedAt) {
				firstBad = true
			} else {
				first, firstOK = a.p.BusinessDays(r.SubmittedAt, r.FirstResponseAt), true
				inSLA = !r.FirstResponseAt.After(a.p.SLADue(r.SubmittedAt))
			}
		}
		if !r.SubmittedAt.IsZero() && !r.ApprovedAt.IsZero() {
			if r.ApprovedAt.Before(r.SubmittedAt) {
				apprBad = true
			} else {
				appr, apprOK = a.p.BusinessDays(r.SubmittedAt, r.ApprovedAt), true
			}
		}

		for _, c := range cells {
			switch meet {
			case meetInTime:
				c.meeting.MetInTime++
			case meetLate:
				c.meeting.MetLate++
			case meetMissed:
				c.meeting.NoMeeting++
			case meetAwaiting:
				c.meeting.Awaiting++
			}
			if meet != meetNone {
				c.meeting.Approved++
			}

			c.approval.Submitted++
			switch ap {
			case apApproved:
				c.approval.Approved++
				c.approvedRegs++
			case apDeclined:
				c.approval.Declined++
			case apPending:
				c.approval.Pending++
			case apWithdrawn:
				c.approval.Withdrawn++
			default:
				c.approval.Other++
			}

			switch cf {
			case cfProtected:
				c.conflicts.ConflictProtected++
			case cfLost:
				c.conflicts.ConflictLost++
			case cfPending:
				c.conflicts.ConflictPending++
			case cfAppealed:
				c.conflicts.Appealed++
			case cfPastConflictPending:
				c.conflicts.PastSLAConflictPending++
			case cfPastPossibleDuplicate:
				c.conflicts.PastSLAPossibleDuplicate++
			case cfPastExistingDeal:
				c.conflicts.PastSLAExistingDeal++
			}

			if firstOK {
				c.firstResp = append(c.firstResp, first)
				if inSLA {
					c.withinSLA++
				}
			} else if firstBad {
				c.firstInvalid++
			}
			if apprOK {
				c.approvalTimes = append(c.approvalTimes, appr)
			} else if apprBad {
				c.approvalInvald++
			}
		}
	}
	return nil
}

func (a *Accumulator) addReg(r *registration.Record, cohort bool, cells []*cell) {
	idx := len(a.regs)
	a.regs = append(a.regs, regRef{
		partner:      strings.TrimSpace(r.PartnerID),
		caseNumber:   r.CaseNumber,
		approvedAt:   r.ApprovedAt,
		attributedAt: r.AttributedAt,
		cohort:       cohort,
		cells:        slices.Clone(cells),
	})
	if r.ID != "" {
		a.regByID[r.ID] = idx
	}
	if d := strings.TrimSpace(r.DealID); d != "" {
		a.regByDeal[d] = append(a.regByDeal[d], idx)
	}
}

// AddDeals records a page of deals for metrics 4 and 7. It never fails; the
// error result lets it be passed to connectors.CRM.AllDeals.
func (a *Accumulator) AddDeals(page []registration.Deal) error {
	for i := range page {
		d := &page[i]
		if d.ID != "" {
			if _, dup := a.seenDeals[d.ID]; dup {
				a.meta.DuplicatesSkipped++
				continue
			}
			a.seenDeals[d.ID] = struct{}{}
		}
		a.meta.Deals++
		a.deals = append(a.deals, dealRef{
			id:        d.ID,
			partner:   strings.TrimSpace(d.PartnerID),
			amount:    d.Amount,
			closeDate: d.CloseDate,
			closed:    d.Closed || d.Won,
			won:       d.Won,
			regIDs:    slices.Clone(d.RegistrationIDs),
		})
	}
	return nil
}

// associated lists the approved registrations (indexes into a.regs)
// associated with a deal, each once: those the deal names, and those naming
// the deal in deal_id.
func (a *Accumulator) associated(d *dealRef, out []int) []int {
	out = out[:0]
	for _, id := range d.regIDs {
		if i, ok := a.regByID[id]; ok && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	if d.id != "" {
		for _, i := range a.regByDeal[d.id] {
			if !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
	}
	return out
}

// attrAcc is metric 7's counters of one cell.
type attrAcc struct {
	AttributionCounts
	cycle        []float64
	cycleInvalid int
}

// Result computes the report from everything added so far. It may be called
// again after more pages are added.
func (a *Accumulator) Result() Report {
	win := map[*cell]*WinCounts{}
	attr := map[*cell]*attrAcc{}
	winOf := func(c *cell) *WinCounts {
		w, ok := win[c]
		if !ok {
			w = &WinCounts{}
			win[c] = w
		}
		return w
	}
	attrOf := func(c *cell) *attrAcc {
		x, ok := attr[c]
		if !ok {
			x = &attrAcc{}
			attr[c] = x
		}
		return x
	}
	for i := range a.regs {
		a.regs[i].hasDeal = false
	}

	var assoc []int
	var touched []*cell
	for di := range a.deals {
		d := &a.deals[di]
		assoc = a.associated(d, assoc)

		// Metric 4: deals of approved registrations submitted in the period.
		touched = touched[:0]
		for _, ri := range assoc {
			r := &a.regs[ri]
			if !r.cohort {
				continue
			}
			r.hasDeal = true
			for _, c := range r.cells {
				if !slices.Contains(touched, c) {
					touched = append(touched, c)
				}
			}
		}
		for _, c := range touched {
			w := winOf(c)
			w.Deals++
			switch {
			case d.won:
				w.Won++
				w.SalesVolume += d.amount
			case d.closed:
				w.Lost++
			default:
				w.Open++
				w.OpenPipeline += d.amount
			}
		}

		// Metric 7: won deals closed in the period.
		if !d.won || !a.inPeriod(d.closeDate) {
			continue
		}
		best := -1
		for _, ri := range assoc {
			r := &a.regs[ri]
			if best < 0 || better(r, &a.regs[best], d.partner) {
				best = ri
			}
		}
		if best < 0 {
			if d.partner == "" {
				continue // a direct deal: no partner, no registration
			}
			cells := []*cell{a.all, a.cell(ByPartner, d.partner), a.cell(BySegment, ""), a.cell(ByRegion, ""), a.cell(ByProduct, "")}
			for _, c := range cells {
				attrOf(c).WithoutRegistration++
			}
			continue
		}
		r := &a.regs[best]
		var cycle float64
		cycleOK, cycleBad := false, false
		switch {
		case r.attributedAt.IsZero():
		case d.closeDate.IsZero():
			cycleBad = true
		default:
			cycle, cycleOK = max(0, r.attributedAt.Sub(d.closeDate).Hours()/24), true
		}
		for _, c := range r.cells {
			x := attrOf(c)
			x.WonDeals++
			switch {
			case d.partner == "":
				x.Missing++
			case d.partner == r.partner:
				x.Matched++
			default:
				x.Mismatched++
			}
			switch {
			case cycleOK:
				x.cycle = append(x.cycle, cycle)
			case cycleBad:
				x.cycleInvalid++
			default:
				x.NotAttributed++
			}
		}
	}
	for i := range a.regs {
		r := &a.regs[i]
		if r.cohort && r.hasDeal {
			for _, c := range r.cells {
				winOf(c).WithDeals++
			}
		}
	}

	// Assemble each cell's figures.
	meetingOf := func(c *cell) MeetingCounts {
		m := c.meeting
		m.Rate = ratio(m.MetInTime, m.MetInTime+m.MetLate+m.NoMeeting)
		return m
	}
	approvalOf := func(c *cell) ApprovalCounts {
		x := c.approval
		x.Rate = ratio(x.Approved, x.Approved+x.Declined)
		return x
	}
	conflictOf := func(c *cell) ConflictCounts {
		x := c.conflicts
		x.Avoided = x.ConflictProtected + x.ConflictLost + x.ConflictPending
		x.InReviewPastSLA = x.PastSLAConflictPending + x.PastSLAPossibleDuplicate + x.PastSLAExistingDeal
		x.Unresolved = x.Appealed + x.InReviewPastSLA
		return x
	}
	winCountsOf := func(c *cell) WinCounts {
		var w WinCounts
		if p, ok := win[c]; ok {
			w = *p
		}
		w.ApprovedRegistrations = c.approvedRegs
		w.Rate = ratio(w.Won, w.Won+w.Lost)
		w.SalesVolume = round(w.SalesVolume, 2)
		w.OpenPipeline = round(w.OpenPipeline, 2)
		return w
	}
	responseOf := func(c *cell) ResponseCounts {
		var x ResponseCounts
		x.FirstResponse.Stats = stats(c.firstResp, c.firstInvalid)
		x.FirstResponse.WithinSLA = c.withinSLA
		x.FirstResponse.WithinSLARate = ratio(c.withinSLA, len(c.firstResp))
		x.Approval = stats(c.approvalTimes, c.approvalInvald)
		return x
	}
	attributionOf := func(c *cell) AttributionCounts {
		var x AttributionCounts
		if p, ok := attr[c]; ok {
			x = p.AttributionCounts
			x.CycleDays = stats(p.cycle, p.cycleInvalid)
		} else {
			x.CycleDays = stats(nil, 0)
		}
		x.Accuracy = ratio(x.Matched, x.WonDeals)
		return x
	}

	rep := Report{Meta: a.meta}
	rep.MeetingRate = MeetingRate{MeetingWithinDays: a.p.Rules.HoldWindow.MeetingWithinDays, MeetingCounts: meetingOf(a.all)}
	rep.Approval = ApprovalRate{ApprovalCounts: approvalOf(a.all)}
	rep.Conflicts = Conflicts{ConflictCounts: conflictOf(a.all)}
	rep.WinRate = WinRate{WinCounts: winCountsOf(a.all)}
	rep.ResponseTimes = ResponseTimes{Unit: "business_days", ResponseCounts: responseOf(a.all)}
	rep.ActiveWindows = ActiveWindows{
		AsOf:               a.opt.Now,
		ExpiringWithinDays: int(a.opt.ExpiringWithin / (24 * time.Hour)),
		WindowCounts:       a.all.windows,
	}
	rep.Attribution = Attribution{AttributionCounts: attributionOf(a.all)}

	for _, c := range a.sorted(ByPartner) {
		rep.Approval.ByPartner = append(rep.Approval.ByPartner, ApprovalGroup{c.group, approvalOf(c)})
	}
	for _, c := range a.sorted(BySegment) {
		rep.Approval.BySegment = append(rep.Approval.BySegment, ApprovalGroup{c.group, approvalOf(c)})
	}
	for _, c := range a.sorted(ByRegion) {
		rep.ActiveWindows.ByRegion = append(rep.ActiveWindows.ByRegion, WindowGroup{c.group, c.windows})
	}
	for _, c := range a.sorted(ByProduct) {
		rep.ActiveWindows.ByProduct = append(rep.ActiveWindows.ByProduct, WindowGroup{c.group, c.windows})
	}
	if a.opt.By != ByNone {
		for _, c := range a.sorted(a.opt.By) {
			rep.MeetingRate.Groups = append(rep.MeetingRate.Groups, MeetingGroup{c.group, meetingOf(c)})
			rep.Approval.Groups = append(rep.Approval.Groups, ApprovalGroup{c.group, approvalOf(c)})
			rep.Conflicts.Groups = append(rep.Conflicts.Groups, ConflictGroup{c.group, conflictOf(c)})
			rep.WinRate.Groups = append(rep.WinRate.Groups, WinGroup{c.group, winCountsOf(c)})
			rep.ResponseTimes.Groups = append(rep.ResponseTimes.Groups, ResponseGroup{c.group, responseOf(c)})
			rep.ActiveWindows.Groups = append(rep.ActiveWindows.Groups, WindowGroup{c.group, c.windows})
			rep.Attribution.Groups = append(rep.Attribution.Groups, AttributionGroup{c.group, attributionOf(c)})
		}
	}
	// Empty lists stay lists in JSON.
	if rep.Approval.ByPartner == nil {
		rep.Approval.ByPartner = []ApprovalGroup{}
	}
	if rep.Approval.BySegment == nil {
		rep.Approval.BySegment = []ApprovalGroup{}
	}
	if rep.ActiveWindows.ByRegion == nil {
		rep.ActiveWindows.ByRegion = []WindowGroup{}
	}
	if rep.ActiveWindows.ByProduct == nil {
		rep.ActiveWindows.ByProduct = []WindowGroup{}
	}
	return rep
}

// better reports whether registration r is a better match for a won deal
// stamped with partner than the current best b: the stamped partner's
// registration first, then the earliest approved, then the lowest case
// number.
func better(r, b *regRef, partner string) bool {
	rm, bm := partner != "" && r.partner == partner, partner != "" && b.partner == partner
	if rm != bm {
		return rm
	}
	if !r.approvedAt.Equal(b.approvedAt) {
		if r.approvedAt.IsZero() || b.approvedAt.IsZero() {
			return !r.approvedAt.IsZero()
		}
		return r.approvedAt.Before(b.approvedAt)
	}
	return r.caseNumber < b.caseNumber
}

// sorted lists a breakdown's cells by group, the blank group last.
func (a *Accumulator) sorted(by GroupBy) []*cell {
	m := a.cells[by.index()]
	out := make([]*cell, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y *cell) int {
		xs, ys := x.group.Group, y.group.Group
		switch {
		case xs == ys:
			return 0
		case xs == "":
			return 1
		case ys == "":
			return -1
		}
		if c := strings.Compare(strings.ToLower(xs), strings.ToLower(ys)); c != 0 {
			return c
		}
		return strings.Compare(xs, ys)
	})
	return out
}

// stats summarises durations (see Stats). It sorts vs in place.
func stats(vs []float64, invalid int) Stats {
	s := Stats{Count: len(vs), Invalid: invalid}
	if len(vs) == 0 {
		return s
	}
	slices.Sort(vs)
	s.Median = Num(round(Quantile(vs, 0.5), 2))
	s.P90 = Num(round(Quantile(vs, 0.9), 2))
	return s
}

// Quantile is the p-quantile (0 ≤ p ≤ 1) of sorted values by linear
// interpolation between closest ranks (Excel's PERCENTILE.INC, R's type 7):
// with h = (n−1)·p, x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). It is NaN for no
// values.
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return nan()
	}
	h := float64(n-1) * min(max(p, 0), 1)
	lo := int(h)
	if lo >= n-1 {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
