package hubspot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// searchIDs runs a search and returns the ids of the first page and the body.
func searchIDs(t *testing.T, c *tc, typ string, body map[string]any) ([]string, map[string]any) {
	t.Helper()
	c = &tc{t: t, s: c.s, token: c.token, hc: c.hc}
	b := c.must(200, "POST", "/crm/v3/objects/"+typ+"/search", body)
	var ids []string
	for i := range length(b, "results") {
		ids = append(ids, str(b, "results", i, "id"))
	}
	return ids, b
}

func filter(name, op string, v ...string) map[string]any {
	f := map[string]any{"propertyName": name, "operator": op}
	switch op {
	case "IN", "NOT_IN":
		f["values"] = v
	case "BETWEEN":
		f["value"], f["highValue"] = v[0], v[1]
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	default:
		f["value"] = v[0]
	}
	return f
}

func groups(gs ...[]map[string]any) []any {
	var out []any
	for _, g := range gs {
		out = append(out, map[string]any{"filters": g})
	}
	return out
}

func TestSearchOperators(t *testing.T) {
	clock := NewClock(t0)
	s := startT(t, Options{Clock: clock, Bare: true, SearchPerSecond: -1})
	c := newTC(t, s)
	mk := func(p map[string]string) string {
		id, err := s.CreateRecord("deals", p)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		return id
	}
	a := mk(props("dealname", "Globex Expansion", "amount", "1000", "dealstage", "closedwon", "closedate", "2025-01-10T00:00:00Z", "description", "Acme Corp rollout"))
	b := mk(props("dealname", "Initech Pilot", "amount", "250.5", "dealstage", "appointmentscheduled", "closedate", "2025-02-01T00:00:00Z"))
	cc := mk(props("dealname", "globex renewal", "amount", "5000", "dealstage", "contractsent"))
	d := mk(props("dealname", "Umbrella", "dealstage", "closedlost"))
	ms := func(s string) string {
		tm, _ := time.Parse(time.RFC3339, s)
		return strconv.FormatInt(tm.UnixMilli(), 10)
	}
	cases := []struct {
		name string
		f    []map[string]any
		want []string
	}{
		{"EQ is case-insensitive on strings", []map[string]any{filter("dealname", "EQ", "GLOBEX EXPANSION")}, []string{a}},
		{"EQ is case-sensitive on enumerations", []map[string]any{filter("dealstage", "EQ", "ClosedWon")}, nil},
		{"EQ enumeration", []map[string]any{filter("dealstage", "EQ", "closedwon")}, []string{a}},
		{"EQ number", []map[string]any{filter("amount", "EQ", "250.50")}, []string{b}},
		{"NEQ includes records without a value", []map[string]any{filter("amount", "NEQ", "1000")}, []string{b, cc, d}},
		{"LT", []map[string]any{filter("amount", "LT", "1000")}, []string{b}},
		{"LTE", []map[string]any{filter("amount", "LTE", "1000")}, []string{a, b}},
		{"GT", []map[string]any{filter("amount", "GT", "1000")}, []string{cc}},
		{"GTE", []map[string]any{filter("amount", "GTE", "1000")}, []string{a, cc}},
		{"BETWEEN", []map[string]any{filter("amount", "BETWEEN", "200", "1000")}, []string{a, b}},
		{"datetime GTE epoch ms", []map[string]any{filter("closedate", "GTE", ms("2025-01-15T00:00:00Z"))}, []string{b}},
		{"hs_lastmodifieddate GTE", []map[string]any{filter("hs_lastmodifieddate", "GTE", strconv.FormatInt(t0.Add(2*time.Second).UnixMilli(), 10))}, []string{cc, d}},
		{"hs_object_id GT", []map[string]any{filter("hs_object_id", "GT", b)}, []string{cc, d}},
		{"IN lower-case", []map[string]any{filter("dealname", "IN", "umbrella", "initech pilot")}, []string{b, d}},
		{"IN upper-case values match nothing", []map[string]any{filter("dealname", "IN", "Umbrella")}, nil},
		{"IN enumeration", []map[string]any{filter("dealstage", "IN", "closedwon", "closedlost")}, []string{a, d}},
		{"IN numbers", []map[string]any{filter("hs_object_id", "IN", a, d)}, []string{a, d}},
		{"NOT_IN", []map[string]any{filter("dealstage", "NOT_IN", "closedwon", "closedlost")}, []string{b, cc}},
		{"HAS_PROPERTY", []map[string]any{filter("amount", "HAS_PROPERTY")}, []string{a, b, cc}},
		{"NOT_HAS_PROPERTY", []map[string]any{filter("amount", "NOT_HAS_PROPERTY")}, []string{d}},
		{"CONTAINS_TOKEN word", []map[string]any{filter("dealname", "CONTAINS_TOKEN", "globex")}, []string{a, cc}},
		{"CONTAINS_TOKEN wildcard", []map[string]any{filter("dealname", "CONTAINS_TOKEN", "*pilot")}, []string{b}},
		{"CONTAINS_TOKEN no partial word", []map[string]any{filter("dealname", "CONTAINS_TOKEN", "glob")}, nil},
		{"NOT_CONTAINS_TOKEN", []map[string]any{filter("dealname", "NOT_CONTAINS_TOKEN", "globex")}, []string{b, d}},
		{"AND within a group", []map[string]any{filter("dealname", "CONTAINS_TOKEN", "globex"), filter("amount", "GT", "2000")}, []string{cc}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, body := searchIDs(t, c, "deals", map[string]any{"filterGroups": groups(tt.f), "limit": 100})
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if path(body, "total") != float64(len(tt.want)) {
				t.Errorf("total %v, want %d", path(body, "total"), len(tt.want))
			}
		})
	}
	// OR between groups.
	got, _ := searchIDs(t, c, "deals", map[string]any{"filterGroups": groups(
		[]map[string]any{filter("dealstage", "EQ", "closedlost")}, []map[string]any{filter("amount", "LT", "300")})})
	if !slices.Equal(got, []string{b, d}) {
		t.Errorf("OR of groups: %v", got)
	}
	// Free-text query over the searchable properties, by word prefix.
	got, _ = searchIDs(t, c, "deals", map[string]any{"query": "glob"})
	if !slices.Equal(got, []string{a, cc}) {
		t.Errorf("query: %v", got)
	}
	// One sort, descending, with missing values last; answers carry the
	// requested properties and the system ones.
	got, body := searchIDs(t, c, "deals", map[string]any{"sorts": []any{map[string]string{"propertyName": "amount", "direction": "DESCENDING"}},
		"properties": []string{"amount"}})
	if !slices.Equal(got, []string{cc, a, b, d}) {
		t.Errorf("sort: %v", got)
	}
	if str(body, "results", 0, "properties", "amount") != "5000" || str(body, "results", 0, "properties", "hs_object_id") != cc ||
		str(body, "results", 0, "properties", "hs_lastmodifieddate") == "" || str(body, "results", 0, "properties", "dealname") != "" {
		t.Errorf("search result properties: %v", path(body, "results", 0))
	}
	// Archived records never show up.
	if err := s.ArchiveRecord("deals", d); err != nil {
		t.Fatal(err)
	}
	got, _ = searchIDs(t, c, "deals", map[string]any{})
	if !slices.Equal(got, []string{a, b, cc}) {
		t.Errorf("after archiving: %v", got)
	}
}

