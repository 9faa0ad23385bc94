package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Search limits HubSpot documents besides the filter counts.
const (
	maxSearchLimit = 200
	maxQueryLen    = 3000
	maxInValues    = 100 // values of one IN / NOT_IN filter
)

// scalar is a JSON string, number or boolean read as a string (HubSpot
// coerces them); present tells whether the field was there at all.
type scalar struct {
	v       string
	present bool
}

func (s *scalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s.present = true
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &s.v)
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return &json.UnmarshalTypeError{Value: "object or array", Field: "value"}
	}
	s.v = string(b)
	return nil
}

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        scalar   `json:"value"`
	Values       []scalar `json:"values"`
	HighValue    scalar   `json:"highValue"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Query      string            `json:"query"`
	Properties []string          `json:"properties"`
	Limit      *int              `json:"limit"`
	After      scalar            `json:"after"`
}

var operators = map[string]bool{"EQ": true, "NEQ": true, "LT": true, "LTE": true, "GT": true, "GTE": true,
	"BETWEEN": true, "IN": true, "NOT_IN": true, "HAS_PROPERTY": true, "NOT_HAS_PROPERTY": true,
	"CONTAINS_TOKEN": true, "NOT_CONTAINS_TOKEN": true}

// matcher tests one record.
type matcher func(r *record) bool

// compileFilter turns a filter into a matcher, or explains why it is invalid.
func compileFilter(t *objectType, f searchFilter) (matcher, *httpError) {
	op := f.Operator
	if !operators[op] {
		return nil, badRequest("Invalid operator %q for property %q: use one of EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN", op, f.PropertyName)
	}
	if f.PropertyName == "" {
		return nil, badRequest("filter propertyName is required")
	}
	p := t.props[f.PropertyName]
	if p == nil || p.Archived {
		return nil, badRequest("Property %q does not exist on %s, so it cannot be used in a filter", f.PropertyName, t.name)
	}
	name := f.PropertyName
	has := func(r *record) bool { _, ok := r.props[name]; return ok }
	switch op {
	case "HAS_PROPERTY":
		return has, nil
	case "NOT_HAS_PROPERTY":
		return func(r *record) bool { return !has(r) }, nil
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return nil, badRequest("operator %s on %q needs a non-empty values list", op, name)
		}
		if len(f.Values) > maxInValues {
			return nil, badRequest("operator %s on %q has %d values: at most %d are allowed", op, name, len(f.Values), maxInValues)
		}
		keys := make(map[string]bool, len(f.Values))
		var nums []float64
		for _, v := range f.Values {
			switch p.Type {
			case "number", "date", "datetime":
				n, ok := filterNumber(p, v.v)
				if !ok {
					return nil, badRequest("%q is not a valid value for %s property %q", v.v, p.Type, name)
				}
				nums = append(nums, n)
			case "bool":
				keys[strings.ToLower(v.v)] = true
			default:
				// String values must be given in lower case: the index is.
				keys[v.v] = true
			}
		}
		in := func(r *record) bool {
			val, ok := r.props[name]
			if !ok {
				return false
			}
			switch p.Type {
			case "number", "date", "datetime":
				n, err := strconv.ParseFloat(val, 64)
				if err != nil {
					return false
				}
				for _, x := range nums {
					if x == n {
						return true
					}
				}
				return false
			case "enumeration":
				for _, part := range strings.Split(val, ";") {
					if keys[part] {
						return true
					}
				}
				return false
			default:
				return keys[strings.ToLower(val)]
			}
		}
		if op == "NOT_IN" {
			return func(r *record) bool { return !in(r) }, nil
		}
		return in, nil
	}
	if !f.Value.present {
		return nil, badRequest("operator %s on %q needs a value", op, name)
	}
	switch op {
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		pat := strings.ToLower(f.Value.v)
		m := func(r *record) bool {
			val, ok := r.props[name]
			return ok && containsToken(strings.ToLower(val), pat)
		}
		if op == "NOT_CONTAINS_TOKEN" {
			return func(r *record) bool { return !m(r) }, nil
		}
		return m, nil
	}
	cmp, e := comparator(p, f.Value.v)
	if e != nil {
		return nil, e
	}
	switch op {
	case "EQ":
		return func(r *record) bool { c, ok := cmp(r); return ok && c == 0 }, nil
	case "NEQ":
		return func(r *record) bool { c, ok := cmp(r); return !ok || c != 0 }, nil
	case "LT":
		return func(r *record) bool { c, ok := cmp(r); return ok && c < 0 }, nil
	case "LTE":
		return func(r *record) bool { c, ok := cmp(r); return ok && c <= 0 }, nil
	case "GT":
		return func(r *record) bool { c, ok := cmp(r); return ok && c > 0 }, nil
	case "GTE":
		return func(r *record) bool { c, ok := cmp(r); return ok && c >= 0 }, nil
	case "BETWEEN":
		if !f.HighValue.present {
			return nil, badRequest("operator BETWEEN on %q needs a highValue", name)
		}
		hi, e := comparator(p, f.HighValue.v)
		if e != nil {
			return nil, e
		}
		return func(r *record) bool {
			c1, ok1 := cmp(r)
			c2, ok2 := hi(r)
			return ok1 && ok2 && c1 >= 0 && c2 <= 0
		}, nil
	}
	return nil, badRequest("unsupported operator %s", op)
}

// filterNumber reads a filter value for a number, date or datetime property.
func filterNumber(p *property, v string) (float64, bool) {
	if p.Type == "number" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	n, ok := parseInstant(v)
	return float64(n), ok
}

// comparator compares a record's value with the filter value: c < 0 when
// the record's value is smaller; ok false when the record has no value.
func comparator(p *property, v string) (func(r *record) (int, bool), *httpError) {
	name := p.Name
	switch p.Type {
	case "number", "date", "datetime":
		x, ok := filterNumber(p, v)
		if !ok {
			return nil, badRequest("%q is not a valid value for %s property %q (use a number; dates as epoch milliseconds)", v, p.Type, name)
		}
		return func(r *record) (int, bool) {
			val, ok := r.props[name]
			if !ok {
				return 0, false
			}
			n, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return 0, false
			}
			switch {
			case n < x:
				return -1, true
			case n > x:
				return 1, true
			}
			return 0, true
		}, nil
	case "enumeration":
		return func(r *record) (int, bool) {
			val, ok := r.props[name]
			if !ok {
				return 0, false
			}
			if strings.Contains(val, ";") {
				for _, part := range strings.Split(val, ";") {
					if part == v {
						return 0, true
					}
				}
			}
			return strings.Compare(val, v), true
		}, nil
	}
	lv := strings.ToLower(v)
	return func(r *record) (int, bool) {
		val, ok := r.props[name]
		if !ok {
			return 0, false
		}
		return strings.Compare(strings.ToLower(val), lv), true
	}, nil
}

// tokens splits a lower-case value the way the search index does: on
// white space, and each word again on punctuation.
func tokens(v string) []string {
	var out []string
	for _, w := range strings.Fields(v) {
		out = append(out, w)
		parts := strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if len(parts) > 1 || (len(parts) == 1 && parts[0] != w) {
			out = append(out, parts...)
		}
	}
	return out
}

// containsToken matches a token, with * wildcards, in a lower-case value.
func containsToken(val, pat string) bool {
	if strings.Contains(pat, "*") {
		if glob(pat, val) {
			return true
		}
		for _, tok := range tokens(val) {
			if glob(pat, tok) {
				return true
			}
		}
		return false
	}
	if strings.Contains(pat, " ") {
		return strings.Contains(val, pat)
	}
	for _, tok := range tokens(val) {
		if tok == pat {
			return true
		}
	}
	return false
}

// glob matches s against a pattern where * stands for any run of characters.
func glob(pat, s string) bool {
	parts := strings.Split(pat, "*")
	if len(parts) == 1 {
		return pat == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// sortSpec is the one sort of a search.
type sortSpec struct {
	name string
	desc bool
}

func parseSort(raw json.RawMessage) (sortSpec, bool) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if rest, ok := strings.CutPrefix(str, "-"); ok {
			return sortSpec{name: rest, desc: true}, true
		}
		return sortSpec{name: str}, str != ""
	}
	var obj struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.PropertyName == "" {
		return sortSpec{}, false
	}
	switch strings.ToUpper(obj.Direction) {
	case "", "ASCENDING":
		return sortSpec{name: obj.PropertyName}, true
	case "DESCENDING":
		return sortSpec{name: obj.PropertyName, desc: true}, true
	}
	return sortSpec{}, false
}

// compiledSearch is a validated search request.
type compiledSearch struct {
	groups [][]matcher
	query  []string
	sort   *sortSpec
	props  []string
	limit  int
	offset int
}

func (s *Server) compileSearch(t *objectType, req searchRequest) (*compiledSearch, *httpError) {
	lim := s.opts.SearchFilterLimits
	if len(req.FilterGroups) > lim.Groups {
		return nil, badRequest("Too many filter groups (%d): a search allows at most %d filterGroups", len(req.FilterGroups), lim.Groups)
	}
	total := 0
	c := &compiledSearch{limit: 10, props: req.Properties}
	for i, g := range req.FilterGroups {
		if len(g.Filters) > lim.PerGroup {
			return nil, badRequest("Too many filters in filterGroups[%d] (%d): a filter group allows at most %d filters", i, len(g.Filters), lim.PerGroup)
		}
		if len(g.Filters) == 0 {
			return nil, badRequest("filterGroups[%d] has no filters", i)
		}
		total += len(g.Filters)
		var ms []matcher
		for _, f := range g.Filters {
			m, e := compileFilter(t, f)
			if e != nil {
				return nil, e
			}
			ms = append(ms, m)
		}
		c.groups = append(c.groups, ms)
	}
	if total > lim.Total {
		return nil, badRequest("Too many filters (%d): a search allows at most %d filters across all filterGroups", total, lim.Total)
	}
	if len(req.Sorts) > 1 {
		return nil, badRequest("Too many sorts (%d): a search allows one sort", len(req.Sorts))
	}
	if len(req.Sorts) == 1 {
		sp, ok := parseSort(req.Sorts[0])
		if !ok {
			return nil, badRequest("Invalid sort %s: use {\"propertyName\": …, \"direction\": \"ASCENDING\"|\"DESCENDING\"}", string(req.Sorts[0]))
		}
		if t.props[sp.name] == nil {
			return nil, badRequest("Property %q does not exist on %s, so it cannot be used to sort", sp.name, t.name)
		}
		c.sort = &sp
	}
	if len(req.Query) > maxQueryLen {
		return nil, badRequest("query is %d characters long: at most %d are allowed", len(req.Query), maxQueryLen)
	}
	c.query = strings.Fields(strings.ToLower(req.Query))
	if req.Limit != nil {
		if *req.Limit < 0 || *req.Limit > maxSearchLimit {
			return nil, badRequest("limit must be between 0 and %d, not %d", maxSearchLimit, *req.Limit)
		}
		if *req.Limit > 0 {
			c.limit = *req.Limit
		}
	}
	if req.After.present && req.After.v != "" {
		n, err := strconv.Atoi(req.After.v)
		if err != nil || n < 0 {
			return nil, badRequest("after %q is not a valid paging cursor", req.After.v)
		}
		if n >= s.opts.SearchMaxResults {
			return nil, badRequest("Paging past %d results is not supported: narrow the search with filters (after=%d)", s.opts.SearchMaxResults, n)
		}
		c.offset = n
	}
	return c, nil
}

func (c *compiledSearch) match(t *objectType, r *record) bool {
	if len(c.groups) > 0 {
		any := false
		for _, g := range c.groups {
			all := true
			for _, m := range g {
				if !m(r) {
					all = false
					break
				}
			}
			if all {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	if len(c.query) > 0 {
		var toks []string
		for _, n := range t.searchable {
			if v, ok := r.props[n]; ok {
				toks = append(toks, tokens(strings.ToLower(v))...)
			}
		}
		for _, q := range c.query {
			found := false
			for _, tok := range toks {
				if strings.HasPrefix(tok, q) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// sortRecords orders matches by the sort (missing values last) and then
// by id, as a stable, deterministic order.
func sortRecords(t *objectType, recs []*record, sp *sortSpec) {
	if sp == nil {
		return // t.ids order: ascending ids
	}
	p := t.props[sp.name]
	numeric := p.Type == "number" || p.Type == "date" || p.Type == "datetime"
	sort.SliceStable(recs, func(i, j int) bool {
		a, aok := recs[i].props[sp.name]
		b, bok := recs[j].props[sp.name]
		if aok != bok {
			return aok
		}
		if !aok {
			return false
		}
		var c int
		if numeric {
			x, _ := strconv.ParseFloat(a, 64)
			y, _ := strconv.ParseFloat(b, 64)
			switch {
			case x < y:
				c = -1
			case x > y:
				c = 1
			}
		} else {
			c = strings.Compare(strings.ToLower(a), strings.ToLower(b))
		}
		if sp.desc {
			c = -c
		}
		return c < 0
	})
}

// SetSearchLag changes how far search lags behind writes (see
// Options.SearchLag; negative counts as 0). It is safe for concurrent use.
// From the next search on, search answers as if the lag had always been d,
// as far as records still keep their versions: each write drops the
// versions older than the one search shows at that moment, and that one
// stays found when the lag grows later (a record not written since it was
// created is hidden again by a lag longer than its age).
func (s *Server) SetSearchLag(d time.Duration) {
	s.searchLag.Store(int64(max(d, 0)))
}

// SearchLag is how far search lags behind writes now.
func (s *Server) SearchLag() time.Duration { return time.Duration(s.searchLag.Load()) }

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, t *objectType, req searchRequest) {
	c, e := s.compileSearch(t, req)
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	// Each record as the lagging index has it: the version written at or
	// before cutoff, or none.
	lag := s.SearchLag()
	cutoff := s.limNow().Add(-lag)
	var matches []*record
	for _, id := range t.ids {
		rec := t.records[id]
		if lag == 0 {
			if rec.archived {
				continue
			}
		} else if rec = rec.searchable(cutoff); rec == nil {
			continue
		}
		if c.match(t, rec) {
			matches = append(matches, rec)
		}
	}
	sortRecords(t, matches, c.sort)
	end := min(c.offset+c.limit, len(matches))
	results := []recordJSON{}
	if c.offset < len(matches) {
		for _, rec := range matches[c.offset:end] {
			results = append(results, s.view(t, rec, c.props))
		}
	}
	body := map[string]any{"total": len(matches), "results": results}
	if end < len(matches) {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end), "link": fmt.Sprintf("?after=%d", end)}}
	}
	writeJSON(w, http.StatusOK, body)
}
