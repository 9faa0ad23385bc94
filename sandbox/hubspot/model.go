package hubspot

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Standard object type ids, as HubSpot assigns them.
const (
	typeContact = "0-1"
	typeCompany = "0-2"
	typeDeal    = "0-3"
	typeTask    = "0-27"
	typeNote    = "0-46"
)

// isoLayout is how HubSpot renders instants: UTC, milliseconds, Z.
const isoLayout = "2006-01-02T15:04:05.000Z"

func iso(t time.Time) string { return t.UTC().Format(isoLayout) }

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// option is one choice of an enumeration property.
type option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

// property is a property definition, in the shape HubSpot's properties API
// answers with.
type property struct {
	Name                 string               `json:"name"`
	Label                string               `json:"label"`
	Type                 string               `json:"type"`
	FieldType            string               `json:"fieldType"`
	Description          string               `json:"description"`
	GroupName            string               `json:"groupName"`
	Options              []option             `json:"options"`
	DisplayOrder         int                  `json:"displayOrder"`
	Calculated           bool                 `json:"calculated"`
	ExternalOptions      bool                 `json:"externalOptions"`
	HasUniqueValue       bool                 `json:"hasUniqueValue"`
	Hidden               bool                 `json:"hidden"`
	HubspotDefined       bool                 `json:"hubspotDefined,omitempty"`
	FormField            bool                 `json:"formField"`
	ReferencedObjectType string               `json:"referencedObjectType,omitempty"`
	ModificationMetadata modificationMetadata `json:"modificationMetadata"`
	CreatedAt            string               `json:"createdAt,omitempty"`
	UpdatedAt            string               `json:"updatedAt,omitempty"`
	Archived             bool                 `json:"archived"`
}

// record is one CRM object. Values are stored normalised: numbers in
// canonical form, dates and datetimes as epoch milliseconds, booleans as
// "true"/"false". An empty value is never stored.
type record struct {
	id         string
	props      map[string]string
	created    time.Time
	updated    time.Time
	archived   bool
	archivedAt time.Time
	writes     int // writes made through the API (create, update, upsert, archive)

	// written is when the current version was written, on the LimitNow
	// clock (zero: indexed long since); past are the earlier versions
	// search may still show, oldest first (see searchable). Only the
	// writes (createLocked, updateLocked, archiveLocked through
	// Server.wrote) change them.
	written time.Time
	past    []version
}

// version is one state of a record as HubSpot's search index may still
// hold it: the index takes a few seconds to catch up with a write (the
// Limits section of developers.hubspot.com/docs/api-reference/search/guide),
// so until then search matches, sorts, counts and returns the version
// before it. A version's props map is never written to after it was
// current: updateLocked writes a fresh map.
type version struct {
	props    map[string]string
	updated  time.Time
	archived bool
	at       time.Time // written, on the LimitNow clock; zero: indexed long since
}

// maxPending bounds the versions a record keeps for search beyond the one
// search shows: with a lag and many writes to one record within it (or a
// clock that stands still), the oldest pending ones are dropped, and search
// shows the older indexed version until a kept one is old enough.
const maxPending = 32

// searchable is the version of r that search sees at cutoff (now less the
// lag): the newest one written at or before cutoff, as a record to match
// and render (r itself when that is the current version). It is nil while
// even r's first kept version is younger than cutoff (a new record not yet
// indexed), and when the version is archived: search never shows archived
// records.
func (r *record) searchable(cutoff time.Time) *record {
	if r.written.IsZero() || !r.written.After(cutoff) {
		if r.archived {
			return nil
		}
		return r
	}
	for i := len(r.past) - 1; i >= 0; i-- {
		v := r.past[i]
		if !v.at.IsZero() && v.at.After(cutoff) {
			continue
		}
		if v.archived {
			return nil
		}
		return &record{id: r.id, props: v.props, created: r.created, updated: v.updated}
	}
	return nil
}

// supersede keeps the current version, whose properties are props, for
// search before a write replaces it (the write then sets updated, archived
// and written). Callers hold s.mu.
func (r *record) supersede(props map[string]string) {
	r.past = append(r.past, version{props: props, updated: r.updated, archived: r.archived, at: r.written})
}

