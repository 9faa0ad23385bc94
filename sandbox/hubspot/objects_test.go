package hubspot

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	for _, tok := range []string{"", "wrong-token"} {
		c.token = tok
		r := c.do("GET", "/crm/v3/objects/companies", nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d, want 401", tok, r.status)
		}
		b := r.obj(t)
		if b["status"] != "error" || b["category"] != "INVALID_AUTHENTICATION" || str(b, "correlationId") == "" || str(b, "message") == "" {
			t.Errorf("token %q: 401 body %s", tok, r.body)
		}
		if strings.Contains(string(r.body), "wrong-token") {
			t.Errorf("the 401 echoes the token: %s", r.body)
		}
	}
	c.token = "sandbox-token"
	c.must(200, "GET", "/crm/v3/objects/companies", nil)

	s2 := startT(t, Options{Tokens: []string{"a", "b"}, Bare: true})
	c2 := newTC(t, s2)
	c2.token = "b"
	c2.must(200, "GET", "/crm/v3/objects/contacts", nil)
	c2.token = "sandbox-token"
	if r := c2.do("GET", "/crm/v3/objects/contacts", nil); r.status != 401 {
		t.Errorf("default token accepted when Tokens is set: %d", r.status)
	}
}

func TestCRUD(t *testing.T) {
	clock := NewClock(t0)
	s := startT(t, Options{Clock: clock, Bare: true})
	c := newTC(t, s)

	created := c.must(201, "POST", "/crm/v3/objects/companies", map[string]any{
		"properties": map[string]any{"name": "Globex", "domain": "globex.example", "numberofemployees": 250}})
	id := str(created, "id")
	if id == "" || str(created, "properties", "hs_object_id") != id {
		t.Fatalf("create: id %q, hs_object_id %q", id, str(created, "properties", "hs_object_id"))
	}
	wantISO := "2025-03-14T09:30:00.000Z"
	if str(created, "createdAt") != wantISO || str(created, "updatedAt") != wantISO ||
		str(created, "properties", "hs_lastmodifieddate") != wantISO || str(created, "properties", "createdate") != wantISO {
		t.Errorf("create timestamps: %v", created)
	}
	if str(created, "properties", "numberofemployees") != "250" || path(created, "archived") != false {
		t.Errorf("create answer: %v", created)
	}

	got := c.must(200, "GET", "/crm/v3/objects/0-2/"+id+"?properties=name,industry,nosuchprop", nil)
	if str(got, "properties", "name") != "Globex" {
		t.Errorf("get by type id: %v", got)
	}
	if v, ok := path(got, "properties").(map[string]any)["industry"]; !ok || v != nil {
		t.Errorf("a known property without a value should be null, got %v (present %v)", v, ok)
	}
	if _, ok := path(got, "properties").(map[string]any)["nosuchprop"]; ok {
		t.Errorf("an unknown requested property should be ignored: %v", got)
	}
	def := c.must(200, "GET", "/crm/v3/objects/company/"+id, nil)
	if str(def, "properties", "domain") != "globex.example" {
		t.Errorf("default properties of a company should include domain: %v", def)
	}

	clock.Advance(90 * time.Second)
	upd := c.must(200, "PATCH", "/crm/v3/objects/companies/"+id, map[string]any{"properties": map[string]string{"industry": "Software"}})
	if str(upd, "updatedAt") != "2025-03-14T09:31:30.000Z" || str(upd, "properties", "industry") != "Software" {
		t.Errorf("patch answer: %v", upd)
	}
	rec, _ := s.GetRecord("companies", id)
	if rec.Properties["hs_lastmodifieddate"] != strconv.FormatInt(t0.Add(90*time.Second).UnixMilli(), 10) {
		t.Errorf("stored hs_lastmodifieddate %q", rec.Properties["hs_lastmodifieddate"])
	}
	// A write that changes nothing leaves the record's modification time alone.
	clock.Advance(time.Minute)
	c.must(200, "PATCH", "/crm/v3/objects/companies/"+id, map[string]any{"properties": map[string]string{"industry": "Software"}})
	if r2, _ := s.GetRecord("companies", id); !r2.UpdatedAt.Equal(rec.UpdatedAt) {
		t.Errorf("no-op patch moved updatedAt from %v to %v", rec.UpdatedAt, r2.UpdatedAt)
	}
	if n := s.WriteCount("companies", id); n != 3 {
		t.Errorf("write count %d, want 3 (create and two patches)", n)
	}
	// Clearing a value with "".
	c.must(200, "PATCH", "/crm/v3/objects/companies/"+id, map[string]any{"properties": map[string]string{"industry": ""}})
	if r3, _ := s.GetRecord("companies", id); r3.Properties["industry"] != "" {
		t.Errorf("industry not cleared: %v", r3.Properties)
	}

	r := c.do("GET", "/crm/v3/objects/companies/999999", nil)
	if r.status != 404 || r.obj(t)["category"] != "OBJECT_NOT_FOUND" {
		t.Errorf("missing record: %d %s", r.status, r.body)
	}
	if r := c.do("DELETE", "/crm/v3/objects/companies/"+id, nil); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	if r := c.do("GET", "/crm/v3/objects/companies/"+id, nil); r.status != 404 {
		t.Errorf("get after delete: %d", r.status)
	}
	arch := c.must(200, "GET", "/crm/v3/objects/companies/"+id+"?archived=true", nil)
	if path(arch, "archived") != true || str(arch, "archivedAt") == "" {
		t.Errorf("archived read: %v", arch)
	}
}

