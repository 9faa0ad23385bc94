package salesforce

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `''`},
		{"Globex", `'Globex'`},
		{"O'Reilly", `'O\'Reilly'`},
		{`O'Reilly\' OR Name LIKE '%`, `'O\'Reilly\\\' OR Name LIKE \'%'`},
		{`back\slash`, `'back\\slash'`},
		{`"quoted"`, `'\"quoted\"'`},
		{"line\nbreak\r\ttab\bbell\fform", `'line\nbreak\r\ttab\bbell\fform'`},
		{"50% off_sale", `'50% off_sale'`},
		{"Société Générale", `'Société Générale'`},
		{"bad\xffutf8", "'bad\uFFFDutf8'"},
		{`\`, `'\\'`},
		{`'`, `'\''`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQuoteLike(t *testing.T) {
	for _, tc := range []struct {
		in             string
		prefix, suffix bool
		want           string
	}{
		{"globex.example", true, true, `'%globex.example%'`},
		{"50%_off", true, true, `'%50\%\_off%'`},
		{"a'b", false, true, `'a\'b%'`},
		{"", true, true, `'%%'`},
		{`x\`, false, false, `'x\\'`},
	} {
		if got := QuoteLike(tc.prefix, tc.in, tc.suffix); got != tc.want {
			t.Errorf("QuoteLike(%v, %q, %v) = %s, want %s", tc.prefix, tc.in, tc.suffix, got, tc.want)
		}
	}
}

func TestDateTimeLiterals(t *testing.T) {
	ts := time.Date(2026, 3, 2, 15, 4, 5, 123e6, time.FixedZone("CET", 3600))
	if got := DateTime(ts); got != "2026-03-02T14:04:05.123Z" {
		t.Errorf("DateTime = %s", got)
	}
	if got := Date(ts); got != "2026-03-02" {
		t.Errorf("Date = %s", got)
	}
	q := "SELECT Id FROM Opportunity WHERE SystemModstamp >= " + DateTime(ts) + " AND CloseDate < " + Date(ts)
	if _, err := salesforcetest.ParseSOQL(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// injectionQuery puts s into every place regsync puts a value: an equality,
// an IN list and a LIKE pattern.
func injectionQuery(s string) string {
	return "SELECT Id FROM Account WHERE Name = " + Quote(s) +
		" AND (Website IN " + inList([]string{s, "x"}) + " OR Website LIKE " + QuoteLike(true, s, true) + ") LIMIT 1"
}

// checkStructure parses the query back with the fake's parser and checks
// that it has exactly the intended shape and that every literal carries s.
func checkStructure(t *testing.T, s string) {
	t.Helper()
	q := injectionQuery(s)
	parsed, err := salesforcetest.ParseSOQL(q)
	if err != nil {
		t.Fatalf("input %q: query does not parse: %v\n%s", s, err, q)
	}
	want := strings.ToValidUTF8(s, "\uFFFD")
	if parsed.From != "Account" || len(parsed.Select) != 1 || parsed.Select[0].Field != "Id" || parsed.Limit != 1 ||
		parsed.Offset != -1 || len(parsed.OrderBy) != 0 || len(parsed.GroupBy) != 0 {
		t.Fatalf("input %q changed the query's clauses: %+v", s, parsed)
	}
	and, ok := parsed.Where.(*salesforcetest.And)
	if !ok || len(and.Terms) != 2 {
		t.Fatalf("input %q changed the WHERE clause: %#v", s, parsed.Where)
	}
	eq, ok := and.Terms[0].(*salesforcetest.Cond)
	if !ok || eq.Field != "Name" || eq.Op != "=" || len(eq.Values) != 1 || eq.Values[0].Kind != salesforcetest.KindString || eq.Values[0].Str != want {
		t.Fatalf("input %q: equality became %#v", s, and.Terms[0])
	}
	or, ok := and.Terms[1].(*salesforcetest.Or)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("input %q: the OR group became %#v", s, and.Terms[1])
	}
	in, ok := or.Terms[0].(*salesforcetest.Cond)
	if !ok || in.Field != "Website" || in.Op != "IN" || len(in.Values) != 2 || in.Values[0].Str != want || in.Values[1].Str != "x" {
		t.Fatalf("input %q: IN became %#v", s, or.Terms[0])
	}
	like, ok := or.Terms[1].(*salesforcetest.Cond)
	if !ok || like.Field != "Website" || like.Op != "LIKE" || len(like.Values) != 1 {
		t.Fatalf("input %q: LIKE became %#v", s, or.Terms[1])
	}
	// The pattern is %, the input's characters as themselves, %.
	p := like.Values[0].Pattern
	inner := []rune(want)
	if len(p) != len(inner)+2 || p[0] != salesforcetest.WildAny || p[len(p)-1] != salesforcetest.WildAny {
		t.Fatalf("input %q: pattern %v", s, p)
	}
	for i, r := range inner {
		if p[i+1] != r {
			t.Fatalf("input %q: pattern rune %d is %v, want %q", s, i, p[i+1], r)
		}
	}
	if !salesforcetest.MatchLike(p, "before"+want+"after") {
		t.Fatalf("input %q: the pattern does not match a text containing it", s)
	}
}

func TestInjectionImpossible(t *testing.T) {
	for _, s := range []string{
		`O'Reilly\' OR Name LIKE '%`,
		`' OR Id != null OR Name = '`,
		`\' OR '1'='1`,
		`\\' OR Name != '`,
		`%' OR Name LIKE '%`,
		"x') OR (Name = 'y",
		"new\nline' OR Name != '",
		`\n\r\t\b\f\"\%\_\u0041`,
		"ends with backslash \\",
		"'; DELETE FROM Account; --",
		"null", "NULL' OR Name = null OR Name = '",
		"\x00\x01\x1f\x7f",
		"\xff\xfe'",
		"日本語の会社 'テスト'",
	} {
		checkStructure(t, s)
	}
}

