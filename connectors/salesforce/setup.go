package salesforce

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/regsync/regsync/registration"
)

// DeployCommand is how an admin deploys the metadata package.
const DeployCommand = "cd deploy/salesforce && sf project deploy start --source-dir force-app --target-org <alias>"

// setupReport collects the lines of a setup check.
type setupReport struct {
	w        io.Writer
	problems int
	warnings int
}

func (r *setupReport) ok(format string, args ...any) {
	fmt.Fprintf(r.w, "ok       "+format+"\n", args...)
}

func (r *setupReport) problem(kind, format string, args ...any) {
	r.problems++
	fmt.Fprintf(r.w, "%-8s "+format+"\n", append([]any{kind}, args...)...)
}

func (r *setupReport) warn(format string, args ...any) {
	r.warnings++
	fmt.Fprintf(r.w, "warn     "+format+"\n", args...)
}

// Setup checks that the org holds what regsync needs and that the
// integration user may use it, and writes a report to w: every object and
// field, what is missing, and which permission is lacking. It cannot
// create metadata through the REST API: missing objects and fields come
// from the SFDX package in deploy/salesforce, which an admin deploys. ok
// is false when anything is missing; err is set only when the org could
// not be asked (three calls: login, one composite describe, one query).
func (c *Client) Setup(ctx context.Context, w io.Writer) (ok bool, err error) {
	r := &setupReport{w: w}
	noteObj := c.cfg.NoteObject
	objects := []string{c.cfg.Object, "Opportunity", "Account", "Task", noteObj}
	fmt.Fprintf(w, "Salesforce org at %s (%s flow, API %s)\n", c.cfg.Domain, c.cfg.AuthFlow(), c.cfg.APIVersion)
	desc, err := c.describeAll(ctx, objects)
	if err != nil {
		return false, fmt.Errorf("salesforce: setup: %w", err)
	}
	c.checkOrg(ctx, r)
	c.checkRegistrations(r, desc[c.cfg.Object])
	c.checkObject(r, desc["Opportunity"], "Opportunity", false, []need{
		{"AccountId", "reference", false, true}, {"StageName", "picklist", false, true}, {"Amount", "number", false, false},
		{"CloseDate", "date", false, false}, {"IsClosed", "boolean", false, true}, {"IsWon", "boolean", false, false},
		{c.cfg.OpportunityPartnerField, "text", true, true},
	})
	c.checkObject(r, desc["Account"], "Account", false, []need{
		{"Name", "text", false, false}, {c.cfg.AccountDomainField, "text", false, true},
	})
	c.checkObject(r, desc["Task"], "Task", true, []need{
		{"WhatId", "reference", true, false}, {"Subject", "text", true, false}, {"Description", "text", true, false},
		{"ActivityDate", "date", true, false}, {"OwnerId", "reference", true, false},
	})
	c.checkTaskKey(r, desc["Task"])
	noteNeeds := []need{{"ParentId", "reference", true, true}, {"Body", "text", true, false}}
	if noteObj == NoteClassic {
		noteNeeds = append(noteNeeds, need{"Title", "text", true, false})
	}
	c.checkObject(r, desc[noteObj], noteObj, true, noteNeeds)
	if r.problems > 0 {
		fmt.Fprintf(w, "\n%d problem(s), %d warning(s). Deploy the metadata package and assign its permission set to the integration user:\n  %s\n  sf org assign permset --name Regsync_Integration --target-org <alias> --on-behalf-of <integration user>\n",
			r.problems, r.warnings, DeployCommand)
		return false, nil
	}
	fmt.Fprintf(w, "\nready (%d warning(s)).\n", r.warnings)
	return true, nil
}

