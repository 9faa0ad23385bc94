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
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/dashboard"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// Config is the whole configuration.
type Config struct {
	Server     Server               `yaml:"server"`
	State      State                `yaml:"state"`
	CRM        CRM                  `yaml:"crm"`
	HubSpot    hubspot.Config       `yaml:"hubspot"`
	Salesforce salesforce.Config    `yaml:"salesforce"`
	Schedule   Schedule             `yaml:"schedule"`
	Admin      Admin                `yaml:"admin"`
	Worker     Worker               `yaml:"worker"`
	Notify     Notify               `yaml:"notify"`
	Intake     intake.Config        `yaml:"intake"`
	Mail       mail.Config          `yaml:"mail"`
	Dashboard  dashboard.Config     `yaml:"dashboard"`
	Summaries  report.SummaryConfig `yaml:"summaries"`
	Partners   []rules.Partner      `yaml:"partners"`
	Rules      rules.Rules          `yaml:"rules"`

	// File is the path the configuration was read from.
	File string `yaml:"-"`
	// Policy is Partners and Rules, validated and compiled.
	Policy *rules.Policy `yaml:"-"`

	// set are the dotted keys the file or the environment set (see IsSet).
	set func(key string) bool
}

// IsSet reports whether the configuration file or a REGSYNC_* variable set
// a dotted key ("hubspot.poll_settle"), rather than leaving it at its
// default. A configuration not read by Parse sets none.
func (c *Config) IsSet(key string) bool {
	return c.set != nil && c.set(key)
}

// Server is the HTTP server.
type Server struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
	// PublicURL is how partners and the CRM reach this server (status
	// links, webhook subscriptions); default http://<addr>.
	PublicURL string `yaml:"public_url"`
	// ShutdownTimeout bounds a graceful stop: intake closes, work in flight
	// drains, the state file closes.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Schedule holds the cron schedules (robfig/cron syntax: five fields, or
// descriptors such as @hourly and @every 5m).
type Schedule struct {
	// Sweep expires windows, settles conflicts and escalates missed SLAs.
	Sweep string `yaml:"sweep"`
	// Reconcile compares every active registration with what regsync last
	// saw: the safety net behind webhooks and polling.
	Reconcile string `yaml:"reconcile"`
	// Summaries e-mails each partner the weekly summary of its
	// registrations (see the summaries section).
	Summaries string `yaml:"summaries"`
	// Timezone the schedules are read in (IANA name).
	Timezone string `yaml:"timezone"`
}

// Admin is the daemon's admin API (/-/…): its own listener, on loopback
// unless Public says otherwise, behind a bearer token.
type Admin struct {
	// Addr is where the admin API listens, host:port (default
	// DefaultAdminAddr, loopback). The daemon writes the address it got to
	// <state.path>.admin-addr, where the CLI finds it. Equal to server.addr
	// (a port other than 0), the admin API shares the public listener.
	Addr string `yaml:"addr"`
	// Public allows the admin API to be reachable from other hosts: on a
	// non-loopback admin.addr, or on the public listener (admin.addr equal
	// to server.addr). Off (the default), either stops startup.
	Public bool `yaml:"public"`
	// Token is the bearer token of /-/ endpoints, at least MinAdminTokenLen
	// characters. When unset, serve generates one at startup and writes it
	// to <state.path>.admin-token (mode 0600), where the CLI on the same
	// machine finds it.
	Token secret.Secret `yaml:"token"`
}

// DefaultAdminAddr is where the admin API listens by default: loopback,
// beside server.addr's default 127.0.0.1:8080 and the sandbox's 8081.
const DefaultAdminAddr = "127.0.0.1:9091"

// MinAdminTokenLen is the shortest admin.token accepted (a generated token
// is 32 characters).
const MinAdminTokenLen = 32

// AdminShared reports whether the admin API shares the public listener:
// admin.addr is server.addr, with a fixed port (two ":0" addresses are two
// listeners).
func (c *Config) AdminShared() bool {
	_, port, err := net.SplitHostPort(c.Admin.Addr)
	return err == nil && port != "0" && c.Admin.Addr == c.Server.Addr
}

