package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/connect"
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

var hubspotSandboxLine = regexp.MustCompile(`HubSpot sandbox at (http://127\.0\.0\.1:\d+) `)

// startHubSpotSandbox runs `regsync sandbox` (HubSpot) in the test and
// returns its base URL and output; it stops at cleanup.
func startHubSpotSandbox(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- runContext(ctx, out, errOut, append([]string{"sandbox", "--addr", "127.0.0.1:0"}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("sandbox exited %d: %s", c, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("the sandbox did not stop within 10s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := hubspotSandboxLine.FindStringSubmatch(out.String()); m != nil {
			return m[1], out
		}
		select {
		case c := <-code:
			code <- c
			t.Fatalf("sandbox exited %d: %s%s", c, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox printed no address within 20s: %q %q", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSandboxSearchLag: `regsync sandbox` lags search behind writes by
// --search-lag, 2s by default (a company created through it is read at
// once, found by search only later); --search-lag 0 finds it at once; a
// bad value is a usage error.
func TestSandboxSearchLag(t *testing.T) {
	call := func(base, method, path string, body any) map[string]any {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+connect.SandboxToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, m, err)
		}
		return m
	}
	// create makes a company, reads it back by id, and returns found,
	// which says whether search finds it now.
	create := func(base, name string) (id string, found func() bool) {
		id, _ = call(base, "POST", "/crm/v3/objects/companies", map[string]any{"properties": map[string]string{"name": name}})["id"].(string)
		call(base, "GET", "/crm/v3/objects/companies/"+id, nil) // read at once either way
		return id, func() bool {
			res := call(base, "POST", "/crm/v3/objects/companies/search", map[string]any{
				"filterGroups": []any{map[string]any{"filters": []any{map[string]string{"propertyName": "name", "operator": "EQ", "value": name}}}}})
			return res["total"] == float64(1)
		}
	}

	base, out := startHubSpotSandbox(t)
	if !strings.Contains(out.String(), "search lag: 2s") {
		t.Errorf("the startup text does not tell the search lag:\n%s", out.String())
	}
	_, found := create(base, "Lagging Example Ltd")
	if found() {
		t.Error("with the default lag, search found a company created just now")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !found() {
		if time.Now().After(deadline) {
			t.Fatal("search never found the company")
		}
		time.Sleep(500 * time.Millisecond) // within the 5 searches a second
	}

	base, out = startHubSpotSandbox(t, "--search-lag", "0", "--bare")
	if !strings.Contains(out.String(), "search lag: none") {
		t.Errorf("startup text with --search-lag 0:\n%s", out.String())
	}
	if _, found := create(base, "Instant Example Ltd"); !found() {
		t.Error("with --search-lag 0, search did not find a company created just now")
	}

	if code, out, _ := runCLI(t, "sandbox", "--help"); code != 0 || !strings.Contains(out, "--search-lag duration") || !strings.Contains(out, "(default 2s)") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--search-lag", "soon"}, `invalid argument "soon" for "--search-lag" flag`},
		{[]string{"--search-lag=-1s"}, "--search-lag -1s: must be between 0 and 1m"},
		{[]string{"--search-lag", "2m"}, "--search-lag 2m0s: must be between 0 and 1m"},
		{[]string{"--crm", "salesforce", "--search-lag", "1s"}, "--search-lag is for --crm hubspot"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"sandbox", "--addr", "127.0.0.1:0"}, tc.args...)
		if code := runContext(ctxFor(t), &out, &errOut, args...); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
