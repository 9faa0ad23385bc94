package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// regsyncBinary builds the binary once for the tests that run it as a
// process.
func regsyncBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "regsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "regsync")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// serveRefused runs `regsync serve` as a process and expects it to refuse
// to start: it must exit within 20 s (else the test fails, and -1 is
// returned). It returns the exit code and what it printed.
func serveRefused(t *testing.T, cfgPath string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(regsyncBinary(t), "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errOut, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), errOut.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, errOut.String()
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		out := errOut.String()
		if len(out) > 3000 {
			out = out[:3000] + "…"
		}
		t.Errorf("serve started instead of refusing the configuration:\n%s", out)
		return -1, ""
	}
}

// sfConfig is a configuration of crm.kind salesforce (nothing listens at
// its domain: the commands below never get that far) with more keys of
// the salesforce: section.
func sfConfig(t *testing.T, more string) string {
	t.Helper()
	dir := t.TempDir()
	return writeFile(t, "regsync.yaml", fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
admin: {addr: "127.0.0.1:0"}
state: {path: %q}
crm: {kind: salesforce}
salesforce:
  domain: http://127.0.0.1:1
  client_id: sandbox
  client_secret: sandbox-secret
  organization_id: %s
%s
%s`, filepath.Join(dir, "regsync.db"), salesforcetest.DefaultOrganizationID, more, importPolicy))
}

// Outbound messages are on by default, and an organization id is no
// secret: without salesforce.webhook_secret, check-config and serve refuse
// the configuration, saying what to set (or how to turn the endpoint off).
func TestSalesforceOutboundMessagesNeedAWebhookSecret(t *testing.T) {
	const want = "salesforce.webhook_secret: required while salesforce.outbound_messages is on"
	cfg := sfConfig(t, "")
	code, _, errOut := runCLI(t, "check-config", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, want) || !strings.Contains(errOut, "outbound_messages: false") {
		t.Errorf("check-config without a webhook secret: exit %d, %s", code, errOut)
	}
	if code, out := serveRefused(t, cfg); code != -1 && (code != exitUsage || !strings.Contains(out, want)) {
		t.Errorf("serve without a webhook secret: exit %d, %s", code, out)
	}
	// A short secret is refused too.
	if code, _, errOut := runCLI(t, "check-config", "--config", sfConfig(t, "  webhook_secret: short")); code != exitUsage ||
		!strings.Contains(errOut, "salesforce.webhook_secret: must be at least 16 characters") {
		t.Errorf("check-config with a short webhook secret: exit %d, %s", code, errOut)
	}
	// With a secret (from the environment), or with outbound messages off,
	// the configuration is valid.
	t.Setenv("REGSYNC_SALESFORCE_WEBHOOK_SECRET", "outbound-endpoint-secret-0123")
	if code, _, errOut := runCLI(t, "check-config", "-q", "--config", cfg); code != 0 {
		t.Errorf("check-config with REGSYNC_SALESFORCE_WEBHOOK_SECRET: exit %d, %s", code, errOut)
	}
	os.Unsetenv("REGSYNC_SALESFORCE_WEBHOOK_SECRET")
	if code, _, errOut := runCLI(t, "check-config", "-q", "--config", sfConfig(t, "  outbound_messages: false")); code != 0 {
		t.Errorf("check-config with outbound messages off: exit %d, %s", code, errOut)
	}
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback
// (the test skips without one).
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return ""
}

// imapCapture is a mailbox server on a non-loopback address that greets
// like IMAP and records what clients send it.
type imapCapture struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	lines []string
}

func startIMAPCapture(t *testing.T) *imapCapture {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(nonLoopbackIP(t), "0"))
	if err != nil {
		t.Skip(err)
	}
	c := &imapCapture{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(conn, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					c.mu.Lock()
					c.lines = append(c.lines, sc.Text())
					c.mu.Unlock()
					tag, _, _ := strings.Cut(sc.Text(), " ")
					fmt.Fprintf(conn, "%s NO go away\r\n", tag)
				}
			}()
		}
	}()
	return c
}

func (c *imapCapture) seen() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, strings.Join(c.lines[:min(len(c.lines), 3)], "\n")
}

// An IMAP mailbox on another host with tls: none would get the mailbox
// password in clear text over the network (as SMTP's mail.tls: none
// already is for a non-loopback host, it is refused): serve does not
// start, and nothing connects to the mailbox.
func TestIMAPWithoutTLSToARemoteHostIsRefused(t *testing.T) {
	imap := startIMAPCapture(t)
	dir := t.TempDir()
	cfg := writeFile(t, "regsync.yaml", fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
admin: {addr: "127.0.0.1:0"}
state: {path: %q}
crm: {kind: sandbox, sandbox: {addr: "127.0.0.1:0"}}
schedule: {sweep: "off", reconcile: "off", summaries: "off"}
notify: {outbox: %q}
intake:
  email:
    enabled: true
    token: inbound-mail-token-0123
    imap: {enabled: true, addr: %q, tls: none, username: intake, password: imap-password-in-clear, poll_interval: 100ms}
%s`, filepath.Join(dir, "regsync.db"), filepath.Join(dir, "outbox"), imap.ln.Addr().String(), importPolicy))
	const want = "intake.email.imap.tls: none would send the password in clear text to"
	code, _, errOut := runCLI(t, "check-config", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("check-config: exit %d, %s", code, errOut)
	}
	code, out := serveRefused(t, cfg)
	if code != -1 && (code != exitUsage || !strings.Contains(out, want)) {
		t.Errorf("serve: exit %d, %s", code, out)
	}
	if n, lines := imap.seen(); n != 0 {
		t.Errorf("%d connections reached the mailbox on %s, which read:\n%s", n, imap.ln.Addr(), lines)
	}
}