// Worker tunes the inbox drain.
type Worker struct {
	// BatchSize is how many records one batch decides (≤ 100).
	BatchSize int `yaml:"batch_size"`
	// Concurrency is how many batches run at once.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts is no longer used and is accepted only so that older
	// files still load. A transient failure (retry, postpone, unknown) is
	// retried however many times it recurs, with a backoff capped at 30
	// minutes; a permanent one goes to the dead letters at once
	// (docs/errors.md).
	//
	// Deprecated: ignored.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// RecheckAfter is when a registration waiting on an earlier rival
	// (in_review conflict_pending) is looked at again, besides the sweeps.
	RecheckAfter time.Duration `yaml:"recheck_after"`
}

// Notify configures partner and AE notifications.
type Notify struct {
	// Enabled sends partner e-mails on every status change.
	Enabled bool `yaml:"enabled"`
	// Outbox, when set, writes every message as a file in this directory
	// instead of sending it (the sandbox default: outbox/).
	Outbox string `yaml:"outbox"`
	// EscalationTo receives SLA escalations for partners without a manager.
	EscalationTo []string `yaml:"escalation_to"`
	// SlackWebhookURL, when set, posts AE messages (registrations sent to
	// review or appealed, SLA escalations)
	// to a Slack incoming webhook.
	SlackWebhookURL secret.Secret `yaml:"slack_webhook_url"`
	// Templates override the partner e-mails per status ("" or "default"
	// for every status without its own): text/template sources for subject
	// and text, or file:/path for either.
	Templates map[string]worker.Template `yaml:"templates"`
}

// State is the local bbolt state file.
type State struct {
	Path string `yaml:"path"`
	// AuditRetention is how long audit entries are kept; older ones are
	// deleted by the state maintenance loop (hourly). At least a day;
	// default 400 days (9600h). A reload applies at the next run.
	AuditRetention time.Duration `yaml:"audit_retention"`
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
	// Sandbox configures the embedded fake CRM of kind sandbox.
	Sandbox Sandbox `yaml:"sandbox"`
}

// Sandbox is the embedded fake HubSpot that kind sandbox runs.
type Sandbox struct {
	// Addr is where the fake listens (loopback).
	Addr string `yaml:"addr"`
	// Seed is a directory of seed JSON; empty: the seed shipped in the binary.
	Seed string `yaml:"seed"`
	// PerTenSeconds is the fake's rate limit (HubSpot Free/Starter: 100).
	PerTenSeconds int `yaml:"per_10s"`
	// SearchLag is how long the fake's search takes to see a write, as
	// HubSpot's search index lags writes (0: at once; at most
	// MaxSandboxSearchLag). Unless hubspot.poll_settle is set, the
	// daemon's client on the sandbox settles polls for SearchLag + 1s.
	SearchLag time.Duration `yaml:"search_lag"`
	// Faults makes the sandbox misbehave as HubSpot does, from the moment
	// it is set up: a crmfault spec RATE[,KIND=WEIGHT...] ("0.2": a fifth
	// of the API requests get a 429, a 5xx or a reset before or after
	// being applied, a truncated answer or latency); empty: none.
	Faults string `yaml:"faults"`
	// FaultsSeed seeds the fault draws; unset, a seed from the clock,
	// printed at startup so that a run can be repeated.
	FaultsSeed uint64 `yaml:"faults_seed"`
}

// MaxSandboxSearchLag bounds crm.sandbox.search_lag (and `regsync sandbox
// --search-lag`): 1m.
const MaxSandboxSearchLag = time.Minute

// SandboxPollSettle is the hubspot.poll_settle of the client on the
// sandbox CRM: the configured one when hubspot.poll_settle is set, else
// crm.sandbox.search_lag + 1s, so that polling does not step past records
// the sandbox's search has not indexed yet.
func (c *Config) SandboxPollSettle() time.Duration {
	if c.IsSet("hubspot.poll_settle") {
		return c.HubSpot.PollSettle
	}
	return c.CRM.Sandbox.SearchLag + time.Second
}

