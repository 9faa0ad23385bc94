package webform

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/rules"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// siteverify is a local fake of a captcha provider's siteverify endpoint.
type siteverify struct {
	calls    atomic.Int32
	lastIP   atomic.Value
	failWith int
}

func (s *siteverify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if s.failWith != 0 {
		w.WriteHeader(s.failWith)
		return
	}
	_ = r.ParseForm()
	s.lastIP.Store(r.PostForm.Get("remoteip"))
	resp := map[string]any{"success": false, "error-codes": []string{"invalid-input-response"}}
	switch {
	case r.PostForm.Get("secret") != "captcha-secret":
		resp["error-codes"] = []string{"invalid-input-secret"}
	case r.PostForm.Get("response") == "solved":
		resp = map[string]any{"success": true, "hostname": "partners.example.com"}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func newHandler(t *testing.T, mod func(*intake.WebFormConfig)) (*Handler, *clock, *siteverify) {
	t.Helper()
	sv := &siteverify{}
	srv := httptest.NewServer(sv)
	t.Cleanup(srv.Close)
	cfg := intake.DefaultConfig().WebForm
	cfg.Enabled = true
	cfg.Captcha = intake.CaptchaConfig{Provider: intake.CaptchaTurnstile, SiteKey: "site-key-1", Secret: secret.New("captcha-secret"), VerifyURL: srv.URL, Timeout: 5 * time.Second}
	cfg.NonceKey = secret.New("nonce-key-0123456789")
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	if mod != nil {
		mod(&cfg)
	}
	c := &clock{t: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)}
	h := New(Options{
		Config: cfg, PublicURL: "https://partners.example.com", ProgramName: "Vendor partner program", Now: c.now,
		Partners: intake.NewDirectory([]rules.Partner{{ID: "northwind", Name: "Northwind", EmailDomains: []string{"northwind.example"}}}),
	})
	return h, c, sv
}

var reNonce = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

func get(t *testing.T, h *Handler) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://partners.example.com/register", nil))
	if rec.Code != 200 {
		t.Fatalf("GET %d", rec.Code)
	}
	m := reNonce.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatal("no nonce in the form")
	}
	return rec.Body.String(), m[1]
}

func valid(nonce string) url.Values {
	return url.Values{
		"nonce": {nonce}, "company_name": {"Globex"}, "company_domain": {"https://www.globex.example"},
		"contact_name": {"Hank Scorpio"}, "contact_email": {"hank@globex.example"}, "problem": {"Stock by hand."},
		"partner_email": {"sam@northwind.example"}, "consent": {"yes"}, "cf-turnstile-response": {"solved"},
	}
}

