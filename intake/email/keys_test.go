package email

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// v2Key is the documented key of a message with a Message-ID; it must
// never change (registrations are found again by it).
func v2Key(from, messageID string) string {
	sum := sha256.Sum256([]byte("regsync email submission key v2\x00" + strings.ToLower(from) + "\x00" + messageID))
	return "email:v2:" + hex.EncodeToString(sum[:16])
}

func registerMail(from, messageID, body string) []byte {
	return crlf("From: " + from + "\nTo: partners@vendor.example\nSubject: New registration\nMessage-ID: <" + messageID +
		">\nDate: Tue, 4 Mar 2025 10:00:00 +0000\n\n" + body + "\n")
}

func outcome(t *testing.T, body string) Outcome {
	t.Helper()
	var o Outcome
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	return o
}

// A partner's message reusing the Message-ID of another partner's
// registration gets a registration of its own: never the other's case
// number, status or status link.
func TestMessageIDOfAnotherPartnersRegistrationRevealsNothing(t *testing.T) {
	reg, mail := newFakeRegistrar(), &outbox{}
	srv := loopback(t, channel(t, func(o *Options) { o.Registrar, o.Mail = reg, mail }))
	const id = "CAF8hV2q7bXgK0Qh@mail.gmail.com"
	code, body := send(t, srv, "message/rfc822", registerMail("Sam Carter <sam@northwind.example>", id, "Company: Globex\nWebsite: globex.example"), 10*time.Second)
	victim := outcome(t, body)
	if code != 200 || !victim.Created || victim.StatusURL == "" {
		t.Fatalf("the first registration: %d %s", code, body)
	}
	// Contoso learnt the Message-ID (a Cc, a forward) and sends its own.
	code, body = send(t, srv, "message/rfc822", registerMail("Eve <eve@contoso.example>", id, "Company: Globex\nWebsite: globex.example"), 10*time.Second)
	got := outcome(t, body)
	reply := mail.last()
	for _, secret := range []string{victim.CaseNumber, victim.StatusURL, strings.TrimPrefix(victim.StatusURL, "https://partners.vendor.example/r/")} {
		if strings.Contains(body, secret) || strings.Contains(reply, secret) {
			t.Errorf("contoso's answer reveals northwind's %q:\n%s\n%s", secret, body, reply)
		}
	}
	if code != 200 || !got.Created || got.CaseNumber == victim.CaseNumber {
		t.Errorf("contoso's message: %d %s, want a registration of its own", code, body)
	}
	if r, _ := reg.Lookup(t.Context(), victim.CaseNumber); r.PartnerID != "northwind" || r.CompanyDomain != "globex.example" {
		t.Errorf("northwind's registration became %+v", r)
	}
}

// Salesforce's Submission_Key__c is Text(255), unique: the key has one
// length whatever the Message-ID.
func TestSubmissionKeyHasAFixedLength(t *testing.T) {
	c := channel(t, nil)
	var keys []string
	for _, id := range []string{"a@b", strings.Repeat("x", 900) + "@northwind.example"} {
		p, err := c.Plan(registerMail("sam@northwind.example", id, "Company: Globex"), Hints{})
		if err != nil {
			t.Fatal(err)
		}
		k := p.Submission.Key
		if len(k) != 41 || !strings.HasPrefix(k, "email:v2:") || k != p.Submission.Record.SubmissionKey ||
			p.Submission.Record.CaseNumber != registration.CaseNumberFor(k) {
			t.Errorf("Message-ID of %d bytes: key %q (%d), case %s", len(id), k, len(k), p.Submission.Record.CaseNumber)
		}
		keys = append(keys, k)
	}
	if keys[0] == keys[1] {
		t.Error("two Message-IDs, one key")
	}
}

// Registrations made before keys named the sender ("email:" + Message-ID)
// keep working: the same message again, from the same sender, is answered
// with that registration and makes no second one.
func TestLegacyKeyStillAnswersARepeatedMessage(t *testing.T) {
	reg, mail := newFakeRegistrar(), &outbox{}
	const id = "old-message@northwind.example"
	legacy := "email:" + id
	reg.add(registration.Record{SubmissionKey: legacy, PartnerID: "northwind", PartnerEmail: "sam@northwind.example",
		Source: "email", CompanyName: "Globex", CompanyDomain: "globex.example", Status: registration.StatusApproved})
	srv := loopback(t, channel(t, func(o *Options) { o.Registrar, o.Mail = reg, mail }))
	code, body := send(t, srv, "message/rfc822", registerMail("Sam Carter <sam@northwind.example>", id, "Company: Globex\nWebsite: globex.example"), 10*time.Second)
	got := outcome(t, body)
	if code != 200 || got.Created || got.CaseNumber != registration.CaseNumberFor(legacy) || got.Status != "approved" || reg.count() != 1 {
		t.Errorf("%d %s (%d records), want the registration made under the legacy key", code, body, reg.count())
	}
	if !strings.Contains(mail.last(), "We already have this registration, as case "+registration.CaseNumberFor(legacy)) {
		t.Errorf("reply:\n%s", mail.last())
	}
}

// A legacy key is only the sender's own: another partner, or a colleague
// at the same partner, reusing the Message-ID learns nothing from it.
func TestLegacyKeyOfSomeoneElseRevealsNothing(t *testing.T) {
	for _, from := range []string{"Eve <eve@contoso.example>", "Lisa <lisa@northwind.example>"} {
		reg, mail := newFakeRegistrar(), &outbox{}
		const id = "old-message@northwind.example"
		victim := registration.CaseNumberFor("email:" + id)
		reg.add(registration.Record{SubmissionKey: "email:" + id, PartnerID: "northwind", PartnerEmail: "sam@northwind.example",
			Source: "email", CompanyName: "Globex", Status: registration.StatusApproved})
		srv := loopback(t, channel(t, func(o *Options) { o.Registrar, o.Mail = reg, mail }))
		code, body := send(t, srv, "message/rfc822", registerMail(from, id, "Company: Initech\nWebsite: initech.example"), 10*time.Second)
		got := outcome(t, body)
		if code != 200 || !got.Created || got.CaseNumber == victim || strings.Contains(body, victim) || strings.Contains(mail.last(), victim) {
			t.Errorf("%s: %d %s\n%s\nwant a registration of its own, not %s", from, code, body, mail.last(), victim)
		}
	}
}
