package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/intake/email"
	"github.com/regsync/regsync/registration"
)

// A partner's e-mail becomes a registration in the CRM, decided, and the
// partner gets a threaded reply with the case number and the status link.
// The same message again registers nothing new.
func TestIntakeEmailRegistersAndReplies(t *testing.T) {
	r := startRig(t, rigOpts{})
	raw := testdata(t, "email", "gmail_multipart_alternative.eml")
	code, out := r.postEmail(raw)
	if code != http.StatusOK || out["action"] != "register" || out["created"] != true {
		t.Fatalf("POST /intake/email: %d %v", code, out)
	}
	cn, _ := out["case_number"].(string)
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	// The Gmail message gives no country: the rules send it to review.
	if rec["source"] != "email" || rec["partner_id"] != "northwind" || rec["company_domain"] != "globex.example" ||
		rec["contact_email"] != "hank.scorpio@globex.example" || rec["status_reason"] != "no_territory" ||
		rec["submission_key"] != submissionKey(t, raw) || len(rec["submission_key"]) != 41 {
		t.Errorf("record %v", rec)
	}
	reply := r.mailTo("sam@northwind.example", cn, 5*time.Second)
	link, _ := out["status_url"].(string)
	if !strings.HasPrefix(link, r.base+"/r/") {
		t.Fatalf("status_url %q", link)
	}
	body := reply.Envelope.Text
	for _, want := range []string{cn, link, "In review"} {
		if !strings.Contains(body, want) {
			t.Errorf("reply lacks %q:\n%s", want, body)
		}
	}
	if got := reply.Header("In-Reply-To"); got != "<CAF8hV2q7bXgK0Qh+zvJ3pY9Wc1mNn4rT6s=tD_aE5Lk2uVx8Rg@mail.gmail.com>" {
		t.Errorf("In-Reply-To %q", got)
	}
	// The status link works.
	resp, page := r.do("GET", strings.TrimPrefix(link, r.base), "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(page), cn) {
		t.Errorf("status page: %d", resp.StatusCode)
	}

	// The inbound service retries: nothing new.
	before := r.records()
	code, again := r.postEmail(raw)
	if code != http.StatusOK || again["case_number"] != cn || again["created"] == true {
		t.Errorf("repeat: %d %v", code, again)
	}
	if r.records() != before {
		t.Errorf("a repeated message made a record: %d → %d", before, r.records())
	}
	// A first decision answered by the channel gets no second, status e-mail.
	r.settle(5 * time.Second)
	if n := r.mailsTo("sam@northwind.example", cn); n != 2 {
		t.Errorf("%d messages about %s to the partner, want the 2 replies", n, cn)
	}
}

