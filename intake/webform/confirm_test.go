package webform

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// fakeRegistrar records what the form registers.
type fakeRegistrar struct {
	mu    sync.Mutex
	subs  []intake.Submission
	recs  map[string]registration.Record
	fail  error
	calls int
	// noCase answers this many Register calls with a receipt lacking its
	// case number (as a registrar fault would).
	noCase int
}

func (f *fakeRegistrar) Register(_ context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	if f.recs == nil {
		f.recs = map[string]registration.Record{}
	}
	out := make([]intake.Receipt, len(subs))
	for i, s := range subs {
		cn := registration.CaseNumberFor(s.Key)
		_, exists := f.recs[cn]
		if !exists {
			f.subs = append(f.subs, s)
			r := s.Record
			r.Status, r.CaseNumber = registration.StatusSubmitted, cn
			f.recs[cn] = r
		}
		out[i] = intake.Receipt{CaseNumber: cn, Status: registration.StatusSubmitted, StatusURL: f.StatusURL(cn), Created: !exists}
		if f.noCase > 0 {
			f.noCase--
			out[i] = intake.Receipt{Status: registration.StatusSubmitted, Created: !exists}
		}
	}
	return out, nil
}

func (f *fakeRegistrar) Lookup(_ context.Context, cn string) (registration.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[cn]
	if !ok {
		return registration.Record{}, intake.ErrNotFound
	}
	return r, nil
}

func (f *fakeRegistrar) Amend(context.Context, string, intake.Amendment) (intake.Receipt, error) {
	return intake.Receipt{}, errors.New("not here")
}

func (f *fakeRegistrar) StatusURL(cn string) string { return "https://partners.example.com/r/" + cn }

func (f *fakeRegistrar) registered() []intake.Submission {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]intake.Submission(nil), f.subs...)
}

// fakeMail captures the confirmation e-mails.
type fakeMail struct {
	mu    sync.Mutex
	msgs  []*regmail.Message
	fail  error
	check func() // runs at each Send (before it is recorded)
}

func (m *fakeMail) Send(_ context.Context, msg *regmail.Message) error {
	if m.check != nil {
		m.check()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *fakeMail) all() []*regmail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*regmail.Message(nil), m.msgs...)
}

var reConfirmLink = regexp.MustCompile(`https://partners\.example\.com(/register/confirm/[A-Za-z0-9_-]+)`)

// link is the confirmation link of the i-th e-mail.
func (m *fakeMail) link(t *testing.T, i int) string {
	t.Helper()
	msgs := m.all()
	if len(msgs) <= i {
		t.Fatalf("%d e-mails, want at least %d", len(msgs), i+1)
	}
	l := reConfirmLink.FindStringSubmatch(msgs[i].Text)
	if l == nil {
		t.Fatalf("no confirmation link in:\n%s", msgs[i].Text)
	}
	return l[1]
}

const testLinkKey = "link-key-0123456789abcdef"