// Default returns the configuration with every key at its default.
func Default() Config {
	return Config{
		Server:     Server{Addr: "127.0.0.1:8080", ShutdownTimeout: 30 * time.Second},
		State:      State{Path: "regsync.db", AuditRetention: state.DefaultAuditRetention},
		CRM:        CRM{Kind: KindSandbox, Sandbox: Sandbox{Addr: "127.0.0.1:8081", PerTenSeconds: 100, SearchLag: 2 * time.Second}},
		HubSpot:    hubspot.DefaultConfig(),
		Salesforce: salesforce.DefaultConfig(),
		Schedule:   Schedule{Sweep: "*/5 * * * *", Reconcile: "@hourly", Summaries: "0 8 * * 1", Timezone: "UTC"},
		Admin:      Admin{Addr: DefaultAdminAddr},
		Worker:     Worker{BatchSize: 100, Concurrency: 2, RecheckAfter: 30 * time.Second},
		Notify:     Notify{Enabled: true},
		Intake:     intake.DefaultConfig(),
		Mail:       mail.DefaultConfig(),
		Dashboard:  dashboard.DefaultConfig(),
		Summaries:  report.DefaultSummaryConfig(),
		Rules:      rules.DefaultRules(),
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
	envSet := map[string]bool{}
	if env {
		if envSet, err = applyEnv(&c); err != nil {
			return nil, err
		}
	}
	c.set = func(key string) bool { return envSet[key] || doc.Has(strings.Split(key, ".")) }
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
	if r := c.State.AuditRetention; r < state.MinAuditRetention {
		errs = append(errs, yamlx.Errorf(yamlx.Path("state", "audit_retention"), "must be at least 24h (a day), not %s", r))
	}
	switch c.CRM.Kind {
	case KindSandbox, KindHubSpot, KindSalesforce:
	default:
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "kind"), "must be sandbox, hubspot or salesforce, not %q", c.CRM.Kind))
	}
	if err := c.HubSpot.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Salesforce.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateDaemon()...)
	if err := c.Intake.Validate(c.Partners); err != nil {
		errs = append(errs, err)
	}
	if err := c.Mail.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Dashboard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Summaries.Validate(c.Partners); err != nil {
		errs = append(errs, err)
	}
	if c.Intake.Email.Enabled && !c.Mail.Enabled() && c.Notify.Outbox == "" {
		errs = append(errs, yamlx.Errorf(yamlx.Path("intake", "email", "enabled"), "the e-mail channel answers by e-mail: set mail.host (or notify.outbox)"))
	}
	if w := c.Intake.WebForm; w.Enabled && w.ConfirmEmail && !c.Mail.Enabled() && c.Notify.Outbox == "" && c.CRM.Kind != KindSandbox {
		errs = append(errs, yamlx.Errorf(yamlx.Path("intake", "webform", "confirm_email"),
			"the web form e-mails a confirmation link to addresses not confirmed yet: set mail.host (or notify.outbox), or confirm_email: false to believe any typed address"))
	}
	if c.CRM.Kind == KindHubSpot && !c.HubSpot.Token.IsSet() && !c.HubSpot.RefreshToken.IsSet() {
		errs = append(errs, yamlx.Errorf(yamlx.Path("hubspot", "token"),
			"crm.kind is hubspot: set a private-app token (REGSYNC_HUBSPOT_TOKEN) or an OAuth refresh_token"))
	}
	if c.CRM.Kind == KindSalesforce && c.Salesforce.AuthFlow() == "" {
		errs = append(errs, yamlx.Errorf(yamlx.Path("salesforce", "client_id"),
			"crm.kind is salesforce: set client_id and client_secret (REGSYNC_SALESFORCE_CLIENT_SECRET), username with password or private_key, or access_token"))
	}
	if c.CRM.Kind == KindSalesforce && c.Salesforce.OutboundMessages && !c.Salesforce.WebhookSecret.IsSet() {
		errs = append(errs, yamlx.Errorf(yamlx.Path("salesforce", "webhook_secret"),
			"required while salesforce.outbound_messages is on: the organization id is no secret, so only this proves a message comes from Salesforce — "+
				"set REGSYNC_SALESFORCE_WEBHOOK_SECRET (at least %d characters) and end the outbound message's endpoint URL with ?secret=<it>, "+
				"or set salesforce.outbound_messages: false to rely on polling alone", salesforce.MinWebhookSecretLen))
	}
	p, err := rules.NewPolicy(c.Partners, c.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	c.Policy = p
	return errors.Join(errs...)
}

