package intake

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/regsync/regsync/registration"
)

// labelAliases are the ways partners name the fields in a form, a CSV
// header or a Slack command, keyed by their folded form (see foldLabel).
// Canonical field names and their underscore-less forms are added in init.
var labelAliases = map[string]string{}

func init() {
	add := func(field string, labels ...string) {
		for _, l := range labels {
			labelAliases[foldLabel(l)] = field
		}
	}
	add("company_name", "Company", "Company name", "Company legal name", "Organisation", "Organization",
		"Organisation name", "Organization name", "Account", "Account name", "Customer", "Customer name",
		"Prospect", "Prospect company", "Prospect name company", "Client", "Client name", "Business", "Business name",
		"End customer", "End user company")
	add("company_domain", "Website", "Web site", "Domain", "Company website", "Company web site", "Company domain",
		"Company URL", "URL", "Web", "Site", "Homepage", "Home page", "Web address", "Website URL", "Prospect website",
		"Prospect domain", "Company website domain")
	add("contact_name", "Contact", "Contact name", "Contact person", "Name", "Full name", "Prospect contact",
		"Prospect contact name", "Customer contact", "Main contact", "Primary contact", "Decision maker", "Contact full name")
	add("contact_email", "Email", "E-mail", "Mail", "Email address", "E-mail address", "Contact email",
		"Contact e-mail", "Contact email address", "Contact mail", "Prospect email", "Customer email", "Work email")
	add("contact_role", "Role", "Title", "Job title", "Position", "Job", "Contact role", "Contact title",
		"Contact job title", "Jobtitle", "Function")
	add("problem", "Problem", "The problem", "Problem statement", "Need", "Needs", "Pain", "Pain point", "Pain points",
		"Use case", "Usecase", "Challenge", "Description", "Opportunity", "Opportunity description", "Details",
		"What they need", "The problem in a sentence", "A sentence on the problem", "Message")
	add("stage_guess", "Stage", "Deal stage", "Sales stage", "Stage guess", "Opportunity stage", "Buying stage")
	add("consent", "Consent", "Consent given", "Consent to contact", "Agreed to be contacted", "Prospect consent",
		"Opt in", "Opt-in", "Permission", "GDPR consent", "Contact consent",
		"Confirmation that the prospect agreed to be contacted", "Prospect agreed to be contacted")
	add("solution_fit", "Solution", "Solution fit", "Fit", "Proposed solution")
	add("services_needed", "Services", "Services needed", "Service needed", "Service")
	add("region", "Region", "Area", "Geo", "Territory")
	add("country", "Country", "Country code", "Nation")
	add("segment", "Segment", "Customer segment", "Market segment", "Company size", "Size")
	add("product_interest", "Product", "Products", "Product interest", "Interest", "Interested in", "Product line")
	add("target_revenue", "Target revenue", "Revenue", "Budget", "Deal size", "Deal value", "Estimated value",
		"Opportunity value", "Value", "Amount", "Est value", "Estimated deal size")
	add("competing_vendors", "Competitors", "Competition", "Competing vendors", "Competing vendor", "Other vendors",
		"Incumbent", "Alternatives")
	// The same in the languages of the spreadsheets partners export.
	add("company_name", "Firma", "Firmenname", "Unternehmen", "Kunde", "Entreprise", "Société", "Societe",
		"Empresa", "Azienda", "Bedrijf", "Bedrijfsnaam")
	add("company_domain", "Webseite", "Internetseite", "Site web", "Site internet", "Sitio web", "Sito web", "Domaine", "Dominio")
	add("contact_name", "Ansprechpartner", "Kontakt", "Kontaktperson", "Nom", "Nombre", "Nome", "Contactpersoon")
	add("contact_email", "Courriel", "Correo", "Correo electrónico", "Adresse e-mail", "E-Mail-Adresse")
	add("contact_role", "Rolle", "Funktion", "Fonction", "Poste", "Cargo", "Ruolo", "Functie")
	add("problem", "Problème", "Probleme", "Problema", "Bedarf", "Besoin", "Necesidad", "Beschreibung")
	add("consent", "Einwilligung", "Zustimmung", "Consentement", "Consentimiento", "Consenso", "Toestemming")
	add("partner_id", "Partner", "Partner id", "Partner code", "Partner key")
	add("partner_email", "Partner email", "Partner e-mail", "Your email", "Your e-mail", "Your email address", "Your e-mail address", "Submitted by",
		"Submitter", "Submitter email", "Partner contact email", "Rep email", "Registered by")
	add("partner_name", "Partner name", "Partner company", "Your company")
	add("partner_type", "Partner type", "Partner program", "Program")
	for _, f := range partnerSettable {
		if _, ok := labelAliases[foldLabel(f)]; !ok {
			labelAliases[foldLabel(f)] = f
		}
	}
}

