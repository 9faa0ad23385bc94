package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/dashboard"
	"github.com/regsync/regsync/report/reporttest"
)

const (
	dashToken = "dashboard-token-0123456789"
	dashUser  = "revops"
	dashPass  = "a-long-password-42"
)

// dashboardYAML opens the dashboard with a bearer token and basic auth.
var dashboardYAML = `dashboard: {token: ` + dashToken + `, user: ` + dashUser + `, password: ` + dashPass + `, title: "Partner program"}`

// getDashboard fetches GET /dashboard with an Authorization header ("" for
// none).
func (h *harness) getDashboard(auth string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.d.public+"/dashboard", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) refreshDashboard() error {
	h.t.Helper()
	return h.refreshDashboardWithin(30 * time.Second)
}

func (h *harness) refreshDashboardWithin(d time.Duration) error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	data, err := h.d.dash.Refresh(ctx)
	if err == nil {
		h.dashData = data
	}
	return err
}

// TestDashboardClosedWithoutCredentials: with no credential configured the
// dashboard answers 403 to everybody and the log says how to open it.
func TestDashboardClosedWithoutCredentials(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	code, _, body := h.getDashboard("Bearer anything-at-all-0123456")
	if code != http.StatusForbidden || !strings.Contains(body, "set dashboard.token") {
		t.Fatalf("GET /dashboard = %d %q, want 403 saying how to open it", code, body)
	}
	if !strings.Contains(h.logs.String(), "the dashboard is closed: set dashboard.token (or REGSYNC_DASHBOARD_TOKEN)") {
		t.Error("the log does not say how to open the dashboard")
	}
}

