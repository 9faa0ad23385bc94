package registration

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Bare domains.
		{"globex.example", "globex.example"},
		{"Globex.Example", "globex.example"},
		{"  globex.example\t\n", "globex.example"},
		{"GLOBEX.EXAMPLE.", "globex.example"},
		{"eu.globex.example", "eu.globex.example"},
		{"a.b.c.d.e.f.example", "a.b.c.d.e.f.example"},
		{"123.example", "123.example"},
		{"a-b.example", "a-b.example"},
		{"globex.co.uk", "globex.co.uk"},
		// www. is dropped, repeatedly, while a registrable name remains.
		{"www.globex.example", "globex.example"},
		{"WWW.Globex.Example", "globex.example"},
		{"www.www.globex.example", "globex.example"},
		{"www.com", "www.com"},
		{"www.co.uk", "www.co.uk"},
		{"www.example", "www.example"},
		{"www1.globex.example", "www1.globex.example"},
		{"wwwglobex.example", "wwwglobex.example"},
		// URLs.
		{"https://www.Globex.example/about?x=1", "globex.example"},
		{"http://globex.example", "globex.example"},
		{"HTTPS://GLOBEX.EXAMPLE/", "globex.example"},
		{"https://globex.example:8443/a/b?c=d#e", "globex.example"},
		{"https://user:secret@globex.example/", "globex.example"},
		{"https://globex.example#@evil.example", "globex.example"},
		{"https://globex.example?@evil.example", "globex.example"},
		{"https://globex.example/@evil.example", "globex.example"},
		{"https://globex.example/a%20b%zz", "globex.example"},
		{"https://globex.example./", "globex.example"},
		{"https:///globex.example", "globex.example"},
		{"https:globex.example", "globex.example"},
		{"//globex.example/x", "globex.example"},
		{"https://bücher.example/", "xn--bcher-kva.example"},
		// userinfo is not the host, even when it looks like one.
		{"http://globex.example%2f@evil.example/", "evil.example"},
		{"http://globex.example@evil.example/", "evil.example"},
		// Scheme-less URLs.
		{"www.globex.example/about", "globex.example"},
		{"globex.example/about?x=1#top", "globex.example"},
		{"globex.example:8080", "globex.example"},
		{"globex.example:", "globex.example"},
		{"user:pw@globex.example/path", "globex.example"},
		// E-mail addresses.
		{"jane@Globex.example", "globex.example"},
		{`"Jane" <jane@Globex.example>`, "globex.example"},
		{"Jane Doe <jane.doe@www.globex.example>", "globex.example"},
		{"<jane@globex.example>", "globex.example"},
		{`"a@b"@globex.example`, "globex.example"},
		{"@globex.example", "globex.example"},
		{"mailto:jane@globex.example", "globex.example"},
		{"MAILTO:jane@Globex.example?subject=hi&cc=x@evil.example", "globex.example"},
		// IDN → punycode; compatibility forms are mapped (UTS #46).
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.EXAMPLE", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"straße.de", "xn--strae-oqa.de"},
		{"münchen.de", "xn--mnchen-3ya.de"},
		{"例え.jp", "xn--r8jz45g.jp"},
		{"😀.example", "xn--e28h.example"},
		{"globex。example", "globex.example"},
		{"ｇｍａｉｌ.com", "gmail.com"},
		{"\u200bgmail.com", "gmail.com"},
		// A confusable is a different domain, visibly so in punycode.
		{"gmаil.com", "xn--gmil-63d.com"}, // Cyrillic а
		{"www.gооgle.com", "xn--ggle-55da.com"},
		// Limits: 63-byte labels and 253-byte names are fine.
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example"},
		{long253(), long253()},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := NormalizeDomain(got); err != nil || again != got {
			t.Errorf("NormalizeDomain(%q) = %q, %v; not a fixed point", got, again, err)
		}
	}
}

// long253 is a valid 253-byte host name.
func long253() string {
	l := strings.Repeat("a", 63)
	d := l + "." + l + "." + l + "." + strings.Repeat("b", 53) + ".example"
	if len(d) != 253 {
		panic(len(d))
	}
	return d
}

