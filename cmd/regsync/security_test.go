package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// to start: it must exit within 20 s. It returns the exit code and what it
// printed on stderr.
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
		t.Fatalf("serve started instead of refusing the configuration:\n%s", errOut.String())
		return 0, ""
	}
}

// sfConfig is a configuration of crm.kind salesforce (nothing listens at
// its domain: the commands below never get that far) with more keys of
// the salesforce: section.
func sfConfig(t *testing.T, more string) string {
	t.Helper()
	dir := t.TempDir()
	return writeFile(t, "regsync.yaml", fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
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
	if code, out := serveRefused(t, cfg); code != exitUsage || !strings.Contains(out, want) {
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