// partnerSettable are the record fields an intake channel may fill from
// what a partner sends.
var partnerSettable = []string{
	"company_name", "company_domain", "contact_name", "contact_email", "contact_role", "problem",
	"solution_fit", "services_needed", "stage_guess", "consent", "region", "country", "segment",
	"product_interest", "target_revenue", "competing_vendors",
	"partner_id", "partner_email", "partner_name", "partner_type",
}

// ProspectFields are the fields about the prospect that a partner may
// give or supply later; the partner_* fields identify the sender and are
// set only by a channel that has authenticated it.
var ProspectFields = []string{
	"company_name", "company_domain", "contact_name", "contact_email", "contact_role", "problem",
	"solution_fit", "services_needed", "stage_guess", "consent", "region", "country", "segment",
	"product_interest", "target_revenue", "competing_vendors",
}

// IsProspectField reports whether field is one of ProspectFields.
func IsProspectField(field string) bool { return slices.Contains(ProspectFields, field) }

// FieldForLabel maps a label as people write it ("Company name",
// "E-Mail", "Website / Domain *", "Consent (yes/no)") to the canonical
// field name it means. Case, punctuation, spaces, a trailing colon,
// required-field stars and parenthesised hints do not matter. Only the
// fields a partner may send are known (never status, case_number, owner_id
// and other fields regsync or the CRM set).
func FieldForLabel(label string) (string, bool) {
	k := foldLabel(label)
	if k == "" {
		return "", false
	}
	if f, ok := labelAliases[k]; ok {
		return f, true
	}
	// "Website / Domain": try each alternative.
	if strings.ContainsAny(label, "/|") {
		var found string
		for part := range strings.FieldsFuncSeq(label, func(r rune) bool { return r == '/' || r == '|' }) {
			f, ok := labelAliases[foldLabel(part)]
			if !ok || (found != "" && f != found) {
				return "", false
			}
			found = f
		}
		return found, found != ""
	}
	return "", false
}

