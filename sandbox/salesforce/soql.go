package salesforce

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file is the fake's SOQL: a lexer and parser for the subset regsync
// and go-salesforce use, written independently of the client's escaper so
// that tests can parse the client's queries back and check their
// structure:
//
//	SELECT field, Rel__r.Field, COUNT(), COUNT(Id) alias, MAX(f) …
//	FROM Object
//	[WHERE cond]  cond: = != <> < <= > >= LIKE IN NOT IN, AND, OR, NOT, ( )
//	[GROUP BY f, …] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
//	[LIMIT n] [OFFSET n]
//
// Values: 'strings' with Salesforce's backslash escapes (\_ and \% only in
// LIKE patterns), numbers, TRUE, FALSE, NULL, dates 2026-03-02, datetimes
// 2026-03-02T15:00:00Z (or .000Z, +01:00, +0100), and the date literals
// TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n and NEXT_N_DAYS:n. Like
// Salesforce, AND and OR may not be mixed at one level without parentheses.

// Query is a parsed SOQL statement.
type Query struct {
	Select  []SelectItem
	From    string
	Where   Expr // nil without WHERE
	GroupBy []string
	OrderBy []Order
	Limit   int // -1 without LIMIT
	Offset  int // -1 without OFFSET
}

// SelectItem is a field path (Field) or an aggregate (Func with Field,
// which is empty for COUNT()).
type SelectItem struct {
	Field string
	Func  string // COUNT, MAX, MIN, SUM, AVG; "" for a plain field
	Alias string
}

// Order is one ORDER BY item.
type Order struct {
	Field      string
	Desc       bool
	NullsFirst bool
}

// Expr is a WHERE condition: *And, *Or, *Not or *Cond.
type Expr interface{ expr() }

// And holds two or more conditions that must all hold.
type And struct{ Terms []Expr }

// Or holds two or more conditions of which one must hold.
type Or struct{ Terms []Expr }

// Not negates a condition.
type Not struct{ X Expr }

// Cond compares a field with values. Op is =, !=, <, <=, >, >=, LIKE, IN
// or NOT IN; IN and NOT IN carry several values, the others one.
type Cond struct {
	Field  string
	Op     string
	Values []Value
}

func (*And) expr()  {}
func (*Or) expr()   {}
func (*Not) expr()  {}
func (*Cond) expr() {}

// ValueKind is the kind of a literal.
type ValueKind int

// Literal kinds.
const (
	KindString ValueKind = iota
	KindNumber
	KindBool
	KindNull
	KindDate
	KindDateTime
	KindDateLiteral
)

// Value is a literal. Str is a string's value (for a LIKE pattern, its
// text with escaped wildcards unescaped: use Pattern to match); Time a
// date or datetime; Literal and N a date literal such as LAST_N_DAYS and 30.
type Value struct {
	Kind    ValueKind
	Str     string
	Num     float64
	Bool    bool
	Time    time.Time
	Literal string
	N       int
	// Pattern is a LIKE pattern: runes, with -1 for % and -2 for _ (the
	// unescaped wildcards).
	Pattern []rune
}

// Pattern wildcards.
const (
	WildAny  = -1 // %
	WildOne  = -2 // _
	maxQuery = 100000
)

// SyntaxError is a MALFORMED_QUERY.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("unexpected token at column %d: %s", e.Pos+1, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDate
	tDateTime
	tOp
	tPunct
)

type token struct {
	kind tokKind
	text string // identifier, operator or punctuation; the raw number/date
	pos  int
	str  []rune // decoded string, with WildAny/WildOne for \%-free wildcards
	// likeOnly is set when the string used \% or \_.
	likeOnly bool
	// escAt marks runes of str that came from \% or \_.
	escAt map[int]bool
}

