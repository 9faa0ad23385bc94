package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestOAuth(t *testing.T) {
	clock := NewClock(t0)
	app := &OAuthApp{ClientID: "cid", ClientSecret: "csecret", RefreshToken: "rtoken", AccessTokenLifetime: 30 * time.Minute}
	s := startT(t, Options{Clock: clock, OAuth: app, Bare: true})
	c := newTC(t, s)
	token := func(form url.Values) (int, map[string]any) {
		res, err := http.Post(s.URL()+"/oauth/v1/token", "application/x-www-form-urlencoded;charset=utf-8", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	good := url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"csecret"}, "refresh_token": {"rtoken"}}
	bad := []struct {
		field, value, status string
	}{
		{"client_id", "other", "BAD_CLIENT_ID"},
		{"client_secret", "other", "BAD_CLIENT_SECRET"},
		{"refresh_token", "other", "BAD_REFRESH_TOKEN"},
		{"grant_type", "authorization_code", "UNSUPPORTED_GRANT_TYPE"},
	}
	for _, b := range bad {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set(b.field, b.value)
		code, body := token(f)
		if code != 400 || body["status"] != b.status {
			t.Errorf("%s=%s: %d %v", b.field, b.value, code, body)
		}
		if strings.Contains(fmt.Sprint(body), "csecret") {
			t.Errorf("the error echoes the client secret: %v", body)
		}
	}
	code, body := token(good)
	if code != 200 || body["token_type"] != "bearer" || body["expires_in"] != float64(1800) || body["refresh_token"] != "rtoken" {
		t.Fatalf("token: %d %v", code, body)
	}
	c.token = body["access_token"].(string)
	c.must(200, "GET", "/crm/v3/objects/contacts", nil)
	// The sandbox token is not accepted in an OAuth-only portal.
	c2 := newTC(t, s)
	if r := c2.do("GET", "/crm/v3/objects/contacts", nil); r.status != 401 {
		t.Errorf("private-app token in an OAuth portal: %d", r.status)
	}
	clock.Advance(31 * time.Minute)
	r := c.do("GET", "/crm/v3/objects/contacts", nil)
	if r.status != 401 || r.obj(t)["category"] != "EXPIRED_AUTHENTICATION" || !strings.Contains(str(r.obj(t), "message"), "expired 1 minute(s) ago") {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	// Refresh on 401, as the client does.
	_, body = token(good)
	c.token = body["access_token"].(string)
	c.must(200, "GET", "/crm/v3/objects/contacts", nil)
	s.ExpireAccessTokens()
	if r := c.do("GET", "/crm/v3/objects/contacts", nil); r.status != 401 {
		t.Errorf("after ExpireAccessTokens: %d", r.status)
	}
	if s.Calls()["POST /oauth/v1/token"] != 6 {
		t.Errorf("token calls %d", s.Calls()["POST /oauth/v1/token"])
	}
	if _, err := New(Options{OAuth: &OAuthApp{ClientID: "x"}}); err == nil {
		t.Error("an incomplete OAuth app was accepted")
	}
}

func TestSchemas(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	if b := c.must(200, "GET", "/crm-object-schemas/v3/schemas", nil); length(b, "results") != 0 {
		t.Fatalf("a bare portal has schemas: %v", b)
	}
	egg := map[string]any{
		"name": "partner_registration", "labels": map[string]string{"singular": "Partner registration", "plural": "Partner registrations"},
		"primaryDisplayProperty": "company_name", "requiredProperties": []string{"submission_key"},
		"searchableProperties": []string{"company_name", "case_number"},
		"properties": []any{
			map[string]any{"name": "submission_key", "label": "Submission key", "type": "string", "fieldType": "text", "hasUniqueValue": true},
			map[string]any{"name": "case_number", "label": "Case number", "type": "string", "fieldType": "text", "hasUniqueValue": true},
			map[string]any{"name": "company_name", "label": "Company", "type": "string", "fieldType": "text"},
			map[string]any{"name": "consent", "label": "Consent", "type": "bool", "fieldType": "booleancheckbox",
				"options": []any{map[string]any{"label": "Yes", "value": "true"}, map[string]any{"label": "No", "value": "false"}}},
			map[string]any{"name": "hold_until", "label": "Hold until", "type": "date", "fieldType": "date"},
		},
		"associatedObjects": []string{"COMPANY", "CONTACT", "DEAL"},
	}
	sc := c.must(201, "POST", "/crm-object-schemas/v3/schemas", egg)
	typeID := str(sc, "objectTypeId")
	fqn := fmt.Sprintf("p%d_partner_registration", s.PortalID())
	if !strings.HasPrefix(typeID, "2-") || str(sc, "fullyQualifiedName") != fqn || str(sc, "id") != strings.TrimPrefix(typeID, "2-") {
		t.Fatalf("schema ids: %v", sc)
	}
	if length(sc, "associations") != 3 || !slices.ContainsFunc(path(sc, "properties").([]any), func(p any) bool { return str(p, "name") == "hs_object_id" }) {
		t.Errorf("schema body: associations %v", path(sc, "associations"))
	}
	if r := c.do("POST", "/crm/v3/schemas", egg); r.status != 409 {
		t.Errorf("second create: %d %s", r.status, r.body)
	}
	for _, name := range []string{typeID, fqn, "p_partner_registration"} {
		for _, prefix := range []string{"/crm-object-schemas/v3/schemas/", "/crm/v3/schemas/"} {
			if b := c.must(200, "GET", prefix+name, nil); str(b, "objectTypeId") != typeID {
				t.Errorf("GET %s%s: %v", prefix, name, b)
			}
		}
	}
	if r := c.do("GET", "/crm/v3/schemas/nosuch", nil); r.status != 404 {
		t.Errorf("unknown schema: %d", r.status)
	}
	// Validation.
	for _, mod := range []func(m map[string]any){
		func(m map[string]any) { delete(m, "labels") },
		func(m map[string]any) { m["name"] = "Bad Name" },
		func(m map[string]any) { m["requiredProperties"] = []string{"nope"} },
		func(m map[string]any) { m["associatedObjects"] = []string{"WIDGET"} },
		func(m map[string]any) {
			m["properties"] = []any{map[string]any{"name": "x", "label": "X", "type": "text", "fieldType": "text"}}
		},
	} {
		m := map[string]any{}
		for k, v := range egg {
			m[k] = v
		}
		m["name"] = "other_object"
		mod(m)
		if r := c.do("POST", "/crm/v3/schemas", m); r.status != 400 {
			t.Errorf("invalid schema accepted: %d %s", r.status, r.body)
		}
	}
	// PATCH.
	p := c.must(200, "PATCH", "/crm/v3/schemas/"+typeID, map[string]any{"searchableProperties": []string{"case_number"}, "secondaryDisplayProperties": []string{"case_number"}})
	if str(p, "searchableProperties", 0) != "case_number" || path(p, "properties") != nil {
		t.Errorf("patch answer: %v", p)
	}
	// Associations: labels listing for the custom object.
	for _, pair := range [][2]string{{"notes", typeID}, {"tasks", fqn}, {typeID, "companies"}, {"deals", "p_partner_registration"}} {
		b := c.must(200, "GET", "/crm/v4/associations/"+pair[0]+"/"+pair[1]+"/labels", nil)
		if length(b, "results") == 0 || path(b, "results", 0, "typeId") == nil {
			t.Errorf("labels %v: %v", pair, b)
		}
	}
	// Records of the new type; bool and date validation.
	rec := c.must(201, "POST", "/crm/v3/objects/"+typeID, map[string]any{"properties": map[string]string{
		"submission_key": "k1", "consent": "TRUE", "hold_until": "2025-05-01"}})
	if str(rec, "properties", "consent") != "true" || str(rec, "properties", "hold_until") != "2025-05-01" || str(rec, "properties", "hs_createdate") == "" {
		t.Errorf("custom record: %v", rec)
	}
	for _, bad := range []map[string]string{{"submission_key": "k2", "consent": "yes"}, {"submission_key": "k3", "hold_until": "1746100800000"}} {
		if r := c.do("POST", "/crm/v3/objects/"+typeID, map[string]any{"properties": bad}); r.status != 400 {
			t.Errorf("%v: %d %s", bad, r.status, r.body)
		}
	}
	if r := c.do("DELETE", "/crm/v3/schemas/"+typeID, nil); r.status != 400 {
		t.Errorf("deleting a schema with records: %d", r.status)
	}
	// An association definition added later.
	other := c.must(201, "POST", "/crm/v3/schemas", map[string]any{"name": "other_object", "labels": map[string]string{"singular": "O", "plural": "Os"},
		"properties": []any{}, "associatedObjects": []string{}})
	oid := str(other, "objectTypeId")
	if r := c.do("GET", "/crm/v4/associations/"+oid+"/companies/labels", nil); length(r.obj(t), "results") != 0 {
		t.Errorf("labels before the definition: %s", r.body)
	}
	ad := c.must(201, "POST", "/crm-object-schemas/v3/schemas/"+oid+"/associations", map[string]any{"fromObjectTypeId": oid, "toObjectTypeId": "0-2", "name": "other_to_company"})
	if str(ad, "fromObjectTypeId") != oid || str(ad, "toObjectTypeId") != "0-2" || str(ad, "id") == "" {
		t.Errorf("association definition: %v", ad)
	}
	if b := c.must(200, "GET", "/crm/v4/associations/companies/"+oid+"/labels", nil); length(b, "results") != 1 || str(b, "results", 0, "category") != "USER_DEFINED" {
		t.Errorf("labels after the definition: %v", b)
	}
	if r := c.do("POST", "/crm/v3/schemas/"+oid+"/associations", map[string]any{"fromObjectTypeId": oid, "toObjectTypeId": "0-99x"}); r.status != 400 {
		t.Errorf("association to an unknown type: %d", r.status)
	}
	if r := c.do("DELETE", "/crm/v3/schemas/"+oid, nil); r.status != 204 {
		t.Errorf("deleting an empty schema: %d", r.status)
	}
	if r := c.do("GET", "/crm/v3/objects/"+oid, nil); r.status != 400 {
		t.Errorf("records of a deleted schema: %d", r.status)
	}
}

func TestProperties(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	list := c.must(200, "GET", "/crm/v3/properties/deals", nil)
	if !slices.ContainsFunc(path(list, "results").([]any), func(p any) bool {
		return str(p, "name") == "dealstage" && length(p, "options") == 7
	}) {
		t.Fatalf("deal properties lack dealstage with 7 options")
	}
	if r := c.do("GET", "/crm/v3/properties/deals/partner_id", nil); r.status != 404 {
		t.Errorf("a bare portal has partner_id on deals: %d", r.status)
	}
	// Property groups.
	c.must(201, "POST", "/crm/v3/properties/deals/groups", map[string]any{"name": "regsync", "label": "regsync"})
	if r := c.do("POST", "/crm/v3/properties/deals/groups", map[string]any{"name": "regsync", "label": "regsync"}); r.status != 409 {
		t.Errorf("duplicate group: %d", r.status)
	}
	c.must(200, "GET", "/crm/v3/properties/deals/groups/regsync", nil)
	// Create, batch create, conflicts, validation.
	p := c.must(201, "POST", "/crm/v3/properties/deals", map[string]any{"name": "partner_id", "label": "Partner ID", "type": "string", "fieldType": "text", "groupName": "regsync"})
	if p["hubspotDefined"] != nil || path(p, "modificationMetadata", "archivable") != true {
		t.Errorf("created property: %v", p)
	}
	if r := c.do("POST", "/crm/v3/properties/deals", map[string]any{"name": "partner_id", "label": "x", "type": "string", "fieldType": "text", "groupName": "regsync"}); r.status != 409 {
		t.Errorf("duplicate property: %d", r.status)
	}
	for _, bad := range []map[string]any{
		{"name": "x1", "label": "x", "type": "string", "fieldType": "text", "groupName": "nosuchgroup"},
		{"name": "x2", "label": "x", "type": "string", "fieldType": "text"},
		{"name": "X3", "label": "x", "type": "string", "fieldType": "text", "groupName": "regsync"},
		{"name": "x4", "label": "x", "type": "enumeration", "fieldType": "select", "groupName": "regsync",
			"options": []any{map[string]string{"label": "A", "value": "a"}, map[string]string{"label": "B", "value": "a"}}},
		{"name": "x5", "label": "x", "type": "datetime", "fieldType": "text", "groupName": "regsync"},
	} {
		if r := c.do("POST", "/crm/v3/properties/deals", bad); r.status != 400 {
			t.Errorf("%v: %d %s", bad, r.status, r.body)
		}
	}
	bc := c.do("POST", "/crm/v3/properties/deals/batch/create", map[string]any{"inputs": []any{
		map[string]any{"name": "status", "label": "Status", "type": "enumeration", "fieldType": "select", "groupName": "regsync",
			"options": []any{map[string]string{"label": "Submitted", "value": "submitted"}}},
		map[string]any{"name": "partner_id", "label": "dup", "type": "string", "fieldType": "text", "groupName": "regsync"},
	}})
	if bc.status != 207 || length(bc.obj(t), "results") != 1 || str(bc.obj(t), "errors", 0, "category") != "OBJECT_ALREADY_EXISTS" {
		t.Errorf("batch create with a duplicate: %d %s", bc.status, bc.body)
	}
	// PATCH adds an option; hasUniqueValue cannot change; HubSpot's own properties are read-only.
	pp := c.must(200, "PATCH", "/crm/v3/properties/deals/status", map[string]any{"options": []any{
		map[string]string{"label": "Submitted", "value": "submitted"}, map[string]string{"label": "Approved", "value": "approved"}}})
	if length(pp, "options") != 2 {
		t.Errorf("patched options: %v", pp)
	}
	if r := c.do("PATCH", "/crm/v3/properties/deals/status", map[string]any{"hasUniqueValue": true}); r.status != 400 {
		t.Errorf("changing hasUniqueValue: %d", r.status)
	}
	if r := c.do("PATCH", "/crm/v3/properties/deals/dealstage", map[string]any{"label": "x"}); r.status != 400 {
		t.Errorf("changing a HubSpot property: %d", r.status)
	}
	c.must(201, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "d", "status": "approved", "partner_id": "northwind"}})
	br := c.do("POST", "/crm/v3/properties/deals/batch/read", map[string]any{"inputs": []any{map[string]string{"name": "status"}, map[string]string{"name": "nope"}}})
	if br.status != 207 || length(br.obj(t), "results") != 1 {
		t.Errorf("batch read: %d %s", br.status, br.body)
	}
	if r := c.do("DELETE", "/crm/v3/properties/deals/partner_id", nil); r.status != 204 {
		t.Errorf("archive property: %d", r.status)
	}
	if r := c.do("POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "d", "partner_id": "x"}}); r.status != 400 {
		t.Errorf("writing an archived property: %d", r.status)
	}
}

