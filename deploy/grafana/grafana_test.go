package grafana

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// Labels every series may carry: Prometheus adds instance and job at scrape.
var targetLabels = []string{"instance", "job"}

// series maps every series name the dashboard may select to its metric:
// histograms have _bucket (with le), _sum and _count.
func series() map[string]Metric {
	m := map[string]Metric{}
	for _, x := range Metrics {
		if x.Type == "histogram" {
			m[x.Name+"_bucket"] = Metric{x.Name + "_bucket", x.Type, append(slices.Clone(x.Labels), "le")}
			m[x.Name+"_sum"] = Metric{x.Name + "_sum", x.Type, x.Labels}
			m[x.Name+"_count"] = Metric{x.Name + "_count", x.Type, x.Labels}
			continue
		}
		m[x.Name] = x
	}
	return m
}

// PromQL functions and aggregations the dashboard may call.
var functions = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "topk": true, "bottomk": true, "quantile": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "changes": true, "resets": true,
	"histogram_quantile": true, "sort": true, "sort_desc": true, "clamp_min": true, "clamp_max": true, "abs": true,
	"max_over_time": true, "min_over_time": true, "avg_over_time": true, "last_over_time": true, "absent": true,
	"time": true, "vector": true, "scalar": true, "round": true,
	// Grafana template queries.
	"label_values": true,
}

var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
}

var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

type token struct {
	kind string // ident, num, str, var, punct
	text string
}

func lex(expr string) ([]token, error) {
	var out []token
	rs := []rune(expr)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '$':
			j := i + 1
			if j < len(rs) && rs[j] == '{' {
				for j < len(rs) && rs[j] != '}' {
					j++
				}
				j++
			} else {
				for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
					j++
				}
			}
			out = append(out, token{"var", string(rs[i:j])})
			i = j
		case r == '_' || r == ':' || unicode.IsLetter(r):
			j := i
			for j < len(rs) && (rs[j] == '_' || rs[j] == ':' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			out = append(out, token{"ident", string(rs[i:j])})
			i = j
		case unicode.IsDigit(r) || r == '.':
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == 'e') {
				j++
			}
			out = append(out, token{"num", string(rs[i:j])})
			i = j
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, token{"str", string(rs[i+1 : j])})
			i = j + 1
		default:
			// Two-character operators first.
			if i+1 < len(rs) && strings.Contains("== != >= <= =~ !~", string(rs[i:i+2])) {
				out = append(out, token{"punct", string(rs[i : i+2])})
				i += 2
				continue
			}
			if !strings.ContainsRune("(){}[],+-*/%^<>=", r) {
				return nil, fmt.Errorf("unexpected %q at %d", r, i)
			}
			out = append(out, token{"punct", string(r)})
			i++
		}
	}
	return out, nil
}

// check reports every problem with a PromQL expression: a series not in
// Metrics, a label the series does not carry, an unknown function, or
// unbalanced brackets. It returns the series the expression selects.
func check(expr string, known map[string]Metric) (used []string, problems []string) {
	toks, err := lex(expr)
	if err != nil {
		return nil, []string{err.Error()}
	}
	var labelsInExpr []string
	var groupLabels []string
	depth := map[string]int{}
	pairs := map[string]string{")": "(", "}": "{", "]": "["}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(k int) token {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return token{}
		}
		switch {
		case t.kind == "punct" && t.text == "{":
			problems = append(problems, "a selector without a metric name")
			for i+1 < len(toks) && toks[i+1].text != "}" {
				i++
			}
			i++
		case t.kind == "punct" && strings.Contains("([", t.text):
			depth[t.text]++
			if t.text == "[" { // a range or subquery duration: skip to ]
				for i+1 < len(toks) && toks[i+1].text != "]" {
					i++
				}
			}
		case t.kind == "punct" && strings.Contains(")}]", t.text):
			depth[pairs[t.text]]--
			if depth[pairs[t.text]] < 0 {
				problems = append(problems, "unbalanced "+t.text)
			}
		case t.kind == "ident" && grouping[t.text]:
			if next(1).text != "(" {
				problems = append(problems, t.text+" without a label list")
				continue
			}
			i++
			depth["("]++
			for i+1 < len(toks) && toks[i+1].text != ")" {
				i++
				if toks[i].kind == "ident" {
					groupLabels = append(groupLabels, toks[i].text)
				} else if toks[i].text != "," {
					problems = append(problems, "unexpected "+toks[i].text+" in "+t.text+"(…)")
				}
			}
		case t.kind == "ident" && next(1).text == "(":
			if !functions[t.text] {
				problems = append(problems, "unknown function "+t.text)
			}
			if t.text == "label_values" {
				// label_values(metric, label): a Grafana variable query.
				m, ok := known[next(2).text]
				switch {
				case next(2).kind != "ident" || next(3).text != "," || next(4).kind != "ident" || next(5).text != ")":
					problems = append(problems, "label_values(metric, label) expected")
				case !ok:
					problems = append(problems, "unknown metric "+next(2).text)
				case !slices.Contains(m.Labels, next(4).text) && !slices.Contains(targetLabels, next(4).text):
					problems = append(problems, fmt.Sprintf("%s has no label %s", m.Name, next(4).text))
				default:
					used = append(used, m.Name)
					i += 5
				}
			}
		case t.kind == "ident" && functions[t.text] && grouping[next(1).text]:
			// an aggregation with its grouping first: sum by (x) (…)
		case t.kind == "ident" && keywords[strings.ToLower(t.text)]:
		case t.kind == "ident":
			m, ok := known[t.text]
			if !ok {
				problems = append(problems, "unknown metric "+t.text)
				continue
			}
			used = append(used, m.Name)
			if next(1).text == "{" {
				i++
				depth["{"]++
				for i+1 < len(toks) && toks[i+1].text != "}" {
					i++
					if toks[i].text == "," {
						continue
					}
					name, op, val := toks[i], next(1), next(2)
					if name.kind != "ident" || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.text) || val.kind != "str" {
						problems = append(problems, "bad matcher at "+name.text)
						break
					}
					if !slices.Contains(m.Labels, name.text) && !slices.Contains(targetLabels, name.text) {
						problems = append(problems, fmt.Sprintf("%s has no label %s", m.Name, name.text))
					}
					i += 2
				}
			}
			labelsInExpr = append(labelsInExpr, m.Labels...)
		}
	}
	for k, v := range depth {
		if v != 0 {
			problems = append(problems, "unbalanced "+k)
		}
	}
	for _, l := range groupLabels {
		if !slices.Contains(labelsInExpr, l) && !slices.Contains(targetLabels, l) {
			problems = append(problems, fmt.Sprintf("groups by %s, which no metric of the expression carries", l))
		}
	}
	return used, problems
}