func lex(q string) ([]token, error) {
	if len(q) > maxQuery {
		return nil, &SyntaxError{0, fmt.Sprintf("query of %d characters exceeds the %d limit", len(q), maxQuery)}
	}
	if !utf8.ValidString(q) {
		return nil, &SyntaxError{0, "invalid UTF-8"}
	}
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			t, n, err := lexString(q, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case isLetter(c) || c == '_':
			j := i
			for j < len(q) && (isLetter(q[j]) || isDigit(q[j]) || q[j] == '_') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: q[i:j], pos: i})
			i = j
		case isDigit(c) || c == '-' && i+1 < len(q) && isDigit(q[i+1]):
			t, n, err := lexNumberOrDate(q, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case c == '!' || c == '<' || c == '>' || c == '=':
			j := i + 1
			if j < len(q) && (q[j] == '=' || c == '<' && q[j] == '>') {
				j++
			}
			op := q[i:j]
			if op == "!" {
				return nil, &SyntaxError{i, "unexpected '!'"}
			}
			if op == "<>" {
				op = "!="
			}
			toks = append(toks, token{kind: tOp, text: op, pos: i})
			i = j
		case c == '(' || c == ')' || c == ',' || c == '.' || c == ':':
			toks = append(toks, token{kind: tPunct, text: string(c), pos: i})
			i++
		default:
			r, _ := utf8.DecodeRuneInString(q[i:])
			return nil, &SyntaxError{i, fmt.Sprintf("no viable alternative at character '%c'", r)}
		}
	}
	return append(toks, token{kind: tEOF, pos: len(q)}), nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// lexString reads a quoted string starting at q[i] == '\”.
func lexString(q string, i int) (token, int, error) {
	t := token{kind: tString, pos: i}
	j := i + 1
	for {
		if j >= len(q) {
			return t, 0, &SyntaxError{i, "unterminated string literal"}
		}
		c := q[j]
		switch c {
		case '\'':
			return t, j + 1, nil
		case '\\':
			if j+1 >= len(q) {
				return t, 0, &SyntaxError{j, "unterminated escape sequence"}
			}
			var r rune
			switch q[j+1] {
			case '\'':
				r = '\''
			case '"':
				r = '"'
			case '\\':
				r = '\\'
			case 'n', 'N':
				r = '\n'
			case 'r', 'R':
				r = '\r'
			case 't', 'T':
				r = '\t'
			case 'b', 'B':
				r = '\b'
			case 'f', 'F':
				r = '\f'
			case '%', '_':
				r = rune(q[j+1])
				if t.escAt == nil {
					t.escAt = map[int]bool{}
				}
				t.escAt[len(t.str)] = true
				t.likeOnly = true
			default:
				return t, 0, &SyntaxError{j, fmt.Sprintf("invalid escape sequence '\\%c'", q[j+1])}
			}
			t.str = append(t.str, r)
			j += 2
		default:
			r, n := utf8.DecodeRuneInString(q[j:])
			t.str = append(t.str, r)
			j += n
		}
	}
}

func lexNumberOrDate(q string, i int) (token, int, error) {
	// A date: dddd-dd-dd, optionally Thh:mm:ss[.fff](Z|±hh:mm|±hhmm).
	if len(q) >= i+10 && allDigitsAt(q, i, 4) && q[i+4] == '-' && allDigitsAt(q, i+5, 2) && q[i+7] == '-' && allDigitsAt(q, i+8, 2) {
		j := i + 10
		if j < len(q) && q[j] == 'T' {
			k := j + 1
			if !(len(q) >= k+8 && allDigitsAt(q, k, 2) && q[k+2] == ':' && allDigitsAt(q, k+3, 2) && q[k+5] == ':' && allDigitsAt(q, k+6, 2)) {
				return token{}, 0, &SyntaxError{i, "invalid datetime literal"}
			}
			k += 8
			if k < len(q) && q[k] == '.' {
				k++
				s := k
				for k < len(q) && isDigit(q[k]) {
					k++
				}
				if k == s {
					return token{}, 0, &SyntaxError{i, "invalid datetime literal"}
				}
			}
			switch {
			case k < len(q) && q[k] == 'Z':
				k++
			case k < len(q) && (q[k] == '+' || q[k] == '-'):
				if len(q) >= k+6 && allDigitsAt(q, k+1, 2) && q[k+3] == ':' && allDigitsAt(q, k+4, 2) {
					k += 6
				} else if len(q) >= k+5 && allDigitsAt(q, k+1, 4) {
					k += 5
				} else {
					return token{}, 0, &SyntaxError{i, "invalid datetime literal"}
				}
			default:
				return token{}, 0, &SyntaxError{i, "datetime literal without a time zone"}
			}
			if k < len(q) && (isLetter(q[k]) || isDigit(q[k])) {
				return token{}, 0, &SyntaxError{k, "invalid datetime literal"}
			}
			return token{kind: tDateTime, text: q[i:k], pos: i}, k, nil
		}
		if j < len(q) && (isLetter(q[j]) || isDigit(q[j])) {
			return token{}, 0, &SyntaxError{j, "invalid date literal"}
		}
		return token{kind: tDate, text: q[i:j], pos: i}, j, nil
	}
	j := i
	if q[j] == '-' {
		j++
	}
	for j < len(q) && isDigit(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '.' {
		j++
		s := j
		for j < len(q) && isDigit(q[j]) {
			j++
		}
		if j == s {
			return token{}, 0, &SyntaxError{i, "invalid number"}
		}
	}
	if j < len(q) && (isLetter(q[j]) || q[j] == '_') {
		return token{}, 0, &SyntaxError{j, "invalid number"}
	}
	return token{kind: tNumber, text: q[i:j], pos: i}, j, nil
}

func allDigitsAt(q string, i, n int) bool {
	if i+n > len(q) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !isDigit(q[k]) {
			return false
		}
	}
	return true
}

