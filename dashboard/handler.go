package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
)

// Provider returns the snapshot to show. It is called once per request with
// the request's context; the daemon typically returns a cached snapshot
// rebuilt in the background.
type Provider func(ctx context.Context) (*Snapshot, error)

// Display limits: the page stays light on a phone however long the queue.
const (
	MaxQueueRows       = 200
	MaxDeadLetterRows  = 100
	maxLastErrorLength = 300
)

type handler struct {
	cfg     Config
	provide Provider
	log     *slog.Logger
	token   []byte // sha256 of the token, nil when unset
	user    []byte // sha256 of user and password, nil when basic auth is off
	pass    []byte
	refresh int
}

// New returns the dashboard handler. Every request must carry the
// configured bearer token or basic-auth credentials, or it gets 401 (with a
// WWW-Authenticate challenge for each scheme configured). With no credential
// configured the dashboard is closed: every request gets 403, and New logs
// once how to open it. Only GET and HEAD are served. Responses are never
// cached and may not be framed.
func New(cfg Config, provide Provider, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg, provide: provide, log: log}
	if cfg.Token.IsSet() {
		s := sha256.Sum256([]byte(cfg.Token.Reveal()))
		h.token = s[:]
	}
	if cfg.User != "" && cfg.Password.IsSet() {
		u, p := sha256.Sum256([]byte(cfg.User)), sha256.Sum256([]byte(cfg.Password.Reveal()))
		h.user, h.pass = u[:], p[:]
	}
	h.refresh = int(cfg.Refresh / time.Second)
	if h.refresh < 5 {
		h.refresh = 60
	}
	if h.token == nil && h.user == nil {
		log.Warn(howToOpen)
	}
	return h
}

