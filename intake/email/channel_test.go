package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/mail/mailtest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

var (
	clock    = func() time.Time { return time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC) }
	partners = []rules.Partner{
		{ID: "northwind", Name: "Northwind Traders", Type: "reseller", EmailDomains: []string{"northwind.example"}},
		{ID: "contoso", Name: "Contoso", EmailDomains: []string{"contoso.example"}},
	}
)

func channel(t *testing.T, mod func(*Options)) *Channel {
	t.Helper()
	cfg := intake.DefaultConfig().Email
	cfg.Enabled, cfg.Token, cfg.Address = true, secret.New("inbound-token-123"), "partners@vendor.example"
	o := Options{Config: cfg, Partners: intake.NewDirectory(partners), Now: clock, ProgramName: "The Vendor partner program"}
	if mod != nil {
		mod(&o)
	}
	return New(o)
}

func plan(t *testing.T, c *Channel, file string) *Plan {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Plan(raw, Hints{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func fields(r registration.Record, names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		v, _ := r.Get(n)
		m[n] = v
	}
	return m
}

var recordFields = []string{"source", "partner_id", "partner_name", "partner_email", "company_name", "company_domain", "contact_name",
	"contact_email", "contact_role", "problem", "stage_guess", "consent", "submission_key", "case_number"}

func checkRecord(t *testing.T, name string, got registration.Record, want map[string]string) {
	t.Helper()
	g := fields(got, recordFields...)
	for _, f := range recordFields {
		if g[f] != want[f] {
			t.Errorf("%s: %s = %q, want %q", name, f, g[f], want[f])
		}
	}
}

func TestGmailMultipartAlternative(t *testing.T) {
	p := plan(t, channel(t, nil), "gmail_multipart_alternative.eml")
	if p.Action != ActionRegister || !p.Verdict.Pass || p.Partner.ID != "northwind" || len(p.Problems) != 0 {
		t.Fatalf("plan %s verdict %+v partner %s problems %v", p.Action, p.Verdict, p.Partner.ID, p.Problems)
	}
	key := v2Key("sam@northwind.example", "CAF8hV2q7bXgK0Qh+zvJ3pY9Wc1mNn4rT6s=tD_aE5Lk2uVx8Rg@mail.gmail.com")
	checkRecord(t, "gmail", p.Submission.Record, map[string]string{
		"source": "email", "partner_id": "northwind", "partner_name": "Northwind Traders", "partner_email": "sam@northwind.example",
		"company_name": "Globex Corporation", "company_domain": "globex.example", "contact_name": "Hank Scorpio",
		"contact_email": "hank.scorpio@globex.example", "contact_role": "CEO",
		"problem":     "They reconcile stock across 12 warehouses by hand — errors every week and a\nlot of overtime at month end.",
		"stage_guess": "discovery", "consent": "true", "submission_key": key, "case_number": registration.CaseNumberFor(key),
	})
	if p.Submission.Key != key || p.Submission.Channel != intake.ChannelEmail || p.Submission.Record.DomainKey != "globex.example" {
		t.Errorf("submission %q %q %q", p.Submission.Key, p.Submission.Channel, p.Submission.Record.DomainKey)
	}
}

func TestOutlookHTMLOnlyWindows1252(t *testing.T) {
	p := plan(t, channel(t, nil), "outlook_html_only_windows1252.eml")
	if p.Action != ActionRegister || p.Partner.ID != "contoso" || p.In.FromName != "Becker, Klaus" || p.In.Subject != "Neue Registrierung Müller Logistik" {
		t.Fatalf("plan %s partner %s from %q subject %q", p.Action, p.Partner.ID, p.In.FromName, p.In.Subject)
	}
	key := v2Key("k.becker@contoso.example", "AM9PR03MB7361A1B2C3D4E5F60718293AB2C4A@AM9PR03MB7361.eurprd03.prod.outlook.com")
	checkRecord(t, "outlook", p.Submission.Record, map[string]string{
		"source": "email", "partner_id": "contoso", "partner_name": "Contoso", "partner_email": "k.becker@contoso.example",
		"company_name": "Müller Logistik GmbH", "company_domain": "mueller-logistik.example", "contact_name": "Jürgen Weiß",
		"contact_email": "j.weiss@mueller-logistik.example", "contact_role": "Geschäftsführer",
		"problem": "Lagerbestände werden per Excel gepflegt – keine Echtzeit-Sicht.", "consent": "false",
		"submission_key": key, "case_number": registration.CaseNumberFor(key),
	})
	// Received through Mailgun: its headers name no From domain (SPF is
	// the envelope sender's, the DKIM check names no signer), so they
	// decide nothing, trusted or not.
	if p.Verdict.Pass || p.Verdict.Fail {
		t.Errorf("verdict without mailgun_headers: %+v", p.Verdict)
	}
	p = plan(t, channel(t, func(o *Options) { o.Config.Authentication.MailgunHeaders = true }), "outlook_html_only_windows1252.eml")
	if p.Verdict.Pass || p.Verdict.Fail || !strings.Contains(p.Verdict.Source, "X-Mailgun-Spf (not about the From domain)") {
		t.Errorf("verdict with mailgun_headers: %+v", p.Verdict)
	}
}

func TestAppleMailForwardedProspect(t *testing.T) {
	p := plan(t, channel(t, nil), "apple_mail_forwarded.eml")
	if p.Action != ActionRegister || p.In.Parts.Forwarded == nil {
		t.Fatalf("plan %s forwarded %+v", p.Action, p.In.Parts.Forwarded)
	}
	key := v2Key("sam@northwind.example", "8D2E4F6A-1B3C-4D5E-9F7A-0B1C2D3E4F5A@northwind.example")
	checkRecord(t, "apple", p.Submission.Record, map[string]string{
		"source": "email", "partner_id": "northwind", "partner_name": "Northwind Traders", "partner_email": "sam@northwind.example",
		"company_domain": "initech.example", "contact_name": "Jane Doe", "contact_email": "jane.doe@initech.example",
		"problem": "wants to replace their legacy WMS before the peak season", "consent": "true",
		"submission_key": key, "case_number": registration.CaseNumberFor(key),
	})
}

func TestOutlookReplySuppliesFields(t *testing.T) {
	p := plan(t, channel(t, nil), "outlook_reply_supplies_fields.eml")
	if p.Action != ActionAmend || p.CaseNumber != "R-7QK2M9XBHD" || p.Amendment.Action != intake.ActionSupply {
		t.Fatalf("plan %s case %s amendment %+v", p.Action, p.CaseNumber, p.Amendment)
	}
	if len(p.Amendment.Fields) != 2 || p.Amendment.Fields["company_domain"] != "initech.example" || p.Amendment.Fields["consent"] != "true" {
		t.Errorf("fields %v (the quoted reply must not count)", p.Amendment.Fields)
	}
}

func TestThunderbirdISO88591(t *testing.T) {
	p := plan(t, channel(t, nil), "thunderbird_iso8859_1.eml")
	if p.Action != ActionRegister || p.In.FromName != "Marc Lefèvre" || p.In.Subject != "Nouvelle société à enregistrer" {
		t.Fatalf("plan %s from %q subject %q", p.Action, p.In.FromName, p.In.Subject)
	}
	key := v2Key("marc.lefevre@contoso.example", "5b1c9e2a-7d3f-4a8e-9c21-6f0e3d2b1a47@contoso.example")
	checkRecord(t, "thunderbird", p.Submission.Record, map[string]string{
		"source": "email", "partner_id": "contoso", "partner_name": "Contoso", "partner_email": "marc.lefevre@contoso.example",
		"company_name": "Fromagerie Dupont & Fils", "company_domain": "fromagerie-dupont.example", "contact_name": "Hélène Dupont",
		"contact_email": "helene@fromagerie-dupont.example", "contact_role": "Directrice générale",
		"problem": "traçabilité des lots\nréalisée sur papier", "consent": "true",
		"submission_key": key, "case_number": registration.CaseNumberFor(key),
	})
}

func TestCSVAttachmentAndAutoReply(t *testing.T) {
	c := channel(t, nil)
	p := plan(t, c, "gmail_csv_attachment.eml")
	if p.Action != ActionCSV || len(p.In.CSV) != 1 || p.In.CSV[0].Name != "registrations.csv" || !bytes.HasPrefix(p.In.CSV[0].Data, []byte("Company,Website")) {
		t.Errorf("csv plan %s %+v", p.Action, p.In.CSV)
	}
	p = plan(t, c, "outlook_auto_reply.eml")
	if p.Action != ActionIgnore || p.Reason != "automatic mail (Auto-Submitted: auto-generated)" {
		t.Errorf("auto reply: %s %q", p.Action, p.Reason)
	}
}

func raw(from, subject, extra, body string) []byte {
	return []byte("From: " + from + "\r\nTo: partners@vendor.example\r\nSubject: " + subject +
		"\r\nMessage-ID: <m1@x.example>\r\nDate: Tue, 4 Mar 2025 10:00:00 +0000\r\n" + extra + "\r\n" + body)
}

func TestPlanRefusals(t *testing.T) {
	c := channel(t, nil)
	cases := []struct {
		name  string
		raw   []byte
		field string
		want  string
	}{
		{"unknown sender", raw("Eve <eve@evil.example>", "x", "", "Company: Globex"), "from", "evil.example is not the e-mail domain of a partner in our program"},
		{"display name spoof", raw(`"sam@northwind.example" <eve@evil.example>`, "x", "", "Company: Globex"), "from", "evil.example is not"},
		{"lookalike domain", raw("sam@northwind.example.evil.example", "x", "", "Company: Globex"), "from", "northwind.example.evil.example is not"},
		{"two senders", raw("sam@northwind.example, eve@evil.example", "x", "", "Company: Globex"), "from", "exactly one sender"},
		{"dkim fail", raw("sam@northwind.example", "x", "Authentication-Results: mx.vendor.example; dkim=fail header.d=northwind.example; spf=fail smtp.mailfrom=northwind.example\r\n", "Company: Globex"), "from", "sender authentication failed: dkim=fail for northwind.example (Authentication-Results mx.vendor.example)"},
		{"dmarc fail", raw("sam@northwind.example", "x", "Authentication-Results: mx.vendor.example; dmarc=fail header.from=northwind.example\r\n", "Company: Globex"), "from", "dmarc=fail"},
		{"binary junk", []byte("\x00\x01\x02\x03PK\x03\x04 garbage"), "message", "binary data"},
		{"no headers", []byte("Company: Globex\nWebsite: globex.example\n"), "message", "no From header"},
		{"empty", []byte("   "), "message", "empty"},
	}
	for _, tc := range cases {
		_, err := c.Plan(tc.raw, Hints{})
		var fe *intake.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.want) {
			t.Errorf("%s: %v, want %s: …%s…", tc.name, err, tc.field, tc.want)
		}
	}
	req := channel(t, func(o *Options) { o.Config.Authentication.Require = true })
	_, err := req.Plan(raw("sam@northwind.example", "x", "", "Company: Globex"), Hints{})
	if err == nil || err.Error() != "from: sender not authenticated: no DKIM, SPF or DMARC pass for northwind.example (no authentication results)" {
		t.Errorf("require: %v", err)
	}
	if _, err := req.Plan(raw("sam@northwind.example", "x", "", "Company: Globex"), Hints{DKIM: "{@northwind.example : pass}"}); err != nil {
		t.Errorf("require with a passing hint: %v", err)
	}
}

func TestPlanDetails(t *testing.T) {
	c := channel(t, nil)
	p, err := c.Plan(raw("Sam <sam@northwind.example>", "New", "", "Company: Globex\nWebsite: not a domain at all\nEmail: bob@northwind.example\nConsent: maybe"), Hints{})
	if err != nil {
		t.Fatal(err)
	}
	var probs []string
	for _, pr := range p.Problems {
		probs = append(probs, pr.Error())
	}
	want := "company_domain: not a website or domain|consent: answer yes or no|contact_email: that is an address at your own company; give the prospect's address"
	if strings.Join(probs, "|") != want || p.Action != ActionRegister || p.Submission.Record.ContactEmail != "" {
		t.Errorf("problems %q action %s contact %q", probs, p.Action, p.Submission.Record.ContactEmail)
	}
	// Nothing readable: help, and no registration.
	p, err = c.Plan(raw("sam@northwind.example", "Hello", "", "Can you call me?"), Hints{})
	if err != nil || p.Action != ActionHelp {
		t.Errorf("help: %v %+v", err, p)
	}
	// Our own address never gets an answer (no mail loops).
	p, _ = c.Plan(raw("Partners <PARTNERS@vendor.example>", "x", "", "Company: x"), Hints{})
	if p == nil || p.Action != ActionIgnore {
		t.Errorf("own address: %+v", p)
	}
	// A reply: withdraw and appeal.
	p, _ = c.Plan(raw("sam@northwind.example", "Re: Registration [R-7QK2M9XBHD]", "", "Withdraw\n\nOn Tue wrote:\n> Company: x"), Hints{})
	if p.Action != ActionAmend || p.Amendment.Action != intake.ActionWithdraw {
		t.Errorf("withdraw: %+v", p.Amendment)
	}
	p, _ = c.Plan(raw("sam@northwind.example", "Re: R-7QK2M9XBHD declined", "", "Appeal: we met them in January,\nbefore the other partner.\n\n-----Original Message-----\nold"), Hints{})
	if p.Amendment.Action != intake.ActionAppeal || p.Amendment.Note != "we met them in January,\nbefore the other partner." {
		t.Errorf("appeal: %+v", p.Amendment)
	}
	// Without a subject, the In-Reply-To of our reply finds the case.
	p, _ = c.Plan(raw("sam@northwind.example", "Re:", "In-Reply-To: <R-7QK2M9XBHD.abc@vendor.example>\r\n", "Consent: yes"), Hints{})
	if p.Action != ActionAmend || p.CaseNumber != "R-7QK2M9XBHD" || p.Amendment.Fields["consent"] != "true" {
		t.Errorf("in-reply-to: %s %s %v", p.Action, p.CaseNumber, p.Amendment)
	}
	// A message without a Message-ID still has one key for the same content.
	noID := []byte("From: sam@northwind.example\r\nSubject: x\r\nDate: Tue, 4 Mar 2025 10:00:00 +0000\r\n\r\nCompany: Globex\r\n")
	a, _ := c.Plan(noID, Hints{})
	b, _ := c.Plan(noID, Hints{})
	if a.Submission.Key == "" || a.Submission.Key != b.Submission.Key || !strings.HasPrefix(a.Submission.Key, "email:sha256:") {
		t.Errorf("fallback keys %q %q", a.Submission.Key, b.Submission.Key)
	}
}

func TestFindCase(t *testing.T) {
	for in, want := range map[string]string{
		"Re: Registration R-7QK2M9XBHD received": "R-7QK2M9XBHD", "[R-7QK2M9XBHD]": "R-7QK2M9XBHD", "R-7QK2M9XBHD": "R-7QK2M9XBHD",
		"XR-7QK2M9XBHD": "", "R-7QK2M9XBHDX": "", "R-7QK2M9XBHI": "", "r-7qk2m9xbhd": "", "nothing": "",
	} {
		if got := findCase(in); got != want {
			t.Errorf("findCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// post sends a request to the channel's handler.
func post(t *testing.T, c *Channel, ctype, auth string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", Path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	return rec
}

func TestHandlerRefusesBadInputBeforeTheRegistrar(t *testing.T) {
	c := channel(t, func(o *Options) { o.Config.MaxBytes = 1 << 20 }) // Registrar nil: touching it panics
	good := "Bearer inbound-token-123"
	unknown := raw("eve@evil.example", "x", "", "Company: Globex")
	cases := []struct {
		name, ctype, auth string
		body              []byte
		code              int
		want              string
	}{
		{"no token", "message/rfc822", "", unknown, 401, "authorization: the inbound-mail token is missing or wrong"},
		{"wrong token", "message/rfc822", "Bearer nope", unknown, 401, "authorization"},
		{"unknown sender", "message/rfc822", good, unknown, 422, `"field":"from"`},
		{"unknown sender as json", "application/json", good, mustJSON(map[string]string{"raw": string(unknown)}), 422, `"field":"from"`},
		{"bad json", "application/json", good, []byte(`{"raw":`), 422, `"field":"raw"`},
		{"empty json", "application/json", good, []byte(`{}`), 422, `"field":"raw"`},
		{"binary junk", "application/octet-stream", good, []byte("\x00\x01\x02\xff\xfe"), 422, "binary data"},
		{"50 MB", "message/rfc822", good, bytes.Repeat([]byte("x"), 50<<20), 413, "message: larger than 1MiB"},
		{"form without message", "application/x-www-form-urlencoded", good, []byte("sender=a%40b"), 422, "body-mime"},
	}
	for _, tc := range cases {
		rec := post(t, c, tc.ctype, tc.auth, tc.body)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d …%s…", tc.name, rec.Code, rec.Body.String(), tc.code, tc.want)
		}
	}
	// Basic auth (a URL with the token as password) works too.
	req := httptest.NewRequest("POST", Path, bytes.NewReader(unknown))
	req.SetBasicAuth("mailgun", "inbound-token-123")
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if rec.Code != 422 {
		t.Errorf("basic auth: %d %s", rec.Code, rec.Body.String())
	}
	// An auto-reply is accepted and ignored.
	auto, _ := os.ReadFile("testdata/outlook_auto_reply.eml")
	if rec := post(t, c, "", good, auto); rec.Code != 202 || !strings.Contains(rec.Body.String(), `"action":"ignore"`) {
		t.Errorf("auto reply: %d %s", rec.Code, rec.Body.String())
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestHandlerFormsAndHelpReplyOverSMTP(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	mc := regmail.DefaultConfig()
	mc.Host, mc.Port, mc.TLS, mc.From = srv.Host(), srv.Port(), regmail.TLSNone, "Partner Program <partners@vendor.example>"
	sender, err := regmail.New(mc, "", regmail.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := channel(t, func(o *Options) { o.Mail = sender })
	msg := raw("Sam Carter <sam@northwind.example>", "Question", "References: <older@northwind.example>\r\n", "Hi, how do I register a prospect?")
	// Mailgun's raw-MIME form.
	form := url.Values{"body-mime": {string(msg)}, "recipient": {"partners@vendor.example"}}
	rec := post(t, c, "application/x-www-form-urlencoded", "Bearer inbound-token-123", []byte(form.Encode()))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"action":"help"`) || !strings.Contains(rec.Body.String(), `"replied":true`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, err := srv.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if strings.Join(m.To, ",") != "sam@northwind.example" || m.Header("In-Reply-To") != "<m1@x.example>" ||
		m.Header("References") != "<older@northwind.example> <m1@x.example>" || m.Header("Subject") != "Re: Question" ||
		m.Header("Auto-Submitted") != "auto-replied" {
		t.Errorf("reply envelope %v headers %q %q %q", m.To, m.Header("In-Reply-To"), m.Header("References"), m.Header("Subject"))
	}
	body := m.Envelope.Text
	for _, want := range []string{"Hello Sam,", "We could not find a registration in your e-mail.", "Company: \r\nWebsite: \r\n", "Consent: yes / no", "The Vendor partner program"} {
		if !strings.Contains(body, want) {
			t.Errorf("reply lacks %q:\n%s", want, body)
		}
	}
	// The template in the reply parses back to the fields it names.
	f := ParseForm(strings.ReplaceAll(strings.ReplaceAll(body, "Company: ", "Company: Globex"), "Website: ", "Website: globex.example"))
	if f.Fields["company_name"] != "Globex" || f.Fields["company_domain"] != "globex.example" {
		t.Errorf("filled-in template reads as %v", f.Fields)
	}
	// SendGrid's multipart form, with its dkim field failing: refused.
	var mp bytes.Buffer
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"dkim\"\r\n\r\n{@northwind.example : fail}\r\n")
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"SPF\"\r\n\r\nfail\r\n")
	mp.WriteString("--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + string(raw("sam@northwind.example", "x", "", "Company: Globex")) + "\r\n--B--\r\n")
	rec = post(t, c, "multipart/form-data; boundary=B", "Bearer inbound-token-123", mp.Bytes())
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "sender authentication failed") {
		t.Errorf("sendgrid dkim fail: %d %s", rec.Code, rec.Body.String())
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages sent; a refused sender must get none", n)
	}
	if _, err := c.Process(t.Context(), raw("eve@evil.example", "x", "", "Company: X"), Hints{}); err == nil {
		t.Error("unknown sender processed")
	}
}

// Logs never hold a full address or a secret, whatever happens.
func TestLogsHoldNoAddressOrSecret(t *testing.T) {
	var logs bytes.Buffer
	srv := mailtest.Start(t, mailtest.Options{})
	mc := regmail.DefaultConfig()
	mc.Host, mc.Port, mc.TLS, mc.From = srv.Host(), srv.Port(), regmail.TLSNone, "partners@vendor.example"
	sender, _ := regmail.New(mc, "", regmail.Options{})
	c := channel(t, func(o *Options) {
		o.Mail = sender
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	auto, _ := os.ReadFile("testdata/outlook_auto_reply.eml")
	for _, m := range [][]byte{
		raw("Sam Carter <sam.carter@northwind.example>", "Hi", "", "How do I register?"),
		raw("eve.hacker@evil.example", "x", "", "Company: Globex"),
		auto,
	} {
		for _, auth := range []string{"Bearer inbound-token-123", "Bearer wrong-token-456"} {
			post(t, c, "message/rfc822", auth, m)
		}
	}
	out := logs.String()
	if !strings.Contains(out, "s***@northwind.example") {
		t.Errorf("the sender is not logged masked:\n%s", out)
	}
	for _, never := range []string{"sam.carter@", "eve.hacker@", "inbound-token-123", "wrong-token-456"} {
		if strings.Contains(out, never) {
			t.Errorf("logs hold %q:\n%s", never, out)
		}
	}
}
