// Package ruletest runs rule-test files: YAML cases that prove what the
// policy decides for a registration, like promtool's rule tests. It backs
// `regsync rules test FILE...`.
package ruletest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Exit codes of Run.
const (
	ExitOK      = 0 // every case passed
	ExitFailed  = 1 // a case failed
	ExitBadFile = 2 // a file could not be read or is invalid
)

type file struct {
	Config   string           `yaml:"config"`
	Partners *[]rules.Partner `yaml:"partners"`
	Rules    *rules.Rules     `yaml:"rules"`
	Now      string           `yaml:"now"`
	Cases    []testCase       `yaml:"cases"`
}

type testCase struct {
	Name         string               `yaml:"name"`
	Now          string               `yaml:"now"`
	Event        string               `yaml:"event"`
	At           string               `yaml:"at"`
	Registration map[string]yaml.Node `yaml:"registration"`
	Facts        caseFacts            `yaml:"facts"`
	Expect       expect               `yaml:"expect"`
}

type caseFacts struct {
	Company       *rules.Company         `yaml:"company"`
	OpenDeals     []rules.Deal           `yaml:"open_deals"`
	Registrations []map[string]yaml.Node `yaml:"registrations"`
	PartnerActive int                    `yaml:"partner_active"`
}

type expect struct {
	Status       *string   `yaml:"status"`
	Reason       *string   `yaml:"reason"`
	Message      *string   `yaml:"message"`
	Missing      *[]string `yaml:"missing"`
	HoldUntil    *string   `yaml:"hold_until"`
	MeetingDue   *string   `yaml:"meeting_due"`
	SLADue       *string   `yaml:"sla_due"`
	Owner        *string   `yaml:"owner"`
	Territory    *string   `yaml:"territory"`
	ConflictWith *string   `yaml:"conflict_with"`
	Escalate     *bool     `yaml:"escalate"`
}

// Events.
const (
	EventDecide  = "decide"
	EventMeeting = "meeting"
	EventSweep   = "sweep"
)

// Case is one loaded, runnable case.
type Case struct {
	Name   string
	File   string
	Line   int
	Event  string
	Now    time.Time
	At     time.Time
	Record registration.Record
	Facts  rules.Facts
	expect expect
	times  map[string]time.Time // parsed expected instants by key
}

// Suite is a loaded rule-test file.
type Suite struct {
	File   string
	Policy *rules.Policy
	Cases  []Case
}

// Load reads and validates a rule-test file. Every error reads
// "file:line: what is wrong".
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defaults := rules.DefaultRules()
	f := file{Rules: &defaults}
	doc, err := yamlx.Decode(path, data, &f)
	if err != nil {
		return nil, err
	}
	var errs []error
	bad := func(p []string, format string, args ...any) {
		errs = append(errs, doc.Errorf(p, format, args...))
	}

	var partners []rules.Partner
	rs := rules.DefaultRules()
	policyDoc := doc // the file whose lines policy errors point at
	if f.Config != "" {
		cfgPath := f.Config
		if !filepath.IsAbs(cfgPath) {
			cfgPath = filepath.Join(filepath.Dir(path), cfgPath)
		}
		cfg, err := config.LoadFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: config %s: %w", path, doc.Line([]string{"config"}), f.Config, err)
		}
		partners, rs = cfg.Partners, cfg.Rules
		policyDoc = nil
	}
	if f.Partners != nil {
		partners = *f.Partners
	}
	if doc.Has([]string{"rules"}) {
		rs = *f.Rules
	}
	pol, err := rules.NewPolicy(partners, rs)
	if err != nil {
		if policyDoc != nil {
			return nil, policyDoc.Annotate(err)
		}
		// Partners and rules come from the config and this file together:
		// name the setting, since the line may be in either file.
		return nil, fmt.Errorf("%s: partners and rules (with %s) do not validate together:\n%w", path, f.Config, err)
	}

	var defNow time.Time
	if f.Now != "" {
		if defNow, err = parseInstant(f.Now); err != nil {
			bad([]string{"now"}, "now: %v", err)
		}
	}
	if len(f.Cases) == 0 {
		bad([]string{"cases"}, "no cases")
	}
	s := &Suite{File: path, Policy: pol}
	for i, tc := range f.Cases {
		cp := yamlx.Path("cases", i)
		c := Case{Name: tc.Name, File: path, Line: doc.Line(cp), Event: tc.Event, Now: defNow, expect: tc.Expect, times: map[string]time.Time{}}
		if strings.TrimSpace(c.Name) == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if c.Event == "" {
			c.Event = EventDecide
		}
		switch c.Event {
		case EventDecide, EventMeeting, EventSweep:
		default:
			bad(yamlx.Path(cp, "event"), "event must be decide, meeting or sweep, not %q", c.Event)
		}
		if tc.Now != "" {
			if c.Now, err = parseInstant(tc.Now); err != nil {
				bad(yamlx.Path(cp, "now"), "now: %v", err)
			}
		}
		if c.Now.IsZero() && c.Event != EventMeeting {
			bad(cp, "case %q has no now (set it on the case or at the top of the file)", c.Name)
		}
		if tc.At != "" {
			if c.At, err = parseInstant(tc.At); err != nil {
				bad(yamlx.Path(cp, "at"), "at: %v", err)
			}
		} else if c.Event == EventMeeting {
			bad(cp, "case %q: a meeting event needs at (when the meeting happened)", c.Name)
		}
		if tc.Registration == nil {
			bad(cp, "case %q has no registration", c.Name)
		}
		if err := fillRecord(&c.Record, tc.Registration, doc); err != nil {
			errs = append(errs, err)
		}
		c.Facts = rules.Facts{Company: tc.Facts.Company, OpenDeals: tc.Facts.OpenDeals, PartnerActive: tc.Facts.PartnerActive}
		for _, m := range tc.Facts.Registrations {
			var r registration.Record
			if err := fillRecord(&r, m, doc); err != nil {
				errs = append(errs, err)
			}
			c.Facts.Registrations = append(c.Facts.Registrations, r)
		}
		for key, v := range map[string]*string{"hold_until": tc.Expect.HoldUntil, "meeting_due": tc.Expect.MeetingDue, "sla_due": tc.Expect.SLADue} {
			if v == nil {
				continue
			}
			t, err := parseInstant(*v)
			if err != nil && *v != "" {
				bad(yamlx.Path(cp, "expect", key), "expect.%s: %v", key, err)
			}
			c.times[key] = t
		}
		if st := tc.Expect.Status; st != nil && !registration.Status(*st).Valid() {
			bad(yamlx.Path(cp, "expect", "status"), "expect.status: unknown status %q", *st)
		}
		s.Cases = append(s.Cases, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// fillRecord sets record fields from a YAML mapping of field names.
func fillRecord(r *registration.Record, m map[string]yaml.Node, doc *yamlx.Doc) error {
	var errs []error
	for _, name := range slices.Sorted(mapsKeys(m)) {
		n := m[name]
		fld, ok := registration.LookupField(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown registration field %q", doc.File, n.Line, name))
			continue
		}
		if n.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s:%d: %s: expected a single value", doc.File, n.Line, name))
			continue
		}
		val := n.Value
		if n.Tag == "!!null" {
			val = ""
		}
		if err := fld.Set(r, val); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", doc.File, n.Line, err))
		}
	}
	r.Index()
	return errors.Join(errs...)
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func parseInstant(s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 instant (like 2026-03-02T15:00:00Z)", s)
	}
	return t.UTC(), nil
}