type parser struct {
	toks []token
	i    int
}

// ParseSOQL parses a SOQL statement of the subset the fake serves.
func ParseSOQL(q string) (*Query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	return p.query()
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) keyword(kw string) error {
	if !p.isKeyword(kw) {
		return p.unexpected("expecting " + kw)
	}
	p.i++
	return nil
}

func (p *parser) punct(s string) error {
	t := p.peek()
	if t.kind != tPunct || t.text != s {
		return p.unexpected("expecting '" + s + "'")
	}
	p.i++
	return nil
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) unexpected(want string) error {
	t := p.peek()
	text := t.text
	switch t.kind {
	case tEOF:
		text = "<EOF>"
	case tString:
		text = "'" + string(t.str) + "'"
	}
	return &SyntaxError{t.pos, fmt.Sprintf("%s, found %s", want, text)}
}

var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true,
	"ORDER": true, "BY": true, "GROUP": true, "LIMIT": true, "OFFSET": true, "ASC": true, "DESC": true, "NULLS": true,
	"NULL": true, "TRUE": true, "FALSE": true, "HAVING": true, "WITH": true, "FOR": true, "USING": true,
}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return "", p.unexpected("expecting an identifier")
	}
	p.i++
	return t.text, nil
}

func (p *parser) path() (string, error) {
	s, err := p.ident()
	if err != nil {
		return "", err
	}
	for p.isPunct(".") {
		p.i++
		n, err := p.ident()
		if err != nil {
			return "", err
		}
		s += "." + n
	}
	return s, nil
}

// commaList parses one item or more, separated by commas.
func commaList[T any](p *parser, item func() (T, error)) ([]T, error) {
	var out []T
	for {
		it, err := item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
		if !p.isPunct(",") {
			return out, nil
		}
		p.i++
	}
}

// orderItem is one ORDER BY item: a field, ASC or DESC, NULLS FIRST or
// LAST.
func (p *parser) orderItem() (Order, error) {
	f, err := p.path()
	if err != nil {
		return Order{}, err
	}
	o := Order{Field: f, NullsFirst: true}
	if p.isKeyword("ASC") {
		p.i++
	} else if p.isKeyword("DESC") {
		p.i++
		o.Desc, o.NullsFirst = true, false
	}
	if p.isKeyword("NULLS") {
		p.i++
		switch {
		case p.isKeyword("FIRST"):
			o.NullsFirst = true
		case p.isKeyword("LAST"):
			o.NullsFirst = false
		default:
			return Order{}, p.unexpected("expecting FIRST or LAST")
		}
		p.i++
	}
	return o, nil
}

