package webui

import (
	"net/http/httptest"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	cases := []struct {
		url, origin, site string
		want              bool
	}{
		{"https://partners.example.com/r/x", "https://partners.example.com", "", true},
		{"http://127.0.0.1:8080/r/x", "http://127.0.0.1:8080", "", true}, // the request's own host
		{"https://partners.example.com/r/x", "https://evil.example", "", false},
		{"https://partners.example.com/r/x", "null", "", false},
		{"https://partners.example.com/r/x", "https://partners.example.com.evil.example", "", false},
		{"https://partners.example.com/r/x", "", "same-origin", true},
		{"https://partners.example.com/r/x", "", "none", true},
		{"https://partners.example.com/r/x", "", "cross-site", false},
		{"https://partners.example.com/r/x", "", "same-site", false},
		{"https://partners.example.com/r/x", "", "", true}, // not a browser
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", c.url, nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if got := SameOrigin(r, "https://partners.example.com"); got != c.want {
			t.Errorf("%s origin %q site %q: %v", c.url, c.origin, c.site, got)
		}
	}
	if originOf("https://a.example:8443/x?y") != "https://a.example:8443" || originOf("nope") != "" {
		t.Error("originOf")
	}
}