func TestObjectTypeNames(t *testing.T) {
	s := startT(t, Options{})
	c := newTC(t, s)
	ptype, err := s.TypeID("partner")
	if err != nil {
		t.Fatal(err)
	}
	ok := []string{"contacts", "contact", "0-1", "CONTACTS", "deals", "0-3", "tasks", "notes", "companies",
		ptype, fmt.Sprintf("p%d_partner", s.PortalID()), "p_partner"}
	for _, name := range ok {
		if r := c.do("GET", "/crm/v3/objects/"+name+"?limit=1", nil); r.status != 200 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
		}
	}
	for _, name := range []string{"partner", "nosuchtype", "2-1", "partner_registration"} {
		r := c.do("GET", "/crm/v3/objects/"+name, nil)
		if r.status != 400 || !strings.Contains(str(r.obj(t), "message"), "Unable to infer object type") {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
		}
	}
}

func TestValidation(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string // in the body
	}{
		{"unknown property", "POST", "/crm/v3/objects/companies", "", `{"properties":{"nosuch":"x"}}`, 400, "PROPERTY_DOESNT_EXIST"},
		{"bad number", "POST", "/crm/v3/objects/companies", "", `{"properties":{"numberofemployees":"many"}}`, 400, "INVALID_FLOAT"},
		{"bad option", "POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"x","dealstage":"won"}}`, 400, "INVALID_OPTION"},
		{"option case", "POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"x","dealstage":"ClosedWon"}}`, 400, "INVALID_OPTION"},
		{"unknown field ignored", "POST", "/crm/v3/objects/tasks", "", `{"properties":{"hs_timestamp":"1700000000000","hs_task_subject":"s","hubspot_owner_id":""},"x":1}`, 201, ""},
		{"bad datetime", "POST", "/crm/v3/objects/deals", "", `{"properties":{"dealname":"x","closedate":"next tuesday"}}`, 400, "INVALID_DATE"},
		{"read-only", "POST", "/crm/v3/objects/companies", "", `{"properties":{"hs_lastmodifieddate":"1700000000000"}}`, 400, "READ_ONLY_VALUE"},
		{"unknown owner", "POST", "/crm/v3/objects/companies", "", `{"properties":{"hubspot_owner_id":"ae-dach"}}`, 400, "INVALID_OWNER_ID"},
		{"required hs_timestamp", "POST", "/crm/v3/objects/notes", "", `{"properties":{"hs_note_body":"hi"}}`, 400, "hs_timestamp"},
		{"no properties", "POST", "/crm/v3/objects/companies", "", `{}`, 400, "properties is required"},
		{"malformed JSON", "POST", "/crm/v3/objects/companies", "", `{"properties":`, 400, "Invalid input JSON"},
		{"object value", "POST", "/crm/v3/objects/companies", "", `{"properties":{"name":{"a":1}}}`, 400, "Invalid input JSON"},
		{"wrong content type", "POST", "/crm/v3/objects/companies", "text/plain", `{"properties":{}}`, 415, "Unsupported Media Type"},
		{"unknown type", "POST", "/crm/v3/objects/widgets", "", `{"properties":{}}`, 400, "Unable to infer object type from: widgets"},
		{"list limit", "GET", "/crm/v3/objects/companies?limit=101", "", "", 400, "limit"},
		{"no route", "GET", "/crm/v9/nothing", "", "", 404, "No route"},
		{"wrong method", "PUT", "/crm/v3/objects/companies", "", "{}", 405, "Method Not Allowed"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader(tt.body))
			ct := tt.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer sandbox-token")
			res, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var buf strings.Builder
			_, _ = fmt.Fprint(&buf, readAll(t, res))
			if res.StatusCode != tt.status || !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("status %d, want %d; body %s (want %q in it)", res.StatusCode, tt.status, buf.String(), tt.want)
			}
			if tt.status >= 400 {
				b := resp{body: []byte(buf.String())}.obj(t)
				if b["status"] != "error" || str(b, "correlationId") == "" || str(b, "category") == "" {
					t.Errorf("error body lacks HubSpot's fields: %s", buf.String())
				}
			}
		})
	}
}

