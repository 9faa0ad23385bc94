package salesforce_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/sandbox/salesforce"
)

func injector(t *testing.T, spec string, seed uint64, o crmfault.Options) *crmfault.Injector {
	t.Helper()
	sp, err := crmfault.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxLatency == 0 {
		o.MaxLatency = 24 * time.Millisecond
	}
	return crmfault.New(sp, seed, o)
}

type sfResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// sfDo sends one API request with the static token "tok" over a fresh
// connection (no keep-alive: a reset is not retried by the transport).
func sfDo(t *testing.T, s *salesforce.Server, method, path, body string) sfResult {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(method, s.URL()+"/services/data/v63.0/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return sfResult{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return sfResult{status: res.StatusCode, header: res.Header, body: b, err: err}
}

func (r sfResult) errorCode() string {
	var items []struct{ ErrorCode string }
	if json.Unmarshal(r.body, &items) != nil || len(items) != 1 {
		return ""
	}
	return items[0].ErrorCode
}

// Each fault kind against an Account insert, over loopback with a real
// client: what the client sees, and whether the org holds the Account.
func TestInjectedFaults(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		applied bool
		check   func(t *testing.T, r sfResult)
	}{
		{"429", false, func(t *testing.T, r sfResult) {
			if r.status != 403 || r.errorCode() != "REQUEST_LIMIT_EXCEEDED" ||
				!strings.Contains(string(r.body), "ConcurrentPerOrgLongTxn Limit exceeded.") ||
				!strings.HasPrefix(r.header.Get("Sforce-Limit-Info"), "api-usage=") {
				t.Errorf("limit: %d %v %s", r.status, r.header, r.body)
			}
		}},
		{"5xx_before", false, func(t *testing.T, r sfResult) {
			if r.status != 500 && r.status != 502 && r.status != 503 {
				t.Errorf("5xx_before: %d %s %v", r.status, r.body, r.err)
			}
		}},
		{"5xx_after", true, func(t *testing.T, r sfResult) {
			if r.status != 500 && r.status != 502 && r.status != 503 {
				t.Errorf("5xx_after: %d %s %v", r.status, r.body, r.err)
			}
		}},
		{"reset_before", false, func(t *testing.T, r sfResult) {
			if r.err == nil {
				t.Errorf("reset_before answered %d %s", r.status, r.body)
			}
		}},
		{"reset_after", true, func(t *testing.T, r sfResult) {
			if r.err == nil {
				t.Errorf("reset_after answered %d %s", r.status, r.body)
			}
		}},
		{"truncate", true, func(t *testing.T, r sfResult) {
			var v map[string]any
			if r.err == nil && json.Unmarshal(r.body, &v) == nil {
				t.Errorf("truncate: the body parsed: %d %s", r.status, r.body)
			}
		}},
		{"latency", true, func(t *testing.T, r sfResult) {
			if r.status != 201 {
				t.Errorf("latency: %d %s %v", r.status, r.body, r.err)
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := start(t, salesforce.Options{Empty: true, AccessTokens: []string{"tok"}})
			s.SetInjector(injector(t, "1,"+tc.kind+"=1", 5, crmfault.Options{}))
			for i := range 4 {
				name := "Acct " + strconv.Itoa(i)
				tc.check(t, sfDo(t, s, "POST", "sobjects/Account", `{"Name":"`+name+`"}`))
				if got := len(s.Find("Account", "Name", name)); (got == 1) != tc.applied {
					t.Fatalf("%s: %d Accounts named %q in the org, applied %v", tc.kind, got, name, tc.applied)
				}
			}
			k, _ := crmfault.ParseKind(tc.kind)
			if n := s.Injector().Injected()[k]; n != 4 {
				t.Errorf("%d %s faults counted, want 4", n, tc.kind)
			}
		})
	}
}

// Every 5xx variant appears: UNKNOWN_EXCEPTION and SERVER_UNAVAILABLE in
// Salesforce's JSON, HTML pages of 502 and 503. An update answers 204, so
// a truncation has nothing to cut and passes uncounted. Without a session
// the limit is not injected: the client gets its 401.
func TestInjectedShapes(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true, AccessTokens: []string{"tok"}})
	r := sfDo(t, s, "POST", "sobjects/Account", `{"Name":"Globex"}`)
	var created struct{ ID string }
	if err := json.Unmarshal(r.body, &created); err != nil || r.status != 201 {
		t.Fatalf("insert: %d %s", r.status, r.body)
	}
	s.SetInjector(injector(t, "1,5xx_before=1", 11, crmfault.Options{}))
	seen := map[string]bool{}
	for range 40 {
		r := sfDo(t, s, "GET", "limits", "")
		kind := strconv.Itoa(r.status) + " " + r.errorCode()
		if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") && strings.Contains(string(r.body), "<html>") {
			kind = strconv.Itoa(r.status) + " html"
		}
		seen[kind] = true
	}
	for _, want := range []string{"500 UNKNOWN_EXCEPTION", "503 SERVER_UNAVAILABLE", "502 html", "503 html"} {
		if !seen[want] {
			t.Errorf("no %s among %v", want, seen)
		}
	}
	s.SetInjector(injector(t, "1,truncate=1", 1, crmfault.Options{}))
	if r := sfDo(t, s, "PATCH", "sobjects/Account/"+created.ID, `{"Name":"Globex Corp"}`); r.status != 204 || r.err != nil {
		t.Errorf("update under truncate: %d %v", r.status, r.err)
	}
	if n := s.Injector().Total(); n != 0 || len(s.Find("Account", "Name", "Globex Corp")) != 1 {
		t.Errorf("a 204 truncated: %d faults counted", n)
	}
	s.SetInjector(injector(t, "1,429=1", 1, crmfault.Options{}))
	hc := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", s.URL()+"/services/data/v63.0/limits", nil)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || s.Injector().Total() != 0 {
		t.Errorf("without a session: %d, %d faults", res.StatusCode, s.Injector().Total())
	}
}

// The token endpoint faults only with crmfault's Auth option; SetInjector
// turns faults off again.
func TestInjectedLogin(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true, Injector: injector(t, "1,5xx_before=1", 1, crmfault.Options{})})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox"}, "client_secret": {"sandbox-secret"}}
	token := func() int {
		res, err := http.PostForm(s.URL()+"/services/oauth2/token", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := token(); st != 200 {
		t.Errorf("login without Auth: %d", st)
	}
	s.SetInjector(injector(t, "1,5xx_before=1", 1, crmfault.Options{Auth: true}))
	if st := token(); st < 500 {
		t.Errorf("login with Auth: %d", st)
	}
	s.SetInjector(nil)
	if st := token(); st != 200 {
		t.Errorf("after SetInjector(nil): %d", st)
	}
}
