package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/report/reporttest"
)

// startPortal starts a fake HubSpot portal with the partner_registration
// object set up (as `regsync setup` does) and its call counters reset.
func startPortal(t testing.TB, opts hubspottest.Options) *hubspottest.Server {
	t.Helper()
	hs, err := hubspottest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Close)
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token = hs.URL(), secret.New("sandbox-token")
	cfg.PerTenSeconds = 100
	c, err := hubspot.New(cfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Setup(ctx, io.Discard); err != nil {
		t.Fatalf("setup: %v", err)
	}
	hs.ResetCalls()
	return hs
}

// reportConfig writes a configuration reading the portal with the fixture's
// partners and the default rules.
func reportConfig(t testing.TB, hs *hubspottest.Server, perTen int, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf(`crm: {kind: hubspot}
state: {path: %q}
hubspot:
  base_url: %q
  token: sandbox-token
  per_10s: %d
  search_per_second: 4
%s
%s`, filepath.Join(dir, "regsync.db"), hs.URL(), perTen, strings.Join(extra, "\n"), reporttest.PartnersYAML())
	path := filepath.Join(dir, "regsync.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixtureArgs are the flags of the fixture's report: the period 1–27 March
// (until inclusive), by partner, as of 31 March 12:00 UTC.
func fixtureArgs(cfg, format string) []string {
	return []string{"report", "--config", cfg, "--since", "2026-03-01", "--until", "2026-03-27", "--by", "partner",
		"--format", format, "--now", reporttest.Now.Format(time.RFC3339)}
}

// TestReportFixtureInEveryFormat seeds the hand-computed fixture into the
// fake HubSpot portal and checks every figure of `regsync report` in the
// three formats.
func TestReportFixtureInEveryFormat(t *testing.T) {
	hs := startPortal(t, hubspottest.Options{})
	if _, err := reporttest.SeedHubSpot(hs); err != nil {
		t.Fatal(err)
	}
	cfg := reportConfig(t, hs, 100)
	checks := map[string]func(string) []error{
		"json":  func(s string) []error { return reporttest.CheckJSON([]byte(s)) },
		"csv":   reporttest.CheckCSV,
		"table": reporttest.CheckTable,
	}
	for _, format := range []string{"json", "csv", "table"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runCLI(t, fixtureArgs(cfg, format)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, err := range checks[format](out) {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
	if n := len(reporttest.Figures); n < 50 {
		t.Errorf("only %d hand-computed figures: the checks would prove little", n)
	}
}

// TestReportReadsWithListEndpoints checks what `regsync report` asks of the
// CRM for the fixture: list (and association batch) calls, never search,
// never a write.
func TestReportReadsWithListEndpoints(t *testing.T) {
	hs := startPortal(t, hubspottest.Options{})
	if _, err := reporttest.SeedHubSpot(hs); err != nil {
		t.Fatal(err)
	}
	cfg := reportConfig(t, hs, 100)
	before := hs.TotalCalls()
	if code, _, errOut := runCLI(t, fixtureArgs(cfg, "json")...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	calls := hs.Calls()
	t.Logf("calls: %v (total %d)", calls, hs.TotalCalls()-before)
	for op, n := range calls {
		if strings.Contains(op, "search") || strings.HasPrefix(op, "POST /crm/v3/objects") && !strings.Contains(op, "batch/read") ||
			strings.HasPrefix(op, "PATCH") || strings.HasPrefix(op, "PUT") || strings.HasPrefix(op, "DELETE") {
			t.Errorf("report made %d %s calls", n, op)
		}
	}
}

func TestReportBadFlagsExit2(t *testing.T) {
	hs := startPortal(t, hubspottest.Options{})
	cfg := reportConfig(t, hs, 100)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--by", "colour"}, `--by: must be partner, segment, region or product, not "colour"`},
		{[]string{"--format", "xml"}, `--format: must be table, csv or json, not "xml"`},
		{[]string{"--since", "31/03/2026"}, `--since: "31/03/2026" is not a date (2006-01-02) or an RFC 3339 time`},
		{[]string{"--since", "2026-03-31", "--until", "2026-03-01"}, "is not after --since"},
		{[]string{"--now", "yesterday"}, `--now: "yesterday" is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, append([]string{"report", "--config", cfg}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
	if calls := hs.TotalCalls(); calls != 0 {
		t.Errorf("bad flags made %d API calls", calls)
	}
}

// TestReportOnTheSandbox reads the sandbox CRM a running `regsync serve`
// serves on crm.sandbox.addr (here the same fake portal), and says plainly
// when none runs.
func TestReportOnTheSandbox(t *testing.T) {
	hs := startPortal(t, hubspottest.Options{})
	if _, err := reporttest.SeedHubSpot(hs); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(hs.URL(), "http://")
	dir := t.TempDir()
	cfg := writeFile(t, "sandbox.yaml", fmt.Sprintf("crm:\n  kind: sandbox\n  sandbox: {addr: %q}\nstate: {path: %q}\n%s",
		addr, filepath.Join(dir, "regsync.db"), reporttest.PartnersYAML()))
	code, out, errOut := runCLI(t, fixtureArgs(cfg, "csv")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, err := range reporttest.CheckCSV(out) {
		t.Error(err)
	}

	hs.Close()
	code, out, errOut = runCLI(t, fixtureArgs(cfg, "csv")...)
	if code != 1 || out != "" || !strings.Contains(errOut, "start `regsync serve` with this configuration first") {
		t.Errorf("no sandbox running: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestReportFailsWithoutPartialOutput: a CRM that fails halfway prints
// nothing on stdout and exits 1.
func TestReportFailsWithoutPartialOutput(t *testing.T) {
	hs := startPortal(t, hubspottest.Options{})
	if _, err := reporttest.SeedHubSpot(hs); err != nil {
		t.Fatal(err)
	}
	cfg := reportConfig(t, hs, 100, "  max_retries: 1")
	hs.SetFaults(hubspottest.Faults{ServerErrorRate: 1})
	code, out, errOut := runCLI(t, append(fixtureArgs(cfg, "table"), "--log-level", "error")...)
	if code != 1 || out != "" || !strings.Contains(errOut, "read the registrations from hubspot") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