// trim drops the versions search can no longer show with this lag at now:
// everything older than the newest version written at or before now−lag,
// which is marked as indexed (zero at), so that a longer lag set later
// does not hide the version search showed at this write. It then drops
// the oldest pending versions beyond maxPending. Callers hold s.mu.
func (r *record) trim(now time.Time, lag time.Duration) {
	cutoff := now.Add(-lag)
	if !r.written.After(cutoff) {
		r.past = nil
		r.written = time.Time{}
		return
	}
	for i := len(r.past) - 1; i >= 0; i-- {
		if at := r.past[i].at; at.IsZero() || !at.After(cutoff) {
			r.past = slices.Delete(r.past, 0, i)
			r.past[0].at = time.Time{}
			break
		}
	}
	if n := len(r.past) - 1 - maxPending; n > 0 {
		r.past = slices.Delete(r.past, 1, 1+n)
	}
}

// objectType is one object type of the portal with its properties and records.
type objectType struct {
	id       string // "0-1", "2-1000001"
	name     string // "contacts", "partner_registration"
	singular string // "contact", "partner_registration" (for type names and webhooks)
	fqn      string // "contacts", "p62515_partner_registration"
	custom   bool

	props     map[string]*property
	propOrder []string

	records map[string]*record
	ids     []string                     // creation order (ids ascend)
	unique  map[string]map[string]string // property → value → record id

	// lagging are the records keeping versions for search; swept is how
	// many were left by the last sweep (see Server.wrote).
	lagging map[*record]struct{}
	swept   int

	createdDate  string   // "createdate" or "hs_createdate"
	modifiedDate string   // "lastmodifieddate" or "hs_lastmodifieddate"
	defaults     []string // properties returned when none are asked for
	searchable   []string // properties the free-text query looks at
	hookPrefix   string   // "contact", "company", "deal", "object"; "" = no webhooks

	groups []propertyGroup

	schema *schemaMeta // custom objects only
}

// propertyGroup is a group of properties, as the properties API shows it.
type propertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

func (t *objectType) hasGroup(name string) bool {
	return slices.ContainsFunc(t.groups, func(g propertyGroup) bool { return g.Name == name && !g.Archived })
}

// schemaMeta is what a custom object schema carries beyond its properties.
type schemaMeta struct {
	numericID                  string
	labelSingular, labelPlural string
	description                string
	requiredProperties         []string
	searchableProperties       []string
	primaryDisplayProperty     string
	secondaryDisplayProperties []string
	createdAt, updatedAt       time.Time
	archived                   bool
}

func (t *objectType) addProp(p *property) {
	if _, ok := t.props[p.Name]; !ok {
		t.propOrder = append(t.propOrder, p.Name)
	}
	if p.Options == nil {
		p.Options = []option{}
	}
	t.props[p.Name] = p
	if p.HasUniqueValue && t.unique[p.Name] == nil {
		t.unique[p.Name] = map[string]string{}
	}
}

// live returns the record with id, or nil when it is absent or archived.
func (t *objectType) live(id string) *record {
	r := t.records[id]
	if r == nil || r.archived {
		return nil
	}
	return r
}

// byUnique finds a live record by a unique property's value.
func (t *objectType) byUnique(prop, value string) *record {
	if prop == "" || prop == "hs_object_id" {
		return t.live(value)
	}
	idx := t.unique[prop]
	if idx == nil {
		return nil
	}
	return t.live(idx[value])
}

