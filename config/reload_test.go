package config

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/secret"
)

var update = flag.Bool("update", false, "rewrite docs/reload.md from the reload table")

// Every key of Config has a rule, and every rule covers a key: a setting
// added without saying what a reload does with it fails here, and so does
// a rule left behind by a setting that went away.
func TestReloadTableCoversEveryKey(t *testing.T) {
	if len(allSettings) < 150 {
		t.Fatalf("only %d settings found: the reflection walk is broken", len(allSettings))
	}
	used := map[string]bool{}
	for _, s := range allSettings {
		r, ok := reloadRuleFor(s.key)
		if !ok {
			t.Errorf("%s: no reload rule says whether a reload applies it (add one to reloadRules in config/reload.go)", s.key)
			continue
		}
		used[r.Key] = true
	}
	seen := map[string]bool{}
	for _, r := range reloadRules {
		if seen[r.Key] {
			t.Errorf("reload rule %q is written twice", r.Key)
		}
		seen[r.Key] = true
		if !used[r.Key] {
			t.Errorf("reload rule %q decides no key: a setting it named is gone, or a more specific rule overrides it everywhere", r.Key)
		}
		if r.When != Live && r.When != Restart {
			t.Errorf("reload rule %q: When %d is neither Live nor Restart", r.Key, r.When)
		}
		if !strings.HasSuffix(r.Why, ".") || len(r.Why) < 20 {
			t.Errorf("reload rule %q: say why in a sentence, not %q", r.Key, r.Why)
		}
	}
}

// Key by key: a configuration with that one setting changed is reported
// in the list its rule says, and in no other; the unchanged configuration
// reports nothing.
func TestChangesReportsEachKeyInItsList(t *testing.T) {
	base := loadForReload(t)
	if live, restart := Changes(base, loadForReload(t)); len(live)+len(restart) != 0 {
		t.Fatalf("the same file read twice differs: live %v, restart %v", live, restart)
	}
	for _, s := range allSettings {
		t.Run(s.key, func(t *testing.T) {
			next := loadForReload(t)
			change(t, reflect.ValueOf(next).Elem().FieldByIndex(s.index))
			live, restart := Changes(base, next)
			r, _ := reloadRuleFor(s.key)
			want, other := restart, live
			if r.When == Live {
				want, other = live, restart
			}
			if !slices.Equal(want, []string{s.key}) || len(other) != 0 {
				t.Errorf("changing %s (rule %q) reported live %v, restart %v", s.key, r.Key, live, restart)
			}
		})
	}
}

// A changed secret is named, never shown.
func TestChangesNeverShowsASecret(t *testing.T) {
	base := loadForReload(t)
	next := loadForReload(t)
	next.HubSpot.Token = secret.New("pat-na1-very-secret-token")
	next.Notify.SlackWebhookURL = secret.New("https://hooks.slack.example/services/T0/B0/secretpart")
	live, restart := Changes(base, next)
	got := fmt.Sprint(live, restart)
	if strings.Contains(got, "secret-token") || strings.Contains(got, "secretpart") {
		t.Fatalf("Changes shows a secret: %s", got)
	}
	if !slices.Equal(live, []string{"notify.slack_webhook_url"}) || !slices.Equal(restart, []string{"hubspot.token"}) {
		t.Errorf("live %v, restart %v", live, restart)
	}
}

// InForce takes the live settings from the new file and keeps the started
// values of the others, so a restart key keeps being reported until the
// daemon restarts.
func TestInForceKeepsRestartSettings(t *testing.T) {
	started := loadForReload(t)
	next := loadForReload(t)
	next.Server.Addr = "127.0.0.1:9999"
	next.State.Path = "/elsewhere/regsync.db"
	next.Schedule.Sweep = "@hourly"
	next.Rules.HoldWindow.Days = 45
	c := InForce(started, next)
	if c.Server.Addr != started.Server.Addr || c.State.Path != started.State.Path {
		t.Errorf("restart settings not kept: addr %q, state %q", c.Server.Addr, c.State.Path)
	}
	if c.Schedule.Sweep != "@hourly" || c.Rules.HoldWindow.Days != 45 || c.Policy != next.Policy {
		t.Errorf("live settings not taken: sweep %q, hold %d days", c.Schedule.Sweep, c.Rules.HoldWindow.Days)
	}
	if _, restart := Changes(started, next); !slices.Equal(restart, []string{"server.addr", "state.path"}) {
		t.Errorf("restart %v", restart)
	}
	if live, restart := Changes(c, InForce(started, next)); len(live)+len(restart) != 0 {
		t.Errorf("reloading the same file again: live %v, restart %v", live, restart)
	}
}

// docs/reload.md is the reload table; go test ./config -run TestReloadDoc
// -update writes it.
func TestReloadDoc(t *testing.T) {
	const path = "../docs/reload.md"
	const begin, end = "<!-- BEGIN reload table (go test ./config -run TestReloadDoc -update) -->\n", "<!-- END reload table -->\n"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated table between %q and %q", path, begin, end)
	}
	want := doc[:i+len(begin)] + reloadDoc() + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not the reload table of config/reload.go: run go test ./config -run TestReloadDoc -update", path)
}

// reloadDoc renders the reload table as Markdown: one row per rule with
// the keys it decides.
func reloadDoc() string {
	keys := map[string][]string{}
	for _, s := range allSettings {
		r, _ := reloadRuleFor(s.key)
		keys[r.Key] = append(keys[r.Key], "`"+s.key+"`")
	}
	var b strings.Builder
	b.WriteString("| setting | on reload | why | keys |\n|---|---|---|---|\n")
	for _, r := range reloadRules {
		name := r.Key
		if strings.HasSuffix(name, ".") {
			name += "*"
		}
		when := "applied"
		if r.When == Restart {
			when = "**restart**"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, when, r.Why, strings.Join(keys[r.Key], ", "))
	}
	return b.String()
}

// loadForReload reads the example configuration, whose every section is
// filled in.
func loadForReload(t *testing.T) *Config {
	t.Helper()
	c, err := LoadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// change gives a setting another value of its type.
func change(t *testing.T, v reflect.Value) {
	t.Helper()
	switch {
	case v.Type() == secretType:
		v.Set(reflect.ValueOf(secret.New(v.Interface().(secret.Secret).Reveal() + "-changed")))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "-changed")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, v.MapIndex(k))
		}
		m.SetMapIndex(reflect.ValueOf("changed-key").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		v.Set(m)
	default:
		t.Fatalf("no way to change a %s", v.Type())
	}
}
