package registration

import (
	"reflect"
	"slices"
	"testing"
)

// The registry lists every field of Record once, in canonical order, and
// each name constant names a field.
func TestRegistryCoversEveryField(t *testing.T) {
	var names []string
	for _, in := range Infos() {
		names = append(names, in.Name)
		if in.Label == "" || in.FormLabel == "" || in.Prompt == "" {
			t.Errorf("%s: label %q form label %q prompt %q", in.Name, in.Label, in.FormLabel, in.Prompt)
		}
		if in.SetBy == 0 {
			t.Errorf("%s: nobody sets it", in.Name)
		}
		if f, ok := LookupField(in.Name); !ok || f.Info().Name != in.Name {
			t.Errorf("%s: not a field of Record", in.Name)
		}
	}
	if !slices.Equal(names, FieldNames()) {
		t.Errorf("registry order\n%v\nfields\n%v", names, FieldNames())
	}
	for _, c := range []string{FieldID, FieldCaseNumber, FieldSubmissionKey, FieldStatus, FieldCompanyName, FieldCompanyDomain,
		FieldContactEmail, FieldPartnerEmail, FieldConsent, FieldDeclinedReason, FieldSLADue} {
		if _, ok := LookupField(c); !ok {
			t.Errorf("constant %q names no field", c)
		}
	}
}

// The lists derived from the registry are the ones the channels held
// before it (intake's partner-settable, prospect and name-field lists).
func TestRegistryDerivedLists(t *testing.T) {
	var prospect, fromPartner, short []string
	for _, in := range Infos() {
		if in.Prospect() {
			prospect = append(prospect, in.Name)
		}
		if in.FromPartner() {
			fromPartner = append(fromPartner, in.Name)
		}
		if in.Short {
			short = append(short, in.Name)
		}
	}
	wantProspect := []string{"company_name", "company_domain", "contact_name", "contact_email", "contact_role", "problem",
		"solution_fit", "services_needed", "stage_guess", "consent", "region", "country", "segment",
		"product_interest", "target_revenue", "competing_vendors"}
	if !reflect.DeepEqual(prospect, wantProspect) || !reflect.DeepEqual(ProspectFields(), wantProspect) {
		t.Errorf("prospect fields %v", prospect)
	}
	wantFromPartner := append([]string{"partner_id", "partner_name", "partner_email", "partner_type"}, wantProspect...)
	slices.Sort(fromPartner)
	slices.Sort(wantFromPartner)
	if !reflect.DeepEqual(fromPartner, wantFromPartner) {
		t.Errorf("fields from the partner %v", fromPartner)
	}
	wantShort := []string{"partner_id", "company_name", "company_domain", "contact_name", "contact_email", "contact_role",
		"partner_name", "partner_email", "partner_type", "stage_guess", "region", "country", "segment", "product_interest", "competing_vendors"}
	slices.Sort(short)
	slices.Sort(wantShort)
	if !reflect.DeepEqual(short, wantShort) {
		t.Errorf("short (name) fields %v", short)
	}
}

func TestRegistryLabels(t *testing.T) {
	for name, want := range map[string][3]string{
		FieldCompanyDomain: {"company website domain", "Website", "Company website"},
		FieldConsent:       {"confirmation that the prospect agreed to be contacted", "Consent", "The prospect agreed to be contacted"},
		FieldTargetRevenue: {"estimated deal size", "Deal size", "Estimated deal size"},
		FieldRegion:        {"region", "Region", "Region"},
		"no_such_field":    {"no such field", "No such field", "No such field"},
	} {
		in := FieldInfo(name)
		if got := [3]string{in.Label, in.FormLabel, in.Prompt}; got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if FieldInfo(FieldCompanyDomain).Input.HTMLType() != "text" || FieldInfo(FieldProblem).Input.HTMLType() != "textarea" ||
		FieldInfo(FieldConsent).Input.HTMLType() != "checkbox" || FieldInfo(FieldContactEmail).Input.HTMLType() != "email" {
		t.Error("HTML input types")
	}
}