// check-config prints the effective configuration and its errors; a
// credential written into a URL (user:password@, a token in the query)
// shows as <secret> in both, as every secret setting does.
func TestCheckConfigRedactsCredentialsInURLs(t *testing.T) {
	leaks := []string{"hunter2-public", "tok-in-query-123", "pw-in-error", "sig-in-error"}
	check := func(name string, code, wantCode int, out string) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, wantCode, out)
		}
		for _, l := range leaks {
			if strings.Contains(out, l) {
				t.Errorf("%s printed the credential %q:\n%s", name, l, out)
			}
		}
	}
	valid := writeFile(t, "regsync.yaml", `server: {public_url: "https://ops:hunter2-public@regsync.example.com"}
hubspot: {webhook_url: "https://regsync.example.com/webhooks/hubspot?portal=1&token=tok-in-query-123"}
`+importPolicy)
	code, out, errOut := runCLI(t, "check-config", "--config", valid)
	check("check-config", code, 0, out+errOut)
	for _, want := range []string{"public_url: https://ops:<secret>@regsync.example.com", "webhook_url: https://regsync.example.com/webhooks/hubspot?portal=<secret>&token=<secret>"} {
		if !strings.Contains(out, want) {
			t.Errorf("the effective configuration lacks %q:\n%s", want, out)
		}
	}
	invalid := writeFile(t, "regsync.yaml", `salesforce: {domain: "ftp://admin:pw-in-error@login.example"}
server: {public_url: "gopher://regsync.example.com/?sig=sig-in-error"}
`+importPolicy)
	code, out, errOut = runCLI(t, "check-config", "--config", invalid)
	check("check-config of an invalid file", code, exitUsage, out+errOut)
	if !strings.Contains(errOut, `salesforce.domain: "ftp://admin:<secret>@login.example" is not an http(s) URL`) {
		t.Errorf("the error does not show the redacted URL:\n%s", errOut)
	}
}

