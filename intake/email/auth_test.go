package email

import (
	"fmt"
	"net/textproto"
	"testing"

	"github.com/regsync/regsync/intake"
)

func TestParseAuthResults(t *testing.T) {
	cases := map[string]string{
		"mx.google.com;\r\n dkim=pass header.i=@northwind.example header.s=google header.b=Jq3n;\r\n spf=pass (google.com: domain of sam@northwind.example designates 1.2.3.4 as permitted sender) smtp.mailfrom=sam@northwind.example;\r\n dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=northwind.example": "mx.google.com [{dkim pass northwind.example} {spf pass northwind.example} {dmarc pass northwind.example}]",
		// Microsoft 365 writes no authserv-id.
		"spf=pass (sender IP is 40.107.1.2) smtp.mailfrom=contoso.example; dkim=pass (signature was verified) header.d=contoso.example;dmarc=pass action=none header.from=contoso.example;compauth=pass reason=100": " [{spf pass contoso.example} {dkim pass contoso.example} {dmarc pass contoso.example} {compauth pass }]",
		"i=1; mx.microsoft.com 1; spf=pass smtp.mailfrom=contoso.example; arc=none": "mx.microsoft.com [{spf pass contoso.example} {arc none }]",
		"mx.vendor.example 1; none": "mx.vendor.example []",
		"mx.vendor.example; dkim=fail reason=\"signature; verification failed\" header.d=evil.example": "mx.vendor.example [{dkim fail evil.example}]",
		"mx.example; spf=softfail smtp.helo=mail.example.":                                             "mx.example [{spf softfail mail.example}]",
		"":     " []",
		"((((": " []",
	}
	for in, want := range cases {
		ar := ParseAuthResults(in)
		if got := fmt.Sprint(ar.AuthservID, " ", ar.Results); got != want {
			t.Errorf("ParseAuthResults(%q) = %s, want %s", in, got, want)
		}
	}
}

