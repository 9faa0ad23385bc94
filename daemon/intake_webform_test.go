package daemon

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/webform"
	"github.com/regsync/regsync/internal/secret"
)

var (
	reNonce = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	reCase  = regexp.MustCompile(`<span class="case">(R-[0-9A-Z]{10})</span>`)
)

// formNonce serves the form and returns its one-time nonce.
func (r *rig) formNonce() string {
	r.t.Helper()
	resp, b := r.do("GET", "/register", "", nil, nil)
	m := reNonce.FindStringSubmatch(string(b))
	if resp.StatusCode != 200 || m == nil {
		r.t.Fatalf("GET /register: %d", resp.StatusCode)
	}
	return m[1]
}

func webForm(nonce string) url.Values {
	return url.Values{
		"nonce": {nonce}, "company_name": {"Hooli"}, "company_domain": {"https://www.hooli.example/"}, "contact_name": {"Gavin Belson"},
		"contact_email": {"gavin@hooli.example"}, "contact_role": {"CEO"}, "problem": {"Search infrastructure costs keep growing."},
		"partner_email": {"sam@northwind.example"}, "consent": {"yes"}, "cf-turnstile-response": {rigCaptchaOK},
	}
}

var reConfirm = regexp.MustCompile(`https?://[^\s]+(/register/confirm/[A-Za-z0-9_-]+)`)

// confirmLink is the path of the confirmation link e-mailed to addr about
// company (the latest such e-mail).
func (r *rig) confirmLink(addr, company string) string {
	r.t.Helper()
	m := r.mailTo(addr, "Confirm your registration: "+company, 10*time.Second)
	var link string
	for _, msg := range r.smtp.Messages() {
		if contains(msg.To, addr) && msg.Header("Subject") == "Confirm your registration: "+company && msg.Envelope != nil {
			if l := reConfirm.FindStringSubmatch(msg.Envelope.Text); l != nil {
				link = l[1]
			}
		}
	}
	if link == "" {
		r.t.Fatalf("no confirmation link in the e-mail to %s:\n%s", addr, m.Data)
	}
	return link
}

// confirm opens a confirmation link as the partner's browser does — the
// page, then its button — and returns the case number the answer shows.
func (r *rig) confirm(link string) (string, *http.Response, string) {
	r.t.Helper()
	if resp, page := r.do("GET", link, "", nil, nil); resp.StatusCode != 200 || !strings.Contains(string(page), "Confirm and register") {
		r.t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, page)
	}
	resp, page := r.postForm(link, url.Values{})
	m := reCase.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		r.t.Fatalf("confirm %s: %d\n%s", link, resp.StatusCode, page)
	}
	return m[1], resp, page
}

