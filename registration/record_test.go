package registration

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFieldsRegistry(t *testing.T) {
	fs := Fields()
	rt := reflect.TypeFor[Record]()
	tagged := 0
	for i := range rt.NumField() {
		if rt.Field(i).Tag.Get("field") != "" {
			tagged++
		}
	}
	if len(fs) != tagged || len(fs) != 43 {
		t.Fatalf("Fields() has %d fields; Record has %d tagged fields (want 43)", len(fs), tagged)
	}
	if fs[0].Name != "id" || fs[1].Name != "case_number" || fs[len(fs)-1].Name != "declined_reason" {
		t.Errorf("Fields() order: first %q, %q, last %q", fs[0].Name, fs[1].Name, fs[len(fs)-1].Name)
	}
	names := FieldNames()
	if len(names) != len(fs) {
		t.Fatalf("FieldNames() has %d names, Fields() %d", len(names), len(fs))
	}
	seen := map[string]bool{}
	for i, f := range fs {
		if names[i] != f.Name {
			t.Errorf("FieldNames()[%d] = %q; Fields()[%d].Name = %q", i, names[i], i, f.Name)
		}
		if seen[f.Name] {
			t.Errorf("field %q is listed twice", f.Name)
		}
		seen[f.Name] = true
		if g, ok := LookupField(f.Name); !ok || g != f {
			t.Errorf("LookupField(%q) = %v, %v", f.Name, g, ok)
		}
	}
	for _, n := range []string{"", "DomainKey", "NameKey", "domain_key", "name_key", "ID", "Status", " status", "status "} {
		if _, ok := LookupField(n); ok {
			t.Errorf("LookupField(%q) found a field", n)
		}
	}
	kinds := map[string]FieldKind{
		"id": KindString, "status": KindString, "company_domain": KindString, "consent": KindBool,
		"target_revenue": KindNumber, "submission_seq": KindNumber, "appeal_count": KindNumber, "submitted_at": KindTime, "hold_until": KindTime, "attributed_at": KindTime,
	}
	for n, k := range kinds {
		if f, _ := LookupField(n); f.Kind != k {
			t.Errorf("field %q is %v; want %v", n, f.Kind, k)
		}
	}
	// Fields and FieldNames return copies.
	fs[0].Name = "changed"
	names[0] = "changed"
	if Fields()[0].Name != "id" || FieldNames()[0] != "id" {
		t.Error("Fields or FieldNames return shared storage")
	}
}

func TestFieldKindString(t *testing.T) {
	for k, want := range map[FieldKind]string{KindString: "string", KindBool: "bool", KindNumber: "number", KindTime: "time", FieldKind(99): "string"} {
		if got := k.String(); got != want {
			t.Errorf("FieldKind(%d).String() = %q; want %q", k, got, want)
		}
	}
}

