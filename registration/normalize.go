package registration

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidDomain is returned (wrapped) for text that holds no usable domain.
var ErrInvalidDomain = errors.New("invalid domain")

// NormalizeDomain reduces a bare domain, a URL or an e-mail address to a
// lower-case host name without "www.", port, path or trailing dot, with IDN
// labels in punycode.
func NormalizeDomain(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidDomain)
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.Contains(s, "://") {
		s = s[i+1:]
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%w: %q", ErrInvalidDomain, s)
		}
		s = u.Hostname()
	} else if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	a, err := idna.Lookup.ToASCII(s)
	if err != nil || a == "" || !strings.Contains(a, ".") {
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, s)
	}
	return strings.TrimPrefix(a, "www."), nil
}

// RegistrableDomain returns the registrable domain (eTLD+1) of a normalised
// host name: "eu.globex.example" → "globex.example", "globex.co.uk" stays.
func RegistrableDomain(domain string) (string, error) {
	d, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidDomain, domain, err)
	}
	return d, nil
}

var legalSuffixes = map[string]bool{
	"inc": true, "incorporated": true, "llc": true, "ltd": true, "limited": true, "gmbh": true,
	"sa": true, "corp": true, "corporation": true, "co": true, "company": true, "plc": true,
	"ag": true, "bv": true, "nv": true, "srl": true, "sas": true, "sarl": true, "oy": true, "ab": true,
	"as": true, "kg": true, "pty": true, "pte": true, "lp": true, "llp": true, "spa": true,
}

// CompanyKey normalises a company name for matching: case, accents and
// punctuation folded, legal suffixes and a leading "The" dropped, so
// "ACME, Inc." ~ "Acme Incorporated" ~ "The Acme Company".
func CompanyKey(name string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case r == '.':
		default:
			b.WriteByte(' ')
		}
	}
	words := strings.Fields(b.String())
	if len(words) > 1 && words[0] == "the" {
		words = words[1:]
	}
	for len(words) > 1 && legalSuffixes[words[len(words)-1]] {
		words = words[:len(words)-1]
	}
	return strings.Join(words, " ")
}

// ParseEmail reads an address with or without a display name and returns it
// with its domain lower-cased.
func ParseEmail(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("invalid e-mail address %q: %w", s, err)
	}
	i := strings.LastIndexByte(a.Address, '@')
	return a.Address[:i] + "@" + strings.ToLower(a.Address[i+1:]), nil
}

// EmailDomain returns the lower-case domain of an address, or "".
func EmailDomain(addr string) string {
	a, err := ParseEmail(addr)
	if err != nil {
		return ""
	}
	return a[strings.LastIndexByte(a, '@')+1:]
}
