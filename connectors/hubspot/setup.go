package hubspot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
)

// propertyDef is a property definition, as the properties and schemas APIs
// take and answer it.
type propertyDef struct {
	Name           string       `json:"name"`
	Label          string       `json:"label"`
	Type           string       `json:"type"`
	FieldType      string       `json:"fieldType"`
	GroupName      string       `json:"groupName,omitempty"`
	Description    string       `json:"description,omitempty"`
	Options        []propOption `json:"options,omitempty"`
	HasUniqueValue bool         `json:"hasUniqueValue,omitempty"`
	FormField      bool         `json:"formField,omitempty"`
	DisplayOrder   int          `json:"displayOrder,omitempty"`
	Archived       bool         `json:"archived,omitempty"`
}

type propOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// regsyncGroup is the property group regsync creates on deals.
const regsyncGroup = "regsync"

// multiLine are the fields that hold prose.
var multiLine = map[string]bool{"problem": true, "solution_fit": true, "status_message": true,
	"services_needed": true, "competing_vendors": true}

// label turns a canonical field name into a label: "sla_due" → "SLA due".
func label(name string) string {
	words := strings.Split(name, "_")
	for i, w := range words {
		switch w {
		case "sla", "id":
			words[i] = strings.ToUpper(w)
		default:
			if i == 0 {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
	}
	return strings.Join(words, " ")
}

// desiredProps lists the registration properties regsync needs, in the
// canonical order, with the derived match keys last.
func (c *Client) desiredProps() []propertyDef {
	var out []propertyDef
	for i, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		p := propertyDef{Name: c.cfg.property(f.Name), Label: label(f.Name), DisplayOrder: i,
			Description: "regsync: " + strings.ReplaceAll(f.Name, "_", " ")}
		switch f.Kind {
		case registration.KindBool:
			p.Type, p.FieldType = "bool", "booleancheckbox"
			p.Options = []propOption{{Label: "Yes", Value: "true", DisplayOrder: 0}, {Label: "No", Value: "false", DisplayOrder: 1}}
		case registration.KindNumber:
			p.Type, p.FieldType = "number", "number"
		case registration.KindTime:
			p.Type, p.FieldType = "datetime", "date"
		default:
			p.Type, p.FieldType = "string", "text"
			if multiLine[f.Name] {
				p.FieldType = "textarea"
			}
		}
		switch f.Name {
		case "status":
			p.Type, p.FieldType = "enumeration", "select"
			for j, s := range registration.Statuses {
				p.Options = append(p.Options, propOption{Label: label(string(s)), Value: string(s), DisplayOrder: j})
			}
		case "submission_key", "case_number":
			p.HasUniqueValue = true
		}
		out = append(out, p)
	}
	out = append(out,
		propertyDef{Name: PropDomainKey, Label: "Domain key", Type: "string", FieldType: "text", DisplayOrder: len(out) + 1,
			Description: "regsync: registrable domain of the company domain, for matching; set by regsync"},
		propertyDef{Name: PropNameKey, Label: "Name key", Type: "string", FieldType: "text", DisplayOrder: len(out) + 2,
			Description: "regsync: normalised company name, for matching; set by regsync"})
	return out
}

// dealPartnerDef is the deal property attribution writes.
func (c *Client) dealPartnerDef() propertyDef {
	return propertyDef{Name: c.cfg.DealPartnerProperty, Label: "Partner ID", Type: "string", FieldType: "text",
		GroupName: regsyncGroup, Description: "regsync: the partner who sourced or registered this deal"}
}

// setup prints what it does and tracks whether anything changed.
type setup struct {
	c       *Client
	w       io.Writer
	changed bool
	warned  bool
}

func (s *setup) printf(format string, args ...any) {
	fmt.Fprintf(s.w, format+"\n", args...)
}

// Setup makes the portal ready for regsync and prints what it did to w:
//
//   - object partner_registration: creates the custom object schema when
//     missing (every registration field as a property of its type,
//     submission_key and case_number with unique values, status an
//     enumeration of the statuses, domain_key and name_key, associations to
//     companies, contacts and deals); when it exists, adds missing
//     properties, missing status options and missing associations;
//   - object deals: creates the property group "regsync" and the same
//     properties on deals;
//   - either way, the deal partner property (deal_partner_property) on deals.
//
// It changes nothing that is already right, says so, and is idempotent. A
// property that exists with another type is reported, never changed: a
// type change could destroy data.
func (c *Client) Setup(ctx context.Context, w io.Writer) (changed bool, err error) {
	s := &setup{c: c, w: w}
	if c.cfg.Object == ObjectDeals {
		defs := c.desiredProps()
		for i := range defs {
			defs[i].GroupName = regsyncGroup
		}
		if p := c.dealPartnerDef(); !slices.ContainsFunc(defs, func(d propertyDef) bool { return d.Name == p.Name }) {
			defs = append(defs, p)
		}
		if err := s.ensureProps(ctx, "deals", "deals", defs, regsyncGroup); err != nil {
			return s.changed, err
		}
	} else {
		if err := s.ensureObject(ctx); err != nil {
			return s.changed, err
		}
		if err := s.ensureProps(ctx, "deals", "deals", []propertyDef{c.dealPartnerDef()}, regsyncGroup); err != nil {
			return s.changed, err
		}
	}
	if err := s.backfillKeys(ctx); err != nil {
		return s.changed, err
	}
	if !s.changed {
		s.printf("nothing to change: HubSpot already has everything regsync needs")
	}
	if s.warned {
		s.printf("some existing properties differ from what regsync expects (see above); regsync left them as they are")
	}
	return s.changed, nil
}

type schemaCreate struct {
	Name                       string        `json:"name"`
	Labels                     schemaLabels  `json:"labels"`
	Description                string        `json:"description,omitempty"`
	PrimaryDisplayProperty     string        `json:"primaryDisplayProperty"`
	SecondaryDisplayProperties []string      `json:"secondaryDisplayProperties"`
	SearchableProperties       []string      `json:"searchableProperties"`
	RequiredProperties         []string      `json:"requiredProperties"`
	Properties                 []propertyDef `json:"properties"`
	AssociatedObjects          []string      `json:"associatedObjects"`
}

type schemaLabels struct {
	Singular string `json:"singular"`
	Plural   string `json:"plural"`
}

// associated are the object types the registration object associates
// with: type id, schema-create name, label.
var associated = []struct{ typeID, name, label string }{
	{"0-2", "COMPANY", "companies"}, {"0-1", "CONTACT", "contacts"}, {"0-3", "DEAL", "deals"},
}

func (s *setup) ensureObject(ctx context.Context) error {
	c := s.c
	sch, err := c.findSchema(ctx)
	if err != nil {
		return err
	}
	if sch == nil {
		p := c.cfg.property
		body := schemaCreate{
			Name:                       ObjectRegistration,
			Labels:                     schemaLabels{Singular: "Partner registration", Plural: "Partner registrations"},
			Description:                "Partner deal registrations, decided and kept up to date by regsync.",
			PrimaryDisplayProperty:     p("case_number"),
			SecondaryDisplayProperties: []string{p("company_name"), p("status")},
			SearchableProperties:       []string{p("case_number"), p("company_name"), p("company_domain"), p("partner_name")},
			RequiredProperties:         []string{},
			Properties:                 c.desiredProps(),
		}
		for _, a := range associated {
			body.AssociatedObjects = append(body.AssociatedObjects, a.name)
		}
		var created schemaInfo
		if _, err := c.post(ctx, "schema create", "/crm-object-schemas/v3/schemas", body, &created); err != nil {
			return fmt.Errorf("hubspot: create the %s custom object: %w", ObjectRegistration, err)
		}
		id := created.ObjectTypeID
		if id == "" {
			id = created.ID
		}
		c.schema.set(id, created.FullyQualifiedName)
		s.changed = true
		s.printf("created custom object %s (%s) with %d properties and associations to companies, contacts and deals",
			ObjectRegistration, id, len(body.Properties))
		return nil
	}
	typeID := sch.ObjectTypeID
	s.printf("custom object %s exists (%s)", ObjectRegistration, typeID)
	if err := s.ensureProps(ctx, typeID, ObjectRegistration, c.desiredProps(), ""); err != nil {
		return err
	}
	// Associations. The list answer may omit them: read the schema itself.
	var full schemaInfo
	if err := c.get(ctx, "schema read", "/crm-object-schemas/v3/schemas/"+typeID, nil, &full); err != nil {
		return fmt.Errorf("hubspot: read the %s schema: %w", ObjectRegistration, err)
	}
	for _, a := range associated {
		has := slices.ContainsFunc(full.Associations, func(d assocDef) bool {
			return (d.FromObjectTypeID == typeID && d.ToObjectTypeID == a.typeID) || (d.ToObjectTypeID == typeID && d.FromObjectTypeID == a.typeID)
		})
		if has {
			continue
		}
		body := map[string]string{"fromObjectTypeId": typeID, "toObjectTypeId": a.typeID,
			"name": ObjectRegistration + "_to_" + strings.TrimSuffix(a.label, "s")}
		if _, err := c.post(ctx, "schema association", "/crm-object-schemas/v3/schemas/"+typeID+"/associations", body, nil); err != nil {
			var ce *connectors.Error
			if errors.As(err, &ce) && ce.Status == http.StatusConflict {
				continue // defined meanwhile
			}
			return fmt.Errorf("hubspot: associate %s with %s: %w", ObjectRegistration, a.label, err)
		}
		s.changed = true
		s.printf("added the association %s ↔ %s", ObjectRegistration, a.label)
	}
	return nil
}

type propertyList struct {
	Results []propertyDef `json:"results"`
}

// ensureProps adds the missing properties of defs to objType (and missing
// options of enumerations); group is the group new properties go to ("":
// the group the object's existing regsync properties use, else its
// default "<object>_information").
func (s *setup) ensureProps(ctx context.Context, objType, objName string, defs []propertyDef, group string) error {
	c := s.c
	var have propertyList
	if err := c.get(ctx, "properties read", "/crm/v3/properties/"+objType, nil, &have); err != nil {
		return fmt.Errorf("hubspot: read %s properties: %w", objName, err)
	}
	byName := map[string]propertyDef{}
	for _, p := range have.Results {
		if !p.Archived {
			byName[p.Name] = p
		}
	}
	if group == "" {
		group = objName + "_information"
		for _, d := range defs {
			if p, ok := byName[d.Name]; ok && p.GroupName != "" {
				group = p.GroupName
				break
			}
		}
		if len(byName) > 0 {
			if _, ok := groupsOf(have.Results)[group]; !ok {
				for g := range groupsOf(have.Results) {
					if strings.HasSuffix(g, "_information") {
						group = g
					}
				}
			}
		}
	} else if err := s.ensureGroup(ctx, objType, objName, group); err != nil {
		return err
	}
	var missing []propertyDef
	for _, d := range defs {
		p, ok := byName[d.Name]
		if !ok {
			d.GroupName = group
			missing = append(missing, d)
			continue
		}
		if p.Type != d.Type {
			s.warned = true
			s.printf("warning: %s property %s is of type %s, regsync expects %s", objName, d.Name, p.Type, d.Type)
			continue
		}
		if d.HasUniqueValue && !p.HasUniqueValue {
			s.warned = true
			s.printf("warning: %s property %s does not require unique values (HubSpot cannot change that after creation); "+
				"upserts on it will not be idempotent", objName, d.Name)
		}
		if d.Type == "enumeration" {
			var add []propOption
			for _, o := range d.Options {
				if !slices.ContainsFunc(p.Options, func(x propOption) bool { return x.Value == o.Value }) {
					add = append(add, o)
				}
			}
			if len(add) == 0 {
				continue
			}
			opts := append([]propOption(nil), p.Options...)
			for _, o := range add {
				o.DisplayOrder = len(opts)
				opts = append(opts, o)
			}
			if _, err := c.do(ctx, call{op: "property update", method: http.MethodPatch,
				path: "/crm/v3/properties/" + objType + "/" + d.Name, body: map[string]any{"options": opts}}); err != nil {
				return fmt.Errorf("hubspot: add options to %s property %s: %w", objName, d.Name, err)
			}
			s.changed = true
			vals := make([]string, len(add))
			for i, o := range add {
				vals[i] = o.Value
			}
			s.printf("added %d options to %s property %s: %s", len(add), objName, d.Name, strings.Join(vals, ", "))
		}
	}
	if len(missing) == 0 {
		s.printf("%s: all %d properties regsync needs exist", objName, len(defs))
		return nil
	}
	for _, ch := range chunks(len(missing), batchSize) {
		part := missing[ch[0]:ch[1]]
		var ans struct {
			Errors []batchError `json:"errors"`
		}
		if _, err := c.post(ctx, "properties create", "/crm/v3/properties/"+objType+"/batch/create",
			map[string]any{"inputs": part}, &ans); err != nil {
			return fmt.Errorf("hubspot: create %d %s properties: %w", len(part), objName, err)
		}
		if len(ans.Errors) > 0 {
			var errs []error
			for _, be := range ans.Errors {
				errs = append(errs, c.batchErr("properties create", be))
			}
			return fmt.Errorf("hubspot: create %s properties: %w", objName, errors.Join(errs...))
		}
	}
	s.changed = true
	names := make([]string, len(missing))
	for i, d := range missing {
		names[i] = d.Name
	}
	s.printf("added %d %s properties: %s", len(missing), objName, strings.Join(names, ", "))
	return nil
}

func groupsOf(ps []propertyDef) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		if p.GroupName != "" {
			m[p.GroupName] = true
		}
	}
	return m
}

