package email

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// Form is what ParseForm reads from the partner's own text.
type Form struct {
	// Fields maps canonical field names to the values given. When a field
	// is given twice, the first value counts.
	Fields map[string]string
	// Order lists the fields in the order they appeared.
	Order []string
	// Unknown lists labels that looked like "Label: value" but name no
	// field regsync knows, in order, without repeats.
	Unknown []string
}

// Limits of the form parser: a registration form is a dozen lines.
const (
	maxFormBytes = 64 << 10
	maxFormLines = 2000
	maxLabelLen  = 60
)

// multiLine are the fields whose value may continue on the next lines;
// every other field takes one line.
var multiLine = map[string]bool{}

func init() {
	for _, in := range registration.Infos() {
		multiLine[in.Name] = in.MultiLine
	}
}

// ParseForm reads the forgiving "Field: value" form from the partner's own
// text (pass Split(body).Own): one field a line, labels as people write
// them ("Company", "Company name", "Website", "Domain", "E-mail",
// "Consent: yes" …, see intake.FieldForLabel), "- " or "* " bullets and
// **bold** labels allowed, a value on the line after its label allowed, and
// multi-line values for the free-text fields (problem, solution fit,
// services, competitors, products) until a blank line or the next label.
// Lines quoted with ">" and everything after a signature delimiter ("-- ")
// are ignored. Values are cleaned of the link decorations mail clients add
// ("globex.example <http://globex.example>", "a@b.example<mailto:a@b.example>").
func ParseForm(text string) Form {
	f := Form{Fields: map[string]string{}}
	if len(text) > maxFormBytes {
		text = text[:maxFormBytes]
	}
	lines := splitLines(text)
	if len(lines) > maxFormLines {
		lines = lines[:maxFormLines]
	}
	var (
		cur         string // field taking continuation lines
		pendingNext string // field whose value is on the next non-blank line
		buf         []string
		unknown     = map[string]bool{}
	)
	flush := func() {
		if cur != "" && len(buf) > 0 {
			f.set(cur, strings.Join(buf, "\n"))
		}
		cur, buf = "", nil
	}
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if t == "--" || line == "-- " {
			break // signature
		}
		if strings.HasPrefix(t, ">") {
			flush()
			pendingNext = ""
			continue
		}
		if t == "" {
			if pendingNext == "" {
				flush()
			}
			continue
		}
		if label, value, ok := splitLabel(t); ok {
			if field, known := intake.FieldForLabel(label); known {
				flush()
				pendingNext = ""
				value = cleanValue(value)
				if value == "" {
					pendingNext = field
					continue
				}
				if multiLine[field] {
					cur, buf = field, []string{value}
				} else {
					f.set(field, value)
				}
				continue
			}
			if looksLikeLabel(label) {
				flush()
				pendingNext = ""
				if k := strings.TrimSpace(label); !unknown[strings.ToLower(k)] && len(f.Unknown) < 20 {
					unknown[strings.ToLower(k)] = true
					f.Unknown = append(f.Unknown, k)
				}
				continue
			}
		}
		switch {
		case pendingNext != "":
			v := cleanValue(t)
			if multiLine[pendingNext] {
				cur, buf = pendingNext, []string{v}
			} else {
				f.set(pendingNext, v)
			}
			pendingNext = ""
		case cur != "":
			buf = append(buf, cleanValue(t))
		}
	}
	flush()
	return f
}

func (f *Form) set(field, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	if _, dup := f.Fields[field]; dup {
		return
	}
	f.Fields[field] = value
	f.Order = append(f.Order, field)
}

// splitLines normalises line ends and invisible characters and splits.
func splitLines(s string) []string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\u00a0', '\u2007', '\u202f', '\t':
			return ' '
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
			return -1
		}
		if r == utf8.RuneError || (r < 0x20 && r != '\n') || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.Split(s, "\n")
}

// splitLabel splits "Label: value" (also "- **Label:** value" and a
// full-width colon) into its label and value.
func splitLabel(t string) (label, value string, ok bool) {
	t = strings.TrimLeft(t, "-*•·– ")
	i := strings.IndexAny(t, ":：")
	if i <= 0 {
		return "", "", false
	}
	label = t[:i]
	_, n := utf8.DecodeRuneInString(t[i:])
	value = t[i+n:]
	// "**Company:** Globex" and "**Company**: Globex".
	label = strings.Trim(label, "*_ ")
	value = strings.TrimSpace(strings.TrimLeft(value, "*_"))
	if label == "" || len(label) > maxLabelLen {
		return "", "", false
	}
	r, _ := utf8.DecodeRuneInString(label)
	if !unicode.IsLetter(r) {
		return "", "", false
	}
	// "https://…" and "10:30" are not labels.
	if strings.HasPrefix(value, "//") {
		return "", "", false
	}
	return label, value, true
}

// looksLikeLabel tells a label nobody knows ("Phone", "Notes") from prose
// that happens to hold a colon ("We met them last week: they need…").
func looksLikeLabel(label string) bool {
	return len(strings.Fields(label)) <= 4 && !strings.ContainsAny(label, ".,!?;")
}

var (
	reAngleLink = regexp.MustCompile(`\s*<(?:mailto:|https?://)[^>]*>`)
	reParenLink = regexp.MustCompile(`\s*[(\[]\s*(?:mailto:|https?://)[^)\]]*[)\]]`)
	reMDLink    = regexp.MustCompile(`\[([^\]]*)\]\((?:mailto:|https?://)[^)]*\)`)
)

// cleanValue strips the decorations mail clients put around links and
// emphasis: "globex.example <http://globex.example>" → "globex.example".
func cleanValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.ContainsAny(v, "<[(*_\"“'") {
		return v
	}
	v = reMDLink.ReplaceAllString(v, "$1")
	if s := strings.TrimSpace(reAngleLink.ReplaceAllString(v, "")); s != "" {
		v = s
	}
	if s := strings.TrimSpace(reParenLink.ReplaceAllString(v, "")); s != "" {
		v = s
	}
	for _, p := range [][2]string{{"**", "**"}, {"__", "__"}, {"*", "*"}, {"_", "_"}, {`"`, `"`}, {"“", "”"}, {"'", "'"}} {
		if len(v) > len(p[0])+len(p[1]) && strings.HasPrefix(v, p[0]) && strings.HasSuffix(v, p[1]) {
			v = strings.TrimSpace(v[len(p[0]) : len(v)-len(p[1])])
		}
	}
	return v
}

// Consent answers partners write beside yes and no.
var consentWords = map[string]bool{
	"yes": true, "y": true, "true": true, "agreed": true, "agree": true, "ok": true, "okay": true,
	"confirmed": true, "confirm": true, "given": true, "x": true, "✓": true, "✔": true, "✅": true, "1": true,
	"ja": true, "oui": true, "si": true, "sí": true, "sim": true,
	"no": false, "n": false, "false": false, "0": false, "none": false, "nein": false, "non": false, "not": false,
}

// normalizeConsent reads "Yes, on a call on 3 March" as yes and "No (not
// yet)" as no; anything else is returned as it is (and refused later).
func normalizeConsent(v string) string {
	w := strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == '.' || r == '!' || r == ';' || r == '(' || r == ')' || r == '-'
	})
	if len(w) == 0 {
		return v
	}
	if yes, ok := consentWords[w[0]]; ok {
		if yes {
			return "yes"
		}
		return "no"
	}
	return v
}
