package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Render writes the report in a format: an aligned text table for people,
// CSV (one figure per row: metric, by, group, name, figure, value) for a
// spreadsheet, or JSON with exactly the seven metric keys.
func Render(w io.Writer, r Report, f Format) error {
	switch f {
	case FormatJSON:
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("report: encode json: %w", err)
		}
		b = append(b, '\n')
		_, err = w.Write(b)
		return err
	case FormatCSV:
		return renderCSV(w, r)
	case FormatTable, "":
		return renderTable(w, r)
	}
	return fmt.Errorf("report: unknown format %q", f)
}

// value is one figure as CSV and as table text.
type value struct{ csv, text string }

func count(n int) value {
	s := strconv.Itoa(n)
	return value{s, s}
}

func pct(f Figure) value { return value{f.String(), f.Percent()} }

func num(f Figure) value { return value{f.String(), f.String()} }

func money(v float64) value {
	return value{strconv.FormatFloat(v, 'f', -1, 64), thousands(v)}
}

// thousands writes an amount with two decimals and thousands separators.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String() + "." + frac
}

// row is one line of a metric: the whole population (zero Group with all
// set) or one group.
type row struct {
	all    bool
	group  Group
	values []value
}

// section is one metric: its JSON key, a title, a note on its definition,
// and columns (CSV figure names and table headers).
type section struct {
	metric  string
	title   string
	note    string
	figures []string
	headers []string
	rows    []row
}

func (s *section) add(all bool, g Group, vs ...value) {
	s.rows = append(s.rows, row{all: all, group: g, values: vs})
}