// FuzzQuote: no input ever changes the query's structure; the fake's
// independent SOQL parser reads back exactly the intended clauses, with the
// input as the value of every literal.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "O'Reilly", `O'Reilly\' OR Name LIKE '%`, `\`, `\'`, "%_", "a\nb", "\xff", `"`, "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2000 {
			return
		}
		checkStructure(t, s)
		if utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError) {
			if got := Quote(s); !strings.HasPrefix(got, "'") || !strings.HasSuffix(got, "'") {
				t.Fatalf("Quote(%q) = %s", s, got)
			}
		}
	})
}

func TestChunkInStaysUnderBudget(t *testing.T) {
	var vals []string
	for i := 0; i < 5000; i++ {
		vals = append(vals, strings.Repeat("x", i%40)+"'"+string(rune('a'+i%26)))
	}
	vals = append(vals, vals[:100]...) // duplicates are dropped
	chunks, err := chunkIn(vals, 3000, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ch := range chunks {
		if l := len(inList(ch)); l > 3000 {
			t.Fatalf("chunk of %d characters", l)
		}
		for _, v := range ch {
			if seen[v] {
				t.Fatalf("%q twice", v)
			}
			seen[v] = true
		}
	}
	uniq := map[string]bool{}
	for _, v := range vals {
		uniq[v] = true
	}
	if len(seen) != len(uniq) {
		t.Fatalf("%d of %d values kept", len(seen), len(uniq))
	}
	if _, err := chunkIn([]string{strings.Repeat("y", 5000)}, 3000, 0); err == nil {
		t.Error("a value longer than the budget was accepted")
	}
	lc, err := chunkLike("Website", []string{"a.example", "b.example", "c.example"}, 70)
	if err != nil || len(lc) < 2 {
		t.Fatalf("chunkLike: %v %v", lc, err)
	}
	for _, ch := range lc {
		if l := len(orLike("Website", ch)); l > 70 {
			t.Fatalf("LIKE chunk of %d characters", l)
		}
	}
}
