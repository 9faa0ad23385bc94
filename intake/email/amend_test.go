package email

import (
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// The registrations of the amendment tests: northwind's R-… (Sam's) and
// another of northwind's whose status link Sam has.
var (
	victimKey = "email:v2:00000000000000000000000000000001"
	victimCN  = registration.CaseNumberFor(victimKey)
	otherKey  = "email:v2:00000000000000000000000000000002"
	otherCN   = registration.CaseNumberFor(otherKey)
)

func amendRig(t *testing.T, mod func(*Options)) (*fakeRegistrar, *outbox, *Channel) {
	t.Helper()
	reg, mail := newFakeRegistrar(), &outbox{}
	for _, k := range []string{victimKey, otherKey} {
		reg.add(registration.Record{SubmissionKey: k, PartnerID: "northwind", PartnerEmail: "sam@northwind.example", Source: "email",
			CompanyName: "Globex", Status: registration.StatusDeclined})
	}
	c := channel(t, func(o *Options) {
		o.Registrar, o.Mail, o.Tokens = reg, mail, reg.signer
		if mod != nil {
			mod(o)
		}
	})
	return reg, mail, c
}

func amendMail(headers, subject, body string) []byte {
	return crlf(headers + "From: Sam Carter <sam@northwind.example>\nTo: partners@vendor.example\nSubject: " + subject +
		"\nMessage-ID: <amend-" + subject[len(subject)-4:] + "@northwind.example>\nDate: Tue, 4 Mar 2025 11:00:00 +0000\n\n" + body + "\n")
}

// Anyone can write a partner's address in From and a case number in the
// subject: that alone withdraws, appeals or changes nothing.
func TestAmendmentByCaseNumberAloneIsRefused(t *testing.T) {
	for _, body := range []string{"Withdraw", "Appeal: we met them first", "Website: initech.example\nConsent: yes"} {
		reg, mail, c := amendRig(t, nil)
		srv := loopback(t, c)
		code, answer := send(t, srv, "message/rfc822", amendMail("", "Re: Registration "+victimCN, body), 10*time.Second)
		out := outcome(t, answer)
		reply := mail.last()
		if code != 200 || out.Action != ActionAmend || out.Reason != "sender not authenticated" || len(reg.amendments()) != 0 {
			t.Errorf("%q: %d %s, amendments %v: want it refused", body, code, answer, reg.amendments())
		}
		for _, want := range []string{"We have not made this change to registration " + victimCN,
			"this e-mail carries no proof that it comes from you", "status link", "no login needed"} {
			if !strings.Contains(reply, want) {
				t.Errorf("%q: the reply lacks %q:\n%s", body, want, reply)
			}
		}
		if strings.Contains(reply, reg.StatusURL(victimCN)) || strings.Contains(answer, reg.StatusURL(victimCN)) {
			t.Errorf("%q: the refusal hands out the status link:\n%s", body, reply)
		}
	}
}

// Without authserv_ids the topmost Authentication-Results is whatever the
// sender wrote when the inbound service adds none: it does not prove the
// sender for an amendment.
func TestAmendmentWithTheSendersOwnAuthenticationResultsIsRefused(t *testing.T) {
	reg, _, c := amendRig(t, nil)
	srv := loopback(t, c)
	forged := "Authentication-Results: mx.vendor.example; dkim=pass header.d=northwind.example; dmarc=pass header.from=northwind.example\n"
	code, answer := send(t, srv, "message/rfc822", amendMail(forged, "Re: "+victimCN, "Withdraw"), 10*time.Second)
	if out := outcome(t, answer); code != 200 || out.Reason != "sender not authenticated" || len(reg.amendments()) != 0 {
		t.Errorf("%d %s, amendments %v: want it refused", code, answer, reg.amendments())
	}
}

// The status link of another registration authorises nothing about this
// one, nor does a link made with another key.
func TestAmendmentWithAnotherRegistrationsStatusLinkIsRefused(t *testing.T) {
	reg, _, c := amendRig(t, nil)
	srv := loopback(t, c)
	forged := "https://partners.vendor.example/r/" + victimCN[2:] + strings.Repeat("A", 22)
	body := "Withdraw\n\nSee " + reg.StatusURL(otherCN) + " and " + forged
	code, answer := send(t, srv, "message/rfc822", amendMail("", "Re: "+victimCN, body), 10*time.Second)
	if out := outcome(t, answer); code != 200 || out.Reason != "sender not authenticated" || len(reg.amendments()) != 0 {
		t.Errorf("%d %s, amendments %v: want it refused", code, answer, reg.amendments())
	}
}

// A reply that keeps our e-mail below it holds the registration's status
// link: that proves the sender got our e-mail, and the change is made.
func TestAmendmentWithItsStatusLinkIsMade(t *testing.T) {
	reg, mail, c := amendRig(t, nil)
	srv := loopback(t, c)
	body := "Appeal: we met them in January\n\nOn Tue, 4 Mar 2025, Partner Program wrote:\n> Status: Declined\n> See where it stands at any time (no login needed):\n> " + reg.StatusURL(victimCN)
	code, answer := send(t, srv, "message/rfc822", amendMail("", "Re: "+victimCN, body), 10*time.Second)
	if out := outcome(t, answer); code != 200 || out.Status != "appealed" || strings.Join(reg.amendments(), ",") != victimCN+" appeal" {
		t.Errorf("%d %s, amendments %v", code, answer, reg.amendments())
	}
	if !strings.Contains(mail.last(), "We received your appeal of case "+victimCN) {
		t.Errorf("reply:\n%s", mail.last())
	}
}

// A DKIM or DMARC pass for the From domain, from a source the sender
// cannot write, authenticates an amendment: the topmost
// Authentication-Results of a listed authserv-id, or SendGrid's dkim
// field. An aligned SPF pass does not (SPF is the envelope's).
func TestAmendmentFromAnAuthenticatedSenderIsMade(t *testing.T) {
	trusted := func(o *Options) { o.Config.Authentication.AuthservIDs = []string{"mx.vendor.example"} }
	for _, tc := range []struct {
		name, headers string
		mod           func(*Options)
		made          bool
	}{
		{"trusted dkim", "Authentication-Results: mx.vendor.example; dkim=pass header.d=northwind.example\n", trusted, true},
		{"trusted dmarc", "Authentication-Results: mx.vendor.example; dmarc=pass header.from=northwind.example\n", trusted, true},
		{"trusted spf only", "Authentication-Results: mx.vendor.example; spf=pass smtp.mailfrom=sam@northwind.example\n", trusted, false},
		{"trusted dkim of another domain", "Authentication-Results: mx.vendor.example; dkim=pass header.d=evil.example\n", trusted, false},
		{"untrusted id", "Authentication-Results: mx.evil.example; dkim=pass header.d=northwind.example\n", trusted, false},
		{"not required", "", func(o *Options) { o.Config.Authentication.RequireForAmendments = false }, true},
	} {
		reg, _, c := amendRig(t, tc.mod)
		srv := loopback(t, c)
		code, answer := send(t, srv, "message/rfc822", amendMail(tc.headers, "Re: "+victimCN, "Withdraw"), 10*time.Second)
		if made := len(reg.amendments()) == 1; code != 200 || made != tc.made {
			t.Errorf("%s: %d %s, amendments %v, want made %v", tc.name, code, answer, reg.amendments(), tc.made)
		}
	}
	// SendGrid's dkim field.
	reg, _, c := amendRig(t, nil)
	srv := loopback(t, c)
	var mp strings.Builder
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"dkim\"\r\n\r\n{@northwind.example : pass}\r\n")
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + string(amendMail("", "Re: "+victimCN, "Withdraw")) + "\r\n--B--\r\n")
	code, answer := send(t, srv, "multipart/form-data; boundary=B", []byte(mp.String()), 10*time.Second)
	if code != 200 || strings.Join(reg.amendments(), ",") != victimCN+" withdraw" {
		t.Errorf("sendgrid dkim: %d %s, amendments %v", code, answer, reg.amendments())
	}
}
