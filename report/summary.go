package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// SummaryConfig is the `summaries:` section of the configuration: the weekly
// e-mail that tells each partner where its registrations stand. (When it
// runs is a cron schedule, which belongs with the daemon's other schedules.)
type SummaryConfig struct {
	// Enabled sends the summaries (default true; nothing is sent unless
	// mail is configured).
	Enabled bool `yaml:"enabled"`
	// Unsubscribed lists partner ids that get no summary.
	Unsubscribed []string `yaml:"unsubscribed"`
	// Recipients replaces, per partner id, who receives the partner's
	// summary. Without an entry, it goes to the distinct partner_email
	// addresses of the registrations it lists that are at one of the
	// partner's email_domains (never to an address outside them).
	Recipients map[string][]string `yaml:"recipients"`
	// ExpiringWithinDays: windows and meeting deadlines this close are
	// called out (default 14).
	ExpiringWithinDays int `yaml:"expiring_within_days"`
	// RecentDays: closed registrations (declined, expired, won, lost,
	// withdrawn) whose last change is this recent are listed (default 7).
	RecentDays int `yaml:"recent_days"`
	// Program names the partner program in the subject line; optional.
	Program string `yaml:"program"`
}

// DefaultSummaryConfig is the `summaries:` section with every key at its
// default.
func DefaultSummaryConfig() SummaryConfig {
	return SummaryConfig{Enabled: true, ExpiringWithinDays: 14, RecentDays: 7}
}

// Validate checks the section against the program's partners; errors are
// *yamlx.PathError values under "summaries", so the loader can point at the
// line. An unknown partner id is an error: a typo in unsubscribed would
// otherwise keep mailing a partner who asked us to stop.
func (c *SummaryConfig) Validate(partners []rules.Partner) error {
	known := map[string]bool{}
	for _, p := range partners {
		known[p.ID] = true
	}
	var errs []error
	seen := map[string]bool{}
	for i, id := range c.Unsubscribed {
		switch {
		case !known[id]:
			errs = append(errs, yamlx.Errorf(yamlx.Path("summaries", "unsubscribed", i), "unknown partner %q", id))
		case seen[id]:
			errs = append(errs, yamlx.Errorf(yamlx.Path("summaries", "unsubscribed", i), "partner %q listed twice", id))
		}
		seen[id] = true
	}
	ids := make([]string, 0, len(c.Recipients))
	for id := range c.Recipients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		path := yamlx.Path("summaries", "recipients", id)
		if !known[id] {
			errs = append(errs, yamlx.Errorf(path, "unknown partner %q", id))
		}
		if len(c.Recipients[id]) == 0 {
			errs = append(errs, yamlx.Errorf(path, "list at least one address, or remove the entry"))
		}
		for j, a := range c.Recipients[id] {
			if _, err := registration.ParseEmail(a); err != nil {
				errs = append(errs, yamlx.Errorf(yamlx.Path(path, j), "%q is not an e-mail address", a))
			}
		}
	}
	if c.ExpiringWithinDays < 1 || c.ExpiringWithinDays > 90 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("summaries", "expiring_within_days"), "must be 1 to 90 days, not %d", c.ExpiringWithinDays))
	}
	if c.RecentDays < 1 || c.RecentDays > 31 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("summaries", "recent_days"), "must be 1 to 31 days, not %d", c.RecentDays))
	}
	if strings.ContainsAny(c.Program, "\r\n") {
		errs = append(errs, yamlx.Errorf(yamlx.Path("summaries", "program"), "must be one line"))
	}
	return errors.Join(errs...)
}

// Summary is one partner's weekly e-mail, in plain fields any mailer can
// take (internal/mail.Message, worker.Notification).
type Summary struct {
	PartnerID   string
	PartnerName string
	// To are bare e-mail addresses, sorted; never empty.
	To      []string
	Subject string
	Text    string
	HTML    string
	// Headers to set on the message: it is machine-written, so
	// out-of-office replies should not answer it.
	Headers map[string]string
	// Attention, Open and Closed are the registrations listed, by section.
	Attention, Open, Closed []SummaryItem
}

