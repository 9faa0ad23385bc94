package slack

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/regsync/regsync/intake"
)

// ParseCommand reads the text of "/register company=Globex domain=globex.com
// contact="Hank Scorpio" email=hank@globex.com problem="stock by hand"
// consent=yes": key=value pairs, values with spaces in straight or curly
// quotes, keys as forgiving as the e-mail form's labels (see
// intake.FieldForLabel; "_" and "-" in keys are fine). Links Slack has
// formatted (<mailto:a@b.com|a@b.com>, <http://globex.com|globex.com>) are
// read as their text. Only the prospect's fields may be given: the partner
// is who runs the command. Errors name the key and say what is wrong.
func ParseCommand(text string) (map[string]string, error) {
	out := map[string]string{}
	s := []rune(strings.TrimSpace(text))
	i := 0
	for i < len(s) {
		for i < len(s) && unicode.IsSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && !unicode.IsSpace(s[i]) {
			i++
		}
		key := string(s[start:i])
		if i >= len(s) || s[i] != '=' {
			return nil, intake.Refuse(key, "expected key=value, such as company=Globex (put values with spaces in quotes)")
		}
		i++ // '='
		var val []rune
		if i < len(s) && isOpenQuote(s[i]) {
			closer := closeQuote(s[i])
			i++
			j := i
			for j < len(s) && !isCloseQuote(s[j], closer) {
				j++
			}
			if j >= len(s) {
				return nil, intake.Refuse(key, "the quote is not closed")
			}
			val = s[i:j]
			i = j + 1
		} else {
			j := i
			for j < len(s) && !unicode.IsSpace(s[j]) {
				j++
			}
			val = s[i:j]
			i = j
		}
		field, ok := intake.FieldForLabel(key)
		if !ok || !intake.IsProspectField(field) {
			return nil, intake.Refuse(key, fmt.Sprintf("unknown field %q: use company, domain, contact, email, role, problem, stage, consent", key))
		}
		if _, dup := out[field]; dup {
			return nil, intake.Refuse(key, "given twice")
		}
		out[field] = unlink(strings.TrimSpace(string(val)))
	}
	return out, nil
}

func isOpenQuote(r rune) bool { return r == '"' || r == '\'' || r == '“' || r == '‘' || r == '«' }

func closeQuote(r rune) rune {
	switch r {
	case '“':
		return '”'
	case '‘':
		return '’'
	case '«':
		return '»'
	}
	return r
}

func isCloseQuote(r, closer rune) bool {
	return r == closer || (closer == '”' && r == '"') || (closer == '"' && r == '”')
}

// unlink reads Slack's link markup: <mailto:a@b.com|a@b.com> → a@b.com,
// <http://globex.com|globex.com> → globex.com, <http://globex.com> →
// http://globex.com.
func unlink(v string) string {
	if !strings.HasPrefix(v, "<") || !strings.HasSuffix(v, ">") {
		return v
	}
	inner := v[1 : len(v)-1]
	if _, label, ok := strings.Cut(inner, "|"); ok {
		return label
	}
	return strings.TrimPrefix(inner, "mailto:")
}
