package email

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/regsync/regsync/intake"
)

func TestParseForm(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string]string
		unknown  string
	}{
		{"plain", "Company: Globex\nWebsite: globex.example\nContact: Hank\nEmail: hank@globex.example\nRole: CEO\nProblem: stock by hand\nStage: discovery\nConsent: yes",
			map[string]string{"company_name": "Globex", "company_domain": "globex.example", "contact_name": "Hank", "contact_email": "hank@globex.example",
				"contact_role": "CEO", "problem": "stock by hand", "stage_guess": "discovery", "consent": "yes"}, ""},
		{"forgiving labels", "company name : Globex Corp\nDomain:globex.example\nE-Mail: h@globex.example\n* **Job title:** CFO\n- Consent given: Yes",
			map[string]string{"company_name": "Globex Corp", "company_domain": "globex.example", "contact_email": "h@globex.example", "contact_role": "CFO", "consent": "Yes"}, ""},
		{"multi-line problem ends at a blank line", "Problem: they reconcile\nstock by hand\nacross 12 sites\n\nThanks, Sam",
			map[string]string{"problem": "they reconcile\nstock by hand\nacross 12 sites"}, ""},
		{"multi-line problem ends at the next label", "Problem: line one\nline two\nConsent: yes",
			map[string]string{"problem": "line one\nline two", "consent": "yes"}, ""},
		{"single-line fields take no continuation", "Company: Globex\nthanks a lot\nWebsite: globex.example",
			map[string]string{"company_name": "Globex", "company_domain": "globex.example"}, ""},
		{"value on the next line", "Company:\n\nGlobex\nProblem:\nthey need it\nfast",
			map[string]string{"company_name": "Globex", "problem": "they need it\nfast"}, ""},
		{"link decorations", "Website: globex.example <http://globex.example>\nEmail: hank@globex.example<mailto:hank@globex.example>\nContact: \"Hank Scorpio\"",
			map[string]string{"company_domain": "globex.example", "contact_email": "hank@globex.example", "contact_name": "Hank Scorpio"}, ""},
		{"html2text link form", "Website: globex.example ( http://globex.example )\nEmail: [hank@globex.example](mailto:hank@globex.example)",
			map[string]string{"company_domain": "globex.example", "contact_email": "hank@globex.example"}, ""},
		{"quoted lines and signature ignored", "> Company: Old Co\nCompany: New Co\n-- \nEmail: sam@northwind.example",
			map[string]string{"company_name": "New Co"}, ""},
		{"first value wins", "Company: First\nCompany: Second", map[string]string{"company_name": "First"}, ""},
		{"unknown labels are reported", "Phone: 555\nCompany: Globex\nNotes: call after 5\nWe met them: they need it",
			map[string]string{"company_name": "Globex"}, "Phone,Notes,We met them"},
		{"urls and times are not labels", "https://globex.example\nMeeting at 10:30\nCompany: Globex",
			map[string]string{"company_name": "Globex"}, "Meeting at 10"},
		{"full-width colon and nbsp", "Company：Globex\nWebsite:\u00a0globex.example", map[string]string{"company_name": "Globex", "company_domain": "globex.example"}, ""},
		{"CRLF", "Company: Globex\r\nConsent: yes\r\n", map[string]string{"company_name": "Globex", "consent": "yes"}, ""},
		{"status is not settable", "Status: approved\nCase number: R-7QK2M9XBHD\nOwner: me", map[string]string{}, "Status,Case number,Owner"},
		{"nothing", "Hi, see you tomorrow!", map[string]string{}, ""},
	}
	for _, c := range cases {
		f := ParseForm(c.in)
		if fmt.Sprint(f.Fields) != fmt.Sprint(c.want) {
			t.Errorf("%s: fields %q, want %q", c.name, f.Fields, c.want)
		}
		if got := strings.Join(f.Unknown, ","); got != c.unknown {
			t.Errorf("%s: unknown %q, want %q", c.name, got, c.unknown)
		}
		if len(f.Order) != len(f.Fields) {
			t.Errorf("%s: order %v", c.name, f.Order)
		}
	}
}

