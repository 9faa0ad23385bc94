package salesforce

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FieldType is a field's type as describe reports it.
type FieldType string

// Field types the fake knows.
const (
	TypeID        FieldType = "id"
	TypeString    FieldType = "string"
	TypeTextArea  FieldType = "textarea"
	TypeURL       FieldType = "url"
	TypeEmail     FieldType = "email"
	TypePhone     FieldType = "phone"
	TypePicklist  FieldType = "picklist"
	TypeBoolean   FieldType = "boolean"
	TypeDouble    FieldType = "double"
	TypeCurrency  FieldType = "currency"
	TypePercent   FieldType = "percent"
	TypeInt       FieldType = "int"
	TypeDate      FieldType = "date"
	TypeDateTime  FieldType = "datetime"
	TypeReference FieldType = "reference"
)

// Field describes a field of a fake object.
type Field struct {
	Name  string
	Label string
	Type  FieldType
	// Length is the maximum length of text fields.
	Length int
	// Precision and Scale are those of number fields.
	Precision, Scale int
	// ExternalID, Unique and CaseSensitive are the External ID and unique
	// attributes; external ids and unique fields are indexed.
	ExternalID, Unique, CaseSensitive bool
	// Required fields must be set on create (nillable false).
	Required bool
	// ReferenceTo and RelationshipName describe lookups.
	ReferenceTo      []string
	RelationshipName string
	// Picklist lists the values of a picklist; Restricted refuses others.
	Picklist   []string
	Restricted bool
	// System fields are maintained by the server (never createable or
	// updateable).
	System bool
	// Hidden fields are invisible to the integration user (field-level
	// security): absent from describe, INVALID_FIELD in queries and writes.
	Hidden bool
	// ReadOnly fields are visible but not editable by the integration user.
	ReadOnly bool
	// Custom is true for __c fields.
	Custom bool
}

func (f *Field) isText() bool {
	switch f.Type {
	case TypeID, TypeString, TypeTextArea, TypeURL, TypeEmail, TypePhone, TypePicklist, TypeReference:
		return true
	}
	return false
}

func (f *Field) isNumber() bool {
	switch f.Type {
	case TypeDouble, TypeCurrency, TypePercent, TypeInt:
		return true
	}
	return false
}

// filterable reports whether the field may appear in WHERE: long text areas
// may not.
func (f *Field) filterable() bool {
	return !(f.Type == TypeTextArea && f.Length > 255)
}

func (f *Field) createable() bool { return !f.System && !f.ReadOnly && !f.Hidden }
func (f *Field) updateable() bool { return f.createable() && f.Name != "Id" }

// object is an sObject type and its records.
type object struct {
	name, label, plural string
	prefix              string
	custom              bool
	feeds               bool
	fields              []*Field
	byLower             map[string]*Field
	relByLower          map[string]*Field // relationship name → reference field
	records             map[string]*record
	order               []string
	dupRules            [][]string
	// uniq indexes the values of unique fields of live records:
	// field name → value key → record id.
	uniq map[string]map[string]string
	// derived computes read-only fields from the others (Opportunity's
	// IsClosed and IsWon).
	derived func(r *record)
}

// uniqKey is how a unique field compares values.
func uniqKey(f *Field, v string) string {
	if f.CaseSensitive {
		return v
	}
	return strings.ToLower(v)
}

// reindex rebuilds the unique-field index from the live records.
func (o *object) reindex() {
	o.uniq = map[string]map[string]string{}
	for _, f := range o.fields {
		if !f.Unique {
			continue
		}
		m := map[string]string{}
		for _, id := range o.order {
			r := o.records[id]
			if r == nil || r.deleted {
				continue
			}
			if v, ok := r.v[f.Name].(string); ok && v != "" {
				m[uniqKey(f, v)] = r.id
			}
		}
		o.uniq[f.Name] = m
	}
}