func TestNormalizeDomainRejects(t *testing.T) {
	tests := []struct {
		in     string
		reason string // part of the error message
	}{
		{"", "empty"},
		{"   \t\n", "empty"},
		{"localhost", "single-label"},
		{"http://localhost:8080/", "single-label"},
		{"jane@localhost", "single-label"},
		{"globex", "single-label"},
		{"www", "single-label"},
		{".", "no host"},
		{"..", "empty label"},
		{"a..b.example", "empty label"},
		{".globex.example", "empty label"},
		{"globex.example..", "empty label"},
		{"globex。。example", "empty label"},
		{"xn--.example", "empty label"},
		{"gl obex.example", "spaces"},
		{"globex .example", "spaces"},
		{"globex\u00a0.example", "spaces"},
		{"globex\u3000example.com", "spaces"},
		{"globex\u2028.example", "spaces"},
		{"-globex.example", "hyphen"},
		{"globex-.example", "hyphen"},
		{"globex.-example", "hyphen"},
		{"ab--cd.example", "not a valid host name"},
		{"xn--zz.example", "not a valid host name"},
		{"xn--a.example", "not a valid host name"},
		{"under_score.example", "not a valid host name"},
		{"globex!.example", "not a valid host name"},
		{"\u202egoogle.com", "not a valid host name"}, // right-to-left override
		{"gmail.com\u200d", "not a valid host name"},  // zero-width joiner
		{"%77%77%77.globex.example", "not a valid host name"},
		{"http://%77ww.globex.example/", "not a valid host name"},
		{"globex%2eexample", "not a valid host name"},
		{strings.Repeat("a", 64) + ".example", "label longer than 63"},
		{long253() + "x", "longer than 253"},
		{strings.Repeat("a.", 127) + "example", "longer than 253"},
		{strings.Repeat("x", maxInputLen+1), "longer than 8192"},
		{"https://globex.example/" + strings.Repeat("p", maxInputLen), "longer than 8192"},
		// IP addresses.
		{"1.2.3.4", "IP address"},
		{"http://192.168.0.1/admin", "IP address"},
		{"999.999.999.999", "IP address"},
		{"0x7f.1", "IP address"},
		{"globex.123", "IP address"},
		{"[::1]", "IP address"},
		{"http://[::1]:80/", "IP address"},
		{"http://[2001:db8::1]/", "IP address"},
		{"2001:db8::1", "IP address or malformed port"},
		{"fe80::1%25eth0", "IP address or malformed port"},
		{"jane@[192.0.2.1]", "IP address"},
		{`"Jane" <jane@[192.0.2.1]>`, "IP address"},
		// Control characters, NUL, invalid UTF-8, backslashes.
		{"gmail.com\x00", "control character"},
		{"gmail\x00.com", "control character"},
		{"glo\tbex.example", "control character"},
		{"globex.example\x1b[31m", "control character"},
		{"globex.example\u0085x", "control character"},
		{"globex.example\x7f", "control character"},
		{"glob\xffex.example", "invalid UTF-8"},
		{`http://evil.example\@globex.example`, "backslash"},
		{`globex.example\about`, "backslash"},
		// Schemes and other garbage.
		{"http://", "URL without a host"},
		{"https:", "URL without a host"},
		{"https:////", "URL without a host"},
		{"http://?x=1", "no host"},
		{"http://@/", "no host"},
		{"://globex.example", "without a scheme"},
		{"@", "no host"},
		{"jane@", "no host"},
		{"/about", "no host"},
		{"?x=1", "no host"},
		{"mailto:", "not a valid e-mail address"},
		{"mailto:jane", "not a valid e-mail address"},
		{"mailto:jane%40globex.example", "not a valid e-mail address"},
		{"mailto:a@globex.example,b@evil.example", "not a valid e-mail address"},
		{"javascript:alert(1)", "unsupported URL scheme"},
		{"JavaScript:alert('x@globex.example')", "unsupported URL scheme"},
		{"javascript:x@globex.example", "unsupported URL scheme"},
		{"javascript://globex.example/%0aalert(1)", "unsupported URL scheme"},
		{"data:text/html,<script>alert(1)</script>", "unsupported URL scheme"},
		{"ftp://globex.example/", "unsupported URL scheme"},
		{"file:///etc/passwd", "unsupported URL scheme"},
		{"ws://globex.example", "unsupported URL scheme"},
		{"foo+bar://globex.example", "unsupported URL scheme"},
		{"globex.example:abc", "invalid port"},
		{"globex.example:80:90", "IP address or malformed port"},
		{"globex.example:-1", "invalid port"},
		{"a@b@globex.example", "more than one @"},
		{"jane@evil.example@globex.example", "more than one @"},
		{"http://a@b@globex.example/", "more than one @"},
		{"<https://globex.example>", "not a valid e-mail address"},
		{`"Jane" <jane@globex.example`, "not a valid e-mail address"},
		{"Jane <jane@a.example>, Bob <bob@b.example>", "not a valid e-mail address"},
		{"<>", "not a valid e-mail address"},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if err == nil {
			t.Errorf("NormalizeDomain(%q) = %q, want an error", clip(tt.in), got)
			continue
		}
		if got != "" {
			t.Errorf("NormalizeDomain(%q) = %q with error %v; want \"\"", clip(tt.in), got, err)
		}
		if !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("NormalizeDomain(%q) error %v does not wrap ErrInvalidDomain", clip(tt.in), err)
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("NormalizeDomain(%q) error %q; want it to mention %q", clip(tt.in), err, tt.reason)
		}
		if len(err.Error()) > 200 {
			t.Errorf("NormalizeDomain(%q) error is %d bytes long", clip(tt.in), len(err.Error()))
		}
	}
}