// seedFixture starts a daemon over the HubSpot fake with the report
// fixture in it, its clock at the fixture's now, and the dashboard's data
// read once. Neither the worker nor the deal feed sees the fixture (no
// webhooks; it is created after their first poll), so the records stay as
// the fixture has them.
func seedFixture(t *testing.T) *harness {
	t.Helper()
	h := startHarness(t, crms[0], harnessOpts{policy: reporttest.PartnersYAML(), extra: dashboardYAML})
	// The first polls (registrations and deals) run at start; the next in
	// an hour.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.d.m.PollRuns.WithLabelValues("hubspot", "ok")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the first polls did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.settle(5 * time.Second)
	hs := h.crm.(*hubspotFake).hs
	if _, err := reporttest.SeedHubSpot(hs); err != nil {
		t.Fatal(err)
	}
	h.crm.Advance(reporttest.Now.Sub(h.crm.Now()))
	if err := h.refreshDashboard(); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDashboardShowsTheFixture: behind its credentials, the page shows the
// fixture's pending queue oldest first with the overdue rows marked, the
// windows ending within 14 days, the decisions chart, the rates and the
// API budget; without valid credentials it answers 401.
func TestDashboardShowsTheFixture(t *testing.T) {
	h := seedFixture(t)

	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic cmV2b3BzOndyb25n"} {
		code, hdr, _ := h.getDashboard(auth)
		if code != http.StatusUnauthorized || len(hdr.Values("WWW-Authenticate")) != 2 {
			t.Errorf("auth %q: %d %v, want 401 with both challenges", auth, code, hdr.Values("WWW-Authenticate"))
		}
	}
	code, hdr, page := h.getDashboard("Bearer " + dashToken)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /dashboard = %d %s", code, hdr.Get("Content-Type"))
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(dashUser, dashPass)
	if code, _, _ := h.getDashboard(req.Header.Get("Authorization")); code != http.StatusOK {
		t.Errorf("basic auth: %d", code)
	}

	// The queue: pending registrations oldest first (R-18 2 Mar, R-7 9 Mar,
	// R-10 10 Mar, R-11 11 Mar, R-9 16 Mar, R-8 27 Mar), overdue in red
	// but R-8 (due 31 Mar 18:00, after now) and R-11 (needs info: no SLA).
	queue := section(t, page, "queue")
	var last int
	for _, id := range []string{"18", "7", "10", "11", "9", "8"} {
		cn := reporttest.CaseNumber(id)
		i := strings.Index(queue, cn)
		if i < 0 {
			t.Fatalf("queue lacks R-%s (%s)", id, cn)
		}
		if i < last {
			t.Errorf("R-%s out of order in the queue", id)
		}
		last = i
		row := queue[strings.LastIndex(queue[:i], "<tr"):i]
		overdue := strings.Contains(row, `class="overdue"`)
		if want := id != "8" && id != "11"; overdue != want {
			t.Errorf("R-%s overdue %v, want %v", id, overdue, want)
		}
	}
	// Windows ending within 14 days of 31 Mar: R-1 (9 Apr), R-15 (10 Apr).
	exp := section(t, page, "expiring")
	if !strings.Contains(exp, reporttest.CaseNumber("1")) || !strings.Contains(exp, reporttest.CaseNumber("15")) ||
		strings.Contains(exp, reporttest.CaseNumber("4")) {
		t.Error("the expiring windows are not R-1 and R-15")
	}
	// The decisions chart has bars; the rates and partners are there.
	if n := strings.Count(section(t, page, "decisions"), "<rect"); n < 4 {
		t.Errorf("decisions chart has %d bars", n)
	}
	for _, want := range []string{"Partner program", "Meeting rate", "Win rate", "Northwind Consulting", "Fabrikam Partners",
		`id="budget"`, "hubspot", "No dead letters.", "Inbox: 0 pending"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// cached is the dashboard's data as the last refresh left it.
func cached(h *harness) *dashboard.Data { return h.dashData }

// section returns the HTML of the page's <section id="…">.
func section(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `<section id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section %s", id)
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}

// TestDashboardKeepsTheLastSnapshotWhenTheCRMFails: a refresh that cannot
// read the CRM keeps serving the last figures, with the failure noted.
func TestDashboardKeepsTheLastSnapshotWhenTheCRMFails(t *testing.T) {
	h := seedFixture(t)
	hs := h.crm.(*hubspotFake).hs
	hs.SetFaults(hubspottest.Faults{ServerErrorRate: 1})
	// The client retries 5xx for a while: the refresh gives up first.
	if err := h.refreshDashboardWithin(2 * time.Second); err == nil {
		t.Fatal("a refresh against a failing CRM succeeded")
	}
	hs.SetFaults(hubspottest.Faults{})
	code, _, page := h.getDashboard("Bearer " + dashToken)
	if code != http.StatusOK {
		t.Fatalf("GET /dashboard = %d", code)
	}
	if !strings.Contains(page, "The last refresh of the CRM data failed") || !strings.Contains(page, reporttest.CaseNumber("18")) {
		t.Error("the page does not keep the last snapshot with the failure noted")
	}
	if err := h.refreshDashboard(); err != nil {
		t.Fatal(err)
	}
	if _, _, page := h.getDashboard("Bearer " + dashToken); strings.Contains(page, "The last refresh of the CRM data failed") {
		t.Error("the failure is still shown after a good refresh")
	}
}

// TestDashboardFollowsTheChangeFeed: after the first full read, a refresh
// reads only what changed (search and batch reads, no list), and the page
// shows it; dashboard.full_refresh brings a full read back.
func TestDashboardFollowsTheChangeFeed(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{pollInterval: 200 * time.Millisecond, extra: dashboardYAML})
		first := h.register(map[string]string{"partner_id": "northwind", "partner_email": "jo@northwind.example",
			"company_name": "Pending Co", "company_domain": "pending.example", "case_number": "R-3000",
			"submitted_at": t0.Format(time.RFC3339)}) // missing fields: needs_info
		h.waitDecided(first, 5*time.Second)
		h.settle(5 * time.Second)
		// The worker's cursor is past it: a whole poll has run since.
		polls := h.pollRuns()
		waitUntil(t, 5*time.Second, "a poll after the decision", func() bool { return h.pollRuns() >= polls+2 })
		if err := h.refreshDashboard(); err != nil {
			t.Fatal(err)
		}
		if cached(h).RegCursor == "" {
			t.Fatal("no change-feed cursor after the full read")
		}
		second := h.register(clean(50, "feed.example"))
		h.waitDecided(second, 5*time.Second)
		h.settle(5 * time.Second)
		before := h.crm.TotalCalls()
		if err := h.refreshDashboard(); err != nil {
			t.Fatal(err)
		}
		calls := h.crm.TotalCalls() - before
		if calls > 6 {
			t.Errorf("a refresh after one change made %d calls", calls)
		}
		_, _, page := h.getDashboard("Bearer " + dashToken)
		if !strings.Contains(page, "R-3000") {
			t.Error("the page lost R-3000 (needs info) after a delta refresh")
		}
		cache := cached(h)
		if n := len(cache.Regs); n != 2 {
			t.Errorf("cache holds %d registrations, want 2", n)
		}
		if r := cache.Regs[second]; r.Status != "approved" || r.Problem != "" {
			t.Errorf("cached %+v: want approved, trimmed", r)
		}
	})
}
