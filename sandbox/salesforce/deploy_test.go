package salesforce

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/regsync/regsync/registration"
)

// The SFDX package in deploy/salesforce is generated from
// RegistrationFields, the same table the fake's Partner_Registration__c is
// built from: go test -run TestDeployPackage -update ./sandbox/salesforce/
// rewrites it; without -update the test fails when it drifts.

var update = flag.Bool("update", false, "rewrite deploy/salesforce from the fake's schema")

const deployDir = "../../deploy/salesforce"

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// fieldDescriptions explain each field to the admin who deploys it.
var fieldDescriptions = map[string]string{
	"case_number":       "The registration's case number, derived from its submission key. External ID, unique: regsync upserts on it, so a retried submission never makes a second record.",
	"submission_key":    "The intake channel's key for the submission (unique): the same submission twice is the same registration.",
	"status":            "Where the registration stands. The values are regsync's statuses, a fixed contract; AEs may change it by hand.",
	"status_reason":     "The reason code of the last decision (e.g. existing_deal, conflict_lost).",
	"status_message":    "The partner-safe explanation sent with the last decision.",
	"hold_until":        "End of the protection (hold) window of an approved registration.",
	"first_response_at": "When the partner first got an answer; set once.",
	"approved_at":       "When the registration was first approved; set once.",
	"owner_id":          "The AE the territory assigns (a Salesforce user id or e-mail); tasks go to this user.",
	"company_id":        "The matched Account's id (also in the Account lookup).",
	"deal_id":           "The matched or attributed Opportunity's id (also in the Opportunity lookup).",
	"conflict_with":     "Case numbers of the registrations this one conflicts with.",
	"submission_seq":    "regsync's acceptance order of submissions from its own channels (microseconds since 1970): breaks ties between registrations submitted within the same second.",
	"appeal_count":      "How many times the partner appealed a decline (rules.appeals.max limits it).",
	"declined_reason":   "The reason code of the last decline, kept when the partner appeals it.",
}

var aeEditable = map[string]bool{
	"Status__c": true, "Status_Reason__c": true, "First_Meeting_At__c": true, "Owner_Id__c": true,
	"Account__c": true, "Opportunity__c": true,
}

var historyTracked = map[string]bool{"Status__c": true, "Status_Reason__c": true, "Hold_Until__c": true, "Owner_Id__c": true}

func fieldXML(f Field, desc string) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n")
	line := func(tag, v string) { fmt.Fprintf(&b, "    <%s>%s</%s>\n", tag, esc(v), tag) }
	line("fullName", f.Name)
	if f.Unique {
		line("caseSensitive", fmt.Sprint(f.CaseSensitive))
	}
	if f.Type == TypeBoolean {
		line("defaultValue", "false")
	}
	if f.Type == TypeReference {
		line("deleteConstraint", "SetNull")
	}
	if desc != "" {
		line("description", desc)
	}
	if f.Type == TypeString {
		line("externalId", fmt.Sprint(f.ExternalID))
	}
	line("label", f.Label)
	switch f.Type {
	case TypeString, TypeTextArea:
		line("length", fmt.Sprint(f.Length))
	case TypeCurrency, TypeDouble:
		line("precision", fmt.Sprint(f.Precision))
	}
	if f.Type == TypeReference {
		line("referenceTo", f.ReferenceTo[0])
		line("relationshipLabel", "Partner Registrations")
		line("relationshipName", "Partner_Registrations")
	}
	if f.Type != TypeBoolean {
		line("required", "false")
	}
	if f.Type == TypeCurrency || f.Type == TypeDouble {
		line("scale", fmt.Sprint(f.Scale))
	}
	line("trackHistory", fmt.Sprint(historyTracked[f.Name]))
	line("trackTrending", "false")
	switch f.Type {
	case TypeString:
		line("type", "Text")
	case TypeTextArea:
		line("type", "LongTextArea")
	case TypeBoolean:
		line("type", "Checkbox")
	case TypeCurrency:
		line("type", "Currency")
	case TypeDouble:
		line("type", "Number")
	case TypeDateTime:
		line("type", "DateTime")
	case TypeReference:
		line("type", "Lookup")
	case TypePicklist:
		line("type", "Picklist")
	}
	if f.Unique {
		line("unique", "true")
	}
	if f.Type == TypePicklist {
		b.WriteString("    <valueSet>\n")
		fmt.Fprintf(&b, "        <restricted>%v</restricted>\n", f.Restricted)
		b.WriteString("        <valueSetDefinition>\n            <sorted>false</sorted>\n")
		for _, v := range f.Picklist {
			fmt.Fprintf(&b, "            <value>\n                <fullName>%s</fullName>\n                <default>false</default>\n                <label>%s</label>\n            </value>\n", esc(v), esc(v))
		}
		b.WriteString("        </valueSetDefinition>\n    </valueSet>\n")
	}
	if f.Type == TypeTextArea {
		line("visibleLines", "4")
	}
	b.WriteString("</CustomField>\n")
	return b.String()
}