func TestSearchLimits(t *testing.T) {
	s := startT(t, Options{Bare: true, SearchPerSecond: -1})
	c := newTC(t, s)
	f := filter("name", "HAS_PROPERTY")
	n := func(k int) []map[string]any {
		var out []map[string]any
		for range k {
			out = append(out, f)
		}
		return out
	}
	bad := []struct {
		name string
		body map[string]any
		want string
	}{
		{"6 groups", map[string]any{"filterGroups": groups(n(1), n(1), n(1), n(1), n(1), n(1))}, "filterGroups"},
		{"7 filters in a group", map[string]any{"filterGroups": groups(n(7))}, "at most 6"},
		{"19 filters", map[string]any{"filterGroups": groups(n(5), n(5), n(5), n(4))}, "at most 18"},
		{"2 sorts", map[string]any{"sorts": []string{"name", "domain"}}, "one sort"},
		{"limit 201", map[string]any{"limit": 201}, "limit"},
		{"unknown property", map[string]any{"filterGroups": groups([]map[string]any{filter("nope", "EQ", "x")})}, "nope"},
		{"unknown operator", map[string]any{"filterGroups": groups([]map[string]any{filter("name", "LIKE", "x")})}, "LIKE"},
		{"IN without values", map[string]any{"filterGroups": groups([]map[string]any{{"propertyName": "name", "operator": "IN"}})}, "values"},
		{"EQ without value", map[string]any{"filterGroups": groups([]map[string]any{{"propertyName": "name", "operator": "EQ"}})}, "value"},
		{"BETWEEN without highValue", map[string]any{"filterGroups": groups([]map[string]any{{"propertyName": "numberofemployees", "operator": "BETWEEN", "value": "1"}})}, "highValue"},
		{"number filter on text", map[string]any{"filterGroups": groups([]map[string]any{filter("numberofemployees", "GT", "many")})}, "many"},
		{"101 IN values", map[string]any{"filterGroups": groups([]map[string]any{filter("domain", "IN", manyValues(101)...)})}, "at most 100"},
		{"query too long", map[string]any{"query": strings.Repeat("a", 3001)}, "3000"},
		{"after at the cap", map[string]any{"after": "10000"}, "10000"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", "/crm/v3/objects/companies/search", tt.body)
			if r.status != 400 || !strings.Contains(string(r.body), tt.want) || r.obj(t)["category"] != "VALIDATION_ERROR" {
				t.Errorf("status %d, body %s (want 400 mentioning %q)", r.status, r.body, tt.want)
			}
		})
	}
	ok := map[string]any{"filterGroups": groups(n(6), n(6), n(6)), "limit": 200, "sorts": []string{"-name"}}
	c.must(200, "POST", "/crm/v3/objects/companies/search", ok)
	c.must(200, "POST", "/crm/v3/objects/companies/search", map[string]any{"filterGroups": groups(n(4), n(4), n(4), n(3), n(3))})

	// Configured limits: the 2024 changelog's 5/10/25.
	s2 := startT(t, Options{Bare: true, SearchFilterLimits: FilterLimits{Groups: 5, PerGroup: 10, Total: 25}})
	c2 := newTC(t, s2)
	c2.must(200, "POST", "/crm/v3/objects/companies/search", map[string]any{"filterGroups": groups(n(10), n(10), n(5))})
	if r := c2.do("POST", "/crm/v3/objects/companies/search", map[string]any{"filterGroups": groups(n(10), n(10), n(6))}); r.status != 400 {
		t.Errorf("26 filters with a limit of 25: %d", r.status)
	}
}

