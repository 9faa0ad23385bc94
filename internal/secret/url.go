package secret

import (
	"regexp"
	"strings"
)

// urlPattern finds URLs with an authority (scheme://…) in text; a URL ends
// at white space, a quote or an angle bracket.
var urlPattern = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// RedactURLs shows the credentials of every URL in text as Redacted: the
// password of user information (user:<secret>@host; a user without a
// password, which may be a token, as <secret>@host), and every value of
// the query and of a key=value fragment (?token=<secret>). The rest of the
// text, and of each URL, is left as it is.
func RedactURLs(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlPattern.ReplaceAllStringFunc(text, func(u string) string {
		// Punctuation ending a sentence is not part of the URL.
		trail := len(u)
		for trail > 0 && strings.ContainsRune(".,;:)]}!", rune(u[trail-1])) {
			trail--
		}
		return RedactURL(u[:trail]) + u[trail:]
	})
}

// RedactURL shows the credentials of one URL as Redacted (see RedactURLs).
func RedactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, _, hasPass := strings.Cut(authority[:at], ":")
		if hasPass {
			authority = user + ":" + Redacted + authority[at:]
		} else {
			authority = Redacted + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	fragment, hasFragment := "", false
	if hasQuery {
		query, fragment, hasFragment = strings.Cut(query, "#")
	} else {
		path, fragment, hasFragment = strings.Cut(path, "#")
	}
	out := scheme + "://" + authority + path
	if hasQuery {
		out += "?" + redactPairs(query, true)
	}
	if hasFragment {
		out += "#" + redactPairs(fragment, false)
	}
	return out
}

// redactPairs redacts the values of a&b=c pairs; a bare item (no =) is
// redacted too in a query, where it may be a token, and kept in a
// fragment, where it is an anchor.
func redactPairs(s string, bare bool) string {
	if s == "" {
		return s
	}
	if !bare && !strings.Contains(s, "=") {
		return s
	}
	parts := strings.Split(s, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case ok && v != "":
			parts[i] = k + "=" + Redacted
		case !ok && p != "" && bare:
			parts[i] = Redacted
		}
	}
	return strings.Join(parts, "&")
}
