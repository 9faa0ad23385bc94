package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// apiError is a whole-request error in Salesforce's format.
type apiError struct {
	status int
	code   string
	msg    string
	fields []string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func malformed(format string, args ...any) *apiError {
	return &apiError{400, "MALFORMED_QUERY", fmt.Sprintf(format, args...), nil}
}

func invalidField(format string, args ...any) *apiError {
	return &apiError{400, "INVALID_FIELD", fmt.Sprintf(format, args...), nil}
}

// path is a resolved field path: the reference fields followed, then the
// final field.
type path struct {
	text  string
	steps []*Field
	final *Field
	// names are the JSON keys: relationship names, then the field name.
	names []string
}

func (s *Server) resolve(o *object, p string) (*path, *apiError) {
	segs := strings.Split(p, ".")
	res := &path{text: p}
	cur := []*object{o}
	for i, seg := range segs {
		last := i == len(segs)-1
		var found *Field
		for _, ob := range cur {
			if last {
				found = ob.field(seg)
			} else if f := ob.relByLower[strings.ToLower(seg)]; f != nil && !f.Hidden {
				found = f
			}
			if found != nil {
				break
			}
		}
		if found == nil {
			if last && len(segs) == 1 {
				return nil, invalidField("\nSELECT %s FROM %s\nERROR at Row:1:Column:8\nNo such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", p, o.name, seg, cur[0].name)
			}
			return nil, invalidField("Didn't understand relationship '%s' in field path '%s'. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", seg, p)
		}
		if last {
			res.final = found
			res.names = append(res.names, found.Name)
			break
		}
		res.steps = append(res.steps, found)
		res.names = append(res.names, found.RelationshipName)
		cur = nil
		for _, t := range found.ReferenceTo {
			if ob := s.objects[strings.ToLower(t)]; ob != nil {
				cur = append(cur, ob)
			}
		}
		if len(cur) == 0 {
			return nil, invalidField("relationship %s leads to no object", seg)
		}
	}
	return res, nil
}

// get follows the path from r; nil when a lookup on the way is empty.
func (s *Server) get(r *record, p *path) any {
	for _, st := range p.steps {
		id, _ := r.v[st.Name].(string)
		if id == "" {
			return nil
		}
		r = s.byID(id)
		if r == nil {
			return nil
		}
	}
	if p.final.Name == "Id" {
		return r.id
	}
	if p.final.Name == "IsDeleted" {
		return r.deleted
	}
	return r.v[p.final.Name]
}

// byID finds a record of any object.
func (s *Server) byID(id string) *record {
	id = normID(id)
	if id == "" {
		return nil
	}
	if o := s.byPrefix[id[:3]]; o != nil {
		return o.records[id]
	}
	return nil
}

type compiled struct {
	q      *Query
	obj    *object
	sel    []*path
	aggs   []int // indexes of aggregate items
	groups []*path
	order  []*path
	where  map[*Cond]*path
	// sets hold the values of IN lists on text fields, normalised.
	sets map[*Cond]*valueSet
}

type valueSet struct {
	keys map[string]bool
	null bool
}

// textKey normalises a text value for equality: ids to 18 characters,
// other text to lower case (SOQL compares text case-insensitively).
func textKey(f *Field, s string) string {
	if f.Type == TypeID || f.Type == TypeReference {
		return normID(s)
	}
	return strings.ToLower(s)
}

func (s *Server) compile(q *Query) (*compiled, *apiError) {
	o := s.objects[strings.ToLower(q.From)]
	if o == nil {
		return nil, &apiError{400, "INVALID_TYPE", fmt.Sprintf("\nSELECT Id FROM %s\nERROR at Row:1:Column:16\nsObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.From, q.From), nil}
	}
	c := &compiled{q: q, obj: o, where: map[*Cond]*path{}}
	seen := map[string]bool{}
	agg := len(q.GroupBy) > 0
	for _, it := range q.Select {
		if it.Func != "" {
			agg = true
		}
	}
	for i, it := range q.Select {
		var p *path
		if it.Field != "" {
			var err *apiError
			if p, err = s.resolve(o, it.Field); err != nil {
				return nil, err
			}
		}
		if it.Func == "" {
			key := strings.ToLower(it.Field)
			if seen[key] {
				return nil, malformed("duplicate field selected: %s", it.Field)
			}
			seen[key] = true
			if agg {
				grouped := false
				for _, g := range q.GroupBy {
					if strings.EqualFold(g, it.Field) {
						grouped = true
					}
				}
				if !grouped {
					return nil, malformed("Field must be grouped or aggregated: %s", it.Field)
				}
			}
		} else {
			c.aggs = append(c.aggs, i)
			if (it.Func == "SUM" || it.Func == "AVG") && !p.final.isNumber() {
				return nil, malformed("field %s does not support aggregate operator %s", it.Field, it.Func)
			}
		}
		c.sel = append(c.sel, p)
	}
	for _, g := range q.GroupBy {
		p, err := s.resolve(o, g)
		if err != nil {
			return nil, err
		}
		c.groups = append(c.groups, p)
	}
	for _, ob := range q.OrderBy {
		p, err := s.resolve(o, ob.Field)
		if err != nil {
			return nil, err
		}
		c.order = append(c.order, p)
	}
	if q.Offset > 2000 {
		return nil, &apiError{400, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000", nil}
	}
	if q.Where != nil {
		if err := s.check(o, q.Where, c.where); err != nil {
			return nil, err
		}
	}
	c.sets = map[*Cond]*valueSet{}
	for cond, p := range c.where {
		if (cond.Op != "IN" && cond.Op != "NOT IN") || !p.final.isText() {
			continue
		}
		vs := &valueSet{keys: make(map[string]bool, len(cond.Values))}
		for _, v := range cond.Values {
			if v.Kind == KindNull {
				vs.null = true
			} else {
				vs.keys[textKey(p.final, v.Str)] = true
			}
		}
		c.sets[cond] = vs
	}
	return c, nil
}

// check resolves and type-checks every condition.
func (s *Server) check(o *object, e Expr, paths map[*Cond]*path) *apiError {
	switch x := e.(type) {
	case *And:
		for _, t := range x.Terms {
			if err := s.check(o, t, paths); err != nil {
				return err
			}
		}
	case *Or:
		for _, t := range x.Terms {
			if err := s.check(o, t, paths); err != nil {
				return err
			}
		}
	case *Not:
		return s.check(o, x.X, paths)
	case *Cond:
		p, err := s.resolve(o, x.Field)
		if err != nil {
			return err
		}
		f := p.final
		if !f.filterable() {
			return invalidField("field '%s' can not be filtered in a query call", f.Name)
		}
		if x.Op == "LIKE" && !f.isText() {
			return &apiError{400, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("invalid operator on %s field: LIKE", f.Type), nil}
		}
		if f.Type == TypeBoolean && x.Op != "=" && x.Op != "!=" {
			return &apiError{400, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean field: " + x.Op, nil}
		}
		for _, v := range x.Values {
			if err := typeCheck(f, v); err != nil {
				return err
			}
		}
		paths[x] = p
	}
	return nil
}

func typeCheck(f *Field, v Value) *apiError {
	if v.Kind == KindNull {
		return nil
	}
	wrong := func(kind string, quoted bool) *apiError {
		q := "should not be enclosed in quotes"
		if quoted {
			q = "should be enclosed in quotes"
		}
		return invalidField("value of filter criterion for field '%s' must be of type %s and %s", f.Name, kind, q)
	}
	switch {
	case f.isText():
		if v.Kind != KindString {
			return wrong("string", true)
		}
		if (f.Type == TypeID || f.Type == TypeReference) && v.Pattern == nil && normID(v.Str) == "" && v.Str != "" {
			return &apiError{400, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("invalid ID field: %s", v.Str), nil}
		}
	case f.Type == TypeBoolean:
		if v.Kind != KindBool {
			return wrong("boolean", false)
		}
	case f.isNumber():
		if v.Kind != KindNumber {
			return wrong("double", false)
		}
	case f.Type == TypeDate:
		if v.Kind != KindDate && v.Kind != KindDateLiteral {
			return wrong("date", false)
		}
	case f.Type == TypeDateTime:
		if v.Kind != KindDateTime && v.Kind != KindDateLiteral {
			return wrong("dateTime", false)
		}
	}
	return nil
}

// dateRange is the [start, end) interval of a date literal.
func dateRange(v Value, now time.Time) (time.Time, time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	d := 24 * time.Hour
	switch v.Literal {
	case "YESTERDAY":
		return day.Add(-d), day
	case "TOMORROW":
		return day.Add(d), day.Add(2 * d)
	case "LAST_N_DAYS":
		return day.Add(-time.Duration(v.N) * d), day.Add(d)
	case "NEXT_N_DAYS":
		return day.Add(d), day.Add(time.Duration(v.N+1) * d)
	}
	return day, day.Add(d)
}

// compareValue orders a stored value against a literal; ok is false when
// they cannot be ordered (either is null).
func compareValue(f *Field, stored any, v Value) (int, bool) {
	if stored == nil || v.Kind == KindNull {
		return 0, false
	}
	switch x := stored.(type) {
	case string:
		if f.Type == TypeID || f.Type == TypeReference {
			return strings.Compare(normID(x), normID(v.Str)), true
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(v.Str)), true
	case float64:
		switch {
		case x < v.Num:
			return -1, true
		case x > v.Num:
			return 1, true
		}
		return 0, true
	case bool:
		if x == v.Bool {
			return 0, true
		}
		return 1, true
	case time.Time:
		return x.Compare(v.Time), true
	}
	return 0, false
}

func (s *Server) matches(e Expr, r *record, c *compiled, now time.Time) bool {
	switch x := e.(type) {
	case *And:
		for _, t := range x.Terms {
			if !s.matches(t, r, c, now) {
				return false
			}
		}
		return true
	case *Or:
		for _, t := range x.Terms {
			if s.matches(t, r, c, now) {
				return true
			}
		}
		return false
	case *Not:
		return !s.matches(x.X, r, c, now)
	case *Cond:
		p := c.where[x]
		stored := s.get(r, p)
		f := p.final
		switch x.Op {
		case "=":
			return equals(f, stored, x.Values[0], now)
		case "!=":
			return !equals(f, stored, x.Values[0], now)
		case "IN", "NOT IN":
			if vs := c.sets[x]; vs != nil {
				var in bool
				if sv, ok := stored.(string); ok {
					in = vs.keys[textKey(f, sv)]
				} else {
					in = stored == nil && vs.null
				}
				return in == (x.Op == "IN")
			}
			if x.Op == "NOT IN" {
				for _, v := range x.Values {
					if equals(f, stored, v, now) {
						return false
					}
				}
				return true
			}
			for _, v := range x.Values {
				if equals(f, stored, v, now) {
					return true
				}
			}
			return false
		case "LIKE":
			sv, ok := stored.(string)
			return ok && MatchLike(x.Values[0].Pattern, sv)
		}
		v := x.Values[0]
		if v.Kind == KindDateLiteral {
			t, ok := stored.(time.Time)
			if !ok {
				return false
			}
			start, end := dateRange(v, now)
			switch x.Op {
			case "<":
				return t.Before(start)
			case "<=":
				return t.Before(end)
			case ">":
				return !t.Before(end)
			case ">=":
				return !t.Before(start)
			}
			return false
		}
		n, ok := compareValue(f, stored, v)
		if !ok {
			return false
		}
		switch x.Op {
		case "<":
			return n < 0
		case "<=":
			return n <= 0
		case ">":
			return n > 0
		case ">=":
			return n >= 0
		}
	}
	return false
}

func equals(f *Field, stored any, v Value, now time.Time) bool {
	if v.Kind == KindNull {
		return stored == nil
	}
	if v.Kind == KindDateLiteral {
		t, ok := stored.(time.Time)
		if !ok {
			return false
		}
		start, end := dateRange(v, now)
		return !t.Before(start) && t.Before(end)
	}
	n, ok := compareValue(f, stored, v)
	return ok && n == 0
}

// orderedMap is a JSON object whose keys keep their insertion order.
type orderedMap struct {
	keys []string
	vals map[string]any
}

func newOrdered() *orderedMap { return &orderedMap{vals: map[string]any{}} }

func (m *orderedMap) set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (s *Server) attributes(r *record, version string) map[string]string {
	return map[string]string{"type": r.obj.name, "url": "/services/data/" + version + "/sobjects/" + r.obj.name + "/" + r.id}
}

// render builds a result row for r.
func (s *Server) render(r *record, c *compiled, version string) *orderedMap {
	row := newOrdered()
	row.set("attributes", s.attributes(r, version))
	for _, p := range c.sel {
		cur, rec := row, r
		for i, st := range p.steps {
			name := p.names[i]
			if rec != nil {
				id, _ := rec.v[st.Name].(string)
				if id != "" {
					rec = s.byID(id)
				} else {
					rec = nil
				}
			}
			if rec == nil {
				if _, ok := cur.vals[name]; !ok {
					cur.set(name, nil)
				}
				cur = nil
				break
			}
			next, _ := cur.vals[name].(*orderedMap)
			if next == nil {
				next = newOrdered()
				next.set("attributes", s.attributes(rec, version))
				cur.set(name, next)
			}
			cur = next
		}
		if cur == nil {
			continue
		}
		var v any
		switch p.final.Name {
		case "Id":
			v = rec.id
		case "IsDeleted":
			v = rec.deleted
		default:
			v = jsonValue(p.final, rec.v[p.final.Name])
		}
		cur.set(p.final.Name, v)
	}
	return row
}

// execute runs a compiled query; it returns the rendered rows and the
// total size (which differs from len(rows) only for COUNT()).
func (s *Server) execute(c *compiled, all bool, version string) ([]any, int) {
	now := s.now()
	var rows []*record
	for _, id := range c.obj.order {
		r := c.obj.records[id]
		if r == nil || r.deleted && !all {
			continue
		}
		if c.q.Where != nil && !s.matches(c.q.Where, r, c, now) {
			continue
		}
		rows = append(rows, r)
	}
	if len(c.aggs) > 0 || len(c.groups) > 0 {
		return s.aggregate(c, rows)
	}
	if len(c.order) > 0 {
		sort.SliceStable(rows, func(i, j int) bool {
			for k, p := range c.order {
				n := compareStored(p.final, s.get(rows[i], p), s.get(rows[j], p), c.q.OrderBy[k])
				if n != 0 {
					return n < 0
				}
			}
			return false
		})
	}
	if c.q.Offset > 0 {
		rows = rows[min(c.q.Offset, len(rows)):]
	}
	if c.q.Limit >= 0 && len(rows) > c.q.Limit {
		rows = rows[:c.q.Limit]
	}
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = s.render(r, c, version)
	}
	return out, len(out)
}

// compareStored orders two stored values by an ORDER BY item.
func compareStored(f *Field, a, b any, o Order) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		if o.NullsFirst {
			return -1
		}
		return 1
	case b == nil:
		if o.NullsFirst {
			return 1
		}
		return -1
	}
	var n int
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		if f.Type == TypeID || f.Type == TypeReference {
			n = strings.Compare(x, y)
		} else {
			n = strings.Compare(strings.ToLower(x), strings.ToLower(y))
		}
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			n = -1
		case x > y:
			n = 1
		}
	case bool:
		y, _ := b.(bool)
		switch {
		case !x && y:
			n = -1
		case x && !y:
			n = 1
		}
	case time.Time:
		y, _ := b.(time.Time)
		n = x.Compare(y)
	}
	if o.Desc {
		n = -n
	}
	return n
}