// Effective renders the configuration as YAML, defaults included, every
// secret shown as <secret>, and so are the credentials inside URLs
// (https://user:<secret>@host, ?token=<secret>).
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
	return []byte(secret.RedactURLs(buf.String())), nil
}

var secretType = reflect.TypeFor[secret.Secret]()

// envSettings lists the settings a REGSYNC_* variable can override: the
// scalars and secrets (lists and maps are not overridable from the
// environment).
func envSettings() []setting {
	var out []setting
	for _, s := range allSettings {
		switch s.typ.Kind() {
		case reflect.String, reflect.Int, reflect.Bool, reflect.Float64, reflect.Int64, reflect.Uint64:
		default:
			if s.typ != secretType {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// EnvName is the environment variable that overrides a dotted key:
// server.addr → REGSYNC_SERVER_ADDR.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv applies the REGSYNC_* variables and returns the keys they set.
func applyEnv(c *Config) (map[string]bool, error) {
	v := viper.New()
	var errs []error
	set := map[string]bool{}
	root := reflect.ValueOf(c).Elem()
	for _, l := range envSettings() {
		name := EnvName(l.key)
		if err := v.BindEnv(l.key, name); err != nil {
			return nil, err
		}
		if !v.IsSet(l.key) {
			continue
		}
		set[l.key] = true
		if err := setScalar(root.FieldByIndex(l.index), v.GetString(l.key)); err != nil {
			errs = append(errs, fmt.Errorf("environment %s (%s): %w", name, l.key, err))
		}
	}
	return set, errors.Join(errs...)
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

// validateDaemon checks the sections serve uses.
func (c *Config) validateDaemon() []error {
	var errs []error
	if c.Server.PublicURL != "" {
		if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, yamlx.Errorf(yamlx.Path("server", "public_url"), "%q is not an http(s) URL", c.Server.PublicURL))
		}
	}
	errs = append(errs, c.validateAdmin()...)
	if c.Server.ShutdownTimeout <= 0 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("server", "shutdown_timeout"), "must be positive, not %s", c.Server.ShutdownTimeout))
	}
	if host, _, err := net.SplitHostPort(c.CRM.Sandbox.Addr); err != nil {
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "sandbox", "addr"), "%q is not host:port", c.CRM.Sandbox.Addr))
	} else if ip := net.ParseIP(host); c.CRM.Kind == KindSandbox && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "sandbox", "addr"), "the sandbox listens on loopback only, not %q", host))
	}
	if c.CRM.Sandbox.PerTenSeconds <= 0 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "sandbox", "per_10s"), "must be positive, not %d", c.CRM.Sandbox.PerTenSeconds))
	}
	if l := c.CRM.Sandbox.SearchLag; l < 0 || l > MaxSandboxSearchLag {
		errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "sandbox", "search_lag"), "must be between 0 and 1m, not %s", l))
	}
	if f := c.CRM.Sandbox.Faults; f != "" {
		if _, err := crmfault.Parse(f); err != nil {
			errs = append(errs, yamlx.Errorf(yamlx.Path("crm", "sandbox", "faults"), "%s", err))
		}
	}
	loc, err := time.LoadLocation(c.Schedule.Timezone)
	if err != nil {
		errs = append(errs, yamlx.Errorf(yamlx.Path("schedule", "timezone"), "unknown time zone %q", c.Schedule.Timezone))
		loc = time.UTC
	}
	for _, s := range []struct{ key, spec string }{{"sweep", c.Schedule.Sweep}, {"reconcile", c.Schedule.Reconcile}, {"summaries", c.Schedule.Summaries}} {
		if s.spec == "" || s.spec == "off" {
			continue
		}
		if _, err := ParseSchedule(s.spec, loc); err != nil {
			errs = append(errs, yamlx.Errorf(yamlx.Path("schedule", s.key), "%q: %v", s.spec, err))
		}
	}
	if b := c.Worker.BatchSize; b < 1 || b > 100 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("worker", "batch_size"), "must be 1 to 100, not %d", b))
	}
	if n := c.Worker.Concurrency; n < 1 || n > 16 {
		errs = append(errs, yamlx.Errorf(yamlx.Path("worker", "concurrency"), "must be 1 to 16, not %d", n))
	}
	if d := c.Worker.RecheckAfter; d < time.Second || d > 24*time.Hour {
		errs = append(errs, yamlx.Errorf(yamlx.Path("worker", "recheck_after"), "must be between 1s and 24h, not %s", d))
	}
	for i, a := range c.Notify.EscalationTo {
		if _, err := registration.ParseEmail(a); err != nil {
			errs = append(errs, yamlx.Errorf(yamlx.Path("notify", "escalation_to", i), "%q is not an e-mail address", a))
		}
	}
	if u := c.Notify.SlackWebhookURL.Reveal(); u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			errs = append(errs, yamlx.Errorf(yamlx.Path("notify", "slack_webhook_url"), "not an http(s) URL"))
		}
	}
	for _, k := range sortedKeys(c.Notify.Templates) {
		t := c.Notify.Templates[k]
		if k != "" && k != "default" && !registration.Status(k).Valid() {
			errs = append(errs, yamlx.Errorf(yamlx.Path("notify", "templates", k), "%q is not a status", k))
			continue
		}
		for _, f := range []*string{&t.Subject, &t.Text} {
			if p, ok := strings.CutPrefix(*f, "file:"); ok {
				b, err := os.ReadFile(strings.TrimSpace(p))
				if err != nil {
					errs = append(errs, yamlx.Errorf(yamlx.Path("notify", "templates", k), "%v", err))
					continue
				}
				*f = string(b)
			}
		}
		if k == "default" {
			delete(c.Notify.Templates, k)
			k = ""
		}
		c.Notify.Templates[k] = t
	}
	if err := worker.CheckTemplates(c.Notify.Templates); err != nil {
		errs = append(errs, yamlx.Errorf(yamlx.Path("notify", "templates"), "%v", err))
	}
	for i, pt := range c.Partners {
		if pt.Manager != "" {
			if _, err := registration.ParseEmail(pt.Manager); err != nil {
				errs = append(errs, yamlx.Errorf(yamlx.Path("partners", i, "manager"), "%q is not an e-mail address", pt.Manager))
			}
		}
	}
	return errs
}

