package hubspot

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTenSecondWindow(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, PerTenSeconds: 5, Daily: 1000, LimitNow: lim.Now})
	c := newTC(t, s)
	for i := range 5 {
		r := c.do("GET", "/crm/v3/objects/companies", nil)
		if r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
		h := r.header
		if h.Get("X-HubSpot-RateLimit-Max") != "5" || h.Get("X-HubSpot-RateLimit-Remaining") != itoa(4-i) ||
			h.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" || h.Get("X-HubSpot-RateLimit-Daily") != "1000" ||
			h.Get("X-HubSpot-RateLimit-Daily-Remaining") != itoa(999-i) {
			t.Errorf("call %d headers: %v", i, h)
		}
		lim.Advance(time.Second)
	}
	r := c.do("GET", "/crm/v3/objects/companies", nil)
	if r.status != 429 {
		t.Fatalf("6th call in 10 s: %d", r.status)
	}
	b := r.obj(t)
	if b["policyName"] != "TEN_SECONDLY_ROLLING" || b["errorType"] != "RATE_LIMIT" || b["status"] != "error" ||
		str(b, "correlationId") == "" || str(b, "requestId") == "" || !strings.Contains(str(b, "message"), "ten_secondly_rolling") {
		t.Errorf("429 body %s", r.body)
	}
	if r.header.Get("X-HubSpot-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers %v", r.header)
	}
	// The window rolls: the first call leaves it 10 s after it was made.
	lim.Advance(5 * time.Second)
	if r := c.do("GET", "/crm/v3/objects/companies", nil); r.status != 200 {
		t.Errorf("after the first call left the window: %d", r.status)
	}
	if r := c.do("GET", "/crm/v3/objects/companies", nil); r.status != 429 {
		t.Errorf("window full again: %d", r.status)
	}
	if s.Count429() != 2 {
		t.Errorf("Count429 = %d", s.Count429())
	}
	// Searches do not count against the 10-second window.
	if r := c.do("POST", "/crm/v3/objects/companies/search", map[string]any{}); r.status != 200 {
		t.Errorf("search with the 10-second window full: %d", r.status)
	}
}

func TestSearchSecondlyLimit(t *testing.T) {
	lim := NewClock(t0)
	s := startT(t, Options{Bare: true, LimitNow: lim.Now}) // default: 5 per second
	c := newTC(t, s)
	for i := range 5 {
		r := c.do("POST", "/crm/v3/objects/deals/search", map[string]any{})
		if r.status != 200 {
			t.Fatalf("search %d: %d", i, r.status)
		}
		for k := range r.header {
			if strings.HasPrefix(strings.ToLower(k), "x-hubspot-ratelimit") {
				t.Errorf("search answer carries %s", k)
			}
		}
	}
	r := c.do("POST", "/crm/v3/objects/deals/search", map[string]any{})
	if r.status != 429 || r.obj(t)["message"] != "You have reached your secondly limit." {
		t.Fatalf("6th search in a second: %d %s", r.status, r.body)
	}
	lim.Advance(time.Second + time.Millisecond)
	if r := c.do("POST", "/crm/v3/objects/deals/search", map[string]any{}); r.status != 200 {
		t.Errorf("a second later: %d", r.status)
	}
	// Four per second, as the client defaults to.
	s4 := startT(t, Options{Bare: true, SearchPerSecond: 4, LimitNow: lim.Now})
	c4 := newTC(t, s4)
	for range 4 {
		c4.must(200, "POST", "/crm/v3/objects/deals/search", map[string]any{})
	}
	if r := c4.do("POST", "/crm/v3/objects/deals/search", map[string]any{}); r.status != 429 {
		t.Errorf("5th search with a limit of 4: %d", r.status)
	}
}