const objectXML = `<?xml version="1.0" encoding="UTF-8"?>
<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">
    <allowInChatterGroups>false</allowInChatterGroups>
    <compactLayoutAssignment>SYSTEM</compactLayoutAssignment>
    <deploymentStatus>Deployed</deploymentStatus>
    <description>A partner's registration of a prospect, written and decided by regsync. Statuses, reasons and hold windows follow the program's rules; AEs work the records here.</description>
    <enableActivities>true</enableActivities>
    <enableBulkApi>true</enableBulkApi>
    <enableFeeds>true</enableFeeds>
    <enableHistory>true</enableHistory>
    <enableLicensing>false</enableLicensing>
    <enableReports>true</enableReports>
    <enableSearch>true</enableSearch>
    <enableSharing>true</enableSharing>
    <enableStreamingApi>true</enableStreamingApi>
    <externalSharingModel>Private</externalSharingModel>
    <label>Partner Registration</label>
    <nameField>
        <label>Registration Name</label>
        <trackHistory>false</trackHistory>
        <type>Text</type>
    </nameField>
    <pluralLabel>Partner Registrations</pluralLabel>
    <searchLayouts></searchLayouts>
    <sharingModel>ReadWrite</sharingModel>
    <visibility>Public</visibility>
</CustomObject>
`

const listViewXML = `<?xml version="1.0" encoding="UTF-8"?>
<ListView xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>All</fullName>
    <columns>NAME</columns>
    <columns>Status__c</columns>
    <columns>Company_Name__c</columns>
    <columns>Partner_Name__c</columns>
    <columns>Hold_Until__c</columns>
    <columns>Account__c</columns>
    <filterScope>Everything</filterScope>
    <label>All</label>
</ListView>
`

const tabXML = `<?xml version="1.0" encoding="UTF-8"?>
<CustomTab xmlns="http://soap.sforce.com/2006/04/metadata">
    <customObject>true</customObject>
    <motif>Custom53: Bell</motif>
</CustomTab>
`

const projectJSON = `{
  "packageDirectories": [
    {
      "path": "force-app",
      "default": true
    }
  ],
  "name": "regsync-partner-registration",
  "namespace": "",
  "sfdcLoginUrl": "https://login.salesforce.com",
  "sourceApiVersion": "63.0"
}
`

// activityFieldXML renders an Activity custom field (shared by Task and
// Event), without the history and trending elements objects with field
// history have.
func activityFieldXML(f Field, desc string) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n")
	line := func(tag, v string) { fmt.Fprintf(&b, "    <%s>%s</%s>\n", tag, esc(v), tag) }
	line("fullName", f.Name)
	line("description", desc)
	line("externalId", fmt.Sprint(f.ExternalID))
	line("label", f.Label)
	line("length", fmt.Sprint(f.Length))
	line("required", "false")
	line("type", "Text")
	line("unique", fmt.Sprint(f.Unique))
	b.WriteString("</CustomField>\n")
	return b.String()
}