func TestSearchPagingAndCap(t *testing.T) {
	s := startT(t, Options{Clock: NewClock(t0), Bare: true, SearchPerSecond: -1})
	c := newTC(t, s)
	const n = 10050
	for i := range n {
		if _, err := s.CreateRecord("companies", props("name", fmt.Sprintf("Company %05d", i), "domain", "same.example")); err != nil {
			t.Fatal(err)
		}
	}
	body := map[string]any{"filterGroups": groups([]map[string]any{filter("domain", "EQ", "same.example")}),
		"sorts": []any{map[string]string{"propertyName": "hs_object_id", "direction": "ASCENDING"}}, "limit": 200}
	seen := map[string]bool{}
	after := ""
	pages := 0
	for {
		if after != "" {
			body["after"] = after
		}
		b := c.must(200, "POST", "/crm/v3/objects/companies/search", body)
		pages++
		if path(b, "total") != float64(n) {
			t.Fatalf("total %v, want %d", path(b, "total"), n)
		}
		for i := range length(b, "results") {
			id := str(b, "results", i, "id")
			if seen[id] {
				t.Fatalf("id %s seen twice", id)
			}
			seen[id] = true
		}
		after = str(b, "paging", "next", "after")
		if after == "" {
			t.Fatalf("paging stopped after %d results, before the 10,000 cap", len(seen))
		}
		if len(seen) == 10000 {
			break
		}
	}
	if pages != 50 || after != "10000" {
		t.Errorf("%d pages, next after %q", pages, after)
	}
	// Paging past the cap is refused: the client must re-anchor its query.
	body["after"] = after
	r := c.do("POST", "/crm/v3/objects/companies/search", body)
	if r.status != 400 {
		t.Fatalf("after=10000: %d %s", r.status, r.body)
	}
	// Re-anchoring on hs_object_id reaches the rest.
	last := str(c.must(200, "POST", "/crm/v3/objects/companies/search", map[string]any{
		"filterGroups": groups([]map[string]any{filter("domain", "EQ", "same.example")}),
		"sorts":        []string{"-hs_object_id"}, "limit": 1}), "results", 0, "id")
	rest := c.must(200, "POST", "/crm/v3/objects/companies/search", map[string]any{
		"filterGroups": groups([]map[string]any{filter("domain", "EQ", "same.example"), filter("hs_object_id", "GT", maxID(seen))}),
		"sorts":        []string{"hs_object_id"}, "limit": 200})
	if path(rest, "total") != float64(n-10000) || str(rest, "results", length(rest, "results")-1, "id") != last {
		t.Errorf("re-anchored search: total %v", path(rest, "total"))
	}
}

