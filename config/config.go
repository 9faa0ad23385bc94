// Package config loads regsync's one YAML configuration file.
//
// viper finds the file (--config, REGSYNC_CONFIG, ./regsync.yaml) and reads
// REGSYNC_* environment overrides; the YAML itself is decoded strictly with
// go.yaml.in/yaml/v3, so that an unknown or misspelt key, a wrong type or an
// invalid value stops startup with "file:line: what is wrong".
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/rules"
)

// Config is the whole configuration.
type Config struct {
	Server   Server          `yaml:"server"`
	State    State           `yaml:"state"`
	CRM      CRM             `yaml:"crm"`
	HubSpot  hubspot.Config  `yaml:"hubspot"`
	Partners []rules.Partner `yaml:"partners"`
	Rules    rules.Rules     `yaml:"rules"`

	// File is the path the configuration was read from.
	File string `yaml:"-"`
	// Policy is Partners and Rules, validated and compiled.
	Policy *rules.Policy `yaml:"-"`
}

// Server is the HTTP server.
type Server struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
}

// State is the local bbolt state file.
type State struct {
	Path string `yaml:"path"`
}

// CRM kinds.
const (
	KindSandbox    = "sandbox"
	KindHubSpot    = "hubspot"
	KindSalesforce = "salesforce"
)

// CRM selects the CRM regsync syncs with.
type CRM struct {
	// Kind is sandbox (an embedded fake HubSpot on loopback), hubspot or
	// salesforce.
	Kind string `yaml:"kind"`
}

// Default returns the configuration with every key at its default.
func Default() Config {
	return Config{
		Server:  Server{Addr: "127.0.0.1:8080"},
		State:   State{Path: "regsync.db"},
		CRM:     CRM{Kind: KindSandbox},
		HubSpot: hubspot.DefaultConfig(),
		Rules:   rules.DefaultRules(),
	}
}

// EnvPrefix prefixes every environment override.
const EnvPrefix = "REGSYNC"

// ErrNoConfig is returned by Find when no configuration file is named or found.
var ErrNoConfig = errors.New("no configuration file: pass --config FILE, set REGSYNC_CONFIG, or create ./regsync.yaml")

// Find returns the configuration file to read: the --config flag value if
// given, else $REGSYNC_CONFIG, else ./regsync.yaml (or .yml) if it exists.
func Find(flag string) (string, error) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	if err := v.BindEnv("config"); err != nil {
		return "", err
	}
	if flag != "" {
		v.Set("config", flag)
	}
	if p := v.GetString("config"); p != "" {
		return p, nil
	}
	for _, p := range []string{"regsync.yaml", "regsync.yml"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoConfig
}

// Load reads and validates the configuration file at path, applying
// REGSYNC_* environment overrides.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, true)
}

// LoadFile reads and validates a configuration file without environment
// overrides (rule tests use it, so results never depend on the shell).
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, false)
}

// Parse decodes and validates a configuration; with env set, REGSYNC_*
// environment variables override the file's scalar settings.
func Parse(file string, data []byte, env bool) (*Config, error) {
	c := Default()
	doc, err := yamlx.Decode(file, data, &c)
	if err != nil {
		return nil, err
	}
	if env {
		if err := applyEnv(&c); err != nil {
			return nil, err
		}
	}
	if err := c.validate(); err != nil {
		return nil, doc.Annotate(err)
	}
	c.File = file
	for i := range c.Partners {
		if c.Partners[i].Active == nil {
			t := true
			c.Partners[i].Active = &t
		}
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		errs = append(errs, yamlx.Errorf(yamlx.Path("server", "addr"), "%q is not host:port", c.Server.Addr))
	}
	if strings.TrimSpace(c.State.Path) == "" {
		errs = append(errs, yamlx.Errorf(yamlx.Path("state", "path"), "a state file path is required"))
	}
	switch c.CRM.Kind {
	case KindSandbox, KindHubSpot, KindSalesforce:
	default:
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "kind"), "must be sandbox, hubspot or salesforce, not %q", c.CRM.Kind))
	}
	if err := c.HubSpot.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.CRM.Kind == KindHubSpot && !c.HubSpot.Token.IsSet() && !c.HubSpot.RefreshToken.IsSet() {
		errs = append(errs, yamlx.Errorf(yamlx.Path("hubspot", "token"),
			"crm.kind is hubspot: set a private-app token (REGSYNC_HUBSPOT_TOKEN) or an OAuth refresh_token"))
	}
	p, err := rules.NewPolicy(c.Partners, c.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	c.Policy = p
	return errors.Join(errs...)
}

// Effective renders the configuration as YAML, defaults included and every
// secret shown as <secret>.
func (c *Config) Effective() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var secretType = reflect.TypeFor[secret.Secret]()

// leaves lists the dotted keys of every scalar setting reachable through
// nested structs (lists and maps are not overridable from the environment).
func leaves(t reflect.Type, prefix string, out *[]leaf, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		switch {
		case f.Type == secretType:
			*out = append(*out, leaf{key, idx})
		case f.Type.Kind() == reflect.Struct:
			leaves(f.Type, key, out, idx)
		case f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Int, f.Type.Kind() == reflect.Bool,
			f.Type.Kind() == reflect.Float64, f.Type.Kind() == reflect.Int64:
			*out = append(*out, leaf{key, idx})
		}
	}
}

type leaf struct {
	key   string
	index []int
}

// EnvName is the environment variable that overrides a dotted key:
// server.addr → REGSYNC_SERVER_ADDR.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvKeys lists every key that a REGSYNC_* variable can override.
func EnvKeys() []string {
	var ls []leaf
	leaves(reflect.TypeFor[Config](), "", &ls, nil)
	keys := make([]string, len(ls))
	for i, l := range ls {
		keys[i] = l.key
	}
	return keys
}

func applyEnv(c *Config) error {
	v := viper.New()
	var ls []leaf
	leaves(reflect.TypeFor[Config](), "", &ls, nil)
	var errs []error
	root := reflect.ValueOf(c).Elem()
	for _, l := range ls {
		name := EnvName(l.key)
		if err := v.BindEnv(l.key, name); err != nil {
			return err
		}
		if !v.IsSet(l.key) {
			continue
		}
		if err := setScalar(root.FieldByIndex(l.index), v.GetString(l.key)); err != nil {
			errs = append(errs, fmt.Errorf("environment %s (%s): %w", name, l.key, err))
		}
	}
	return errors.Join(errs...)
}

func setScalar(field reflect.Value, text string) error {
	switch {
	case field.Type() == secretType:
		var s secret.Secret
		if err := s.Set(text); err != nil {
			return err
		}
		field.Set(reflect.ValueOf(s))
		return nil
	case field.Kind() == reflect.String:
		field.SetString(text)
		return nil
	}
	ptr := reflect.New(field.Type())
	if err := yaml.Unmarshal([]byte(text), ptr.Interface()); err != nil {
		return fmt.Errorf("cannot use %q as %s", text, field.Type())
	}
	field.Set(ptr.Elem())
	return nil
}