// TestFieldRoundTrip sets every field from text and reads it back.
func TestFieldRoundTrip(t *testing.T) {
	type sample struct{ in, want string }
	samples := map[FieldKind][]sample{
		KindString: {
			{"Globex Corporation", "Globex Corporation"},
			{"  padded  ", "  padded  "}, // strings are stored verbatim
			{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
			{"line1\nline2", "line1\nline2"},
			{"", ""},
		},
		KindBool: {
			{"true", "true"}, {"yes", "true"}, {"Y", "true"}, {"on", "true"}, {"1", "true"},
			{"checked", "true"}, {"x", "true"}, {" TRUE ", "true"},
			{"false", "false"}, {"no", "false"}, {"N", "false"}, {"off", "false"}, {"0", "false"},
			{"", "false"}, {"   ", "false"},
		},
		KindNumber: {
			{"1234.5", "1234.5"}, {"1,234,567.25", "1234567.25"}, {" 42 ", "42"}, {"-3", "-3"},
			{"1e6", "1000000"}, {"0.1", "0.1"}, {"0", ""}, {"", ""}, {"  ", ""},
		},
		KindTime: {
			{"2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z"},
			{"2024-05-06T07:08:09.123+02:00", "2024-05-06T05:08:09.123Z"},
			{"2024-05-06T07:08:09.123456789-05:30", "2024-05-06T12:38:09.123456789Z"},
			{"2024-05-06", "2024-05-06T00:00:00Z"},
			{"1700000000000", "2023-11-14T22:13:20Z"},
			{"1700000000123", "2023-11-14T22:13:20.123Z"},
			{"", ""},
		},
	}
	for _, f := range Fields() {
		ss := samples[f.Kind]
		if f.Name == "status" {
			ss = []sample{{"approved", "approved"}, {"APPROVED", "approved"}, {" In_Review ", "in_review"}, {"", ""}}
		}
		for _, s := range ss {
			var r Record
			if err := f.Set(&r, s.in); err != nil {
				t.Errorf("%s: Set(%q): %v", f.Name, s.in, err)
				continue
			}
			got := f.Get(&r)
			if got != s.want {
				t.Errorf("%s: Set(%q) then Get() = %q; want %q", f.Name, s.in, got, s.want)
			}
			// Via the record, by name.
			var r2 Record
			if err := r2.Set(f.Name, s.in); err != nil {
				t.Errorf("Record.Set(%q, %q): %v", f.Name, s.in, err)
			}
			if g, err := r2.Get(f.Name); err != nil || g != s.want {
				t.Errorf("Record.Get(%q) = %q, %v; want %q", f.Name, g, err, s.want)
			}
			// What Get returns, Set reads back to the same value.
			var r3 Record
			if err := f.Set(&r3, got); err != nil || !reflect.DeepEqual(r3, r) {
				t.Errorf("%s: Set(Get()) = %+v, %v; want %+v", f.Name, r3, err, r)
			}
			// Only the one field changed.
			for _, o := range Fields() {
				if o.Name != f.Name && !o.IsZero(&r) {
					t.Errorf("%s: Set(%q) changed %s", f.Name, s.in, o.Name)
				}
			}
		}
		// Blank text clears the field.
		var r Record
		if err := f.Set(&r, map[FieldKind]string{KindString: "x", KindBool: "yes", KindNumber: "7", KindTime: "2024-01-02"}[f.Kind]); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if f.IsZero(&r) {
			t.Errorf("%s: IsZero after setting a value", f.Name)
		}
		if err := f.Set(&r, ""); err != nil || !f.IsZero(&r) || !reflect.DeepEqual(r, Record{}) {
			t.Errorf("%s: Set(\"\") = %v, leaves %+v", f.Name, err, r)
		}
	}
}

func TestGetTimeIsUTC(t *testing.T) {
	r := Record{SubmittedAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))}
	if got, _ := r.Get("submitted_at"); got != "2024-05-06T05:08:09Z" {
		t.Errorf("Get(submitted_at) = %q; want 2024-05-06T05:08:09Z", got)
	}
}

func TestFieldIsZero(t *testing.T) {
	r := Record{CompanyName: "   ", ContactName: "Jane", Consent: false, TargetRevenue: 0.5}
	for name, want := range map[string]bool{
		"company_name": true, "contact_name": false, "consent": true, "target_revenue": false,
		"submitted_at": true, "status": true,
	} {
		f, _ := LookupField(name)
		if got := f.IsZero(&r); got != want {
			t.Errorf("%s.IsZero = %v; want %v", name, got, want)
		}
	}
	r.SubmittedAt = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	if f, _ := LookupField("submitted_at"); f.IsZero(&r) {
		t.Error("submitted_at.IsZero with a time set")
	}
}

func TestFieldSetErrors(t *testing.T) {
	bad := map[FieldKind][]string{
		KindBool:   {"maybe", "2", "yess", "truee", "\x00"},
		KindNumber: {"abc", "12abc", "1.2.3", "NaN", "nan", "Inf", "-Infinity", "+inf", "1e400", "\x00", "$100"},
		KindTime:   {"yesterday", "2024-13-01", "2024-05-06T07:08:09", "06/05/2024", "123456789", "12345", "0", "2024-05-06 07:08:09", "\x00"},
	}
	for _, f := range Fields() {
		for _, in := range bad[f.Kind] {
			r := Record{TargetRevenue: 5, Consent: true}
			before := r
			err := f.Set(&r, in)
			if err == nil {
				t.Errorf("%s: Set(%q) succeeded: %q", f.Name, in, f.Get(&r))
				continue
			}
			if !strings.HasPrefix(err.Error(), f.Name+": ") {
				t.Errorf("%s: Set(%q) error %q does not start with the field name", f.Name, in, err)
			}
			if !reflect.DeepEqual(r, before) {
				t.Errorf("%s: failed Set(%q) changed the record", f.Name, in)
			}
		}
	}
	var r Record
	if err := r.Set("no_such_field", "x"); err == nil || !strings.Contains(err.Error(), `"no_such_field"`) {
		t.Errorf("Set(unknown) = %v", err)
	}
	if v, err := r.Get("no_such_field"); err == nil || v != "" || !strings.Contains(err.Error(), `"no_such_field"`) {
		t.Errorf("Get(unknown) = %q, %v", v, err)
	}
}