// index adds (add) or removes a record's unique values.
func (o *object) index(r *record, add bool) {
	if o.uniq == nil {
		o.reindex()
	}
	for _, f := range o.fields {
		if !f.Unique {
			continue
		}
		v, ok := r.v[f.Name].(string)
		if !ok || v == "" {
			continue
		}
		m := o.uniq[f.Name]
		if m == nil {
			m = map[string]string{}
			o.uniq[f.Name] = m
		}
		k := uniqKey(f, v)
		if add {
			m[k] = r.id
		} else if m[k] == r.id {
			delete(m, k)
		}
	}
}

func newObject(name, label, prefix string) *object {
	o := &object{name: name, label: label, plural: label + "s", prefix: prefix, custom: strings.HasSuffix(name, "__c"),
		byLower: map[string]*Field{}, relByLower: map[string]*Field{}, records: map[string]*record{}}
	o.add(&Field{Name: "Id", Label: "Record ID", Type: TypeID, Length: 18, System: true})
	return o
}

func (o *object) add(fs ...*Field) *object {
	for _, f := range fs {
		if f.Label == "" {
			f.Label = strings.ReplaceAll(strings.TrimSuffix(f.Name, "__c"), "_", " ")
		}
		f.Custom = strings.HasSuffix(f.Name, "__c")
		if old := o.byLower[strings.ToLower(f.Name)]; old != nil {
			*old = *f
			f = old
		} else {
			o.fields = append(o.fields, f)
			o.byLower[strings.ToLower(f.Name)] = f
		}
		if f.Type == TypeReference && f.RelationshipName != "" {
			o.relByLower[strings.ToLower(f.RelationshipName)] = f
		}
	}
	return o
}

// systemFields adds the audit fields every object has.
func (o *object) systemFields(owner bool) *object {
	o.add(
		&Field{Name: "IsDeleted", Label: "Deleted", Type: TypeBoolean, System: true},
		&Field{Name: "CreatedDate", Label: "Created Date", Type: TypeDateTime, System: true},
		&Field{Name: "CreatedById", Label: "Created By ID", Type: TypeReference, ReferenceTo: []string{"User"}, RelationshipName: "CreatedBy", Length: 18, System: true},
		&Field{Name: "LastModifiedDate", Label: "Last Modified Date", Type: TypeDateTime, System: true},
		&Field{Name: "LastModifiedById", Label: "Last Modified By ID", Type: TypeReference, ReferenceTo: []string{"User"}, RelationshipName: "LastModifiedBy", Length: 18, System: true},
		&Field{Name: "SystemModstamp", Label: "System Modstamp", Type: TypeDateTime, System: true},
	)
	if owner {
		o.add(&Field{Name: "OwnerId", Label: "Owner ID", Type: TypeReference, ReferenceTo: []string{"User"}, RelationshipName: "Owner", Length: 18})
	}
	return o
}

// field looks a field up case-insensitively; hidden fields are not found.
func (o *object) field(name string) *Field {
	f := o.byLower[strings.ToLower(name)]
	if f == nil || f.Hidden {
		return nil
	}
	return f
}

// record is one stored record. Values are keyed by Field.Name and hold
// string, float64, bool or time.Time; an absent key is null.
type record struct {
	id      string
	obj     *object
	v       map[string]any
	deleted bool
	// lock makes every write fail with this error (converted, locked …).
	lockCode, lockMsg string
	writes            int
}

func (r *record) clone() *record {
	c := *r
	c.v = make(map[string]any, len(r.v))
	for k, v := range r.v {
		c.v[k] = v
	}
	return &c
}

// Ids: a 3-character key prefix, then 12 base-62 characters, then the
// 3-character case-safe suffix Salesforce computes.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func makeID(prefix string, n int64) string {
	var b [12]byte
	for i := 11; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	// Salesforce ids carry a pod/instance marker after the prefix.
	id := prefix + "5g" + string(b[2:])
	return to18(id)
}

// to18 returns the 18-character form of a 15-character id.
func to18(id15 string) string {
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	out := []byte(id15)
	for i := 0; i < 3; i++ {
		bits := 0
		for j := 0; j < 5; j++ {
			c := id15[i*5+j]
			if 'A' <= c && c <= 'Z' {
				bits |= 1 << j
			}
		}
		out = append(out, suffix[bits])
	}
	return string(out)
}