// foldLabel lower-cases a label and keeps only its letters and digits,
// dropping parenthesised and bracketed hints: "Company Name (legal) *:" →
// "companyname".
func foldLabel(s string) string {
	if len(s) > 80 {
		return ""
	}
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(' || r == '[':
			depth++
		case r == ')' || r == ']':
			if depth > 0 {
				depth--
			}
		case depth > 0:
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Label is the partner-friendly name of a field, for answers that list
// what is missing ("company website domain").
func Label(field string) string {
	if l, ok := shortLabels[field]; ok {
		return l
	}
	return strings.ReplaceAll(field, "_", " ")
}

// FormLabel is the label a partner writes in a reply to supply a field
// ("Website"); FieldForLabel maps it back.
func FormLabel(field string) string {
	if l, ok := formLabels[field]; ok {
		return l
	}
	s := strings.ReplaceAll(field, "_", " ")
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

var shortLabels = map[string]string{
	"company_name": "company name", "company_domain": "company website domain", "contact_name": "contact name",
	"contact_email": "contact e-mail", "contact_role": "contact role", "problem": "a sentence on the problem",
	"partner_id": "your partner id", "partner_email": "your e-mail address", "partner_name": "your company name",
	"consent": "confirmation that the prospect agreed to be contacted", "stage_guess": "deal stage",
	"product_interest": "product interest", "target_revenue": "estimated deal size", "competing_vendors": "competing vendors",
	"services_needed": "services needed", "solution_fit": "solution fit",
}

var formLabels = map[string]string{
	"company_name": "Company", "company_domain": "Website", "contact_name": "Contact", "contact_email": "Email",
	"contact_role": "Role", "problem": "Problem", "stage_guess": "Stage", "consent": "Consent",
	"product_interest": "Product", "target_revenue": "Deal size", "competing_vendors": "Competitors",
	"services_needed": "Services", "solution_fit": "Solution", "partner_email": "Partner email",
	"partner_id": "Partner", "partner_name": "Partner name",
}

// SetField parses value into the record's field, after the checks every
// channel shares: the value is valid UTF-8, holds no control characters
// other than line breaks and tabs, and is at most MaxValueLen bytes; a
// name field (NameFields) does not start like a spreadsheet formula
// (CheckFormula). A company domain is stored normalised
// ("https://www.Globex.example/x" → "globex.example"), e-mail addresses
// bare. It returns a *FieldError naming the field.
func SetField(r *registration.Record, field, value string) error {
	if err := CheckValue(value); err != nil {
		return &FieldError{Field: field, Reason: err.Error()}
	}
	value = strings.TrimSpace(value)
	if IsNameField(field) {
		if err := CheckFormula(value); err != nil {
			return &FieldError{Field: field, Reason: err.Error()}
		}
	}
	switch field {
	case "company_domain":
		if value != "" {
			d, err := registration.NormalizeDomain(value)
			if err != nil {
				return &FieldError{Field: field, Reason: "not a website or domain"}
			}
			value = d
		}
	case "contact_email", "partner_email":
		if value != "" {
			a, err := registration.ParseEmail(value)
			if err != nil {
				return &FieldError{Field: field, Reason: "not a valid e-mail address"}
			}
			value = a
		}
	case "consent":
		if _, ok := registration.ParseBool(value); !ok {
			return &FieldError{Field: field, Reason: "answer yes or no"}
		}
	}
	if err := r.Set(field, value); err != nil {
		return &FieldError{Field: field, Reason: strings.TrimPrefix(err.Error(), field+": ")}
	}
	return nil
}

// MaxValueLen bounds one field value (a problem statement of a few
// paragraphs fits; a pasted document does not).
const MaxValueLen = 4000

// CheckValue rejects text no field should hold: invalid UTF-8, control
// characters other than tab, CR and LF, and text longer than MaxValueLen.
func CheckValue(s string) error {
	if len(s) > MaxValueLen {
		return errorString("longer than 4000 characters")
	}
	if !utf8.ValidString(s) {
		return errorString("not valid text (binary data or a wrong character set)")
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return errorString("contains binary or control characters")
		}
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// NameFields are the fields that become names and short values in the CRM
// — the company, its website, the contact and their role, the partner's
// id, name, type and address, and the short classifying values — and so
// columns of every export RevOps opens in a spreadsheet. SetField refuses
// a value of theirs that starts like a formula (CheckFormula). The free
// text fields (problem, solution_fit, services_needed) keep what the
// partner wrote: a problem may well start with "=>", "+1" or "- ";
// consent and target_revenue are parsed as a yes/no and a number.
var NameFields = []string{
	"partner_id", "company_name", "company_domain", "contact_name", "contact_email", "contact_role",
	"partner_name", "partner_email", "partner_type",
	"stage_guess", "region", "country", "segment", "product_interest", "competing_vendors",
}

// IsNameField reports whether field is one of NameFields.
func IsNameField(field string) bool { return slices.Contains(NameFields, field) }

// CheckFormula refuses a value a spreadsheet would read as a formula (CSV
// or formula injection: a cell that runs a command through DDE, or sends
// the sheet's data away with HYPERLINK or WEBSERVICE, when RevOps opens
// an export). The value is checked as stored, surrounding space trimmed.
// It is refused when it starts with
//
//   - "=", "+" or "@" (or their full-width forms "＝", "＋", "＠"), a tab or
//     a carriage return — always a formula (or a cell a sheet strips to one);
//   - "-" (or "－") followed, after any spaces, by formula syntax: a digit,
//     ".", "+", "-", "=", "@", "(", "$", a quote, a function call (letters,
//     then "(": "-HYPERLINK(…"), a cell reference (one to three letters and
//     digits: "-A1", "-$B$2+…"), or anywhere a "|" or "!" (DDE:
//     "-cmd|' /C calc'!A0"; a sheet reference: "-Sheet1!A1").
//
// A name that merely starts with a dash — "-ity Labs", "- Acme", "-" — is
// kept: letters and spaces alone make no formula that runs or reads
// anything.
func CheckFormula(s string) error {
	if s == "" {
		return nil
	}
	r, n := utf8.DecodeRuneInString(s)
	switch r {
	case '=', '+', '@', '＝', '＋', '＠':
		return errorString(`starts with "` + string(r) + `" like a spreadsheet formula`)
	case '\t':
		return errorString("starts with a tab like a spreadsheet formula")
	case '\r':
		return errorString("starts with a carriage return like a spreadsheet formula")
	case '-', '－':
		if formulaAfterDash(s[n:]) {
			return errorString(`starts with "` + string(r) + `" and formula syntax (a number, an operator, a cell reference, a function call, "|" or "!") like a spreadsheet formula`)
		}
	}
	return nil
}

// formulaAfterDash reports whether what follows a leading dash is formula
// syntax (see CheckFormula).
func formulaAfterDash(rest string) bool {
	if strings.ContainsAny(rest, "|!") {
		return true
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return false
	}
	if strings.ContainsRune("0123456789.+-=@($\"'", rune(rest[0])) {
		return true
	}
	// A function call: a name, then "(".
	i := 0
	for i < len(rest) && (isASCIILetter(rest[i]) || rest[i] == '_' || rest[i] == '.' || (i > 0 && isASCIIDigit(rest[i]))) {
		i++
	}
	if i > 0 && i < len(rest) && rest[i] == '(' {
		return true
	}
	// A cell reference: 1–3 letters, digits, then no more letters or
	// digits ("A1", "XFD1048576", "B$2"; "$B$2" starts with "$").
	k := 0
	for k < len(rest) && isASCIILetter(rest[k]) {
		k++
	}
	if k == 0 || k > 3 {
		return false
	}
	if k < len(rest) && rest[k] == '$' {
		k++
	}
	d := k
	for d < len(rest) && isASCIIDigit(rest[d]) {
		d++
	}
	return d > k && (d == len(rest) || !(isASCIILetter(rest[d]) || isASCIIDigit(rest[d])))
}

func isASCIILetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }
func isASCIIDigit(b byte) bool  { return b >= '0' && b <= '9' }