func (s *Server) aggregate(c *compiled, rows []*record) ([]any, int) {
	q := c.q
	// COUNT() alone counts without records.
	if len(q.Select) == 1 && q.Select[0].Func == "COUNT" && q.Select[0].Field == "" && len(c.groups) == 0 {
		return []any{}, len(rows)
	}
	type group struct {
		key  string
		recs []*record
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range rows {
		var kb strings.Builder
		for _, g := range c.groups {
			fmt.Fprintf(&kb, "%v\x00", lowerAny(s.get(r, g)))
		}
		k := kb.String()
		gr := groups[k]
		if gr == nil {
			gr = &group{key: k}
			groups[k] = gr
			order = append(order, k)
		}
		gr.recs = append(gr.recs, r)
	}
	if len(c.groups) == 0 && len(order) == 0 {
		order = append(order, "")
		groups[""] = &group{}
	}
	var out []any
	for _, k := range order {
		gr := groups[k]
		row := newOrdered()
		row.set("attributes", map[string]string{"type": "AggregateResult"})
		expr := 0
		for i, it := range q.Select {
			p := c.sel[i]
			if it.Func == "" {
				var v any
				if len(gr.recs) > 0 {
					v = jsonValue(p.final, s.get(gr.recs[0], p))
				}
				row.set(p.final.Name, v)
				continue
			}
			name := it.Alias
			if name == "" {
				name = fmt.Sprintf("expr%d", expr)
				expr++
			}
			row.set(name, s.aggValue(it, p, gr.recs))
		}
		out = append(out, row)
	}
	if q.Limit >= 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, len(out)
}

func lowerAny(v any) any {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return v
}

func (s *Server) aggValue(it SelectItem, p *path, recs []*record) any {
	switch it.Func {
	case "COUNT":
		if p == nil {
			return float64(len(recs))
		}
		n := 0
		for _, r := range recs {
			if s.get(r, p) != nil {
				n++
			}
		}
		return float64(n)
	case "COUNT_DISTINCT":
		seen := map[any]bool{}
		for _, r := range recs {
			if v := s.get(r, p); v != nil {
				seen[lowerAny(v)] = true
			}
		}
		return float64(len(seen))
	}
	var best any
	sum, n := 0.0, 0
	for _, r := range recs {
		v := s.get(r, p)
		if v == nil {
			continue
		}
		if f, ok := v.(float64); ok {
			sum += f
			n++
		}
		switch {
		case best == nil:
			best = v
		case it.Func == "MAX" && compareStored(p.final, v, best, Order{}) > 0,
			it.Func == "MIN" && compareStored(p.final, v, best, Order{}) < 0:
			best = v
		}
	}
	switch it.Func {
	case "SUM":
		if n == 0 {
			return nil
		}
		return sum
	case "AVG":
		if n == 0 {
			return nil
		}
		return sum / float64(n)
	}
	return jsonValue(p.final, best)
}
