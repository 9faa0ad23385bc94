package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/secret"
)

func TestExampleConfigIsValid(t *testing.T) {
	c, err := LoadFile("../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if c.CRM.Kind != KindSandbox || len(c.Partners) != 4 || c.Policy == nil {
		t.Fatalf("unexpected example config: kind %q, %d partners, policy %v", c.CRM.Kind, len(c.Partners), c.Policy)
	}
	if got := c.Policy.HoldDays("platinum"); got != 120 {
		t.Errorf("platinum hold days = %d, want 120", got)
	}
}

func TestOnlyCRMIsValidAndTakesDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.State.Path != "regsync.db" {
		t.Errorf("defaults: addr %q, state %q", c.Server.Addr, c.State.Path)
	}
	r := c.Rules
	if r.ExistingDeal != "decline" || r.Conflict.Policy != "first_approved_wins" || r.Conflict.SplitOn != "segment" ||
		r.Unassigned != "review" || r.Caps.ActivePerPartner != 0 || r.SLA.Calendar != "US" || r.SLA.Timezone != "UTC" ||
		r.SLA.RespondWithinBusinessDays != 2 || r.HoldWindow.Days != 60 || r.HoldWindow.MeetingWithinDays != 14 ||
		r.HoldWindow.ExtendOnMeetingDays != 30 || r.HoldWindow.MaxDays != 180 || len(r.Required) != 8 {
		t.Errorf("rule defaults wrong: %+v", r)
	}
}

// rules.attribution.grace defaults to 0, reads a duration and can be set
// from the environment.
func TestAttributionGrace(t *testing.T) {
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil || c.Rules.Attribution.Grace != 0 || c.Policy.Rules.Attribution.Grace != 0 {
		t.Fatalf("default: %v, grace %v", err, c.Rules.Attribution.Grace)
	}
	c, err = Parse("c.yaml", []byte("rules:\n  attribution: {grace: 48h}\n"), false)
	if err != nil || c.Policy.Rules.Attribution.Grace != 48*time.Hour {
		t.Fatalf("48h: %v, grace %v", err, c.Rules.Attribution.Grace)
	}
	t.Setenv("REGSYNC_RULES_ATTRIBUTION_GRACE", "90m")
	c, err = Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), true)
	if err != nil || c.Policy.Rules.Attribution.Grace != 90*time.Minute || !c.IsSet("rules.attribution.grace") {
		t.Fatalf("from the environment: %v, grace %v", err, c.Rules.Attribution.Grace)
	}
}

