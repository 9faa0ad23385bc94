package config

import (
	"strings"
	"testing"
	"time"
)

// The dashboard, summaries and schedule.summaries keys (issue 7).

func TestReportSectionsDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule.Summaries != "0 8 * * 1" {
		t.Errorf("schedule.summaries = %q, want 0 8 * * 1", c.Schedule.Summaries)
	}
	d := c.Dashboard
	if d.Configured() || d.Refresh != time.Minute || d.Title != "regsync" || d.DataRefresh != time.Minute || d.FullRefresh != time.Hour {
		t.Errorf("dashboard defaults = %+v", d)
	}
	s := c.Summaries
	if !s.Enabled || len(s.Unsubscribed) != 0 || s.ExpiringWithinDays != 14 || s.RecentDays != 7 {
		t.Errorf("summaries defaults = %+v", s)
	}
	eff, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"summaries: 0 8 * * 1", "dashboard:", "data_refresh: 1m0s", "expiring_within_days: 14"} {
		if !strings.Contains(string(eff), want) {
			t.Errorf("effective configuration lacks %q", want)
		}
	}
}

func TestReportSectionsErrorsNameFileAndLine(t *testing.T) {
	yml := `partners:
  - {id: northwind, email_domains: [northwind.example]}
schedule:
  summaries: "every monday"
dashboard:
  token: short
  full_refresh: 30s
summaries:
  unsubscribed: [northwind, fabrikam]
  recipients:
    northwind: [not-an-address]
  expiring_within_days: 0
`
	_, err := Parse("bad.yaml", []byte(yml), false)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`bad.yaml:4: schedule.summaries: "every monday": `,
		"bad.yaml:6: dashboard.token: must be at least 16 characters",
		"bad.yaml:7: dashboard.full_refresh: must be at least 1m and at least data_refresh (1m0s), not 30s",
		`bad.yaml:9: summaries.unsubscribed.1: unknown partner "fabrikam"`,
		`bad.yaml:11: summaries.recipients.northwind.0: "not-an-address" is not an e-mail address`,
		"bad.yaml:12: summaries.expiring_within_days: must be 1 to 90 days, not 0",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	if _, err := Parse("typo.yaml", []byte("summaries:\n  unsubscribe: [x]\n"), false); err == nil || !strings.Contains(err.Error(), "typo.yaml:2: field unsubscribe not found") {
		t.Errorf("unknown key: %v", err)
	}
	c, err := Parse("off.yaml", []byte("schedule: {summaries: \"off\"}\n"), false)
	if err != nil || c.Schedule.Summaries != "off" {
		t.Errorf("summaries off: %v", err)
	}
}

func TestDashboardCredentialsFromTheEnvironmentAreRedacted(t *testing.T) {
	t.Setenv("REGSYNC_DASHBOARD_TOKEN", "a-dashboard-token-0123456789")
	t.Setenv("REGSYNC_DASHBOARD_USER", "revops")
	t.Setenv("REGSYNC_DASHBOARD_PASSWORD", "a-long-password-42")
	c, err := Parse("env.yaml", []byte("crm: {kind: sandbox}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dashboard.Token.Reveal() != "a-dashboard-token-0123456789" || c.Dashboard.User != "revops" || !c.Dashboard.Configured() {
		t.Fatalf("dashboard = %+v", c.Dashboard)
	}
	eff, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(eff), "a-dashboard-token") || strings.Contains(string(eff), "a-long-password") {
		t.Errorf("a dashboard credential shows in the effective configuration:\n%s", eff)
	}
}