// SummaryItem is one registration in a summary.
type SummaryItem struct {
	CaseNumber string
	Company    string
	Status     registration.Status
	// StatusLabel is the status for people ("needs info").
	StatusLabel string
	// Message is the rules' partner-safe message on the record.
	Message string
	// Next says what happens next; By is the deadline that goes with it
	// (zero when none), ByTime whether its clock time matters (an SLA).
	Next   string
	By     time.Time
	ByTime bool
	// Link is the status link; empty without a link maker.
	Link string
}

// Skip says why a partner gets no summary.
type Skip struct {
	PartnerID string
	Reason    string // unsubscribed, inactive, unknown_partner, nothing_to_report, no_recipient
}

// SummaryOptions are what a summary run needs besides the records.
type SummaryOptions struct {
	Config SummaryConfig
	// StatusLink makes a registration's login-free status link from its
	// case number; nil leaves links out.
	StatusLink func(caseNumber string) string
}

// SummaryBuilder composes the partner summaries from registrations read a
// page at a time; it keeps only the registrations a summary lists.
type SummaryBuilder struct {
	p     *rules.Policy
	now   time.Time
	opt   SummaryOptions
	items map[string][]summaryRec // partner id → its listed registrations
	seen  map[string]bool
}

type summaryRec struct {
	item    SummaryItem
	section int
	email   string
}

const (
	secAttention = iota
	secOpen
	secClosed
)

// NewSummaryBuilder starts a summary run as of now. Zero ExpiringWithinDays
// and RecentDays take their defaults.
func NewSummaryBuilder(p *rules.Policy, now time.Time, opt SummaryOptions) *SummaryBuilder {
	d := DefaultSummaryConfig()
	if opt.Config.ExpiringWithinDays <= 0 {
		opt.Config.ExpiringWithinDays = d.ExpiringWithinDays
	}
	if opt.Config.RecentDays <= 0 {
		opt.Config.RecentDays = d.RecentDays
	}
	return &SummaryBuilder{p: p, now: now.UTC(), opt: opt, items: map[string][]summaryRec{}, seen: map[string]bool{}}
}

