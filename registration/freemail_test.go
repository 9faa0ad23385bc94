package registration

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/publicsuffix"
)

// TestFreeMailListFile checks the embedded file itself: every entry is a
// valid, already-normalised, registrable domain, listed once.
func TestFreeMailListFile(t *testing.T) {
	entries := parseFreeMailList(freeMailData)
	if len(entries) < 300 {
		t.Errorf("the embedded list has %d entries; want a few hundred", len(entries))
	}
	if err := ValidateFreeMailEntries(entries); err != nil {
		t.Errorf("embedded list: %v", err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		n, err := NormalizeDomain(e)
		if err != nil || n != e {
			t.Errorf("entry %q normalises to %q, %v; write it normalised", e, n, err)
		}
		if seen[e] {
			t.Errorf("entry %q is listed twice", e)
		}
		seen[e] = true
		if reg, err := publicsuffix.EffectiveTLDPlusOne(e); err != nil {
			t.Errorf("entry %q has no registrable domain: %v", e, err)
		} else if reg != e && seen[reg] {
			t.Logf("entry %q is covered by %q already", e, reg)
		}
	}
}

func TestParseFreeMailList(t *testing.T) {
	got := parseFreeMailList("# comment\n\n  gmail.com  \nyahoo.com # inline\r\n#x.com\n\t\nlast.example")
	want := []string{"gmail.com", "yahoo.com", "last.example"}
	if !slices.Equal(got, want) {
		t.Errorf("parseFreeMailList = %q; want %q", got, want)
	}
}

func TestDefaultFreeMailDomains(t *testing.T) {
	d := DefaultFreeMailDomains()
	if !slices.IsSorted(d) {
		t.Error("DefaultFreeMailDomains is not sorted")
	}
	if len(slices.Compact(slices.Clone(d))) != len(d) {
		t.Error("DefaultFreeMailDomains has duplicates")
	}
	if len(d) != len(parseFreeMailList(freeMailData)) {
		t.Errorf("DefaultFreeMailDomains has %d domains; the file %d", len(d), len(parseFreeMailList(freeMailData)))
	}
	required := []string{
		"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr",
		"hotmail.de", "hotmail.it", "hotmail.es", "live.com", "live.co.uk", "live.fr", "msn.com",
		"yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.co.jp", "yahoo.es", "yahoo.it",
		"yahoo.com.br", "yahoo.ca", "yahoo.com.au", "yahoo.co.in", "ymail.com", "rocketmail.com",
		"aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "pm.me",
		"tutanota.com", "tuta.io", "gmx.com", "gmx.net", "gmx.de", "web.de", "t-online.de",
		"mail.ru", "yandex.ru", "yandex.com", "qq.com", "163.com", "126.com", "sina.com",
		"naver.com", "daum.net", "hanmail.net", "zoho.com", "fastmail.com", "hey.com", "mail.com",
		"libero.it", "orange.fr", "free.fr", "laposte.net", "seznam.cz", "wp.pl", "o2.pl",
		"interia.pl", "rediffmail.com", "btinternet.com", "comcast.net", "verizon.net", "att.net",
		"sbcglobal.net", "bigpond.com", "mailinator.com", "guerrillamail.com", "10minutemail.com",
		"temp-mail.org", "yopmail.com",
	}
	for _, r := range required {
		if _, ok := slices.BinarySearch(d, r); !ok {
			t.Errorf("DefaultFreeMailDomains lacks %q", r)
		}
	}
	// Callers get a copy.
	d[0] = "changed.example"
	if DefaultFreeMailDomains()[0] == "changed.example" {
		t.Error("DefaultFreeMailDomains returns shared storage")
	}
}

func TestIsFree(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"gmail.com", true},
		{"GMail.com", true},
		{"  GMAIL.COM.  ", true},
		{"www.gmail.com", true},
		{"https://mail.google.com/", false},
		{"https://www.gmail.com/mail/u/0", true},
		{"jane@gmail.com", true},
		{`"Jane" <Jane@GMail.com>`, true},
		{"mailto:jane@yahoo.co.uk", true},
		{"ｇｍａｉｌ.com", true},
		{"\u200bgmail.com", true},
		{"googlemail.com", true},
		{"hotmail.co.uk", true},
		{"yahoo.co.jp", true},
		{"web.de", true},
		{"mailinator.com", true},
		// Sub-domains, up to the registrable domain, count.
		{"mail.yahoo.co.uk", true},
		{"eu.mail.gmail.com", true},
		{"inbox.mail.ru", true},
		// A listed sub-domain does not list its parent.
		{"poczta.onet.pl", true},
		{"onet.pl", true},
		{"softbank.jp", false},
		{"i.softbank.jp", true},
		// Look-alikes and suffix tricks are not free-mail.
		{"notgmail.com", false},
		{"gmail.co", false},
		{"gmail.com.evil.example", false},
		{"gmail.comx", false},
		{"gmаil.com", false}, // Cyrillic а
		{"yahoo.co.uk.globex.example", false},
		{"co.uk", false},
		{"com", false},
		// Companies.
		{"globex.example", false},
		{"globex.co.uk", false},
		{"jane@globex.example", false},
		// Garbage.
		{"", false},
		{"gmail", false},
		{"gmail.com\x00", false},
		{"gmail .com", false},
		{"1.2.3.4", false},
		{"[::1]", false},
		{"javascript:alert('gmail.com')", false},
		{"a@b@gmail.com", false},
		{strings.Repeat("a.", 200) + "gmail.com", false},
	}
	var nilFM *FreeMail
	def := NewFreeMail(nil, nil)
	for _, tt := range tests {
		if got := nilFM.IsFree(tt.in); got != tt.want {
			t.Errorf("(*FreeMail)(nil).IsFree(%q) = %v; want %v", tt.in, got, tt.want)
		}
		if got := def.IsFree(tt.in); got != tt.want {
			t.Errorf("NewFreeMail(nil, nil).IsFree(%q) = %v; want %v", tt.in, got, tt.want)
		}
		if got := new(FreeMail).IsFree(tt.in); got != tt.want {
			t.Errorf("FreeMail{}.IsFree(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewFreeMail(t *testing.T) {
	f := NewFreeMail(
		[]string{"Mail.Globex.example", "https://www.partnermail.example/", "@webmail.test", "not a domain", "", "localhost"},
		[]string{"GMX.net", "corp.gmail.com", "bogus..", "yahoo.fr"},
	)
	tests := []struct {
		in   string
		want bool
	}{
		{"mail.globex.example", true},
		{"eu.mail.globex.example", true},
		{"globex.example", false}, // the parent of an extra sub-domain is not listed
		{"partnermail.example", true},
		{"x.partnermail.example", true},
		{"webmail.test", true},
		{"gmail.com", true},
		{"gmx.net", false},
		{"www.gmx.net", false},
		{"eu.gmx.net", false},
		{"gmx.de", true},
		{"corp.gmail.com", false},
		{"eu.corp.gmail.com", false},
		{"mail.gmail.com", true},
		{"yahoo.fr", false},
		{"yahoo.com", true},
		{"localhost", false},
		{"not a domain", false},
	}
	for _, tt := range tests {
		if got := f.IsFree(tt.in); got != tt.want {
			t.Errorf("IsFree(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
	d := f.Domains()
	for _, want := range []string{"mail.globex.example", "partnermail.example", "webmail.test", "gmail.com"} {
		if !slices.Contains(d, want) {
			t.Errorf("Domains() lacks %q", want)
		}
	}
	for _, gone := range []string{"gmx.net", "yahoo.fr", "not a domain", "", "localhost"} {
		if slices.Contains(d, gone) {
			t.Errorf("Domains() has %q", gone)
		}
	}
	if len(d) != len(DefaultFreeMailDomains())+3-2 {
		t.Errorf("Domains() has %d entries; want %d", len(d), len(DefaultFreeMailDomains())+1)
	}
	// The default list is not changed by NewFreeMail.
	if !NewFreeMail(nil, nil).IsFree("gmx.net") || (*FreeMail)(nil).IsFree("mail.globex.example") {
		t.Error("NewFreeMail changed the default list")
	}
	// Allowing everything leaves an empty, not a default, list.
	if e := NewFreeMail(nil, DefaultFreeMailDomains()); e.IsFree("gmail.com") || len(e.Domains()) != 0 {
		t.Error("NewFreeMail(nil, all) still lists domains")
	}
}

// TestIsFreeStopsAtRegistrableDomain checks that a listed parent only covers
// hosts whose registrable domain is at or below it.
func TestIsFreeStopsAtRegistrableDomain(t *testing.T) {
	// The public suffix list has "*.compute.amazonaws.com", so the
	// registrable domain of the host below is the host itself.
	const host = "h.eu-west-1.compute.amazonaws.com"
	if reg, err := publicsuffix.EffectiveTLDPlusOne(host); err != nil || reg != host {
		t.Fatalf("EffectiveTLDPlusOne(%q) = %q, %v; the test needs the host itself", host, reg, err)
	}
	f := NewFreeMail([]string{"amazonaws.com", "co.uk", "github.io"}, nil)
	tests := []struct {
		in   string
		want bool
	}{
		{"amazonaws.com", true},
		{"foo.amazonaws.com", true},
		{"s3.amazonaws.com", false}, // itself a public suffix
		{host, false},
		{"co.uk", false}, // public suffixes are not usable entries
		{"globex.co.uk", false},
		{"acme.github.io", false},
	}
	for _, tt := range tests {
		if got := f.IsFree(tt.in); got != tt.want {
			t.Errorf("IsFree(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
	a := NewFreeMail([]string{"free.globex.example"}, []string{"globex.example"})
	if a.IsFree("free.globex.example") != true || a.IsFree("x.free.globex.example") != true || a.IsFree("other.globex.example") {
		t.Error("a listed sub-domain of an allowed domain: the most specific entry must win")
	}
}

func TestValidateFreeMailEntries(t *testing.T) {
	if err := ValidateFreeMailEntries(nil); err != nil {
		t.Errorf("ValidateFreeMailEntries(nil) = %v", err)
	}
	if err := ValidateFreeMailEntries([]string{"gmail.com", "GMX.net", "https://www.webmail.example/", "@x.example", "bücher.example"}); err != nil {
		t.Errorf("ValidateFreeMailEntries(valid) = %v", err)
	}
	tests := []struct {
		entries []string
		want    string // the error names the entry, its position and the reason
	}{
		{[]string{"gmail.com", "not a domain"}, `entry 2 "not a domain"`},
		{[]string{"ok.example", "localhost", "also bad"}, `entry 2 "localhost"`},
		{[]string{""}, `entry 1 "": invalid domain: empty`},
		{[]string{"a..b"}, `entry 1 "a..b"`},
		{[]string{"1.2.3.4"}, "IP address"},
		{[]string{"co.uk"}, `entry 1 "co.uk": invalid domain: "co.uk" is a public suffix`},
		{[]string{"gmail.com", "github.io"}, `entry 2 "github.io"`},
		{[]string{"gmail\x00.com"}, `entry 1 "gmail\x00.com"`},
		{[]string{strings.Repeat("x", 1000)}, "…"},
	}
	for _, tt := range tests {
		err := ValidateFreeMailEntries(tt.entries)
		if err == nil || !errors.Is(err, ErrInvalidDomain) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateFreeMailEntries(%q) = %v; want an ErrInvalidDomain naming %s", tt.entries, err, tt.want)
		}
	}
}

func TestIsFreeDoesNotAllocate(t *testing.T) {
	f := NewFreeMail(nil, nil)
	for _, d := range []string{"gmail.com", "globex.example", "shop.globex.co.uk", "a.b.c.d.example"} {
		if n := testing.AllocsPerRun(100, func() { f.IsFree(d) }); n != 0 {
			t.Errorf("IsFree(%q) allocates %v times", d, n)
		}
	}
}

func TestIsFreeConcurrent(t *testing.T) {
	f := NewFreeMail([]string{"extra.example"}, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if !f.IsFree("GMail.com") || !(*FreeMail)(nil).IsFree("yahoo.fr") || f.IsFree("globex.example") {
					t.Error("wrong answer under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkIsFree(b *testing.B) {
	f := NewFreeMail(nil, nil)
	for _, d := range []string{"gmail.com", "shop.globex.co.uk", "Jane@GMail.com", "bücher.example"} {
		b.Run(d, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.IsFree(d)
			}
		})
	}
}

func TestIsFreeHostMatchesIsFree(t *testing.T) {
	f := NewFreeMail([]string{"extra.example"}, []string{"corp.gmail.com"})
	for _, in := range []string{"gmail.com", "GMail.com", "mail.yahoo.co.uk", "corp.gmail.com", "x.corp.gmail.com",
		"extra.example", "globex.example", "https://www.outlook.com/x", "jane@proton.me", "", "not a domain"} {
		n, err := NormalizeDomain(in)
		if err != nil {
			n = ""
		}
		if got, want := f.IsFreeHost(n), f.IsFree(in); got != want {
			t.Errorf("IsFreeHost(%q) = %v, IsFree(%q) = %v", n, got, in, want)
		}
	}
	if !f.IsFreeHost("gmail.com") || f.IsFreeHost("corp.gmail.com") || !f.IsFreeHost("extra.example") {
		t.Error("IsFreeHost ignores extra/allow")
	}
}

// DefaultFreeMailDomains is the embedded free-mail list, normalised (see
// NormalizeDomain), without duplicates, sorted.
func DefaultFreeMailDomains() []string { return defaultFreeMail().Domains() }