func readAll(t *testing.T, res *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

func TestValueNormalisation(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	d := c.must(201, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]any{
		"dealname": "Normalised", "amount": "1000.50", "closedate": "2025-06-30T12:00:00Z"}})
	if str(d, "properties", "amount") != "1000.5" {
		t.Errorf("amount %q", str(d, "properties", "amount"))
	}
	if str(d, "properties", "closedate") != "2025-06-30T12:00:00.000Z" {
		t.Errorf("closedate rendered %q", str(d, "properties", "closedate"))
	}
	if str(d, "properties", "dealstage") != "" {
		// not asked for: a create answer shows the properties written
		t.Errorf("unexpected dealstage in create answer: %v", d)
	}
	rec, _ := s.GetRecord("deals", str(d, "id"))
	if rec.Properties["closedate"] != "1751284800000" || rec.Properties["pipeline"] != "default" ||
		rec.Properties["dealstage"] != "appointmentscheduled" || rec.Properties["hs_is_closed"] != "false" {
		t.Errorf("stored deal: %v", rec.Properties)
	}
	// An epoch-ms datetime and a contact e-mail in capitals.
	ct := c.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "Ann.Lee@Globex.Example"}})
	if str(ct, "properties", "email") != "ann.lee@globex.example" {
		t.Errorf("email %q", str(ct, "properties", "email"))
	}
	r := c.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "ann.lee@globex.example"}})
	if r.status != 409 || !strings.Contains(string(r.body), "Existing ID: "+str(ct, "id")) {
		t.Errorf("duplicate e-mail: %d %s", r.status, r.body)
	}
	// Deal stage drives hs_is_closed.
	c.must(200, "PATCH", "/crm/v3/objects/deals/"+str(d, "id"), map[string]any{"properties": map[string]any{"dealstage": "closedwon"}})
	rec, _ = s.GetRecord("deals", str(d, "id"))
	if rec.Properties["hs_is_closed"] != "true" || rec.Properties["hs_is_closed_won"] != "true" {
		t.Errorf("closed deal: %v", rec.Properties)
	}
}

