package reporttest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// CSVHeader is the CSV format's header row.
var CSVHeader = []string{"metric", "by", "group", "name", "figure", "value"}

// Meta are the CSV rows describing the run (metric "report", group "all").
var Meta = map[string]string{
	"since": "2026-03-01T00:00:00Z", "until": "2026-03-28T00:00:00Z", "as_of": "2026-03-31T12:00:00Z",
	"by": "partner", "registrations_read": "18", "registrations_in_period": "15", "deals_read": "11",
}

// TableLines are lines the table format must hold, with runs of spaces
// collapsed to one.
var TableLines = []string{
	"regsync report — registrations submitted 2026-03-01 00:00 UTC – before 2026-03-28 00:00 UTC, as of 2026-03-31 12:00 UTC",
	// 1: approved, in time, late, no meeting, awaiting, rate
	"all 5 1 1 2 1 25.0%",
	"northwind (Northwind Consulting) 2 1 0 1 0 50.0%",
	// 2: submitted, approved, declined, pending, withdrawn, other, rate
	"all 15 5 2 6 1 1 71.4%",
	"northwind (Northwind Consulting) 6 2 1 3 0 0 66.7%",
	"Mid-Market 1 0 0 1 0 0 n/a",
	"(none) 2 1 0 0 0 1 100.0%",
	// 3: avoided, protected, lost, pending, unresolved, appealed, past SLA and its three reasons
	"all 3 1 1 1 4 1 3 1 1 1",
	// 4: approved regs, with deals, deals, open, won, lost, rate, volume, pipeline
	"all 5 4 7 1 5 1 83.3% 82,000.00 10,000.00",
	"fabrikam (Fabrikam Partners) 2 2 4 0 3 1 75.0% 75,000.00 0.00",
	// 5: responses, median, p90, within SLA, within SLA %, approvals, median, p90
	"all 13 0.5 1.9 12 92.3% 5 1 1.6",
	// 6: active, expiring
	"all 4 2",
	"Analytics 3 2",
	// 7: won deals, matched, missing, mismatched, accuracy, without registration, cycles, median, p90, not attributed
	"all 5 3 1 1 60.0% 2 4 1.63 3.05 1",
}

// CheckCSV compares CSV output (of a report with --by partner over the
// fixture) with Figures and Meta.
func CheckCSV(out string) []error {
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return []error{fmt.Errorf("csv: %w", err)}
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		return []error{fmt.Errorf("csv: header %v", rows)}
	}
	var errs []error
	m := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) != len(CSVHeader) {
			errs = append(errs, fmt.Errorf("csv: row %v has %d fields", r, len(r)))
			continue
		}
		k := strings.Join([]string{r[0], r[1], r[2], r[4]}, "|")
		if _, dup := m[k]; dup {
			errs = append(errs, fmt.Errorf("csv: %s twice", k))
		}
		m[k] = r[5]
	}
	for k, want := range Meta {
		if got := m["report||all|"+k]; got != want {
			errs = append(errs, fmt.Errorf("csv: report %s = %q, want %q", k, got, want))
		}
	}
	for _, f := range Figures {
		k := strings.Join([]string{f.Metric, f.By, f.Group, f.Figure}, "|")
		got, ok := m[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("csv: %s: not found", k))
		case got != f.Value:
			errs = append(errs, fmt.Errorf("csv: %s = %s, want %s", k, got, f.Value))
		}
	}
	return errs
}

// CheckJSON compares JSON output (of a report with --by partner over the
// fixture) with Figures, and checks that its top-level keys are exactly the
// seven metrics.
func CheckJSON(out []byte) []error {
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		return []error{fmt.Errorf("json: %w", err)}
	}
	var errs []error
	keys := []string{"registration_to_meeting_rate", "approval_rate", "conflicts", "win_rate", "response_times", "active_windows", "attribution"}
	if len(doc) != len(keys) {
		errs = append(errs, fmt.Errorf("json: %d top-level keys, want %d", len(doc), len(keys)))
	}
	for _, k := range keys {
		if _, ok := doc[k]; !ok {
			errs = append(errs, fmt.Errorf("json: no top-level key %s", k))
		}
	}
	for _, f := range Figures {
		got, ok := jsonFigure(doc, "partner", f)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("json: %s %s %s %s: not found", f.Metric, f.By, f.Group, f.Figure))
		case got != f.Value:
			errs = append(errs, fmt.Errorf("json: %s %s %s %s = %s, want %s", f.Metric, f.By, f.Group, f.Figure, got, f.Value))
		}
	}
	return errs
}

// jsonFigure finds a figure in the JSON document of a report made with
// --by by: group rows are in "groups" for that breakdown and in
// "by_<breakdown>" for the fixed ones; CSV figure names with a prefix
// (first_response_median) are nested objects in JSON.
func jsonFigure(doc map[string]any, by string, f Figure) (string, bool) {
	obj, ok := doc[f.Metric].(map[string]any)
	if !ok {
		return "", false
	}
	if f.By != "" {
		list := "groups"
		if f.By != by {
			list = "by_" + f.By
		}
		items, _ := obj[list].([]any)
		group := f.Group
		if group == "(none)" {
			group = ""
		}
		obj = nil
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && m["by"] == f.By && m["group"] == group {
				obj = m
			}
		}
		if obj == nil {
			return "", false
		}
	}
	path := []string{f.Figure}
	for _, prefix := range []string{"first_response", "approval", "cycle_days"} {
		if f.Metric != "approval_rate" && strings.HasPrefix(f.Figure, prefix+"_") {
			path = []string{prefix, strings.TrimPrefix(f.Figure, prefix+"_")}
		}
	}
	var v any = obj
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[p]; !ok {
			return "", false
		}
	}
	switch x := v.(type) {
	case nil:
		return "n/a", true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// CheckTable checks that table output holds every line of TableLines.
func CheckTable(out string) []error {
	lines := map[string]bool{}
	for l := range strings.SplitSeq(out, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	var errs []error
	for _, want := range TableLines {
		if !lines[want] {
			errs = append(errs, fmt.Errorf("table: no line %q", want))
		}
	}
	return errs
}
