package hubspot

import "testing"

// TestEngagementsHaveNoKey: notes and tasks take no unique-value property
// (HubSpot documents them for contacts, companies, deals, tickets and
// custom objects only), so their batch upsert has nothing to match on; a
// plain custom property is fine, and associating a note twice is one
// association.
func TestEngagementsHaveNoKey(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	for _, kind := range []string{"notes", "tasks"} {
		group := map[string]string{"notes": "note", "tasks": "task"}[kind]
		if r := c.do("POST", "/crm/v3/properties/"+kind, map[string]any{"name": "regsync_key", "label": "Key", "type": "string",
			"fieldType": "text", "groupName": group, "hasUniqueValue": true}); r.status != 400 {
			t.Errorf("%s: a unique property: %d %s", kind, r.status, r.body)
		}
		c.must(201, "POST", "/crm/v3/properties/"+kind, map[string]any{"name": "regsync_ref", "label": "Ref", "type": "string",
			"fieldType": "text", "groupName": group})
		body := map[string]string{"notes": "hs_note_body", "tasks": "hs_task_body"}[kind]
		for _, idp := range []string{"", "regsync_ref", body} {
			in := map[string]any{"id": "k1", "properties": map[string]string{"hs_timestamp": "1700000000000"}}
			if idp != "" {
				in["idProperty"] = idp
			}
			if r := c.do("POST", "/crm/v3/objects/"+kind+"/batch/upsert", map[string]any{"inputs": []any{in}}); r.status != 400 {
				t.Errorf("%s: upsert on %q: %d %s", kind, idp, r.status, r.body)
			}
		}
	}
	co := c.must(201, "POST", "/crm/v3/objects/companies", map[string]any{"properties": map[string]string{"name": "Globex"}})
	nt := c.must(201, "POST", "/crm/v3/objects/notes", map[string]any{"properties": map[string]string{"hs_timestamp": "1700000000000", "hs_note_body": "x"}})
	for range 2 {
		c.must(200, "POST", "/crm/v4/associations/notes/companies/batch/associate/default", map[string]any{"inputs": []any{
			map[string]any{"from": map[string]string{"id": str(nt, "id")}, "to": map[string]string{"id": str(co, "id")}}}})
	}
	if a := s.Associations("notes", str(nt, "id"), "companies"); len(a) != 1 {
		t.Errorf("note → companies after associating twice: %v", a)
	}
	if l := s.AssociationLabels("notes", str(nt, "id"), "companies", str(co, "id")); len(l) != 1 {
		t.Errorf("association types after associating twice: %q", l)
	}
}
