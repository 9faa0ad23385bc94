package daemon

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
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

// The web form over HTTP: the captcha is asked at the local siteverify
// fake; the confirmation page shows the case number, a badge and the
// status link; sending the same form again registers once.
func TestIntakeWebFormSubmit(t *testing.T) {
	r := startRig(t, rigOpts{captcha: true})
	form := webForm(r.formNonce())
	resp, page := r.postForm("/register", form)
	m := reCase.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("POST /register: %d\n%s", resp.StatusCode, page)
	}
	cn := m[1]
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	if rec["source"] != "webform" || rec["partner_id"] != "northwind" || rec["company_domain"] != "hooli.example" || rec["consent"] != "true" {
		t.Errorf("record %v", rec)
	}
	if !strings.Contains(page, `class="badge badge-pending"`) || !strings.Contains(page, r.base+"/r/") {
		t.Errorf("confirmation page lacks the badge or the status link:\n%s", page)
	}
	if r.captcha.Calls() != 1 {
		t.Errorf("captcha asked %d times", r.captcha.Calls())
	}
	// A double click: the same nonce, the same registration.
	before := r.records()
	resp, again := r.postForm("/register", form)
	if m2 := reCase.FindStringSubmatch(again); resp.StatusCode != 200 || m2 == nil || m2[1] != cn {
		t.Errorf("resubmission: %d %v", resp.StatusCode, m2)
	}
	if r.records() != before {
		t.Errorf("a resubmitted form made a record")
	}
	// The confirmation page answered it; no status e-mail for the first decision.
	r.settle(5 * time.Second)
	if n := r.mailsTo("sam@northwind.example", cn); n != 0 {
		t.Errorf("%d e-mails about a web form registration already confirmed on the page", n)
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
	cfg := *r.d.Config()
	next := cfg
	next.Intake = cfg.Intake
	next.Intake.WebForm.Enabled = false
	next.Intake.CSV.Enabled = false
	reloadIntake(r.d, &next)
	if resp, _ := r.do("GET", "/register", "", nil, nil); resp.StatusCode != 404 {
		t.Errorf("web form off: %d", resp.StatusCode)
	}
	if resp, b := r.do("POST", "/intake/csv", "text/csv", strings.NewReader("a"), nil); resp.StatusCode != 404 || !strings.Contains(string(b), "not enabled") {
		t.Errorf("csv off: %d %s", resp.StatusCode, b)
	}
	// Links given out before the reload still work.
	link := statusLink(r.d, "R-0000000000")
	reloadIntake(r.d, &cfg)
	if statusLink(r.d, "R-0000000000") != link {
		t.Error("a reload changed the status links")
	}
	if resp, _ := r.do("GET", "/register", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("web form on again: %d", resp.StatusCode)
	}
}