var (
	propNameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	objectNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

var propertyTypes = map[string][]string{
	"string":       {"text", "textarea", "html", "phonenumber", "file", "select", "radio"},
	"number":       {"number", "calculation_equation"},
	"bool":         {"booleancheckbox", "checkbox", "select", "radio"},
	"enumeration":  {"select", "radio", "checkbox", "booleancheckbox", "checkboxes"},
	"date":         {"date"},
	"datetime":     {"date"},
	"phone_number": {"phonenumber", "text"},
}

// validateDefinition checks a property definition as HubSpot's properties
// API does, and returns the first problem.
func validateDefinition(p *property, needGroup bool) string {
	switch {
	case p.Name == "":
		return "name is required"
	case len(p.Name) > 100 || !propNameRE.MatchString(p.Name):
		return fmt.Sprintf("Property name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", p.Name)
	case strings.HasPrefix(p.Name, "hs_"):
		return fmt.Sprintf("Property name %q is invalid: the hs_ prefix is reserved", p.Name)
	case strings.TrimSpace(p.Label) == "":
		return "label is required"
	case p.Type == "":
		return "type is required"
	case p.FieldType == "":
		return "fieldType is required"
	case needGroup && p.GroupName == "":
		return "groupName is required"
	}
	fields, ok := propertyTypes[p.Type]
	if !ok {
		return fmt.Sprintf("Invalid property type %q: must be one of bool, date, datetime, enumeration, number, phone_number, string", p.Type)
	}
	if !slices.Contains(fields, p.FieldType) {
		return fmt.Sprintf("fieldType %q is not valid for a property of type %q", p.FieldType, p.Type)
	}
	if p.Type == "enumeration" || (p.Type == "bool" && len(p.Options) > 0) {
		seen := map[string]bool{}
		for _, o := range p.Options {
			if o.Value == "" || strings.TrimSpace(o.Label) == "" {
				return "each option needs a label and a value"
			}
			if seen[o.Value] {
				return fmt.Sprintf("duplicate option value %q", o.Value)
			}
			seen[o.Value] = true
		}
	} else if len(p.Options) > 0 {
		return fmt.Sprintf("options are only allowed on enumeration properties, not %q", p.Type)
	}
	if p.HasUniqueValue && p.Type != "string" && p.Type != "number" {
		return "hasUniqueValue is only supported for string and number properties"
	}
	return ""
}

// normalize turns an incoming value for p into its stored form. An empty
// result means "clear the value".
func normalize(p *property, v string) (string, *valueError) {
	if v == "" {
		return "", nil
	}
	bad := func(code, msg string) *valueError { return &valueError{Name: p.Name, Code: code, Message: msg} }
	switch p.Type {
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", bad("INVALID_FLOAT", fmt.Sprintf("%q was not a valid number.", v))
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case "bool":
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", bad("INVALID_BOOLEAN", fmt.Sprintf("%q was not a valid boolean: use true or false.", v))
	case "datetime":
		t, ok := parseInstant(v)
		if !ok {
			return "", bad("INVALID_DATE", fmt.Sprintf("%q was not a valid datetime: use epoch milliseconds or ISO 8601.", v))
		}
		return strconv.FormatInt(t, 10), nil
	case "date":
		t, ok := parseInstant(v)
		if !ok {
			return "", bad("INVALID_DATE", fmt.Sprintf("%q was not a valid date: use epoch milliseconds at midnight UTC or YYYY-MM-DD.", v))
		}
		if t%86400000 != 0 {
			return "", bad("INVALID_DATE", fmt.Sprintf("%s is at %s UTC, not at midnight UTC", v, time.UnixMilli(t).UTC().Format("15:04:05.000")))
		}
		return strconv.FormatInt(t, 10), nil
	case "string", "phone_number":
		if len(v) > 65536 {
			return "", bad("INVALID_STRING", fmt.Sprintf("value of %d characters is longer than the 65536 allowed", len(v)))
		}
		return v, nil
	case "enumeration":
		if p.ReferencedObjectType != "" || p.ExternalOptions {
			return v, nil
		}
		parts := []string{v}
		if p.FieldType == "checkbox" || p.FieldType == "checkboxes" {
			parts = strings.Split(v, ";")
		}
		for _, part := range parts {
			if !slices.ContainsFunc(p.Options, func(o option) bool { return o.Value == part }) {
				allowed := make([]string, len(p.Options))
				for i, o := range p.Options {
					allowed[i] = o.Value
				}
				return "", bad("INVALID_OPTION", fmt.Sprintf("%q was not one of the allowed options: [%s]", part, strings.Join(allowed, ", ")))
			}
		}
		return v, nil
	}
	return v, nil
}

// parseInstant reads epoch milliseconds, RFC 3339 or YYYY-MM-DD.
func parseInstant(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixMilli(), true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}

// render turns a stored value into its wire form: datetimes as ISO 8601 with
// milliseconds, dates as YYYY-MM-DD, everything else as stored.
func render(p *property, v string) string {
	if p == nil {
		return v
	}
	switch p.Type {
	case "datetime", "date":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return v
		}
		if p.Type == "date" {
			return time.UnixMilli(n).UTC().Format("2006-01-02")
		}
		return iso(time.UnixMilli(n))
	}
	return v
}

// --- built-in object types ---------------------------------------------------