func (p *parser) query() (*Query, error) {
	q := &Query{Limit: -1, Offset: -1}
	if err := p.keyword("SELECT"); err != nil {
		return nil, err
	}
	sel, err := commaList(p, p.selectItem)
	if err != nil {
		return nil, err
	}
	q.Select = sel
	if err := p.keyword("FROM"); err != nil {
		return nil, err
	}
	from, err := p.ident()
	if err != nil {
		return nil, err
	}
	q.From = from
	if p.isKeyword("WHERE") {
		p.i++
		if q.Where, err = p.orExpr(); err != nil {
			return nil, err
		}
	}
	if p.isKeyword("GROUP") {
		p.i++
		if err := p.keyword("BY"); err != nil {
			return nil, err
		}
		if q.GroupBy, err = commaList(p, p.path); err != nil {
			return nil, err
		}
	}
	if p.isKeyword("ORDER") {
		p.i++
		if err := p.keyword("BY"); err != nil {
			return nil, err
		}
		if q.OrderBy, err = commaList(p, p.orderItem); err != nil {
			return nil, err
		}
	}
	if p.isKeyword("LIMIT") {
		p.i++
		n, err := p.count()
		if err != nil {
			return nil, err
		}
		q.Limit = n
	}
	if p.isKeyword("OFFSET") {
		p.i++
		n, err := p.count()
		if err != nil {
			return nil, err
		}
		q.Offset = n
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected("expecting the end of the query")
	}
	return q, nil
}

func (p *parser) count() (int, error) {
	t := p.peek()
	if t.kind != tNumber || strings.ContainsAny(t.text, ".-") {
		return 0, p.unexpected("expecting a non-negative integer")
	}
	n, err := strconv.Atoi(t.text)
	if err != nil {
		return 0, p.unexpected("expecting a non-negative integer")
	}
	p.i++
	return n, nil
}

func (p *parser) selectItem() (SelectItem, error) {
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(" {
		fn := strings.ToUpper(t.text)
		switch fn {
		case "COUNT", "MAX", "MIN", "SUM", "AVG", "COUNT_DISTINCT":
		default:
			return SelectItem{}, &SyntaxError{t.pos, "unsupported function " + t.text}
		}
		p.i += 2
		it := SelectItem{Func: fn}
		if !p.isPunct(")") {
			f, err := p.path()
			if err != nil {
				return it, err
			}
			it.Field = f
		} else if fn != "COUNT" {
			return it, p.unexpected("expecting a field")
		}
		if err := p.punct(")"); err != nil {
			return it, err
		}
		if t := p.peek(); t.kind == tIdent && !reserved[strings.ToUpper(t.text)] {
			it.Alias = t.text
			p.i++
		}
		return it, nil
	}
	f, err := p.path()
	if err != nil {
		return SelectItem{}, err
	}
	return SelectItem{Field: f}, nil
}

func (p *parser) orExpr() (Expr, error) {
	x, combined, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	if !p.isKeyword("OR") {
		return x, nil
	}
	if combined {
		return nil, p.unexpected("AND and OR mixed without parentheses")
	}
	terms := []Expr{x}
	for p.isKeyword("OR") {
		p.i++
		y, combined, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		if combined {
			return nil, &SyntaxError{p.peek().pos, "AND and OR mixed without parentheses"}
		}
		terms = append(terms, y)
	}
	return &Or{Terms: terms}, nil
}

// andExpr parses terms joined by AND; combined reports whether it joined
// more than one at this level (not inside parentheses).
func (p *parser) andExpr() (x Expr, combined bool, err error) {
	x, err = p.notExpr()
	if err != nil {
		return nil, false, err
	}
	if !p.isKeyword("AND") {
		return x, false, nil
	}
	terms := []Expr{x}
	for p.isKeyword("AND") {
		p.i++
		y, err := p.notExpr()
		if err != nil {
			return nil, false, err
		}
		terms = append(terms, y)
	}
	return &And{Terms: terms}, true, nil
}

