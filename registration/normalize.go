package registration

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidDomain is returned (wrapped) for text that holds no usable domain.
var ErrInvalidDomain = errors.New("invalid domain")

// ErrInvalidEmail is returned (wrapped) by ParseEmail for text that holds no
// usable e-mail address. Its messages never repeat the address's local part.
var ErrInvalidEmail = errors.New("invalid e-mail address")

const (
	// maxInputLen bounds the text NormalizeDomain and ParseEmail look at;
	// a URL longer than this is hostile or broken.
	maxInputLen = 8 << 10
	// maxDomainLen and maxLabelLen are the DNS limits (RFC 1035) on the
	// ASCII form of a host name without its trailing dot.
	maxDomainLen = 253
	maxLabelLen  = 63
	// maxLocalLen and maxAddrLen are the SMTP limits (RFC 5321) on an
	// address's local part and on the whole address.
	maxLocalLen = 64
	maxAddrLen  = 254
	// maxQuoted bounds how much of a rejected value an error repeats.
	maxQuoted = 64
)

func domainErr(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidDomain, reason)
}

func domainErrQ(reason, value string) error {
	return fmt.Errorf("%w: %s: %q", ErrInvalidDomain, reason, clip(value))
}

// clip shortens s for an error message, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// NormalizeDomain reduces a bare domain, a URL or an e-mail address to a
// lower-case host name without "www.", port, path, query, fragment, userinfo
// or trailing dot, with IDN labels in punycode:
//
//	"https://www.Globex.example/about?x=1"  → "globex.example"
//	"www.globex.example/about"              → "globex.example"
//	`"Jane" <jane@Globex.example>`          → "globex.example"
//	"mailto:jane@globex.example?subject=hi" → "globex.example"
//	"bücher.example"                        → "xn--bcher-kva.example"
//
// Only http and https URLs are accepted; any number of slashes may follow
// their scheme, as in browsers. A leading "www." is dropped (repeatedly)
// unless what remains is a single label or a public suffix, so "www.com" and
// "www.co.uk" stay as they are.
//
// It fails with a wrapped ErrInvalidDomain for blank text, control
// characters, backslashes, spaces inside the host, IP addresses (v4 or v6,
// bracketed or not), single labels such as "localhost", empty labels
// ("a..b"), labels longer than 63 bytes or names longer than 253, labels that
// start or end with a hyphen, percent-encoded or otherwise invalid host
// characters, invalid punycode, other URL schemes ("javascript:", "data:",
// "ftp://" …), several "@" outside quotes, and a non-numeric port.
//
// The result is a fixed point: NormalizeDomain(out) == out. The error never
// repeats an e-mail address's local part.
func NormalizeDomain(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText(s); err != nil {
		return "", err
	}
	host, err := extractHost(s)
	if err != nil {
		return "", err
	}
	h, err := normalizeHost(host)
	if err != nil {
		return "", err
	}
	return stripWWW(h), nil
}