// validateAdmin checks the admin section: a token long enough, and an
// address on loopback and apart from the public listener unless
// admin.public says otherwise.
func (c *Config) validateAdmin() []error {
	var errs []error
	if t := c.Admin.Token; t.IsSet() && len(t.Reveal()) < MinAdminTokenLen {
		errs = append(errs, yamlx.Errorf(yamlx.Path("admin", "token"), "must be at least %d characters (try: openssl rand -hex 24)", MinAdminTokenLen))
	}
	host, _, err := net.SplitHostPort(c.Admin.Addr)
	if err != nil {
		return append(errs, yamlx.Errorf(yamlx.Path("admin", "addr"), "%q is not host:port", c.Admin.Addr))
	}
	if c.Admin.Public {
		return errs
	}
	switch {
	case c.AdminShared():
		errs = append(errs, yamlx.Errorf(yamlx.Path("admin", "addr"),
			"%s is server.addr: the admin API would share the public listener; give it another address (default %s), or set admin.public: true to accept that",
			c.Admin.Addr, DefaultAdminAddr))
	case !isLoopbackHost(host):
		errs = append(errs, yamlx.Errorf(yamlx.Path("admin", "addr"),
			"%s is not a loopback address: the admin API would be reachable from other hosts; listen on 127.0.0.1 or [::1], or set admin.public: true to accept that",
			c.Admin.Addr))
	}
	return errs
}

// isLoopbackHost reports whether a listen host is loopback only ("" and
// 0.0.0.0 are every interface).
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSchedule reads a cron schedule: five fields or a descriptor
// (@hourly, @every 5m).
func ParseSchedule(spec string, loc *time.Location) (cron.Schedule, error) {
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	return p.Parse("CRON_TZ=" + loc.String() + " " + spec)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
