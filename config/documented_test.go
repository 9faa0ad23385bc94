package config

import (
	"encoding"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// configurationDoc is the reference page every configuration key must be in.
const configurationDoc = "../docs/configuration.md"

// documentedKey finds the keys docs/configuration.md documents: the first
// cell of a table row, a dotted key in backticks (see the convention at the
// top of that page).
var documentedKey = regexp.MustCompile("(?m)^\\| `([a-z0-9_]+(?:\\[\\]|\\.[a-z0-9_<>]+)*)` \\|")

// Every key of the configuration types is documented in
// docs/configuration.md, and the page documents no key the types lack: a
// key added to a config struct fails here until it has its row.
func TestEveryConfigKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range documentedKey.FindAllStringSubmatch(string(doc), -1) {
		if documented[m[1]] {
			t.Errorf("%s: key %s has two rows", configurationDoc, m[1])
		}
		documented[m[1]] = true
	}
	keys := configKeys(reflect.TypeFor[Config]())
	if len(keys) < 100 {
		t.Fatalf("only %d keys found in the config types: the walk is broken", len(keys))
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if !documented[k] {
			t.Errorf("%s does not document %s (add a row: | `%s` | default | reload | meaning |)", configurationDoc, k, k)
		}
	}
	var stale []string
	for k := range documented {
		if !known[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("%s documents %s, which is no configuration key", configurationDoc, k)
	}
}

// The walk sees through every shape the config types use, so a key added
// in any of them is found.
func TestConfigKeysWalk(t *testing.T) {
	type inner struct {
		A    int            `yaml:"a"`
		Skip string         `yaml:"-"`
		S    []string       `yaml:"s"`
		M    map[string]int `yaml:"m"`
	}
	type shared struct {
		X bool `yaml:"x"`
	}
	type root struct {
		In       inner             `yaml:"in"`
		P        *inner            `yaml:"p"`
		L        []inner           `yaml:"l"`
		MS       map[string]*inner `yaml:"ms"`
		O        int               `yaml:"o,omitempty"`
		Sec      textLeaf          `yaml:"sec"`
		Flag     *bool             `yaml:"flag"`
		Untagged string
		Shared   shared `yaml:",inline"`
		File     string `yaml:"-"`
	}
	got := strings.Join(configKeys(reflect.TypeFor[root]()), " ")
	want := "flag in.a in.m in.s l[].a l[].m l[].s ms.<name>.a ms.<name>.m ms.<name>.s o p.a p.m p.s sec untagged x"
	if got != want {
		t.Errorf("keys\n got %s\nwant %s", got, want)
	}
}

// textLeaf is a struct that decodes itself, so it is one key, not a section.
type textLeaf struct{ v string }

func (l *textLeaf) UnmarshalText(b []byte) error { l.v = string(b); return nil }

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	yamlObsolete    = reflect.TypeFor[interface {
		UnmarshalYAML(unmarshal func(any) error) error
	}]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// configKeys lists the dotted keys of a config type, sorted: a struct field
// by its yaml name, a list of structs as key[].field, a map of structs as
// key.<name>.field. A struct that decodes itself (a secret, a size) is one
// key; so is a list or map of scalars.
func configKeys(t reflect.Type) []string {
	var keys []string
	walkKeys(t, "", &keys)
	sort.Strings(keys)
	return keys
}

func walkKeys(t reflect.Type, prefix string, keys *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || decodesItself(t) {
		*keys = append(*keys, prefix)
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			walkKeys(f.Type, prefix, keys)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // as go.yaml.in/yaml/v3 names an untagged field
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Slice && isSection(ft.Elem()):
			walkKeys(ft.Elem(), key+"[]", keys)
		case ft.Kind() == reflect.Map && isSection(ft.Elem()):
			walkKeys(ft.Elem(), key+".<name>", keys)
		default:
			walkKeys(ft, key, keys)
		}
	}
}

// isSection reports whether a type is a struct of keys (not a scalar, nor a
// struct that decodes itself).
func isSection(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !decodesItself(t)
}

func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, u := range []reflect.Type{yamlUnmarshaler, yamlObsolete, textUnmarshaler} {
		if t.Implements(u) || p.Implements(u) {
			return true
		}
	}
	return false
}

// The reload column of docs/configuration.md says what config/reload.go's
// table says: "live" for a key a reload applies, "restart" for one it
// reports as waiting for a restart.
func TestConfigurationDocReloadColumn(t *testing.T) {
	doc, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| [^|]* \\| ([^|]*) \\|")
	n := 0
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		key, got := m[1], strings.TrimSpace(m[2])
		// A list's element or a map's entry reloads as the list or map.
		if i := strings.IndexAny(key, "[<"); i >= 0 {
			key = strings.TrimSuffix(key[:i], ".")
		}
		r, ok := reloadRuleFor(key)
		if !ok {
			t.Errorf("%s: no reload rule for %s", configurationDoc, m[1])
			continue
		}
		want := map[When]string{Live: "live", Restart: "restart"}[r.When]
		if got != want {
			t.Errorf("%s: %s says %q in its reload column; config/reload.go says %q (%s)", configurationDoc, m[1], got, want, r.Why)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d rows read from %s: the pattern is broken", n, configurationDoc)
	}
}