func sections(r Report) []section {
	var out []section

	m := section{
		metric: "registration_to_meeting_rate", title: "1. Registration-to-meeting rate",
		note:    fmt.Sprintf("approved registrations whose first meeting came within %d days of approval; awaiting = deadline still ahead, not in the rate", r.MeetingRate.MeetingWithinDays),
		figures: []string{"approved", "met_in_time", "met_late", "no_meeting", "awaiting", "rate"},
		headers: []string{"APPROVED", "MET IN TIME", "MET LATE", "NO MEETING", "AWAITING", "RATE"},
	}
	mv := func(c MeetingCounts) []value {
		return []value{count(c.Approved), count(c.MetInTime), count(c.MetLate), count(c.NoMeeting), count(c.Awaiting), pct(c.Rate)}
	}
	m.add(true, Group{}, mv(r.MeetingRate.MeetingCounts)...)
	for _, g := range r.MeetingRate.Groups {
		m.add(false, g.Group, mv(g.MeetingCounts)...)
	}
	out = append(out, m)

	a := section{
		metric: "approval_rate", title: "2. Approval rate",
		note:    "approved / (approved + declined); pending and withdrawn registrations are not in the rate",
		figures: []string{"submitted", "approved", "declined", "pending", "withdrawn", "other", "rate"},
		headers: []string{"SUBMITTED", "APPROVED", "DECLINED", "PENDING", "WITHDRAWN", "OTHER", "RATE"},
	}
	av := func(c ApprovalCounts) []value {
		return []value{count(c.Submitted), count(c.Approved), count(c.Declined), count(c.Pending), count(c.Withdrawn), count(c.Other), pct(c.Rate)}
	}
	a.add(true, Group{}, av(r.Approval.ApprovalCounts)...)
	for _, g := range r.Approval.ByPartner {
		a.add(false, g.Group, av(g.ApprovalCounts)...)
	}
	for _, g := range r.Approval.BySegment {
		a.add(false, g.Group, av(g.ApprovalCounts)...)
	}
	if r.Meta.By != ByPartner && r.Meta.By != BySegment {
		for _, g := range r.Approval.Groups {
			a.add(false, g.Group, av(g.ApprovalCounts)...)
		}
	}
	out = append(out, a)

	c := section{
		metric: "conflicts", title: "3. Conflicts avoided vs unresolved disputes",
		note: "avoided = conflict_protected + conflict_lost + conflict_pending (within SLA); unresolved = appealed + in_review past SLA " +
			"with reason conflict_pending, possible_duplicate or existing_deal",
		figures: []string{"avoided", "conflict_protected", "conflict_lost", "conflict_pending", "unresolved", "appealed",
			"in_review_past_sla", "past_sla_conflict_pending", "past_sla_possible_duplicate", "past_sla_existing_deal"},
		headers: []string{"AVOIDED", "PROTECTED", "LOST", "PENDING", "UNRESOLVED", "APPEALED",
			"PAST SLA", "·CONFLICT PENDING", "·POSSIBLE DUPLICATE", "·EXISTING DEAL"},
	}
	cv := func(x ConflictCounts) []value {
		return []value{count(x.Avoided), count(x.ConflictProtected), count(x.ConflictLost), count(x.ConflictPending),
			count(x.Unresolved), count(x.Appealed), count(x.InReviewPastSLA), count(x.PastSLAConflictPending),
			count(x.PastSLAPossibleDuplicate), count(x.PastSLAExistingDeal)}
	}
	c.add(true, Group{}, cv(r.Conflicts.ConflictCounts)...)
	for _, g := range r.Conflicts.Groups {
		c.add(false, g.Group, cv(g.ConflictCounts)...)
	}
	out = append(out, c)

	wsec := section{
		metric: "win_rate", title: "4. Win rate and sales volume on approved registrations",
		note:    "deals associated with approved registrations; rate = won / (won + lost); sales volume = sum of won amounts",
		figures: []string{"approved_registrations", "with_deals", "deals", "open", "won", "lost", "rate", "sales_volume", "open_pipeline"},
		headers: []string{"APPROVED REGS", "WITH DEALS", "DEALS", "OPEN", "WON", "LOST", "WIN RATE", "SALES VOLUME", "OPEN PIPELINE"},
	}
	wv := func(x WinCounts) []value {
		return []value{count(x.ApprovedRegistrations), count(x.WithDeals), count(x.Deals), count(x.Open), count(x.Won),
			count(x.Lost), pct(x.Rate), money(x.SalesVolume), money(x.OpenPipeline)}
	}
	wsec.add(true, Group{}, wv(r.WinRate.WinCounts)...)
	for _, g := range r.WinRate.Groups {
		wsec.add(false, g.Group, wv(g.WinCounts)...)
	}
	out = append(out, wsec)

	t := section{
		metric: "response_times", title: "5. Time to first response and to approval (business days)",
		note: "first_response_at − submitted_at and approved_at − submitted_at in business days of the SLA calendar; " +
			"p90 by linear interpolation (PERCENTILE.INC)",
		figures: []string{"first_response_count", "first_response_median", "first_response_p90", "first_response_within_sla",
			"first_response_within_sla_rate", "approval_count", "approval_median", "approval_p90"},
		headers: []string{"RESPONSES", "MEDIAN", "P90", "WITHIN SLA", "WITHIN SLA %", "APPROVALS", "MEDIAN", "P90"},
	}
	tv := func(x ResponseCounts) []value {
		return []value{count(x.FirstResponse.Count), num(x.FirstResponse.Median), num(x.FirstResponse.P90),
			count(x.FirstResponse.WithinSLA), pct(x.FirstResponse.WithinSLARate),
			count(x.Approval.Count), num(x.Approval.Median), num(x.Approval.P90)}
	}
	t.add(true, Group{}, tv(r.ResponseTimes.ResponseCounts)...)
	for _, g := range r.ResponseTimes.Groups {
		t.add(false, g.Group, tv(g.ResponseCounts)...)
	}
	out = append(out, t)

	aw := r.ActiveWindows
	wn := section{
		metric: "active_windows", title: "6. Active protection windows",
		note: fmt.Sprintf("approved or meeting_booked with hold_until after %s, whenever submitted; expiring = within %d days",
			fmtInstant(aw.AsOf), aw.ExpiringWithinDays),
		figures: []string{"active", "expiring_soon"},
		headers: []string{"ACTIVE", fmt.Sprintf("EXPIRING ≤ %dD", aw.ExpiringWithinDays)},
	}
	wnv := func(x WindowCounts) []value { return []value{count(x.Active), count(x.ExpiringSoon)} }
	wn.add(true, Group{}, wnv(aw.WindowCounts)...)
	for _, g := range aw.ByRegion {
		wn.add(false, g.Group, wnv(g.WindowCounts)...)
	}
	for _, g := range aw.ByProduct {
		wn.add(false, g.Group, wnv(g.WindowCounts)...)
	}
	if r.Meta.By != ByRegion && r.Meta.By != ByProduct {
		for _, g := range aw.Groups {
			wn.add(false, g.Group, wnv(g.WindowCounts)...)
		}
	}
	out = append(out, wn)

	at := section{
		metric: "attribution", title: "7. Commission accuracy and cycle time",
		note: "won deals closed in the period; accuracy = matched / (matched + missing + mismatched); " +
			"cycle = calendar days from close date to attributed_at (0 if attributed before the close)",
		figures: []string{"won_deals", "matched", "missing", "mismatched", "accuracy", "without_registration",
			"cycle_days_count", "cycle_days_median", "cycle_days_p90", "not_attributed"},
		headers: []string{"WON DEALS", "MATCHED", "MISSING", "MISMATCHED", "ACCURACY", "NO REGISTRATION",
			"CYCLES", "MEDIAN DAYS", "P90 DAYS", "NOT ATTRIBUTED"},
	}
	atv := func(x AttributionCounts) []value {
		return []value{count(x.WonDeals), count(x.Matched), count(x.Missing), count(x.Mismatched), pct(x.Accuracy),
			count(x.WithoutRegistration), count(x.CycleDays.Count), num(x.CycleDays.Median), num(x.CycleDays.P90),
			count(x.NotAttributed)}
	}
	at.add(true, Group{}, atv(r.Attribution.AttributionCounts)...)
	for _, g := range r.Attribution.Groups {
		at.add(false, g.Group, atv(g.AttributionCounts)...)
	}
	out = append(out, at)
	return out
}

