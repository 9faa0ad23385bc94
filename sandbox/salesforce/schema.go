package salesforce

import (
	"strings"

	"github.com/regsync/regsync/registration"
)

// RegistrationObject is the custom object regsync's SFDX package deploys.
const RegistrationObject = "Partner_Registration__c"

// Opportunity stages, in order, with whether they are closed and won.
var stages = []struct {
	Name        string
	Closed, Won bool
	Probability float64
}{
	{"Prospecting", false, false, 10},
	{"Qualification", false, false, 10},
	{"Needs Analysis", false, false, 20},
	{"Value Proposition", false, false, 50},
	{"Id. Decision Makers", false, false, 60},
	{"Perception Analysis", false, false, 70},
	{"Proposal/Price Quote", false, false, 75},
	{"Negotiation/Review", false, false, 90},
	{"Closed Won", true, true, 100},
	{"Closed Lost", true, false, 0},
}

// Stages lists the Opportunity stages of the fake org, in order.
func Stages() []string {
	out := make([]string, len(stages))
	for i, st := range stages {
		out[i] = st.Name
	}
	return out
}

// longTextFields are the registration fields stored as long text areas.
var longTextFields = map[string]bool{
	"status_message": true, "problem": true, "solution_fit": true, "services_needed": true, "competing_vendors": true,
}

// fieldLabels are labels that capitalising words would get wrong.
var fieldLabels = map[string]string{
	"sla_due": "SLA Due", "owner_id": "Owner Reference", "company_id": "Company ID", "deal_id": "Deal ID",
	"partner_id": "Partner ID", "partner_email": "Partner Email", "contact_email": "Contact Email",
}

// defaultFieldName mirrors salesforce.DefaultFieldName: case_number →
// Case_Number__c.
func defaultFieldName(canonical string) string {
	words := strings.Split(canonical, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "_") + "__c"
}

