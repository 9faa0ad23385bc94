package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigExample(t *testing.T) {
	code, out, errOut := runCLI(t, "check-config", "--config", "../../config.example.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"# effective configuration of ../../config.example.yaml", "addr: 127.0.0.1:8080",
		"policy: first_approved_wins", "timezone: America/New_York", "id: northwind", "  attribution:\n    grace: 0s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "configuration is valid (4 partners, 4 territories)") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestCheckConfigMisspeltKeyExits2WithFileAndLine(t *testing.T) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(example), "  hold_window:\n", "  hold_windw:\n", 1)
	p := writeFile(t, "regsync.yaml", bad)
	line := 1 + strings.Count(bad[:strings.Index(bad, "hold_windw")], "\n")
	code, _, errOut := runCLI(t, "check-config", "--config", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	want := "regsync: " + p + ":" + itoa(line) + ": field hold_windw not found\n"
	if errOut != want {
		t.Fatalf("stderr:\n got %q\nwant %q", errOut, want)
	}
}

func TestCheckConfigFromEnvironment(t *testing.T) {
	p := writeFile(t, "c.yaml", "crm: {kind: sandbox}\n")
	t.Setenv("REGSYNC_CONFIG", p)
	t.Setenv("REGSYNC_SERVER_ADDR", "127.0.0.1:9999")
	code, out, errOut := runCLI(t, "check-config")
	if code != 0 || !strings.Contains(out, "addr: 127.0.0.1:9999") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
}

func TestNoConfigIsAConfigError(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("REGSYNC_CONFIG", "")
	code, _, errOut := runCLI(t, "check-config")
	if code != 2 || !strings.Contains(errOut, "no configuration file") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"check-config", "--no-such-flag"},
		{"rules", "test"},
		{"version", "extra"},
	} {
		code, _, errOut := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"check-config", "--help"}, {"rules", "--help"}, {"rules", "test", "--help"}, {"version", "--help"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "regsync ") {
		t.Fatalf("exit %d: %q", code, out)
	}
}

func TestRulesTestShippedFilesPass(t *testing.T) {
	files, _ := filepath.Glob("../../rules/testdata/*.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d rule-test files", len(files))
	}
	code, out, _ := runCLI(t, append([]string{"rules", "test"}, files...)...)
	if code != 0 || !strings.Contains(out, " passed, 0 failed\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

const foreignCases = `
partners:
  - {id: acme-partners, name: Acme Partners, tier: gold, email_domains: [acmepartners.example]}
rules:
  hold_window: {days: 30, by_tier: {gold: 45}}
now: "2026-04-01T12:00:00Z"
cases:
  - name: approved for 45 days
    registration: {partner_id: acme-partners, partner_email: pat@acmepartners.example, company_name: Hooli,
                   company_domain: hooli.example, contact_name: Gavin, contact_email: gavin@hooli.example,
                   problem: "Needs a CRM.", consent: true, status: submitted, submitted_at: "2026-04-01T11:00:00Z"}
    expect: {status: approved, reason: approved, hold_until: "2026-05-16T12:00:00Z", missing: []}
`

func TestRulesTestPassFailBad(t *testing.T) {
	good := writeFile(t, "good.yaml", foreignCases)
	code, out, _ := runCLI(t, "rules", "test", good)
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("good file: exit %d\n%s", code, out)
	}

	failing := writeFile(t, "fail.yaml", strings.Replace(foreignCases, "2026-05-16T12:00:00Z", "2026-05-17T12:00:00Z", 1))
	code, out, _ = runCLI(t, "rules", "test", failing)
	if code != 1 {
		t.Fatalf("failing file: exit %d\n%s", code, out)
	}
	for _, want := range []string{"--- FAIL: approved for 45 days (" + failing + ":8)",
		"hold_until: got 2026-05-16T12:00:00Z, want 2026-05-17T12:00:00Z", "0 passed, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	bad := writeFile(t, "bad.yaml", strings.Replace(foreignCases, "reason: approved", "reasn: approved", 1))
	code, out, _ = runCLI(t, "rules", "test", bad)
	if code != 2 || !strings.Contains(out, bad+":12: field reasn not found") {
		t.Fatalf("bad file: exit %d\n%s", code, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
