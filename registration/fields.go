package registration

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The canonical field names: the `field` tags of Record, the default
// HubSpot property names, the names in YAML rule tests and field mappings.
// They are a contract stored in CRMs: never rename one. (The connectors
// derive each CRM's property names from them: HubSpot uses them as they
// are, Salesforce as Case_Number__c and so on, both overridable in YAML.)
const (
	FieldID               = "id"
	FieldCaseNumber       = "case_number"
	FieldSubmissionKey    = "submission_key"
	FieldStatus           = "status"
	FieldStatusReason     = "status_reason"
	FieldStatusMessage    = "status_message"
	FieldSource           = "source"
	FieldPartnerID        = "partner_id"
	FieldPartnerName      = "partner_name"
	FieldPartnerEmail     = "partner_email"
	FieldPartnerType      = "partner_type"
	FieldCompanyName      = "company_name"
	FieldCompanyDomain    = "company_domain"
	FieldContactName      = "contact_name"
	FieldContactEmail     = "contact_email"
	FieldContactRole      = "contact_role"
	FieldProblem          = "problem"
	FieldSolutionFit      = "solution_fit"
	FieldServicesNeeded   = "services_needed"
	FieldStageGuess       = "stage_guess"
	FieldConsent          = "consent"
	FieldRegion           = "region"
	FieldCountry          = "country"
	FieldSegment          = "segment"
	FieldProductInterest  = "product_interest"
	FieldTargetRevenue    = "target_revenue"
	FieldCompetingVendors = "competing_vendors"
	FieldSubmittedAt      = "submitted_at"
	FieldFirstResponseAt  = "first_response_at"
	FieldDecidedAt        = "decided_at"
	FieldApprovedAt       = "approved_at"
	FieldHoldUntil        = "hold_until"
	FieldMeetingDue       = "meeting_due"
	FieldSLADue           = "sla_due"
	FieldFirstMeetingAt   = "first_meeting_at"
	FieldAttributedAt     = "attributed_at"
	FieldOwnerID          = "owner_id"
	FieldCompanyID        = "company_id"
	FieldDealID           = "deal_id"
	FieldConflictWith     = "conflict_with"
	FieldSubmissionSeq    = "submission_seq"
	FieldAppealCount      = "appeal_count"
	FieldDeclinedReason   = "declined_reason"
)

// Input is how a form asks for a field.
type Input string

// Input kinds. A field without one is never asked for in a form.
const (
	InputNone     Input = ""
	InputText     Input = "text"
	InputEmail    Input = "email"
	InputDomain   Input = "domain" // a website or bare domain, stored normalised
	InputTextarea Input = "textarea"
	InputCheckbox Input = "checkbox"
	InputNumber   Input = "number"
	InputChoice   Input = "choice" // one of Info.Choices
)

// HTMLType is the type attribute of the HTML control that asks for a
// field of this kind: a domain is typed as text (browsers' url type would
// refuse "globex.com").
func (i Input) HTMLType() string {
	switch i {
	case InputEmail, InputTextarea, InputCheckbox:
		return string(i)
	}
	return "text"
}

// Setter says who may set a field.
type Setter uint8

// Who sets fields. A field may have more than one.
const (
	// ByPartner: the partner gives it about the prospect when registering
	// and may supply it later (the status page, an e-mail reply).
	ByPartner Setter = 1 << iota
	// BySender: it names the partner who sends; a channel sets it from
	// the authenticated sender (or, for a HubSpot form and a CSV file,
	// from what the form or file says — the rules check it).
	BySender
	// ByAE: an account executive sets it in the CRM (a manual decision,
	// the owner, the first meeting, the deal).
	ByAE
	// ByRegsync: regsync sets it (keys, decisions, dates).
	ByRegsync
	// ByCRM: the CRM sets it (its own object id).
	ByCRM
)