func (h *handler) authorized(r *http.Request) bool {
	ok := false
	if h.token != nil {
		if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
			s := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			ok = subtle.ConstantTimeCompare(s[:], h.token) == 1
		}
	}
	if !ok && h.user != nil {
		if u, p, found := r.BasicAuth(); found {
			us, ps := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
			ok = subtle.ConstantTimeCompare(us[:], h.user)&subtle.ConstantTimeCompare(ps[:], h.pass) == 1
		}
	}
	return ok
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

	if h.token == nil && h.user == nil {
		http.Error(w, howToOpen, http.StatusForbidden)
		return
	}
	if !h.authorized(r) {
		if h.user != nil {
			hd.Add("WWW-Authenticate", `Basic realm="regsync dashboard", charset="UTF-8"`)
		}
		if h.token != nil {
			hd.Add("WWW-Authenticate", `Bearer realm="regsync dashboard"`)
		}
		http.Error(w, "credentials required", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	snap, err := h.provide(r.Context())
	if err == nil && snap == nil {
		err = errors.New("no snapshot yet")
	}
	if err != nil {
		h.log.Error("dashboard: snapshot unavailable", "err", err)
		hd.Set("Retry-After", strconv.Itoa(h.refresh))
		http.Error(w, "the dashboard data is not available right now; it retries by itself", http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := Render(&buf, h.cfg, snap); err != nil {
		h.log.Error("dashboard: render", "err", err)
		http.Error(w, "the dashboard could not be rendered", http.StatusInternalServerError)
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// Render writes the page for a snapshot; nothing is written when it fails.
// Everything from the CRM is escaped by html/template.
func Render(w io.Writer, cfg Config, s *Snapshot) error {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, buildPage(cfg, s)); err != nil {
		return fmt.Errorf("dashboard: render: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// The view model: strings and numbers ready to print.

type page struct {
	Title    string
	Refresh  int
	Now      string
	DataAge  string
	Problems []string

	Pending, Overdue, NeedsInfo, Dead int
	ActiveWindows                     string
	Meeting, Win, Approval            ring
	Partners                          []partnerRow

	Queue     []queueRow
	QueueMore int
	SLADays   int

	Chart, ChartCompact chart

	Expiring     []windowRow
	ExpiringDays int

	DeadLetters []deadRow
	DeadMore    int
	Inbox       *inboxRow
	Budgets     []budgetRow
}

type partnerRow struct {
	Name                      string
	Meeting, Win, Approval    string
	MeetingPct, WinPct        float64
	MeetingValid, WinValid    bool
	Approved, Won, Registered int
}

type queueRow struct {
	Case, Company, Partner, Status, Reason, Owner string
	Submitted, Due, Age, Left                     string
	Class                                         string
}

type windowRow struct {
	Case, Company, Partner, Status, Ends, Left, Meeting string
	Urgent                                              bool
}

type deadRow struct {
	Record, Reasons, Error, Since string
	Attempts                      int
}

type inboxRow struct {
	Pending, Due, Waiting, Leased int
	Oldest                        string
}

type kv struct {
	Key   string
	Value int64
}

type budgetRow struct {
	Connector       string
	Used, Limit     int64
	HasLimit        bool
	Pct             float64
	PctText         string
	Class           string
	Calls, Failures []kv
	TotalCalls      int64
	RateLimited     int64
	Paused          string
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006 15:04")
}

func fmtBD(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func label(id, name string) string {
	switch {
	case name != "" && id != "" && name != id:
		return name + " (" + id + ")"
	case name != "":
		return name
	case id != "":
		return id
	}
	return "—"
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

func buildPage(cfg Config, s *Snapshot) page {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	title := strings.TrimSpace(cfg.Title)
	if title == "" {
		title = "regsync"
	}
	p := page{Title: title, Refresh: int(cfg.Refresh / time.Second), Now: fmtTime(now) + " UTC", Problems: s.Problems, SLADays: s.SLADays}
	if p.Refresh < 5 {
		p.Refresh = 60
	}
	if !s.DataAsOf.IsZero() {
		p.DataAge = "CRM data read " + ago(now.Sub(s.DataAsOf)) + " (" + fmtTime(s.DataAsOf) + " UTC)"
	}

	for i, q := range s.Queue {
		p.Pending++
		if q.Overdue {
			p.Overdue++
		}
		if q.Status == registration.StatusNeedsInfo {
			p.NeedsInfo++
		}
		if i >= MaxQueueRows {
			continue
		}
		row := queueRow{
			Case: q.CaseNumber, Company: q.Company, Partner: label(q.PartnerID, q.PartnerName), Status: report.StatusLabel(q.Status),
			Reason: q.Reason, Owner: q.Owner, Submitted: fmtTime(q.SubmittedAt), Age: fmtBD(q.Age),
		}
		switch {
		case q.SLADue.IsZero():
			row.Due, row.Left = "—", "waiting on the partner"
			if q.Status != registration.StatusNeedsInfo {
				row.Left = "no SLA date"
			}
			row.Class = "idle"
		case q.Overdue:
			row.Due, row.Left, row.Class = fmtTime(q.SLADue), "overdue by "+fmtBD(-q.Left)+" bd", "overdue"
		default:
			row.Due, row.Left = fmtTime(q.SLADue), fmtBD(q.Left)+" bd left"
			if q.Left < 0.5 {
				row.Class = "soon"
			}
		}
		p.Queue = append(p.Queue, row)
	}
	p.QueueMore = max(0, len(s.Queue)-MaxQueueRows)

	p.Chart = weeksChart(s.Weeks, "wide", wideW, 11)
	p.ChartCompact = weeksChart(s.Weeks[max(0, len(s.Weeks)-compactWeeks):], "narrow", compactW, 13)

	within := s.ExpiringWithin
	if within <= 0 {
		within = report.DefaultExpiringWithin
	}
	p.ExpiringDays = int(within / (24 * time.Hour))
	for _, e := range s.Expiring {
		row := windowRow{
			Case: e.CaseNumber, Company: e.Company, Partner: label(e.PartnerID, e.PartnerName), Status: report.StatusLabel(e.Status),
			Ends: fmtTime(e.HoldUntil), Left: strconv.FormatFloat(e.DaysLeft, 'f', 1, 64) + " d", Urgent: e.DaysLeft < 3,
		}
		if !e.MeetingDue.IsZero() {
			row.Meeting = "first meeting due " + fmtTime(e.MeetingDue)
		}
		p.Expiring = append(p.Expiring, row)
	}

	p.Meeting = rateRing(false, 0, "no report")
	p.Win, p.Approval = p.Meeting, p.Meeting
	p.ActiveWindows = "n/a"
	if r := s.Report; r != nil {
		m := r.MeetingRate
		p.Meeting = rateRing(m.Rate.Valid, m.Rate.Value, fmt.Sprintf("%d of %d settled approvals met within %d days", m.MetInTime, m.MetInTime+m.MetLate+m.NoMeeting, m.MeetingWithinDays))
		wr := r.WinRate
		p.Win = rateRing(wr.Rate.Valid, wr.Rate.Value, fmt.Sprintf("%d won of %d closed deals · %s won", wr.Won, wr.Won+wr.Lost, money(wr.SalesVolume)))
		a := r.Approval
		p.Approval = rateRing(a.Rate.Valid, a.Rate.Value, fmt.Sprintf("%d approved of %d decided", a.Approved, a.Approved+a.Declined))
		p.ActiveWindows = strconv.Itoa(r.ActiveWindows.Active)
		if r.Meta.By == report.ByPartner {
			wins := map[string]report.WinCounts{}
			for _, g := range r.WinRate.Groups {
				wins[g.Group.Group] = g.WinCounts
			}
			apps := map[string]report.ApprovalCounts{}
			for _, g := range r.Approval.Groups {
				apps[g.Group.Group] = g.ApprovalCounts
			}
			for _, g := range r.MeetingRate.Groups {
				w := wins[g.Group.Group]
				row := partnerRow{
					Name: label(g.Group.Group, g.Name), Meeting: g.Rate.Percent(), Win: w.Rate.Percent(),
					Approval: apps[g.Group.Group].Rate.Percent(), MeetingValid: g.Rate.Valid, WinValid: w.Rate.Valid,
					MeetingPct: g.Rate.Value * 100, WinPct: w.Rate.Value * 100,
					Approved: g.Approved, Won: w.Won, Registered: apps[g.Group.Group].Submitted,
				}
				p.Partners = append(p.Partners, row)
			}
		}
	}

	p.Dead = len(s.DeadLetters)
	if s.Inbox != nil {
		p.Dead = max(p.Dead, s.Inbox.Dead)
		p.Inbox = &inboxRow{Pending: s.Inbox.Pending, Due: s.Inbox.Due, Waiting: s.Inbox.Waiting, Leased: s.Inbox.Leased, Oldest: "—"}
		if !s.Inbox.OldestEnqueued.IsZero() {
			p.Inbox.Oldest = ago(now.Sub(s.Inbox.OldestEnqueued))
		}
	}
	for i, d := range s.DeadLetters {
		if i >= MaxDeadLetterRows {
			break
		}
		msg := d.Failure() // "permanent: …": the class and the CRM's reason
		if len(msg) > maxLastErrorLength {
			msg = msg[:maxLastErrorLength] + "…"
		}
		rec := d.RecordID
		if d.CRM != "" {
			rec = d.CRM + " " + d.Object + " " + d.RecordID
		}
		if rec == "" {
			rec = d.Key
		}
		p.DeadLetters = append(p.DeadLetters, deadRow{Record: rec, Reasons: strings.ReplaceAll(d.Reason, ",", ", "),
			Error: msg, Since: fmtTime(d.EnqueuedAt), Attempts: d.Attempts})
	}
	p.DeadMore = max(0, len(s.DeadLetters)-MaxDeadLetterRows)

	for _, b := range s.Budgets {
		u := b.Usage
		row := budgetRow{Connector: b.Connector, Used: u.DailyUsed, Limit: u.DailyLimit, HasLimit: u.DailyLimit > 0, RateLimited: u.RateLimited}
		if row.HasLimit {
			row.Pct = min(100, float64(u.DailyUsed)*100/float64(u.DailyLimit))
			row.PctText = strconv.FormatFloat(row.Pct, 'f', 1, 64) + "%"
			switch {
			case row.Pct >= 90:
				row.Class = "bad"
			case row.Pct >= 70:
				row.Class = "warn"
			}
		}
		row.Calls, row.TotalCalls = sortedKV(u.Calls)
		row.Failures, _ = sortedKV(u.Failures)
		if u.PausedUntil.After(now) {
			row.Paused = "writes paused until " + fmtTime(u.PausedUntil) + " UTC (daily allocation used up)"
			row.Class = "bad"
		}
		p.Budgets = append(p.Budgets, row)
	}
	return p
}

func sortedKV(m map[string]int64) ([]kv, int64) {
	out := make([]kv, 0, len(m))
	var total int64
	for k, v := range m {
		out = append(out, kv{k, v})
		total += v
	}
	slices.SortFunc(out, func(a, b kv) int {
		if a.Value != b.Value {
			if a.Value > b.Value {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, total
}

func money(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