func opportunityPartnerField() Field {
	return Field{Name: "Partner_Id__c", Label: "Partner ID", Type: TypeString, Length: 255, ExternalID: true}
}

func permissionSet(name, label, desc string, ae bool) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PermissionSet xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n")
	fmt.Fprintf(&b, "    <description>%s</description>\n", esc(desc))
	type fp struct {
		field    string
		editable bool
	}
	var fps []fp
	for _, f := range RegistrationFields() {
		fps = append(fps, fp{RegistrationObject + "." + f.Name, !ae || aeEditable[f.Name]})
	}
	fps = append(fps, fp{"Opportunity.Partner_Id__c", !ae}, fp{"Activity." + TaskKeyField().Name, !ae})
	sort.Slice(fps, func(i, j int) bool { return fps[i].field < fps[j].field })
	for _, p := range fps {
		fmt.Fprintf(&b, "    <fieldPermissions>\n        <editable>%v</editable>\n        <field>%s</field>\n        <readable>true</readable>\n    </fieldPermissions>\n", p.editable, p.field)
	}
	b.WriteString("    <hasActivationRequired>false</hasActivationRequired>\n")
	fmt.Fprintf(&b, "    <label>%s</label>\n", esc(label))
	fmt.Fprintf(&b, "    <objectPermissions>\n        <allowCreate>%v</allowCreate>\n        <allowDelete>false</allowDelete>\n        <allowEdit>true</allowEdit>\n        <allowRead>true</allowRead>\n        <modifyAllRecords>%v</modifyAllRecords>\n        <object>%s</object>\n        <viewAllRecords>true</viewAllRecords>\n    </objectPermissions>\n", !ae, !ae, RegistrationObject)
	fmt.Fprintf(&b, "    <tabSettings>\n        <tab>%s</tab>\n        <visibility>Visible</visibility>\n    </tabSettings>\n", RegistrationObject)
	b.WriteString("</PermissionSet>\n")
	_ = name
	return b.String()
}

// deployFiles renders the package: path (below deploy/salesforce) → content.
func deployFiles() map[string]string {
	base := "force-app/main/default/"
	objDir := base + "objects/" + RegistrationObject + "/"
	files := map[string]string{
		"sfdx-project.json": projectJSON,
		objDir + RegistrationObject + ".object-meta.xml":      objectXML,
		objDir + "listViews/All.listView-meta.xml":            listViewXML,
		base + "tabs/" + RegistrationObject + ".tab-meta.xml": tabXML,
		base + "objects/Opportunity/fields/Partner_Id__c.field-meta.xml": fieldXML(opportunityPartnerField(),
			"The partner credited with this opportunity; regsync stamps it when it attributes the deal to an approved registration."),
		base + "objects/Activity/fields/" + TaskKeyField().Name + ".field-meta.xml": activityFieldXML(TaskKeyField(),
			"The idempotency key regsync gives the task (one side effect of one decision). External ID: regsync upserts its tasks on it, so a retried or resumed decision never opens a second task."),
		base + "permissionsets/Regsync_Integration.permissionset-meta.xml": permissionSet("Regsync_Integration", "Regsync Integration",
			"For the integration user regsync logs in as: read, create and edit Partner Registrations and every regsync field, stamp partners on Opportunities and key its tasks.", false),
		base + "permissionsets/Regsync_Sales.permissionset-meta.xml": permissionSet("Regsync_Sales", "Regsync Sales",
			"For AEs and channel managers: see every Partner Registration field; change the status, reason, first meeting, owner and links.", true),
	}
	canonical := map[string]string{}
	for _, rf := range registration.FieldNames() {
		canonical[defaultFieldName(rf)] = rf
	}
	for _, f := range RegistrationFields() {
		desc := fieldDescriptions[canonical[f.Name]]
		switch f.Name {
		case "Domain_Key__c":
			desc = "Derived by regsync: the registrable domain of the company domain (eu.globex.example → globex.example), indexed, so rivals on a sub-domain are found with one query."
		case "Name_Key__c":
			desc = "Derived by regsync: the company name normalised for matching (case, accents, legal forms removed), indexed."
		case "Account__c":
			desc = "The Account regsync matched by registrable domain."
		case "Opportunity__c":
			desc = "The Opportunity the registration is tied to (open deal or attribution)."
		}
		files[objDir+"fields/"+f.Name+".field-meta.xml"] = fieldXML(f, desc)
	}
	return files
}

