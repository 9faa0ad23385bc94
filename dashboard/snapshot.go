package dashboard

import (
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Snapshot is everything the page shows, as of Now. The daemon builds it
// (Collector for the CRM's records, report.Accumulator for the rates, the
// state's dead letters and inbox stats, each connector's Usage) and may
// cache it; DataAsOf says when the CRM was read.
type Snapshot struct {
	// Now is the instant the page is rendered for.
	Now time.Time
	// DataAsOf is when the records were read from the CRM (zero: now).
	DataAsOf time.Time

	// Queue lists the pending registrations (see Collector), oldest first.
	Queue []QueueItem
	// Weeks are the approvals and declines per week, oldest first.
	Weeks []Week
	// Expiring lists the protection windows ending soon, soonest first.
	Expiring []WindowItem
	// ExpiringWithin is the horizon of Expiring (default 14 days).
	ExpiringWithin time.Duration
	// SLADays is rules.sla.respond_within_business_days.
	SLADays int

	// Report holds the program metrics; the page shows the meeting, win
	// and approval rates, and per partner when Report.Meta.By is partner.
	// Nil shows n/a.
	Report *report.Report

	// Inbox and DeadLetters come from the state file.
	Inbox       *state.InboxStats
	DeadLetters []state.Item
	// Budgets is the API consumption of each connector.
	Budgets []Budget

	// Problems are shown in a banner (a CRM read that failed, stale data).
	Problems []string
}

// Budget is one connector's API consumption.
type Budget struct {
	Connector string
	Usage     connectors.Usage
}

// QueueItem is a registration awaiting a decision.
type QueueItem struct {
	CaseNumber  string
	Company     string
	PartnerID   string
	PartnerName string
	Status      registration.Status
	Reason      string
	Owner       string
	SubmittedAt time.Time
	// SLADue is when the answer is owed (sla_due, or submitted_at + the
	// SLA); zero for needs_info, which waits on the partner.
	SLADue time.Time
	// Age is business days since submission; Left is business days until
	// SLADue (negative once overdue).
	Age, Left float64
	// Overdue: an SLA runs (submitted, in_review, appealed) and SLADue has
	// passed.
	Overdue bool
}

// Week counts the decisions of one week (Monday 00:00 in the SLA time zone).
type Week struct {
	Start    time.Time
	Approved int
	// Declined counts declines by status_reason.
	Declined map[string]int
}

// Total is the week's approvals and declines.
func (w Week) Total() int {
	n := w.Approved
	for _, v := range w.Declined {
		n += v
	}
	return n
}

// WindowItem is a protection window ending soon.
type WindowItem struct {
	CaseNumber  string
	Company     string
	PartnerID   string
	PartnerName string
	Status      registration.Status
	HoldUntil   time.Time
	// MeetingDue is set while an approved registration still owes its
	// first meeting.
	MeetingDue time.Time
	// DaysLeft is calendar days until HoldUntil.
	DaysLeft float64
}

// CollectorOptions tune a Collector.
type CollectorOptions struct {
	// Weeks is how many weeks the decisions chart covers (default 12).
	Weeks int
	// ExpiringWithin is the horizon of the expiring windows (default 14 days).
	ExpiringWithin time.Duration
}

// Collector picks what the page needs from registrations read a page at a
// time (pass Add to connectors.CRM.All, beside report.Accumulator.Add): the
// pending queue, the decisions per week and the windows ending soon. It keeps
// only those, never the records.
type Collector struct {
	p     *rules.Policy
	now   time.Time
	opt   CollectorOptions
	loc   *time.Location
	first time.Time // start of the oldest week shown
	seen  map[string]bool
	queue []QueueItem
	weeks []Week
	exp   []WindowItem
}

// NewCollector starts collecting as of now.
func NewCollector(p *rules.Policy, now time.Time, opt CollectorOptions) *Collector {
	if opt.Weeks <= 0 {
		opt.Weeks = 12
	}
	if opt.ExpiringWithin <= 0 {
		opt.ExpiringWithin = report.DefaultExpiringWithin
	}
	c := &Collector{p: p, now: now.UTC(), opt: opt, loc: p.SLALocation(), seen: map[string]bool{}}
	cur := weekStart(now, c.loc)
	c.first = cur.AddDate(0, 0, -7*(opt.Weeks-1))
	for i := range opt.Weeks {
		c.weeks = append(c.weeks, Week{Start: c.first.AddDate(0, 0, 7*i), Declined: map[string]int{}})
	}
	return c
}

// weekStart is the Monday 00:00 (in loc) of t's week.
func weekStart(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	back := (int(l.Weekday()) + 6) % 7 // days since Monday
	return time.Date(l.Year(), l.Month(), l.Day()-back, 0, 0, 0, 0, loc)
}

// week returns the index of t's week in the chart, or -1.
func (c *Collector) week(t time.Time) int {
	if t.IsZero() || t.Before(c.first) || t.After(c.now) {
		return -1
	}
	s := weekStart(t, c.loc)
	for i := range c.weeks {
		if c.weeks[i].Start.Equal(s) {
			return i
		}
	}
	return -1
}

func (c *Collector) partnerName(id string) string {
	if pt, ok := c.p.Partner(id); ok {
		return pt.Name
	}
	return ""
}

// Add considers a page of registrations. It never fails; the error result
// lets it be passed to connectors.CRM.All.
func (c *Collector) Add(page []registration.Record) error {
	soon := c.now.Add(c.opt.ExpiringWithin)
	for i := range page {
		r := &page[i]
		if r.ID != "" {
			if c.seen[r.ID] {
				continue
			}
			c.seen[r.ID] = true
		}
		company := firstNonBlank(r.CompanyName, r.CompanyDomain)
		if r.Status.Pending() {
			q := QueueItem{
				CaseNumber: r.CaseNumber, Company: company, PartnerID: r.PartnerID, PartnerName: c.partnerName(r.PartnerID),
				Status: r.Status, Reason: r.StatusReason, Owner: r.OwnerID, SubmittedAt: r.SubmittedAt,
			}
			if !r.SubmittedAt.IsZero() {
				q.Age = c.p.BusinessDays(r.SubmittedAt, c.now)
			}
			if r.Status.Waiting() {
				q.SLADue = r.SLADue
				if q.SLADue.IsZero() && !r.SubmittedAt.IsZero() {
					q.SLADue = c.p.SLADue(r.SubmittedAt)
				}
				if !q.SLADue.IsZero() {
					q.Left = c.p.BusinessDays(c.now, q.SLADue)
					q.Overdue = c.now.After(q.SLADue)
				}
			}
			c.queue = append(c.queue, q)
		}
		if r.Status.Protected() && r.HoldUntil.After(c.now) && !r.HoldUntil.After(soon) {
			w := WindowItem{
				CaseNumber: r.CaseNumber, Company: company, PartnerID: r.PartnerID, PartnerName: c.partnerName(r.PartnerID),
				Status: r.Status, HoldUntil: r.HoldUntil, DaysLeft: r.HoldUntil.Sub(c.now).Hours() / 24,
			}
			if r.Status == registration.StatusApproved && r.FirstMeetingAt.IsZero() {
				w.MeetingDue = r.MeetingDue
			}
			c.exp = append(c.exp, w)
		}
		if i := c.week(r.ApprovedAt); i >= 0 {
			c.weeks[i].Approved++
		}
		if r.Status == registration.StatusDeclined {
			if i := c.week(r.DecidedAt); i >= 0 {
				reason := strings.TrimSpace(r.StatusReason)
				if reason == "" {
					reason = "unspecified"
				}
				c.weeks[i].Declined[reason]++
			}
		}
	}
	return nil
}

// Fill sets the snapshot's Queue, Weeks, Expiring, ExpiringWithin, SLADays
// and Now from what was collected.
func (c *Collector) Fill(s *Snapshot) {
	q := slices.Clone(c.queue)
	slices.SortStableFunc(q, func(a, b QueueItem) int {
		switch {
		case a.SubmittedAt.IsZero() != b.SubmittedAt.IsZero():
			if a.SubmittedAt.IsZero() {
				return -1 // predates regsync: the oldest of all
			}
			return 1
		case !a.SubmittedAt.Equal(b.SubmittedAt):
			return a.SubmittedAt.Compare(b.SubmittedAt)
		}
		return caseCompare(a.CaseNumber, b.CaseNumber)
	})
	e := slices.Clone(c.exp)
	slices.SortStableFunc(e, func(a, b WindowItem) int {
		if !a.HoldUntil.Equal(b.HoldUntil) {
			return a.HoldUntil.Compare(b.HoldUntil)
		}
		return caseCompare(a.CaseNumber, b.CaseNumber)
	})
	weeks := make([]Week, len(c.weeks))
	for i, w := range c.weeks {
		weeks[i] = Week{Start: w.Start, Approved: w.Approved, Declined: map[string]int{}}
		for k, v := range w.Declined {
			weeks[i].Declined[k] = v
		}
	}
	s.Now, s.Queue, s.Weeks, s.Expiring = c.now, q, weeks, e
	s.ExpiringWithin = c.opt.ExpiringWithin
	s.SLADays = c.p.Rules.SLA.RespondWithinBusinessDays
}

// caseCompare orders case numbers R-9 before R-10.
func caseCompare(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func firstNonBlank(vs ...string) string {
	for _, v := range vs {
		if s := strings.TrimSpace(v); s != "" {
			return s
		}
	}
	return ""
}