func (c *Client) checkOrg(ctx context.Context, r *setupReport) {
	var org struct {
		Records []struct {
			ID   string `json:"Id"`
			Name string `json:"Name"`
		} `json:"records"`
	}
	err := c.query(ctx, "setup", "SELECT Id, Name FROM Organization", func(recs []map[string]any) error {
		for _, m := range recs {
			org.Records = append(org.Records, struct {
				ID   string `json:"Id"`
				Name string `json:"Name"`
			}{str(m["Id"]), str(m["Name"])})
		}
		return nil
	})
	switch {
	case err != nil:
		r.warn("organization: cannot read the Organization record (%v): outbound messages cannot be checked", err)
	case len(org.Records) != 1:
		r.warn("organization: %d Organization records", len(org.Records))
	case !c.cfg.OutboundMessages:
		r.ok("organization %s (%s); outbound messages are off (salesforce.outbound_messages: false): changes arrive by polling",
			org.Records[0].ID, org.Records[0].Name)
	case c.cfg.OrganizationID == "":
		r.warn("organization %s (%s): set salesforce.organization_id: %s to accept outbound messages", org.Records[0].ID, org.Records[0].Name, org.Records[0].ID)
	case !sameID(org.Records[0].ID, c.cfg.OrganizationID):
		r.problem("config", "salesforce.organization_id is %s but these credentials log in to %s (%s): outbound messages would all be refused",
			c.cfg.OrganizationID, org.Records[0].ID, org.Records[0].Name)
	default:
		r.ok("organization %s (%s) matches salesforce.organization_id", org.Records[0].ID, org.Records[0].Name)
	}
}

// need is a field requirement.
type need struct {
	name   string
	kind   string // text, number, boolean, date, datetime, picklist, reference
	write  bool   // the integration user must create and update it
	filter bool   // it appears in WHERE clauses
}

func kindOK(kind, typ string) bool {
	switch kind {
	case "text":
		return slices.Contains([]string{"string", "textarea", "email", "url", "phone", "picklist", "combobox", "id", "reference"}, typ)
	case "number":
		return slices.Contains([]string{"double", "currency", "percent", "int", "long"}, typ)
	case "boolean":
		return typ == "boolean"
	case "date":
		return typ == "date"
	case "datetime":
		return typ == "datetime"
	case "picklist":
		return typ == "picklist"
	case "reference":
		return typ == "reference" || typ == "id"
	}
	return false
}

// checkField reports one field.
func (c *Client) checkField(r *setupReport, o *objectInfo, object string, n need) *fieldInfo {
	f := o.field(n.name)
	where := object + "." + n.name
	switch {
	case f == nil:
		r.problem("missing", "%s: no such field, or hidden from the integration user by field-level security (grant Read in the Regsync_Integration permission set)", where)
		return nil
	case !kindOK(n.kind, f.Type):
		r.problem("type", "%s is a %s field; regsync needs %s", where, f.Type, n.kind)
		return f
	case n.write && (!f.Createable || !f.Updateable) && f.Name != "Id":
		r.problem("access", "%s is read-only for the integration user: grant Edit on it (field-level security)", where)
		return f
	case n.filter && !f.Filterable:
		r.problem("type", "%s cannot be filtered in SOQL (a long text area?): regsync queries on it", where)
		return f
	}
	r.ok("%s (%s)", where, f.Type)
	return f
}

func (c *Client) checkObject(r *setupReport, o *objectInfo, object string, create bool, needs []need) {
	if o == nil || o.missing {
		r.problem("missing", "object %s: not visible to the integration user", object)
		return
	}
	if !o.Queryable {
		r.problem("access", "object %s: the integration user cannot read it", object)
	}
	if create && !o.Createable {
		r.problem("access", "object %s: the integration user cannot create records (object permission Create)", object)
	}
	for _, n := range needs {
		c.checkField(r, o, object, n)
	}
}

