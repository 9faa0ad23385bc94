package hubspot

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// resolve finds an object type by a path segment the way HubSpot accepts
// it: the type id ("0-1", "2-3465401"); for standard objects the name,
// plural or singular ("contacts", "contact"); for custom objects the fully
// qualified name ("p62515_partner_registration") or its short form
// ("p_partner_registration"). HubSpot does not document the plain name of a
// custom object ("partner_registration") and the fake refuses it. Callers
// hold s.mu.
func (s *Server) resolve(name string) *objectType {
	if t := s.types[name]; t != nil {
		if t.schema != nil && t.schema.archived {
			return nil
		}
		return t
	}
	l := strings.ToLower(name)
	for _, id := range s.typeOrder {
		t := s.types[id]
		if t.custom {
			if t.schema.archived {
				continue
			}
			if l == strings.ToLower(t.fqn) || l == "p_"+t.name {
				return t
			}
			continue
		}
		if l == t.name || l == t.singular {
			return t
		}
	}
	return nil
}

// --- custom object schemas ------------------------------------------------------------

// labels are an object type's display names.
type labels struct {
	Singular string `json:"singular"`
	Plural   string `json:"plural"`
}

// schemaEgg is the body of POST /crm-object-schemas/v3/schemas.
type schemaEgg struct {
	Name                       string      `json:"name"`
	Labels                     labels      `json:"labels"`
	Description                string      `json:"description"`
	Properties                 []*property `json:"properties"`
	RequiredProperties         []string    `json:"requiredProperties"`
	SearchableProperties       []string    `json:"searchableProperties"`
	PrimaryDisplayProperty     string      `json:"primaryDisplayProperty"`
	SecondaryDisplayProperties []string    `json:"secondaryDisplayProperties"`
	AssociatedObjects          []string    `json:"associatedObjects"`
	AllowsSensitiveProperties  bool        `json:"allowsSensitiveProperties"`
}

// partnerSchema is the custom object a non-bare portal already has: the
// partners of the program, as some RevOps teams keep them.
func partnerSchema() schemaEgg {
	return schemaEgg{
		Name:   "partner",
		Labels: labels{Singular: "Partner", Plural: "Partners"},
		Properties: []*property{
			{Name: "partner_id", Label: "Partner ID", Type: "string", FieldType: "text", HasUniqueValue: true},
			{Name: "partner_name", Label: "Partner name", Type: "string", FieldType: "text"},
			{Name: "partner_type", Label: "Partner type", Type: "enumeration", FieldType: "select", Options: []option{
				{Label: "Reseller", Value: "reseller"}, {Label: "Referral", Value: "referral", DisplayOrder: 1},
				{Label: "Systems integrator", Value: "si", DisplayOrder: 2}}},
			{Name: "tier", Label: "Tier", Type: "enumeration", FieldType: "select", Options: []option{
				{Label: "Silver", Value: "silver"}, {Label: "Gold", Value: "gold", DisplayOrder: 1},
				{Label: "Platinum", Value: "platinum", DisplayOrder: 2}}},
			{Name: "email_domains", Label: "E-mail domains", Type: "string", FieldType: "textarea"},
			{Name: "active", Label: "Active", Type: "bool", FieldType: "booleancheckbox", Options: []option{
				{Label: "Yes", Value: "true"}, {Label: "No", Value: "false", DisplayOrder: 1}}},
		},
		RequiredProperties:     []string{"partner_id", "partner_name"},
		SearchableProperties:   []string{"partner_id", "partner_name"},
		PrimaryDisplayProperty: "partner_name",
		AssociatedObjects:      []string{"COMPANY", "DEAL"},
	}
}

// createSchema defines a custom object. Callers need not hold s.mu.
func (s *Server) createSchema(egg schemaEgg) (*objectType, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createSchemaLocked(egg)
}