func TestAssociations(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	co1, _ := s.CreateRecord("companies", props("name", "A"))
	co2, _ := s.CreateRecord("companies", props("name", "B"))
	dl, _ := s.CreateRecord("deals", props("dealname", "D"))
	ct, _ := s.CreateRecord("contacts", props("email", "x@a.example"))

	def := c.must(200, "PUT", "/crm/v4/objects/deals/"+dl+"/associations/default/companies/"+co1, nil)
	if length(def, "results") != 2 || path(def, "results", 0, "associationSpec", "associationTypeId") != float64(341) ||
		path(def, "results", 1, "associationSpec", "associationTypeId") != float64(342) {
		t.Errorf("default association: %v", def)
	}
	lab := c.must(201, "PUT", "/crm/v4/objects/deals/"+dl+"/associations/companies/"+co2,
		[]any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}})
	if str(lab, "labels", 0) != "Primary" || path(lab, "toObjectId") != float64(num(co2)) || path(lab, "fromObjectTypeId") != "0-3" {
		t.Errorf("labelled association: %v", lab)
	}
	if got := s.AssociationLabels("deals", dl, "companies", co2); !slices.Equal(got, []string{"", "Primary"}) {
		t.Errorf("labels between deal and co2: %q", got)
	}
	// Primary moves.
	c.must(201, "PUT", "/crm/v4/objects/deals/"+dl+"/associations/companies/"+co1,
		[]any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}})
	if got := s.AssociationLabels("deals", dl, "companies", co2); !slices.Equal(got, []string{""}) {
		t.Errorf("primary did not move off co2: %q", got)
	}
	if r := c.do("PUT", "/crm/v4/objects/deals/"+dl+"/associations/companies/"+co1,
		[]any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 999}}); r.status != 400 {
		t.Errorf("bad type id: %d", r.status)
	}
	if r := c.do("PUT", "/crm/v4/objects/deals/"+dl+"/associations/default/companies/123", nil); r.status != 400 {
		t.Errorf("association to a missing record: %d", r.status)
	}

	list := c.must(200, "GET", "/crm/v4/objects/companies/"+co1+"/associations/deals", nil)
	if length(list, "results") != 1 || path(list, "results", 0, "toObjectId") != float64(num(dl)) {
		t.Errorf("list from the other side: %v", list)
	}

	// Batch read: 207 for an id without associations, numbers for toObjectId.
	br := c.do("POST", "/crm/v4/associations/deals/companies/batch/read", map[string]any{"inputs": []any{map[string]string{"id": dl}, map[string]string{"id": "77"}}})
	if br.status != 207 {
		t.Fatalf("batch read: %d %s", br.status, br.body)
	}
	b := br.obj(t)
	if length(b, "results") != 1 || str(b, "results", 0, "from", "id") != dl || length(b, "results", 0, "to") != 2 ||
		str(b, "errors", 0, "subCategory") != "crm.associations.NO_ASSOCIATIONS_FOUND" {
		t.Errorf("batch read body: %s", br.body)
	}
	if !strings.Contains(string(br.body), fmt.Sprintf(`"toObjectId":%s`, co1)) {
		t.Errorf("toObjectId is not a number: %s", br.body)
	}
	var many []any
	for range 1001 {
		many = append(many, map[string]string{"id": dl})
	}
	if r := c.do("POST", "/crm/v4/associations/deals/companies/batch/read", map[string]any{"inputs": many}); r.status != 400 {
		t.Errorf("1001 inputs: %d", r.status)
	}

	// Batch associate default, batch create, archive.
	bd := c.do("POST", "/crm/v4/associations/contacts/companies/batch/associate/default", map[string]any{"inputs": []any{
		map[string]any{"from": map[string]string{"id": ct}, "to": map[string]string{"id": co1}},
		map[string]any{"from": map[string]string{"id": "5"}, "to": map[string]string{"id": co1}},
	}})
	if bd.status != 207 || length(bd.obj(t), "results") != 2 {
		t.Errorf("batch default with a missing record: %d %s", bd.status, bd.body)
	}
	bcr := c.must(201, "POST", "/crm/v4/associations/contacts/deals/batch/create", map[string]any{"inputs": []any{
		map[string]any{"from": map[string]string{"id": ct}, "to": map[string]string{"id": dl}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}}}}})
	if path(bcr, "results", 0, "fromObjectId") != float64(num(ct)) {
		t.Errorf("batch create: %v", bcr)
	}
	if got := s.Associations("deals", dl, "contacts"); !slices.Equal(got, []string{ct}) {
		t.Errorf("inverse of contact→deal: %v", got)
	}
	if r := c.do("POST", "/crm/v4/associations/deals/companies/batch/archive", map[string]any{"inputs": []any{
		map[string]any{"from": map[string]string{"id": dl}, "to": []any{map[string]string{"id": co2}}}}}); r.status != 204 {
		t.Errorf("batch archive: %d", r.status)
	}
	if r := c.do("DELETE", "/crm/v4/objects/deals/"+dl+"/associations/companies/"+co1, nil); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	if got := s.Associations("companies", co1, "deals"); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}

	// v3 create with associations, and ?associations= on reads.
	task := c.must(201, "POST", "/crm/v3/objects/tasks", map[string]any{
		"properties":   map[string]string{"hs_timestamp": "1700000000000", "hs_task_subject": "Call"},
		"associations": []any{map[string]any{"to": map[string]string{"id": dl}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}}}}})
	g := c.must(200, "GET", "/crm/v3/objects/deals/"+dl+"?associations=tasks,contacts", nil)
	if str(g, "associations", "tasks", "results", 0, "id") != str(task, "id") || str(g, "associations", "tasks", "results", 0, "type") != "deal_to_task" ||
		str(g, "associations", "contacts", "results", 0, "id") != ct {
		t.Errorf("?associations=: %v", path(g, "associations"))
	}
	if r := c.do("POST", "/crm/v3/objects/notes", map[string]any{
		"properties":   map[string]string{"hs_timestamp": "1700000000000"},
		"associations": []any{map[string]any{"to": map[string]string{"id": "999999"}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}}}}}); r.status != 400 || len(s.Records("notes")) != 0 {
		t.Errorf("note associated with a missing deal: %d, %d notes", r.status, len(s.Records("notes")))
	}
}