// ensureGroup creates a property group when missing.
func (s *setup) ensureGroup(ctx context.Context, objType, objName, group string) error {
	c := s.c
	var have struct {
		Results []struct {
			Name     string `json:"name"`
			Archived bool   `json:"archived"`
		} `json:"results"`
	}
	if err := c.get(ctx, "property groups read", "/crm/v3/properties/"+objType+"/groups", nil, &have); err != nil {
		return fmt.Errorf("hubspot: read %s property groups: %w", objName, err)
	}
	for _, g := range have.Results {
		if g.Name == group && !g.Archived {
			return nil
		}
	}
	body := map[string]any{"name": group, "label": "regsync", "displayOrder": -1}
	if _, err := c.post(ctx, "property group create", "/crm/v3/properties/"+objType+"/groups", body, nil); err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == http.StatusConflict {
			return nil
		}
		return fmt.Errorf("hubspot: create the %s property group %s: %w", objName, group, err)
	}
	s.changed = true
	s.printf("created the %s property group %s", objName, group)
	return nil
}

// backfillKeys writes domain_key and name_key on every registration whose
// stored keys differ from its company domain and name (registrations that
// existed before regsync, imported, or edited by hand), so that rival
// searches find them.
func (s *setup) backfillKeys(ctx context.Context) error {
	c := s.c
	t, err := c.regType(ctx)
	if err != nil {
		return err
	}
	var ps []pending
	err = c.list(ctx, t, []string{c.cfg.property("company_domain"), c.cfg.property("company_name"),
		c.cfg.property("case_number"), c.cfg.property("submission_key"), PropDomainKey, PropNameKey}, nil, func(objs []object) error {
		for i := range objs {
			o := &objs[i]
			if !c.isRegistration(o) {
				continue
			}
			r := registration.Record{CompanyDomain: o.prop(c.cfg.property("company_domain")), CompanyName: o.prop(c.cfg.property("company_name"))}
			r.Index()
			if o.prop(PropDomainKey) != r.DomainKey || o.prop(PropNameKey) != r.NameKey {
				ps = append(ps, pending{i: len(ps), key: o.ID, in: writeInput{ID: o.ID,
					Properties: map[string]string{PropDomainKey: r.DomainKey, PropNameKey: r.NameKey}}})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	res := make([]connectors.Result, len(ps))
	if err := c.writeBatches(ctx, t, "update", ps, res); err != nil {
		return fmt.Errorf("hubspot: write the match keys of %d registrations: %w", len(ps), err)
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
	}
	s.changed = true
	s.printf("wrote the match keys (%s, %s) of %d registrations", PropDomainKey, PropNameKey, len(ps)-failed)
	if failed > 0 {
		s.warned = true
		s.printf("warning: %d registrations refused their match keys", failed)
	}
	return nil
}