func TestCheckCatchesMistakes(t *testing.T) {
	known := series()
	for expr, want := range map[string]string{
		`sum(rate(regsync_decisions_total[5m]))`:                                      "",
		`regsync_decision_total`:                                                      "unknown metric regsync_decision_total",
		`sum by (conector) (rate(regsync_crm_api_calls_total[5m]))`:                   "groups by conector, which no metric of the expression carries",
		`regsync_crm_daily_used{conector="hubspot"}`:                                  "regsync_crm_daily_used has no label conector",
		`rate(regsync_sweep_duration_seconds[5m])`:                                    "unknown metric regsync_sweep_duration_seconds",
		`histogram_quantile(0.9, sum by (le) (rate(regsync_inbox_depth_bucket[5m])))`: "unknown metric regsync_inbox_depth_bucket",
		`sum(rate(regsync_decisions_total[5m])`:                                       "unbalanced (",
		`regsync_inbox_depth(1)`:                                                      "unknown function regsync_inbox_depth",
		`{__name__="regsync_inbox_depth"}`:                                            "a selector without a metric name",
		`label_values(regsync_inbox_depth, connector)`:                                "regsync_inbox_depth has no label connector",
		`label_values(regsync_crm_api_calls_total, connector)`:                        "",
	} {
		_, problems := check(expr, known)
		if got := strings.Join(problems, "; "); !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("check(%s) = %q, want %q", expr, got, want)
		}
	}
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	ID            *int    `json:"id"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

const dsVar = `{"type":"prometheus","uid":"${datasource}"}`

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDashboard(t *testing.T) {
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(Dashboard)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("regsync.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 || d.ID != nil || len(d.Panels) == 0 {
		t.Errorf("dashboard header: uid %q title %q schemaVersion %d id %v panels %d", d.UID, d.Title, d.SchemaVersion, d.ID, len(d.Panels))
	}

	known := series()
	used := map[string]bool{}
	var exprs int
	checkExpr := func(where, expr string) {
		exprs++
		u, problems := check(expr, known)
		for _, p := range problems {
			t.Errorf("%s: %s\n  %s", where, p, expr)
		}
		if len(u) == 0 {
			t.Errorf("%s: selects no metric: %s", where, expr)
		}
		for _, m := range u {
			used[m] = true
		}
	}

	// The data source is a variable, so the file imports into any Grafana.
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name != "datasource" || compact(t, v.Query) != `"prometheus"` {
				t.Errorf("data source variable %s queries %s", v.Name, v.Query)
			}
		case "query":
			if compact(t, v.Datasource) != dsVar {
				t.Errorf("variable %s uses data source %s", v.Name, v.Datasource)
			}
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
				t.Errorf("variable %s: query %s", v.Name, v.Query)
			}
			checkExpr("variable "+v.Name, q.Query)
		}
	}
	if !vars["datasource"] {
		t.Fatal("no datasource variable")
	}

	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: id missing or repeated", where)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: gridPos %+v", where, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if compact(t, p.Datasource) != dsVar {
				t.Errorf("%s: data source %s, want the ${datasource} variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if refs[tg.RefID] || tg.RefID == "" {
					t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if compact(t, tg.Datasource) != dsVar {
					t.Errorf("%s: target %s data source %s", where, tg.RefID, tg.Datasource)
				}
				for _, v := range []string{"$instance", "$connector"} {
					if strings.Contains(tg.Expr, v) && !vars[strings.TrimPrefix(v, "$")] {
						t.Errorf("%s: uses %s, which is not a variable", where, v)
					}
				}
				checkExpr(where, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	if exprs < len(Metrics) {
		t.Errorf("only %d expressions", exprs)
	}
	// Every metric the daemon exposes is on the dashboard.
	for _, m := range Metrics {
		if !used[m.Name] && !used[m.Name+"_bucket"] {
			t.Errorf("metric %s is on no panel", m.Name)
		}
	}
}
