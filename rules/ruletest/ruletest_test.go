package ruletest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/rules"
)

// decisionReasons are the reason codes Decide, OnMeeting and Sweep produce
// (the others — manual, appealed, withdrawn, won… — record what people and
// the CRM did, and are written by the daemon).
var decisionReasons = []string{
	rules.ReasonMissingFields, rules.ReasonUnknownPartner, rules.ReasonPartnerInactive, rules.ReasonSubmitterNotPartner,
	rules.ReasonFreeEmailDomain, rules.ReasonBlockedAccount, rules.ReasonDuplicate, rules.ReasonExistingDeal,
	rules.ReasonConflictProtected, rules.ReasonConflictPending, rules.ReasonConflictLost, rules.ReasonPossibleDuplicate,
	rules.ReasonPartnerCapReached, rules.ReasonNoTerritory, rules.ReasonApproved, rules.ReasonMeetingLogged,
	rules.ReasonNoMeeting, rules.ReasonWindowEnded,
}

// The shipped rule tests pass, and between them they produce every
// decision reason code under every conflict policy.
func TestShippedRuleTests(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule-test files: %v", err)
	}
	produced := map[string]bool{}
	policies := map[string]bool{}
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			t.Fatalf("%v", err)
		}
		policies[s.Policy.Rules.Conflict.Policy+"/"+s.Policy.Rules.Conflict.SplitOn] = true
		for _, r := range s.Run() {
			if !r.Passed() {
				t.Errorf("%s:%d %s: %s", r.Case.File, r.Case.Line, r.Case.Name, strings.Join(r.Diffs, "; "))
			}
			// A reason counts as covered only when a case asserts it.
			if want := r.Case.expect.Reason; want != nil && *want == r.Decision.Reason {
				produced[*want] = true
			}
		}
	}
	for _, reason := range decisionReasons {
		if !produced[reason] {
			t.Errorf("no passing case asserts reason %s", reason)
		}
	}
	for _, p := range []string{"first_approved_wins/segment", "first_meeting_wins/segment", "split_by_segment/segment", "split_by_segment/product_interest"} {
		if !policies[p] {
			t.Errorf("no rule-test file runs conflict policy %s", p)
		}
	}
}

// Every reason code is documented in docs/rules.md (the README's reference
// moved there).
func TestReasonsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Reasons {
		if !strings.Contains(string(doc), "`"+r.Code+"`") {
			t.Errorf("docs/rules.md does not document reason %s", r.Code)
		}
	}
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const base = `partners: [{id: p, email_domains: [p.example]}]
now: "2026-03-02T15:00:00Z"
cases:
  - name: one
    registration: {partner_id: p, partner_email: a@p.example, company_name: X, company_domain: x.example,
                   contact_name: C, contact_email: c@x.example, problem: y, consent: true}
    expect: {status: approved}
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown top-level key", strings.Replace(base, "now:", "nowish:", 1), ":2: field nowish not found"},
		{"unknown expect key", strings.Replace(base, "{status: approved}", "{status: approved, colour: red}", 1), ":7: field colour not found"},
		{"unknown registration field", strings.Replace(base, "consent: true", "consent: true, favourite: x", 1), `:6: unknown registration field "favourite"`},
		{"bad registration time", strings.Replace(base, "consent: true", "consent: true, submitted_at: yesterday", 1), `:6: submitted_at: "yesterday" is not an RFC 3339 time`},
		{"bad consent", strings.Replace(base, "consent: true", "consent: perhaps", 1), `:6: consent: "perhaps" is not a yes/no value`},
		{"bad expected time", strings.Replace(base, "{status: approved}", "{hold_until: soon}", 1), `:7: expect.hold_until: "soon" is not an RFC 3339 instant`},
		{"bad expected status", strings.Replace(base, "{status: approved}", "{status: approvd}", 1), `:7: expect.status: unknown status "approvd"`},
		{"bad event", strings.Replace(base, "- name: one", "- name: one\n    event: decid", 1), `:5: event must be decide, meeting or sweep, not "decid"`},
		{"meeting without at", strings.Replace(base, "- name: one", "- name: one\n    event: meeting", 1), `:4: case "one": a meeting event needs at`},
		{"no now", strings.Replace(base, `now: "2026-03-02T15:00:00Z"`, "", 1), `case "one" has no now`},
		{"bad policy", base + "rules: {conflict: {policy: loudest_wins}}\n", `:8: rules.conflict.policy: must be first_approved_wins`},
		{"no cases", "partners: []\ncases: []\n", ":2: no cases"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, "t.yaml", tt.body)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), p) {
				t.Errorf("error does not start with the file name: %v", err)
			}
		})
	}
}

func TestConfigIsRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "partners: [{id: p, tier: gold, email_domains: [p.example]}]\nrules: {hold_window: {by_tier: {gold: 10}}}\n"
	if err := os.WriteFile(filepath.Join(dir, "regsync.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	body := "config: ../regsync.yaml\n" + strings.Replace(base[strings.Index(base, "now:"):], "{status: approved}",
		`{status: approved, hold_until: "2026-03-12T15:00:00Z"}`, 1)
	p := filepath.Join(dir, "tests", "t.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := Run([]string{p}, &out); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	// rules: in the test file replaces the config's block whole: by_tier is
	// gone, so the default 60 days apply.
	body2 := strings.Replace(body, "config: ../regsync.yaml\n", "config: ../regsync.yaml\nrules: {}\n", 1)
	if err := os.WriteFile(p, []byte(body2), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Run([]string{p}, &out); code != ExitFailed || !strings.Contains(out.String(), "want 2026-03-12T15:00:00Z") {
		t.Fatalf("rules: {} did not replace the config's rules (exit %d):\n%s", code, out.String())
	}
}

func TestRunKeepsGoingAfterABadFile(t *testing.T) {
	good := write(t, "good.yaml", base)
	bad := write(t, "bad.yaml", "cases: [\n")
	var out bytes.Buffer
	code := Run([]string{bad, good}, &out)
	if code != ExitBadFile {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "ok   "+good) || !strings.Contains(out.String(), "1 passed, 0 failed") {
		t.Fatalf("good file not run after the bad one:\n%s", out.String())
	}
}