func label(canonical string) string {
	if l, ok := fieldLabels[canonical]; ok {
		return l
	}
	words := strings.Split(canonical, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// RegistrationFields are the custom fields of Partner_Registration__c in
// the SFDX package (and in the fake), in canonical order, followed by the
// derived keys and the lookups.
func RegistrationFields() []Field {
	var out []Field
	for _, rf := range registration.Fields() {
		if rf.Name == "id" {
			continue
		}
		f := Field{Name: defaultFieldName(rf.Name), Label: label(rf.Name), Type: TypeString, Length: 255}
		switch {
		case rf.Name == "status":
			f.Type, f.Length, f.Restricted = TypePicklist, 255, true
			for _, st := range registration.Statuses {
				f.Picklist = append(f.Picklist, string(st))
			}
		case rf.Name == "case_number":
			f.Length, f.ExternalID, f.Unique = 20, true, true
		case rf.Name == "submission_key":
			f.ExternalID, f.Unique, f.CaseSensitive = true, true, true
		case rf.Name == "company_id", rf.Name == "deal_id":
			f.Length = 18
		case rf.Name == "submission_seq", rf.Name == "appeal_count":
			// Whole numbers: Number(18, 0) holds microseconds since the
			// epoch exactly, and a JSON number of that size is exact in a
			// float64 (below 2^53).
			f.Type, f.Length, f.Precision, f.Scale = TypeDouble, 0, 18, 0
		case rf.Kind == registration.KindBool:
			f.Type, f.Length = TypeBoolean, 0
		case rf.Kind == registration.KindNumber:
			f.Type, f.Length, f.Precision, f.Scale = TypeCurrency, 0, 16, 2
		case rf.Kind == registration.KindTime:
			f.Type, f.Length = TypeDateTime, 0
		case longTextFields[rf.Name]:
			f.Type, f.Length = TypeTextArea, 32768
		}
		out = append(out, f)
	}
	return append(out,
		Field{Name: "Domain_Key__c", Label: "Domain Key", Type: TypeString, Length: 255, ExternalID: true},
		Field{Name: "Name_Key__c", Label: "Name Key", Type: TypeString, Length: 255, ExternalID: true},
		Field{Name: "Account__c", Label: "Account", Type: TypeReference, Length: 18, ReferenceTo: []string{"Account"}, RelationshipName: "Account__r"},
		Field{Name: "Opportunity__c", Label: "Opportunity", Type: TypeReference, Length: 18, ReferenceTo: []string{"Opportunity"}, RelationshipName: "Opportunity__r"},
	)
}

// schema creates the org's objects.
func (s *Server) schema() {
	reg := func(o *object) *object {
		s.objects[strings.ToLower(o.name)] = o
		s.byPrefix[o.prefix] = o
		return o
	}
	reg(newObject("Organization", "Organization", "00D").add(
		&Field{Name: "Name", Type: TypeString, Length: 80, ReadOnly: true},
		&Field{Name: "OrganizationType", Label: "Edition", Type: TypeString, Length: 40, ReadOnly: true},
		&Field{Name: "IsSandbox", Type: TypeBoolean, ReadOnly: true},
	).systemFields(false))
	reg(newObject("User", "User", "005").add(
		&Field{Name: "Name", Label: "Full Name", Type: TypeString, Length: 121, Required: true},
		&Field{Name: "Username", Type: TypeString, Length: 80, Required: true, Unique: true},
		&Field{Name: "Email", Type: TypeEmail, Length: 128, Required: true},
		&Field{Name: "IsActive", Label: "Active", Type: TypeBoolean},
		&Field{Name: "UserType", Label: "User Type", Type: TypePicklist, Length: 40, Picklist: []string{"Standard", "PowerPartner"}},
	).systemFields(false))
	reg(newObject("Account", "Account", "001").add(
		&Field{Name: "Name", Label: "Account Name", Type: TypeString, Length: 255, Required: true},
		&Field{Name: "Website", Type: TypeURL, Length: 255},
		&Field{Name: "Industry", Type: TypePicklist, Length: 255, Picklist: []string{"Banking", "Manufacturing", "Retail", "Technology", "Healthcare", "Energy", "Media"}},
		&Field{Name: "BillingCountry", Label: "Billing Country", Type: TypeString, Length: 80},
	).systemFields(true))
	stageNames := Stages()
	opp := reg(newObject("Opportunity", "Opportunity", "006").add(
		&Field{Name: "Name", Label: "Opportunity Name", Type: TypeString, Length: 120, Required: true},
		&Field{Name: "AccountId", Label: "Account ID", Type: TypeReference, Length: 18, ReferenceTo: []string{"Account"}, RelationshipName: "Account"},
		&Field{Name: "StageName", Label: "Stage", Type: TypePicklist, Length: 255, Required: true, Restricted: true, Picklist: stageNames},
		&Field{Name: "Amount", Type: TypeCurrency, Precision: 18, Scale: 2},
		&Field{Name: "CloseDate", Label: "Close Date", Type: TypeDate, Required: true},
		&Field{Name: "Probability", Label: "Probability (%)", Type: TypePercent, Precision: 3, Scale: 0},
		&Field{Name: "IsClosed", Label: "Closed", Type: TypeBoolean, System: true},
		&Field{Name: "IsWon", Label: "Won", Type: TypeBoolean, System: true},
	).systemFields(true))
	opp.derived = func(r *record) {
		st, _ := r.v["StageName"].(string)
		r.v["IsClosed"], r.v["IsWon"] = false, false
		for _, x := range stages {
			if x.Name == st {
				r.v["IsClosed"], r.v["IsWon"] = x.Closed, x.Won
			}
		}
	}
	parents := []string{"Account", "Opportunity", RegistrationObject}
	task := reg(newObject("Task", "Task", "00T").add(
		&Field{Name: "Subject", Type: TypeString, Length: 255},
		&Field{Name: "Description", Label: "Comments", Type: TypeTextArea, Length: 32000},
		&Field{Name: "WhatId", Label: "Related To ID", Type: TypeReference, Length: 18, ReferenceTo: parents, RelationshipName: "What"},
		&Field{Name: "ActivityDate", Label: "Due Date Only", Type: TypeDate},
		&Field{Name: "Status", Type: TypePicklist, Length: 255, Restricted: true, Picklist: []string{"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}},
		&Field{Name: "Priority", Type: TypePicklist, Length: 40, Restricted: true, Picklist: []string{"High", "Normal", "Low"}},
		&Field{Name: "IsClosed", Label: "Closed", Type: TypeBoolean, System: true},
	).systemFields(true))
	task.derived = func(r *record) {
		if r.v["Status"] == nil {
			r.v["Status"] = "Not Started"
		}
		if r.v["Priority"] == nil {
			r.v["Priority"] = "Normal"
		}
		st, _ := r.v["Status"].(string)
		r.v["IsClosed"] = st == "Completed" || st == "Deferred"
	}
	feed := reg(newObject("FeedItem", "Feed Item", "0D5").add(
		&Field{Name: "ParentId", Label: "Parent ID", Type: TypeReference, Length: 18, Required: true, ReferenceTo: append(parents, "User"), RelationshipName: "Parent"},
		&Field{Name: "Body", Type: TypeTextArea, Length: 10000},
		&Field{Name: "Type", Type: TypePicklist, Length: 40, Picklist: []string{"TextPost", "LinkPost", "ContentPost"}},
	).systemFields(false))
	feed.derived = func(r *record) {
		if r.v["Type"] == nil {
			r.v["Type"] = "TextPost"
		}
	}
	reg(newObject("Note", "Note", "002").add(
		&Field{Name: "ParentId", Label: "Parent ID", Type: TypeReference, Length: 18, Required: true, ReferenceTo: parents, RelationshipName: "Parent"},
		&Field{Name: "Title", Type: TypeString, Length: 80, Required: true},
		&Field{Name: "Body", Type: TypeTextArea, Length: 32000},
		&Field{Name: "IsPrivate", Label: "Private", Type: TypeBoolean},
	).systemFields(true))
	if s.opts.Bare {
		return
	}
	opp.add(&Field{Name: "Partner_Id__c", Label: "Partner ID", Type: TypeString, Length: 255, ExternalID: true})
	kf := TaskKeyField()
	task.add(&kf)
	s.addRegistrationObject()
}

// TaskKeyField is the Activity custom field the SFDX package adds to Task
// (and Event): the idempotency key regsync upserts tasks on. An External
// ID, so indexed and usable by upsert; not unique (upsert does not need
// it), and matched without regard to case, like any External ID that is
// not unique and case-sensitive.
func TaskKeyField() Field {
	return Field{Name: "Regsync_Key__c", Label: "Regsync Key", Type: TypeString, Length: 255, ExternalID: true}
}

func (s *Server) addRegistrationObject() {
	o := newObject(RegistrationObject, "Partner Registration", "a0R")
	o.feeds = true
	o.add(&Field{Name: "Name", Label: "Registration Name", Type: TypeString, Length: 80})
	for _, f := range RegistrationFields() {
		f := f
		o.add(&f)
	}
	o.systemFields(true)
	s.objects[strings.ToLower(o.name)] = o
	s.byPrefix[o.prefix] = o
}