// Info is what regsync knows about one field beyond its type (Field): how
// partners name it, how forms ask for it, who sets it. Every partner-facing
// form, label and alias list is derived from it.
type Info struct {
	Name string
	// Label names the field in running text for a partner ("company
	// website domain"), as in "Still needed: …".
	Label string
	// FormLabel is the label a partner writes before its value in an
	// e-mail ("Website: globex.com"); it reads back as this field.
	FormLabel string
	// Prompt is the question a form asks ("Contact's name").
	Prompt string
	// Hint explains a form's input ("" for none).
	Hint string
	// Input is the kind of form input; InputNone for fields no form asks.
	Input Input
	// Choices are the values of an InputChoice field.
	Choices []string
	// SetBy says who may set the field.
	SetBy Setter
	// Aliases are the other names partners give the field in a form, a
	// CSV header or a Slack command ("Website", "Domain", "Webseite").
	Aliases []string
	// Short is set for the fields that become names and short values in
	// the CRM and so columns of exports a spreadsheet opens: a value of
	// theirs must not start like a formula. Free text (the problem) and
	// parsed values (consent, target revenue) are not.
	Short bool
	// MultiLine is set for free text that may run over several lines.
	MultiLine bool
}

// Prospect reports whether the partner gives the field about the prospect
// (ByPartner).
func (i Info) Prospect() bool { return i.SetBy&ByPartner != 0 }

// FromPartner reports whether an intake channel may fill the field from
// what a partner sends: the prospect's fields and the sender's.
func (i Info) FromPartner() bool { return i.SetBy&(ByPartner|BySender) != 0 }

const (
	byRegsync = ByRegsync
	byAE      = ByAE | ByRegsync
)