func TestNormalizeDomainErrorHidesLocalPart(t *testing.T) {
	for _, in := range []string{
		"jane.secret@localhost",
		`"Jane Secret" <jane.secret@[10.0.0.1]>`,
		"jane.secret@globex .example",
		"jane.secret@globex..example",
		"mailto:jane.secret@-globex.example",
	} {
		_, err := NormalizeDomain(in)
		if err == nil {
			t.Errorf("NormalizeDomain(%q): no error", in)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("NormalizeDomain(%q) error %q repeats the local part", in, err)
		}
	}
}

func TestRegistrableDomain(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"globex.example", "globex.example"},
		{"eu.globex.example", "globex.example"},
		// Unknown TLDs fall under the default rule "*": one label is the
		// public suffix, whatever the depth.
		{"a.b.c.globex.example", "globex.example"},
		{"shop.globex.test", "globex.test"},
		{"x.internal", "x.internal"},
		{"globex.co.uk", "globex.co.uk"},
		{"shop.globex.co.uk", "globex.co.uk"},
		{"a.b.shop.globex.co.uk", "globex.co.uk"},
		{"mail.yahoo.co.uk", "yahoo.co.uk"},
		{"globex.com.au", "globex.com.au"},
		{"sub.globex.com.br", "globex.com.br"},
		// Private suffixes count too.
		{"acme.github.io", "acme.github.io"},
		{"www.acme.github.io", "acme.github.io"},
		{"blog.acme.github.io", "acme.github.io"},
		// Wildcard and exception rules (*.ck, !www.ck).
		{"www.ck", "www.ck"},
		{"shop.globex.co.ck", "globex.co.ck"},
		{"www.co.uk", "www.co.uk"},
		// The input is normalised first.
		{"https://www.Shop.Globex.co.uk/about", "globex.co.uk"},
		{"jane@eu.globex.example", "globex.example"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"shop.bücher.example", "xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		got, err := RegistrableDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("RegistrableDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"co.uk", "com.au", "github.io", "globex.ck", "", "localhost", "1.2.3.4", "a..b.example", "javascript:alert(1)"} {
		got, err := RegistrableDomain(in)
		if err == nil || !errors.Is(err, ErrInvalidDomain) || got != "" {
			t.Errorf("RegistrableDomain(%q) = %q, %v; want \"\" and ErrInvalidDomain", in, got, err)
		}
	}
}

func TestCompanyKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"ACME, Inc.", "acme"},
		{"Acme Incorporated", "acme"},
		{"The Acme Company", "acme"},
		{"acme", "acme"},
		{"  ACME  ", "acme"},
		{"Acme LLC", "acme"},
		{"Acme, L.L.C.", "acme"},
		{"Acme Ltd", "acme"},
		{"Acme Limited", "acme"},
		{"Acme GmbH", "acme"},
		{"Acme mbH", "acme"},
		{"Acme S.A.", "acme"},
		{"Acme SA", "acme"},
		{"Acme S.A.S.", "acme"},
		{"Acme SARL", "acme"},
		{"Acme S.à r.l.", "acme"},
		{"Acme Corp.", "acme"},
		{"Acme Corporation", "acme"},
		{"Acme Co.", "acme"},
		{"Acme plc", "acme"},
		{"Acme AG", "acme"},
		{"Acme BV", "acme"},
		{"Acme B.V.", "acme"},
		{"Acme N.V.", "acme"},
		{"Acme NV", "acme"},
		{"Acme Pty Ltd", "acme"},
		{"Acme Pty. Ltd.", "acme"},
		{"Acme Pte Ltd", "acme"},
		{"Acme KK", "acme"},
		{"Acme K.K.", "acme"},
		{"Acme Oy", "acme"},
		{"Acme AB", "acme"},
		{"Acme AB (publ)", "acme"},
		{"Acme AS", "acme"},
		{"Acme A/S", "acme"},
		{"Acme SpA", "acme"},
		{"Acme S.p.A.", "acme"},
		{"Acme S.r.l.", "acme"},
		{"Acme LLP", "acme"},
		{"Acme LP", "acme"},
		{"Acme KG", "acme"},
		{"Acme GmbH & Co. KG", "acme"},
		{"Acme GmbH & Co KG", "acme"},
		{"Acme Sp. z o.o.", "acme"},
		{"Acme s.r.o.", "acme"},
		{"Acme S.A. de C.V.", "acme"},
		{"Grupo Bimbo, S.A.B. de C.V.", "grupo bimbo"},
		{"Acme Sdn Bhd", "acme"},
		{"Acme Pvt. Ltd.", "acme"},
		{"Acme Private Limited", "acme"},
		// Several suffixes, removed repeatedly; other words stay.
		{"Acme Holdings Co., Ltd.", "acme holdings"},
		{"Acme Corp Inc Ltd", "acme"},
		{"Acme Group Ltd", "acme group"},
		{"Acme Inc. Europe", "acme inc europe"},
		{"Smith & Co.", "smith"},
		{"J.P. Morgan Chase & Co.", "jp morgan chase"},
		{"Procter & Gamble Co.", "procter and gamble"},
		{"AT&T Inc.", "at and t"},
		{"AT & T", "at and t"},
		{"Johnson & Johnson", "johnson and johnson"},
		// Accents and special letters.
		{"Société Générale S.A.", "societe generale"},
		{"societe generale", "societe generale"},
		{"SOCIÉTÉ GÉNÉRALE", "societe generale"},
		{"Straße AG", "strasse"},
		{"STRAẞE AG", "strasse"},
		{"Ørsted A/S", "orsted"},
		{"Łódź Sp. z o.o.", "lodz"},
		{"Æon Œuvre", "aeon oeuvre"},
		{"Þór ehf", "thor"},
		{"Ðakovo d.o.o.", "dakovo"},
		{"Dığer Ltd", "diger"},
		{"Nestlé S.A.", "nestle"},
		{"Čokoláda s.r.o.", "cokolada"},
		// Punctuation, apostrophes, dotted abbreviations.
		{"McDonald's Corporation", "mcdonalds"},
		{"McDonald’s", "mcdonalds"},
		{"O'Reilly Media, Inc.", "oreilly media"},
		{"Hewlett-Packard Company", "hewlett packard"},
		{"Yahoo! Inc.", "yahoo"},
		{"A.C.M.E.", "acme"},
		{"A.C.M.E. Corp.", "acme"},
		{"a.c.m.e", "acme"},
		{"I.B.M.", "ibm"},
		{"U.S. Steel", "us steel"},
		{"S.A.", "sa"},
		{"Booking.com B.V.", "booking com"},
		{"e.on SE", "e on"},
		{"3M Company", "3m"},
		{"7-Eleven, Inc.", "7 eleven"},
		{"Acme (Europe) Ltd", "acme europe"},
		{"Acme\tLtd\n", "acme"},
		// Compatibility forms.
		{"ＡＣＭＥ Ｉｎｃ", "acme"},
		{"ﬁnance ltd", "finance"},
		{"Acme²", "acme2"},
		// Leading "The".
		{"The Acme", "acme"},
		{"THE ACME CORP", "acme"},
		{"The The Acme", "acme"},
		{"Theatre Ltd", "theatre"},
		{"Acme the Great", "acme the great"},
		// Only a suffix or only "The": the last word stays.
		{"Inc.", "inc"},
		{"Inc", "inc"},
		{"L.L.C.", "llc"},
		{"The", "the"},
		{"The The", "the"},
		{"The Inc.", "inc"},
		{"The Company", "company"},
		{"Company", "company"},
		{"Co., Ltd.", "co"},
		{"GmbH & Co. KG", "gmbh"},
		{"The Limited", "limited"},
		// Nothing usable.
		{"", ""},
		{"   ", ""},
		{"\t\n", ""},
		{"!!!", ""},
		{"&", "and"},
		{"...", ""},
		{"\x00\x01", ""},
		// Invalid UTF-8 separates words.
		{"Acme\xffLtd", "acme"},
		{"Acme\xf4Ş", "acme s"},
		{"\xf4Ş\xf4Ş", "s s"},
		// Other scripts keep their letters; CJK legal forms are removed.
		{"ООО Ромашка", "ромашка"},
		{"ООО «Ромашка»", "ромашка"},
		{"Ромашка ООО", "ромашка"},
		{"OOO Romashka", "romashka"},
		{"PT Astra International Tbk", "astra international"},
		{"ООО", "ооо"},
		{"トヨタ自動車株式会社", "トヨタ自動車"},
		{"株式会社ドコモ", "ドコモ"},
		{"株式会社", "株式会社"},
		{"中国银行股份有限公司", "中国银行"},
		{"삼성전자 주식회사", "삼성전자"},
		{"주식회사 카카오", "카카오"},
		{"株式会社 ドコモ", "ドコモ"},
		{"주식회사카카오", "카카오"},
		{"टाटा मोटर्स लिमिटेड", "टाटा मोटर्स लिमिटेड"},
		{"Ελληνικά Πετρέλαια Α.Ε.", "ελληνικα πετρελαια αε"},
	}
	for _, tt := range tests {
		got := CompanyKey(tt.in)
		if got != tt.want {
			t.Errorf("CompanyKey(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if again := CompanyKey(got); again != got {
			t.Errorf("CompanyKey(%q) = %q; not a fixed point", got, again)
		}
	}
}