func fmtInstant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func fmtBound(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// CSVHeader is the header row of the CSV format.
var CSVHeader = []string{"metric", "by", "group", "name", "figure", "value"}

func renderCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	meta := [][2]string{
		{"since", fmtBound(r.Meta.Since)}, {"until", fmtBound(r.Meta.Until)}, {"as_of", fmtBound(r.Meta.Now)},
		{"by", string(r.Meta.By)}, {"registrations_read", strconv.Itoa(r.Meta.Registrations)},
		{"registrations_in_period", strconv.Itoa(r.Meta.InPeriod)}, {"deals_read", strconv.Itoa(r.Meta.Deals)},
	}
	for _, kv := range meta {
		_ = cw.Write([]string{"report", "", "all", "", kv[0], safeCSV(kv[1])})
	}
	for _, s := range sections(r) {
		for _, rw := range s.rows {
			by, group, name := "", "all", ""
			if !rw.all {
				by, group, name = string(rw.group.By), rw.group.Group, rw.group.Name
				if group == "" {
					group = "(none)"
				}
			}
			for i, v := range rw.values {
				_ = cw.Write([]string{s.metric, by, safeCSV(group), safeCSV(name), s.figures[i], v.csv})
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write csv: %w", err)
	}
	return nil
}

// safeCSV keeps a spreadsheet from running a cell as a formula: values from
// the CRM (segment, region, partner names) that start with = + - @ or a
// control character are prefixed with an apostrophe (OWASP's CSV injection
// advice).
func safeCSV(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func renderTable(w io.Writer, r Report) error {
	var b bytes.Buffer
	period := "all registrations"
	switch {
	case !r.Meta.Since.IsZero() && !r.Meta.Until.IsZero():
		period = "registrations submitted " + fmtInstant(r.Meta.Since) + " – before " + fmtInstant(r.Meta.Until)
	case !r.Meta.Since.IsZero():
		period = "registrations submitted from " + fmtInstant(r.Meta.Since)
	case !r.Meta.Until.IsZero():
		period = "registrations submitted before " + fmtInstant(r.Meta.Until)
	}
	fmt.Fprintf(&b, "regsync report — %s, as of %s\n", period, fmtInstant(r.Meta.Now))
	fmt.Fprintf(&b, "read %d registrations (%d in the period) and %d deals", r.Meta.Registrations, r.Meta.InPeriod, r.Meta.Deals)
	if r.Meta.DuplicatesSkipped > 0 {
		fmt.Fprintf(&b, "; %d records read twice counted once", r.Meta.DuplicatesSkipped)
	}
	b.WriteString("\n")
	for _, s := range sections(r) {
		fmt.Fprintf(&b, "\n%s\n  %s\n\n", s.title, s.note)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  GROUP\t%s\t\n", strings.Join(s.headers, "\t"))
		var last GroupBy = "-"
		for _, rw := range s.rows {
			label := "all"
			if !rw.all {
				if rw.group.By != last {
					fmt.Fprintf(tw, "  by %s\t%s\t\n", rw.group.By, strings.Repeat("\t", len(s.headers)-1))
				}
				last = rw.group.By
				label = "  " + tableSafe(rw.group.Label())
			}
			texts := make([]string, len(rw.values))
			for i, v := range rw.values {
				texts[i] = v.text
			}
			fmt.Fprintf(tw, "  %s\t%s\t\n", label, strings.Join(texts, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	// tabwriter pads the last column too; trim it.
	var out bytes.Buffer
	for l := range strings.Lines(b.String()) {
		out.WriteString(strings.TrimRight(l, " \n"))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// tableSafe keeps tabs, newlines and other control characters in CRM values
// from breaking the table's columns or the terminal.
func tableSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