// checkText rejects input that no further parsing should see.
func checkText(s string) error {
	switch {
	case s == "":
		return domainErr("empty")
	case len(s) > maxInputLen:
		return domainErr(fmt.Sprintf("longer than %d bytes", maxInputLen))
	case !utf8.ValidString(s):
		return domainErr("invalid UTF-8")
	case hasControl(s):
		return domainErr("control character")
	case strings.IndexByte(s, '\\') >= 0:
		return domainErr("backslash")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// extractHost finds the host part of a URL, e-mail address or bare domain,
// without looking at its characters yet.
func extractHost(s string) (string, error) {
	if scheme, rest, ok := cutScheme(s); ok {
		switch scheme {
		case "http", "https":
			rest = strings.TrimLeft(rest, "/")
			if rest == "" {
				return "", domainErr("URL without a host")
			}
			return authorityHost(rest)
		case "mailto":
			rest, _, _ = strings.Cut(rest, "?")
			return emailHost(rest)
		case "javascript", "vbscript", "data", "file", "ftp", "ftps", "sftp", "ssh", "ws",
			"wss", "tel", "sms", "callto", "about", "blob", "chrome", "view-source":
			return "", domainErrQ("unsupported URL scheme", scheme)
		default:
			if strings.HasPrefix(rest, "//") {
				return "", domainErrQ("unsupported URL scheme", scheme)
			}
			// Not a scheme but "host:port" or "user:password@host".
		}
	}
	if strings.HasPrefix(s, "://") {
		return "", domainErr("URL without a scheme name")
	}
	if rest, ok := strings.CutPrefix(s, "//"); ok {
		return authorityHost(rest)
	}
	if strings.ContainsAny(s, `<>"`) {
		return emailHost(s)
	}
	return authorityHost(s)
}

// cutScheme splits "scheme:rest" when s starts with a syntactically valid
// URL scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )); the
// scheme is returned in lower case.
func cutScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	for j := range i {
		c := s[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", "", false
		}
	}
	return strings.ToLower(s[:i]), s[i+1:], true
}

// authorityHost takes "[userinfo@]host[:port][/path][?query][#fragment]", or
// an e-mail address "local@domain", and returns the host.
func authorityHost(s string) (string, error) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	switch n := strings.Count(s, "@"); {
	case n > 1:
		return "", domainErr("more than one @")
	case n == 1:
		s = s[strings.IndexByte(s, '@')+1:]
	}
	if strings.HasPrefix(s, "[") {
		return "", domainErr("IP address")
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if strings.Count(s, ":") > 1 {
			return "", domainErr("IP address or malformed port")
		}
		if !allDigits(s[i+1:]) {
			return "", domainErrQ("invalid port", s[i+1:])
		}
		s = s[:i]
	}
	if s == "" {
		return "", domainErr("no host")
	}
	return s, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// emailHost returns the domain of an address that may carry a display name,
// angle brackets or a quoted local part.
func emailHost(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", domainErr("not a valid e-mail address")
	}
	return a.Address[strings.LastIndexByte(a.Address, '@')+1:], nil
}

// normalizeHost validates a host name and returns its lower-case ASCII
// (punycode) form without a trailing dot. It does not strip "www.".
func normalizeHost(h string) (string, error) {
	if h == "" {
		return "", domainErr("no host")
	}
	if strings.HasPrefix(h, "[") {
		return "", domainErr("IP address")
	}
	if strings.ContainsFunc(h, unicode.IsSpace) {
		return "", domainErrQ("contains spaces", h)
	}
	var a string
	if isPlainASCIIHost(h) {
		// The common case needs no IDNA processing (and no allocation
		// when it is already lower-case).
		a = strings.ToLower(h)
	} else {
		var err error
		a, err = idna.Lookup.ToASCII(h)
		if err != nil {
			return "", domainErrQ("not a valid host name", h)
		}
	}
	a = strings.TrimSuffix(a, ".")
	if err := checkLDH(a); err != nil {
		return "", err
	}
	if !isPlainASCIIHost(a) {
		// Punycode labels: make sure the result is a fixed point, which
		// IDNA does not promise for every input that it maps.
		if b, err := idna.Lookup.ToASCII(a); err != nil || b != a {
			return "", domainErrQ("not a valid host name", h)
		}
	}
	return a, nil
}

// isPlainASCIIHost reports whether h holds only ASCII letters, digits, dots
// and hyphens and no label has hyphens in its third and fourth places (as
// punycode's "xn--" does); such names need no IDNA mapping beyond lower case.
func isPlainASCIIHost(h string) bool {
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			label = -1
		case c == '-':
			if label == 3 && h[i-1] == '-' {
				return false
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
		label++
	}
	return true
}

