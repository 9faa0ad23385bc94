package salesforce

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// UI acts as a person working in Salesforce's UI: its changes are not API
// calls (they count neither as calls nor as API writes), are stamped with
// the person's user id, and fire outbound messages like any save.
type UI struct {
	s    *Server
	user string
}

// AsAE returns a UI session of the seed org's first AE.
func (s *Server) AsAE() *UI { return &UI{s: s, user: s.aeUser} }

// AEUserID is the id of the user AsAE acts as.
func (s *Server) AEUserID() string { return s.aeUser }

// UserID returns the id of the active user with this e-mail address or
// username, or "".
func (s *Server) UserID(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.objects["user"].order {
		r := s.objects["user"].records[id]
		if strings.EqualFold(r.v["Email"].(string), email) || strings.EqualFold(r.v["Username"].(string), email) {
			return r.id
		}
	}
	return ""
}

// uiValues converts Go values to the JSON forms the API takes.
func uiValues(fields map[string]any) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		switch x := v.(type) {
		case int:
			out[k] = float64(x)
		case int64:
			out[k] = float64(x)
		case time.Time:
			out[k] = x.UTC().Format(time.RFC3339)
		default:
			out[k] = v
		}
	}
	return out
}

func uiErr(fe *fieldError) error {
	if fe == nil {
		return nil
	}
	return fmt.Errorf("%s: %s", fe.code, fe.msg)
}

// Create saves a new record and returns its id.
func (u *UI) Create(object string, fields map[string]any) (string, error) {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	o := u.s.objects[lower(object)]
	if o == nil {
		return "", fmt.Errorf("no object %s", object)
	}
	r, fe := u.s.create(o, uiValues(fields), writer{user: u.user})
	if fe != nil {
		return "", uiErr(fe)
	}
	return r.id, nil
}

// Update saves changes to a record.
func (u *UI) Update(object, id string, fields map[string]any) error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	r := u.s.byID(id)
	if r == nil || !strings.EqualFold(r.obj.name, object) {
		return fmt.Errorf("no %s %s", object, id)
	}
	return uiErr(u.s.update(r, uiValues(fields), writer{user: u.user}))
}

// Delete moves a record to the recycle bin.
func (u *UI) Delete(object, id string) error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	r := u.s.byID(id)
	if r == nil || !strings.EqualFold(r.obj.name, object) {
		return fmt.Errorf("no %s %s", object, id)
	}
	return uiErr(u.s.remove(r, writer{user: u.user}))
}

// Undelete restores a record from the recycle bin.
func (u *UI) Undelete(object, id string) error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	r := u.s.byID(id)
	if r == nil || !r.deleted {
		return fmt.Errorf("no deleted %s %s", object, id)
	}
	r.deleted = false
	r.obj.index(r, true)
	u.s.touch(r, u.s.stamp(), writer{user: u.user})
	return nil
}

// Get returns a copy of a record's values (API names; dates and datetimes
// as time.Time; IsDeleted set), or false when there is no such record.
func (s *Server) Get(object, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byID(id)
	if r == nil || !strings.EqualFold(r.obj.name, object) {
		return nil, false
	}
	return s.values(r), true
}

func (s *Server) values(r *record) map[string]any {
	out := make(map[string]any, len(r.v)+2)
	for k, v := range r.v {
		out[k] = v
	}
	out["Id"], out["IsDeleted"] = r.id, r.deleted
	return out
}

// Records returns copies of an object's records, deleted ones excluded,
// in creation order.
func (s *Server) Records(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil {
		return nil
	}
	var out []map[string]any
	for _, id := range o.order {
		if r := o.records[id]; r != nil && !r.deleted {
			out = append(out, s.values(r))
		}
	}
	return out
}

// Count is the number of live records of an object.
func (s *Server) Count(object string) int { return len(s.Records(object)) }

// Find returns the ids of the live records whose field equals value
// (case-insensitively for text).
func (s *Server) Find(object, field string, value any) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil {
		return nil
	}
	var out []string
	for _, id := range o.order {
		r := o.records[id]
		if r == nil || r.deleted {
			continue
		}
		v := r.v[field]
		if a, ok := v.(string); ok {
			if b, ok := value.(string); ok && strings.EqualFold(a, b) {
				out = append(out, r.id)
			}
			continue
		}
		if v == value {
			out = append(out, r.id)
		}
	}
	return out
}

// Writes is the number of API writes (create, update, upsert, delete)
// applied to the record: a retry that duplicated work shows here.
func (s *Server) Writes(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byID(id); r != nil {
		return r.writes
	}
	return 0
}

// AddField adds (or replaces) a field on an object, as an admin would.
func (s *Server) AddField(object string, f Field) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil {
		return fmt.Errorf("no object %s", object)
	}
	if f.Name == "" || f.Type == "" {
		return errors.New("a field needs a name and a type")
	}
	o.add(&f)
	o.reindex()
	return nil
}

// RemoveField deletes a field from an object.
func (s *Server) RemoveField(object, field string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil || o.byLower[lower(field)] == nil {
		return fmt.Errorf("no field %s.%s", object, field)
	}
	delete(o.byLower, lower(field))
	for i, f := range o.fields {
		if strings.EqualFold(f.Name, field) {
			if f.RelationshipName != "" {
				delete(o.relByLower, lower(f.RelationshipName))
			}
			o.fields = append(o.fields[:i], o.fields[i+1:]...)
			break
		}
	}
	return nil
}

// SetFieldAccess sets what the integration user's field-level security
// allows on a field: hidden (no read), or read-only.
func (s *Server) SetFieldAccess(object, field string, hidden, readOnly bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil || o.byLower[lower(field)] == nil {
		return fmt.Errorf("no field %s.%s", object, field)
	}
	f := o.byLower[lower(field)]
	f.Hidden, f.ReadOnly = hidden, readOnly
	return nil
}

// AddDuplicateRule makes creates of object fail with DUPLICATES_DETECTED
// when an existing record has the same values in all the fields
// (case-insensitively), as an org's duplicate rule set to block does.
func (s *Server) AddDuplicateRule(object string, fields ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[lower(object)]
	if o == nil {
		return fmt.Errorf("no object %s", object)
	}
	var names []string
	for _, f := range fields {
		ff := o.field(f)
		if ff == nil {
			return fmt.Errorf("no field %s.%s", object, f)
		}
		names = append(names, ff.Name)
	}
	o.dupRules = append(o.dupRules, names)
	return nil
}

// LockRecord makes every write to the record fail with code and message
// (CANNOT_UPDATE_CONVERTED_LEAD, ENTITY_IS_LOCKED, a validation rule's
// FIELD_CUSTOM_VALIDATION_EXCEPTION …); an empty code unlocks it.
func (s *Server) LockRecord(id, code, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byID(id)
	if r == nil {
		return fmt.Errorf("no record %s", id)
	}
	r.lockCode, r.lockMsg = code, message
	return nil
}

// AddRegistrationObject deploys Partner_Registration__c,
// Opportunity.Partner_Id__c and the Task key field into a Bare org, as the
// SFDX package does.
func (s *Server) AddRegistrationObject() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects[lower(RegistrationObject)] == nil {
		s.addRegistrationObject()
	}
	opp := s.objects["opportunity"]
	if opp.byLower["partner_id__c"] == nil {
		opp.add(&Field{Name: "Partner_Id__c", Label: "Partner ID", Type: TypeString, Length: 255, ExternalID: true})
	}
	kf := TaskKeyField()
	if task := s.objects["task"]; task.byLower[lower(kf.Name)] == nil {
		task.add(&kf)
	}
}

func lower(s string) string { return strings.ToLower(s) }
