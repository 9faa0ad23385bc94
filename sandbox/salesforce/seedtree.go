package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	pathpkg "path"
	"sort"
	"strings"
)

// Seed data in the sObject tree format of the Salesforce CLI (what
// `sf data export tree` writes and `sf data import tree` reads), so an
// admin can seed the sandbox with an export of a real org:
//
//	{"records": [
//	  {"attributes": {"type": "Account", "referenceId": "AccountRef1"},
//	   "Name": "Globex", "Website": "https://www.globex.example/",
//	   "Opportunities": {"records": [
//	     {"attributes": {"type": "Opportunity", "referenceId": "OppRef1"},
//	      "Name": "Globex renewal", "StageName": "Qualification", "CloseDate": "2026-06-30"}]}}]}
//
// A nested "records" object holds child records: each is linked to its
// parent by its first lookup field that can point to the parent's type
// (AccountId for an Opportunity under an Account, WhatId for a Task). A
// value "@Ref" is the id of the record saved with referenceId Ref earlier
// (a plan's cross-file reference). The files are read in the order of a
// plan file (*plan.json: [{"sobject": …, "files": […]}, …]) when there is
// one, otherwise every *.json file in name order.

// treeFile is one sObject tree file.
type treeFile struct {
	Records []map[string]json.RawMessage `json:"records"`
}

type planEntry struct {
	SObject string   `json:"sobject"`
	Files   []string `json:"files"`
}

// seedTree loads seed files from fsys (s.mu need not be held: New calls it
// before serving).
func (s *Server) seedTree(fsys fs.FS, w writer) error {
	files, err := treeFiles(fsys)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("salesforce sandbox: seed: no .json file")
	}
	refs := map[string]string{}
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("salesforce sandbox: seed: %w", err)
		}
		var tf treeFile
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&tf); err != nil {
			return fmt.Errorf("salesforce sandbox: seed %s: not an sObject tree file: %v", name, err)
		}
		for i, rec := range tf.Records {
			if err := s.seedRecord(rec, nil, refs, w, fmt.Sprintf("%s: record %d", name, i+1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// treeFiles lists the files to load, in order.
func treeFiles(fsys fs.FS) ([]string, error) {
	all, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("salesforce sandbox: seed: %w", err)
	}
	sort.Strings(all)
	for _, name := range all {
		if !strings.HasSuffix(strings.ToLower(name), "plan.json") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("salesforce sandbox: seed: %w", err)
		}
		var plan []planEntry
		if err := json.Unmarshal(data, &plan); err != nil {
			return nil, fmt.Errorf("salesforce sandbox: seed plan %s: %v", name, err)
		}
		var out []string
		for _, e := range plan {
			for _, f := range e.Files {
				out = append(out, pathpkg.Clean(f))
			}
		}
		return out, nil
	}
	return all, nil
}

// parentRef is the record a nested child record belongs to.
type parentRef struct {
	obj *object
	id  string
}

func (s *Server) seedRecord(raw map[string]json.RawMessage, parent *parentRef, refs map[string]string, w writer, where string) error {
	var attrs struct {
		Type        string `json:"type"`
		ReferenceID string `json:"referenceId"`
	}
	if a, ok := raw["attributes"]; !ok || json.Unmarshal(a, &attrs) != nil || attrs.Type == "" {
		return fmt.Errorf("salesforce sandbox: seed %s: attributes.type is missing", where)
	}
	o := s.objects[lower(attrs.Type)]
	if o == nil {
		return fmt.Errorf("salesforce sandbox: seed %s: no object %s in the org", where, attrs.Type)
	}
	where += " (" + o.name + ")"
	fields := map[string]any{}
	var children []map[string]json.RawMessage
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "attributes" {
			continue
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw[k]))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("salesforce sandbox: seed %s: %s: %v", where, k, err)
		}
		switch x := v.(type) {
		case map[string]any:
			var nested treeFile
			if err := json.Unmarshal(raw[k], &nested); err != nil || x["records"] == nil {
				return fmt.Errorf("salesforce sandbox: seed %s: %s is neither a value nor a {\"records\": […]} child list", where, k)
			}
			children = append(children, nested.Records...)
			continue
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return fmt.Errorf("salesforce sandbox: seed %s: %s: %v", where, k, err)
			}
			v = f
		case string:
			if ref, ok := strings.CutPrefix(x, "@"); ok {
				id, found := refs[ref]
				if !found {
					return fmt.Errorf("salesforce sandbox: seed %s: %s refers to @%s, which no earlier record saved", where, k, ref)
				}
				v = id
			}
		}
		fields[k] = v
	}
	if parent != nil {
		f := o.lookupTo(parent.obj.name)
		if f == nil {
			return fmt.Errorf("salesforce sandbox: seed %s: a %s cannot be a child of a %s", where, o.name, parent.obj.name)
		}
		fields[f.Name] = parent.id
	}
	r, fe := s.create(o, fields, w)
	if fe != nil {
		return fmt.Errorf("salesforce sandbox: seed %s: %s", where, fe.Error())
	}
	if attrs.ReferenceID != "" {
		refs[attrs.ReferenceID] = r.id
	}
	for i, c := range children {
		if err := s.seedRecord(c, &parentRef{obj: o, id: r.id}, refs, w, fmt.Sprintf("%s, child %d", where, i+1)); err != nil {
			return err
		}
	}
	return nil
}

// lookupTo is the object's first writable lookup field that can point to
// an object of type name.
func (o *object) lookupTo(name string) *Field {
	for _, f := range o.fields {
		if f.Type != TypeReference || !f.createable() {
			continue
		}
		for _, t := range f.ReferenceTo {
			if strings.EqualFold(t, name) {
				return f
			}
		}
	}
	return nil
}