// checkLDH validates a lower-case ASCII host name: two labels or more, each of
// 1–63 letters, digits and inner hyphens, at most 253 bytes in all, and not an
// IPv4 address (no top-level domain is numeric).
func checkLDH(a string) error {
	if a == "" {
		return domainErr("no host")
	}
	if len(a) > maxDomainLen {
		return domainErr(fmt.Sprintf("longer than %d bytes", maxDomainLen))
	}
	labels := 0
	tldNumeric := false
	for label := range strings.SplitSeq(a, ".") {
		labels++
		switch {
		case label == "":
			return domainErrQ("empty label", a)
		case len(label) > maxLabelLen:
			return domainErrQ(fmt.Sprintf("label longer than %d bytes", maxLabelLen), label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return domainErrQ("label starts or ends with a hyphen", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return domainErrQ("invalid character in host name", a)
			}
		}
		tldNumeric = allDigits(label)
	}
	if tldNumeric {
		return domainErrQ("IP address", a)
	}
	if labels < 2 {
		return domainErrQ("single-label host name", a)
	}
	return nil
}

// stripWWW drops leading "www." labels while what remains is still a
// registrable name (two labels or more, not a public suffix).
func stripWWW(h string) string {
	for {
		rest, ok := strings.CutPrefix(h, "www.")
		if !ok || strings.IndexByte(rest, '.') < 0 {
			return h
		}
		if ps, _ := publicsuffix.PublicSuffix(rest); ps == rest {
			return h
		}
		h = rest
	}
}

// RegistrableDomain returns the registrable domain (eTLD+1, by the public
// suffix list) of a host name: "eu.globex.example" → "globex.example",
// "shop.globex.co.uk" → "globex.co.uk", and "globex.co.uk" stays. The input
// is normalised first (see NormalizeDomain), so URLs and addresses work too.
//
// A top-level domain missing from the list, such as ".example" or ".test",
// is treated as a public suffix of one label (the list's default rule "*"),
// so "a.b.globex.example" → "globex.example". Private suffixes on the list
// count as well: "acme.github.io" stays whole. A name that is itself a public
// suffix ("co.uk", "github.io") has no registrable domain and is an error.
func RegistrableDomain(domain string) (string, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return "", err
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return "", domainErrQ("a public suffix, not a registrable domain", d)
	}
	return reg, nil
}

// legalForms are the legal-form suffixes CompanyKey removes from the end of
// a company name, written as people write them; they are tokenised with
// CompanyKey's own rules, so "L.L.C." and "LLC" both become "llc" and
// "GmbH & Co. KG" becomes "gmbh and co kg".
var legalForms = []string{
	// English-speaking countries.
	"Inc", "Incorporated", "Corp", "Corporation", "Co", "Company", "and Co", "Co Ltd",
	"Co., Ltd.", "Co Inc", "LLC", "L.L.C.", "PLLC", "LLP", "L.L.P.", "LP", "L.P.", "LLLP",
	"Ltd", "Limited", "plc", "P.L.C.", "PC", "P.C.", "ULC", "Pty", "Pty Ltd",
	"Proprietary Limited", "Pte", "Pte. Ltd.", "Pvt", "Pvt Ltd", "Private Limited",
	"Sdn Bhd", "Bhd", "Berhad",
	// German-speaking countries.
	"GmbH", "mbH", "AG", "KG", "KGaA", "OHG", "GbR", "UG", "e.V.", "e.K.",
	"GmbH & Co. KG", "AG & Co. KG", "GmbH & Co. KGaA",
	// French, Spanish, Portuguese and Italian.
	"SA", "S.A.", "SAS", "S.A.S.", "SASU", "SARL", "S.à r.l.", "EURL", "SNC", "SCA",
	"SL", "S.L.", "SLU", "S.L.U.", "SAU", "S.A.U.", "S.A. de C.V.", "S. de R.L.",
	"S. de R.L. de C.V.", "S.A.B. de C.V.", "S.A.P.I. de C.V.", "Ltda", "Lda", "SpA", "S.p.A.", "Srl", "S.r.l.", "Srls",
	"S.a.s.", "S.n.c.",
	// Benelux, Nordic and Baltic countries.
	"BV", "B.V.", "NV", "N.V.", "VOF", "BVBA", "Oy", "Oyj", "AB", "AB (publ)", "AS",
	"A/S", "ASA", "ApS", "I/S", "K/S", "hf", "ehf", "OÜ", "UAB", "SIA",
	// Central and Eastern Europe.
	"s.r.o.", "sro", "a.s.", "spol. s r.o.", "Sp. z o.o.", "Sp. j.", "S.K.A.", "Kft",
	"Zrt", "Nyrt", "Bt", "d.o.o.", "d.d.", "OOO", "ZAO", "OAO", "PAO", "EOOD", "OOD",
	// Asia and the European Union.
	"KK", "K.K.", "Kabushiki Kaisha", "GK", "Yugen Kaisha", "Tbk", "SE", "SCE",
	// In the local script, when written as a separate word.
	"ООО", "ЗАО", "ОАО", "ПАО", "АО", "株式会社", "有限会社", "合同会社", "有限公司",
	"股份有限公司", "주식회사", "유한회사",
}

// legalPrefixes are legal forms written before the name, as separate words;
// CompanyKey drops them from the start.
var legalPrefixes = map[string]bool{
	"ооо": true, "зао": true, "оао": true, "пао": true, "ао": true, "ooo": true, "pt": true,
	"株式会社": true, "有限会社": true, "合同会社": true, "주식회사": true, "유한회사": true,
}

