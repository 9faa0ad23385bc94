package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/internal/connect"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

func TestParseValidity(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, " 1d ": 24 * time.Hour} {
		if got, err := parseValidity(in); err != nil || got != want {
			t.Errorf("parseValidity(%q) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0d", "-1h", "d", "ninety days", "1.5d"} {
		if _, err := parseValidity(bad); err == nil {
			t.Errorf("parseValidity(%q) accepted", bad)
		}
	}
}

func TestPartnerLinkRefusals(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, "regsync.yaml", fmt.Sprintf("server: {public_url: \"https://partners.example.com/\"}\nstate: {path: %q}\ncrm: {kind: sandbox}\n"+
		"intake:\n  webform: {enabled: true, link_key: link-key-of-the-cli-tests-01}\n%s", filepath.Join(dir, "regsync.db"), importPolicy))
	code, out, errOut := runCLI(t, "partner-link", "--config", p, "--partner", "northwind", "--email", "Sam@Northwind.example", "--expires", "2w")
	if code != 0 || !strings.HasPrefix(out, "https://partners.example.com/register?link=") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(errOut, "personal web-form link for sam@northwind.example (partner northwind), valid until ") ||
		!strings.Contains(errOut, "rotating intake.webform.link_key revokes every link") || strings.Contains(errOut, "link-key-of-the-cli-tests-01") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--partner", "nobody", "--email", "sam@northwind.example"}, 2, `regsync: no partner with id "nobody"`},
		{[]string{"--partner", "northwind", "--email", "eve@fabrikam.example"}, 2, "e***@fabrikam.example is not at one of northwind's email_domains (northwind.example)"},
		{[]string{"--partner", "northwind", "--email", "sam@northwind.example", "--expires", "forever"}, 2, `--expires: want a positive time such as 90d, 2w or 36h, not "forever"`},
		{[]string{"--partner", "northwind"}, 2, `required flag(s) "email" not set`},
	} {
		code, out, errOut := runCLI(t, append([]string{"partner-link", "--config", p}, tc.args...)...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q\n%s", tc.args, code, out, errOut)
		}
	}
	// No key configured and no daemon has made one yet.
	q := writeFile(t, "regsync.yaml", fmt.Sprintf("state: {path: %q}\ncrm: {kind: sandbox}\n%s", filepath.Join(dir, "other.db"), importPolicy))
	code, _, errOut = runCLI(t, "partner-link", "--config", q, "--partner", "northwind", "--email", "sam@northwind.example")
	if code != 1 || !strings.Contains(errOut, "no link key: set intake.webform.link_key (REGSYNC_INTAKE_WEBFORM_LINK_KEY), or run regsync serve once") {
		t.Errorf("no key: exit %d %s", code, errOut)
	}
}

var (
	qsNonce   = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	qsCase    = regexp.MustCompile(`<span class="case">(R-[0-9A-Z]{10})</span>`)
	qsMessage = regexp.MustCompile(`href="(/sandbox/outbox/[^"]+\.eml)">Confirm your registration: Globex`)
	qsConfirm = regexp.MustCompile(`<a href="(http://[^"]+/register/confirm/[A-Za-z0-9_-]+)">`)
)