func TestNormalizeConsent(t *testing.T) {
	for in, want := range map[string]string{"yes": "yes", "Yes, she agreed on our call": "yes", "YES!": "yes", "oui": "yes", "✓": "yes",
		"No (not yet)": "no", "nein": "no", "maybe": "maybe", "": ""} {
		if got := normalizeConsent(in); got != want {
			t.Errorf("normalizeConsent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		name, in  string
		forward   bool
		own       string
		fwdFrom   string
		fwdName   string
		fwdSubj   string
		fwdBodyIn string
	}{
		{"gmail reply", "Website: a.example\n\nOn Tue, Mar 4, 2025 at 10:12 AM Partner Program <partners@vendor.example> wrote:\n> Website:\n", false, "Website: a.example", "", "", "", ""},
		{"gmail wrapped reply", "Consent: yes\n\nOn Tue, Mar 4, 2025 at 10:12 AM Partner Program <\npartners@vendor.example> wrote:\n\n> old", false, "Consent: yes", "", "", "", ""},
		{"gmail forward", "Problem: x\n\n---------- Forwarded message ---------\nFrom: Jane Doe <jane@initech.example>\nDate: Wed, Feb 26, 2025 at 4:04 PM\nSubject: Warehouse\nTo: <sam@northwind.example>\n\nHi Sam,\nbody", true,
			"Problem: x", "jane@initech.example", "Jane Doe", "Warehouse", "Hi Sam,\nbody"},
		{"apple forward", "note\n\nBegin forwarded message:\n\nFrom: Jane Doe <jane@initech.example>\nSubject: W\nDate: 26 February 2025\nTo: Sam <sam@northwind.example>\n\nHi", true,
			"note", "jane@initech.example", "Jane Doe", "W", "Hi"},
		{"outlook classic forward", "FYI\n\n-----Original Message-----\nFrom: Jane Doe [mailto:jane@initech.example]\nSent: Wednesday, February 26, 2025 4:04 PM\nTo: Sam\nSubject: W\n\nHi", true,
			"FYI", "jane@initech.example", "Jane Doe", "W", "Hi"},
		{"outlook classic reply", "Consent: yes\n\n-----Original Message-----\nFrom: Partner Program\nSent: x\n", false, "Consent: yes", "", "", "", ""},
		{"outlook new reply", "Website: a.example\n\n________________________________\nFrom: Partner Program <partners@vendor.example>\nSent: Tuesday\nTo: Sam\nSubject: Re: x\n\nold", false, "Website: a.example", "", "", "", ""},
		{"outlook header block without separator", "Consent: yes\n\nFrom: Partner Program <partners@vendor.example>\nSent: Tuesday, March 4, 2025 11:02 AM\nTo: Sam\nSubject: Re: x\n\nold", false, "Consent: yes", "", "", "", ""},
		{"german outlook", "Einwilligung: ja\n\nVon: Partner Program <partners@vendor.example>\nGesendet: Dienstag, 4. März 2025 11:02\nAn: Sam\nBetreff: AW: x\n", false, "Einwilligung: ja", "", "", "", ""},
		{"a From: line alone is no marker", "From: the warehouse team\nProblem: x", false, "From: the warehouse team\nProblem: x", "", "", "", ""},
	}
	for _, c := range cases {
		p := Split(c.in, c.forward)
		if p.Own != c.own {
			t.Errorf("%s: own %q, want %q", c.name, p.Own, c.own)
		}
		if c.fwdFrom == "" {
			if p.Forwarded != nil && c.forward {
				t.Errorf("%s: unexpected forward %+v", c.name, p.Forwarded)
			}
			continue
		}
		if p.Forwarded == nil {
			t.Errorf("%s: no forward found", c.name)
			continue
		}
		fw := p.Forwarded
		if fw.FromAddress != c.fwdFrom || fw.FromName != c.fwdName || fw.Subject != c.fwdSubj || fw.Body != c.fwdBodyIn {
			t.Errorf("%s: forward %+v", c.name, fw)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	cases := map[string]string{
		`<div dir="ltr">Company: Globex<br>Website: <a href="http://globex.example">globex.example</a></div><div class="gmail_quote">On x wrote:<br>old</div>`: "Company: Globex\nWebsite: globex.example\n> On x wrote:\n> old",
		`<table><tr><td><b>Company</b></td><td>Globex</td></tr><tr><td>Email:</td><td>a@b.example</td></tr><tr><td></td><td>x</td></tr></table>`:               "Company: Globex\nEmail: a@b.example\nx",
		`<p class=MsoNormal>Company:   Globex<o:p></o:p></p><p>&nbsp;</p><ul><li>Role: CTO</li></ul><script>alert(1)</script><style>p{}</style>`:               "Company: Globex\n\nRole: CTO",
		`<div>Problem: one</div><div>two</div><div><br></div><div>Thanks</div>`:                                                                                "Problem: one\ntwo\n\nThanks",
		`<p>Hi</p><hr><div><b>From:</b> X<br><b>Sent:</b> Y</div>`:                                                                                             "Hi\n________________________________\nFrom: X\nSent: Y",
		`<blockquote type="cite">Company: Old</blockquote>Company: New`:                                                                                        "> Company: Old\nCompany: New",
	}
	for in, want := range cases {
		if got := htmlToText(in); got != want {
			t.Errorf("htmlToText(%q) =\n%q\nwant\n%q", in, got, want)
		}
	}
}

// FuzzParseForm checks what the form parser promises on any input: no
// panic, only fields a partner may send, values that are trimmed, never
// empty, valid UTF-8 without control characters, and the same answer twice.
func FuzzParseForm(f *testing.F) {
	f.Add("Company: Globex\nWebsite: globex.example\nProblem: a\nb\n\nConsent: yes")
	f.Add("> Company: x\n-- \nEmail: y")
	f.Add("Company:\n\n\nGlobex\n**Email:** <mailto:a@b>\n[x](http://y)")
	f.Add("Problem: " + strings.Repeat("x", 5000))
	f.Add("Company：Globex\r\nWebsite:\u00a0a.example\r")
	f.Add("On Tue wrote:\nCompany: x")
	f.Fuzz(func(t *testing.T, in string) {
		a := ParseForm(in)
		b := ParseForm(in)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatal("not deterministic")
		}
		if len(a.Order) != len(a.Fields) {
			t.Fatalf("order %v fields %v", a.Order, a.Fields)
		}
		for _, field := range a.Order {
			v, ok := a.Fields[field]
			if !ok {
				t.Fatalf("order names %s, not in fields", field)
			}
			if got, known := intake.FieldForLabel(field); !known || got != field {
				t.Fatalf("field %q is not canonical", field)
			}
			if v == "" || v != strings.TrimSpace(v) {
				t.Fatalf("field %s value %q not trimmed", field, v)
			}
			if utf8.ValidString(in) && !utf8.ValidString(v) {
				t.Fatalf("field %s value %q not UTF-8", field, v)
			}
			for _, r := range v {
				if r < 0x20 && r != '\n' {
					t.Fatalf("field %s value %q holds control character %U", field, v, r)
				}
			}
			if !multiLine[field] && strings.Contains(v, "\n") {
				t.Fatalf("single-line field %s holds %q", field, v)
			}
		}
		Split(in, true)
		Split(in, false)
	})
}