// legalFormTokens holds legalForms tokenised, longest first.
var legalFormTokens = func() [][]string {
	var out [][]string
	for _, f := range legalForms {
		t := companyTokens(f)
		if len(t) > 0 && !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, t) }) {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b []string) int { return len(b) - len(a) })
	return out
}()

// foldLetters spells letters that Unicode decomposition leaves alone the way
// they are usually transliterated.
var foldLetters = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d",
	'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t", 'ŀ': "l", 'ĸ': "k", 'ŋ': "n", 'ſ': "s",
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', 'ʼ', 'ʻ', '`', '′':
		return true
	}
	return false
}

// CompanyKey normalises a company name for matching. Case, accents (NFKD
// with marks dropped, plus ß → ss, æ → ae, ø → o, ł → l and the like),
// apostrophes and punctuation are folded, "&" is read as "and", dotted
// abbreviations are joined ("S.A." → "sa", "A.C.M.E." → "acme"), a leading
// "The" and leading legal forms ("ООО", "PT", "株式会社") are dropped, and
// legal-form suffixes (Inc, LLC, GmbH & Co. KG, S.A., Pty Ltd, …) are removed
// from the end, repeatedly, as are Chinese, Japanese and Korean legal forms
// written without a space before or after the name ("トヨタ自動車株式会社" →
// "トヨタ自動車"). So
//
//	"ACME, Inc." ~ "Acme Incorporated" ~ "The Acme Company" ~ "acme"
//	"Acme Holdings Co., Ltd."   → "acme holdings"
//	"Société Générale S.A."     → "societe generale"
//
// No step removes the last word: a name that is only a legal form or only
// "The" keeps it ("Inc." → "inc", "The" → "the", "The Company" →
// "company"), so such names match each other and nothing else. A name
// without letters or digits gives "". The result is a fixed point:
// CompanyKey(CompanyKey(x)) == CompanyKey(x).
func CompanyKey(name string) string {
	t := companyTokens(name)
	if len(t) == 0 {
		return ""
	}
	// Each step removes at most one thing and never the last token; repeat
	// until none applies, so that the result is a fixed point.
	for changed := true; changed; {
		changed = false
		if len(t) > 1 && (t[0] == "the" || legalPrefixes[t[0]]) {
			t, changed = t[1:], true
			continue
		}
		for _, f := range legalFormTokens {
			if len(t) > len(f) && slices.Equal(t[len(t)-len(f):], f) {
				t, changed = t[:len(t)-len(f)], true
				break
			}
		}
		if changed {
			continue
		}
		for _, f := range cjkLegalForms {
			last := t[len(t)-1]
			if len(last) > len(f) && strings.HasSuffix(last, f) {
				t = append(t[:len(t)-1:len(t)-1], strings.TrimSuffix(last, f))
				changed = true
				break
			}
			if len(t[0]) > len(f) && strings.HasPrefix(t[0], f) {
				t = append([]string{strings.TrimPrefix(t[0], f)}, t[1:]...)
				changed = true
				break
			}
		}
	}
	return strings.Join(t, " ")
}

// cjkLegalForms are legal forms that Chinese, Japanese and Korean names
// write without a space, before or after the name; longest first.
var cjkLegalForms = []string{
	"股份有限公司", "有限责任公司", "有限責任公司", "株式会社", "有限会社", "合同会社", "合資会社",
	"合名会社", "有限公司", "주식회사", "유한회사", "公司",
}

// companyTokens folds a name into lower-case words of letters and digits.
// Dots separate words, except in runs of single letters ("s.a", "a.c.m.e"),
// which are joined.
func companyTokens(name string) []string {
	var b strings.Builder
	b.Grow(len(name))
	// Marks on Latin, Greek and Cyrillic letters are accents and dropped;
	// on other scripts (kana voicing marks, Indic vowel signs) they are part
	// of the letter and kept.
	keepMarks := false
	for _, r := range norm.NFKD.String(strings.ToValidUTF8(name, "\uFFFD")) {
		r = unicode.ToLower(r)
		if s, ok := foldLetters[r]; ok {
			b.WriteString(s)
			keepMarks = false
			continue
		}
		switch {
		case unicode.Is(unicode.M, r):
			if keepMarks {
				b.WriteRune(r)
			}
			continue
		case isApostrophe(r):
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.':
			b.WriteRune(r)
		case r == '&':
			b.WriteString(" and ")
		default:
			b.WriteByte(' ')
		}
		keepMarks = unicode.IsLetter(r) && !unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic)
	}
	var out []string
	for w := range strings.FieldsSeq(norm.NFC.String(b.String())) {
		if strings.IndexByte(w, '.') < 0 {
			out = append(out, w)
			continue
		}
		run := ""
		for p := range strings.SplitSeq(w, ".") {
			switch {
			case p == "":
			case isSingleLetter(p):
				run += p
			default:
				if run != "" {
					out = append(out, run)
					run = ""
				}
				out = append(out, p)
			}
		}
		if run != "" {
			out = append(out, run)
		}
	}
	return out
}

func isSingleLetter(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n == len(s) && unicode.IsLetter(r)
}

// ParseEmail reads an e-mail address with or without a display name, angle
// brackets or a "mailto:" prefix and returns the bare address with its domain
// lower-cased and in punycode: `"Jane" <jane.doe@Bücher.example>` →
// "jane.doe@xn--bcher-kva.example". The local part keeps its case.
//
// It fails with a wrapped ErrInvalidEmail for text that is not exactly one
// address, an address whose domain is not a dotted host name (IP literals,
// "localhost"), a local part that is not a plain dot-atom once unquoted, or an
// address longer than SMTP allows. The error never repeats the local part.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidEmail)
	case len(s) > maxInputLen:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidEmail, maxInputLen)
	case !utf8.ValidString(s) || hasControl(s):
		return "", fmt.Errorf("%w: control character or invalid UTF-8", ErrInvalidEmail)
	}
	if scheme, rest, ok := cutScheme(s); ok && scheme == "mailto" {
		s, _, _ = strings.Cut(rest, "?")
	}
	local, domain, plain := plainAddress(s)
	if !plain {
		// Display names, quoting, comments, encoded words, groups: the
		// full RFC 5322 parser.
		a, err := mail.ParseAddress(s)
		if err != nil {
			return "", fmt.Errorf("%w: not a single address", ErrInvalidEmail)
		}
		i := strings.LastIndexByte(a.Address, '@')
		local, domain = a.Address[:i], a.Address[i+1:]
	}
	if !isDotAtom(local) {
		return "", fmt.Errorf("%w: unusual local part", ErrInvalidEmail)
	}
	host, err := normalizeHost(domain)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidEmail, err)
	}
	if len(local) > maxLocalLen || len(local)+1+len(host) > maxAddrLen {
		return "", fmt.Errorf("%w: too long", ErrInvalidEmail)
	}
	if plain && host == domain {
		return s, nil // already normal: no new string
	}
	return local + "@" + host, nil
}

// plainAddress splits a bare addr-spec (local@domain with none of the
// characters that display names, quoting, comments, domain literals or
// groups need). It runs for every decision, where net/mail's full parser
// would cost ten times as much for the same answer.
func plainAddress(s string) (local, domain string, ok bool) {
	i := strings.IndexByte(s, '@')
	if i <= 0 || i == len(s)-1 || s[len(s)-1] == '.' || strings.IndexByte(s[i+1:], '@') >= 0 ||
		strings.ContainsAny(s, " \t<>\"(),:;[]\\") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (RFC 6531 allows
// non-ASCII characters in it).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= utf8.RuneSelf:
			if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
				return false
			}
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		default:
			return false
		}
	}
	return true
}

// EmailDomain returns the lower-case (punycode) domain of an address, or ""
// when ParseEmail rejects it.
func EmailDomain(addr string) string {
	a, err := ParseEmail(addr)
	if err != nil {
		return ""
	}
	return a[strings.LastIndexByte(a, '@')+1:]
}

// MaskEmail hides an address for logs, keeping the first character of the
// local part and the domain: "jane.doe@globex.example" → "j***@globex.example".
// A one-character local part is hidden entirely ("***@globex.example"), and
// anything ParseEmail rejects becomes "***". Display names are dropped.
func MaskEmail(addr string) string {
	a, err := ParseEmail(addr)
	if err != nil {
		return "***"
	}
	i := strings.LastIndexByte(a, '@')
	local, domain := a[:i], a[i+1:]
	r, n := utf8.DecodeRuneInString(local)
	if n == len(local) {
		return "***@" + domain
	}
	return string(r) + "***@" + domain
}