// personalLink is the token of a partner's personal web-form link, signed
// with the rig's link key (as regsync partner-link makes it).
func (r *rig) personalLink(partner, addr string) string {
	r.t.Helper()
	link, _, err := webform.PartnerLink(secret.New(rigLinkKey), r.base, intake.NewDirectory(r.cfg.Partners), partner, addr, r.crm.Now(), 90*24*time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	u, _ := url.Parse(link)
	return u.Query().Get(webform.LinkParam)
}

// The web form over HTTP, typed with a partner's address: the captcha is
// asked at the local siteverify fake; nothing reaches the CRM until the
// link e-mailed to that address is opened and confirmed; then the page
// shows the case number, a badge and the status link; sending the same
// form again, or opening the link again, registers nothing more.
func TestIntakeWebFormSubmit(t *testing.T) {
	r := startRig(t, rigOpts{captcha: true})
	before := r.records()
	form := webForm(r.formNonce())
	resp, page := r.postForm("/register", form)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(page, "Check your e-mail: we sent a link to <strong>sam@northwind.example</strong>") ||
		strings.Contains(page, "/r/") {
		t.Fatalf("POST /register: %d\n%s", resp.StatusCode, page)
	}
	if r.captcha.Calls() != 1 {
		t.Errorf("captcha asked %d times", r.captcha.Calls())
	}
	link := r.confirmLink("sam@northwind.example", "Hooli")
	// A double click: the same nonce, the same hold, no second e-mail.
	if resp, _ := r.postForm("/register", form); resp.StatusCode != http.StatusAccepted {
		t.Errorf("resubmission: %d", resp.StatusCode)
	}
	r.settle(5 * time.Second)
	if r.records() != before {
		t.Fatalf("the web form created %d registrations before the address was confirmed", r.records()-before)
	}
	if n := r.mailsTo("sam@northwind.example", "Confirm your registration"); n != 1 {
		t.Errorf("%d confirmation e-mails, want 1", n)
	}
	r.crm.Advance(time.Minute)
	confirmedAt := r.crm.Now()
	cn, resp, page := r.confirm(link)
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	if rec["source"] != "webform" || rec["partner_id"] != "northwind" || rec["company_domain"] != "hooli.example" || rec["consent"] != "true" {
		t.Errorf("record %v", rec)
	}
	if at, _ := time.Parse(time.RFC3339Nano, rec["submitted_at"]); at.Before(confirmedAt) {
		t.Errorf("submitted_at %s is before the confirmation (%s): the place in line starts when the link is opened", rec["submitted_at"], confirmedAt)
	}
	if !strings.Contains(page, `class="badge badge-pending"`) || !strings.Contains(page, r.base+"/r/") {
		t.Errorf("confirmation page lacks the badge or the status link:\n%s", page)
	}
	var remembered *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == webform.CookieName {
			remembered = c
		}
	}
	if remembered == nil {
		t.Error("the confirmation did not remember the browser")
	}
	// Opened again, and the same form sent again: one registration.
	regs := r.records()
	if resp, again := r.postForm(link, url.Values{}); resp.StatusCode != 200 || !strings.Contains(again, cn) {
		t.Errorf("link opened again: %d", resp.StatusCode)
	}
	if resp, again := r.postForm("/register", form); resp.StatusCode != 200 || !strings.Contains(again, cn) {
		t.Errorf("form sent again: %d", resp.StatusCode)
	}
	if r.records() != regs || regs != before+1 {
		t.Errorf("%d registrations, want one", r.records()-before)
	}
	// The confirmation page answered it; no status e-mail for the first decision.
	r.settle(5 * time.Second)
	if n := r.mailsTo("sam@northwind.example", cn); n != 0 {
		t.Errorf("%d e-mails about a web form registration already confirmed on the page", n)
	}
	// The browser is remembered: its next registration counts at once.
	next := webForm(r.formNonce())
	next.Set("company_name", "Raviga")
	next.Set("company_domain", "raviga.example")
	next.Set("contact_email", "monica@raviga.example")
	resp, page = r.do2("POST", "/register", next, remembered)
	if m := reCase.FindStringSubmatch(page); resp.StatusCode != 200 || m == nil || r.byCase(m[1]) == nil {
		t.Errorf("remembered browser: %d\n%s", resp.StatusCode, page)
	}
}

// do2 posts a form from the daemon's origin with cookies.
func (r *rig) do2(method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.base)
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp, b.String()
}

// With a personal partner link the registration is created at once — as
// the link's partner and address, whatever is typed — and no e-mail asks
// to confirm anything.
func TestIntakeWebFormPersonalLink(t *testing.T) {
	r := startRig(t, rigOpts{})
	tok := r.personalLink("northwind", "sam@northwind.example")
	if resp, page := r.do("GET", "/register?link="+tok, "", nil, nil); resp.StatusCode != 200 || !strings.Contains(string(page), "Registering as <strong>sam@northwind.example</strong> (Northwind Consulting)") {
		t.Fatalf("GET with the link: %d\n%s", resp.StatusCode, page)
	}
	form := webForm(r.formNonce())
	form.Set(webform.LinkParam, tok)
	form.Set("partner_email", "eve@fabrikam.example")
	resp, page := r.postForm("/register", form)
	m := reCase.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("POST with the link: %d\n%s", resp.StatusCode, page)
	}
	rec := r.waitCase(m[1], 5*time.Second, "in_review")
	if rec["partner_id"] != "northwind" || rec["partner_email"] != "sam@northwind.example" {
		t.Errorf("registered as %s %s", rec["partner_id"], rec["partner_email"])
	}
	if n := r.mailsTo("sam@northwind.example", "Confirm") + r.mailsTo("eve@fabrikam.example", "Confirm"); n != 0 {
		t.Errorf("%d confirmation e-mails for a personal link", n)
	}
}