// StatusLabel is a status as partners read it.
func StatusLabel(s registration.Status) string {
	if s == registration.StatusNone {
		return "received"
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

// lastChange is the latest instant the record shows a change at (there is
// no modification time on the record itself).
func lastChange(r *registration.Record, now time.Time) time.Time {
	var t time.Time
	for _, c := range []time.Time{r.SubmittedAt, r.DecidedAt, r.ApprovedAt, r.FirstMeetingAt, r.AttributedAt} {
		if c.After(t) && !c.After(now) {
			t = c
		}
	}
	if r.Status == registration.StatusExpired {
		for _, c := range []time.Time{r.MeetingDue, r.HoldUntil} {
			if c.After(t) && !c.After(now) {
				t = c
			}
		}
	}
	return t
}

// Add considers a page of registrations. It never fails; the error result
// lets it be passed to connectors.CRM.All.
func (b *SummaryBuilder) Add(page []registration.Record) error {
	soon := b.now.Add(time.Duration(b.opt.Config.ExpiringWithinDays) * 24 * time.Hour)
	recent := b.now.Add(-time.Duration(b.opt.Config.RecentDays) * 24 * time.Hour)
	for i := range page {
		r := &page[i]
		if r.ID != "" {
			if b.seen[r.ID] {
				continue
			}
			b.seen[r.ID] = true
		}
		pid := strings.TrimSpace(r.PartnerID)
		if pid == "" || !b.fromPartner(pid, r.PartnerEmail) {
			continue
		}
		it := SummaryItem{
			CaseNumber: r.CaseNumber, Company: firstNonBlank(r.CompanyName, r.CompanyDomain, "(no company name)"),
			Status: r.Status, StatusLabel: StatusLabel(r.Status), Message: r.StatusMessage,
		}
		sec := secOpen
		switch r.Status {
		case registration.StatusSubmitted, registration.StatusInReview, registration.StatusAppealed:
			due := r.SLADue
			if due.IsZero() && !r.SubmittedAt.IsZero() {
				due = b.p.SLADue(r.SubmittedAt)
			}
			switch r.Status {
			case registration.StatusSubmitted:
				it.Next = "We are checking it and will answer"
			case registration.StatusInReview:
				it.Next = "An account executive is reviewing it and will answer"
			default:
				it.Next = "An account executive is deciding your appeal and will answer"
			}
			if due.After(b.now) {
				it.Next += " by"
				it.By, it.ByTime = due, true
			} else {
				it.Next += " shortly"
			}
		case registration.StatusNeedsInfo:
			sec = secAttention
			it.Next = "Send us the missing details so we can decide it"
		case registration.StatusApproved:
			switch {
			case r.FirstMeetingAt.IsZero() && !r.MeetingDue.IsZero() && r.MeetingDue.After(b.now):
				it.Next, it.By = "Keep the protection: log a first meeting with the prospect by", r.MeetingDue
				if !r.MeetingDue.After(soon) {
					sec = secAttention
				}
			case !r.HoldUntil.IsZero() && r.HoldUntil.After(b.now):
				it.Next, it.By = "Registered to you; the protection ends", r.HoldUntil
				if !r.HoldUntil.After(soon) {
					sec = secAttention
				}
			default:
				it.Next = "Registered to you"
			}
		case registration.StatusMeetingBooked:
			if !r.HoldUntil.IsZero() && r.HoldUntil.After(b.now) {
				it.Next, it.By = "Work the opportunity with your account executive; the protection ends", r.HoldUntil
				if !r.HoldUntil.After(soon) {
					sec = secAttention
				}
			} else {
				it.Next = "Work the opportunity with your account executive"
			}
		case registration.StatusConverted:
			it.Next = "A deal is open; we will tell you when it closes"
		default:
			// Closed: listed only when it changed recently.
			if lastChange(r, b.now).Before(recent) {
				continue
			}
			sec = secClosed
			switch r.Status {
			case registration.StatusDeclined:
				it.Next = "If you think this is wrong, you can appeal from the status page"
			case registration.StatusExpired:
				it.Next = "You may register the company again if the opportunity comes back"
			case registration.StatusWon:
				it.Next = "The deal closed won — thank you"
			case registration.StatusLost:
				it.Next = "The deal closed lost"
			case registration.StatusWithdrawn:
				it.Next = "Withdrawn at your request"
			default:
				continue // a blank or unknown status says nothing to the partner
			}
		}
		if b.opt.StatusLink != nil && r.CaseNumber != "" {
			it.Link = b.opt.StatusLink(r.CaseNumber)
		}
		b.items[pid] = append(b.items[pid], summaryRec{item: it, section: sec, email: r.PartnerEmail})
	}
	return nil
}

// fromPartner reports whether a registration was sent from the partner's
// own e-mail domains (or carries no sender): one sent by an outsider under
// the partner's id (declined submitter_not_partner) is not the partner's to
// read about.
func (b *SummaryBuilder) fromPartner(pid, email string) bool {
	if strings.TrimSpace(email) == "" {
		return true
	}
	pt, ok := b.p.Partner(pid)
	if !ok || len(pt.EmailDomains) == 0 {
		return true
	}
	return atDomains(email, partnerDomains(pt))
}

func partnerDomains(pt *rules.Partner) []string {
	var doms []string
	for _, d := range pt.EmailDomains {
		if n, err := registration.NormalizeDomain(d); err == nil {
			doms = append(doms, n)
		}
	}
	return doms
}

// atDomains reports whether addr is at one of doms or a sub-domain of one.
func atDomains(addr string, doms []string) bool {
	host := registration.EmailDomain(addr)
	return host != "" && slices.ContainsFunc(doms, func(d string) bool { return host == d || strings.HasSuffix(host, "."+d) })
}

// Result composes the summaries, one per partner with something to report,
// in partner id order, and lists the partners skipped and why.
func (b *SummaryBuilder) Result() ([]Summary, []Skip) {
	unsub := map[string]bool{}
	for _, id := range b.opt.Config.Unsubscribed {
		unsub[id] = true
	}
	ids := make([]string, 0, len(b.items))
	for id := range b.items {
		ids = append(ids, id)
	}
	for _, p := range b.p.Partners {
		if _, ok := b.items[p.ID]; !ok {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var out []Summary
	var skips []Skip
	for _, id := range ids {
		pt, known := b.p.Partner(id)
		recs := b.items[id]
		switch {
		case !known:
			skips = append(skips, Skip{id, "unknown_partner"})
			continue
		case unsub[id]:
			skips = append(skips, Skip{id, "unsubscribed"})
			continue
		case !pt.IsActive():
			skips = append(skips, Skip{id, "inactive"})
			continue
		case len(recs) == 0:
			skips = append(skips, Skip{id, "nothing_to_report"})
			continue
		}
		to := b.recipients(pt, recs)
		if len(to) == 0 {
			skips = append(skips, Skip{id, "no_recipient"})
			continue
		}
		s := Summary{
			PartnerID: id, PartnerName: firstNonBlank(pt.Name, pt.ID), To: to,
			Headers: map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
		}
		for _, r := range recs {
			switch r.section {
			case secAttention:
				s.Attention = append(s.Attention, r.item)
			case secOpen:
				s.Open = append(s.Open, r.item)
			default:
				s.Closed = append(s.Closed, r.item)
			}
		}
		for _, l := range [][]SummaryItem{s.Attention, s.Open, s.Closed} {
			slices.SortStableFunc(l, byDeadline)
		}
		s.Subject = b.subject(&s)
		s.Text = b.text(&s, pt)
		s.HTML = b.html(&s, pt)
		out = append(out, s)
	}
	return out, skips
}

// byDeadline orders items soonest deadline first (none last), then by case
// number (R-9 before R-10).
func byDeadline(x, y SummaryItem) int {
	switch {
	case x.By.IsZero() != y.By.IsZero():
		if x.By.IsZero() {
			return 1
		}
		return -1
	case !x.By.Equal(y.By):
		return x.By.Compare(y.By)
	}
	if len(x.CaseNumber) != len(y.CaseNumber) {
		return len(x.CaseNumber) - len(y.CaseNumber)
	}
	return strings.Compare(x.CaseNumber, y.CaseNumber)
}

// recipients: the configured addresses, or the submitters at the partner's
// own e-mail domains.
func (b *SummaryBuilder) recipients(pt *rules.Partner, recs []summaryRec) []string {
	var to []string
	if list, ok := b.opt.Config.Recipients[pt.ID]; ok {
		for _, a := range list {
			if e, err := registration.ParseEmail(a); err == nil {
				to = append(to, e)
			}
		}
	} else {
		doms := partnerDomains(pt)
		for _, r := range recs {
			if e, err := registration.ParseEmail(r.email); err == nil && atDomains(e, doms) {
				to = append(to, e)
			}
		}
	}
	slices.SortFunc(to, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return slices.CompactFunc(to, strings.EqualFold)
}

func (b *SummaryBuilder) subject(s *Summary) string {
	open := len(s.Attention) + len(s.Open)
	var parts []string
	if n := len(s.Attention); n > 0 {
		parts = append(parts, plural(n, "needs", "need")+" your attention")
	}
	parts = append(parts, fmt.Sprintf("%d open", open))
	if n := len(s.Closed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d closed this week", n))
	}
	prefix := "Your registrations"
	if p := strings.TrimSpace(b.opt.Config.Program); p != "" {
		prefix = p + ": your registrations"
	}
	return oneLine(prefix + " — " + strings.Join(parts, ", ") + " (week of " + fmtDay(b.now) + ")")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func fmtDay(t time.Time) string { return t.UTC().Format("2 January 2006") }

func fmtDue(it SummaryItem) string {
	if it.By.IsZero() {
		return ""
	}
	if it.ByTime {
		return it.By.UTC().Format("2 January 2006 15:04 MST")
	}
	return fmtDay(it.By)
}

// oneLine keeps CRM text from breaking a line of a plain-text body or a
// header: control characters become spaces.
func oneLine(s string) string { return tableSafe(s) }

func firstNonBlank(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (b *SummaryBuilder) text(s *Summary, pt *rules.Partner) string {
	var w strings.Builder
	fmt.Fprintf(&w, "Hello %s,\n\nHere is where your registrations stand on %s.\n", oneLine(s.PartnerName), fmtDay(b.now))
	section := func(title string, items []SummaryItem) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&w, "\n%s (%d)\n%s\n", title, len(items), strings.Repeat("-", len(title)+len(fmt.Sprint(len(items)))+3))
		for _, it := range items {
			fmt.Fprintf(&w, "\n* %s — %s: %s\n", oneLine(it.CaseNumber), oneLine(it.Company), it.StatusLabel)
			next := it.Next
			if due := fmtDue(it); due != "" {
				next += " " + due
			}
			fmt.Fprintf(&w, "  Next: %s.\n", next)
			if m := oneLine(strings.TrimSpace(it.Message)); m != "" && it.Status != registration.StatusApproved && it.Status != registration.StatusMeetingBooked {
				fmt.Fprintf(&w, "  %s\n", m)
			}
			if it.Link != "" {
				fmt.Fprintf(&w, "  Status: %s\n", oneLine(it.Link))
			}
		}
	}
	section("Needs your attention", s.Attention)
	section("Open", s.Open)
	section(fmt.Sprintf("Closed in the last %d days", b.opt.Config.RecentDays), s.Closed)
	w.WriteString("\n— The partner team\n\n")
	w.WriteString(unsubscribeNote(pt) + "\n")
	return w.String()
}

func unsubscribeNote(pt *rules.Partner) string {
	if pt.Manager != "" {
		return "You receive this summary every week. To stop it, ask your partner manager (" + oneLine(pt.Manager) + ")."
	}
	return "You receive this summary every week. To stop it, ask your partner manager."
}

var summaryHTML = template.Must(template.New("summary").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Subject}}</title></head>
<body style="margin:0;padding:16px;background:#f6f7f9;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2933;font-size:15px;line-height:1.45">
<div style="max-width:680px;margin:0 auto;background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:20px">
<p>Hello {{.Name}},</p>
<p>Here is where your registrations stand on {{.Day}}.</p>
{{range .Sections}}{{if .Items}}
<h2 style="font-size:17px;margin:22px 0 8px;{{if .Urgent}}color:#b42318{{end}}">{{.Title}} ({{len .Items}})</h2>
<table role="presentation" style="width:100%;border-collapse:collapse">
{{range .Items}}<tr><td style="padding:8px 0;border-top:1px solid #eef0f2;vertical-align:top">
<strong>{{.CaseNumber}}</strong> — {{.Company}} <span style="display:inline-block;padding:1px 6px;border-radius:10px;background:#eef2f6;font-size:13px">{{.StatusLabel}}</span><br>
{{.Next}}{{with .Due}} <strong>{{.}}</strong>{{end}}.
{{with .Message}}<br><span style="color:#52606d">{{.}}</span>{{end}}
{{with .Link}}<br><a href="{{.}}" style="color:#1d4ed8">See the status</a>{{end}}
</td></tr>
{{end}}</table>
{{end}}{{end}}
<p style="margin-top:24px">— The partner team</p>
<p style="color:#7b8794;font-size:13px">{{.Unsubscribe}}</p>
</div></body></html>
`))

type htmlItem struct {
	SummaryItem
	Due string
}

type htmlSection struct {
	Title  string
	Urgent bool
	Items  []htmlItem
}

func (b *SummaryBuilder) html(s *Summary, pt *rules.Partner) string {
	conv := func(items []SummaryItem) []htmlItem {
		out := make([]htmlItem, len(items))
		for i, it := range items {
			if it.Status == registration.StatusApproved || it.Status == registration.StatusMeetingBooked {
				it.Message = "" // its dates are in Next already
			}
			out[i] = htmlItem{SummaryItem: it, Due: fmtDue(it)}
		}
		return out
	}
	data := struct {
		Subject, Name, Day, Unsubscribe string
		Sections                        []htmlSection
	}{
		Subject: s.Subject, Name: s.PartnerName, Day: fmtDay(b.now), Unsubscribe: unsubscribeNote(pt),
		Sections: []htmlSection{
			{"Needs your attention", true, conv(s.Attention)},
			{"Open", false, conv(s.Open)},
			{fmt.Sprintf("Closed in the last %d days", b.opt.Config.RecentDays), false, conv(s.Closed)},
		},
	}
	var buf bytes.Buffer
	if err := summaryHTML.Execute(&buf, data); err != nil {
		// The template is fixed and its data plain strings: this cannot
		// happen short of a bug, and a text-only summary still goes out.
		return ""
	}
	return buf.String()
}