func hdr(kv ...string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestAuthenticate(t *testing.T) {
	trusted := intake.EmailAuthConfig{AuthservIDs: []string{"mx.vendor.example"}}
	cases := []struct {
		name  string
		h     textproto.MIMEHeader
		cfg   intake.EmailAuthConfig
		hints Hints
		want  string
	}{
		{"no results", hdr(), intake.EmailAuthConfig{}, Hints{}, "none"},
		{"aligned dkim pass (subdomain signer)", hdr("Authentication-Results", "mx.vendor.example; dkim=pass header.d=mail.northwind.example"), intake.EmailAuthConfig{}, Hints{}, "pass"},
		{"dmarc fail refuses", hdr("Authentication-Results", "mx.vendor.example; dkim=pass header.d=esp.example; dmarc=fail header.from=northwind.example"), intake.EmailAuthConfig{}, Hints{}, "fail dmarc=fail for northwind.example"},
		{"aligned dkim fail without pass refuses", hdr("Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; spf=softfail smtp.mailfrom=northwind.example"), intake.EmailAuthConfig{}, Hints{}, "fail dkim=fail for northwind.example"},
		{"unaligned fail is ignored", hdr("Authentication-Results", "mx.vendor.example; dkim=fail header.d=lists.example; spf=fail smtp.mailfrom=bounce.esp.example"), intake.EmailAuthConfig{}, Hints{}, "none"},
		{"aligned spf pass wins over dkim fail", hdr("Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; spf=pass smtp.mailfrom=sam@northwind.example"), intake.EmailAuthConfig{}, Hints{}, "pass"},
		{"only the topmost header without authserv_ids", hdr("Authentication-Results", "mx.vendor.example; spf=none", "Authentication-Results", "forged.example; dkim=pass header.d=northwind.example"), intake.EmailAuthConfig{}, Hints{}, "none"},
		{"a forged lower header cannot fail either", hdr("Authentication-Results", "mx.vendor.example; dkim=pass header.d=northwind.example", "Authentication-Results", "x; dmarc=fail header.from=northwind.example"), intake.EmailAuthConfig{}, Hints{}, "pass"},
		{"trusted ids pick their headers", hdr("Authentication-Results", "forged.example; dkim=pass header.d=northwind.example", "Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example"), trusted, Hints{}, "fail dkim=fail for northwind.example"},
		{"untrusted headers only", hdr("Authentication-Results", "forged.example; dmarc=fail"), trusted, Hints{}, "none"},
		{"arc rescues a forwarder's broken dkim", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; arc=pass",
			"ARC-Seal", "i=2; a=rsa-sha256; cv=pass; d=vendor.example; s=arc; b=x",
			"ARC-Authentication-Results", "i=2; mx.vendor.example; dkim=fail header.d=northwind.example",
			"ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=vendor.example; s=arc; b=y",
			"ARC-Authentication-Results", "i=1; mx.vendor.example; dkim=pass header.d=northwind.example"), trusted, Hints{}, "pass aligned"},
		{"arc set without a seal is not read", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; arc=pass",
			"ARC-Authentication-Results", "i=1; mx.vendor.example; dkim=pass header.d=northwind.example"), trusted, Hints{}, "fail dkim=fail for northwind.example"},
		{"arc set sealed by another domain is not read", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; arc=pass",
			"ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=evil.example; s=arc; b=y",
			"ARC-Authentication-Results", "i=1; mx.vendor.example; dkim=pass header.d=northwind.example"), trusted, Hints{}, "fail dkim=fail for northwind.example"},
		{"arc without arc=pass is not read", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=fail header.d=northwind.example; arc=fail",
			"ARC-Authentication-Results", "i=1; mx.vendor.example; dkim=pass header.d=northwind.example"), trusted, Hints{}, "fail dkim=fail for northwind.example"},
		{"mailgun headers ignored by default", hdr("X-Mailgun-Spf", "Fail", "X-Mailgun-Dkim-Check-Result", "Fail"), intake.EmailAuthConfig{}, Hints{}, "none"},
		// Neither names the From domain: no verdict either way.
		{"mailgun fail", hdr("X-Mailgun-Spf", "Fail", "X-Mailgun-Dkim-Check-Result", "Fail"), intake.EmailAuthConfig{MailgunHeaders: true}, Hints{}, "none"},
		{"mailgun pass", hdr("X-Mailgun-Spf", "Pass", "X-Mailgun-Dkim-Check-Result", "Pass"), intake.EmailAuthConfig{MailgunHeaders: true}, Hints{}, "none"},
		{"sendgrid spf field", hdr(), intake.EmailAuthConfig{}, Hints{SPF: "pass"}, "none"},
		{"sendgrid spf fail field", hdr(), intake.EmailAuthConfig{}, Hints{SPF: "fail"}, "none"},
		{"sendgrid dkim hint", hdr(), intake.EmailAuthConfig{}, Hints{DKIM: "{@northwind.example : pass}", SPF: "softfail"}, "pass aligned"},
		{"sendgrid dkim hint for another domain", hdr(), intake.EmailAuthConfig{}, Hints{DKIM: "{@evil.example : pass}", SPF: "pass"}, "none"},
		{"only the topmost trusted header", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=none",
			"Authentication-Results", "mx.vendor.example; dkim=pass header.d=northwind.example"), trusted, Hints{}, "none"},
		{"a lower trusted header cannot fail either", hdr(
			"Authentication-Results", "mx.vendor.example; dkim=pass header.d=northwind.example",
			"Authentication-Results", "mx.vendor.example; dmarc=fail header.from=northwind.example"), trusted, Hints{}, "pass aligned"},
		{"trusted aligned spf passes but is not enough for amendments", hdr(
			"Authentication-Results", "mx.vendor.example; spf=pass smtp.mailfrom=sam@northwind.example"), trusted, Hints{}, "pass"},
		{"trusted dmarc pass", hdr("Authentication-Results", "mx.vendor.example; dmarc=pass header.from=northwind.example"), trusted, Hints{}, "pass aligned"},
		{"sendgrid dkim fail hint", hdr(), intake.EmailAuthConfig{}, Hints{DKIM: "{@sendgrid.net : pass, @northwind.example : fail}", SPF: "neutral"}, "fail dkim=fail for northwind.example"},
	}
	for _, c := range cases {
		v := Authenticate(c.h, "northwind.example", c.cfg, c.hints)
		got := "none"
		switch {
		case v.Fail:
			got = "fail " + v.Reason
		case v.Pass && v.Aligned:
			got = "pass aligned"
		case v.Pass:
			got = "pass"
		}
		if got != c.want {
			t.Errorf("%s: %s (%+v), want %s", c.name, got, v, c.want)
		}
	}
}
