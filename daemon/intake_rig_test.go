package daemon

// The intake end-to-end tests run a whole daemon against the HubSpot fake
// (hubspottest, over loopback) with every channel on, a local SMTP server
// capturing what partners are sent (internal/mail/mailtest), a fake of
// Slack's Web API (intake/slack/slacktest) and a fake captcha siteverify
// endpoint. They run against HubSpot only: the channels reach the CRM
// through the same Registrar whatever the connector, and the HubSpot form
// channel exists only there.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/intake/slack/slacktest"
	"github.com/regsync/regsync/internal/mail/mailtest"
	"github.com/regsync/regsync/internal/secret"
)

const (
	rigEmailToken  = "inbound-mail-token-e2e"
	rigSlackSecret = "slack-signing-secret-e2e"
	rigSlackToken  = "xoxb-e2e-bot-token"
	rigCSVToken    = "northwind-upload-token-0001"
	rigStatusKey   = "status-page-key-of-the-e2e-tests"
	rigFormGUID    = "3b1c1f0e-7a2d-4c55-9e61-partnerform01"
	rigCaptchaOK   = "human-solved-it"
	rigIntakeAddr  = "partners@vendor.example"
	rigLinkKey     = "web-form-link-key-of-the-e2e-tests"
)

type rigOpts struct {
	// captcha puts the web form behind the fake siteverify endpoint
	// (provider turnstile); off, the form has no captcha.
	captcha bool
	// formPoll is the HubSpot form poll interval (default 1h: polls only at
	// start).
	formPoll time.Duration
	// csvMax bounds CSV uploads (default 20MiB).
	csvMax string
	// imap, when set, is the host:port of a mailbox the daemon polls
	// (user intake, password imap-pass, no TLS) every 100 ms.
	imap string
	// webhook, when set, is notify.slack_webhook_url (the AE channel).
	webhook string
	// policy replaces the partners and rules (default testPolicy).
	policy string
	// webform, when set, replaces the web form's rate limits and adds its
	// own keys: entries of a YAML flow map, such as
	// "rate_limit: {per_hour: 20, burst: 5}, trusted_proxies: [127.0.0.1]"
	// (default "rate_limit: {per_hour: 0}").
	webform string
}

// rig is a running daemon with every intake channel on.
type rig struct {
	*harness
	fake    *hubspotFake
	smtp    *mailtest.Server
	slack   *slacktest.Server
	captcha *captchaFake
	base    string
	client  *http.Client
}

// captchaFake is a siteverify endpoint: a form POST of secret, response
// and remoteip, answered {"success": …}.
type captchaFake struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
}