type confirmRig struct {
	h    *Handler
	c    *clock
	reg  *fakeRegistrar
	mail *fakeMail
	db   *state.DB
	dir  *intake.Directory
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newConfirmRig(t *testing.T, mod func(*intake.WebFormConfig)) *confirmRig {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)}
	db, err := state.Open(filepath.Join(t.TempDir(), "regsync.db"), state.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cfg := intake.DefaultConfig().WebForm
	cfg.Enabled = true
	cfg.NonceKey = secret.New("nonce-key-0123456789")
	cfg.LinkKey = secret.New(testLinkKey)
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	if mod != nil {
		mod(&cfg)
	}
	r := &confirmRig{c: c, reg: &fakeRegistrar{}, mail: &fakeMail{}, db: db, logs: &lockedBuffer{},
		dir: intake.NewDirectory([]rules.Partner{
			{ID: "northwind", Name: "Northwind", EmailDomains: []string{"northwind.example"}},
			{ID: "fabrikam", Name: "Fabrikam", EmailDomains: []string{"fabrikam.example"}},
		})}
	r.h = New(Options{Config: cfg, PublicURL: "https://partners.example.com", ProgramName: "Vendor partner program", Now: c.now,
		Partners: r.dir, Registrar: r.reg, Store: db, Mail: r.mail, Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return r
}

// form is a valid form with a fresh nonce, from partner address addr.
func (r *confirmRig) form(t *testing.T, addr string) url.Values {
	t.Helper()
	_, nonce := get(t, r.h)
	f := valid(nonce)
	f.Del("cf-turnstile-response")
	f.Set("partner_email", addr)
	return f
}

// send posts a form; mod may change the request (cookies, client).
func (r *confirmRig) send(form url.Values, mod func(*http.Request)) *httptest.ResponseRecorder {
	return post(r.h, form, mod)
}

func (r *confirmRig) open(method, path string, mod func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://partners.example.com"+path, nil)
	if method == "POST" {
		req.Header.Set("Origin", "https://partners.example.com")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

func withCookies(cs ...*http.Cookie) func(*http.Request) {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(c)
		}
	}
}

func cookieOf(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

// A typed partner address registers nothing until the link e-mailed to it
// is opened and confirmed; then it is registered once, with no place in
// line of its own (the Registrar stamps it: the confirmation instant).
func TestHeldUntilConfirmed(t *testing.T) {
	r := newConfirmRig(t, nil)
	first := r.form(t, "sam@northwind.example")
	rec := r.send(first, nil)
	page := rec.Body.String()
	if rec.Code != http.StatusAccepted || !strings.Contains(page, "Check your e-mail: we sent a link to <strong>sam@northwind.example</strong>; your registration of Globex counts from when you open it and confirm.") ||
		!strings.Contains(page, "until 5 March 2025 at 09:00 UTC") || strings.Contains(page, "/r/") || strings.Contains(page, "sandbox") {
		t.Fatalf("held page: %d\n%s", rec.Code, page)
	}
	if n := len(r.reg.registered()); n != 0 {
		t.Fatalf("%d registered before the confirmation", n)
	}
	msgs := r.mail.all()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "sam@northwind.example" || len(msgs[0].Cc)+len(msgs[0].Bcc)+len(msgs[0].ReplyTo) != 0 ||
		msgs[0].Subject != "Confirm your registration: Globex" || msgs[0].Header["Auto-Submitted"] != "auto-generated" ||
		!strings.Contains(msgs[0].Text, "Company: Globex\n  Website: globex.example\n  Contact: Hank Scorpio\n") || strings.Contains(msgs[0].Text, "Stock by hand") {
		t.Fatalf("confirmation e-mail: %+v", msgs)
	}
	link := r.mail.link(t, 0)

	// A double click: the same form again is the same hold, no new e-mail.
	form := r.form(t, "sam@northwind.example")
	if rec := r.send(form, nil); rec.Code != http.StatusAccepted || len(r.mail.all()) != 2 {
		t.Fatalf("second form: %d, %d e-mails", rec.Code, len(r.mail.all()))
	}
	if rec := r.send(form, nil); rec.Code != http.StatusAccepted || len(r.mail.all()) != 2 {
		t.Fatalf("the same form again: %d, %d e-mails", rec.Code, len(r.mail.all()))
	}

	// Opening the link (GET: a mail scanner does it too) shows what waits
	// and registers nothing.
	rec = r.open("GET", link, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<dt>Company name</dt><dd>Globex</dd>") ||
		!strings.Contains(rec.Body.String(), `<form method="post" action="`+link+`"><button type="submit">Confirm and register</button>`) {
		t.Fatalf("confirm page: %d\n%s", rec.Code, rec.Body.String())
	}
	if n := len(r.reg.registered()); n != 0 {
		t.Fatalf("a GET of the link registered %d", n)
	}
	// A forged cross-site confirmation does nothing.
	if rec := r.open("POST", link, func(q *http.Request) { q.Header.Set("Origin", "https://evil.example") }); rec.Code != 403 || len(r.reg.registered()) != 0 {
		t.Fatalf("cross-site confirmation: %d", rec.Code)
	}

	r.c.add(2 * time.Hour)
	rec = r.open("POST", link, nil)
	subs := r.reg.registered()
	if rec.Code != 200 || len(subs) != 1 || !strings.Contains(rec.Body.String(), `<span class="case">`+registration.CaseNumberFor(subs[0].Key)+`</span>`) {
		t.Fatalf("confirmation: %d %d\n%s", rec.Code, len(subs), rec.Body.String())
	}
	s := subs[0]
	if s.Channel != intake.ChannelWebForm || s.Record.PartnerID != "northwind" || s.Record.PartnerEmail != "sam@northwind.example" ||
		s.Record.CompanyName != "Globex" || !s.Record.SubmittedAt.IsZero() || !strings.HasPrefix(s.Key, "webform:") {
		t.Errorf("registered %+v", s)
	}
	ck := cookieOf(rec)
	if ck == nil || !ck.HttpOnly || ck.Path != "/register" || ck.MaxAge != 30*24*3600 || !ck.Secure || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("remembered-browser cookie %+v", ck)
	}
	// Opened again: one registration, and the page shows it.
	for _, m := range []string{"GET", "POST"} {
		rec := r.open(m, link, nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "You confirmed this registration on 4 March 2025 at 11:00 UTC") ||
			!strings.Contains(rec.Body.String(), r.reg.StatusURL(registration.CaseNumberFor(s.Key))) {
			t.Errorf("%s of a used link: %d\n%s", m, rec.Code, rec.Body.String())
		}
	}
	if n := len(r.reg.registered()); n != 1 {
		t.Errorf("the link registered %d times", n)
	}
	// The form it came from, sent once more, shows the registration too.
	if rec := r.send(first, nil); rec.Code != 200 || len(r.reg.registered()) != 1 || !strings.Contains(rec.Body.String(), `<span class="case">`) {
		t.Errorf("the confirmed form again: %d", rec.Code)
	}
	// The marker outlives the link's own expiry; then it is purged.
	r.c.add(29 * 24 * time.Hour)
	if rec := r.open("GET", link, nil); rec.Code != 200 {
		t.Errorf("used link after 29 days: %d", rec.Code)
	}
	r.c.add(2 * 24 * time.Hour)
	if n, err := r.db.PurgeHolds(r.c.now()); err != nil || n != 2 {
		t.Errorf("PurgeHolds = %d, %v (the marker and the unconfirmed second form)", n, err)
	}
	// The logs hold no link, no cookie, no key and no address in full.
	logs := r.logs.String()
	if !strings.Contains(logs, "webform: held until its address is confirmed") || !strings.Contains(logs, "webform: confirmed") {
		t.Errorf("logs:\n%s", logs)
	}
	for _, secretText := range []string{strings.TrimPrefix(link, ConfirmPrefix), ck.Value, testLinkKey, "sam@northwind.example"} {
		if strings.Contains(logs, secretText) {
			t.Errorf("the logs hold %q:\n%s", secretText, logs)
		}
	}
}

// A receipt without a case number (a fault in the registrar) is never
// shown as "received": the partner is asked to open the link again, the
// hold keeps its form, and the next confirmation shows the case.
func TestConfirmationWithoutCaseNumberIsRetried(t *testing.T) {
	r := newConfirmRig(t, nil)
	if rec := r.send(r.form(t, "sam@northwind.example"), nil); rec.Code != http.StatusAccepted {
		t.Fatalf("held: %d", rec.Code)
	}
	link := r.mail.link(t, 0)
	r.reg.mu.Lock()
	r.reg.noCase = 1
	r.reg.mu.Unlock()
	rec := r.open("POST", link, nil)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "Registration received") {
		t.Fatalf("a receipt without a case: %d\n%s", rec.Code, rec.Body.String())
	}
	rec = r.open("POST", link, nil)
	subs := r.reg.registered()
	if rec.Code != 200 || len(subs) != 1 || !strings.Contains(rec.Body.String(), `<span class="case">`+registration.CaseNumberFor(subs[0].Key)+`</span>`) {
		t.Fatalf("confirmed again: %d, %d registered\n%s", rec.Code, len(subs), rec.Body.String())
	}
	if rec := r.open("GET", link, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "You confirmed this registration") {
		t.Errorf("the used link: %d\n%s", rec.Code, rec.Body.String())
	}
}

// An unconfirmed hold expires after confirm_ttl: the link says so, nothing
// is registered, and the hold is dropped.
func TestHeldSubmissionExpires(t *testing.T) {
	r := newConfirmRig(t, func(c *intake.WebFormConfig) { c.ConfirmTTL = time.Hour })
	if rec := r.send(r.form(t, "sam@northwind.example"), nil); rec.Code != http.StatusAccepted ||
		!strings.Contains(rec.Body.String(), "until 4 March 2025 at 10:00 UTC") {
		t.Fatalf("held: %d", rec.Code)
	}
	link := r.mail.link(t, 0)
	// A link that is not one, or whose secret is wrong, is not valid.
	id, sec, exp, _ := parseToken(strings.TrimPrefix(link, ConfirmPrefix))
	sec[0] ^= 1
	for _, p := range []string{ConfirmPrefix + "nope", ConfirmPrefix + makeToken(id, sec, exp)} {
		if rec := r.open("GET", p, nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "This link is not valid") {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	r.c.add(59 * time.Minute)
	if rec := r.open("GET", link, nil); rec.Code != 200 {
		t.Fatalf("before expiry: %d", rec.Code)
	}
	r.c.add(time.Minute)
	for _, m := range []string{"GET", "POST"} {
		rec := r.open(m, link, nil)
		if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This confirmation link expired on 4 March 2025 at 10:00 UTC.") {
			t.Errorf("%s after expiry: %d\n%s", m, rec.Code, rec.Body.String())
		}
	}
	if n, err := r.db.PurgeHolds(r.c.now()); err != nil || n != 1 {
		t.Fatalf("PurgeHolds = %d, %v", n, err)
	}
	if rec := r.open("POST", link, nil); rec.Code != http.StatusGone {
		t.Errorf("after purge: %d", rec.Code)
	}
	if n := len(r.reg.registered()); n != 0 {
		t.Errorf("an expired hold registered %d", n)
	}
}

// The hold is in the state file before the e-mail goes and before the
// page answers; an e-mail that could not be sent is sent when the form is
// sent again, with a new link (the old one never existed for anyone).
func TestHoldIsDurableAndMailRetried(t *testing.T) {
	r := newConfirmRig(t, nil)
	form := r.form(t, "sam@northwind.example")
	id, _, _ := r.h.nonces.check(form.Get("nonce"))
	r.mail.check = func() {
		if h, err := r.db.GetHold(holdKey(id), r.c.now()); err != nil || h == nil {
			t.Errorf("the e-mail went before the hold was stored: %v", err)
		}
	}
	r.mail.fail = errors.New("smtp: 451 try later")
	if rec := r.send(form, nil); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "could not e-mail the link") ||
		!strings.Contains(rec.Body.String(), `value="Globex"`) {
		t.Fatalf("mail down: %d", rec.Code)
	}
	r.mail.fail = nil
	if rec := r.send(form, nil); rec.Code != http.StatusAccepted || len(r.mail.all()) != 1 {
		t.Fatalf("sent again: %d, %d e-mails", rec.Code, len(r.mail.all()))
	}
	// A correction of the address sends a link there; the first one stops.
	old := r.mail.link(t, 0)
	form.Set("partner_email", "kim@northwind.example")
	if rec := r.send(form, nil); rec.Code != http.StatusAccepted || len(r.mail.all()) != 2 || r.mail.all()[1].To[0].Address != "kim@northwind.example" {
		t.Fatalf("corrected address: %d", rec.Code)
	}
	if rec := r.open("GET", old, nil); rec.Code != 404 {
		t.Errorf("the link to the first address still works: %d", rec.Code)
	}
	// The CRM down at the confirmation: nothing lost, open it again.
	link := r.mail.link(t, 1)
	r.reg.fail = errors.New("crm down")
	if rec := r.open("POST", link, nil); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "open the link again in a minute") {
		t.Fatalf("CRM down: %d", rec.Code)
	}
	r.reg.fail = nil
	if rec := r.open("POST", link, nil); rec.Code != 200 || len(r.reg.registered()) != 1 || r.reg.registered()[0].Record.PartnerEmail != "kim@northwind.example" {
		t.Fatalf("after the CRM came back: %d", rec.Code)
	}
}

// A browser that confirmed an address registers from it at once, for
// remember_confirmed; any other address from it is held; a cookie that was
// not signed here, or has expired, counts for nothing.
func TestRememberedBrowser(t *testing.T) {
	r := newConfirmRig(t, nil)
	r.send(r.form(t, "sam@northwind.example"), nil)
	ck := cookieOf(r.open("POST", r.mail.link(t, 0), nil))
	if ck == nil {
		t.Fatal("no cookie")
	}
	rec := r.open("GET", Path, withCookies(ck))
	if !strings.Contains(rec.Body.String(), `value="sam@northwind.example"`) || !strings.Contains(rec.Body.String(), "This browser confirmed sam@northwind.example") {
		t.Errorf("the form does not offer the remembered address:\n%s", rec.Body.String())
	}
	r.c.add(10 * 24 * time.Hour)
	form := r.form(t, "SAM@northwind.example")
	form.Set("company_name", "Initrode")
	form.Set("company_domain", "initrode.example")
	if rec := r.send(form, withCookies(ck)); rec.Code != 200 || len(r.reg.registered()) != 2 || len(r.mail.all()) != 1 {
		t.Fatalf("remembered browser: %d, %d registered, %d e-mails", rec.Code, len(r.reg.registered()), len(r.mail.all()))
	}
	if rec := r.send(r.form(t, "kim@northwind.example"), withCookies(ck)); rec.Code != http.StatusAccepted || len(r.reg.registered()) != 2 {
		t.Fatalf("another address from a remembered browser: %d", rec.Code)
	}
	forged := *ck
	forged.Value = strings.Replace(ck.Value, ".", "x.", 1)
	other := newConfirmRig(t, func(c *intake.WebFormConfig) { c.LinkKey = secret.New("another-link-key-0000000") })
	if rec := other.send(other.form(t, "sam@northwind.example"), withCookies(ck)); rec.Code != http.StatusAccepted {
		t.Errorf("a cookie signed under another key: %d", rec.Code)
	}
	if rec := r.send(r.form(t, "sam@northwind.example"), withCookies(&forged)); rec.Code != http.StatusAccepted {
		t.Errorf("a forged cookie: %d", rec.Code)
	}
	r.c.add(20 * 24 * time.Hour)
	if rec := r.send(r.form(t, "sam@northwind.example"), withCookies(ck)); rec.Code != http.StatusAccepted || len(r.reg.registered()) != 2 {
		t.Errorf("a cookie past remember_confirmed: %d", rec.Code)
	}
	none := newConfirmRig(t, func(c *intake.WebFormConfig) { c.RememberConfirmed = 0 })
	none.send(none.form(t, "sam@northwind.example"), nil)
	if ck := cookieOf(none.open("POST", none.mail.link(t, 0), nil)); ck != nil {
		t.Errorf("remember_confirmed 0 set a cookie")
	}
}

// A personal link registers at once as its partner and address, whatever
// address is posted; an expired, altered or revoked link registers
// nothing.
func TestPersonalLink(t *testing.T) {
	r := newConfirmRig(t, nil)
	key := secret.New(testLinkKey)
	link, exp, err := PartnerLink(key, "https://partners.example.com/", r.dir, "northwind", "Sam@Northwind.example", r.c.now(), 90*24*time.Hour)
	if err != nil || !strings.HasPrefix(link, "https://partners.example.com/register?link=") || !exp.Equal(r.c.now().Add(90*24*time.Hour)) {
		t.Fatalf("PartnerLink = %s %v %v", link, exp, err)
	}
	for _, tc := range []struct{ partner, email, want string }{
		{"nobody", "sam@northwind.example", `no partner with id "nobody"`},
		{"northwind", "sam@fabrikam.example", "s***@fabrikam.example is not at one of northwind's email_domains (northwind.example)"},
		{"northwind", "not an address", `"not an address" is not an e-mail address`},
	} {
		if _, _, err := PartnerLink(key, "https://x", r.dir, tc.partner, tc.email, r.c.now(), time.Hour); err == nil || err.Error() != tc.want {
			t.Errorf("PartnerLink(%s, %s) = %v, want %s", tc.partner, tc.email, err, tc.want)
		}
	}
	if _, _, err := PartnerLink(secret.New("short"), "https://x", r.dir, "northwind", "sam@northwind.example", r.c.now(), time.Hour); err == nil {
		t.Error("a short key made a link")
	}
	u, _ := url.Parse(link)
	tok := u.Query().Get(LinkParam)
	rec := r.open("GET", Path+"?link="+tok, nil)
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, "Registering as <strong>sam@northwind.example</strong> (Northwind) with your personal link") ||
		!strings.Contains(page, `<input type="hidden" name="link" value="`+tok+`">`) || strings.Contains(page, `name="partner_email"`) {
		t.Fatalf("form with a personal link: %d\n%s", rec.Code, page)
	}
	form := r.form(t, "eve@fabrikam.example") // typed: ignored
	form.Set(LinkParam, tok)
	if rec := r.send(form, nil); rec.Code != 200 || len(r.reg.registered()) != 1 || len(r.mail.all()) != 0 {
		t.Fatalf("personal link: %d\n%s", rec.Code, rec.Body.String())
	}
	if s := r.reg.registered()[0]; s.Record.PartnerID != "northwind" || s.Record.PartnerEmail != "sam@northwind.example" {
		t.Errorf("registered as %s %s", s.Record.PartnerID, s.Record.PartnerEmail)
	}
	// Altered claims: another partner's address in the payload.
	forged := strings.Replace(tok, tok[:10], tok[:9]+string(rune('A'+(tok[9]-'A'+1)%26)), 1)
	for name, bad := range map[string]string{"altered": forged, "truncated": tok[:len(tok)-3]} {
		f := r.form(t, "sam@northwind.example")
		f.Set(LinkParam, bad)
		if rec := r.send(f, nil); rec.Code != 422 || !strings.Contains(rec.Body.String(), "This personal link is not valid") || len(r.reg.registered()) != 1 {
			t.Errorf("%s link: %d", name, rec.Code)
		}
	}
	// Rotating the key revokes it.
	other := newConfirmRig(t, func(c *intake.WebFormConfig) { c.LinkKey = secret.New("rotated-link-key-000000") })
	if rec := other.open("GET", Path+"?link="+tok, nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "not valid") {
		t.Errorf("link after rotating the key: %d", rec.Code)
	}
	// The address leaving the partner's domains revokes it too.
	r.dir.Set([]rules.Partner{{ID: "northwind", Name: "Northwind", EmailDomains: []string{"northwind.test"}}})
	if rec := r.open("GET", Path+"?link="+tok, nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "no longer valid") {
		t.Errorf("link of an address no longer the partner's: %d", rec.Code)
	}
	r.dir.Set([]rules.Partner{{ID: "northwind", Name: "Northwind", EmailDomains: []string{"northwind.example"}}})
	r.c.add(90 * 24 * time.Hour)
	rec = r.open("GET", Path+"?link="+tok, nil)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "Your personal link expired on 2 June 2025 at 09:00 UTC") || !strings.Contains(rec.Body.String(), `value="sam@northwind.example"`) {
		t.Errorf("expired link: %d\n%s", rec.Code, rec.Body.String())
	}
	f := r.form(t, "sam@northwind.example")
	f.Set(LinkParam, tok)
	if rec := r.send(f, nil); rec.Code != 422 || !strings.Contains(rec.Body.String(), "Your registration was not sent") || len(r.reg.registered()) != 1 {
		t.Errorf("post with an expired link: %d", rec.Code)
	}
	if logs := r.logs.String(); strings.Contains(logs, tok[:20]) || strings.Contains(logs, "eve@fabrikam.example") ||
		!strings.Contains(logs, "a posted partner_email differs from the personal link's") {
		t.Errorf("logs:\n%s", logs)
	}
}