func (s *Server) createSchemaLocked(egg schemaEgg) (*objectType, *httpError) {
	switch {
	case egg.Name == "":
		return nil, badRequest("name is required")
	case len(egg.Name) > 100 || !objectNameRE.MatchString(egg.Name):
		return nil, badRequest("Object name %q is invalid: it must start with a letter and contain only lowercase letters, digits and underscores", egg.Name)
	case strings.TrimSpace(egg.Labels.Singular) == "" || strings.TrimSpace(egg.Labels.Plural) == "":
		return nil, badRequest("labels.singular and labels.plural are required")
	case egg.Properties == nil:
		return nil, badRequest("properties is required")
	case egg.AssociatedObjects == nil:
		return nil, badRequest("associatedObjects is required")
	}
	for _, id := range s.typeOrder {
		t := s.types[id]
		if t.name == egg.Name || t.singular == egg.Name {
			e := newHTTPError(http.StatusConflict, "OBJECT_ALREADY_EXISTS",
				fmt.Sprintf("Can't create object type with name '%s' because there's already an object type with that name: %s", egg.Name, t.id))
			return nil, e
		}
	}
	s.nextCustom++
	id := "2-" + strconv.Itoa(s.nextCustom)
	now := s.now()
	t := newType(id, egg.Name, egg.Name, "hs_createdate", "hs_lastmodifieddate", "object")
	t.custom = true
	t.fqn = fmt.Sprintf("p%d_%s", s.opts.PortalID, egg.Name)
	group := egg.Name + "_information"
	t.groups = []propertyGroup{{Name: group, Label: egg.Labels.Singular + " information"}}
	systemProps(t, group)
	for _, name := range []string{"hs_object_id", t.createdDate, t.modifiedDate} {
		p := t.props[name]
		p.CreatedAt, p.UpdatedAt = iso(now), iso(now)
	}
	seen := map[string]bool{}
	for i, in := range egg.Properties {
		if in == nil {
			return nil, badRequest("properties[%d] is null", i)
		}
		p := *in
		if p.GroupName == "" {
			p.GroupName = group
		}
		if msg := validateDefinition(&p, false); msg != "" {
			return nil, badRequest("properties[%d]: %s", i, msg)
		}
		if p.GroupName != group {
			return nil, badRequest("properties[%d]: property group '%s' does not exist", i, p.GroupName)
		}
		if seen[p.Name] || t.props[p.Name] != nil {
			return nil, badRequest("properties[%d]: duplicate property name %q", i, p.Name)
		}
		seen[p.Name] = true
		p = customProperty(p, now)
		t.addProp(&p)
	}
	for _, list := range [][]string{egg.RequiredProperties, egg.SearchableProperties, egg.SecondaryDisplayProperties, {egg.PrimaryDisplayProperty}} {
		for _, n := range list {
			if n != "" && t.props[n] == nil {
				return nil, badRequest("Property %q is named in the schema but not defined in its properties", n)
			}
		}
	}
	var targets []*objectType
	for _, a := range egg.AssociatedObjects {
		to := s.resolve(a)
		if to == nil {
			return nil, badRequest("associatedObjects: unknown object type %q", a)
		}
		targets = append(targets, to)
	}
	t.schema = &schemaMeta{
		numericID:     strconv.Itoa(s.nextCustom),
		labelSingular: egg.Labels.Singular, labelPlural: egg.Labels.Plural,
		description:                egg.Description,
		requiredProperties:         slices.Clone(egg.RequiredProperties),
		searchableProperties:       slices.Clone(egg.SearchableProperties),
		primaryDisplayProperty:     egg.PrimaryDisplayProperty,
		secondaryDisplayProperties: slices.Clone(egg.SecondaryDisplayProperties),
		createdAt:                  now, updatedAt: now,
	}
	t.defaults = []string{"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
	t.searchable = slices.Clone(egg.SearchableProperties)
	if egg.PrimaryDisplayProperty != "" && !slices.Contains(t.searchable, egg.PrimaryDisplayProperty) {
		t.searchable = append(t.searchable, egg.PrimaryDisplayProperty)
	}
	s.types[id] = t
	s.typeOrder = append(s.typeOrder, id)
	for _, to := range targets {
		s.defineAssociation(t.id, to.id, "USER_DEFINED", "")
	}
	// Activities can be logged on every custom object.
	for _, act := range []string{typeTask, typeNote} {
		s.defineAssociation(act, t.id, "HUBSPOT_DEFINED", "")
	}
	return t, nil
}

// customProperty fills the server-managed fields of a user-defined property.
func customProperty(p property, now time.Time) property {
	p.HubspotDefined = false
	p.Calculated = false
	p.ExternalOptions = false
	p.Archived = false
	p.ModificationMetadata = modificationMetadata{Archivable: true}
	p.CreatedAt, p.UpdatedAt = iso(now), iso(now)
	if p.Options == nil {
		p.Options = []option{}
	}
	return p
}

// schemaJSON is an ObjectSchema as the schemas API answers it.
type schemaJSON struct {
	ID                         string         `json:"id"`
	ObjectTypeID               string         `json:"objectTypeId"`
	FullyQualifiedName         string         `json:"fullyQualifiedName"`
	Name                       string         `json:"name"`
	Labels                     labels         `json:"labels"`
	Description                string         `json:"description,omitempty"`
	PortalID                   int            `json:"portalId,omitempty"`
	MetaType                   string         `json:"metaType"`
	Properties                 []property     `json:"properties,omitempty"`
	Associations               []assocDefJSON `json:"associations,omitempty"`
	RequiredProperties         []string       `json:"requiredProperties"`
	SearchableProperties       []string       `json:"searchableProperties"`
	PrimaryDisplayProperty     string         `json:"primaryDisplayProperty,omitempty"`
	SecondaryDisplayProperties []string       `json:"secondaryDisplayProperties"`
	AllowsSensitiveProperties  bool           `json:"allowsSensitiveProperties"`
	Archived                   bool           `json:"archived"`
	CreatedAt                  string         `json:"createdAt,omitempty"`
	UpdatedAt                  string         `json:"updatedAt,omitempty"`
	CreatedByUserID            *int           `json:"createdByUserId,omitempty"`
	UpdatedByUserID            *int           `json:"updatedByUserId,omitempty"`
}

// assocDefJSON is an AssociationDefinition of the schemas API.
type assocDefJSON struct {
	ID               string `json:"id"`
	FromObjectTypeID string `json:"fromObjectTypeId"`
	ToObjectTypeID   string `json:"toObjectTypeId"`
	Name             string `json:"name,omitempty"`
	CreatedAt        string `json:"createdAt,omitempty"`
	UpdatedAt        string `json:"updatedAt,omitempty"`
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// schemaView renders a custom object's schema. Callers hold s.mu.
func (s *Server) schemaView(t *objectType, withProps, withAssocs, withAudit bool) schemaJSON {
	m := t.schema
	v := schemaJSON{
		ID: m.numericID, ObjectTypeID: t.id, FullyQualifiedName: t.fqn, Name: t.name,
		Labels: labels{Singular: m.labelSingular, Plural: m.labelPlural}, Description: m.description,
		PortalID: s.opts.PortalID, MetaType: "PORTAL_SPECIFIC",
		RequiredProperties: nonNil(slices.Clone(m.requiredProperties)), SearchableProperties: nonNil(slices.Clone(m.searchableProperties)),
		PrimaryDisplayProperty: m.primaryDisplayProperty, SecondaryDisplayProperties: nonNil(slices.Clone(m.secondaryDisplayProperties)),
		Archived: m.archived,
	}
	if withAudit {
		v.CreatedAt, v.UpdatedAt = iso(m.createdAt), iso(m.updatedAt)
	}
	if withProps {
		v.Properties = []property{}
		for _, n := range t.propOrder {
			if p := t.props[n]; !p.Archived {
				v.Properties = append(v.Properties, *p)
			}
		}
	}
	if withAssocs {
		v.Associations = []assocDefJSON{}
		for _, key := range s.assocPairs() {
			if key[0] != t.id && key[1] != t.id {
				continue
			}
			for _, a := range s.assocTypes[key] {
				if a.label != "" || a.category != "USER_DEFINED" || a.from != t.id {
					continue
				}
				v.Associations = append(v.Associations, assocDefJSON{ID: strconv.Itoa(a.id), FromObjectTypeID: a.from,
					ToObjectTypeID: a.to, Name: a.name, CreatedAt: iso(a.created), UpdatedAt: iso(a.created)})
			}
		}
	}
	return v
}

func boolParam(r *http.Request, name string, def bool) bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

func (s *Server) handleListSchemas(w http.ResponseWriter, r *http.Request) {
	archived := boolParam(r, "archived", false)
	props := boolParam(r, "includePropertyDefinitions", true)
	assocs := boolParam(r, "includeAssociationDefinitions", true)
	audit := boolParam(r, "includeAuditMetadata", true)
	s.mu.RLock()
	res := []schemaJSON{}
	for _, id := range s.typeOrder {
		t := s.types[id]
		if t.custom && t.schema.archived == archived {
			res = append(res, s.schemaView(t, props, assocs, audit))
		}
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

// customType resolves a schema path segment to a custom object type.
func (s *Server) customType(name string) (*objectType, *httpError) {
	t := s.resolve(name)
	if t == nil {
		return nil, notFound("Unable to find object type with name or id %s", name)
	}
	if !t.custom {
		return nil, badRequest("%s is a standard object type: the schemas API only manages custom objects", name)
	}
	return t, nil
}

func (s *Server) handleGetSchema(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	t, e := s.customType(r.PathValue("objectType"))
	var v schemaJSON
	if e == nil {
		v = s.schemaView(t, boolParam(r, "includePropertyDefinitions", true),
			boolParam(r, "includeAssociationDefinitions", true), boolParam(r, "includeAuditMetadata", true))
	}
	s.mu.RUnlock()
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleCreateSchema(w http.ResponseWriter, r *http.Request) {
	var egg schemaEgg
	if !readJSON(w, r, &egg) {
		return
	}
	s.mu.Lock()
	t, e := s.createSchemaLocked(egg)
	var v schemaJSON
	if e == nil {
		v = s.schemaView(t, true, true, true)
	}
	s.mu.Unlock()
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// schemaPatch is ObjectTypeDefinitionPatch.
type schemaPatch struct {
	Labels                     *labels   `json:"labels"`
	Description                *string   `json:"description"`
	ClearDescription           bool      `json:"clearDescription"`
	RequiredProperties         *[]string `json:"requiredProperties"`
	SearchableProperties       *[]string `json:"searchableProperties"`
	PrimaryDisplayProperty     *string   `json:"primaryDisplayProperty"`
	SecondaryDisplayProperties *[]string `json:"secondaryDisplayProperties"`
	AllowsSensitiveProperties  *bool     `json:"allowsSensitiveProperties"`
	Restorable                 *bool     `json:"restorable"`
}

func (s *Server) handlePatchSchema(w http.ResponseWriter, r *http.Request) {
	var p schemaPatch
	t, unlock, ok := s.lockSchema(w, r, forWriting, &p)
	if !ok {
		return
	}
	defer unlock()
	for _, list := range []*[]string{p.RequiredProperties, p.SearchableProperties, p.SecondaryDisplayProperties} {
		if list == nil {
			continue
		}
		for _, n := range *list {
			if t.props[n] == nil {
				writeHTTPError(w, badRequest("Property %q does not exist on %s", n, t.fqn))
				return
			}
		}
	}
	if p.PrimaryDisplayProperty != nil && *p.PrimaryDisplayProperty != "" && t.props[*p.PrimaryDisplayProperty] == nil {
		writeHTTPError(w, badRequest("Property %q does not exist on %s", *p.PrimaryDisplayProperty, t.fqn))
		return
	}
	m := t.schema
	if p.Labels != nil {
		if p.Labels.Singular != "" {
			m.labelSingular = p.Labels.Singular
		}
		if p.Labels.Plural != "" {
			m.labelPlural = p.Labels.Plural
		}
	}
	if p.Description != nil {
		m.description = *p.Description
	}
	if p.ClearDescription {
		m.description = ""
	}
	if p.RequiredProperties != nil {
		m.requiredProperties = slices.Clone(*p.RequiredProperties)
	}
	if p.SearchableProperties != nil {
		m.searchableProperties = slices.Clone(*p.SearchableProperties)
		t.searchable = slices.Clone(*p.SearchableProperties)
	}
	if p.PrimaryDisplayProperty != nil {
		m.primaryDisplayProperty = *p.PrimaryDisplayProperty
	}
	if p.SecondaryDisplayProperties != nil {
		m.secondaryDisplayProperties = slices.Clone(*p.SecondaryDisplayProperties)
	}
	m.updatedAt = s.now()
	v := s.schemaView(t, false, false, true)
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleDeleteSchema(w http.ResponseWriter, r *http.Request) {
	t, unlock, ok := s.lockSchema(w, r, forWriting, nil)
	if !ok {
		return
	}
	defer unlock()
	for _, id := range t.ids {
		if t.live(id) != nil {
			writeHTTPError(w, badRequest("Object type %s still has records: delete all of its records before deleting the schema", t.fqn))
			return
		}
	}
	t.schema.archived = true
	t.schema.updatedAt = s.now()
	w.WriteHeader(http.StatusNoContent)
}

// assocDefEgg is AssociationDefinitionEgg.
type assocDefEgg struct {
	FromObjectTypeID string `json:"fromObjectTypeId"`
	ToObjectTypeID   string `json:"toObjectTypeId"`
	Name             string `json:"name"`
}

func (s *Server) handleCreateSchemaAssociation(w http.ResponseWriter, r *http.Request) {
	var egg assocDefEgg
	t, unlock, ok := s.lockSchema(w, r, forWriting, &egg)
	if !ok {
		return
	}
	defer unlock()
	from, to := s.resolve(egg.FromObjectTypeID), s.resolve(egg.ToObjectTypeID)
	switch {
	case egg.FromObjectTypeID == "" || egg.ToObjectTypeID == "":
		writeHTTPError(w, badRequest("fromObjectTypeId and toObjectTypeId are required"))
		return
	case from == nil:
		writeHTTPError(w, unknownType(egg.FromObjectTypeID))
		return
	case to == nil:
		writeHTTPError(w, unknownType(egg.ToObjectTypeID))
		return
	case from != t && to != t:
		writeHTTPError(w, badRequest("the association must start or end at %s", t.fqn))
		return
	}
	a := s.defaultAssoc(from.id, to.id)
	if a == nil || a.category != "USER_DEFINED" {
		a = s.defineAssociation(from.id, to.id, "USER_DEFINED", "")
	}
	if egg.Name != "" {
		a.name = egg.Name
	}
	t.schema.updatedAt = s.now()
	writeJSON(w, http.StatusCreated, assocDefJSON{ID: strconv.Itoa(a.id), FromObjectTypeID: a.from, ToObjectTypeID: a.to,
		Name: a.name, CreatedAt: iso(a.created), UpdatedAt: iso(a.created)})
}