func maxID(ids map[string]bool) string {
	best := ""
	for id := range ids {
		if best == "" || idLess(best, id) {
			best = id
		}
	}
	return best
}

func manyValues(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("d%d.example", i))
	}
	return out
}

// TestSearchLag: with a lag, search answers from the index as it was
// SearchLag ago (on the LimitNow clock), while reads by id, batch reads and
// lists see every write at once.
func TestSearchLag(t *testing.T) {
	lim := NewClock(t0)
	clk := NewClock(t0)
	s := startT(t, Options{Bare: true, Clock: clk, LimitNow: lim.Now, SearchLag: 2 * time.Second, SearchPerSecond: -1})
	c := newTC(t, s)
	search := func(filters ...map[string]any) ([]string, map[string]any) {
		t.Helper()
		body := map[string]any{"properties": []string{"name", "domain"}, "sorts": []any{map[string]string{"propertyName": "name", "direction": "ASCENDING"}}}
		if len(filters) > 0 {
			body["filterGroups"] = groups(filters)
		}
		return searchIDs(t, c, "companies", body)
	}
	current := func(id, want string) {
		t.Helper()
		if got := str(c.must(200, "GET", "/crm/v3/objects/companies/"+id+"?properties=name", nil), "properties", "name"); got != want {
			t.Errorf("GET %s: name %q, want %q", id, got, want)
		}
		b := c.must(200, "POST", "/crm/v3/objects/companies/batch/read", map[string]any{"inputs": []map[string]string{{"id": id}}, "properties": []string{"name"}})
		if got := str(b, "results", 0, "properties", "name"); got != want {
			t.Errorf("batch read %s: name %q, want %q", id, got, want)
		}
		l := c.must(200, "GET", "/crm/v3/objects/companies?limit=100&properties=name", nil)
		found := false
		for i := range length(l, "results") {
			if str(l, "results", i, "id") == id {
				found = true
				if got := str(l, "results", i, "properties", "name"); got != want {
					t.Errorf("list: %s has name %q, want %q", id, got, want)
				}
			}
		}
		if !found {
			t.Errorf("list: %s missing", id)
		}
	}

	// A new record: read at once, searched only after the lag.
	a := str(c.must(201, "POST", "/crm/v3/objects/companies", map[string]any{"properties": props("name", "Fresh", "domain", "old.example")}), "id")
	created := clk.Now()
	if ids, b := search(); len(ids) != 0 || path(b, "total") != float64(0) {
		t.Errorf("a record created just now is searchable: %v", b)
	}
	current(a, "Fresh")
	lim.Advance(1999 * time.Millisecond)
	if ids, _ := search(); len(ids) != 0 {
		t.Errorf("searchable before the lag passed: %v", ids)
	}
	lim.Advance(time.Millisecond)
	if ids, _ := search(); !slices.Equal(ids, []string{a}) {
		t.Errorf("after the lag: %v", ids)
	}
	m, _ := s.CreateRecord("companies", props("name", "Middle"))
	lim.Advance(5 * time.Second)

	// An update: search matches, sorts, counts and returns the old version
	// until the lag has passed since the update.
	clk.Advance(time.Minute)
	c.must(200, "PATCH", "/crm/v3/objects/companies/"+a, map[string]any{"properties": props("name", "Zulu", "domain", "new.example")})
	current(a, "Zulu")
	if ids, b := search(filter("name", "EQ", "Zulu")); len(ids) != 0 || path(b, "total") != float64(0) {
		t.Errorf("found on its new value at once: %v", b)
	}
	if ids, b := search(filter("domain", "EQ", "old.example")); !slices.Equal(ids, []string{a}) || path(b, "total") != float64(1) {
		t.Errorf("not found on its old value: %v", b)
	}
	ids, b := search()
	if !slices.Equal(ids, []string{a, m}) {
		t.Errorf("sorted by the new name already: %v", ids)
	}
	if got := str(b, "results", 0, "properties", "name"); got != "Fresh" {
		t.Errorf("search returned name %q, want the old Fresh", got)
	}
	if got, want := str(b, "results", 0, "properties", "hs_lastmodifieddate"), iso(created); got != want {
		t.Errorf("search returned hs_lastmodifieddate %s, want the old version's %s", got, want)
	}
	if got, want := str(b, "results", 0, "updatedAt"), iso(created); got != want {
		t.Errorf("search returned updatedAt %s, want the old version's %s", got, want)
	}
	if got := str(b, "results", 0, "properties", "hs_object_id"); got != a {
		t.Errorf("hs_object_id %q", got)
	}
	lim.Advance(2 * time.Second)
	ids, b = search()
	if !slices.Equal(ids, []string{m, a}) || str(b, "results", 1, "properties", "name") != "Zulu" ||
		str(b, "results", 1, "updatedAt") != iso(clk.Now()) || str(b, "results", 1, "properties", "hs_lastmodifieddate") != iso(clk.Now()) {
		t.Errorf("after the lag: %v", b)
	}
	if ids, _ := search(filter("domain", "EQ", "old.example")); len(ids) != 0 {
		t.Errorf("still found on the old value: %v", ids)
	}

	// Several updates within the lag: search shows the newest version that
	// is at least the lag old.
	firstUpdate := lim.Now()
	for i, d := range []time.Duration{0, time.Second, 500 * time.Millisecond} {
		lim.Advance(d)
		if err := s.UpdateRecord("companies", m, props("name", fmt.Sprintf("Middle %d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	name := func() string {
		t.Helper()
		ids, b := search(filter("hs_object_id", "EQ", m))
		if len(ids) != 1 {
			t.Fatalf("%s not found: %v", m, b)
		}
		return str(b, "results", 0, "properties", "name")
	}
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "Middle"}, {500 * time.Millisecond, "Middle 1"}, {time.Second, "Middle 2"}, {500 * time.Millisecond, "Middle 3"}} {
		lim.Advance(step.advance)
		if got := name(); got != step.want {
			t.Errorf("%s after the first update: name %q, want %q", lim.Now().Sub(firstUpdate), got, step.want)
		}
	}

	// A record updated before it was indexed: nothing, then its first
	// version, then the update.
	n, _ := s.CreateRecord("companies", props("name", "Newest"))
	lim.Advance(time.Second)
	_ = s.UpdateRecord("companies", n, props("name", "Newest 2"))
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, ""}, {time.Second, "Newest"}, {time.Second, "Newest 2"}} {
		lim.Advance(step.advance)
		ids, b := search(filter("hs_object_id", "EQ", n))
		if got := str(b, "results", 0, "properties", "name"); len(ids) > 1 || got != step.want {
			t.Errorf("record updated before it was indexed: %v, want name %q", b, step.want)
		}
	}

	// An archived record stays found, as it was, until the lag has passed.
	c.must(204, "DELETE", "/crm/v3/objects/companies/"+a, nil)
	c.must(404, "GET", "/crm/v3/objects/companies/"+a, nil)
	if ids, _ := search(filter("hs_object_id", "EQ", a)); !slices.Equal(ids, []string{a}) {
		t.Errorf("archived just now, gone from search already: %v", ids)
	}
	lim.Advance(2 * time.Second)
	if ids, _ := search(filter("hs_object_id", "EQ", a)); len(ids) != 0 {
		t.Errorf("archived, still found after the lag: %v", ids)
	}
}

