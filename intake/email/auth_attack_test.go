package email

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

// requireAuth is a channel that refuses mail no honoured result
// authenticates.
func requireAuth(t *testing.T, mod func(*Options)) *Channel {
	return channel(t, func(o *Options) {
		o.Registrar, o.Mail = newFakeRegistrar(), &outbox{}
		o.Config.Authentication.Require = true
		if mod != nil {
			mod(o)
		}
	})
}

// SendGrid's SPF field is about the envelope sender, which the sender
// picks: a pass for it says nothing about the From domain.
func TestSendGridSPFFieldIsNotAboutTheFromDomain(t *testing.T) {
	srv := loopback(t, requireAuth(t, nil))
	msg := registerMail("sam@northwind.example", "forged-1@evil.example", "Company: Globex\nWebsite: globex.example")
	var mp bytes.Buffer
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"SPF\"\r\n\r\npass\r\n")
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"dkim\"\r\n\r\n{@evil.example : pass}\r\n")
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + string(msg) + "\r\n--B--\r\n")
	code, body := send(t, srv, "multipart/form-data; boundary=B", mp.Bytes(), 10*time.Second)
	if code != 422 || !strings.Contains(body, "sender not authenticated") {
		t.Errorf("%d %s, want 422: an SPF pass for the envelope sender authenticates nobody", code, body)
	}
	form := url.Values{"email": {string(msg)}, "SPF": {"pass"}}
	code, body = send(t, srv, "application/x-www-form-urlencoded", []byte(form.Encode()), 10*time.Second)
	if code != 422 || !strings.Contains(body, "sender not authenticated") {
		t.Errorf("urlencoded: %d %s, want 422", code, body)
	}
}

// Mailgun's X-Mailgun-Spf is about the envelope sender and its
// X-Mailgun-Dkim-Check-Result names no signing domain: neither says the
// From domain sent the message.
func TestMailgunHeadersAreNotAboutTheFromDomain(t *testing.T) {
	srv := loopback(t, requireAuth(t, func(o *Options) { o.Config.Authentication.MailgunHeaders = true }))
	for _, h := range []string{"X-Mailgun-Spf: Pass\n", "X-Mailgun-Dkim-Check-Result: Pass\n", "X-Mailgun-Spf: Pass\nX-Mailgun-Dkim-Check-Result: Pass\n"} {
		msg := crlf(h + "From: sam@northwind.example\nSubject: New\nMessage-ID: <forged-2@evil.example>\n\nCompany: Globex\nWebsite: globex.example\n")
		code, body := send(t, srv, "message/rfc822", msg, 10*time.Second)
		if code != 422 || !strings.Contains(body, "sender not authenticated") {
			t.Errorf("%q: %d %s, want 422", h, code, body)
		}
	}
}

// With authserv_ids set, only the topmost Authentication-Results of a
// trusted authserv-id counts: the receiving server adds its header on top
// of those the sender wrote into the message, with the same id.
func TestOnlyTheTopmostTrustedAuthenticationResultsCounts(t *testing.T) {
	srv := loopback(t, requireAuth(t, func(o *Options) { o.Config.Authentication.AuthservIDs = []string{"mx.vendor.example"} }))
	msg := crlf("Authentication-Results: mx.vendor.example; dkim=none; spf=none smtp.mailfrom=evil.example; dmarc=none\n" +
		"Received: from evil.example by mx.vendor.example\n" +
		"Authentication-Results: mx.vendor.example; dkim=pass header.d=northwind.example; dmarc=pass header.from=northwind.example\n" +
		"From: sam@northwind.example\nSubject: New\nMessage-ID: <forged-3@evil.example>\n\nCompany: Globex\nWebsite: globex.example\n")
	code, body := send(t, srv, "message/rfc822", msg, 10*time.Second)
	if code != 422 || !strings.Contains(body, "sender not authenticated") {
		t.Errorf("%d %s, want 422: the sender's own header below the server's must not count", code, body)
	}
}

// An ARC set counts only when the receiver whose authserv-id it names
// sealed it: anyone can add a valid ARC set sealed with their own key
// (arc=pass) whose results claim to come from a trusted server.
func TestARCSetSealedBySomeoneElseIsNotHonoured(t *testing.T) {
	srv := loopback(t, requireAuth(t, func(o *Options) {
		o.Config.Authentication.AuthservIDs = []string{"mx.vendor.example", "mx.google.com"}
	}))
	msg := crlf("Authentication-Results: mx.vendor.example; dkim=none; arc=pass (i=1 spf=pass)\n" +
		"ARC-Seal: i=1; a=rsa-sha256; t=1741082400; cv=none; d=evil.example; s=arc; b=AbCd\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=evil.example; s=arc; h=from:subject; bh=x; b=y\n" +
		"ARC-Authentication-Results: i=1; mx.google.com; dkim=pass header.d=northwind.example; dmarc=pass header.from=northwind.example\n" +
		"From: sam@northwind.example\nSubject: New\nMessage-ID: <forged-4@evil.example>\n\nCompany: Globex\nWebsite: globex.example\n")
	code, body := send(t, srv, "message/rfc822", msg, 10*time.Second)
	if code != 422 || !strings.Contains(body, "sender not authenticated") {
		t.Errorf("%d %s, want 422: an ARC set sealed by evil.example must not count", code, body)
	}
}
