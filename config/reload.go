package config

import (
	"reflect"
	"strings"
)

// What a running daemon does with each setting when it re-reads its
// configuration (SIGHUP, POST /-/reload): every key is either applied by the
// reload or reported as waiting for a restart, never silently ignored. The
// keys are found by reflection over the yaml tags of Config, so a new
// setting is covered the moment it exists, and a test fails until
// reloadRules says what a change to it does. docs/reload.md is this table,
// checked against it by a test.

// When says when a changed setting takes effect in a running daemon.
type When int

const (
	// Live settings are applied by the reload.
	Live When = iota + 1
	// Restart settings are read once at startup: a changed one is reported
	// and applied at the next start.
	Restart
)

// reloadRule says when a change to a dotted key, or to every key of a
// section (a Key ending in "."), takes effect. The most specific rule wins:
// an exact key over its section, a section over the one around it.
type reloadRule struct {
	Key  string
	When When
	Why  string
}

// reloadRules is the reload table. Its Why is written for the operator who
// reads docs/reload.md.
var reloadRules = []reloadRule{
	{"server.addr", Restart, "The public listener is bound at startup."},
	{"server.public_url", Restart, "Status links, webhook addresses and the sandbox CRM's setup are built from it at startup."},
	{"server.shutdown_timeout", Live, "Read when a shutdown begins."},
	{"state.path", Restart, "The state file is opened and locked at startup; the daemon keeps using that file."},
	{"state.audit_retention", Live, "The state file's maintenance reads it at each run (hourly)."},
	{"crm.", Restart, "The CRM connector (or the embedded sandbox CRM) is built once at startup; replacing it under work in flight is not safe."},
	{"hubspot.", Restart, "The HubSpot connector reads its credentials, object, field mapping, stages, limits, retries and webhook checks when it is built at startup (the sandbox CRM's client too)."},
	{"hubspot.poll_interval", Live, "The change-feed loops (registrations and deals) read it before each wait."},
	{"salesforce.", Restart, "The Salesforce connector reads its credentials, object, field mapping, limits and retries when it is built at startup."},
	{"salesforce.outbound_messages", Restart, "Whether the outbound-message endpoint exists is decided when the HTTP server is built at startup."},
	{"salesforce.poll_interval", Live, "The change-feed loops (registrations and deals) read it before each wait."},
	{"schedule.", Live, "The cron is rebuilt with the new schedules and time zone; a job already running finishes, and a sweep never overlaps another."},
	{"admin.", Restart, "The admin listener and its token are set up at startup."},
	{"worker.batch_size", Restart, "The worker is built with its batch size at startup."},
	{"worker.concurrency", Restart, "The worker is built with its concurrency at startup."},
	{"worker.max_attempts", Live, "Deprecated and ignored: there is nothing to apply."},
	{"worker.recheck_after", Restart, "The decision engine is built with it at startup."},
	{"notify.enabled", Live, "The notifier reads it for every notification: turned off, nothing is sent from then on; turned on, what is decided from then on is sent."},
	{"notify.outbox", Live, "The mail sender is rebuilt with the intake channels."},
	{"notify.escalation_to", Restart, "The worker is built with the escalation addresses at startup."},
	{"notify.slack_webhook_url", Live, "Read for every AE message."},
	{"notify.templates", Live, "The partner e-mail templates are replaced by the reload (a template that does not compile fails the reload)."},
	{"intake.", Live, "The intake channels, status links and mail sender are rebuilt and their pollers restarted; routes of a channel turned off answer 404. Keys regsync made up itself (status-link, nonce and link keys) are kept."},
	{"mail.", Live, "The mail sender is rebuilt with the intake channels."},
	{"dashboard.", Live, "The dashboard is rebuilt at its next request; the data refresh reads its intervals before each wait."},
	{"summaries.", Live, "Read by each summaries run."},
	{"partners", Live, "The policy and the intake channels' partner directory are replaced."},
	{"rules.", Live, "The policy is replaced: decisions from then on use the new rules."},
}

// setting is one dotted key of Config and where its value is.
type setting struct {
	key   string
	index []int
	typ   reflect.Type
}

// settings lists every dotted key of a configuration type: the yaml names
// of nested structs joined with dots, down to the values (scalars,
// secrets, lists and maps).
func settings(t reflect.Type, prefix string, index []int, out *[]setting) {
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
		if f.Type.Kind() == reflect.Struct && f.Type != secretType {
			settings(f.Type, key, idx, out)
			continue
		}
		*out = append(*out, setting{key, idx, f.Type})
	}
}

// allSettings are the keys of Config.
var allSettings = func() []setting {
	var out []setting
	settings(reflect.TypeFor[Config](), "", nil, &out)
	return out
}()

// reloadRuleFor returns the most specific rule that covers a key.
func reloadRuleFor(key string) (reloadRule, bool) {
	var best reloadRule
	found := false
	for _, r := range reloadRules {
		covers := r.Key == key || (strings.HasSuffix(r.Key, ".") && strings.HasPrefix(key, r.Key))
		if covers && (!found || len(r.Key) > len(best.Key)) {
			best, found = r, true
		}
	}
	return best, found
}

// Changes compares two configurations setting by setting and returns the
// dotted keys whose values differ, split by when the change takes effect
// in a running daemon: live (a reload applies it) and restart. Only key
// names are returned, never values: some are secrets. A key the reload
// table does not cover (which a test prevents) counts as restart.
func Changes(old, new *Config) (live, restart []string) {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	for _, s := range allSettings {
		if sameValue(ov.FieldByIndex(s.index), nv.FieldByIndex(s.index)) {
			continue
		}
		if r, ok := reloadRuleFor(s.key); ok && r.When == Live {
			live = append(live, s.key)
		} else {
			restart = append(restart, s.key)
		}
	}
	return live, restart
}

// sameValue compares two values of a setting; an empty list or map is the
// same as none.
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice, reflect.Map:
		if a.Len() == 0 && b.Len() == 0 {
			return true
		}
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// InForce is the configuration a running daemon started with started
// works with once it has reloaded next: next's values for the settings a
// reload applies, and started's for those that wait for a restart — so the
// daemon never reads a restart setting (the state path, the CRM kind) that
// is not the one it runs with, and the same key is reported as waiting for
// a restart at every reload until the daemon restarts or the file says the
// started value again. The compiled policy and the file are next's.
func InForce(started, next *Config) *Config {
	c := *next
	cv, sv := reflect.ValueOf(&c).Elem(), reflect.ValueOf(started).Elem()
	for _, s := range allSettings {
		if r, ok := reloadRuleFor(s.key); ok && r.When == Live {
			continue
		}
		cv.FieldByIndex(s.index).Set(sv.FieldByIndex(s.index))
	}
	return &c
}
