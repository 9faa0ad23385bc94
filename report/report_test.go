package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report/reporttest"
	"github.com/regsync/regsync/rules"
)

var (
	fixNow   = reporttest.Now
	fixSince = reporttest.Since
	fixUntil = reporttest.Until
)

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func fixPolicy(t testing.TB) *rules.Policy {
	t.Helper()
	p, err := reporttest.Policy()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	sApproved  = registration.StatusApproved
	sMeeting   = registration.StatusMeetingBooked
	sConverted = registration.StatusConverted
	sExpired   = registration.StatusExpired
	sDeclined  = registration.StatusDeclined
	sInReview  = registration.StatusInReview
	sAppealed  = registration.StatusAppealed
	sNeedsInfo = registration.StatusNeedsInfo
	sWithdrawn = registration.StatusWithdrawn
)

// fixture returns the records in two pages (R-1 repeated in the second, as
// a CRM list may) and the deals (D1 repeated).
func fixture() (pages [][]registration.Record, deals [][]registration.Deal) {
	all := reporttest.Records()
	ds := reporttest.Deals()
	pages = [][]registration.Record{all[:9], append(all[9:], all[0])}
	deals = [][]registration.Deal{ds[:5], append(append([]registration.Deal(nil), ds[5:]...), ds[0])}
	return pages, deals
}

func fixReport(t testing.TB, by GroupBy) Report {
	t.Helper()
	acc, err := New(fixPolicy(t), Options{Since: fixSince, Until: fixUntil, Now: fixNow, By: by})
	if err != nil {
		t.Fatal(err)
	}
	pages, deals := fixture()
	// Deals first, registrations after: the order does not matter.
	for _, d := range deals {
		if err := acc.AddDeals(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pages {
		if err := acc.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return acc.Result()
}

func render(t *testing.T, r Report, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r, f); err != nil {
		t.Fatalf("Render %s: %v", f, err)
	}
	return b.String()
}

// csvFigures indexes CSV output by metric|by|group|figure.
func csvFigures(t *testing.T, out string) map[string]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if !slices.Equal(rows[0], CSVHeader) {
		t.Fatalf("csv header = %v", rows[0])
	}
	m := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) != len(CSVHeader) {
			t.Fatalf("csv row %v has %d fields", r, len(r))
		}
		k := strings.Join([]string{r[0], r[1], r[2], r[4]}, "|")
		if _, dup := m[k]; dup {
			t.Errorf("csv: %s twice", k)
		}
		m[k] = r[5]
	}
	return m
}

func TestFixtureInAllFormats(t *testing.T) {
	r := fixReport(t, ByPartner)
	for _, c := range []struct {
		f     Format
		check func(string) []error
	}{
		{FormatJSON, func(s string) []error { return reporttest.CheckJSON([]byte(s)) }},
		{FormatCSV, reporttest.CheckCSV},
		{FormatTable, reporttest.CheckTable},
	} {
		out := render(t, r, c.f)
		for _, err := range c.check(out) {
			t.Errorf("%s: %v", c.f, err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", c.f, out)
			return
		}
	}
	if tbl := render(t, r, FormatTable); !strings.Contains(tbl, "read 18 registrations (15 in the period) and 11 deals; 2 records read twice counted once") {
		t.Errorf("table header:\n%s", tbl)
	}
}

// The checkers fail on a wrong figure in every format.
func TestCheckersCatchAWrongFigure(t *testing.T) {
	r := fixReport(t, ByPartner)
	r.Attribution.CycleDays.P90 = Num(3.06)
	r.ActiveWindows.ExpiringSoon = 3
	if errs := reporttest.CheckJSON([]byte(render(t, r, FormatJSON))); len(errs) != 2 {
		t.Errorf("json: %v", errs)
	}
	if errs := reporttest.CheckCSV(render(t, r, FormatCSV)); len(errs) != 2 {
		t.Errorf("csv: %v", errs)
	}
	if errs := reporttest.CheckTable(render(t, r, FormatTable)); len(errs) != 2 {
		t.Errorf("table: %v", errs)
	}
}

func TestFixtureStructure(t *testing.T) {
	r := fixReport(t, ByPartner)
	if m := r.Meta; m.Registrations != 18 || m.Deals != 11 || m.InPeriod != 15 || m.DuplicatesSkipped != 2 {
		t.Errorf("meta = %+v", m)
	}
	// The by_partner rows list every partner of the program, in id order.
	var ids []string
	for _, g := range r.Approval.ByPartner {
		ids = append(ids, g.Group.Group+"="+g.Name)
	}
	if want := []string{"contoso=Contoso SI", "fabrikam=Fabrikam Partners", "northwind=Northwind Consulting"}; !slices.Equal(ids, want) {
		t.Errorf("by_partner = %v, want %v", ids, want)
	}
	var segs []string
	for _, g := range r.Approval.BySegment {
		segs = append(segs, g.Group.Label())
	}
	if want := []string{"Enterprise", "Mid-Market", "SMB", "(none)"}; !slices.Equal(segs, want) {
		t.Errorf("by_segment = %v, want %v", segs, want)
	}
	// Group rows partition the population for single-valued breakdowns.
	sum := 0
	for _, g := range r.Approval.BySegment {
		sum += g.Submitted
	}
	if sum != r.Approval.Submitted {
		t.Errorf("segments sum to %d, want %d", sum, r.Approval.Submitted)
	}

	// JSON: exactly the seven keys, and it reads back into the same report.
	out := render(t, r, FormatJSON)
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"active_windows", "approval_rate", "attribution", "conflicts", "registration_to_meeting_rate", "response_times", "win_rate"}
	if !slices.Equal(keys, want) {
		t.Errorf("top-level keys = %v, want %v", keys, want)
	}
	var back Report
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	back.Meta = r.Meta
	if !reflect.DeepEqual(back, r) {
		t.Errorf("json round trip differs:\n%+v\n%+v", back, r)
	}
}