// The quick start, in two commands — `regsync serve --config
// config.example.yaml`, then a browser — still registers a prospect
// through the web form: the form says to check the e-mail and links to
// the sandbox outbox, where the confirmation e-mail is readable and its
// link clickable; confirming registers it in the sandbox CRM. And
// `regsync partner-link` beside it makes a personal link that registers
// at once.
func TestQuickStartWebFormConfirmsThroughTheSandboxOutbox(t *testing.T) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yml := string(example)
	sandboxAddr := freeAddr(t)
	for old, repl := range map[string]string{
		"  addr: 127.0.0.1:8080\n":  "  addr: \"127.0.0.1:0\"\n",
		"  addr: 127.0.0.1:9091":    "  addr: " + freeAddr(t), // admin.addr
		"    addr: 127.0.0.1:8081":  "    addr: " + sandboxAddr,
		"  path: regsync.db\n":      "  path: " + filepath.Join(dir, "regsync.db") + "\n",
		"    search_lag: 2s":        "    search_lag: 0s",
		"  shutdown_timeout: 30s\n": "  shutdown_timeout: 10s\n",
	} {
		if !strings.Contains(yml, old) {
			t.Fatalf("config.example.yaml lacks %q", old)
		}
		yml = strings.Replace(yml, old, repl, 1)
	}
	cfgPath := filepath.Join(dir, "regsync.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "partner-link", "--config", cfgPath, "--partner", "northwind", "--email", "sam@northwind.example"); code != 1 ||
		!strings.Contains(errOut, "run regsync serve once") {
		t.Errorf("partner-link before serve: exit %d %s", code, errOut)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	addr, err := os.ReadFile(daemon.AddrFile(cfg.State.Path))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(string(addr))
	// The sandbox CRM as any HubSpot client reaches it: over its API.
	hcfg := hubspot.DefaultConfig()
	hcfg.BaseURL, hcfg.Token = "http://"+sandboxAddr, secret.New(connect.SandboxToken)
	crm, err := hubspot.New(hcfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inCRM := func(caseNumber string) (registration.Record, bool) {
		t.Helper()
		recs, err := crm.Lookup(ctx, []string{caseNumber})
		if err != nil {
			t.Fatalf("look %s up in the sandbox CRM: %v", caseNumber, err)
		}
		if len(recs) != 1 {
			return registration.Record{}, false
		}
		return recs[0], true
	}
	client := &http.Client{Timeout: 20 * time.Second}
	do := func(method, u string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, u, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	form := func(page string) url.Values {
		t.Helper()
		m := qsNonce.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form:\n%s", page)
		}
		return url.Values{"nonce": {m[1]}, "company_name": {"Globex"}, "company_domain": {"globex.example"}, "contact_name": {"Hank Scorpio"},
			"contact_email": {"hank@globex.example"}, "problem": {"Stock by hand."}, "partner_email": {"sam@northwind.example"}, "consent": {"yes"}}
	}
	_, page := do("GET", base+"/register", nil)
	code, page := do("POST", base+"/register", form(page))
	if code != http.StatusAccepted || !strings.Contains(page, `<a href="/sandbox/outbox">Read the e-mail in the sandbox outbox</a>`) {
		t.Fatalf("held: %d\n%s", code, page)
	}
	_, list := do("GET", base+"/sandbox/outbox", nil)
	m := qsMessage.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("outbox:\n%s", list)
	}
	_, msg := do("GET", base+m[1], nil)
	l := qsConfirm.FindStringSubmatch(msg)
	if l == nil || !strings.HasPrefix(l[1], base+"/register/confirm/") {
		t.Fatalf("message:\n%s", msg)
	}
	n := 0
	if err := crm.All(ctx, func(rs []registration.Record) error { n += len(rs); return nil }); err != nil || n != 0 {
		t.Fatalf("%d registrations before the confirmation (%v)", n, err)
	}
	if code, page := do("GET", l[1], nil); code != 200 || !strings.Contains(page, "Confirm and register") {
		t.Fatalf("confirm page: %d", code)
	}
	code, page = do("POST", l[1], url.Values{})
	c := qsCase.FindStringSubmatch(page)
	if code != 200 || c == nil {
		t.Fatalf("confirmed: %d\n%s", code, page)
	}
	if rec, ok := inCRM(c[1]); !ok || rec.PartnerID != "northwind" {
		t.Errorf("%s in the sandbox CRM: %+v", c[1], rec)
	}

	// A personal link, made beside the running daemon with the key it keeps.
	var out, errOut bytes.Buffer
	if code := run([]string{"partner-link", "--config", cfgPath, "--partner", "northwind", "--email", "sam@northwind.example"}, &out, &errOut); code != 0 ||
		!strings.HasPrefix(out.String(), base+"/register?link=") || !strings.Contains(errOut.String(), "server.public_url is not set: the link points at "+base) {
		t.Fatalf("partner-link: exit %d %s%s", code, out.String(), errOut.String())
	}
	code, page = do("GET", strings.TrimSpace(out.String()), nil)
	if code != 200 || !strings.Contains(page, "Registering as <strong>sam@northwind.example</strong>") {
		t.Fatalf("the personal link's form: %d\n%s", code, page)
	}
	f := form(page)
	f.Del("partner_email")
	f.Set("link", regexp.MustCompile(`name="link" value="([^"]+)"`).FindStringSubmatch(page)[1])
	f.Set("company_name", "Initech Labs")
	f.Set("company_domain", "initech-labs.example")
	code, page = do("POST", base+"/register", f)
	if c := qsCase.FindStringSubmatch(page); code != 200 || c == nil {
		t.Fatalf("through the personal link: %d\n%s", code, page)
	} else if _, ok := inCRM(c[1]); !ok {
		t.Errorf("%s not in the sandbox CRM", c[1])
	}
}