func TestOwnersAndForms(t *testing.T) {
	clock := NewClock(t0)
	s := startT(t, Options{Clock: clock, Seed: DefaultSeed})
	c := newTC(t, s)
	o := c.must(200, "GET", "/crm/v3/owners?limit=2", nil)
	if length(o, "results") != 2 || str(o, "paging", "next", "after") == "" || str(o, "results", 0, "id") != "81297001" {
		t.Errorf("owners page: %v", o)
	}
	by := c.must(200, "GET", "/crm/v3/owners?email=Ken.Tanaka@regsync-sandbox.example", nil)
	if length(by, "results") != 1 || str(by, "results", 0, "id") != "81297004" {
		t.Errorf("owner by e-mail: %v", by)
	}
	c.must(200, "GET", "/crm/v3/owners/81297002", nil)
	c.must(200, "GET", "/crm/v3/owners/9200002?idProperty=userId", nil)

	if r := c.do("GET", "/form-integrations/v1/submissions/forms/f-1", nil); r.status != 404 {
		t.Errorf("unknown form: %d", r.status)
	}
	for i := range 5 {
		s.AddFormSubmission("f-1", FormSubmission{PageURL: "https://www.example.com/register",
			Values: []FormValue{{Name: "email", Value: fmt.Sprintf("lead%d@hooli.example", i)}, {Name: "partner_id", Value: "northwind"}, {Name: "firstname", Value: "Lee"}}})
		clock.Advance(time.Minute)
	}
	var got []string
	after := ""
	for range 5 {
		q := "/form-integrations/v1/submissions/forms/f-1?limit=2"
		if after != "" {
			q += "&after=" + after
		}
		b := c.must(200, "GET", q, nil)
		for i := range length(b, "results") {
			got = append(got, str(b, "results", i, "values", 0, "value"))
			if path(b, "results", i, "submittedAt") == nil || str(b, "results", i, "conversionId") == "" ||
				str(b, "results", i, "values", 0, "objectTypeId") != "0-1" || str(b, "results", i, "pageUrl") == "" {
				t.Errorf("submission shape: %v", path(b, "results", i))
			}
		}
		if after = str(b, "paging", "next", "after"); after == "" {
			break
		}
	}
	if strings.Join(got, ",") != "lead4@hooli.example,lead3@hooli.example,lead2@hooli.example,lead1@hooli.example,lead0@hooli.example" {
		t.Errorf("submissions, newest first: %v", got)
	}
	if r, ok := s.FindRecord("contacts", "email", "lead3@hooli.example"); !ok || r.Properties["firstname"] != "Lee" {
		t.Errorf("the form did not make a contact: %v", r)
	}
}