func text(name, label, group string) *property {
	return &property{Name: name, Label: label, Type: "string", FieldType: "text", GroupName: group, HubspotDefined: true, FormField: true,
		ModificationMetadata: modificationMetadata{Archivable: false, ReadOnlyDefinition: true}}
}

func typed(name, label, group, typ, field string) *property {
	p := text(name, label, group)
	p.Type, p.FieldType = typ, field
	return p
}

func enum(name, label, group string, values ...string) *property {
	p := typed(name, label, group, "enumeration", "select")
	for i, v := range values {
		l, val, ok := strings.Cut(v, "=")
		if !ok {
			val = l
		}
		p.Options = append(p.Options, option{Label: l, Value: val, DisplayOrder: i})
	}
	return p
}

func readOnly(p *property) *property {
	p.ModificationMetadata.ReadOnlyValue = true
	p.FormField = false
	return p
}

// DealStages are the stages of the default deal pipeline, in order.
var DealStages = []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
	"decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}

var dealStageLabels = []string{"Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
	"Decision Maker Bought-In", "Contract Sent", "Closed Won", "Closed Lost"}

func ownerProp(group string) *property {
	p := typed("hubspot_owner_id", "Contact owner", group, "enumeration", "select")
	p.ReferencedObjectType = "OWNER"
	p.ExternalOptions = true
	return p
}

// systemProps are maintained by the server on every object type.
func systemProps(t *objectType, group string) {
	t.addProp(readOnly(typed("hs_object_id", "Record ID", group, "number", "number")))
	t.addProp(typed(t.createdDate, "Create Date", group, "datetime", "date"))
	t.addProp(readOnly(typed(t.modifiedDate, "Last Modified Date", group, "datetime", "date")))
}

func newType(id, name, singular string, created, modified, hook string) *objectType {
	return &objectType{id: id, name: name, singular: singular, fqn: name,
		props: map[string]*property{}, records: map[string]*record{}, unique: map[string]map[string]string{},
		createdDate: created, modifiedDate: modified, hookPrefix: hook}
}

