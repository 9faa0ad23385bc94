package intake

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/regsync/regsync/registration"
)

// labelAliases are the ways partners name the fields in a form, a CSV
// header or a Slack command, keyed by their folded form (see foldLabel):
// the registry's aliases (registration.Info.Aliases) and the canonical
// names of the fields a partner may send, with or without underscores.
var labelAliases = map[string]string{}

func init() {
	var settable []string
	for _, in := range registration.Infos() {
		for _, l := range in.Aliases {
			labelAliases[foldLabel(l)] = in.Name
		}
		if in.FromPartner() {
			settable = append(settable, in.Name)
		}
	}
	for _, f := range settable {
		if _, ok := labelAliases[foldLabel(f)]; !ok {
			labelAliases[foldLabel(f)] = f
		}
	}
}

// settable reports whether an intake channel may fill the field from what
// a partner sends (registration.Info.FromPartner).
func settable(f string) bool {
	_, ok := registration.LookupField(f)
	return ok && registration.FieldInfo(f).FromPartner()
}

// ProspectFields are the fields about the prospect that a partner may
// give or supply later; the partner_* fields identify the sender and are
// set only by a channel that has authenticated it.
var ProspectFields = registration.ProspectFields()

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
// what is missing ("company website domain"; registration.Info.Label).
func Label(field string) string { return registration.FieldLabel(field) }

// FormLabel is the label a partner writes in a reply to supply a field
// ("Website"); FieldForLabel maps it back.
func FormLabel(field string) string { return registration.FieldInfo(field).FormLabel }

// SetField parses value into the record's field, after the checks every
// channel shares: the value is valid UTF-8, holds no control characters
// other than line breaks and tabs, and is at most MaxValueLen bytes; a
// name field (IsNameField) does not start like a spreadsheet formula
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
	case registration.FieldCompanyDomain:
		if value != "" {
			d, err := registration.NormalizeDomain(value)
			if err != nil {
				return &FieldError{Field: field, Reason: "not a website or domain"}
			}
			value = d
		}
	case registration.FieldContactEmail, registration.FieldPartnerEmail:
		if value != "" {
			a, err := registration.ParseEmail(value)
			if err != nil {
				return &FieldError{Field: field, Reason: "not a valid e-mail address"}
			}
			value = a
		}
	case registration.FieldConsent:
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

// IsNameField reports whether field becomes a name or short value in the
// CRM — the company, its website, the contact and their role, the
// partner's id, name, type and address, and the short classifying values
// (registration.Info.Short) — and so a column of every export RevOps opens
// in a spreadsheet. SetField refuses a value of theirs that starts like a
// formula (CheckFormula). The free text fields (problem, solution_fit,
// services_needed) keep what the partner wrote: a problem may well start
// with "=>", "+1" or "- "; consent and target_revenue are parsed as a
// yes/no and a number.
func IsNameField(field string) bool {
	_, ok := registration.LookupField(field)
	return ok && registration.FieldInfo(field).Short
}

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