func post(h *Handler, form url.Values, mod func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "https://partners.example.com/register", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://partners.example.com")
	req.RemoteAddr = "203.0.113.9:51234"
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGetServesAnAccessibleForm(t *testing.T) {
	h, _, _ := newHandler(t, func(c *intake.WebFormConfig) { c.Captcha.Provider = intake.CaptchaNone })
	page, _ := get(t, h)
	for _, want := range []string{
		`<html lang="en">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<legend>The prospect</legend>`, `<legend>You</legend>`,
		`<label for="f-company_name">Company name</label>`, `<input type="text" id="f-company_name" name="company_name"`,
		`<label for="f-company_domain">Company website</label>`, `aria-describedby="h-company_domain"`,
		`<label for="f-contact_name">`, `<input type="email" id="f-contact_email"`, `<label for="f-contact_role">`,
		`<textarea id="f-problem" name="problem"`, `<input type="email" id="f-partner_email" name="partner_email" value="" autocomplete="email"`,
		`<input type="checkbox" id="f-consent" name="consent" value="yes" required>`, `<label for="f-consent">`,
		`<div class="hp" aria-hidden="true">`, `tabindex="-1" autocomplete="off"`, `<button type="submit">Register</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	for _, never := range []string{"<script", "https://", "<link", "@import"} {
		if strings.Contains(page, never) {
			t.Errorf("form without captcha holds %q (no external assets, no script)", never)
		}
	}
	if n := strings.Count(page, "<input") + strings.Count(page, "<textarea"); n != 10 {
		t.Errorf("%d inputs (8 fields, the nonce and the honeypot expected)", n)
	}
	h, _, _ = newHandler(t, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/register", nil))
	if !strings.Contains(rec.Body.String(), `<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>`) ||
		!strings.Contains(rec.Body.String(), `<div class="cf-turnstile" data-sitekey="site-key-1">`) ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src https://challenges.cloudflare.com") {
		t.Errorf("turnstile widget or CSP missing: %s", rec.Header().Get("Content-Security-Policy"))
	}
}

// The Registrar is nil: every refusal must come before it.
func TestRefusalsNeverReachTheRegistrar(t *testing.T) {
	h, c, sv := newHandler(t, func(cfg *intake.WebFormConfig) { cfg.RateLimit.PerHour = 0 })
	_, nonce := get(t, h)
	c.add(10 * time.Second)
	cases := []struct {
		name string
		form func(url.Values)
		req  func(*http.Request)
		code int
		want []string
	}{
		{"honeypot", func(f url.Values) { f.Set("homepage", "http://spam.example") }, nil, 422, []string{"looks automated"}},
		{"forged nonce", func(f url.Values) { f.Set("nonce", nonce[:len(nonce)-2]+"AA") }, nil, 422, []string{"could not be verified"}},
		{"no nonce", func(f url.Values) { f.Del("nonce") }, nil, 422, []string{"could not be verified"}},
		{"cross-site", nil, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, 403, []string{"not sent from our registration page"}},
		{"missing fields", func(f url.Values) {
			f.Del("company_name")
			f.Del("consent")
			f.Set("contact_email", "not an address")
		}, nil, 422, []string{
			`<title>Error: Register a prospect`,
			`<a href="#f-company_name">enter company name</a>`,
			`<span class="error" id="e-company_name">enter company name</span>`,
			`id="f-company_name" name="company_name" value="" autocomplete="off" maxlength="300" required aria-invalid="true" aria-describedby="e-company_name"`,
			`aria-invalid="true" aria-describedby="e-contact_email"`, `not a valid e-mail address`,
			`aria-invalid="true" aria-describedby="e-consent"`, `confirm that the prospect agreed to be contacted`,
			`value="Hank Scorpio"`,
		}},
		{"unknown partner domain", func(f url.Values) { f.Set("partner_email", "eve@evil.example") }, nil, 422, []string{
			`use the work address of a partner in our program (evil.example is not one)`, `aria-describedby="h-partner_email e-partner_email"`}},
		{"free-mail website", func(f url.Values) { f.Set("company_domain", "gmail.com") }, nil, 422, []string{"gmail.com is a free e-mail provider"}},
		{"own address as contact", func(f url.Values) { f.Set("contact_email", "bob@northwind.example") }, nil, 422, []string{"an address at your own company"}},
		{"wrong captcha", func(f url.Values) { f.Set("cf-turnstile-response", "robot") }, nil, 422, []string{
			`<a href="#f-captcha">the check that you are not a robot failed; please try it again</a>`}},
		{"no captcha", func(f url.Values) { f.Del("cf-turnstile-response") }, nil, 422, []string{"complete the check that you are not a robot"}},
	}
	for _, tc := range cases {
		form := valid(nonce)
		if tc.form != nil {
			tc.form(form)
		}
		rec := post(h, form, tc.req)
		if rec.Code != tc.code {
			t.Errorf("%s: %d, want %d\n%s", tc.name, rec.Code, tc.code, rec.Body.String())
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s: page lacks %s", tc.name, w)
			}
		}
	}
	// The captcha provider is asked only for otherwise valid forms that
	// carry a response: once, for the wrong one.
	if n := sv.calls.Load(); n != 1 {
		t.Errorf("siteverify called %d times, want 1", n)
	}
	if ip, _ := sv.lastIP.Load().(string); ip != "203.0.113.9" {
		t.Errorf("remoteip %q", ip)
	}
}

func TestNonceAgeAndMinFillTime(t *testing.T) {
	h, c, _ := newHandler(t, func(cfg *intake.WebFormConfig) { cfg.MinFillTime = 3 * time.Second })
	_, nonce := get(t, h)
	c.add(time.Second)
	if rec := post(h, valid(nonce), nil); rec.Code != 422 || !strings.Contains(rec.Body.String(), "faster than a person") {
		t.Errorf("too fast: %d", rec.Code)
	}
	c.add(25 * time.Hour)
	rec := post(h, valid(nonce), nil)
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "open too long") || !strings.Contains(rec.Body.String(), `value="Globex"`) {
		t.Errorf("expired: %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), nonce) {
		t.Error("an expired nonce was served again")
	}
	// Another key never verifies.
	other, _, _ := newHandler(t, func(cfg *intake.WebFormConfig) { cfg.NonceKey = secret.New("another-nonce-key-000") })
	if _, _, ok := other.nonces.check(nonce); ok {
		t.Error("nonce verified under another key")
	}
	if id, served, ok := h.nonces.check(nonce); !ok || len(id) != 32 || !served.Equal(time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("check: %q %v %v", id, served, ok)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	h, c, _ := newHandler(t, func(cfg *intake.WebFormConfig) { cfg.RateLimit = intake.RateLimitConfig{PerHour: 6, Burst: 2} })
	form := valid("bad")
	codes := func(addr string, xff string) []int {
		var out []int
		for i := 0; i < 3; i++ {
			rec := post(h, form, func(r *http.Request) {
				r.RemoteAddr = addr
				if xff != "" {
					r.Header.Set("X-Forwarded-For", xff)
				}
			})
			out = append(out, rec.Code)
			if rec.Code == 429 && rec.Header().Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		return out
	}
	if got := codes("198.51.100.1:1", ""); got[0] != 422 || got[1] != 422 || got[2] != 429 {
		t.Errorf("burst then limit: %v", got)
	}
	// Another client is not affected; a forged X-Forwarded-For from an
	// untrusted peer does not help.
	if got := codes("198.51.100.1:2", "192.0.2.77"); got[0] != 429 {
		t.Errorf("untrusted X-Forwarded-For believed: %v", got)
	}
	if got := codes("198.51.100.2:1", ""); got[0] != 422 {
		t.Errorf("another client limited: %v", got)
	}
	// Behind a trusted proxy, each forwarded client has its own bucket.
	if got := codes("10.1.2.3:443", "192.0.2.10, 10.9.9.9"); got[0] != 422 || got[2] != 429 {
		t.Errorf("behind the proxy: %v", got)
	}
	if got := codes("10.1.2.3:443", "192.0.2.11"); got[0] != 422 {
		t.Errorf("second client behind the proxy: %v", got)
	}
	c.add(10 * time.Minute) // one token per 10 minutes
	if got := codes("198.51.100.1:1", ""); got[0] != 422 || got[1] != 429 {
		t.Errorf("after refill: %v", got)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct{ remote, xff, want string }{
		{"203.0.113.9:1", "", "203.0.113.9"},
		{"203.0.113.9:1", "1.2.3.4", "203.0.113.9"},
		{"10.0.0.1:1", "1.2.3.4", "1.2.3.4"},
		{"10.0.0.1:1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"},
		{"10.0.0.1:1", "garbage, 1.2.3.4", "1.2.3.4"},
		{"10.0.0.1:1", "1.2.3.4, garbage", "10.0.0.1"},
		{"10.0.0.1:1", "", "10.0.0.1"},
		{"[::1]:1", "2001:db8::7", "2001:db8::7"},
		{"[::ffff:203.0.113.9]:1", "", "203.0.113.9"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, trusted).String(); got != c.want {
			t.Errorf("%s xff %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func TestCaptchaProviderFailures(t *testing.T) {
	h, c, sv := newHandler(t, nil)
	_, nonce := get(t, h)
	c.add(time.Minute)
	sv.failWith = http.StatusBadGateway
	rec := post(h, valid(nonce), nil)
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "could not be verified right now") {
		t.Errorf("provider down: %d", rec.Code)
	}
	sv.failWith = 0
	h2, c2, _ := newHandler(t, func(cfg *intake.WebFormConfig) { cfg.Captcha.Secret = secret.New("wrong-secret") })
	_, nonce = get(t, h2)
	c2.add(time.Minute)
	if rec := post(h2, valid(nonce), nil); rec.Code != 422 || !strings.Contains(rec.Body.String(), "could not be verified right now") || strings.Contains(rec.Body.String(), "wrong-secret") {
		t.Errorf("wrong secret: %d", rec.Code)
	}
	for _, p := range []string{intake.CaptchaReCAPTCHA, intake.CaptchaHCaptcha, intake.CaptchaTurnstile} {
		cp := newCaptcha(intake.CaptchaConfig{Provider: p, SiteKey: "k", Secret: secret.New("s")}, nil)
		if cp.cfg.VerifyURL != intake.DefaultVerifyURL[p] || cp.p.field == "" {
			t.Errorf("%s defaults: %+v", p, cp.cfg)
		}
	}
	if newCaptcha(intake.CaptchaConfig{Provider: intake.CaptchaNone}, nil) != nil {
		t.Error("captcha for provider none")
	}
}

func TestOversizedAndMethod(t *testing.T) {
	h, _, _ := newHandler(t, nil)
	rec := post(h, url.Values{"problem": {strings.Repeat("x", 100<<10)}}, nil)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/register", nil))
	if rec.Code != 405 {
		t.Errorf("DELETE: %d", rec.Code)
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
