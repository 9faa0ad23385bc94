package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runSandboxUntil runs `regsync sandbox args...` in the test until its
// output matches re (or it exits, or 20s pass), and stops it at cleanup.
func runSandboxUntil(t *testing.T, re *regexp.Regexp, args ...string) []string {
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
		case <-code:
		case <-time.After(10 * time.Second):
			t.Error("the sandbox did not stop within 10s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case c := <-code:
			t.Fatalf("sandbox exited %d: %s%s", c, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox printed no %s within 20s: %q %q", re, out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getJSON(t *testing.T, req *http.Request, v any) int {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		_ = json.NewDecoder(res.Body).Decode(v)
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
	}
	return res.StatusCode
}

// `regsync sandbox --faults` sets the HubSpot portal up first, then faults
// its API requests, says the faults and the seed, and counts them in
// /sandbox/calls.
func TestSandboxFaultsHubSpot(t *testing.T) {
	m := runSandboxUntil(t, regexp.MustCompile(`HubSpot sandbox at (http://127\.0\.0\.1:\d+) (?s:.*)(faults: .*)\n`),
		"--faults", "1,5xx_before=1", "--faults-seed", "7", "--search-lag", "0")
	base, line := m[1], m[2]
	if want := "faults: 100% of requests: 5xx_before 100% (--faults 1,5xx_before=1); seed 7 (--faults-seed 7 draws them again)"; line != want {
		t.Errorf("faults line %q, want %q", line, want)
	}
	req, _ := http.NewRequest("GET", base+"/crm/v3/objects/p_partner_registration?limit=1", nil)
	req.Header.Set("Authorization", "Bearer sandbox-token")
	if st := getJSON(t, req, nil); st < 502 || st > 504 {
		t.Errorf("an API request under --faults 1,5xx_before=1: %d", st)
	}
	var calls struct {
		Faults map[string]int `json:"faults"`
	}
	req, _ = http.NewRequest("GET", base+"/sandbox/calls", nil)
	if st := getJSON(t, req, &calls); st != 200 || calls.Faults["5xx_before"] != 1 {
		t.Errorf("/sandbox/calls: %d %+v", st, calls)
	}
}

// The Salesforce sandbox faults API requests from the start (its object is
// in place), not the login; without --faults-seed the seed comes from the
// clock and is printed.
func TestSandboxFaultsSalesforce(t *testing.T) {
	m := runSandboxUntil(t, regexp.MustCompile(`Salesforce sandbox at (http://127\.0\.0\.1:\d+) (?s:.*)(faults: .*)\n`),
		"--crm", "salesforce", "--faults", "1,429=1")
	base, line := m[1], m[2]
	if !regexp.MustCompile(`^faults: 100% of requests: 429 100% \(--faults 1,429=1\); seed (\d+) \(--faults-seed (\d+) draws them again\)$`).MatchString(line) {
		t.Errorf("faults line %q", line)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox"}, "client_secret": {"sandbox-secret"}}
	req, _ := http.NewRequest("POST", base+"/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st := getJSON(t, req, &tok); st != 200 || tok.AccessToken == "" {
		t.Fatalf("login under faults: %d", st)
	}
	var errs []struct{ ErrorCode string }
	req, _ = http.NewRequest("GET", base+"/services/data/v63.0/limits", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if st := getJSON(t, req, &errs); st != 403 || len(errs) != 1 || errs[0].ErrorCode != "REQUEST_LIMIT_EXCEEDED" {
		t.Errorf("an API request under --faults 1,429=1: %d %+v", st, errs)
	}
	var calls struct {
		Faults map[string]int `json:"faults"`
	}
	req, _ = http.NewRequest("GET", base+"/sandbox/calls", nil)
	if st := getJSON(t, req, &calls); st != 200 || calls.Faults["429"] != 1 {
		t.Errorf("/sandbox/calls: %d %+v", st, calls)
	}
}

// Bad fault flags are usage errors that say what is wrong.
func TestSandboxFaultsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--faults", "0.2,timeout=1"}, `regsync: --faults: unknown fault kind "timeout" (kinds: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency)` + "\n"},
		{[]string{"--faults", "2"}, "regsync: --faults: fault rate 2 is not between 0 and 1\n"},
		{[]string{"--faults-seed", "3"}, "regsync: --faults-seed needs --faults\n"},
	} {
		code, _, errOut := runCLI(t, append([]string{"sandbox", "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != exitUsage || errOut != tc.want {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}