// needs_info: the reply lists exactly the missing fields; the partner
// answers in the thread with the case number in the subject; the same
// record is amended and decided again.
func TestIntakeEmailNeedsInfoThenReply(t *testing.T) {
	r := startRig(t, rigOpts{})
	first := crlf(`
From: Sam Carter <sam@northwind.example>
To: partners@vendor.example
Subject: New registration: Umbrella
Message-ID: <needs-info-1@northwind.example>
Date: Mon, 2 Mar 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Company: Umbrella Corporation
Website: umbrella.example
Contact: Alice Abernathy
Country: US
Consent: yes

Sam
`)
	code, out := r.postEmail(first)
	if code != 200 || out["status"] != "needs_info" {
		t.Fatalf("%d %v", code, out)
	}
	cn := out["case_number"].(string)
	if fmt.Sprint(out["missing"]) != "[contact_email problem]" {
		t.Errorf("missing %v", out["missing"])
	}
	reply := r.mailTo("sam@northwind.example", cn, 5*time.Second)
	body := reply.Envelope.Text
	for _, want := range []string{"contact e-mail", "a sentence on the problem", "Email:", "Problem:", out["status_url"].(string)} {
		if !strings.Contains(body, want) {
			t.Errorf("the needs-info reply lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "company website domain") || strings.Contains(body, "contact name") {
		t.Errorf("the reply asks for fields that were given:\n%s", body)
	}
	before := r.records()

	// The partner answers by replying, quoting our message.
	answer := crlf(fmt.Sprintf(`
From: Sam Carter <sam@northwind.example>
To: partners@vendor.example
Subject: Re: %s
Message-ID: <needs-info-2@northwind.example>
In-Reply-To: <%s>
References: <needs-info-1@northwind.example> <%s>
Date: Mon, 2 Mar 2026 11:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Email: alice@umbrella.example
Problem: Compliance reports are built by hand every quarter.

On Mon, 2 Mar 2026 at 10:00, Vendor partner program wrote:
> %s
`, reply.Header("Subject"), reply.Header("Message-Id")[1:len(reply.Header("Message-Id"))-1], reply.Header("Message-Id")[1:len(reply.Header("Message-Id"))-1],
		strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n> ")))
	code, out2 := r.postEmail(answer)
	if code != 200 || out2["action"] != "amend" || out2["case_number"] != cn {
		t.Fatalf("reply: %d %v", code, out2)
	}
	rec := r.waitCase(cn, 5*time.Second, "approved")
	if rec["contact_email"] != "alice@umbrella.example" || !strings.Contains(rec["problem"], "Compliance") {
		t.Errorf("amended record %v", rec)
	}
	if r.records() != before {
		t.Errorf("the reply made a new record (%d → %d)", before, r.records())
	}
	// The partner hears the decision in the thread.
	ok := false
	for _, m := range r.smtp.Messages() {
		if m.Header("In-Reply-To") == "<needs-info-2@northwind.example>" && strings.Contains(m.Envelope.Text, "Approved") {
			ok = true
		}
	}
	if !ok {
		t.Error("no reply in the thread saying the registration is approved")
	}
}

// The real messages in intake/email/testdata, end to end.
func TestIntakeEmailRealWorldMessages(t *testing.T) {
	r := startRig(t, rigOpts{})
	// An earlier forwarded registration that needs its website and consent:
	// Outlook's reply below supplies them.
	r.fake.Register(t, map[string]string{"case_number": "R-7QK2M9XBHD", "status": "needs_info", "status_reason": "missing_fields",
		"partner_id": "northwind", "partner_email": "sam@northwind.example", "source": "email", "company_name": "Initech",
		"contact_name": "Jane Doe", "contact_email": "jane.doe@initech.example", "problem": "Legacy WMS", "country": "US",
		"submission_key": "email:earlier-forward@northwind.example"})
	r.settle(5 * time.Second)

	for _, tc := range []struct {
		file, action, status, reason string
		code, created                int
		replyTo                      string
	}{
		// multipart/alternative, quoted-printable, a signature.
		{"gmail_multipart_alternative.eml", "register", "in_review", "no_territory", 200, 1, "sam@northwind.example"},
		// HTML only, Windows-1252; no consent given: needs info.
		{"outlook_html_only_windows1252.eml", "register", "needs_info", "missing_fields", 200, 1, "k.becker@contoso.example"},
		// ISO-8859-1, French labels.
		{"thunderbird_iso8859_1.eml", "register", "in_review", "no_territory", 200, 1, "marc.lefevre@contoso.example"},
		// A forwarded prospect's mail: the contact and domain come from it;
		// the partner gave no company name.
		{"apple_mail_forwarded.eml", "register", "needs_info", "missing_fields", 200, 1, "sam@northwind.example"},
		// Outlook's reply supplying fields to R-7QK2M9XBHD (initech.example
		// is blocked).
		{"outlook_reply_supplies_fields.eml", "amend", "declined", "blocked_account", 200, 0, "sam@northwind.example"},
		// A CSV attachment goes to the CSV channel.
		{"gmail_csv_attachment.eml", "csv", "", "", 200, -1, "sam@northwind.example"},
		// An auto-reply is ignored: no record, no answer.
		{"outlook_auto_reply.eml", "ignore", "", "", 202, 0, ""},
	} {
		func() {
			t.Logf("%s", tc.file)
			before, mails := r.records(), len(r.smtp.Messages())
			code, out := r.postEmail(testdata(t, "email", tc.file))
			if code != tc.code || out["action"] != tc.action {
				t.Fatalf("%d %v", code, out)
			}
			if tc.status != "" {
				cn := out["case_number"].(string)
				rec := r.waitCase(cn, 5*time.Second, tc.status)
				if rec["status_reason"] != tc.reason {
					t.Errorf("%s: reason %q, want %q", cn, rec["status_reason"], tc.reason)
				}
			}
			switch {
			case tc.created >= 0 && r.records() != before+tc.created:
				t.Errorf("records %d → %d, want +%d", before, r.records(), tc.created)
			case tc.created < 0 && r.records() <= before:
				t.Errorf("the CSV attachment registered nothing")
			}
			if tc.replyTo == "" {
				time.Sleep(100 * time.Millisecond)
				if len(r.smtp.Messages()) != mails {
					t.Errorf("automatic mail was answered")
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			msgs, err := r.smtp.Wait(ctx, mails+1)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			if m := msgs[mails]; !contains(m.To, tc.replyTo) || (out["case_number"] != nil && !strings.Contains(m.Header("Subject"), out["case_number"].(string))) {
				t.Errorf("reply to %v %q, want to %s about %v", m.To, m.Header("Subject"), tc.replyTo, out["case_number"])
			}
		}()
	}
	// The CSV attachment's reply carries its results.
	var found bool
	for _, m := range r.smtp.Messages() {
		for _, a := range m.Envelope.Attachments {
			if strings.HasSuffix(a.FileName, ".csv") && bytes.HasPrefix(a.Content, []byte("row,case_number,status,reason,message")) {
				found = true
			}
		}
	}
	if !found {
		t.Error("no reply carries the result CSV")
	}
	// The forwarded prospect's details came from the forwarded message.
	rec := r.byCase(registration.CaseNumberFor(submissionKey(t, testdata(t, "email", "apple_mail_forwarded.eml"))))
	if rec["contact_email"] != "jane.doe@initech.example" || rec["contact_name"] != "Jane Doe" || rec["company_domain"] != "initech.example" {
		t.Errorf("forwarded: %v", rec)
	}
	if rec := r.byCase("R-7QK2M9XBHD"); rec["company_domain"] != "initech.example" || rec["consent"] != "true" {
		t.Errorf("supplied by the Outlook reply: %v", rec)
	}
}

// A withdrawal by e-mail needs proof of its sender: a forged From with the
// case number withdraws nothing and is told how; the partner's reply that
// keeps regsync's e-mail (its status link) withdraws it.
func TestIntakeEmailAmendmentNeedsProofOfTheSender(t *testing.T) {
	r := startRig(t, rigOpts{})
	code, out := r.postEmail(testdata(t, "email", "gmail_multipart_alternative.eml"))
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	cn, link := out["case_number"].(string), out["status_url"].(string)
	r.waitCase(cn, 5*time.Second, "in_review")
	withdraw := func(id, quote string) map[string]any {
		code, out := r.postEmail(crlf(fmt.Sprintf("From: Sam Carter <sam@northwind.example>\nTo: partners@vendor.example\nSubject: Re: Registration [%s]\n"+
			"Message-ID: <%s@northwind.example>\nDate: Tue, 4 Mar 2025 11:00:00 +0000\n\nWithdraw\n\n%s\n", cn, id, quote)))
		if code != 200 {
			t.Fatalf("%d %v", code, out)
		}
		return out
	}
	if out := withdraw("forged-withdraw", ""); out["reason"] != "sender not authenticated" {
		t.Errorf("forged withdrawal: %v", out)
	}
	if rec := r.byCase(cn); rec["status"] != "in_review" {
		t.Errorf("a forged withdrawal changed %s to %s", cn, rec["status"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var refusal string
	for n := 1; refusal == ""; n++ {
		msgs, err := r.smtp.Wait(ctx, n)
		for _, m := range msgs {
			if contains(m.To, "sam@northwind.example") && strings.Contains(m.Envelope.Text, "We have not made this change to registration "+cn) {
				refusal = m.Envelope.Text
			}
		}
		if err != nil && refusal == "" {
			t.Fatalf("no reply refusing the withdrawal: %v", err)
		}
		n = len(msgs)
	}
	if strings.Contains(refusal, link) || !strings.Contains(refusal, "status link") {
		t.Errorf("the refusal:\n%s", refusal)
	}
	if out := withdraw("real-withdraw", "On Tue, Vendor partner program wrote:\n> See where it stands at any time (no login needed):\n> "+link); out["status"] != "withdrawn" {
		t.Errorf("withdrawal quoting the status link: %v", out)
	}
	r.waitCase(cn, 5*time.Second, "withdrawn")
}

// submissionKey is the key the e-mail channel gives a message.
func submissionKey(t *testing.T, raw []byte) string {
	t.Helper()
	in, err := email.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return in.SubmissionKey()
}

// Bad input: a clear error, nothing in the CRM, no reply.
func TestIntakeEmailRefusals(t *testing.T) {
	r := startRig(t, rigOpts{})
	before, mails := r.records(), len(r.smtp.Messages())
	junk := make([]byte, 64<<10)
	_, _ = rand.Read(junk)
	big := append(crlf("From: Sam Carter <sam@northwind.example>\nSubject: big\nMessage-ID: <big@northwind.example>\n\nCompany: Big\n"),
		bytes.Repeat([]byte("x"), 50<<20)...)
	for _, tc := range []struct {
		name  string
		raw   []byte
		token string
		code  int
		want  string
	}{
		{"unknown sender", crlf("From: Jane Doe <jane.doe@initech.example>\nSubject: Warehouse software\nMessage-ID: <j@initech.example>\n\nCompany: Initech\nWebsite: initech.example\n"),
			rigEmailToken, 422, "initech.example is not the e-mail domain of a partner"},
		{"not a partner", crlf("From: Eve <eve@evil.example>\nSubject: hi\nMessage-ID: <e@evil.example>\n\nCompany: Globex\nWebsite: globex.example\n"),
			rigEmailToken, 422, "evil.example is not the e-mail domain of a partner"},
		{"display name forged", crlf("From: \"sam@northwind.example\" <eve@evil.example>\nSubject: hi\nMessage-ID: <f@evil.example>\n\nCompany: Globex\n"),
			rigEmailToken, 422, "evil.example is not the e-mail domain of a partner"},
		{"dmarc fail", crlf("Authentication-Results: mx.vendor.example; dmarc=fail header.from=northwind.example\nFrom: Sam <sam@northwind.example>\nSubject: hi\nMessage-ID: <g@northwind.example>\n\nCompany: Globex\n"),
			rigEmailToken, 422, "sender authentication failed"},
		{"binary junk", junk, rigEmailToken, 422, ""},
		{"50 MB", big, rigEmailToken, 413, "larger than 25MiB"},
		{"no token", testdata(t, "email", "gmail_multipart_alternative.eml"), "wrong", 401, "token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := r.do("POST", "/intake/email", "message/rfc822", bytes.NewReader(tc.raw), map[string]string{"Authorization": "Bearer " + tc.token})
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) || !strings.Contains(string(b), `"error"`) {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if r.records() != before {
		t.Errorf("refused mail made records: %d → %d", before, r.records())
	}
	if n := len(r.smtp.Messages()); n != mails {
		t.Errorf("refused mail was answered (%d messages)", n-mails)
	}
}
