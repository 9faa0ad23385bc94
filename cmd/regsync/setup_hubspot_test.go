package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
)

// TestSetupAgainstABarePortal: regsync setup creates the partner_registration
// object in a new portal; run again, it changes nothing and says so.
func TestSetupAgainstABarePortal(t *testing.T) {
	hs, err := hubspottest.Start(hubspottest.Options{Bare: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	if _, err := hs.TypeID("partner_registration"); err == nil {
		t.Fatal("a bare portal already has the object")
	}
	cfg := writeFile(t, "regsync.yaml", fmt.Sprintf("crm: {kind: hubspot}\nhubspot: {base_url: %q}\n", hs.URL()))
	t.Setenv("REGSYNC_HUBSPOT_TOKEN", "sandbox-token")

	code, out, errOut := runCLI(t, "setup", "--config", cfg)
	if code != 0 {
		t.Fatalf("first setup: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := hs.TypeID("partner_registration"); err != nil {
		t.Fatalf("setup did not create the object: %v\n%s", err, out)
	}
	if !strings.Contains(out, "partner_registration") {
		t.Errorf("setup did not say what it did:\n%s", out)
	}
	code, out, errOut = runCLI(t, "setup", "--config", cfg)
	if code != 0 || !strings.Contains(out, "nothing to change") {
		t.Fatalf("second setup: exit %d\n%s%s", code, out, errOut)
	}
	// The sandbox kind refuses, and says how to try setup.
	sb := writeFile(t, "sb.yaml", "crm: {kind: sandbox}\n")
	if code, _, errOut := runCLI(t, "setup", "--config", sb); code != 1 || !strings.Contains(errOut, "regsync sandbox --bare") {
		t.Errorf("setup on the sandbox kind: exit %d, %s", code, errOut)
	}
}

// TestSandboxCommand runs `regsync sandbox` as a process: it serves the fake
// on the address given, with the object in place, prints its address and
// token, answers /sandbox/calls, and stops on SIGTERM.
func TestSandboxCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "regsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			args := []string{"sandbox", "--addr", "127.0.0.1:0", "--token", "tok-e2e"}
			if bare {
				args = append(args, "--bare")
			}
			cmd := exec.Command(bin, args...)
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := make(chan string, 10)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var base string
			timeout := time.After(30 * time.Second)
			for base == "" {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("sandbox exited before printing its address")
					}
					if rest, ok := strings.CutPrefix(l, "HubSpot sandbox at "); ok {
						base, _, _ = strings.Cut(rest, " ")
					}
				case <-timeout:
					t.Fatal("sandbox printed no address")
				}
			}
			get := func(path, token string) int {
				req, _ := http.NewRequest("GET", base+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := get("/sandbox/calls", ""); code != 200 {
				t.Errorf("/sandbox/calls = %d", code)
			}
			if code := get("/crm/v3/objects/companies?limit=1", "wrong"); code != 401 {
				t.Errorf("a wrong token = %d, want 401", code)
			}
			want := 200
			if bare {
				want = 400 // no such object in a new portal
			}
			if code := get("/crm/v3/objects/p_partner_registration?limit=1", "tok-e2e"); code != want {
				t.Errorf("the partner_registration object answered %d, want %d", code, want)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sandbox exited with %v on SIGTERM", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("sandbox did not stop on SIGTERM")
			}
		})
	}
}