// Unconfirmed submissions count per client (an IPv6 /64 is one client)
// and, once they would e-mail, per address; only registrations count per
// partner, so strangers typing a partner's address leave the partner's
// allowance whole. A limit keeps what was typed and says when to retry.
func TestRateLimitsByClientAddressAndPartner(t *testing.T) {
	r := newConfirmRig(t, func(c *intake.WebFormConfig) {
		c.RateLimit = intake.RateLimitConfig{PerHour: 6, Burst: 2, PerAddressPerHour: 2, PerAddressBurst: 2, PerPartnerPerHour: 1, PerPartnerBurst: 1}
	})
	from := func(addr string) func(*http.Request) { return func(q *http.Request) { q.RemoteAddr = addr } }
	codes := func(addr string, n int) []int {
		var out []int
		for range n {
			out = append(out, r.send(r.form(t, "sam@northwind.example"), from(addr)).Code)
		}
		return out
	}
	// Two /128s of one /64 share a bucket; another /64 has its own.
	// (The second of each pair is limited per address: sam's two holds.)
	if got := codes("[2001:db8:1:2::1]:1", 2); got[0] != 202 || got[1] != 202 {
		t.Fatalf("first client: %v", got)
	}
	rec := r.send(r.form(t, "kim@northwind.example"), from("[2001:db8:1:2::ffff]:1"))
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "Too many registrations from your network") {
		t.Errorf("another address in the same /64: %d", rec.Code)
	}
	rec = r.send(r.form(t, "sam@northwind.example"), from("[2001:db8:1:3::1]:1"))
	page := rec.Body.String()
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1801" || !strings.Contains(page, "Too many registrations from sam@northwind.example are waiting for confirmation") ||
		!strings.Contains(page, "Please send the form again in 30 minutes (at 09:30 UTC)") || !strings.Contains(page, `value="Globex"`) ||
		!strings.Contains(page, `value="Hank Scorpio"`) || !strings.Contains(page, " checked") || !reNonce.MatchString(page) {
		t.Errorf("address limit: %d %q\n%s", rec.Code, rec.Header().Get("Retry-After"), page)
	}
	if rec := r.send(r.form(t, "kim@northwind.example"), from("[2001:db8:1:3::1]:1")); rec.Code != 202 {
		t.Errorf("another address from another /64: %d", rec.Code)
	}
	if len(r.reg.registered()) != 0 || len(r.mail.all()) != 3 {
		t.Fatalf("%d registered, %d e-mails", len(r.reg.registered()), len(r.mail.all()))
	}
	// The partner's own allowance is whole: the first confirmation
	// registers; the second is over the per-partner limit (1 an hour), and
	// its link still works later.
	if rec := r.open("POST", r.mail.link(t, 0), nil); rec.Code != 200 {
		t.Fatalf("first confirmation: %d", rec.Code)
	}
	rec = r.open("POST", r.mail.link(t, 1), nil)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "3601" || !strings.Contains(rec.Body.String(), "open this link again in 60 minutes") {
		t.Errorf("second confirmation: %d %q\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	r.c.add(time.Hour)
	if rec := r.open("POST", r.mail.link(t, 1), nil); rec.Code != 200 || len(r.reg.registered()) != 2 {
		t.Errorf("second confirmation an hour later: %d", rec.Code)
	}
	// A known submitter (a personal link) is not held back by the
	// client's bucket, which strangers on its network may have emptied.
	link, _, _ := PartnerLink(secret.New(testLinkKey), "https://partners.example.com", r.dir, "fabrikam", "lee@fabrikam.example", r.c.now(), time.Hour)
	u, _ := url.Parse(link)
	for range 3 {
		r.send(r.form(t, "x@northwind.example"), from("198.51.100.1:1"))
	}
	f := r.form(t, "")
	f.Set(LinkParam, u.Query().Get(LinkParam))
	if rec := r.send(f, from("198.51.100.1:1")); rec.Code != 200 {
		t.Errorf("personal link from an emptied client: %d\n%s", rec.Code, rec.Body.String())
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9": "203.0.113.9", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::": "2001:db8:1:2::/64", "::1": "::/64",
	} {
		if got := clientKey(netipMust(in)); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// Without a place to hold or a way to mail, nothing unconfirmed is
// accepted — and the page says what works instead.
func TestNoMailNoHold(t *testing.T) {
	r := newConfirmRig(t, nil)
	r.h.o.Mail = nil
	if rec := r.send(r.form(t, "sam@northwind.example"), nil); rec.Code != 503 || !strings.Contains(rec.Body.String(), "use your personal partner link") ||
		len(r.reg.registered()) != 0 {
		t.Errorf("no mail: %d", rec.Code)
	}
	// confirm_email off: the typed address is believed, as before.
	off := newConfirmRig(t, func(c *intake.WebFormConfig) { c.ConfirmEmail = false })
	if rec := off.send(off.form(t, "sam@northwind.example"), nil); rec.Code != 200 || len(off.reg.registered()) != 1 || len(off.mail.all()) != 0 {
		t.Errorf("confirm_email off: %d", rec.Code)
	}
}

// The sandbox: the page links to where the e-mail can be read.
func TestHeldPageLinksToTheSandboxOutbox(t *testing.T) {
	r := newConfirmRig(t, nil)
	r.h.o.OutboxURL = "/sandbox/outbox"
	rec := r.send(r.form(t, "sam@northwind.example"), nil)
	if !strings.Contains(rec.Body.String(), `This is the sandbox: no e-mail leaves it. <a href="/sandbox/outbox">Read the e-mail in the sandbox outbox</a>`) {
		t.Errorf("held page in the sandbox:\n%s", rec.Body.String())
	}
}