// The order and paging of the input never change the result.
func TestOrderDoesNotMatter(t *testing.T) {
	pages, deals := fixture()
	var regs []registration.Record
	for _, p := range pages {
		regs = append(regs, p...)
	}
	var ds []registration.Deal
	for _, d := range deals {
		ds = append(ds, d...)
	}
	slices.Reverse(regs)
	slices.Reverse(ds)
	r2, err := Compute(fixPolicy(t), regs, ds, Options{Since: fixSince, Until: fixUntil, Now: fixNow, By: ByPartner})
	if err != nil {
		t.Fatal(err)
	}
	r1 := fixReport(t, ByPartner)
	for _, f := range []Format{FormatJSON, FormatCSV, FormatTable} {
		if a, b := render(t, r1, f), render(t, r2, f); a != b {
			t.Errorf("%s differs with the input reversed:\n%s\n---\n%s", f, a, b)
		}
	}
	// Result can be called again, and again after more pages.
	acc, _ := New(fixPolicy(t), Options{Since: fixSince, Until: fixUntil, Now: fixNow, By: ByPartner})
	_ = acc.Add(regs[:5])
	_ = acc.AddDeals(ds)
	_ = acc.Result()
	_ = acc.Add(regs[5:])
	if a, b := render(t, acc.Result(), FormatJSON), render(t, r1, FormatJSON); a != b {
		t.Errorf("Result after more pages differs")
	}
	if a, b := render(t, acc.Result(), FormatJSON), render(t, r1, FormatJSON); a != b {
		t.Errorf("Result called twice differs")
	}
}

func TestGroupsByEveryBreakdown(t *testing.T) {
	for _, by := range []GroupBy{ByNone, ByPartner, BySegment, ByRegion, ByProduct} {
		r := fixReport(t, by)
		if by == ByNone {
			if r.MeetingRate.Groups != nil || r.Attribution.Groups != nil {
				t.Errorf("no --by: groups present")
			}
			if strings.Contains(render(t, r, FormatJSON), `"groups"`) {
				t.Errorf("no --by: json has groups")
			}
			continue
		}
		if len(r.WinRate.Groups) == 0 {
			t.Errorf("--by %s: no groups", by)
		}
		for _, g := range r.ResponseTimes.Groups {
			if g.By != by {
				t.Errorf("--by %s: group %+v", by, g.Group)
			}
		}
		// Approval counts partition the period's registrations for every
		// single-valued breakdown.
		if by != ByProduct {
			sum := 0
			for _, g := range r.Approval.Groups {
				sum += g.Submitted
			}
			if sum != 15 {
				t.Errorf("--by %s: groups sum to %d submitted, want 15", by, sum)
			}
		}
		// CSV never lists one row twice, even where groups repeat by_partner.
		csvFigures(t, render(t, r, FormatCSV))
	}
	// --by region: NA's approved registrations R-3, R-4 (R-7, R-9, R-18 pending).
	r := fixReport(t, ByRegion)
	for _, g := range r.Approval.Groups {
		if g.Group.Group == "NA" && (g.Submitted != 5 || g.Approved != 2 || g.Rate != Num(1)) {
			t.Errorf("NA = %+v", g.ApprovalCounts)
		}
	}
}