func builtinTypes() []*objectType {
	lifecycle := []string{"Subscriber=subscriber", "Lead=lead", "Marketing Qualified Lead=marketingqualifiedlead",
		"Sales Qualified Lead=salesqualifiedlead", "Opportunity=opportunity", "Customer=customer", "Evangelist=evangelist", "Other=other"}

	co := newType(typeCompany, "companies", "company", "createdate", "hs_lastmodifieddate", "company")
	systemProps(co, "companyinformation")
	for _, p := range []*property{
		text("name", "Company name", "companyinformation"),
		typed("domain", "Company Domain Name", "companyinformation", "string", "text"),
		text("website", "Website URL", "companyinformation"),
		text("hs_additional_domains", "Additional Domains", "companyinformation"),
		text("industry", "Industry", "companyinformation"),
		typed("phone", "Phone Number", "companyinformation", "string", "phonenumber"),
		text("address", "Street Address", "companyinformation"),
		text("city", "City", "companyinformation"),
		text("state", "State/Region", "companyinformation"),
		text("zip", "Postal Code", "companyinformation"),
		text("country", "Country/Region", "companyinformation"),
		typed("numberofemployees", "Number of Employees", "companyinformation", "number", "number"),
		typed("annualrevenue", "Annual Revenue", "companyinformation", "number", "number"),
		typed("description", "Description", "companyinformation", "string", "textarea"),
		enum("lifecyclestage", "Lifecycle Stage", "companyinformation", lifecycle...),
		ownerProp("companyinformation"),
	} {
		co.addProp(p)
	}
	co.groups = []propertyGroup{{Name: "companyinformation", Label: "Company information"}}
	co.defaults = []string{"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}
	co.searchable = []string{"name", "domain", "website", "hs_additional_domains", "phone"}

	ct := newType(typeContact, "contacts", "contact", "createdate", "lastmodifieddate", "contact")
	systemProps(ct, "contactinformation")
	for _, p := range []*property{
		text("email", "Email", "contactinformation"),
		text("firstname", "First Name", "contactinformation"),
		text("lastname", "Last Name", "contactinformation"),
		typed("phone", "Phone Number", "contactinformation", "string", "phonenumber"),
		typed("mobilephone", "Mobile Phone Number", "contactinformation", "string", "phonenumber"),
		text("company", "Company Name", "contactinformation"),
		text("website", "Website URL", "contactinformation"),
		text("jobtitle", "Job Title", "contactinformation"),
		text("city", "City", "contactinformation"),
		text("state", "State/Region", "contactinformation"),
		text("country", "Country/Region", "contactinformation"),
		enum("lifecyclestage", "Lifecycle Stage", "contactinformation", lifecycle...),
		ownerProp("contactinformation"),
	} {
		ct.addProp(p)
	}
	ct.props["email"].HasUniqueValue = true
	ct.unique["email"] = map[string]string{}
	ct.groups = []propertyGroup{{Name: "contactinformation", Label: "Contact information"}}
	ct.defaults = []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
	ct.searchable = []string{"firstname", "lastname", "email", "phone", "mobilephone", "company"}

	dl := newType(typeDeal, "deals", "deal", "createdate", "hs_lastmodifieddate", "deal")
	systemProps(dl, "dealinformation")
	stages := make([]string, len(DealStages))
	for i, s := range DealStages {
		stages[i] = dealStageLabels[i] + "=" + s
	}
	for _, p := range []*property{
		text("dealname", "Deal Name", "dealinformation"),
		enum("dealstage", "Deal Stage", "dealinformation", stages...),
		enum("pipeline", "Pipeline", "dealinformation", "Sales Pipeline=default"),
		typed("amount", "Amount", "dealinformation", "number", "number"),
		typed("closedate", "Close Date", "dealinformation", "datetime", "date"),
		enum("dealtype", "Deal Type", "dealinformation", "New Business=newbusiness", "Existing Business=existingbusiness"),
		typed("description", "Deal Description", "dealinformation", "string", "textarea"),
		readOnly(typed("hs_is_closed", "Is Deal Closed?", "dealinformation", "bool", "booleancheckbox")),
		readOnly(typed("hs_is_closed_won", "Is Closed Won", "dealinformation", "bool", "booleancheckbox")),
		ownerProp("dealinformation"),
	} {
		dl.addProp(p)
	}
	dl.props["hs_is_closed"].Calculated = true
	dl.props["hs_is_closed_won"].Calculated = true
	dl.groups = []propertyGroup{{Name: "dealinformation", Label: "Deal information"}}
	dl.defaults = []string{"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"}
	dl.searchable = []string{"dealname"}

	tk := newType(typeTask, "tasks", "task", "hs_createdate", "hs_lastmodifieddate", "")
	systemProps(tk, "task")
	for _, p := range []*property{
		text("hs_task_subject", "Task Title", "task"),
		typed("hs_task_body", "Task notes", "task", "string", "html"),
		enum("hs_task_status", "Task Status", "task", "Not started=NOT_STARTED", "In progress=IN_PROGRESS", "Waiting=WAITING", "Completed=COMPLETED", "Deferred=DEFERRED"),
		enum("hs_task_priority", "Priority", "task", "None=NONE", "Low=LOW", "Medium=MEDIUM", "High=HIGH"),
		enum("hs_task_type", "Task Type", "task", "Call=CALL", "Email=EMAIL", "To-do=TODO"),
		typed("hs_timestamp", "Due date", "task", "datetime", "date"),
		ownerProp("task"),
	} {
		tk.addProp(p)
	}
	tk.groups = []propertyGroup{{Name: "task", Label: "Task information"}}
	tk.defaults = []string{"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
	tk.searchable = []string{"hs_task_subject", "hs_task_body"}

	nt := newType(typeNote, "notes", "note", "hs_createdate", "hs_lastmodifieddate", "")
	systemProps(nt, "note")
	for _, p := range []*property{
		typed("hs_note_body", "Note body", "note", "string", "html"),
		typed("hs_timestamp", "Activity date", "note", "datetime", "date"),
		ownerProp("note"),
	} {
		nt.addProp(p)
	}
	nt.groups = []propertyGroup{{Name: "note", Label: "Note information"}}
	nt.defaults = []string{"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
	nt.searchable = []string{"hs_note_body"}

	return []*objectType{ct, co, dl, tk, nt}
}

// requiredOnCreate are properties HubSpot insists on for a create.
var requiredOnCreate = map[string][]string{
	typeTask: {"hs_timestamp"},
	typeNote: {"hs_timestamp"},
}