// Result is the outcome of one case.
type Result struct {
	Case     *Case
	Decision rules.Decision
	Diffs    []string
}

// Passed reports whether every expected key matched.
func (r Result) Passed() bool { return len(r.Diffs) == 0 }

// Run runs every case of the suite.
func (s *Suite) Run() []Result {
	out := make([]Result, 0, len(s.Cases))
	for i := range s.Cases {
		c := &s.Cases[i]
		var d rules.Decision
		switch c.Event {
		case EventMeeting:
			d = rules.OnMeeting(s.Policy, &c.Record, c.At)
		case EventSweep:
			d = rules.Sweep(s.Policy, &c.Record, c.Facts, c.Now)
		default:
			d = rules.Decide(s.Policy, &c.Record, c.Facts, c.Now)
		}
		out = append(out, Result{Case: c, Decision: d, Diffs: c.compare(d)})
	}
	return out
}

func (c *Case) compare(d rules.Decision) []string {
	var diffs []string
	str := func(key string, want *string, got string) {
		if want != nil && *want != got {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", key, got, *want))
		}
	}
	tm := func(key string, want *string, got time.Time) {
		if want == nil {
			return
		}
		w := c.times[key]
		if !w.Equal(got) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", key, showTime(got), showTime(w)))
		}
	}
	e := c.expect
	str("status", e.Status, string(d.Status))
	str("reason", e.Reason, d.Reason)
	str("message", e.Message, d.Message)
	if e.Missing != nil {
		got := d.Missing
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(*e.Missing, got) {
			diffs = append(diffs, fmt.Sprintf("missing: got [%s], want [%s]", strings.Join(got, ", "), strings.Join(*e.Missing, ", ")))
		}
	}
	tm("hold_until", e.HoldUntil, d.HoldUntil)
	tm("meeting_due", e.MeetingDue, d.MeetingDue)
	tm("sla_due", e.SLADue, d.SLADue)
	str("owner", e.Owner, d.Owner)
	str("territory", e.Territory, d.Territory)
	str("conflict_with", e.ConflictWith, d.ConflictWith)
	if e.Escalate != nil && *e.Escalate != d.Escalate {
		diffs = append(diffs, fmt.Sprintf("escalate: got %t, want %t", d.Escalate, *e.Escalate))
	}
	return diffs
}

func showTime(t time.Time) string {
	if t.IsZero() {
		return `""`
	}
	return t.UTC().Format(time.RFC3339)
}

// Run loads and runs rule-test files, writing a report to w, and returns
// the exit code: 0 when every case passed, 1 when one failed, 2 when a file
// could not be loaded (the other files still run).
func Run(paths []string, w io.Writer) int {
	code := ExitOK
	passed, failed := 0, 0
	for _, path := range paths {
		s, err := Load(path)
		if err != nil {
			fmt.Fprintf(w, "ERROR %s\n%s\n", path, indent(err.Error()))
			code = ExitBadFile
			continue
		}
		results := s.Run()
		filePassed := 0
		for _, r := range results {
			if r.Passed() {
				filePassed++
				continue
			}
			failed++
			if code == ExitOK {
				code = ExitFailed
			}
			fmt.Fprintf(w, "--- FAIL: %s (%s:%d)\n", r.Case.Name, r.Case.File, r.Case.Line)
			for _, d := range r.Diffs {
				fmt.Fprintf(w, "    %s\n", d)
			}
			fmt.Fprintf(w, "    decided %s %s by:\n", r.Decision.Status, r.Decision.Reason)
			for _, t := range r.Decision.Trace {
				fmt.Fprintf(w, "      %-18s %-4s %s\n", t.Name, t.Result, t.Detail)
			}
		}
		passed += filePassed
		status := "ok  "
		if filePassed != len(results) {
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s %s: %d of %d cases passed\n", status, path, filePassed, len(results))
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return code
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
