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