func TestPartialBlockKeepsOtherDefaults(t *testing.T) {
	c, err := Parse("p.yaml", []byte("rules:\n  hold_window: {days: 30}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if hw := c.Rules.HoldWindow; hw.Days != 30 || hw.MeetingWithinDays != 14 || hw.MaxDays != 180 {
		t.Errorf("hold_window = %+v", hw)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"misspelt key", "crm:\n  kind: sandbox\nrules:\n  hold_windw: {days: 30}\n",
			"c.yaml:4: field hold_windw not found"},
		{"misspelt nested key", "rules:\n  hold_window:\n    dayz: 3\n",
			"c.yaml:3: field dayz not found"},
		{"wrong type", "rules:\n  caps:\n    active_per_partner: lots\n",
			`c.yaml:3: cannot use text "lots" as a number`},
		{"list for a string", "server:\n  addr: [a, b]\n",
			"c.yaml:2: cannot use a list as text"},
		{"syntax error", "server:\n  addr: x\n bad\n",
			"c.yaml:2: did not find expected key"},
		{"territory without owner", "rules:\n  territories:\n    - name: emea\n      countries: [DE]\n",
			`c.yaml:3: rules.territories.0.owner: territory "emea" has no owner`},
		{"tier nobody has", "partners:\n  - {id: a, tier: gold, email_domains: [a.example]}\nrules:\n  hold_window:\n    by_tier:\n      platinum: 90\n",
			`c.yaml:6: rules.hold_window.by_tier.platinum: tier "platinum" is not the tier of any partner`},
		{"bad timezone", "rules:\n  sla:\n    timezone: Mars/Olympus\n",
			`c.yaml:3: rules.sla.timezone: unknown time zone "Mars/Olympus" (use an IANA name such as America/New_York)`},
		{"bad country", "rules:\n  territories:\n    - {name: x, countries: [Germany], owner: o}\n",
			`c.yaml:3: rules.territories.0.countries.0: "Germany" is not an ISO 3166 alpha-2 country code`},
		{"bad crm kind", "crm: {kind: pipedrive}\n",
			`c.yaml:1: crm.kind: must be sandbox, hubspot or salesforce, not "pipedrive"`},
		{"duplicate partner", "partners:\n  - {id: a}\n  - {id: a}\n",
			`c.yaml:3: partners.1.id: duplicate partner id "a"`},
		{"bad addr", "server: {addr: 8080}\n",
			`c.yaml:1: server.addr: "8080" is not host:port`},
		{"duplicate key", "crm: {kind: sandbox}\ncrm: {kind: hubspot}\n",
			`c.yaml:2: mapping key "crm" already defined at line 1`},
		{"two documents", "crm: {kind: sandbox}\n---\ncrm: {kind: hubspot}\n",
			"c.yaml:2: only one YAML document is allowed"},
		{"not a mapping", "- a\n- b\n",
			"c.yaml:1: expected a mapping of keys at the top level"},
		{"bad schedule", "schedule:\n  sweep: every five minutes\n",
			`c.yaml:2: schedule.sweep: "every five minutes": expected exactly 5 fields, found 3: [every five minutes]`},
		{"sandbox off loopback", "crm:\n  sandbox: {addr: \"0.0.0.0:8081\"}\n",
			`c.yaml:2: crm.sandbox.addr: the sandbox listens on loopback only, not "0.0.0.0"`},
		{"batch over the CRM's", "worker: {batch_size: 500}\n",
			"c.yaml:1: worker.batch_size: must be 1 to 100, not 500"},
		{"template for no status", "notify:\n  templates:\n    aproved: {subject: x}\n",
			`c.yaml:3: notify.templates.aproved: "aproved" is not a status`},
		{"template that does not parse", "notify:\n  templates:\n    approved: {subject: \"{{.CaseNumber\"}\n",
			`c.yaml:3: notify.templates: template "approved" subject: template: subject:1: unclosed action`},
		{"manager not an address", "partners:\n  - {id: a, manager: bob}\n",
			`c.yaml:2: partners.0.manager: "bob" is not an e-mail address`},
		{"negative attribution grace", "rules:\n  attribution:\n    grace: -1h\n",
			"c.yaml:3: rules.attribution.grace: must be between 0 and 720h (30 days), not -1h0m0s"},
		{"attribution grace not a duration", "rules:\n  attribution:\n    grace: two days\n",
			`c.yaml:3: cannot use text "two days" as a Duration`},
		{"misspelt attribution key", "rules:\n  attribution:\n    grase: 1h\n",
			"c.yaml:3: field grase not found"},
		{"short admin token", "admin:\n  token: x\n",
			"c.yaml:2: admin.token: must be at least 32 characters (try: openssl rand -hex 24)"},
		{"admin on the public listener", "server: {addr: \"127.0.0.1:8080\"}\nadmin:\n  addr: 127.0.0.1:8080\n",
			"c.yaml:3: admin.addr: 127.0.0.1:8080 is server.addr: the admin API would share the public listener; give it another address (default 127.0.0.1:9091), or set admin.public: true to accept that"},
		{"admin off loopback", "admin:\n  addr: 0.0.0.0:9091\n",
			"c.yaml:2: admin.addr: 0.0.0.0:9091 is not a loopback address: the admin API would be reachable from other hosts; listen on 127.0.0.1 or [::1], or set admin.public: true to accept that"},
		{"admin on every interface", "admin:\n  addr: \":9091\"\n",
			"c.yaml:2: admin.addr: :9091 is not a loopback address: the admin API would be reachable from other hosts; listen on 127.0.0.1 or [::1], or set admin.public: true to accept that"},
		{"bad admin addr", "admin:\n  addr: 9091\n",
			`c.yaml:2: admin.addr: "9091" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), false)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// crm.sandbox.search_lag defaults to 2s, is bounded, and sets the
// sandbox client's poll_settle unless hubspot.poll_settle is set (in the
// file or the environment).
func TestSandboxSearchLag(t *testing.T) {
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.CRM.Sandbox.SearchLag != 2*time.Second || c.SandboxPollSettle() != 3*time.Second || c.IsSet("hubspot.poll_settle") {
		t.Errorf("defaults: search_lag %s, sandbox poll_settle %s", c.CRM.Sandbox.SearchLag, c.SandboxPollSettle())
	}
	if !c.IsSet("crm.kind") || c.IsSet("crm.sandbox") {
		t.Errorf("IsSet: crm.kind %v, crm.sandbox %v", c.IsSet("crm.kind"), c.IsSet("crm.sandbox"))
	}
	c, err = Parse("c.yaml", []byte("crm: {kind: sandbox, sandbox: {search_lag: 0s}}\n"), false)
	if err != nil || c.CRM.Sandbox.SearchLag != 0 || c.SandboxPollSettle() != time.Second {
		t.Errorf("search_lag 0: %v %+v", err, c)
	}
	c, err = Parse("c.yaml", []byte("crm: {kind: sandbox}\nhubspot: {poll_settle: 10s}\n"), false)
	if err != nil || c.SandboxPollSettle() != 10*time.Second {
		t.Errorf("poll_settle set to its default in the file: %v %v", err, c.SandboxPollSettle())
	}
	t.Setenv("REGSYNC_HUBSPOT_POLL_SETTLE", "0s")
	if c, err = Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), true); err != nil || c.SandboxPollSettle() != 0 {
		t.Errorf("poll_settle from the environment: %v %v", err, c.SandboxPollSettle())
	}
	if (&Config{}).IsSet("crm.kind") {
		t.Error("a Config not read by Parse sets keys")
	}
	for _, v := range []string{"-1s", "61s"} {
		_, err := Parse("c.yaml", []byte("crm:\n  sandbox: {search_lag: "+v+"}\n"), false)
		if want := "c.yaml:2: crm.sandbox.search_lag: must be between 0 and 1m, not " + map[string]string{"-1s": "-1s", "61s": "1m1s"}[v]; err == nil || err.Error() != want {
			t.Errorf("search_lag %s: %v, want %s", v, err, want)
		}
	}
}

func TestBadCalendarListsTheKnownOnes(t *testing.T) {
	_, err := Parse("c.yaml", []byte("rules:\n  sla: {calendar: XX}\n"), false)
	if err == nil || !strings.HasPrefix(err.Error(), `c.yaml:2: rules.sla.calendar: unknown holiday calendar "XX" (one of AR, AT, AU,`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSeveralErrorsAreAllReported(t *testing.T) {
	_, err := Parse("c.yaml", []byte("rules:\n  existing_deal: maybe\n  unassigned: ignore\n"), false)
	want := "c.yaml:2: rules.existing_deal: must be decline or review, not \"maybe\"\n" +
		"c.yaml:3: rules.unassigned: must be review or approve, not \"ignore\""
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("REGSYNC_SERVER_ADDR", "0.0.0.0:9090")
	t.Setenv("REGSYNC_RULES_HOLD_WINDOW_DAYS", "45")
	t.Setenv("REGSYNC_CRM_KIND", "hubspot")
	t.Setenv("REGSYNC_HUBSPOT_TOKEN", "pat-na1-not-a-real-token")
	c, err := Parse("c.yaml", []byte("server: {addr: 127.0.0.1:1}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "0.0.0.0:9090" || c.Rules.HoldWindow.Days != 45 || c.CRM.Kind != "hubspot" ||
		c.HubSpot.Token.Reveal() != "pat-na1-not-a-real-token" {
		t.Errorf("overrides not applied: %q %d %q", c.Server.Addr, c.Rules.HoldWindow.Days, c.CRM.Kind)
	}
	if out, err := c.Effective(); err != nil || strings.Contains(string(out), "pat-na1") {
		t.Errorf("effective config shows the token (err %v):\n%s", err, out)
	}
	// crm.kind hubspot without a token is a config error naming the key.
	t.Setenv("REGSYNC_HUBSPOT_TOKEN", "")
	if _, err := Parse("c.yaml", []byte("crm: {kind: hubspot}\n"), true); err == nil ||
		!strings.Contains(err.Error(), "hubspot.token") {
		t.Errorf("hubspot without a token: err = %v", err)
	}
	// Without env, the file wins.
	c, err = Parse("c.yaml", []byte("server: {addr: 127.0.0.1:1}\n"), false)
	if err != nil || c.Server.Addr != "127.0.0.1:1" {
		t.Errorf("env applied when not asked: %v %v", c, err)
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	t.Setenv("REGSYNC_RULES_HOLD_WINDOW_DAYS", "sixty")
	_, err := Parse("c.yaml", nil, true)
	if err == nil || !strings.Contains(err.Error(), "environment REGSYNC_RULES_HOLD_WINDOW_DAYS (rules.hold_window.days)") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("REGSYNC_RULES_HOLD_WINDOW_DAYS", "-3")
	_, err = Parse("c.yaml", nil, true)
	if err == nil || !strings.Contains(err.Error(), "rules.hold_window.days: must be a positive number of days, not -3") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvKeys(t *testing.T) {
	keys := strings.Join(EnvKeys(), " ")
	for _, k := range []string{"server.addr", "state.path", "crm.kind", "rules.sla.timezone", "rules.caps.active_per_partner"} {
		if !strings.Contains(" "+keys+" ", " "+k+" ") {
			t.Errorf("EnvKeys lacks %s: %s", k, keys)
		}
	}
	if strings.Contains(keys, "partners") || strings.Contains(keys, "territories") {
		t.Errorf("lists must not be env-overridable: %s", keys)
	}
	if got := EnvName("rules.hold_window.days"); got != "REGSYNC_RULES_HOLD_WINDOW_DAYS" {
		t.Errorf("EnvName = %s", got)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("REGSYNC_CONFIG", "")
	if _, err := Find(""); err != ErrNoConfig {
		t.Fatalf("Find with nothing = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "regsync.yaml"), []byte("crm: {kind: sandbox}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := Find(""); err != nil || p != "regsync.yaml" {
		t.Fatalf("Find = %q, %v", p, err)
	}
	t.Setenv("REGSYNC_CONFIG", "/etc/regsync/env.yaml")
	if p, _ := Find(""); p != "/etc/regsync/env.yaml" {
		t.Fatalf("Find with env = %q", p)
	}
	if p, _ := Find("flag.yaml"); p != "flag.yaml" {
		t.Fatalf("Find with flag = %q", p)
	}
}

func TestEffectiveShowsDefaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte("partners: [{id: a, email_domains: [a.example]}]\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"addr: 127.0.0.1:8080", "kind: sandbox", "active: true", "policy: first_approved_wins",
		"timezone: UTC", "max_days: 180", "- consent"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("effective config lacks %q:\n%s", want, out)
		}
	}
}

// A secret inside a config section is never printed: check-config output,
// errors and fmt all show <secret>.
func TestSecretsAreRedacted(t *testing.T) {
	type section struct {
		Token secret.Secret `yaml:"token"`
	}
	var s section
	if err := s.Token.Set("pat-na1-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{s.Token.String(), fmtAll(s.Token)} {
		if strings.Contains(out, "0123456789abcdef") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	f := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Token.Set("file:" + f); err != nil || s.Token.Reveal() != "from-file" {
		t.Fatalf("file secret: %q %v", s.Token.Reveal(), err)
	}
}

func fmtAll(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		b.WriteString(sprintf(verb, v))
	}
	return b.String()
}

// FuzzParse: no input makes the loader panic, and every error names the file.
func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("../config.example.yaml")
	f.Add(seed)
	f.Add([]byte("rules:\n  hold_window: {days: -1}\n"))
	f.Add([]byte("partners: [{id: a, active: maybe}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("rules: {territories: [{name: t, regions: [r], owner: o}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data, false)
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }

// The salesforce section: crm.kind salesforce needs credentials, which come
// from REGSYNC_SALESFORCE_* and never show; field mappings are checked with
// the file's line.
func TestSalesforceSection(t *testing.T) {
	for _, k := range []string{"CLIENT_ID", "CLIENT_SECRET", "DOMAIN", "POLL_INTERVAL", "ACCESS_TOKEN", "USERNAME", "WEBHOOK_SECRET", "OUTBOUND_MESSAGES"} {
		t.Setenv("REGSYNC_SALESFORCE_"+k, "")
	}
	_, err := Parse("c.yaml", []byte("crm: {kind: salesforce}\n"), true)
	if err == nil || !strings.Contains(err.Error(), "salesforce.client_id: crm.kind is salesforce: set client_id and client_secret (REGSYNC_SALESFORCE_CLIENT_SECRET)") {
		t.Fatalf("salesforce without credentials: %v", err)
	}
	t.Setenv("REGSYNC_SALESFORCE_CLIENT_ID", "3MVG9-consumer-key")
	t.Setenv("REGSYNC_SALESFORCE_CLIENT_SECRET", "sf-secret-0123456789")
	t.Setenv("REGSYNC_SALESFORCE_DOMAIN", "https://acme.my.salesforce.com")
	t.Setenv("REGSYNC_SALESFORCE_POLL_INTERVAL", "30s")
	// Outbound messages (on by default) need the endpoint secret: the
	// organization id is no secret.
	_, err = Parse("c.yaml", []byte("crm: {kind: salesforce}\nsalesforce:\n  organization_id: 00D5g000004SbxTEAS\n"), true)
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: salesforce.webhook_secret: required while salesforce.outbound_messages is on") {
		t.Errorf("outbound messages without a webhook secret: %v", err)
	}
	if _, err := Parse("c.yaml", []byte("crm: {kind: salesforce}\nsalesforce: {outbound_messages: false}\n"), true); err != nil {
		t.Errorf("outbound messages off, no webhook secret: %v", err)
	}
	t.Setenv("REGSYNC_SALESFORCE_WEBHOOK_SECRET", "outbound-secret-0123456789")
	c, err := Parse("c.yaml", []byte("crm: {kind: salesforce}\nsalesforce:\n  fields: {status: Reg_Status__c}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	sf := c.Salesforce
	if sf.ClientID != "3MVG9-consumer-key" || sf.ClientSecret.Reveal() != "sf-secret-0123456789" || sf.Domain != "https://acme.my.salesforce.com" ||
		sf.PollInterval.String() != "30s" || sf.FieldName("status") != "Reg_Status__c" || sf.Object != "Partner_Registration__c" {
		t.Errorf("salesforce section: %+v", sf)
	}
	if out, err := c.Effective(); err != nil || strings.Contains(string(out), "sf-secret-0123456789") || strings.Contains(string(out), "outbound-secret-0123456789") ||
		!strings.Contains(string(out), "poll_interval: 30s") || !strings.Contains(string(out), "outbound_messages: true") {
		t.Errorf("effective config (err %v):\n%s", err, out)
	}
	_, err = Parse("c.yaml", []byte("crm: {kind: salesforce}\nsalesforce:\n  fields:\n    colour: Colour__c\n"), true)
	if err == nil || !strings.Contains(err.Error(), `c.yaml:4: salesforce.fields.colour: unknown field "colour"`) {
		t.Errorf("bad mapping: %v", err)
	}
	// Unused section: a sandbox config needs no Salesforce credentials.
	t.Setenv("REGSYNC_SALESFORCE_CLIENT_ID", "")
	t.Setenv("REGSYNC_SALESFORCE_CLIENT_SECRET", "")
	if _, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), true); err != nil {
		t.Errorf("sandbox: %v", err)
	}
}

func TestIntakeAndMailSections(t *testing.T) {
	c, err := Parse("min.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	in := c.Intake
	if in.Email.Enabled || in.WebForm.Enabled || in.Slack.Enabled || in.CSV.Enabled || in.HubSpotForm.Enabled ||
		in.CSV.BatchSize != 100 || in.Slack.APIURL != "https://slack.com/api/" || in.WebForm.Captcha.Provider != "none" ||
		c.Mail.Port != 587 || c.Mail.TLS != "starttls" || c.Mail.Enabled() {
		t.Errorf("defaults: %+v %+v", in, c.Mail)
	}
	yml := `
partners:
  - {id: northwind, email_domains: [northwind.example]}
mail:
  host: smtp.example.com
  username: regsync
  password: smtp-pass-xyz
  from: Partner program <partners@vendor.example>
intake:
  status_page: {key: status-key-0123456789}
  email: {enabled: true, token: inbound-token-123, max_bytes: 10MiB}
  webform: {enabled: true}
  slack: {enabled: true, signing_secret: slack-signing-xyz, bot_token: xoxb-bot-xyz}
  csv:
    enabled: true
    tokens: [{partner: northwind, token: northwind-upload-token-1}]
  hubspot_form:
    enabled: true
    forms: [{guid: 0c1b2a3d-form, partner_id: northwind}]
`
	c, err = Parse("full.yaml", []byte(yml), false)
	if err != nil {
		t.Fatal(err)
	}
	in = c.Intake
	if !in.Email.Enabled || !in.WebForm.Enabled || !in.Slack.Enabled || !in.CSV.Enabled || !in.HubSpotForm.Enabled ||
		in.Slack.SigningSecret.Reveal() != "slack-signing-xyz" || in.Email.MaxBytes != 10<<20 || in.CSV.Tokens[0].Partner != "northwind" ||
		c.Mail.Password.Reveal() != "smtp-pass-xyz" {
		t.Errorf("sections not read: %+v", in)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"slack-signing-xyz", "xoxb-bot-xyz", "inbound-token-123", "northwind-upload-token-1", "smtp-pass-xyz", "status-key-0123456789"} {
		if strings.Contains(string(out), s) {
			t.Errorf("effective config shows a secret: %s", s)
		}
	}
	if !strings.Contains(string(out), "max_bytes: 10MiB") {
		t.Errorf("effective config:\n%s", out)
	}
}

func TestIntakeKeysFromTheEnvironment(t *testing.T) {
	keys := " " + strings.Join(EnvKeys(), " ") + " "
	for _, k := range []string{"intake.email.enabled", "intake.webform.enabled", "intake.slack.enabled", "intake.slack.signing_secret",
		"intake.csv.enabled", "intake.hubspot_form.enabled", "mail.host", "mail.password"} {
		if !strings.Contains(keys, " "+k+" ") {
			t.Errorf("EnvKeys lacks %s", k)
		}
	}
	t.Setenv("REGSYNC_INTAKE_SLACK_ENABLED", "true")
	t.Setenv("REGSYNC_INTAKE_SLACK_SIGNING_SECRET", "from-env-signing")
	t.Setenv("REGSYNC_INTAKE_SLACK_BOT_TOKEN", "xoxb-from-env")
	t.Setenv("REGSYNC_INTAKE_CSV_MAX_BYTES", "5MiB")
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Intake.Slack.Enabled || c.Intake.Slack.SigningSecret.Reveal() != "from-env-signing" || c.Intake.CSV.MaxBytes != 5<<20 {
		t.Errorf("env not applied: %+v", c.Intake.Slack)
	}
}

func TestIntakeErrorsNameFileAndLine(t *testing.T) {
	yml := "crm: {kind: sandbox}\nintake:\n  email:\n    enabled: true\n  csv:\n    batch_size: 500\n  slack:\n    enabled: true\n"
	_, err := Parse("bad.yaml", []byte(yml), false)
	want := []string{
		"bad.yaml:4: intake.email.token: required when the e-mail channel is enabled: the inbound-mail service sends it with every message (REGSYNC_INTAKE_EMAIL_TOKEN)",
		"bad.yaml:8: intake.slack.signing_secret: required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_SIGNING_SECRET)",
		"bad.yaml:8: intake.slack.bot_token: required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_BOT_TOKEN)",
		"bad.yaml:6: intake.csv.batch_size: must be 1 to 100, not 500",
		"bad.yaml:4: intake.email.enabled: the e-mail channel answers by e-mail: set mail.host (or notify.outbox)",
	}
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	// The web form's confirmation links need mail, except in the sandbox
	// (its outbox) or with confirm_email off.
	hs := "crm: {kind: hubspot}\nhubspot: {token: pat-na1-token}\nintake:\n  webform:\n    enabled: true\n"
	if _, err := Parse("form.yaml", []byte(hs), false); err == nil || err.Error() != "form.yaml:5: intake.webform.confirm_email: the web form e-mails a confirmation link to addresses not confirmed yet: set mail.host (or notify.outbox), or confirm_email: false to believe any typed address" {
		t.Errorf("web form without mail: %v", err)
	}
	for _, ok := range []string{hs + "    confirm_email: false\n", hs + "notify: {outbox: out}\n", strings.Replace(hs, "kind: hubspot", "kind: sandbox", 1)} {
		if _, err := Parse("form.yaml", []byte(ok), false); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if _, err := Parse("typo.yaml", []byte("intake:\n  emial: {enabled: true}\n"), false); err == nil || !strings.Contains(err.Error(), "typo.yaml:2: field emial not found") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Parse("size.yaml", []byte("intake:\n  csv: {max_bytes: lots}\n"), false); err == nil || !strings.Contains(err.Error(), "size.yaml:2") {
		t.Errorf("bad size: %v", err)
	}
}

// crm.sandbox.faults is a crmfault spec, checked at load (the file's line
// in the error), also from REGSYNC_CRM_SANDBOX_FAULTS; crm.sandbox.faults_seed
// counts as set only when given.
func TestSandboxFaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil || c.CRM.Sandbox.Faults != "" || c.IsSet("crm.sandbox.faults_seed") {
		t.Fatalf("defaults: %v %+v", err, c.CRM.Sandbox)
	}
	c, err = Parse("c.yaml", []byte("crm:\n  kind: sandbox\n  sandbox: {faults: \"0.1,429=2,reset_after=1\", faults_seed: 42}\n"), false)
	if err != nil || c.CRM.Sandbox.Faults != "0.1,429=2,reset_after=1" || c.CRM.Sandbox.FaultsSeed != 42 || !c.IsSet("crm.sandbox.faults_seed") {
		t.Fatalf("set: %v %+v", err, c.CRM.Sandbox)
	}
	for spec, msg := range map[string]string{
		"0.2,timeout=1": `unknown fault kind "timeout" (kinds: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency)`,
		"lots":          `fault rate "lots" is not a number`,
	} {
		_, err := Parse("c.yaml", []byte("crm:\n  sandbox:\n    faults: \""+spec+"\"\n"), false)
		if want := "c.yaml:3: crm.sandbox.faults: " + msg; err == nil || err.Error() != want {
			t.Errorf("faults %q: %v, want %s", spec, err, want)
		}
	}
	t.Setenv("REGSYNC_CRM_SANDBOX_FAULTS", "0.2")
	t.Setenv("REGSYNC_CRM_SANDBOX_FAULTS_SEED", "7")
	c, err = Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), true)
	if err != nil || c.CRM.Sandbox.Faults != "0.2" || c.CRM.Sandbox.FaultsSeed != 7 || !c.IsSet("crm.sandbox.faults_seed") {
		t.Errorf("from the environment: %v %+v", err, c.CRM.Sandbox)
	}
}

// The admin API listens on loopback, apart from the public listener, by
// default; admin.public lets it off loopback or onto the public listener.
func TestAdminSection(t *testing.T) {
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Addr != "127.0.0.1:9091" || c.Admin.Public || c.AdminShared() {
		t.Errorf("admin defaults: %+v (shared %v)", c.Admin, c.AdminShared())
	}
	for _, yml := range []string{
		"admin: {addr: \"0.0.0.0:9091\", public: true}\n",
		"server: {addr: \"0.0.0.0:8080\"}\nadmin: {addr: \"0.0.0.0:8080\", public: true}\n",
		"admin: {addr: \"[::1]:9091\"}\n",
		"admin: {addr: \"localhost:9091\"}\n",
		"server: {addr: \"127.0.0.1:0\"}\nadmin: {addr: \"127.0.0.1:0\"}\n", // two ephemeral ports, two listeners
		"admin: {token: an-admin-token-of-32-characters!}\n",
	} {
		if _, err := Parse("c.yaml", []byte(yml), false); err != nil {
			t.Errorf("%s: %v", yml, err)
		}
	}
	c, _ = Parse("c.yaml", []byte("server: {addr: \"0.0.0.0:8080\"}\nadmin: {addr: \"0.0.0.0:8080\", public: true}\n"), false)
	if !c.AdminShared() {
		t.Error("admin.addr = server.addr is not shared")
	}
	c, _ = Parse("c.yaml", []byte("server: {addr: \"127.0.0.1:0\"}\nadmin: {addr: \"127.0.0.1:0\"}\n"), false)
	if c.AdminShared() {
		t.Error("two :0 addresses are shared")
	}
}

// state.audit_retention defaults to 400 days, reads a duration, and is at
// least a day.
func TestAuditRetention(t *testing.T) {
	c, err := Parse("c.yaml", []byte("crm: {kind: sandbox}\n"), false)
	if err != nil || c.State.AuditRetention != 400*24*time.Hour {
		t.Fatalf("default: %v, %v", err, c.State.AuditRetention)
	}
	c, err = Parse("c.yaml", []byte("state:\n  audit_retention: 720h\n"), false)
	if err != nil || c.State.AuditRetention != 30*24*time.Hour {
		t.Fatalf("720h: %v, %v", err, c.State.AuditRetention)
	}
	_, err = Parse("c.yaml", []byte("state:\n  audit_retention: 12h\n"), false)
	if want := "c.yaml:2: state.audit_retention: must be at least 24h (a day), not 12h0m0s"; err == nil || err.Error() != want {
		t.Fatalf("12h: %v\nwant %s", err, want)
	}
}