func (p *parser) notExpr() (Expr, error) {
	if p.isKeyword("NOT") {
		p.i++
		x, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	if p.isPunct("(") {
		p.i++
		x, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if err := p.punct(")"); err != nil {
			return nil, err
		}
		return x, nil
	}
	return p.cond()
}

func (p *parser) cond() (Expr, error) {
	f, err := p.path()
	if err != nil {
		return nil, err
	}
	c := &Cond{Field: f}
	t := p.peek()
	switch {
	case t.kind == tOp:
		p.i++
		c.Op = t.text
		v, err := p.value(false)
		if err != nil {
			return nil, err
		}
		c.Values = []Value{v}
	case p.isKeyword("LIKE"):
		p.i++
		c.Op = "LIKE"
		v, err := p.value(true)
		if err != nil {
			return nil, err
		}
		if v.Kind != KindString {
			return nil, &SyntaxError{t.pos, "LIKE needs a string pattern"}
		}
		c.Values = []Value{v}
	case p.isKeyword("IN"), p.isKeyword("NOT"):
		c.Op = "IN"
		if p.isKeyword("NOT") {
			p.i++
			if !p.isKeyword("IN") {
				return nil, p.unexpected("expecting IN")
			}
			c.Op = "NOT IN"
		}
		p.i++
		if err := p.punct("("); err != nil {
			return nil, err
		}
		vals, err := commaList(p, func() (Value, error) {
			v, err := p.value(false)
			if err == nil && v.Kind == KindDateLiteral {
				err = &SyntaxError{t.pos, "date literals cannot be used in IN"}
			}
			return v, err
		})
		if err != nil {
			return nil, err
		}
		c.Values = append(c.Values, vals...)
		if err := p.punct(")"); err != nil {
			return nil, err
		}
	default:
		return nil, p.unexpected("expecting a comparison operator")
	}
	return c, nil
}

func (p *parser) value(like bool) (Value, error) {
	t := p.next()
	switch t.kind {
	case tString:
		if t.likeOnly && !like {
			return Value{}, &SyntaxError{t.pos, "\\% and \\_ are only valid in LIKE patterns"}
		}
		v := Value{Kind: KindString, Str: string(t.str)}
		if like {
			v.Pattern = make([]rune, len(t.str))
			for i, r := range t.str {
				switch {
				case t.escAt[i]:
					v.Pattern[i] = r
				case r == '%':
					v.Pattern[i] = WildAny
				case r == '_':
					v.Pattern[i] = WildOne
				default:
					v.Pattern[i] = r
				}
			}
		}
		return v, nil
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return Value{}, &SyntaxError{t.pos, "invalid number"}
		}
		return Value{Kind: KindNumber, Num: n}, nil
	case tDate:
		d, err := time.Parse("2006-01-02", t.text)
		if err != nil {
			return Value{}, &SyntaxError{t.pos, "invalid date " + t.text}
		}
		return Value{Kind: KindDate, Time: d}, nil
	case tDateTime:
		for _, l := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700"} {
			if d, err := time.Parse(l, t.text); err == nil {
				return Value{Kind: KindDateTime, Time: d.UTC()}, nil
			}
		}
		return Value{}, &SyntaxError{t.pos, "invalid datetime " + t.text}
	case tIdent:
		switch u := strings.ToUpper(t.text); u {
		case "TRUE", "FALSE":
			return Value{Kind: KindBool, Bool: u == "TRUE"}, nil
		case "NULL":
			return Value{Kind: KindNull}, nil
		case "TODAY", "YESTERDAY", "TOMORROW":
			return Value{Kind: KindDateLiteral, Literal: u}, nil
		case "LAST_N_DAYS", "NEXT_N_DAYS":
			if err := p.punct(":"); err != nil {
				return Value{}, err
			}
			n, err := p.count()
			if err != nil {
				return Value{}, err
			}
			return Value{Kind: KindDateLiteral, Literal: u, N: n}, nil
		}
	}
	p.i--
	return Value{}, p.unexpected("expecting a value")
}

// MatchLike reports whether s matches a LIKE pattern, case-insensitively
// as Salesforce matches.
func MatchLike(pattern []rune, s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		rs[i] = unicode.ToLower(r)
	}
	return matchLike(pattern, rs)
}

func matchLike(p []rune, s []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case WildAny:
			for len(p) > 0 && p[0] == WildAny {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchLike(p, s[i:]) {
					return true
				}
			}
			return false
		case WildOne:
			if len(s) == 0 {
				return false
			}
		default:
			if len(s) == 0 || unicode.ToLower(p[0]) != s[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}
