package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const value = "pat-na1-11111111-2222-3333-4444-555555555555"

// No ordinary way of printing, logging or encoding a Secret shows its value.
func TestNeverPrinted(t *testing.T) {
	s := New(value)
	type holder struct {
		Token Secret `yaml:"token" json:"token"`
	}
	h := holder{Token: s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	j, _ := json.Marshal(h)
	y, _ := yaml.Marshal(h)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("login", "token", s, "holder", h)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("login", "token", s)
	outs = append(outs, string(j), string(y), logged.String(), s.String(), fmt.Sprint(s))
	for _, o := range outs {
		if strings.Contains(o, "5555") || strings.Contains(o, "pat-na1") {
			t.Fatalf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(string(y), "token: <secret>") || !strings.Contains(string(j), `"token":"\u003csecret\u003e"`) {
		t.Fatalf("redacted forms wrong: %s %s", y, j)
	}
	if s.Reveal() != value || !s.IsSet() || New("").IsSet() || New("").String() != "" {
		t.Fatal("Reveal/IsSet wrong")
	}
}

func TestUnmarshalAndFile(t *testing.T) {
	var h struct {
		Token Secret `yaml:"token"`
	}
	if err := yaml.Unmarshal([]byte("token: abc\n"), &h); err != nil || h.Token.Reveal() != "abc" {
		t.Fatalf("%v %q", err, h.Token.Reveal())
	}
	err := yaml.Unmarshal([]byte("token: file:/nonexistent/regsync-secret\n"), &h)
	if err == nil || !strings.Contains(err.Error(), "read secret file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pass@host.example/x", "https://user:<secret>@host.example/x"},
		{"https://regsync:TOKEN@host/intake/email", "https://regsync:<secret>@host/intake/email"},
		{"https://ghp_token123@github.example/repo", "https://<secret>@github.example/repo"},
		{"https://host/hook?token=abc&portal=1", "https://host/hook?token=<secret>&portal=<secret>"},
		{"https://host/hook?abc123", "https://host/hook?<secret>"},
		{"https://host/cb#access_token=xyz&state=s", "https://host/cb#access_token=<secret>&state=<secret>"},
		{"https://host/page#section-2", "https://host/page#section-2"},
		{"https://host/x?empty=&flag", "https://host/x?empty=&<secret>"},
		{"http://127.0.0.1:8080/webhooks/hubspot", "http://127.0.0.1:8080/webhooks/hubspot"},
		{`public_url: "ftp://a:b@h" is not an http(s) URL`, `public_url: "ftp://a:<secret>@h" is not an http(s) URL`},
		{"see https://u:p@h/path?k=v.", "see https://u:<secret>@h/path?k=<secret>."},
		{"(at https://h/x?k=v), then", "(at https://h/x?k=<secret>), then"},
		{"postgres://admin:s3cr3t@db:5432/regsync?sslmode=disable", "postgres://admin:<secret>@db:5432/regsync?sslmode=<secret>"},
		{"two: https://a:1@x and https://b:2@y", "two: https://a:<secret>@x and https://b:<secret>@y"},
		{"no url here: host:port 127.0.0.1:993, mailto:a@b", "no url here: host:port 127.0.0.1:993, mailto:a@b"},
		{"https://u:p@h?q=1#frag", "https://u:<secret>@h?q=<secret>#frag"},
	} {
		if got := RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
