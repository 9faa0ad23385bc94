package salesforce

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// writer says who writes: the integration user through the API (counted
// per record) or a person in the UI.
type writer struct {
	user string
	api  bool
}

// newRecordID allocates an id with the object's key prefix.
func (s *Server) newRecordID(o *object) string {
	s.seq++
	return makeID(o.prefix, s.seq)
}

// setFields validates fields (a JSON object's keys and values) into r's
// values; create says whether r is new.
func (s *Server) setFields(o *object, vals map[string]any, fields map[string]any, create bool) *fieldError {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "attributes" || strings.EqualFold(k, "Id") {
			continue
		}
		v := fields[k]
		f := o.field(k)
		if f == nil {
			if _, isRel := o.relByLower[strings.ToLower(k)]; isRel {
				return &fieldError{"INVALID_FIELD", fmt.Sprintf("Cannot specify both an external ID reference %s and a salesforce id", k), []string{k}}
			}
			return &fieldError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.name), []string{k}}
		}
		if create && !f.createable() || !create && !f.updateable() {
			return &fieldError{"INVALID_FIELD_FOR_INSERT_UPDATE", fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.Name), []string{f.Name}}
		}
		cv, ferr := coerce(f, v)
		if ferr != nil {
			return ferr
		}
		if cv != nil && f.Type == TypeReference {
			id, _ := cv.(string)
			n := normID(id)
			if n == "" {
				return &fieldError{"MALFORMED_ID", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, id), []string{f.Name}}
			}
			target := s.byID(n)
			ok := false
			if target != nil {
				for _, t := range f.ReferenceTo {
					if strings.EqualFold(t, target.obj.name) {
						ok = true
					}
				}
			}
			if !ok {
				if o2 := s.byPrefix[n[:3]]; o2 != nil && target == nil {
					return &fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{f.Name}}
				}
				if target == nil {
					return &fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{f.Name}}
				}
				return &fieldError{"FIELD_INTEGRITY_EXCEPTION", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, id), []string{f.Name}}
			}
			if target.deleted {
				return &fieldError{"ENTITY_IS_DELETED", "entity is deleted", []string{f.Name}}
			}
			cv = n
		}
		if cv == nil {
			delete(vals, f.Name)
		} else {
			vals[f.Name] = cv
		}
	}
	return nil
}

// checkConstraints enforces required fields, unique fields and duplicate
// rules on the values a record would have.
func (s *Server) checkConstraints(o *object, id string, vals map[string]any, create bool) *fieldError {
	if create {
		var missing []string
		for _, f := range o.fields {
			if f.Required && !f.System && vals[f.Name] == nil {
				missing = append(missing, f.Name)
			}
		}
		if len(missing) > 0 {
			return &fieldError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + strings.Join(missing, ", ") + "]", missing}
		}
	}
	if o.uniq == nil {
		o.reindex()
	}
	for _, f := range o.fields {
		if !f.Unique {
			continue
		}
		v, ok := vals[f.Name].(string)
		if !ok || v == "" {
			continue
		}
		if other, found := o.uniq[f.Name][uniqKey(f, v)]; found && other != id {
			return &fieldError{"DUPLICATE_VALUE", fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f.Name, other), []string{f.Name}}
		}
	}
	if create {
		for _, rule := range o.dupRules {
			for _, oid := range o.order {
				r := o.records[oid]
				if r == nil || r.deleted {
					continue
				}
				same := true
				for _, fn := range rule {
					a, _ := vals[fn].(string)
					b, _ := r.v[fn].(string)
					if a == "" || !strings.EqualFold(a, b) {
						same = false
						break
					}
				}
				if same {
					return &fieldError{"DUPLICATES_DETECTED", "Use one of these records?", nil}
				}
			}
		}
	}
	return nil
}

