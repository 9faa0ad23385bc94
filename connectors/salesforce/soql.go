package salesforce

import (
	"fmt"
	"strings"
	"time"
)

// SOQL literals. Every value that reaches a SOQL statement goes through
// Quote or QuoteLike; field and object names come only from validated
// configuration (validAPIName) or constants. Salesforce's quoted-string
// escapes are \' \" \\ \n \r \t \b \f, plus \_ and \% inside LIKE; any other
// backslash sequence is a syntax error, so the escaper never produces one.

// Quote returns s as a SOQL string literal: in single quotes, with
// backslashes, quotes and the control characters SOQL has escapes for
// escaped, and invalid UTF-8 replaced by U+FFFD. Whatever s holds, the
// result is exactly one string literal whose value is s.
func Quote(s string) string {
	return quote(s, false)
}

// QuoteLike returns a LIKE pattern literal that matches s itself,
// optionally preceded and followed by the wildcard %: the wildcards % and _
// inside s are escaped, so they match only themselves.
func QuoteLike(prefix bool, s string, suffix bool) string {
	q := quote(s, true)
	if prefix {
		q = "'%" + q[1:]
	}
	if suffix {
		q = q[:len(q)-1] + "%'"
	}
	return q
}

func quote(s string, like bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '%', '_':
			if like {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// DateTime returns t as an (unquoted) SOQL dateTime literal in UTC.
func DateTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Date returns t's calendar date (in UTC) as an unquoted SOQL date literal.
func Date(t time.Time) string {
	return t.UTC().Format("2006-01-02")
}

// inList renders values as a SOQL IN list: ('a','b').
func inList(values []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(v))
	}
	b.WriteByte(')')
	return b.String()
}

// chunkIn splits values (de-duplicated, empty ones dropped) into groups
// whose quoted IN list is at most budget characters long, and at most
// maxItems values (0: no limit). A single value longer than the budget is
// an error, never a broken query.
func chunkIn(values []string, budget, maxItems int) ([][]string, error) {
	return chunkBy(values, budget, maxItems, func(v string) int { return len(Quote(v)) + 1 })
}

// chunkBy splits values (de-duplicated, empty ones dropped) into groups
// whose clauses, each size(v) long, fit in budget characters with the
// enclosing parentheses, and at most maxItems values (0: no limit).
func chunkBy(values []string, budget, maxItems int, size func(v string) int) ([][]string, error) {
	seen := make(map[string]bool, len(values))
	var out [][]string
	var cur []string
	used := 2 // ( )
	for _, v := range values {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		n := size(v)
		if n+2 > budget {
			return nil, fmt.Errorf("value of %d bytes does not fit in a query", len(v))
		}
		if len(cur) > 0 && (used+n > budget || maxItems > 0 && len(cur) >= maxItems) {
			out = append(out, cur)
			cur, used = nil, 2
		}
		cur = append(cur, v)
		used += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// orLike renders (f LIKE '%a%' OR f LIKE '%b%') for substring matches.
func orLike(field string, values []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(field)
		b.WriteString(" LIKE ")
		b.WriteString(QuoteLike(true, v, true))
	}
	b.WriteByte(')')
	return b.String()
}

// chunkLike splits values into groups whose OR-ed LIKE clauses on field are
// at most budget characters long.
func chunkLike(field string, values []string, budget int) ([][]string, error) {
	return chunkBy(values, budget, 0, func(v string) int {
		return len(field) + len(" LIKE ") + len(QuoteLike(true, v, true)) + len(" OR ")
	})
}
