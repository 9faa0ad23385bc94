package hubspot

import (
	"fmt"
	"net/http"
)

func (s *Server) propertyList(t *objectType, archived bool) []property {
	out := []property{}
	for _, n := range t.propOrder {
		if p := t.props[n]; p.Archived == archived {
			out = append(out, *p)
		}
	}
	return out
}

func (s *Server) handleListProperties(w http.ResponseWriter, r *http.Request, t *objectType) {
	archived := boolParam(r, "archived", false)
	writeJSON(w, http.StatusOK, map[string]any{"results": s.propertyList(t, archived)})
}

func (s *Server) handleGetProperty(w http.ResponseWriter, r *http.Request, t *objectType) {
	archived := boolParam(r, "archived", false)
	_, p, ok := pathProperty(w, r, t, archived)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// createProperty adds a user-defined property. Callers hold s.mu.
func (s *Server) createProperty(t *objectType, in property) (*property, *httpError) {
	if msg := validateDefinition(&in, true); msg != "" {
		return nil, badRequest("%s", msg)
	}
	if in.HasUniqueValue && (t.id == typeNote || t.id == typeTask) {
		// HubSpot documents unique-value properties for contacts,
		// companies, deals, tickets and custom objects, not for
		// engagements (https://developers.hubspot.com/changelog/unique-properties-for-contacts),
		// so notes and tasks have no key to upsert on: the fake refuses
		// one (the message is the fake's own).
		return nil, badRequest("hasUniqueValue is not supported for properties of object type %s", t.id)
	}
	if !t.hasGroup(in.GroupName) {
		return nil, badRequest("Property group '%s' does not exist on object type %s", in.GroupName, t.id)
	}
	if old := t.props[in.Name]; old != nil {
		if old.Archived {
			return nil, newHTTPError(http.StatusConflict, "OBJECT_ALREADY_EXISTS",
				fmt.Sprintf("Property named '%s' already exists as an archived property; restore it or choose another name.", in.Name))
		}
		return nil, newHTTPError(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", in.Name))
	}
	p := customProperty(in, s.now())
	t.addProp(&p)
	return &p, nil
}

func (s *Server) handleCreateProperty(w http.ResponseWriter, r *http.Request, t *objectType, in property) {
	p, e := s.createProperty(t, in)
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

// propertyPatch is PropertyUpdate.
type propertyPatch struct {
	Label        *string   `json:"label"`
	Type         *string   `json:"type"`
	FieldType    *string   `json:"fieldType"`
	GroupName    *string   `json:"groupName"`
	Description  *string   `json:"description"`
	Options      *[]option `json:"options"`
	DisplayOrder *int      `json:"displayOrder"`
	Hidden       *bool     `json:"hidden"`
	FormField    *bool     `json:"formField"`
	// HasUniqueValue cannot change; a differing value is refused.
	HasUniqueValue *bool `json:"hasUniqueValue"`
}

// pathProperty finds the request's {propertyName} among t's properties,
// archived or not, answering 404 as HubSpot does when there is none.
func pathProperty(w http.ResponseWriter, r *http.Request, t *objectType, archived bool) (name string, p *property, ok bool) {
	name = r.PathValue("propertyName")
	if p = t.props[name]; p == nil || p.Archived != archived {
		writeHTTPError(w, notFound("Unable to find property %s on object type %s", name, t.id))
		return name, nil, false
	}
	return name, p, true
}

// patch sets *field to the patch's value, unless the patch leaves it out
// (nil).
func patch[T any](field *T, value *T) {
	if value != nil {
		*field = *value
	}
}

func (s *Server) handlePatchProperty(w http.ResponseWriter, r *http.Request, t *objectType, in propertyPatch) {
	name, p, ok := pathProperty(w, r, t, false)
	if !ok {
		return
	}
	if p.ModificationMetadata.ReadOnlyDefinition {
		writeHTTPError(w, badRequest("Property %s is defined by HubSpot and cannot be changed", name))
		return
	}
	if in.HasUniqueValue != nil && *in.HasUniqueValue != p.HasUniqueValue {
		writeHTTPError(w, badRequest("hasUniqueValue of property %s cannot be changed once the property exists", name))
		return
	}
	np := *p
	patch(&np.Label, in.Label)
	patch(&np.Type, in.Type)
	patch(&np.FieldType, in.FieldType)
	patch(&np.GroupName, in.GroupName)
	patch(&np.Description, in.Description)
	patch(&np.Options, in.Options)
	patch(&np.DisplayOrder, in.DisplayOrder)
	patch(&np.Hidden, in.Hidden)
	patch(&np.FormField, in.FormField)
	if msg := validateDefinition(&np, true); msg != "" {
		writeHTTPError(w, badRequest("%s", msg))
		return
	}
	if !t.hasGroup(np.GroupName) {
		writeHTTPError(w, badRequest("Property group '%s' does not exist on object type %s", np.GroupName, t.id))
		return
	}
	if np.Options == nil {
		np.Options = []option{}
	}
	np.UpdatedAt = iso(s.now())
	*p = np
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleDeleteProperty(w http.ResponseWriter, r *http.Request, t *objectType) {
	name, p, ok := pathProperty(w, r, t, false)
	if !ok {
		return
	}
	if !p.ModificationMetadata.Archivable {
		writeHTTPError(w, badRequest("Property %s cannot be archived", name))
		return
	}
	p.Archived = true
	p.UpdatedAt = iso(s.now())
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleBatchCreateProperties(w http.ResponseWriter, r *http.Request, t *objectType, inputs []property) {
	started := s.now()
	results := []property{}
	var errs []standardError
	for _, x := range inputs {
		p, e := s.createProperty(t, x)
		if e != nil {
			se := newStandardError(e.body.Category, e.body.Message, map[string][]string{"name": {x.Name}})
			errs = append(errs, se)
			continue
		}
		results = append(results, *p)
	}
	if len(results) == 0 && len(errs) > 0 {
		writeErrorDetail(w, http.StatusBadRequest, apiError{Category: errs[0].Category, Message: errs[0].Message, Context: errs[0].Context})
		return
	}
	writeJSON(w, batchStatus(errs, http.StatusCreated), batchBody(started, s.now(), results, errs))
}

// propertyNames is the body of a batch read or archive of properties.
type propertyNames struct {
	Inputs   []struct{ Name string } `json:"inputs"`
	Archived bool                    `json:"archived"`
}

func (s *Server) handleBatchReadProperties(w http.ResponseWriter, r *http.Request, t *objectType, in propertyNames) {
	started := s.now()
	results := []property{}
	var missing []string
	for _, x := range in.Inputs {
		if p := t.props[x.Name]; p != nil && p.Archived == in.Archived {
			results = append(results, *p)
		} else {
			missing = append(missing, x.Name)
		}
	}
	var errs []standardError
	if len(missing) > 0 {
		errs = append(errs, newStandardError("OBJECT_NOT_FOUND", "Unable to find some properties", map[string][]string{"names": missing}))
	}
	writeJSON(w, batchStatus(errs, http.StatusOK), batchBody(started, s.now(), results, errs))
}

func (s *Server) handleBatchArchiveProperties(w http.ResponseWriter, r *http.Request, t *objectType, in propertyNames) {
	for _, x := range in.Inputs {
		if p := t.props[x.Name]; p != nil && p.ModificationMetadata.Archivable {
			p.Archived = true
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- property groups -----------------------------------------------------------------

func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request, t *objectType) {
	res := []propertyGroup{}
	for _, g := range t.groups {
		if !g.Archived {
			res = append(res, g)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

func (s *Server) handleGetGroup(w http.ResponseWriter, r *http.Request, t *objectType) {
	name := r.PathValue("groupName")
	for _, g := range t.groups {
		if g.Name == name && !g.Archived {
			writeJSON(w, http.StatusOK, g)
			return
		}
	}
	writeHTTPError(w, notFound("Unable to find property group %s on object type %s", name, t.id))
}

func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request, t *objectType, in propertyGroup) {
	switch {
	case in.Name == "" || !propNameRE.MatchString(in.Name):
		writeHTTPError(w, badRequest("Property group name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", in.Name))
		return
	case in.Label == "":
		writeHTTPError(w, badRequest("label is required"))
		return
	case t.hasGroup(in.Name):
		writeHTTPError(w, newHTTPError(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property group named '%s' already exists.", in.Name)))
		return
	}
	in.Archived = false
	t.groups = append(t.groups, in)
	writeJSON(w, http.StatusCreated, in)
}