func TestList(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	var ids []string
	for i := range 25 {
		id, err := s.CreateRecord("companies", props("name", fmt.Sprintf("Co %02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var seen []string
	after := ""
	for page := 0; ; page++ {
		q := "/crm/v3/objects/companies?limit=10&properties=name"
		if after != "" {
			q += "&after=" + after
		}
		b := c.must(200, "GET", q, nil)
		for i := range length(b, "results") {
			seen = append(seen, str(b, "results", i, "id"))
		}
		after = str(b, "paging", "next", "after")
		if after == "" {
			break
		}
		if !strings.Contains(str(b, "paging", "next", "link"), "after="+after) {
			t.Errorf("paging link %q", str(b, "paging", "next", "link"))
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Errorf("listed %v, want %v", seen, ids)
	}
}

func TestBatch(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)

	inputs := func(n int, f func(i int) any) []any {
		var out []any
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	r := c.do("POST", "/crm/v3/objects/companies/batch/create", map[string]any{"inputs": inputs(101, func(i int) any {
		return map[string]any{"properties": map[string]string{"name": "x"}}
	})})
	if r.status != 400 || !strings.Contains(string(r.body), "101") {
		t.Fatalf("101 inputs: %d %s", r.status, r.body)
	}
	created := c.must(201, "POST", "/crm/v3/objects/companies/batch/create", map[string]any{"inputs": inputs(100, func(i int) any {
		return map[string]any{"properties": map[string]string{"name": fmt.Sprintf("Batch %d", i), "domain": fmt.Sprintf("b%d.example", i)},
			"objectWriteTraceId": fmt.Sprint("trace-", i)}
	})})
	if created["status"] != "COMPLETE" || length(created, "results") != 100 || str(created, "startedAt") == "" || str(created, "completedAt") == "" {
		t.Fatalf("batch create answer: %v", created)
	}
	if str(created, "results", 7, "objectWriteTraceId") != "trace-7" {
		t.Errorf("objectWriteTraceId not echoed: %v", path(created, "results", 7))
	}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = str(created, "results", i, "id")
	}
	// A batch with one bad value fails as a whole.
	r = c.do("POST", "/crm/v3/objects/companies/batch/create", map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]string{"name": "ok"}},
		map[string]any{"properties": map[string]string{"numberofemployees": "lots"}},
	}})
	if r.status != 400 || len(s.Records("companies")) != 100 {
		t.Errorf("invalid batch: %d, %d companies", r.status, len(s.Records("companies")))
	}

	// Batch read: 207 for missing ids, with HubSpot's multi-status body.
	read := c.do("POST", "/crm/v3/objects/companies/batch/read", map[string]any{
		"properties": []string{"domain"}, "inputs": []any{map[string]string{"id": ids[0]}, map[string]string{"id": "1"}, map[string]string{"id": ids[1]}}})
	if read.status != 207 {
		t.Fatalf("batch read with a missing id: %d %s", read.status, read.body)
	}
	rb := read.obj(t)
	if length(rb, "results") != 2 || path(rb, "numErrors") != float64(1) || str(rb, "errors", 0, "category") != "OBJECT_NOT_FOUND" ||
		str(rb, "errors", 0, "status") != "error" || str(rb, "errors", 0, "context", "ids", 0) != "1" || rb["status"] != "COMPLETE" {
		t.Errorf("207 body: %s", read.body)
	}
	if str(rb, "results", 0, "properties", "domain") != "b0.example" {
		t.Errorf("batch read properties: %v", path(rb, "results", 0))
	}
	full := c.must(200, "POST", "/crm/v3/objects/companies/batch/read", map[string]any{"inputs": []any{map[string]string{"id": ids[2]}}})
	if path(full, "errors") != nil {
		t.Errorf("a 200 batch answer carries errors: %v", full)
	}

	// Batch update: missing ids → 207, the others are written.
	upd := c.do("POST", "/crm/v3/objects/companies/batch/update", map[string]any{"inputs": []any{
		map[string]any{"id": ids[0], "properties": map[string]string{"industry": "Retail"}},
		map[string]any{"id": "424242", "properties": map[string]string{"industry": "Retail"}},
	}})
	if upd.status != 207 {
		t.Fatalf("partial batch update: %d %s", upd.status, upd.body)
	}
	if rec, _ := s.GetRecord("companies", ids[0]); rec.Properties["industry"] != "Retail" {
		t.Errorf("the valid input was not written: %v", rec.Properties)
	}
	dup := c.do("POST", "/crm/v3/objects/companies/batch/update", map[string]any{"inputs": []any{
		map[string]any{"id": ids[0], "properties": map[string]string{}}, map[string]any{"id": ids[0], "properties": map[string]string{}}}})
	if dup.status != 400 || !strings.Contains(string(dup.body), "Duplicate IDs") {
		t.Errorf("duplicate ids: %d %s", dup.status, dup.body)
	}

	// Batch archive.
	if r := c.do("POST", "/crm/v3/objects/companies/batch/archive", map[string]any{"inputs": []any{map[string]string{"id": ids[99]}, map[string]string{"id": "5"}}}); r.status != 204 {
		t.Errorf("batch archive: %d %s", r.status, r.body)
	}
	if rec, _ := s.GetRecord("companies", ids[99]); !rec.Archived {
		t.Errorf("not archived")
	}
}