func TestDeployPackage(t *testing.T) {
	files := deployFiles()
	if *update {
		root := filepath.Join(deployDir, "force-app")
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		for p, content := range files {
			full := filepath.Join(deployDir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(deployDir, p))
		if err != nil {
			t.Errorf("%s: %v (run with -update)", p, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s differs from the fake's schema (run with -update)", p)
		}
	}
	// No stray files.
	_ = filepath.WalkDir(filepath.Join(deployDir, "force-app"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(deployDir, path)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("stray file %s", rel)
		}
		return nil
	})
}

// The package's files say what the connector and the fake assume: parse
// them back.
func TestDeployPackageContents(t *testing.T) {
	dir := filepath.Join(deployDir, "force-app/main/default/objects", RegistrationObject, "fields")
	type field struct {
		FullName    string   `xml:"fullName"`
		Type        string   `xml:"type"`
		ExternalID  bool     `xml:"externalId"`
		Unique      bool     `xml:"unique"`
		Length      int      `xml:"length"`
		ReferenceTo string   `xml:"referenceTo"`
		Values      []string `xml:"valueSet>valueSetDefinition>value>fullName"`
		Restricted  bool     `xml:"valueSet>restricted"`
	}
	read := func(name string) field {
		b, err := os.ReadFile(filepath.Join(dir, name+".field-meta.xml"))
		if err != nil {
			t.Fatal(err)
		}
		var f field
		if err := xml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	for _, rf := range registration.FieldNames() {
		if rf == "id" {
			continue
		}
		if f := read(defaultFieldName(rf)); f.FullName != defaultFieldName(rf) || f.Type == "" {
			t.Errorf("%s: %+v", rf, f)
		}
	}
	st := read("Status__c")
	var want []string
	for _, s := range registration.Statuses {
		want = append(want, string(s))
	}
	if st.Type != "Picklist" || !st.Restricted || !slices.Equal(st.Values, want) {
		t.Errorf("status picklist: %+v", st)
	}
	for _, n := range []string{"Case_Number__c", "Submission_Key__c"} {
		if f := read(n); !f.ExternalID || !f.Unique || f.Type != "Text" {
			t.Errorf("%s: %+v", n, f)
		}
	}
	if f := read("Account__c"); f.Type != "Lookup" || f.ReferenceTo != "Account" {
		t.Errorf("Account__c: %+v", f)
	}
	if f := read("Opportunity__c"); f.Type != "Lookup" || f.ReferenceTo != "Opportunity" {
		t.Errorf("Opportunity__c: %+v", f)
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "force-app/main/default/objects/Activity/fields/Regsync_Key__c.field-meta.xml"))
	var key field
	if err == nil {
		err = xml.Unmarshal(b, &key)
	}
	if err != nil || key.FullName != "Regsync_Key__c" || key.Type != "Text" || !key.ExternalID || key.Length != 255 {
		t.Errorf("Activity.Regsync_Key__c: %+v %v", key, err)
	}
	if f := read("Consent__c"); f.Type != "Checkbox" {
		t.Errorf("Consent__c: %+v", f)
	}
	if f := read("Hold_Until__c"); f.Type != "DateTime" {
		t.Errorf("Hold_Until__c: %+v", f)
	}
}