// normID returns the 18-character form of a 15- or 18-character id, or ""
// when s is not an id.
func normID(s string) string {
	if len(s) != 15 && len(s) != 18 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	full := to18(s[:15])
	if len(s) == 18 && !strings.EqualFold(full[15:], s[15:]) {
		return ""
	}
	return full
}

// Times are stored at second precision, as Salesforce stores them, and
// written as 2026-03-02T15:00:00.000+0000.
const sfTimeLayout = "2006-01-02T15:04:05.000-0700"

func formatTime(t time.Time) string { return t.UTC().Format(sfTimeLayout) }

func parseDateTime(s string) (time.Time, bool) {
	for _, l := range []string{sfTimeLayout, time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Truncate(time.Second), true
		}
	}
	return time.Time{}, false
}

func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02", s)
	return t, err == nil
}

// jsonValue renders a stored value for a JSON answer.
func jsonValue(f *Field, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		if f != nil && f.Type == TypeDate {
			return x.Format("2006-01-02")
		}
		return formatTime(x)
	}
	return v
}

// textValue renders a stored value as CSV/XML text.
func textValue(f *Field, v any) string {
	switch x := jsonValue(f, v).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// fieldError is a per-field write error in Salesforce's terms.
type fieldError struct {
	code, msg string
	fields    []string
}

func (e *fieldError) Error() string { return e.code + ": " + e.msg }

// coerce checks and converts a JSON value for a field.
func coerce(f *Field, v any) (any, *fieldError) {
	if v == nil {
		if f.Required {
			return nil, &fieldError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + f.Name + "]", []string{f.Name}}
		}
		return nil, nil
	}
	bad := func(kind string) *fieldError {
		return &fieldError{"JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from %T value %v for field %s", kind, v, v, f.Name), []string{f.Name}}
	}
	switch {
	case f.Type == TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("boolean")
		}
		return b, nil
	case f.isNumber():
		n, ok := v.(float64)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, bad("double")
		}
		if f.Precision > 0 {
			if math.Abs(n) >= math.Pow(10, float64(f.Precision-f.Scale)) {
				return nil, &fieldError{"NUMBER_OUTSIDE_VALID_RANGE", f.Label + ": value outside of valid range on numeric field: " + strconv.FormatFloat(n, 'f', -1, 64), []string{f.Name}}
			}
			p := math.Pow(10, float64(f.Scale))
			n = math.Round(n*p) / p
		}
		return n, nil
	case f.Type == TypeDate:
		s, ok := v.(string)
		if !ok {
			return nil, bad("date")
		}
		if s == "" {
			return nil, nil
		}
		t, ok := parseDate(s)
		if !ok {
			if dt, ok2 := parseDateTime(s); ok2 {
				return time.Date(dt.Year(), dt.Month(), dt.Day(), 0, 0, 0, 0, time.UTC), nil
			}
			return nil, &fieldError{"JSON_PARSER_ERROR", "Cannot deserialize instance of date from VALUE_STRING value " + s + " or request may be missing a required field", []string{f.Name}}
		}
		return t, nil
	case f.Type == TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad("datetime")
		}
		if s == "" {
			return nil, nil
		}
		t, ok := parseDateTime(s)
		if !ok {
			return nil, &fieldError{"JSON_PARSER_ERROR", "Cannot deserialize instance of datetime from VALUE_STRING value " + s + " or request may be missing a required field", []string{f.Name}}
		}
		return t, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, bad("string")
	}
	if s == "" {
		if f.Required {
			return nil, &fieldError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + f.Name + "]", []string{f.Name}}
		}
		return nil, nil
	}
	if f.Length > 0 && len([]rune(s)) > f.Length {
		return nil, &fieldError{"STRING_TOO_LONG", fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, clip(s, 40), f.Length), []string{f.Name}}
	}
	if f.Type == TypePicklist && f.Restricted {
		found := false
		for _, p := range f.Picklist {
			if p == s {
				found = true
				break
			}
		}
		if !found {
			return nil, &fieldError{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f.Label + ": bad value for restricted picklist field: " + s, []string{f.Name}}
		}
	}
	return s, nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}