func TestSeed(t *testing.T) {
	clock := NewClock(t0)
	s := startT(t, Options{Clock: clock, Seed: DefaultSeed})
	companies := s.Records("companies")
	if len(companies) < 200 {
		t.Fatalf("%d companies", len(companies))
	}
	domains := map[string]string{}
	for _, co := range companies {
		if co.Properties["name"] == "" || !strings.HasSuffix(co.Properties["domain"], ".example") {
			t.Errorf("company %v", co.Properties)
		}
		if other, dup := domains[co.Properties["domain"]]; dup {
			t.Errorf("domain %s on %s and %s", co.Properties["domain"], other, co.ID)
		}
		domains[co.Properties["domain"]] = co.ID
	}
	for _, d := range []string{"acme.example", "globex.example", "initech.example", "umbrella.example"} {
		if domains[d] == "" {
			t.Errorf("no company on %s", d)
		}
	}
	stages := map[string]int{}
	partners := 0
	for _, d := range s.Records("deals") {
		stages[d.Properties["dealstage"]]++
		if d.Properties["partner_id"] != "" {
			partners++
		}
		if d.Properties["amount"] == "" || d.Properties["closedate"] == "" || len(s.Associations("deals", d.ID, "companies")) != 1 {
			t.Errorf("deal %s: %v, companies %v", d.ID, d.Properties, s.Associations("deals", d.ID, "companies"))
		}
		closed := d.Properties["hs_is_closed"] == "true"
		cd := d.Properties["closedate"]
		if closed != (cd < fmt.Sprint(t0.UnixMilli())) {
			t.Errorf("deal %s (%s) closes at %s", d.ID, d.Properties["dealstage"], cd)
		}
	}
	for _, st := range DealStages {
		if stages[st] == 0 {
			t.Errorf("no deal in stage %s", st)
		}
	}
	if partners < 3 {
		t.Errorf("%d deals with a partner_id", partners)
	}
	if got := s.Associations("companies", domains["acme.example"], "deals"); len(got) == 0 {
		t.Error("acme has no deals")
	}
	if got := s.Associations("companies", domains["globex.example"], "deals"); len(got) != 0 {
		t.Errorf("globex has deals %v: rule examples expect none", got)
	}
	if len(s.Records("partner")) != 4 {
		t.Errorf("partners: %d", len(s.Records("partner")))
	}
	// A bare portal takes the seed without the partner object.
	bare := startT(t, Options{Seed: DefaultSeed, Bare: true})
	if _, err := bare.TypeID("partner"); err == nil || len(bare.Records("companies")) != len(companies) {
		t.Errorf("bare seeded portal")
	}
	// Seed errors name the file and the record.
	for name, fsys := range map[string]fstest.MapFS{
		"unknown property": {"companies.json": {Data: []byte(`[{"key":"a","properties":{"nope":"x"}}]`)}},
		"bad json":         {"deals.json": {Data: []byte(`[{"key":`)}},
		"unknown company":  {"deals.json": {Data: []byte(`[{"key":"d","properties":{"dealname":"x"},"companies":["zz"]}]`)}},
		"duplicate key":    {"companies.json": {Data: []byte(`[{"key":"a","properties":{}},{"key":"a","properties":{}}]`)}},
		"bad createdAt":    {"companies.json": {Data: []byte(`[{"key":"a","createdAt":"yesterday","properties":{}}]`)}},
	} {
		if _, err := New(Options{Seed: fsys}); err == nil || !strings.Contains(err.Error(), "seed") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