// create inserts a record.
func (s *Server) create(o *object, fields map[string]any, w writer) (*record, *fieldError) {
	vals := map[string]any{}
	if ferr := s.setFields(o, vals, fields, true); ferr != nil {
		return nil, ferr
	}
	if o.field("OwnerId") != nil && vals["OwnerId"] == nil {
		vals["OwnerId"] = w.user
	}
	if ferr := s.checkConstraints(o, "", vals, true); ferr != nil {
		return nil, ferr
	}
	r := &record{id: s.newRecordID(o), obj: o, v: vals}
	now := s.stamp()
	r.v["CreatedDate"], r.v["CreatedById"] = now, w.user
	s.touch(r, now, w)
	o.records[r.id] = r
	o.order = append(o.order, r.id)
	o.index(r, true)
	return r, nil
}

// update changes a record.
func (s *Server) update(r *record, fields map[string]any, w writer) *fieldError {
	if r.deleted {
		return &fieldError{"ENTITY_IS_DELETED", "entity is deleted", nil}
	}
	if r.lockCode != "" {
		return &fieldError{r.lockCode, r.lockMsg, nil}
	}
	vals := make(map[string]any, len(r.v))
	for k, v := range r.v {
		vals[k] = v
	}
	if ferr := s.setFields(r.obj, vals, fields, false); ferr != nil {
		return ferr
	}
	if ferr := s.checkConstraints(r.obj, r.id, vals, false); ferr != nil {
		return ferr
	}
	r.obj.index(r, false)
	r.v = vals
	r.obj.index(r, true)
	s.touch(r, s.stamp(), w)
	return nil
}

// touch stamps a changed record and notifies outbound messages.
func (s *Server) touch(r *record, now time.Time, w writer) {
	r.v["LastModifiedDate"], r.v["SystemModstamp"], r.v["LastModifiedById"] = now, now, w.user
	if r.obj.derived != nil {
		r.obj.derived(r)
	}
	if w.api {
		r.writes++
	}
	if s.out != nil {
		s.out.changed(r)
	}
}

// remove moves a record to the recycle bin.
func (s *Server) remove(r *record, w writer) *fieldError {
	if r.deleted {
		return &fieldError{"ENTITY_IS_DELETED", "entity is deleted", nil}
	}
	if r.lockCode != "" {
		return &fieldError{r.lockCode, r.lockMsg, nil}
	}
	r.obj.index(r, false)
	r.deleted = true
	now := s.stamp()
	r.v["SystemModstamp"], r.v["LastModifiedById"] = now, w.user
	if w.api {
		r.writes++
	}
	return nil
}

// byExternal finds the live record whose external-id field equals value;
// several is set when more than one does.
func (o *object) byExternal(f *Field, value string) (r *record, several []*record) {
	if f.Unique {
		if o.uniq == nil {
			o.reindex()
		}
		if id, ok := o.uniq[f.Name][uniqKey(f, value)]; ok {
			return o.records[id], nil
		}
		return nil, nil
	}
	for _, id := range o.order {
		x := o.records[id]
		if x == nil || x.deleted {
			continue
		}
		v, _ := x.v[f.Name].(string)
		if f.Name == "Id" {
			v = x.id
			value = normID(value)
		}
		if v == value || !f.CaseSensitive && strings.EqualFold(v, value) {
			several = append(several, x)
		}
	}
	if len(several) == 1 {
		return several[0], nil
	}
	if len(several) > 1 {
		return nil, several
	}
	return nil, nil
}

// snapshot copies the org's records, for all-or-none rollbacks.
type snapshot map[*object]struct {
	records map[string]*record
	order   []string
}

func (s *Server) snapshot() snapshot {
	snap := snapshot{}
	for _, o := range s.objects {
		recs := make(map[string]*record, len(o.records))
		for id, r := range o.records {
			recs[id] = r.clone()
		}
		snap[o] = struct {
			records map[string]*record
			order   []string
		}{recs, append([]string(nil), o.order...)}
	}
	return snap
}

func (s *Server) restore(snap snapshot) {
	for o, st := range snap {
		o.records, o.order = st.records, st.order
		o.reindex()
	}
}