func TestDailyLimit(t *testing.T) {
	lim := NewClock(time.Date(2025, 3, 14, 23, 59, 0, 0, time.UTC))
	s := startT(t, Options{Bare: true, Daily: 3, PerTenSeconds: -1, LimitNow: lim.Now})
	c := newTC(t, s)
	for range 3 {
		c.must(200, "GET", "/crm/v3/objects/companies", nil)
	}
	r := c.do("GET", "/crm/v3/objects/companies", nil)
	if r.status != 429 || r.obj(t)["policyName"] != "DAILY" || r.obj(t)["message"] != "You have reached your daily limit." {
		t.Fatalf("4th call of 3 a day: %d %s", r.status, r.body)
	}
	if r.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" || r.header.Get("X-HubSpot-RateLimit-Max") != "" {
		t.Errorf("daily 429 headers: %v", r.header)
	}
	usage := c.do("GET", "/account-info/v3/api-usage/daily/private-apps", nil)
	if usage.status != 429 {
		t.Errorf("usage endpoint past the daily limit: %d", usage.status)
	}
	lim.Advance(2 * time.Minute) // midnight UTC resets the day
	u := c.must(200, "GET", "/account-info/v3/api-usage/daily/private-apps", nil)
	if path(u, "results", 0, "usageLimit") != float64(3) || path(u, "results", 0, "currentUsage") != float64(1) ||
		str(u, "results", 0, "resetsAt") != "2025-03-16T00:00:00.000Z" {
		t.Errorf("daily usage: %v", u)
	}

	// The day ends at midnight in the portal's time zone.
	est := time.FixedZone("EST", -5*3600)
	lim2 := NewClock(time.Date(2025, 3, 15, 4, 59, 0, 0, time.UTC)) // 23:59 EST
	s2 := startT(t, Options{Bare: true, Daily: 2, PerTenSeconds: -1, LimitNow: lim2.Now, TimeZone: est, Clock: NewClock(t0)})
	c2 := newTC(t, s2)
	d := c2.must(200, "GET", "/account-info/v3/details", nil)
	if d["timeZone"] != "EST" || d["utcOffset"] != "-05:00" || d["utcOffsetMilliseconds"] != float64(-18000000) {
		t.Errorf("account details: %v", d)
	}
	if u := c2.must(200, "GET", "/account-info/v3/api-usage/daily/private-apps", nil); str(u, "results", 0, "resetsAt") != "2025-03-15T05:00:00.000Z" {
		t.Errorf("resetsAt in EST: %v", u)
	}
	if r := c2.do("GET", "/crm/v3/objects/companies", nil); r.status != 429 {
		t.Errorf("third call of 2 a day: %d", r.status)
	}
	lim2.Advance(2 * time.Minute) // 00:01 EST
	c2.must(200, "GET", "/crm/v3/objects/companies", nil)
}

func TestFaults(t *testing.T) {
	s := startT(t, Options{Bare: true, PerTenSeconds: -1})
	c := newTC(t, s)
	s.SetFaults(Faults{Force429: 2, Force423: 1, Force477: 1})
	want := []int{429, 429, 423, 477, 200}
	for i, w := range want {
		r := c.do("GET", "/crm/v3/objects/companies", nil)
		if r.status != w {
			t.Fatalf("call %d: %d, want %d: %s", i, r.status, w, r.body)
		}
		if w == 477 && r.header.Get("Retry-After") != "1" {
			t.Errorf("477 without Retry-After")
		}
		if w == 429 && r.obj(t)["policyName"] != "TEN_SECONDLY_ROLLING" {
			t.Errorf("forced 429 body %s", r.body)
		}
	}
	s.SetFaults(Faults{ServerErrorRate: 1})
	r := c.do("GET", "/crm/v3/objects/companies", nil)
	if r.status < 502 || r.status > 504 || r.obj(t)["category"] == "" {
		t.Errorf("ServerErrorRate 1: %d %s", r.status, r.body)
	}
	s.SetFaults(Faults{ServerErrorRate: 0.5})
	fails := 0
	for range 200 {
		if c.do("GET", "/crm/v3/objects/companies", nil).status >= 500 {
			fails++
		}
	}
	if fails < 60 || fails > 140 {
		t.Errorf("ServerErrorRate 0.5 failed %d of 200", fails)
	}
	s.SetFaults(Faults{Latency: 30 * time.Millisecond})
	start := time.Now()
	c.must(200, "GET", "/crm/v3/objects/companies", nil)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("latency fault: answered in %v", d)
	}
	// Unauthenticated requests are refused before any fault.
	s.SetFaults(Faults{Force429: 1})
	c.token = ""
	if r := c.do("GET", "/crm/v3/objects/companies", nil); r.status != 401 {
		t.Errorf("401 before the forced 429: %d", r.status)
	}
}

func TestCallCounter(t *testing.T) {
	s := startT(t, Options{Bare: true})
	c := newTC(t, s)
	c.must(200, "GET", "/crm/v3/objects/companies", nil)
	c.must(200, "GET", "/crm/v3/objects/deals", nil)
	c.must(200, "POST", "/crm/v3/objects/deals/search", map[string]any{})
	c.token = ""
	c.do("GET", "/crm/v3/objects/deals", nil) // 401 counts too
	if _, err := s.CreateRecord("companies", props("name", "not an API call")); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if calls["GET /crm/v3/objects/{objectType}"] != 3 || calls["POST /crm/v3/objects/{objectType}/search"] != 1 || s.TotalCalls() != 4 {
		t.Errorf("calls %v, total %d", calls, s.TotalCalls())
	}
	// GET /sandbox/calls needs no token and is not counted.
	res, err := http.Get(s.URL() + "/sandbox/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Calls    map[string]int `json:"calls"`
		Total    int            `json:"total"`
		Count429 int            `json:"count429"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("/sandbox/calls: %d %v", res.StatusCode, err)
	}
	if body.Total != 4 || body.Calls["GET /crm/v3/objects/{objectType}"] != 3 {
		t.Errorf("/sandbox/calls body %+v", body)
	}
	s.ResetCalls()
	if s.TotalCalls() != 0 || len(s.Calls()) != 0 {
		t.Errorf("after ResetCalls: %d %v", s.TotalCalls(), s.Calls())
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