func TestCompanyKeyEquivalences(t *testing.T) {
	groups := [][]string{
		{"ACME, Inc.", "Acme Incorporated", "The Acme Company", "acme", "A.C.M.E.", "Acme LLC", "ACME GmbH & Co. KG", "acme corp.", "ＡＣＭＥ"},
		{"Société Générale S.A.", "societe generale", "Societe Generale SA", "SOCIETE-GENERALE"},
		{"McDonald's", "McDonalds Corporation", "McDonald’s Corp."},
		{"J.P. Morgan", "JP Morgan", "J.P.Morgan"},
	}
	for _, g := range groups {
		want := CompanyKey(g[0])
		if want == "" {
			t.Fatalf("CompanyKey(%q) is empty", g[0])
		}
		for _, n := range g[1:] {
			if got := CompanyKey(n); got != want {
				t.Errorf("CompanyKey(%q) = %q; want %q (as for %q)", n, got, want, g[0])
			}
		}
	}
	// Different companies stay different.
	distinct := []string{"Acme", "Acme Holdings", "Acme Europe", "Globex", "Initech", "A.C.M.E. Labs", "Acme Lab", "Banco X", "Banco Y S.A.", "Acme Co-op"}
	seen := map[string]string{}
	for _, n := range distinct {
		k := CompanyKey(n)
		if prev, ok := seen[k]; ok {
			t.Errorf("CompanyKey(%q) == CompanyKey(%q) == %q", n, prev, k)
		}
		seen[k] = n
	}
}

