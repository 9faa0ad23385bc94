package hubspot

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/crmfault"
)

func injector(t *testing.T, spec string, seed uint64) *crmfault.Injector {
	t.Helper()
	sp, err := crmfault.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return crmfault.New(sp, seed, crmfault.Options{MaxLatency: 24 * time.Millisecond})
}

// faultResult is what a client saw of one request.
type faultResult struct {
	status int
	header http.Header
	body   []byte
	err    error // transport or body read
}

// createCompany posts one company over a fresh connection (no keep-alive:
// the transport must not retry a reset on another connection).
func createCompany(t *testing.T, s *Server, name string) faultResult {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest("POST", s.URL()+"/crm/v3/objects/companies",
		strings.NewReader(`{"properties":{"name":"`+name+`","domain":"`+name+`.example"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sandbox-token")
	res, err := hc.Do(req)
	if err != nil {
		return faultResult{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return faultResult{status: res.StatusCode, header: res.Header, body: b, err: err}
}

func (r faultResult) parses() bool {
	var v map[string]any
	return r.err == nil && json.Unmarshal(r.body, &v) == nil
}

// Each fault kind against a company create, over loopback with a real
// client: what the client sees, and whether the portal holds the company.
func TestInjectedFaults(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		applied bool
		check   func(t *testing.T, r faultResult)
	}{
		{"429", false, func(t *testing.T, r faultResult) {
			var b map[string]any
			_ = json.Unmarshal(r.body, &b)
			after, _ := strconv.Atoi(r.header.Get("Retry-After"))
			if r.status != 429 || b["policyName"] != "TEN_SECONDLY_ROLLING" || b["errorType"] != "RATE_LIMIT" ||
				b["message"] != "You have reached your ten_secondly_rolling limit." || b["correlationId"] == "" ||
				r.header.Get("X-HubSpot-RateLimit-Remaining") != "0" || r.header.Get("X-HubSpot-RateLimit-Max") != "100" ||
				r.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" || after < 1 || after > 10 {
				t.Errorf("429: %d %v %s", r.status, r.header, r.body)
			}
		}},
		{"5xx_before", false, func(t *testing.T, r faultResult) {
			if r.status < 502 || r.status > 504 || !r.parses() || !strings.Contains(string(r.body), `"status":"error"`) {
				t.Errorf("5xx_before: %d %s %v", r.status, r.body, r.err)
			}
		}},
		{"5xx_after", true, func(t *testing.T, r faultResult) {
			if r.status < 502 || r.status > 504 || !r.parses() {
				t.Errorf("5xx_after: %d %s %v", r.status, r.body, r.err)
			}
		}},
		{"reset_before", false, func(t *testing.T, r faultResult) {
			if r.err == nil {
				t.Errorf("reset_before answered %d %s", r.status, r.body)
			}
		}},
		{"reset_after", true, func(t *testing.T, r faultResult) {
			if r.err == nil {
				t.Errorf("reset_after answered %d %s", r.status, r.body)
			}
		}},
		{"truncate", true, func(t *testing.T, r faultResult) {
			if r.parses() {
				t.Errorf("truncate: the body parsed: %d %s", r.status, r.body)
			}
		}},
		{"latency", true, func(t *testing.T, r faultResult) {
			if r.status != 201 || !r.parses() {
				t.Errorf("latency: %d %s %v", r.status, r.body, r.err)
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := startT(t, Options{Bare: true})
			s.SetInjector(injector(t, "1,"+tc.kind+"=1", 5))
			for i := range 4 {
				name := "co" + strconv.Itoa(i)
				tc.check(t, createCompany(t, s, name))
				if _, found := s.FindRecord("companies", "name", name); found != tc.applied {
					t.Fatalf("%s: company %s in the portal: %v, want %v", tc.kind, name, found, tc.applied)
				}
			}
			k, _ := crmfault.ParseKind(tc.kind)
			if n := s.Injector().Injected()[k]; n != 4 {
				t.Errorf("%d %s faults counted, want 4", n, tc.kind)
			}
		})
	}
}

// A 429 on a search names the search limit; unauthenticated requests get
// their 401, not a 429; /sandbox/calls never faults and shows the counts.
func TestInjected429Shapes(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	s.SetInjector(injector(t, "1,429=1", 1))
	r := c.do("POST", "/crm/v3/objects/companies/search", map[string]any{})
	if r.status != 429 || r.obj(t)["policyName"] != "SECONDLY" || r.obj(t)["message"] != "You have reached your secondly limit." ||
		r.header.Get("X-HubSpot-RateLimit-Max") != "" || r.header.Get("Retry-After") != "1" {
		t.Errorf("search 429: %d %v %s", r.status, r.header, r.body)
	}
	c.token = ""
	if r := c.do("GET", "/crm/v3/objects/companies", nil); r.status != 401 {
		t.Errorf("unauthenticated: %d %s", r.status, r.body)
	}
	res, err := http.Get(s.URL() + "/sandbox/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Faults map[string]int `json:"faults"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || body.Faults["429"] != 1 {
		t.Errorf("/sandbox/calls: %d %v %+v", res.StatusCode, err, body)
	}
}

// Retry-After of an injected 429 lasts until the window's oldest call
// leaves it.
func TestInjected429RetryAfter(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, LimitNow: lim.Now})
	c := newTC(t, s)
	c.must(200, "GET", "/crm/v3/objects/companies", nil)
	lim.Advance(3500 * time.Millisecond)
	s.SetInjector(injector(t, "1,429=1", 1))
	if r := c.do("GET", "/crm/v3/objects/companies", nil); r.status != 429 || r.header.Get("Retry-After") != "7" {
		t.Errorf("Retry-After %q (status %d), want 7: the first call leaves the window in 6.5s", r.header.Get("Retry-After"), r.status)
	}
}

// Options.Injector faults from the start; the OAuth token endpoint only
// with crmfault's Auth option.
func TestInjectorOptionAndOAuth(t *testing.T) {
	app := &OAuthApp{ClientID: "id", ClientSecret: "secret", RefreshToken: "refresh"}
	s := startT(t, Options{Bare: true, OAuth: app, Injector: injector(t, "1,5xx_before=1", 1)})
	form := "grant_type=refresh_token&client_id=id&client_secret=secret&refresh_token=refresh"
	token := func() int {
		res, err := http.Post(s.URL()+"/oauth/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode
	}
	if st := token(); st != 200 {
		t.Errorf("token without Auth: %d", st)
	}
	sp, _ := crmfault.Parse("1,5xx_before=1")
	s.SetInjector(crmfault.New(sp, 1, crmfault.Options{Auth: true}))
	if st := token(); st < 502 || st > 504 {
		t.Errorf("token with Auth: %d", st)
	}
	s.SetInjector(nil)
	if st := token(); st != 200 || s.Injector() != nil {
		t.Errorf("after SetInjector(nil): %d", st)
	}
}