func startCaptcha(t *testing.T) *captchaFake {
	c := &captchaFake{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.calls++
		c.mu.Unlock()
		_ = r.ParseForm()
		ok := r.PostForm.Get("secret") == "captcha-secret" && r.PostForm.Get("response") == rigCaptchaOK
		w.Header().Set("Content-Type", "application/json")
		if ok {
			_, _ = io.WriteString(w, `{"success": true, "hostname": "127.0.0.1"}`)
			return
		}
		_, _ = io.WriteString(w, `{"success": false, "error-codes": ["invalid-input-response"]}`)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *captchaFake) Calls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func startRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	if o.formPoll == 0 {
		o.formPoll = time.Hour
	}
	if o.csvMax == "" {
		o.csvMax = "20MiB"
	}
	smtp := mailtest.Start(t, mailtest.Options{})
	api := slacktest.Start(t, rigSlackToken)
	api.AddUser(slacktest.User{ID: "U1", TeamID: "T1", Email: "sam@northwind.example", RealName: "Sam Carter"})
	api.AddUser(slacktest.User{ID: "U9", TeamID: "T1", Email: "eve@evil.example", RealName: "Eve"})
	cf := startCaptcha(t)
	captcha := "provider: none"
	if o.captcha {
		captcha = fmt.Sprintf("provider: turnstile, site_key: site-key, secret: captcha-secret, verify_url: %q", cf.URL)
	}
	if o.webform == "" {
		o.webform = "rate_limit: {per_hour: 0}"
	}
	imap := ""
	if o.imap != "" {
		imap = fmt.Sprintf(", imap: {enabled: true, addr: %q, tls: none, username: intake, password: imap-pass, poll_interval: 100ms, timeout: 5s}", o.imap)
	}
	extra := fmt.Sprintf(`mail: {host: 127.0.0.1, port: %d, tls: none, from: "Vendor partner program <%s>", timeout: 10s}
intake:
  status_page: {key: %q}
  email: {enabled: true, token: %q, address: %q, authentication: {authserv_ids: [mx.vendor.example]}%s}
  webform: {enabled: true, link_key: %q, %s, captcha: {%s}}
  slack: {enabled: true, signing_secret: %q, bot_token: %q, api_url: %q}
  csv: {enabled: true, max_bytes: %s, tokens: [{partner: northwind, token: %q, submitter: sam@northwind.example}]}
  hubspot_form: {enabled: true, poll_interval: %s, forms: [{guid: %q}]}
`, smtp.Port(), rigIntakeAddr, rigStatusKey, rigEmailToken, rigIntakeAddr, imap, rigLinkKey, o.webform, captcha, rigSlackSecret, rigSlackToken, api.APIURL(),
		o.csvMax, rigCSVToken, o.formPoll, rigFormGUID)
	hopts := harnessOpts{webhooks: true, pollInterval: time.Hour, extra: extra, policy: o.policy}
	f := startHubSpotFake(t, hopts)
	t.Cleanup(f.Close)
	dir := t.TempDir()
	cfg := testConfig(t, dir, f, hopts)
	cfg.Notify.Outbox = "" // partners' mail goes to the SMTP capture
	if o.webhook != "" {
		cfg.Notify.SlackWebhookURL = secret.New(o.webhook)
	}
	h := &harness{t: t, o: hopts, crm: f, dir: dir, cfg: cfg, logs: &syncBuffer{}}
	h.start()
	return &rig{harness: h, fake: f.(*hubspotFake), smtp: smtp, slack: api, captcha: cf, base: h.d.public,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// records is the number of registrations in the fake.
func (r *rig) records() int { return len(r.fake.hs.Records(r.fake.typeID)) }

// byCase reads the registration with a case number (nil when none).
func (r *rig) byCase(cn string) map[string]string {
	r.t.Helper()
	rec, ok := r.fake.hs.FindRecord(r.fake.typeID, "case_number", cn)
	if !ok {
		return nil
	}
	p := r.crm.Get(r.t, rec.ID)
	p["id"] = rec.ID
	return p
}

// waitCase waits until the registration's status is one of want.
func (r *rig) waitCase(cn string, within time.Duration, want ...string) map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := r.byCase(cn)
		for _, w := range want {
			if p != nil && p["status"] == w {
				return p
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: status %q after %s, want one of %v (record %v)", cn, p["status"], within, want, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitField waits until the registration's field is set.
func (r *rig) waitField(cn, field string, within time.Duration) map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := r.byCase(cn)
		if p[field] != "" {
			return p
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: %s not set after %s (record %v)", cn, field, within, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailTo waits for a captured message to addr whose subject contains
// subject, and returns it.
func (r *rig) mailTo(addr, subject string, within time.Duration) mailtest.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for n := 1; ; n++ {
		msgs, err := r.smtp.Wait(ctx, n)
		for _, m := range msgs {
			if contains(m.To, addr) && strings.Contains(m.Header("Subject"), subject) {
				return m
			}
		}
		if err != nil {
			var subjects []string
			for _, m := range msgs {
				subjects = append(subjects, fmt.Sprintf("%v %q", m.To, m.Header("Subject")))
			}
			r.t.Fatalf("no mail to %s with %q in the subject within %s; captured: %v", addr, subject, within, subjects)
		}
		n = len(msgs)
	}
}

// mailsTo counts the captured messages to addr whose subject contains s.
func (r *rig) mailsTo(addr, s string) int {
	n := 0
	for _, m := range r.smtp.Messages() {
		if contains(m.To, addr) && strings.Contains(m.Header("Subject"), s) {
			n++
		}
	}
	return n
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// do sends a request to the daemon.
func (r *rig) do(method, path, contentType string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, b
}

// postEmail posts a raw message as an inbound-mail service does.
func (r *rig) postEmail(raw []byte) (int, map[string]any) {
	r.t.Helper()
	resp, b := r.do("POST", "/intake/email", "message/rfc822", bytes.NewReader(raw), map[string]string{"Authorization": "Bearer " + rigEmailToken})
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{"_body": string(b)}
	}
	return resp.StatusCode, out
}

// postForm posts a form from the daemon's own origin (as its pages do).
func (r *rig) postForm(path string, form url.Values) (*http.Response, string) {
	r.t.Helper()
	resp, b := r.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), map[string]string{"Origin": r.base})
	return resp, string(b)
}

// slackPost sends a signed request as Slack does.
func (r *rig) slackPost(path string, body []byte, secret string) (int, string) {
	r.t.Helper()
	hdr := map[string]string{}
	for k, v := range slacktest.Sign(secret, body, time.Now()) {
		hdr[k] = v[0]
	}
	resp, b := r.do("POST", path, "application/x-www-form-urlencoded", bytes.NewReader(body), hdr)
	return resp.StatusCode, string(b)
}

func testdata(t *testing.T, channel, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "intake", channel, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crlf turns a message written with \n into one with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

// assertNoFormula checks that no cell of a result CSV can start a formula.
func assertNoFormula(t *testing.T, rows [][]string) {
	t.Helper()
	for i, row := range rows {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("result row %d column %d starts a formula: %q", i, j, cell)
			}
		}
	}
}

var slacktestSign = slacktest.Sign