func TestNumberNeverNaN(t *testing.T) {
	f, _ := LookupField("target_revenue")
	for _, in := range []string{"NaN", "Inf", "-Inf", "1e309", "-1e309"} {
		var r Record
		_ = f.Set(&r, in)
		if math.IsNaN(r.TargetRevenue) || math.IsInf(r.TargetRevenue, 0) {
			t.Errorf("Set(%q) stored %v", in, r.TargetRevenue)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"   ", time.Time{}},
		{"2024-05-06T07:08:09Z", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{" 2024-05-06T07:08:09Z\n", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"2024-05-06T07:08:09+02:00", time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)},
		{"2024-05-06T07:08:09.5Z", time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.UTC)},
		{"2024-05-06T07:08:09.123456789Z", time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)},
		{"2024-05-06T23:30:00-01:00", time.Date(2024, 5, 7, 0, 30, 0, 0, time.UTC)},
		{"2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"1700000000000", time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)},
		{"0000000000", time.Unix(0, 0).UTC()},
		{"1714979289123", time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)},
		{"1714979289", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}, // seconds
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		if !got.IsZero() && got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) is in %v; want UTC", tt.in, got.Location())
		}
	}
	for _, in := range []string{"yesterday", "2023-02-29", "2024-05-06T07:08:09", "2024-05-06T25:00:00Z", "06.05.2024", "12345", "170000000", "1.7e12", "0x1700000000", "2024-05-06\x00", "99999999999999999999"} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v; want an error", in, got)
		} else if !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("ParseTime(%q) error %q", in, err)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, in := range []string{"true", "TRUE", "Yes", "y", "on", "1", "checked", "X", " yes "} {
		if v, ok := ParseBool(in); !v || !ok {
			t.Errorf("ParseBool(%q) = %v, %v; want true, true", in, v, ok)
		}
	}
	for _, in := range []string{"false", "No", "n", "OFF", "0", "", "  "} {
		if v, ok := ParseBool(in); v || !ok {
			t.Errorf("ParseBool(%q) = %v, %v; want false, true", in, v, ok)
		}
	}
	for _, in := range []string{"maybe", "2", "-1", "oui", "t", "f", "yes!", "\x00"} {
		if v, ok := ParseBool(in); v || ok {
			t.Errorf("ParseBool(%q) = %v, %v; want false, false", in, v, ok)
		}
	}
}

func TestIndex(t *testing.T) {
	tests := []struct {
		domain, name     string
		domainKey, nameK string
	}{
		{"https://eu.globex.example/x", "The Globex Corporation", "globex.example", "globex"},
		{"www.Globex.co.uk", "Globex Ltd.", "globex.co.uk", "globex"},
		{"shop.globex.co.uk", "Globex UK Limited", "globex.co.uk", "globex uk"},
		{"jane@Bücher.example", "Bücher GmbH", "xn--bcher-kva.example", "bucher"},
		{"globex.example", "", "globex.example", ""},
		{"", "ACME, Inc.", "", "acme"},
		{"localhost", "Acme", "", "acme"},
		{"co.uk", "Acme", "", "acme"},
		{"1.2.3.4", "Acme", "", "acme"},
		{"javascript:alert(1)", "Acme", "", "acme"},
	}
	for _, tt := range tests {
		r := Record{CompanyDomain: tt.domain, CompanyName: tt.name, DomainKey: "stale.example", NameKey: "stale"}
		r.Index()
		if r.DomainKey != tt.domainKey || r.NameKey != tt.nameK {
			t.Errorf("Index(%q, %q): DomainKey %q, NameKey %q; want %q, %q", tt.domain, tt.name, r.DomainKey, r.NameKey, tt.domainKey, tt.nameK)
		}
		if r.CompanyDomain != tt.domain || r.CompanyName != tt.name {
			t.Errorf("Index changed the CRM fields: %q, %q", r.CompanyDomain, r.CompanyName)
		}
	}
}

func TestDerivedKeysAreNotFields(t *testing.T) {
	names := FieldNames()
	for _, n := range []string{"domain_key", "name_key", "DomainKey", "NameKey"} {
		if slices.Contains(names, n) {
			t.Errorf("%q is a CRM field", n)
		}
	}
	sf, _ := reflect.TypeFor[Record]().FieldByName("DomainKey")
	if sf.Tag.Get("json") != "-" || sf.Tag.Get("yaml") != "-" {
		t.Errorf("DomainKey tags %q", sf.Tag)
	}
}