// A registration's place in line starts when its address is confirmed: a
// rival who registers the company after the form was sent but before it
// was confirmed comes first.
func TestIntakeWebFormPlaceStartsAtConfirmation(t *testing.T) {
	r := startRig(t, rigOpts{})
	form := webForm(r.formNonce())
	form.Set("contact_role", "")
	if resp, _ := r.postForm("/register", form); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("held: %d", resp.StatusCode)
	}
	link := r.confirmLink("sam@northwind.example", "Hooli")
	r.crm.Advance(10 * time.Minute)
	rival := webForm(r.formNonce())
	rival.Set(webform.LinkParam, r.personalLink("fabrikam", "lee@fabrikam.example"))
	resp, page := r.postForm("/register", rival)
	m := reCase.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("rival: %d\n%s", resp.StatusCode, page)
	}
	rivalCase := m[1]
	r.settle(10 * time.Second)
	r.crm.Advance(10 * time.Minute)
	cn, _, _ := r.confirm(link)
	r.settle(10 * time.Second)
	mine, theirs := r.byCase(cn), r.byCase(rivalCase)
	myAt, _ := time.Parse(time.RFC3339Nano, mine["submitted_at"])
	theirAt, _ := time.Parse(time.RFC3339Nano, theirs["submitted_at"])
	if !myAt.After(theirAt) {
		t.Errorf("the confirmed form's submitted_at %s is not after the rival's %s", mine["submitted_at"], theirs["submitted_at"])
	}
	if mine["conflict_with"] != rivalCase || theirs["conflict_with"] == cn {
		t.Errorf("the rival who came first in line did not come first: mine %s/%s with %q, theirs %s/%s with %q",
			mine["status"], mine["status_reason"], mine["conflict_with"], theirs["status"], theirs["status_reason"], theirs["conflict_with"])
	}
}

// A held submission that nobody confirms within confirm_ttl is dropped;
// its link says it expired and registers nothing.
func TestIntakeWebFormHoldExpires(t *testing.T) {
	r := startRig(t, rigOpts{webform: "rate_limit: {per_hour: 0}, confirm_ttl: 2h"})
	before := r.records()
	if resp, _ := r.postForm("/register", webForm(r.formNonce())); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("held: %d", resp.StatusCode)
	}
	link := r.confirmLink("sam@northwind.example", "Hooli")
	r.crm.Advance(2 * time.Hour)
	resp, page := r.postForm(link, url.Values{})
	if resp.StatusCode != http.StatusGone || !strings.Contains(page, "This confirmation link expired on") {
		t.Errorf("expired link: %d\n%s", resp.StatusCode, page)
	}
	if n, err := r.d.db.PurgeHolds(r.crm.Now()); err != nil || n != 1 {
		t.Errorf("PurgeHolds = %d, %v", n, err)
	}
	if r.records() != before {
		t.Errorf("an expired hold registered")
	}
}