func (c *Client) checkRegistrations(r *setupReport, o *objectInfo) {
	obj := c.cfg.Object
	if o == nil || o.missing {
		r.problem("missing", "object %s: not deployed, or not visible to the integration user. Deploy deploy/salesforce: %s", obj, DeployCommand)
		return
	}
	if !o.Queryable || !o.Createable || !o.Updateable {
		r.problem("access", "object %s: the integration user needs Read, Create and Edit (the Regsync_Integration permission set grants them)", obj)
	} else {
		r.ok("object %s (read, create, edit)", obj)
	}
	for _, rf := range registration.Fields() {
		if rf.Name == "id" {
			continue
		}
		n := need{name: c.cfg.FieldName(rf.Name), write: true}
		switch rf.Kind {
		case registration.KindBool:
			n.kind = "boolean"
		case registration.KindNumber:
			n.kind = "number"
		case registration.KindTime:
			n.kind = "datetime"
		default:
			n.kind = "text"
		}
		switch rf.Name {
		case "status":
			n.kind, n.filter = "picklist", true
		case "case_number", "submission_key", "partner_id":
			n.filter = true
		}
		f := c.checkField(r, o, obj, n)
		if f == nil {
			continue
		}
		switch rf.Name {
		case "case_number", "submission_key":
			if !f.ExternalID || !f.Unique {
				r.problem("type", "%s.%s must be an External ID and unique: regsync upserts on it so a retry never makes a second record", obj, f.Name)
			}
		case "status":
			var have []string
			for _, p := range f.Picklist {
				if p.Active {
					have = append(have, p.Value)
				}
			}
			var missing []string
			for _, s := range registration.Statuses {
				if !slices.Contains(have, string(s)) {
					missing = append(missing, string(s))
				}
			}
			if len(missing) > 0 {
				r.problem("type", "%s.%s lacks the picklist values %s", obj, f.Name, strings.Join(missing, ", "))
			}
			if !f.Restricted {
				r.warn("%s.%s is not a restricted picklist: a typo in the UI would make a status regsync does not know", obj, f.Name)
			}
		}
	}
	for _, n := range []need{{FieldDomainKey, "text", true, true}, {FieldNameKey, "text", true, true}} {
		if f := c.checkField(r, o, obj, n); f != nil && !f.ExternalID {
			r.warn("%s.%s is not an External ID, so not indexed: rival lookups scan every registration", obj, f.Name)
		}
	}
	for _, l := range []struct{ field, to string }{{FieldAccount, "Account"}, {FieldOpportunity, "Opportunity"}} {
		if f := c.checkField(r, o, obj, need{l.field, "reference", true, true}); f != nil && !slices.Contains(f.ReferenceTo, l.to) {
			r.problem("type", "%s.%s must be a lookup to %s, not to %v", obj, f.Name, l.to, f.ReferenceTo)
		}
	}
	if f := o.field("Name"); f == nil || f.Type != "string" || !f.Createable || !f.Updateable {
		r.warn("%s.Name is not a writable text field: list views will show the auto-number, not company and case number", obj)
	}
	for _, f := range []string{"SystemModstamp", "LastModifiedDate"} {
		if o.field(f) == nil {
			r.problem("missing", "%s.%s is not visible: change polling needs it", obj, f)
		}
	}
}

// checkTaskKey reports the Activity field tasks are upserted on; without
// it regsync still opens each task once, with the key on its description.
func (c *Client) checkTaskKey(r *setupReport, o *objectInfo) {
	if o == nil || o.missing {
		return
	}
	f := o.field(FieldTaskKey)
	switch {
	case f == nil || !f.ExternalID:
		r.warn("Task.%s: no such External ID field (deploy the metadata package again): until it exists, a task's idempotency key goes on its description", FieldTaskKey)
	case !f.Createable || !f.Updateable:
		r.warn("Task.%s is read-only for the integration user: grant Edit on it (the Regsync_Integration permission set does)", FieldTaskKey)
	default:
		r.ok("Task.%s (External ID: tasks are upserted on it)", FieldTaskKey)
	}
}