func TestUpsertAndIDProperty(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	// A custom object with a unique property, as regsync setup makes one.
	c.must(201, "POST", "/crm-object-schemas/v3/schemas", map[string]any{
		"name": "reg", "labels": map[string]string{"singular": "Reg", "plural": "Regs"},
		"properties": []any{
			map[string]any{"name": "submission_key", "label": "Key", "type": "string", "fieldType": "text", "hasUniqueValue": true},
			map[string]any{"name": "status", "label": "Status", "type": "enumeration", "fieldType": "select",
				"options": []any{map[string]any{"label": "Submitted", "value": "submitted"}, map[string]any{"label": "Approved", "value": "approved"}}},
		},
		"requiredProperties": []string{"submission_key"}, "associatedObjects": []string{"COMPANY"}})

	up := c.must(200, "POST", "/crm/v3/objects/p_reg/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "k1", "idProperty": "submission_key", "properties": map[string]string{"status": "submitted"}},
		map[string]any{"id": "k2", "idProperty": "submission_key", "properties": map[string]string{"status": "submitted"}},
	}})
	if path(up, "results", 0, "new") != true || str(up, "results", 0, "properties", "submission_key") != "k1" {
		t.Fatalf("upsert create: %v", up)
	}
	up2 := c.must(200, "POST", "/crm/v3/objects/p_reg/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "k1", "idProperty": "submission_key", "properties": map[string]string{"status": "approved"}},
	}})
	if path(up2, "results", 0, "new") != false || str(up2, "results", 0, "id") != str(up, "results", 0, "id") {
		t.Fatalf("upsert update: %v", up2)
	}
	if n := len(s.Records("reg")); n != 2 {
		t.Errorf("%d records after two upserts of the same keys, want 2", n)
	}
	for _, bad := range []map[string]any{
		{"id": "k3", "properties": map[string]string{}},
		{"id": "k3", "idProperty": "status", "properties": map[string]string{}},
	} {
		if r := c.do("POST", "/crm/v3/objects/p_reg/batch/upsert", map[string]any{"inputs": []any{bad}}); r.status != 400 {
			t.Errorf("upsert %v: %d %s", bad, r.status, r.body)
		}
	}
	// Required property on create.
	if r := c.do("POST", "/crm/v3/objects/p_reg", map[string]any{"properties": map[string]string{"status": "submitted"}}); r.status != 400 ||
		!strings.Contains(string(r.body), "submission_key") {
		t.Errorf("missing required property: %d %s", r.status, r.body)
	}
	// Unique conflict on create.
	if r := c.do("POST", "/crm/v3/objects/p_reg", map[string]any{"properties": map[string]string{"submission_key": "k1"}}); r.status != 409 {
		t.Errorf("unique conflict: %d %s", r.status, r.body)
	}
	// idProperty on GET, PATCH and batch read.
	g := c.must(200, "GET", "/crm/v3/objects/p_reg/k2?idProperty=submission_key&properties=status", nil)
	if str(g, "properties", "status") != "submitted" {
		t.Errorf("get by idProperty: %v", g)
	}
	c.must(200, "PATCH", "/crm/v3/objects/p_reg/k2?idProperty=submission_key", map[string]any{"properties": map[string]string{"status": "approved"}})
	br := c.must(200, "POST", "/crm/v3/objects/p_reg/batch/read", map[string]any{"idProperty": "submission_key", "properties": []string{"status"},
		"inputs": []any{map[string]string{"id": "k1"}, map[string]string{"id": "k2"}}})
	if length(br, "results") != 2 || str(br, "results", 1, "properties", "status") != "approved" {
		t.Errorf("batch read by idProperty: %v", br)
	}
	if r := c.do("GET", "/crm/v3/objects/p_reg/k2?idProperty=status", nil); r.status != 400 {
		t.Errorf("idProperty that is not unique: %d", r.status)
	}
}

func TestFrozenClockSharesModifiedDate(t *testing.T) {
	s := startT(t, Options{Clock: NewClock(t0), Bare: true})
	for i := range 3000 {
		if _, err := s.CreateRecord("contacts", props("email", fmt.Sprintf("c%d@globex.example", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := strconv.FormatInt(t0.UnixMilli(), 10)
	for _, r := range s.Records("contacts") {
		if r.Properties["lastmodifieddate"] != want {
			t.Fatalf("record %s modified at %s, want %s", r.ID, r.Properties["lastmodifieddate"], want)
		}
	}
}