// Spam and mistakes: nothing reaches the CRM.
func TestIntakeWebFormRefusals(t *testing.T) {
	r := startRig(t, rigOpts{captcha: true})
	before := r.records()
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		origin string
		code   int
		want   string
	}{
		{"wrong captcha", func(f url.Values) { f.Set("cf-turnstile-response", "a-bot-guessed") }, "", 422, "not a robot"},
		{"no captcha", func(f url.Values) { f.Del("cf-turnstile-response") }, "", 422, "complete the check that you are not a robot"},
		{"honeypot", func(f url.Values) { f.Set("homepage", "http://spam.example") }, "", 422, "looks automated"},
		{"not a partner", func(f url.Values) { f.Set("partner_email", "eve@evil.example") }, "", 422, "evil.example is not one"},
		{"free mail website", func(f url.Values) { f.Set("company_domain", "gmail.com") }, "", 422, "free e-mail provider"},
		{"forged nonce", func(f url.Values) { f.Set("nonce", "AAAA") }, "", 422, "could not be verified"},
		{"binary junk", func(f url.Values) { f.Set("company_name", "\x00\x01\x02\xff") }, "", 422, "binary"},
		{"cross-site", func(url.Values) {}, "https://evil.example", 403, "not sent from our registration page"},
	} {
		form := webForm(r.formNonce())
		tc.change(form)
		origin := r.base
		if tc.origin != "" {
			origin = tc.origin
		}
		resp, b := r.do("POST", "/register", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), map[string]string{"Origin": origin})
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d, want %d with %q", tc.name, resp.StatusCode, tc.code, tc.want)
		}
	}
	// A 50 MB body.
	big := strings.NewReader("company_name=" + strings.Repeat("x", 50<<20))
	resp, _ := r.do("POST", "/register", "application/x-www-form-urlencoded", big, map[string]string{"Origin": r.base})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("50 MB form: %d", resp.StatusCode)
	}
	if r.records() != before {
		t.Errorf("refused forms made records: %d → %d", before, r.records())
	}
	if n := r.captcha.Calls(); n != 1 {
		t.Errorf("the captcha provider was asked %d times; only the otherwise valid form with a captcha answer asks it", n)
	}
}

// A reload turns a channel off (its routes answer 404) and on again.
func TestIntakeReloadTurnsChannelsOff(t *testing.T) {
	r := startRig(t, rigOpts{})
	cfg := *r.d.cfg.Load()
	next := cfg
	next.Intake = cfg.Intake
	next.Intake.WebForm.Enabled = false
	next.Intake.CSV.Enabled = false
	reloadIntake(r.d, &next)
	if resp, _ := r.do("GET", "/register", "", nil, nil); resp.StatusCode != 404 {
		t.Errorf("web form off: %d", resp.StatusCode)
	}
	if resp, _ := r.do("GET", "/register/confirm/x", "", nil, nil); resp.StatusCode != 404 {
		t.Errorf("confirmation links with the web form off: %d", resp.StatusCode)
	}
	if resp, _ := r.do("GET", "/sandbox/outbox", "", nil, nil); resp.StatusCode != 404 {
		t.Errorf("the sandbox outbox outside the sandbox: %d", resp.StatusCode)
	}
	if resp, b := r.do("POST", "/intake/csv", "text/csv", strings.NewReader("a"), nil); resp.StatusCode != 404 || !strings.Contains(string(b), "not enabled") {
		t.Errorf("csv off: %d %s", resp.StatusCode, b)
	}
	// Links given out before the reload still work.
	link := r.d.links.URL("R-0000000000")
	reloadIntake(r.d, &cfg)
	if r.d.links.URL("R-0000000000") != link {
		t.Error("a reload changed the status links")
	}
	if resp, _ := r.do("GET", "/register", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("web form on again: %d", resp.StatusCode)
	}
}

// A held submission is in the state file before the page answers: the
// daemon stopped and started again (a deploy, a crash) still registers it
// when its link is confirmed.
func TestIntakeWebFormHoldSurvivesRestart(t *testing.T) {
	r := startRig(t, rigOpts{})
	before := r.records()
	if resp, _ := r.postForm("/register", webForm(r.formNonce())); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("held: %d", resp.StatusCode)
	}
	link := r.confirmLink("sam@northwind.example", "Hooli")
	r.stop()
	r.start()
	r.base = r.d.public
	if r.records() != before {
		t.Fatal("registered before the confirmation")
	}
	cn, _, _ := r.confirm(link)
	if rec := r.waitCase(cn, 5*time.Second, "in_review"); rec["partner_email"] != "sam@northwind.example" || rec["company_name"] != "Hooli" {
		t.Errorf("after the restart: %v", rec)
	}
}