func TestNoData(t *testing.T) {
	p, err := rules.NewPolicy(nil, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, by := range []GroupBy{ByNone, ByPartner} {
		r, err := Compute(p, nil, nil, Options{Now: fixNow, By: by})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []Figure{r.MeetingRate.Rate, r.Approval.Rate, r.WinRate.Rate, r.ResponseTimes.FirstResponse.Median,
			r.ResponseTimes.FirstResponse.P90, r.ResponseTimes.FirstResponse.WithinSLARate, r.ResponseTimes.Approval.Median,
			r.Attribution.Accuracy, r.Attribution.CycleDays.Median} {
			if f.Valid {
				t.Errorf("figure over nothing = %v, want n/a", f)
			}
		}
		js := render(t, r, FormatJSON)
		for _, bad := range []string{"NaN", "Inf"} {
			if strings.Contains(js, bad) {
				t.Errorf("json contains %s:\n%s", bad, js)
			}
		}
		for _, key := range []string{`"rate": null`, `"median": null`, `"accuracy": null`, `"by_partner": []`, `"by_region": []`} {
			if !strings.Contains(js, key) {
				t.Errorf("json lacks %s:\n%s", key, js)
			}
		}
		m := csvFigures(t, render(t, r, FormatCSV))
		if m["approval_rate||all|rate"] != "n/a" || m["response_times||all|approval_p90"] != "n/a" {
			t.Errorf("csv: %v", m)
		}
		tbl := render(t, r, FormatTable)
		if !strings.Contains(tbl, "n/a") || strings.Contains(tbl, "NaN") {
			t.Errorf("table:\n%s", tbl)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	p := fixPolicy(t)
	for _, c := range []struct {
		p    *rules.Policy
		opt  Options
		want string
	}{
		{nil, Options{Now: fixNow}, "no policy"},
		{p, Options{}, "Options.Now is required"},
		{p, Options{Now: fixNow, By: "country"}, `unknown breakdown "country"`},
		{p, Options{Now: fixNow, Since: fixUntil, Until: fixSince}, "is not after --since"},
		{p, Options{Now: fixNow, Since: fixSince, Until: fixSince}, "is not after --since"},
	} {
		_, err := New(c.p, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.opt, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		in   string
		loc  *time.Location
		end  bool
		want string
	}{
		{"2026-03-01", time.UTC, false, "2026-03-01T00:00:00Z"},
		{"2026-03-31", time.UTC, true, "2026-04-01T00:00:00Z"},
		{"2026-03-31", ny, true, "2026-04-01T04:00:00Z"},
		{"2026-03-01", ny, false, "2026-03-01T05:00:00Z"},
		{"2026-03-01T10:00:00+02:00", ny, true, "2026-03-01T08:00:00Z"},
		{"", ny, true, "0001-01-01T00:00:00Z"},
	} {
		got, err := ParseDate(c.in, c.loc, c.end)
		if err != nil || got.Format(time.RFC3339) != c.want {
			t.Errorf("ParseDate(%q, %v, %v) = %v, %v; want %s", c.in, c.loc, c.end, got, err, c.want)
		}
	}
	if _, err := ParseDate("31/03/2026", nil, false); err == nil || !strings.Contains(err.Error(), `"31/03/2026" is not a date`) {
		t.Errorf("ParseDate bad = %v", err)
	}
	for in, want := range map[string]GroupBy{"": ByNone, "Partner": ByPartner, " segment ": BySegment, "region": ByRegion, "product": ByProduct} {
		if got, err := ParseGroupBy(in); err != nil || got != want {
			t.Errorf("ParseGroupBy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseGroupBy("country"); err == nil || err.Error() != `--by: must be partner, segment, region or product, not "country"` {
		t.Errorf("ParseGroupBy(country) = %v", err)
	}
	for in, want := range map[string]Format{"": FormatTable, "TABLE": FormatTable, "csv": FormatCSV, "json": FormatJSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `--format: must be table, csv or json, not "xml"` {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
	if err := Render(&bytes.Buffer{}, Report{}, "xml"); err == nil {
		t.Error("Render(xml) succeeded")
	}
}

func TestQuantile(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{7}, 0.5, 7},
		{[]float64{7}, 0.9, 7},
		{[]float64{1, 2}, 0.5, 1.5},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9.1},
		{[]float64{1, 2, 3}, 0, 1},
		{[]float64{1, 2, 3}, 1, 3},
	} {
		if got := Quantile(c.xs, c.p); !near(got, c.want) {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.xs, c.p, got, c.want)
		}
	}
	if s := stats(nil, 0); s.Median.Valid || s.P90.Valid {
		t.Errorf("stats(nil) = %+v", s)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// Values from the CRM cannot run as spreadsheet formulas, nor break the
// table's columns.
func TestHostileGroupNames(t *testing.T) {
	regs := []registration.Record{
		{ID: "1", PartnerID: "p1", Segment: "=HYPERLINK(\"http://evil.example\")", Region: "EMEA\tx\ny", Status: sDeclined, SubmittedAt: fixSince},
		{ID: "2", PartnerID: "@p2", Segment: "+1", Region: "-2", Status: sDeclined, SubmittedAt: fixSince},
	}
	r, err := Compute(fixPolicy(t), regs, nil, Options{Now: fixNow, By: BySegment})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(render(t, r, FormatCSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, cell := range row[2:4] {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("csv cell %q could run as a formula", cell)
			}
		}
	}
	tbl := render(t, r, FormatTable)
	if strings.Contains(tbl, "EMEA\tx") || strings.Contains(tbl, "x\ny") {
		t.Errorf("table keeps control characters:\n%s", tbl)
	}
}
