package dashboard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// now: Wednesday 18 March 2026 12:00 UTC. SLA: 2 business days, US calendar, UTC.
var now = time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func policy(t testing.TB) *rules.Policy {
	t.Helper()
	p, err := rules.NewPolicy([]rules.Partner{
		{ID: "northwind", Name: "Northwind Consulting"},
		{ID: "fabrikam", Name: "Fabrikam Partners"},
	}, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func records() []registration.Record {
	rec := func(id, partner, company string, st registration.Status, reason, submitted string) registration.Record {
		r := registration.Record{ID: id, CaseNumber: "R-" + id, PartnerID: partner, CompanyName: company, Status: st, StatusReason: reason}
		if submitted != "" {
			r.SubmittedAt = at(submitted)
		}
		return r
	}
	var out []registration.Record
	// Pending: R-1 submitted Fri 13 Mar 09:00 → due Tue 17 Mar 09:00: overdue, 1.1 bd.
	// R-2 Tue 17 Mar 09:00 → due Thu 19 Mar 09:00: 0.875 bd left. R-3 needs info (no SLA).
	// R-4 appealed Wed 18 Mar 00:00 with sla_due Wed 18 Mar 18:00: 0.25 bd left → "soon".
	out = append(out, rec("1", "northwind", "Initech", registration.StatusInReview, "conflict_pending", "2026-03-13T09:00"))
	out = append(out, rec("2", "fabrikam", "Umbrella", registration.StatusSubmitted, "", "2026-03-17T09:00"))
	out = append(out, rec("3", "northwind", "Hooli", registration.StatusNeedsInfo, "missing_fields", "2026-03-16T10:00"))
	r4 := rec("4", "fabrikam", "Vandelay", registration.StatusAppealed, "appealed", "2026-03-02T10:00")
	r4.SLADue = at("2026-03-18T18:00")
	out = append(out, r4)
	// Decisions: approvals in the weeks of 2 Mar and 16 Mar; declines: week of 9 Mar
	// duplicate, conflict_protected; week of 16 Mar conflict_protected.
	for _, x := range []struct{ id, appr string }{{"5", "2026-03-03T10:00"}, {"6", "2026-03-06T10:00"}, {"7", "2026-03-16T10:00"}} {
		r := rec(x.id, "northwind", "Approved "+x.id, registration.StatusApproved, "approved", "2026-03-01T10:00")
		r.ApprovedAt, r.HoldUntil, r.MeetingDue = at(x.appr), at("2026-05-01T00:00"), at(x.appr).Add(14*24*time.Hour)
		out = append(out, r)
	}
	for _, x := range []struct{ id, reason, when string }{
		{"8", "duplicate", "2026-03-09T10:00"}, {"9", "conflict_protected", "2026-03-10T10:00"},
		{"10", "conflict_protected", "2026-03-13T23:00"}, {"11", "conflict_protected", "2026-03-17T10:00"},
	} {
		r := rec(x.id, "fabrikam", "Declined "+x.id, registration.StatusDeclined, x.reason, "2026-03-01T10:00")
		r.DecidedAt = at(x.when)
		out = append(out, r)
	}
	// Windows ending within 14 days: R-12 (20 Mar, meeting booked), R-13 (28 Mar, approved, meeting due 25 Mar);
	// R-14 ends 1 Apr 12:00 + 1 min: outside.
	r12 := rec("12", "northwind", "Soylent", registration.StatusMeetingBooked, "meeting_logged", "2026-01-10T10:00")
	r12.HoldUntil = at("2026-03-20T00:00")
	r13 := rec("13", "fabrikam", "Tyrell", registration.StatusApproved, "approved", "2026-03-11T10:00")
	r13.HoldUntil, r13.MeetingDue = at("2026-03-28T00:00"), at("2026-03-25T10:00")
	r14 := rec("14", "fabrikam", "Wonka", registration.StatusApproved, "approved", "2026-03-11T10:00")
	r14.HoldUntil = at("2026-04-01T12:01")
	out = append(out, r12, r13, r14)
	return out
}

func snapshot(t testing.TB) *Snapshot {
	t.Helper()
	p := policy(t)
	c := NewCollector(p, now, CollectorOptions{Weeks: 4})
	recs := records()
	_ = c.Add(recs[:6])
	_ = c.Add(append(recs[6:], recs[0])) // R-1 twice: once
	s := &Snapshot{DataAsOf: now.Add(-3 * time.Minute)}
	c.Fill(s)
	acc, err := report.New(p, report.Options{Now: now, By: report.ByPartner})
	if err != nil {
		t.Fatal(err)
	}
	_ = acc.Add(recs)
	rep := acc.Result()
	s.Report = &rep
	s.Inbox = &state.InboxStats{Pending: 3, Due: 1, Waiting: 1, Leased: 1, Dead: 1, OldestEnqueued: now.Add(-5 * time.Minute)}
	s.DeadLetters = []state.Item{{Key: "hubspot/partner_registration/991", CRM: "hubspot", Object: "partner_registration", RecordID: "991",
		Reason: "webhook,poll", Attempts: 1, LastError: "hubspot: batch update 1 records: invalid (HTTP 400): property segment", LastClass: "permanent", EnqueuedAt: now.Add(-2 * time.Hour)}}
	s.Budgets = []Budget{{Connector: "hubspot", Usage: connectors.Usage{
		Calls: map[string]int64{"batch read": 40, "search": 12, "batch update": 20}, RateLimited: 2,
		Failures: map[string]int64{"rate_limited": 2}, DailyUsed: 1200, DailyLimit: 250000,
	}}}
	return s
}

func TestCollector(t *testing.T) {
	s := snapshot(t)
	var cases []string
	for _, q := range s.Queue {
		cases = append(cases, q.CaseNumber)
	}
	// Oldest first: R-4 (2 Mar), R-1 (13 Mar), R-3 (16 Mar), R-2 (17 Mar).
	if got := strings.Join(cases, " "); got != "R-4 R-1 R-3 R-2" {
		t.Fatalf("queue = %s", got)
	}
	q := map[string]QueueItem{}
	for _, x := range s.Queue {
		q[x.CaseNumber] = x
	}
	// Fri 13 Mar 09:00 → now: 15/24 + Mon + Tue + 12/24 = 3.125 bd; due Tue 17 Mar 09:00,
	// overdue by 15/24 + 12/24 = 1.125 bd.
	if x := q["R-1"]; !x.Overdue || !near(x.Age, 3.125) || !near(x.Left, -1.125) || !x.SLADue.Equal(at("2026-03-17T09:00")) {
		t.Errorf("R-1 = %+v", x)
	}
	// due Thu 19 Mar 09:00, 12/24 + 9/24 = 0.875 bd left.
	if x := q["R-2"]; x.Overdue || !near(x.Left, 0.875) {
		t.Errorf("R-2 = %+v", x)
	}
	if x := q["R-3"]; x.Overdue || !x.SLADue.IsZero() {
		t.Errorf("R-3 (needs info) = %+v", x)
	}
	if x := q["R-4"]; x.Overdue || !near(x.Left, 0.25) || x.PartnerName != "Fabrikam Partners" {
		t.Errorf("R-4 = %+v", x)
	}
	// Weeks (Monday starts): 23 Feb, 2 Mar, 9 Mar, 16 Mar.
	want := []struct {
		start    string
		approved int
		declined map[string]int
	}{
		{"2026-02-23T00:00", 0, map[string]int{}},
		{"2026-03-02T00:00", 2, map[string]int{}},
		{"2026-03-09T00:00", 0, map[string]int{"duplicate": 1, "conflict_protected": 2}},
		{"2026-03-16T00:00", 1, map[string]int{"conflict_protected": 1}},
	}
	if len(s.Weeks) != len(want) {
		t.Fatalf("weeks = %+v", s.Weeks)
	}
	for i, w := range want {
		got := s.Weeks[i]
		if !got.Start.Equal(at(w.start)) || got.Approved != w.approved || len(got.Declined) != len(w.declined) {
			t.Errorf("week %d = %+v, want %+v", i, got, w)
		}
		for k, v := range w.declined {
			if got.Declined[k] != v {
				t.Errorf("week %d declined %s = %d, want %d", i, k, got.Declined[k], v)
			}
		}
	}
	// Expiring within 14 days (by 1 Apr 12:00).
	if len(s.Expiring) != 2 || s.Expiring[0].CaseNumber != "R-12" || s.Expiring[1].CaseNumber != "R-13" {
		t.Fatalf("expiring = %+v", s.Expiring)
	}
	if e := s.Expiring[1]; !e.MeetingDue.Equal(at("2026-03-25T10:00")) || !near(e.DaysLeft, 9.5) {
		t.Errorf("R-13 = %+v", e)
	}
	if s.SLADays != 2 || s.ExpiringWithin != 14*24*time.Hour {
		t.Errorf("SLADays %d ExpiringWithin %s", s.SLADays, s.ExpiringWithin)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func renderPage(t *testing.T, cfg Config, s *Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, cfg, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// walk visits every element of an HTML document.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode {
			b.WriteString(" ") // cells and blocks are separate words
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
		if n.Type == html.ElementNode {
			b.WriteString(" ")
		}
	}
	f(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func parse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no script, no external resource, no event handler.
	walk(doc, func(n *html.Node) {
		if n.Data == "script" || n.Data == "iframe" || n.Data == "object" || n.Data == "embed" || n.Data == "img" {
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
			}
			if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "data:") {
				t.Errorf("<%s %s=%q> loads something", n.Data, a.Key, a.Val)
			}
		}
	})
	return doc
}

func TestRender(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Refresh, cfg.Title = 30*time.Second, "Acme partners"
	page := renderPage(t, cfg, snapshot(t))
	doc := parse(t, page)

	var rows []string
	var overdue []string
	var rects, titles []string
	charts := map[string][]string{}
	var refresh string
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "meta":
			if attr(n, "http-equiv") == "refresh" {
				refresh = attr(n, "content")
			}
		case "tr":
			rows = append(rows, text(n))
			if attr(n, "class") == "overdue" {
				overdue = append(overdue, text(n))
			}
		case "svg":
			class := attr(n, "class")
			walk(n, func(r *html.Node) {
				if r.Data == "rect" {
					charts[class] = append(charts[class], text(r))
					if class == "wide" {
						rects = append(rects, attr(r, "fill"))
						titles = append(titles, text(r))
					}
				}
			})
		}
	})
	if refresh != "30" {
		t.Errorf("meta refresh = %q", refresh)
	}
	has := func(want string) {
		t.Helper()
		for _, r := range rows {
			if r == want {
				return
			}
		}
		t.Errorf("no table row %q among\n%s", want, strings.Join(rows, "\n"))
	}
	// The queue, oldest first, overdue in red.
	has("R-4 Vandelay Fabrikam Partners (fabrikam) appealed appealed 2 Mar 2026 10:00 12.1 18 Mar 2026 18:00 0.2 bd left")
	has("R-1 Initech Northwind Consulting (northwind) in review conflict_pending 13 Mar 2026 09:00 3.1 17 Mar 2026 09:00 overdue by 1.1 bd")
	has("R-3 Hooli Northwind Consulting (northwind) needs info missing_fields 16 Mar 2026 10:00 2.1 — waiting on the partner")
	has("R-2 Umbrella Fabrikam Partners (fabrikam) submitted 17 Mar 2026 09:00 1.1 19 Mar 2026 09:00 0.9 bd left")
	if len(overdue) != 1 || !strings.HasPrefix(overdue[0], "R-1 ") {
		t.Errorf("overdue rows = %q", overdue)
	}
	i4, i1, i3, i2 := strings.Index(page, ">R-4<"), strings.Index(page, ">R-1<"), strings.Index(page, ">R-3<"), strings.Index(page, ">R-2<")
	if i4 >= i1 || i1 >= i3 || i3 >= i2 {
		t.Errorf("queue order: R-4 %d, R-1 %d, R-3 %d, R-2 %d", i4, i1, i3, i2)
	}
	// Chart: one segment per non-zero count: week of 2 Mar approved 2; 9 Mar conflict_protected 2,
	// duplicate 1; 16 Mar approved 1, conflict_protected 1 = 5 segments.
	wantTitles := []string{
		"week of 2 Mar — approved: 2",
		"week of 9 Mar — declined conflict_protected: 2", "week of 9 Mar — declined duplicate: 1",
		"week of 16 Mar — approved: 1", "week of 16 Mar — declined conflict_protected: 1",
	}
	if strings.Join(titles, "|") != strings.Join(wantTitles, "|") {
		t.Errorf("chart segments:\n%s\nwant\n%s", strings.Join(titles, "\n"), strings.Join(wantTitles, "\n"))
	}
	// The phone's chart shows the last 6 weeks: here, the same 4.
	if strings.Join(charts["narrow"], "|") != strings.Join(wantTitles, "|") {
		t.Errorf("compact chart segments = %q", charts["narrow"])
	}
	if rects[0] != colorApproved || rects[1] != declineColors[0] || rects[2] != declineColors[1] {
		t.Errorf("segment colours = %v", rects)
	}
	// The tallest week (3) sets the axis at 5: 2 approvals are 2/5 of the plot (220 px) = 88 px.
	if strings.Count(page, `height="88.0" fill="#2e7d32"`) != 2 {
		t.Errorf("the 2-approval bar is not 88 px high")
	}
	for _, want := range []string{
		"4 pending · 1 past SLA", "1 waiting on partners (needs info)", "1 dead letters",
		// Rates from the report: meeting rate over, R-7 (no meeting; deadlines 17 Mar and 20 Mar, 30 Mar):
		// R-5's passed, the others await → 0 of 1.
		"Meeting rate 0 of 1 settled approvals met within 14 days",
		// Approval: approved (R-12 meeting booked too) of 10 decided.
		"Approval rate 6 approved of 10 decided",
		"Win rate 0 won of 0 closed deals · 0 won",
		"R-12 Soylent Northwind Consulting (northwind) meeting booked 20 Mar 2026 00:00 1.5 d",
		"R-13 Tyrell Fabrikam Partners (fabrikam) approved 28 Mar 2026 00:00 9.5 d first meeting due 25 Mar 2026 10:00",
		"hubspot partner_registration 991 webhook, poll 1 18 Mar 2026 10:00 permanent: hubspot: batch update 1 records: invalid (HTTP 400): property segment",
		"1200 of 250000 calls today (0.5%)", "72 calls since start · 2 rate-limited answers",
		"Inbox: 3 pending (1 due, 1 backing off, 1 in progress) · oldest 5 min ago",
		"CRM data read 3 min ago",
	} {
		if !strings.Contains(text(doc), want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	has("batch read 40")
	has("Northwind Consulting (northwind) 6 100.0% 0.0% n/a")
	has("Fabrikam Partners (fabrikam) 8 33.3% n/a n/a")
}

func TestRenderEmpty(t *testing.T) {
	p := policy(t)
	c := NewCollector(p, now, CollectorOptions{})
	s := &Snapshot{}
	c.Fill(s)
	page := renderPage(t, DefaultConfig(), s)
	doc := parse(t, page)
	for _, want := range []string{"Nothing is waiting for a decision.", "no decisions in these weeks", "No window ends in the next 14 days.",
		"No dead letters.", "No connector reported its usage.", "n/a Meeting rate no report"} {
		if !strings.Contains(text(doc), want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
	if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
		t.Error("empty page prints NaN or Inf")
	}
	if len(s.Weeks) != 12 {
		t.Errorf("default weeks = %d", len(s.Weeks))
	}
}

// CRM values can hold anything; the page must show them as text.
func TestRenderEscapesHostileValues(t *testing.T) {
	p := policy(t)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	recs := []registration.Record{
		{ID: "1", CaseNumber: `R-1"><svg onload=alert(1)>`, PartnerID: `x" onmouseover="alert(1)`, CompanyName: evil,
			Status: registration.StatusSubmitted, StatusReason: "</title><script>alert(2)</script>", OwnerID: "<b>owner</b>", SubmittedAt: at("2026-03-17T09:00")},
		{ID: "2", CaseNumber: "R-2", PartnerID: "northwind", CompanyName: evil, Status: registration.StatusDeclined,
			StatusReason: `</title></rect><script>alert(3)</script>`, DecidedAt: at("2026-03-17T09:00")},
		{ID: "3", CaseNumber: "R-3", PartnerID: "northwind", CompanyName: evil, Status: registration.StatusApproved,
			HoldUntil: at("2026-03-20T00:00")},
	}
	c := NewCollector(p, now, CollectorOptions{})
	_ = c.Add(recs)
	s := &Snapshot{Problems: []string{evil}}
	c.Fill(s)
	s.DeadLetters = []state.Item{{Key: evil, LastError: evil}}
	s.Budgets = []Budget{{Connector: evil, Usage: connectors.Usage{Calls: map[string]int64{evil: 1}, Failures: map[string]int64{evil: 1}}}}
	cfg := DefaultConfig()
	cfg.Title = evil
	page := renderPage(t, cfg, s)
	parse(t, page) // no script, img, event handler or external resource
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") || strings.Contains(page, "<svg onload") {
		t.Errorf("hostile markup rendered raw")
	}
	if n := strings.Count(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 5 {
		t.Errorf("escaped company name appears %d times", n)
	}
}

// capture records log entries.
type capture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, r := range c.recs {
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

func serve(t *testing.T, h http.Handler, method string, hdr map[string]string, basic []string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, "/dashboard", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	if basic != nil {
		r.SetBasicAuth(basic[0], basic[1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestAuth(t *testing.T) {
	const tok = "0123456789abcdef0123"
	snap := snapshot(t)
	provide := func(context.Context) (*Snapshot, error) { return snap, nil }
	tokenOnly := DefaultConfig()
	tokenOnly.Token = secret.New(tok)
	basicOnly := DefaultConfig()
	basicOnly.User, basicOnly.Password = "revops", secret.New("correct horse battery")
	both := basicOnly
	both.Token = secret.New(tok)
	userNoPass := DefaultConfig()
	userNoPass.User = "revops" // invalid config: never opens the dashboard

	for _, c := range []struct {
		name      string
		cfg       Config
		method    string
		hdr       map[string]string
		basic     []string
		status    int
		challenge string
	}{
		{"closed: nothing", DefaultConfig(), "GET", nil, nil, 403, ""},
		{"closed: any bearer", DefaultConfig(), "GET", map[string]string{"Authorization": "Bearer "}, nil, 403, ""},
		{"closed: any basic", DefaultConfig(), "GET", nil, []string{"", ""}, 403, ""},
		{"closed: user without password", userNoPass, "GET", nil, []string{"revops", ""}, 403, ""},
		{"token: none", tokenOnly, "GET", nil, nil, 401, `Bearer realm="regsync dashboard"`},
		{"token: wrong", tokenOnly, "GET", map[string]string{"Authorization": "Bearer " + tok + "x"}, nil, 401, `Bearer realm="regsync dashboard"`},
		{"token: prefix", tokenOnly, "GET", map[string]string{"Authorization": "Bearer " + tok[:10]}, nil, 401, `Bearer realm="regsync dashboard"`},
		{"token: as basic password", tokenOnly, "GET", nil, []string{"revops", tok}, 401, `Bearer realm="regsync dashboard"`},
		{"token: right", tokenOnly, "GET", map[string]string{"Authorization": "Bearer " + tok}, nil, 200, ""},
		{"token: scheme case", tokenOnly, "GET", map[string]string{"Authorization": "bearer " + tok}, nil, 200, ""},
		{"token: HEAD", tokenOnly, "HEAD", map[string]string{"Authorization": "Bearer " + tok}, nil, 200, ""},
		{"token: POST", tokenOnly, "POST", map[string]string{"Authorization": "Bearer " + tok}, nil, 405, ""},
		{"token: POST without auth", tokenOnly, "POST", nil, nil, 401, `Bearer realm="regsync dashboard"`},
		{"basic: none", basicOnly, "GET", nil, nil, 401, `Basic realm="regsync dashboard", charset="UTF-8"`},
		{"basic: wrong user", basicOnly, "GET", nil, []string{"revop", "correct horse battery"}, 401, `Basic realm="regsync dashboard", charset="UTF-8"`},
		{"basic: wrong password", basicOnly, "GET", nil, []string{"revops", "correct horse batter"}, 401, `Basic realm="regsync dashboard", charset="UTF-8"`},
		{"basic: empty", basicOnly, "GET", nil, []string{"", ""}, 401, `Basic realm="regsync dashboard", charset="UTF-8"`},
		{"basic: right", basicOnly, "GET", nil, []string{"revops", "correct horse battery"}, 200, ""},
		{"basic: password as bearer", basicOnly, "GET", map[string]string{"Authorization": "Bearer correct horse battery"}, nil, 401, `Basic realm="regsync dashboard", charset="UTF-8"`},
		{"both: token", both, "GET", map[string]string{"Authorization": "Bearer " + tok}, nil, 200, ""},
		{"both: basic", both, "GET", nil, []string{"revops", "correct horse battery"}, 200, ""},
		{"both: none", both, "GET", nil, nil, 401, `Basic realm="regsync dashboard", charset="UTF-8"|Bearer realm="regsync dashboard"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := serve(t, New(c.cfg, provide, nil), c.method, c.hdr, c.basic)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status = %d, want %d (%s)", res.StatusCode, c.status, body)
			}
			if got := strings.Join(res.Header.Values("WWW-Authenticate"), "|"); got != c.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, c.challenge)
			}
			if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Frame-Options") != "DENY" ||
				!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("security headers: %v", res.Header)
			}
			if c.status != 200 {
				// Nothing of the partner data leaks without credentials.
				for _, secretish := range []string{"Initech", "Northwind", "R-1"} {
					if strings.Contains(string(body), secretish) {
						t.Errorf("%d body shows %q", c.status, secretish)
					}
				}
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if c.method == "GET" && !strings.Contains(string(body), "Initech") {
				t.Errorf("the page does not show the queue")
			}
		})
	}
}

func TestClosedLogsHowToOpenOnce(t *testing.T) {
	var logs capture
	h := New(DefaultConfig(), func(context.Context) (*Snapshot, error) { return snapshot(t), nil }, slog.New(&logs))
	for range 3 {
		res := serve(t, h, "GET", nil, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 403 || !strings.Contains(string(body), "REGSYNC_DASHBOARD_TOKEN") {
			t.Errorf("closed dashboard: %d %s", res.StatusCode, body)
		}
	}
	if got := logs.all(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "WARN the dashboard is closed: set dashboard.token") {
		t.Errorf("logs:\n%s", got)
	}
	// A configured dashboard logs nothing, and never its credentials.
	var quiet capture
	cfg := DefaultConfig()
	cfg.Token, cfg.User, cfg.Password = secret.New("0123456789abcdef0123"), "revops", secret.New("correct horse battery")
	h = New(cfg, func(context.Context) (*Snapshot, error) { return nil, errors.New("crm unreachable") }, slog.New(&quiet))
	res := serve(t, h, "GET", map[string]string{"Authorization": "Bearer 0123456789abcdef0123"}, nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "60" || strings.Contains(string(body), "crm unreachable") {
		t.Errorf("snapshot failure: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	got := quiet.all()
	if !strings.Contains(got, "ERROR dashboard: snapshot unavailable err=crm unreachable") {
		t.Errorf("logs:\n%s", got)
	}
	if strings.Contains(got, "0123456789abcdef") || strings.Contains(got, "horse") {
		t.Errorf("a credential was logged:\n%s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	re := regexp.MustCompile(`\n`)
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.Token = secret.New("0123456789abcdef") }, ""},
		{func(c *Config) { c.User, c.Password = "revops", secret.New("twelve chars") }, ""},
		{func(c *Config) { c.Token = secret.New("short") }, "dashboard.token: must be at least 16 characters (try: openssl rand -hex 24)"},
		{func(c *Config) { c.Token = secret.New("0123456789 abcdef") }, "dashboard.token: must not contain spaces or line breaks"},
		{func(c *Config) { c.User = "revops" }, "dashboard.password: required with dashboard.user (REGSYNC_DASHBOARD_PASSWORD)"},
		{func(c *Config) { c.Password = secret.New("twelve chars") }, "dashboard.user: required with dashboard.password"},
		{func(c *Config) { c.User, c.Password = "revops", secret.New("eleven char") }, "dashboard.password: must be at least 12 characters"},
		{func(c *Config) { c.User, c.Password = "rev:ops", secret.New("twelve chars") }, "dashboard.user: must not contain a colon or a line break"},
		{func(c *Config) { c.Refresh = time.Second }, "dashboard.refresh: must be at least 5s, not 1s"},
		{func(c *Config) { c.Title = "a\nb" }, "dashboard.title: must be one line"},
	} {
		cfg := DefaultConfig()
		c.mod(&cfg)
		got := ""
		if err := cfg.Validate(); err != nil {
			got = re.ReplaceAllString(err.Error(), " | ")
		}
		if got != c.want {
			t.Errorf("Validate = %q, want %q", got, c.want)
		}
	}
	if cfg := DefaultConfig(); cfg.Configured() {
		t.Error("the default config is open")
	}
}