// infos lists every field in canonical order (see canonicalOrder).
var infos = []Info{
	{Name: FieldID, SetBy: ByCRM},
	{Name: FieldCaseNumber, SetBy: byRegsync},
	{Name: FieldSubmissionKey, SetBy: byRegsync},
	{Name: FieldStatus, SetBy: byAE},
	{Name: FieldStatusReason, SetBy: byAE},
	{Name: FieldStatusMessage, SetBy: byAE},
	{Name: FieldSource, SetBy: byRegsync},
	{Name: FieldPartnerID, Label: "your partner id", FormLabel: "Partner", SetBy: BySender, Short: true,
		Aliases: []string{"Partner", "Partner id", "Partner code", "Partner key"}},
	{Name: FieldPartnerName, Label: "your company name", FormLabel: "Partner name", SetBy: BySender, Short: true,
		Aliases: []string{"Partner name", "Partner company", "Your company"}},
	{Name: FieldPartnerEmail, Label: "your e-mail address", FormLabel: "Partner email", Prompt: "Your work e-mail", Input: InputEmail, SetBy: BySender, Short: true,
		Aliases: []string{"Partner email", "Partner e-mail", "Your email", "Your e-mail", "Your email address", "Your e-mail address", "Submitted by",
			"Submitter", "Submitter email", "Partner contact email", "Rep email", "Registered by"}},
	{Name: FieldPartnerType, SetBy: BySender, Short: true,
		Aliases: []string{"Partner type", "Partner program", "Program"}},
	{Name: FieldCompanyName, Label: "company name", FormLabel: "Company", Prompt: "Company name", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Company", "Company name", "Company legal name", "Organisation", "Organization",
			"Organisation name", "Organization name", "Account", "Account name", "Customer", "Customer name",
			"Prospect", "Prospect company", "Prospect name company", "Client", "Client name", "Business", "Business name",
			"End customer", "End user company",
			// The same in the languages of the spreadsheets partners export.
			"Firma", "Firmenname", "Unternehmen", "Kunde", "Entreprise", "Société", "Societe",
			"Empresa", "Azienda", "Bedrijf", "Bedrijfsnaam"}},
	{Name: FieldCompanyDomain, Label: "company website domain", FormLabel: "Website", Prompt: "Company website",
		Hint: "The prospect's own website, such as globex.com (not a free e-mail provider).", Input: InputDomain, SetBy: ByPartner, Short: true,
		Aliases: []string{"Website", "Web site", "Domain", "Company website", "Company web site", "Company domain",
			"Company URL", "URL", "Web", "Site", "Homepage", "Home page", "Web address", "Website URL", "Prospect website",
			"Prospect domain", "Company website domain",
			"Webseite", "Internetseite", "Site web", "Site internet", "Sitio web", "Sito web", "Domaine", "Dominio"}},
	{Name: FieldContactName, Label: "contact name", FormLabel: "Contact", Prompt: "Contact's name", Hint: "The person at the prospect you spoke with.",
		Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Contact", "Contact name", "Contact person", "Name", "Full name", "Prospect contact",
			"Prospect contact name", "Customer contact", "Main contact", "Primary contact", "Decision maker", "Contact full name",
			"Ansprechpartner", "Kontakt", "Kontaktperson", "Nom", "Nombre", "Nome", "Contactpersoon"}},
	{Name: FieldContactEmail, Label: "contact e-mail", FormLabel: "Email", Prompt: "Contact's e-mail",
		Input: InputEmail, SetBy: ByPartner, Short: true,
		Aliases: []string{"Email", "E-mail", "Mail", "Email address", "E-mail address", "Contact email",
			"Contact e-mail", "Contact email address", "Contact mail", "Prospect email", "Customer email", "Work email",
			"Courriel", "Correo", "Correo electrónico", "Adresse e-mail", "E-Mail-Adresse"}},
	{Name: FieldContactRole, Label: "contact role", FormLabel: "Role", Prompt: "Contact's role", Hint: "Such as CFO.", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Role", "Title", "Job title", "Position", "Job", "Contact role", "Contact title",
			"Contact job title", "Jobtitle", "Function",
			"Rolle", "Funktion", "Fonction", "Poste", "Cargo", "Ruolo", "Functie"}},
	{Name: FieldProblem, Label: "a sentence on the problem", FormLabel: "Problem", Prompt: "The problem, in a sentence", Hint: "What does the prospect need?",
		Input: InputTextarea, SetBy: ByPartner, MultiLine: true,
		Aliases: []string{"Problem", "The problem", "Problem statement", "Need", "Needs", "Pain", "Pain point", "Pain points",
			"Use case", "Usecase", "Challenge", "Description", "Opportunity", "Opportunity description", "Details",
			"What they need", "The problem in a sentence", "A sentence on the problem", "Message",
			"Problème", "Probleme", "Problema", "Bedarf", "Besoin", "Necesidad", "Beschreibung"}},
	{Name: FieldSolutionFit, Label: "solution fit", FormLabel: "Solution", Input: InputTextarea, SetBy: ByPartner, MultiLine: true,
		Aliases: []string{"Solution", "Solution fit", "Fit", "Proposed solution"}},
	{Name: FieldServicesNeeded, Label: "services needed", FormLabel: "Services", Input: InputTextarea, SetBy: ByPartner, MultiLine: true,
		Aliases: []string{"Services", "Services needed", "Service needed", "Service"}},
	{Name: FieldStageGuess, Label: "deal stage", FormLabel: "Stage", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Stage", "Deal stage", "Sales stage", "Stage guess", "Opportunity stage", "Buying stage"}},
	{Name: FieldConsent, Label: "confirmation that the prospect agreed to be contacted", FormLabel: "Consent",
		Prompt: "The prospect agreed to be contacted", Input: InputCheckbox, SetBy: ByPartner,
		Aliases: []string{"Consent", "Consent given", "Consent to contact", "Agreed to be contacted", "Prospect consent",
			"Opt in", "Opt-in", "Permission", "GDPR consent", "Contact consent",
			"Confirmation that the prospect agreed to be contacted", "Prospect agreed to be contacted",
			"Einwilligung", "Zustimmung", "Consentement", "Consentimiento", "Consenso", "Toestemming"}},
	{Name: FieldRegion, Label: "region", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Region", "Area", "Geo", "Territory"}},
	{Name: FieldCountry, Label: "country", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Country", "Country code", "Nation"}},
	{Name: FieldSegment, Label: "segment", Input: InputText, SetBy: ByPartner, Short: true,
		Aliases: []string{"Segment", "Customer segment", "Market segment", "Company size", "Size"}},
	{Name: FieldProductInterest, Label: "product interest", FormLabel: "Product", Input: InputText, SetBy: ByPartner, Short: true, MultiLine: true,
		Aliases: []string{"Product", "Products", "Product interest", "Interest", "Interested in", "Product line"}},
	{Name: FieldTargetRevenue, Label: "estimated deal size", FormLabel: "Deal size", Input: InputNumber, SetBy: ByPartner,
		Aliases: []string{"Target revenue", "Revenue", "Budget", "Deal size", "Deal value", "Estimated value",
			"Opportunity value", "Value", "Amount", "Est value", "Estimated deal size"}},
	{Name: FieldCompetingVendors, Label: "competing vendors", FormLabel: "Competitors", Input: InputText, SetBy: ByPartner, Short: true, MultiLine: true,
		Aliases: []string{"Competitors", "Competition", "Competing vendors", "Competing vendor", "Other vendors",
			"Incumbent", "Alternatives"}},
	{Name: FieldSubmittedAt, SetBy: byRegsync},
	{Name: FieldFirstResponseAt, SetBy: byRegsync},
	{Name: FieldDecidedAt, SetBy: byAE},
	{Name: FieldApprovedAt, SetBy: byRegsync},
	{Name: FieldHoldUntil, SetBy: byAE},
	{Name: FieldMeetingDue, SetBy: byAE},
	{Name: FieldSLADue, SetBy: byRegsync},
	{Name: FieldFirstMeetingAt, SetBy: byAE},
	{Name: FieldAttributedAt, SetBy: byRegsync},
	{Name: FieldOwnerID, SetBy: byAE},
	{Name: FieldCompanyID, SetBy: byAE},
	{Name: FieldDealID, SetBy: byAE},
	{Name: FieldConflictWith, SetBy: byRegsync},
	{Name: FieldSubmissionSeq, SetBy: byRegsync},
	{Name: FieldAppealCount, SetBy: byRegsync},
	{Name: FieldDeclinedReason, SetBy: byRegsync},
}

var infoByName = map[string]int{}

func init() {
	// canonicalOrder, not fields: record.go's init, which builds fields,
	// runs after this file's.
	if len(infos) != len(canonicalOrder) {
		panic("registration: the field registry does not list every field")
	}
	for i := range infos {
		in := &infos[i]
		if in.Name != canonicalOrder[i] {
			panic("registration: the field registry is not in canonical order at " + in.Name)
		}
		if in.Label == "" {
			in.Label = strings.ReplaceAll(in.Name, "_", " ")
		}
		if in.FormLabel == "" {
			in.FormLabel = upperFirst(in.Label)
		}
		if in.Prompt == "" {
			in.Prompt = upperFirst(in.Label)
		}
		infoByName[in.Name] = i
	}
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// Info returns the field's registry entry.
func (f Field) Info() Info { return FieldInfo(f.Name) }

// FieldInfo returns the registry entry of the named field; an unknown name
// gets an entry with its name and a label made from it.
func FieldInfo(name string) Info {
	if i, ok := infoByName[name]; ok {
		return infos[i]
	}
	l := strings.ReplaceAll(name, "_", " ")
	return Info{Name: name, Label: l, FormLabel: upperFirst(l), Prompt: upperFirst(l)}
}

// Infos lists every field's registry entry in canonical order.
func Infos() []Info { return append([]Info(nil), infos...) }

// FieldLabel is the partner-friendly name of a field in running text
// ("company website domain"; see Info.Label).
func FieldLabel(name string) string { return FieldInfo(name).Label }

// ProspectFields lists the fields a partner gives about the prospect and
// may supply later (ByPartner), in canonical order.
func ProspectFields() []string {
	var out []string
	for _, in := range infos {
		if in.Prospect() {
			out = append(out, in.Name)
		}
	}
	return out
}

// QuickForm lists the fields the short registration forms (the web form,
// the Slack modal) ask for, in order; contact_role is optional there
// (QuickFormOptional), the rest required. Consent is asked for beside them.
func QuickForm() []string {
	return []string{FieldCompanyName, FieldCompanyDomain, FieldContactName, FieldContactEmail, FieldContactRole, FieldProblem}
}

// QuickFormOptional reports whether a field of QuickForm may be left blank.
func QuickFormOptional(name string) bool { return name == FieldContactRole }