// TestSearchLagZero: without a lag, search sees every write at once, even
// on a clock that stands still.
func TestSearchLagZero(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, LimitNow: lim.Now, SearchPerSecond: -1})
	c := newTC(t, s)
	id := str(c.must(201, "POST", "/crm/v3/objects/companies", map[string]any{"properties": props("name", "Fresh")}), "id")
	if ids, _ := searchIDs(t, c, "companies", map[string]any{"filterGroups": groups([]map[string]any{filter("name", "EQ", "Fresh")})}); !slices.Equal(ids, []string{id}) {
		t.Errorf("created: %v", ids)
	}
	c.must(200, "PATCH", "/crm/v3/objects/companies/"+id, map[string]any{"properties": props("name", "Renamed")})
	ids, b := searchIDs(t, c, "companies", map[string]any{"filterGroups": groups([]map[string]any{filter("name", "EQ", "Renamed")}), "properties": []string{"name"}})
	if !slices.Equal(ids, []string{id}) || str(b, "results", 0, "properties", "name") != "Renamed" {
		t.Errorf("updated: %v", b)
	}
	c.must(204, "DELETE", "/crm/v3/objects/companies/"+id, nil)
	if ids, _ := searchIDs(t, c, "companies", map[string]any{}); len(ids) != 0 {
		t.Errorf("archived: %v", ids)
	}
	if r := s.types[typeCompany].records[id]; len(r.past) != 0 {
		t.Errorf("kept %d versions without a lag", len(r.past))
	}
}