func TestCompanyKeyLongInput(t *testing.T) {
	in := strings.Repeat("Acme & Ünïcode S.A. ", 20000) + "Ltd"
	got := CompanyKey(in)
	if !strings.HasPrefix(got, "acme and unicode sa acme") || strings.HasSuffix(got, " sa") {
		t.Errorf("CompanyKey(long) = %q…%q", got[:40], got[len(got)-40:])
	}
	if CompanyKey(got) != got {
		t.Error("CompanyKey(long) is not a fixed point")
	}
}

func TestParseEmail(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"jane.doe@globex.example", "jane.doe@globex.example"},
		{"Jane.Doe@Globex.Example", "Jane.Doe@globex.example"},
		{"  jane@globex.example  ", "jane@globex.example"},
		{`"Jane" <jane@Globex.example>`, "jane@globex.example"},
		{"Jane Doe <jane@GLOBEX.example>", "jane@globex.example"},
		{`"Doe, Jane" <jane@globex.example>`, "jane@globex.example"},
		{"<jane@globex.example>", "jane@globex.example"},
		{"jane@globex.example (Jane Doe)", "jane@globex.example"},
		{`"jane"@globex.example`, "jane@globex.example"},
		{"jane+tag@globex.example", "jane+tag@globex.example"},
		{"o'brien@globex.example", "o'brien@globex.example"},
		{"jane@eu.globex.co.uk", "jane@eu.globex.co.uk"},
		{"jane@www.globex.example", "jane@www.globex.example"}, // the address keeps www.
		{"jane@bücher.example", "jane@xn--bcher-kva.example"},
		{"Jane <jane@BÜCHER.example>", "jane@xn--bcher-kva.example"},
		{"jörg@globex.de", "jörg@globex.de"},
		{"mailto:Jane@Globex.example", "Jane@globex.example"},
		{"mailto:jane@globex.example?subject=Hi", "jane@globex.example"},
		{"=?utf-8?q?J=C3=B6rg?= <jorg@globex.example>", "jorg@globex.example"},
		{strings.Repeat("j", 64) + "@globex.example", strings.Repeat("j", 64) + "@globex.example"},
	}
	for _, tt := range tests {
		got, err := ParseEmail(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := ParseEmail(got); err != nil || again != got {
			t.Errorf("ParseEmail(%q) = %q, %v; not a fixed point", got, again, err)
		}
	}
}

func TestParseEmailRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		"jane",
		"jane@",
		"@globex.example",
		"jane@localhost",
		"jane@globex",
		"jane@[192.0.2.1]",
		"jane@[IPv6:2001:db8::1]",
		"jane@192.0.2.1",
		"jane@globex..example",
		"jane@-globex.example",
		"jane@globex.example.",
		"jane@glo bex.example",
		"jane@under_score.example",
		"jane@xn--zz.example",
		"jane..doe@globex.example",
		".jane@globex.example",
		"jane.@globex.example",
		"a@b@globex.example",
		`"a@b"@globex.example`,
		`"jane doe"@globex.example`,
		`"jane\"doe"@globex.example`,
		"jane@globex.example\x00",
		"ja\x00ne@globex.example",
		"jane@globex.example\r\nBcc: x@evil.example",
		"jane\xff@globex.example",
		"Jane <jane@a.example>, Bob <bob@b.example>",
		"jane@a.example bob@b.example",
		"undisclosed-recipients:;",
		"<jane@globex.example",
		"javascript:alert('jane@globex.example')",
		"mailto:",
		"mailto:jane%40globex.example",
		"https://globex.example/",
		strings.Repeat("j", 65) + "@globex.example",
		"j@" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + ".example",
		strings.Repeat("x", maxInputLen+1) + "@globex.example",
	} {
		got, err := ParseEmail(in)
		if err == nil {
			t.Errorf("ParseEmail(%q) = %q; want an error", clip(in), got)
			continue
		}
		if !errors.Is(err, ErrInvalidEmail) || got != "" {
			t.Errorf("ParseEmail(%q) = %q, %v; want \"\" and ErrInvalidEmail", clip(in), got, err)
		}
		if local, _, ok := strings.Cut(in, "@"); ok && len(local) > 3 && strings.Contains(err.Error(), local) {
			t.Errorf("ParseEmail(%q) error %q repeats the local part", clip(in), err)
		}
	}
}

func TestEmailDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"jane@Globex.example", "globex.example"},
		{`"Jane" <jane@EU.Globex.example>`, "eu.globex.example"},
		{"jane@www.globex.example", "www.globex.example"},
		{"jane@bücher.example", "xn--bcher-kva.example"},
		{"jane@localhost", ""},
		{"jane", ""},
		{"", ""},
		{"globex.example", ""},
		{"a@b@globex.example", ""},
	}
	for _, tt := range tests {
		if got := EmailDomain(tt.in); got != tt.want {
			t.Errorf("EmailDomain(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"jane.doe@globex.example", "j***@globex.example"},
		{"Jane.Doe@Globex.Example", "J***@globex.example"},
		{`"Jane Doe" <jane.doe@globex.example>`, "j***@globex.example"},
		{"jo@globex.example", "j***@globex.example"},
		{"j@globex.example", "***@globex.example"},
		{"jörg@bücher.example", "j***@xn--bcher-kva.example"},
		{"éric@globex.example", "é***@globex.example"},
		{"日本語@globex.example", "日***@globex.example"},
		{"", "***"},
		{"garbage", "***"},
		{"jane.doe@localhost", "***"},
		{"jane.doe", "***"},
		{"a@b@globex.example", "***"},
		{"jane.doe@globex.example\x00", "***"},
		{"Jane Doe <jane.doe@a.example>, Bob <bob@b.example>", "***"},
	}
	for _, tt := range tests {
		if got := MaskEmail(tt.in); got != tt.want {
			t.Errorf("MaskEmail(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// checkMasked fails when MaskEmail reveals more than the first character of
// a local part longer than one character, or anything of text it rejects.
func checkMasked(t *testing.T, in string) {
	m := MaskEmail(in)
	a, err := ParseEmail(in)
	if err != nil {
		if m != "***" {
			t.Fatalf("MaskEmail(%q) = %q; want *** for a rejected address", in, m)
		}
		return
	}
	i := strings.LastIndexByte(a, '@')
	local, domain := a[:i], a[i+1:]
	r, _ := utf8.DecodeRuneInString(local)
	want := string(r) + "***@" + domain
	if utf8.RuneCountInString(local) == 1 {
		want = "***@" + domain
	}
	if m != want {
		t.Fatalf("MaskEmail(%q) = %q; want %q", in, m, want)
	}
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{
		"globex.example", "https://www.Globex.example/about?x=1", "www.globex.example/about",
		`"Jane" <jane@Globex.example>`, "jane@globex.example", "bücher.example", "xn--bcher-kva.example",
		"localhost", "1.2.3.4", "[::1]", "http://", "@", "mailto:jane@globex.example", "a..b",
		"-a.example", "javascript:alert(1)", "www.co.uk", "www.www.globex.example", "ｇｍａｉｌ.com",
		"globex。example", "http://x%2f@evil.example", "a@b@c.example", "globex.example:8080",
		"\x00", "\u202egoogle.com", "xn--zz.example", "straße.de", "😀.example", "www.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeDomain(s)
		if err != nil {
			if out != "" || !errors.Is(err, ErrInvalidDomain) {
				t.Fatalf("NormalizeDomain(%q) = %q, %v", s, out, err)
			}
			return
		}
		if err := checkLDH(out); err != nil {
			t.Fatalf("NormalizeDomain(%q) = %q, which is not a valid host name: %v", s, out, err)
		}
		again, err := NormalizeDomain(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeDomain(%q) = %q, but NormalizeDomain(%q) = %q, %v", s, out, out, again, err)
		}
		if reg, err := RegistrableDomain(out); err == nil && !strings.HasSuffix(out, reg) {
			t.Fatalf("RegistrableDomain(%q) = %q", out, reg)
		}
		_ = defaultFreeMail().IsFree(s)
	})
}

func FuzzCompanyKey(f *testing.F) {
	for _, s := range []string{
		"ACME, Inc.", "The Acme Company", "Société Générale S.A.", "Acme Holdings Co., Ltd.", "Inc.", "The",
		"A.C.M.E.", "GmbH & Co. KG", "Straße AG", "トヨタ自動車株式会社", "주식회사카카오", "The The Inc",
		"ﬁnance", "İstanbul A.Ş.", "ǅemal", "\x00", "0\xf4Ş", "a.b c.d", "x.株式会社", "Ⅻ Corp", "ŉ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := CompanyKey(s)
		if k2 := CompanyKey(k); k2 != k {
			t.Fatalf("CompanyKey(%q) = %q, but CompanyKey(%q) = %q", s, k, k, k2)
		}
		if strings.TrimSpace(k) != k || strings.Contains(k, "  ") {
			t.Fatalf("CompanyKey(%q) = %q has stray spaces", s, k)
		}
		if !utf8.ValidString(k) {
			t.Fatalf("CompanyKey(%q) = %q is not valid UTF-8", s, k)
		}
	})
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{
		"jane.doe@globex.example", `"Jane" <jane@Globex.example>`, "jane@bücher.example", "a@b@c.example",
		`"a@b"@c.example`, "jane@[1.2.3.4]", "mailto:jane@globex.example?x=1", "j@globex.example", "",
		"=?utf-8?q?J=C3=B6rg?= <jorg@globex.example>", "jane@globex.example (comment)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseEmail(s)
		if err != nil {
			if a != "" || !errors.Is(err, ErrInvalidEmail) {
				t.Fatalf("ParseEmail(%q) = %q, %v", s, a, err)
			}
		} else {
			if again, err := ParseEmail(a); err != nil || again != a {
				t.Fatalf("ParseEmail(%q) = %q, but ParseEmail(%q) = %q, %v", s, a, a, again, err)
			}
			d := EmailDomain(a)
			if err := checkLDH(d); err != nil || !strings.HasSuffix(a, "@"+d) {
				t.Fatalf("EmailDomain(%q) = %q, %v", a, d, err)
			}
		}
		checkMasked(t, s)
	})
}

// FuzzPlainAddressAgreesWithNetMail: whenever the fast path takes an
// address, net/mail's full parser reads the same local part and domain.
func FuzzPlainAddressAgreesWithNetMail(f *testing.F) {
	for _, s := range []string{"jane@globex.example", "jane@globex.example.", "a.b+c@x.y", "a..b@x.y",
		"a@b@c.d", "Jane@GLOBEX.Example", "j@[1.2.3.4]", "\"a\"@b.c", "a@b", "é@ü.de", "a@b..c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.TrimSpace(s) // as ParseEmail does before the fast path
		if !utf8.ValidString(s) || hasControl(s) {
			return // ParseEmail refuses these before the fast path
		}
		local, domain, ok := plainAddress(s)
		if !ok {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			// The fast path may take what net/mail refuses only if the
			// checks after it (dot-atom, host) refuse it too.
			if _, perr := ParseEmail(s); perr == nil {
				t.Fatalf("fast path accepts %q, net/mail refuses it: %v", s, err)
			}
			return
		}
		if want := local + "@" + domain; a.Address != want {
			t.Fatalf("%q: fast path %q, net/mail %q", s, want, a.Address)
		}
	})
}