// The admin token protects sweeps, reloads, dead letters and registering
// for any partner: a one-character token (admin.token or
// REGSYNC_ADMIN_TOKEN) is refused like every other too-short secret.
func TestShortAdminTokenIsRefused(t *testing.T) {
	dir := t.TempDir()
	base := fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
state: {path: %q}
crm: {kind: sandbox, sandbox: {addr: "127.0.0.1:0"}}
schedule: {sweep: "off", reconcile: "off", summaries: "off"}
notify: {outbox: %q}
%s`, filepath.Join(dir, "regsync.db"), filepath.Join(dir, "outbox"), importPolicy)
	const want = "admin.token: must be at least 32 characters"
	short := writeFile(t, "regsync.yaml", "admin: {token: x, addr: \"127.0.0.1:0\"}\n"+base)
	if code, _, errOut := runCLI(t, "check-config", "--config", short); code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("check-config with admin.token x: exit %d, %s", code, errOut)
	}
	if code, out := serveRefused(t, short); code != -1 && (code != exitUsage || !strings.Contains(out, want)) {
		t.Errorf("serve with admin.token x: exit %d, %s", code, out)
	}
	plain := writeFile(t, "regsync.yaml", "admin: {addr: \"127.0.0.1:0\"}\n"+base)
	t.Setenv("REGSYNC_ADMIN_TOKEN", "short-but-not-that-short")
	if code, _, errOut := runCLI(t, "check-config", "--config", plain); code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("check-config with a 24-character REGSYNC_ADMIN_TOKEN: exit %d, %s", code, errOut)
	}
	t.Setenv("REGSYNC_ADMIN_TOKEN", "an-admin-token-of-32-characters!")
	if code, _, errOut := runCLI(t, "check-config", "-q", "--config", plain); code != 0 {
		t.Errorf("check-config with a 32-character token: exit %d, %s", code, errOut)
	}
}

// serve tells where the admin API listens; the commands beside it (sweep,
// inbox) reach it there, and the public listener has no /-/ endpoint.
func TestServeListensForTheAdminAPIApart(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "regsync.yaml", fmt.Sprintf(`server: {addr: "127.0.0.1:0", shutdown_timeout: 10s}
admin: {addr: "127.0.0.1:0"}
state: {path: %q}
crm: {kind: sandbox, sandbox: {addr: "127.0.0.1:0"}}
schedule: {sweep: "off", reconcile: "off", summaries: "off"}
notify: {outbox: %q}
%s`, filepath.Join(dir, "regsync.db"), filepath.Join(dir, "outbox"), importPolicy))
	cmd := exec.Command(regsyncBinary(t), "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "regsync serving on ") {
				line <- sc.Text()
			}
		}
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not say where it listens within 30s")
	}
	m := regexp.MustCompile(`^regsync serving on (http://[^;]+); admin API on (http://\S+) \(token in (\S+)\)$`).FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("serve said %q", l)
	}
	public, admin, tokenFile := m[1], m[2], m[3]
	if public == admin || !strings.HasPrefix(admin, "http://127.0.0.1:") {
		t.Errorf("public %s, admin %s: want the admin API apart, on loopback", public, admin)
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	get := func(base string) int {
		req, _ := http.NewRequest("GET", base+"/-/inbox", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(admin); code != http.StatusOK {
		t.Errorf("GET /-/inbox on the admin API answered %d", code)
	}
	if code := get(public); code != http.StatusNotFound {
		t.Errorf("GET /-/inbox on the public listener answered %d, want 404", code)
	}
	if code, out, errOut := runCLI(t, "sweep", "--config", cfg); code != 0 || !strings.Contains(out, "by the running daemon") {
		t.Errorf("sweep beside the daemon: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "inbox", "list", "--config", cfg); code != 0 || !strings.Contains(out, "dead letters 0") {
		t.Errorf("inbox list beside the daemon: exit %d\n%s%s", code, out, errOut)
	}
}