// TestSetSearchLag: the lag changes while serving; what search showed stays
// found when it grows.
func TestSetSearchLag(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, LimitNow: lim.Now, SearchPerSecond: -1})
	c := newTC(t, s)
	old, _ := s.CreateRecord("companies", props("name", "Old"))
	s.SetSearchLag(2 * time.Second)
	if got := s.SearchLag(); got != 2*time.Second {
		t.Errorf("SearchLag() = %s", got)
	}
	fresh, _ := s.CreateRecord("companies", props("name", "Fresh"))
	_ = s.UpdateRecord("companies", old, props("name", "Old 2"))
	ids, b := searchIDs(t, c, "companies", map[string]any{"properties": []string{"name"}})
	if !slices.Equal(ids, []string{old}) || str(b, "results", 0, "properties", "name") != "Old" {
		t.Errorf("with the lag grown: %v", b)
	}
	s.SetSearchLag(-time.Second)
	ids, b = searchIDs(t, c, "companies", map[string]any{"properties": []string{"name"}})
	if !slices.Equal(ids, []string{old, fresh}) || str(b, "results", 0, "properties", "name") != "Old 2" {
		t.Errorf("with the lag back at 0: %v", b)
	}
}

// TestSearchLagBounded: the versions kept for search stay bounded, per
// record and per type.
func TestSearchLagBounded(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, LimitNow: lim.Now, SearchLag: 2 * time.Second, SearchPerSecond: -1})
	c := newTC(t, s)
	first, _ := s.CreateRecord("companies", props("name", "v0"))
	lim.Advance(3 * time.Second)
	// On a clock that stands still, 500 updates: the indexed version and
	// maxPending ones are kept.
	for i := range 500 {
		_ = s.UpdateRecord("companies", first, props("name", fmt.Sprintf("v%d", i+1)))
	}
	ct := s.types[typeCompany]
	if n := len(ct.records[first].past); n != maxPending+1 {
		t.Errorf("%d versions kept, want %d", n, maxPending+1)
	}
	ids, b := searchIDs(t, c, "companies", map[string]any{"properties": []string{"name"}})
	if !slices.Equal(ids, []string{first}) || str(b, "results", 0, "properties", "name") != "v0" {
		t.Errorf("the indexed version was not kept: %v", b)
	}
	lim.Advance(2 * time.Second)
	if _, b := searchIDs(t, c, "companies", map[string]any{"properties": []string{"name"}}); str(b, "results", 0, "properties", "name") != "v500" {
		t.Errorf("after the lag: %v", b)
	}
	// 1,000 records updated 10 ms apart: about 200 are within the lag at
	// any time; stale versions are swept as the rest pile up.
	var recs []string
	for i := range 1000 {
		id, _ := s.CreateRecord("companies", props("name", fmt.Sprintf("r%d", i)))
		recs = append(recs, id)
	}
	lim.Advance(3 * time.Second)
	most := 0
	for i, id := range recs {
		lim.Advance(10 * time.Millisecond)
		_ = s.UpdateRecord("companies", id, props("name", fmt.Sprintf("r%d'", i)))
		most = max(most, len(ct.lagging))
	}
	if most > 500 {
		t.Errorf("%d records kept versions at most, want about 200 (at most twice that)", most)
	}
	kept := 0
	for _, r := range ct.records {
		kept += len(r.past)
	}
	if kept > 500 {
		t.Errorf("%d versions kept at the end", kept)
	}
}
