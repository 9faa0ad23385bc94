// Package dashboard renders regsync's live dashboard: one server-rendered
// HTML page with inline CSS and inline SVG charts (no script, no build step,
// no CDN, no web fonts), behind a bearer token or basic auth, refreshing
// itself. It shows the pending queue with its ageing against the SLA, the
// approvals and declines by reason per week, the meeting and win rates, the
// protection windows about to expire, the dead letters and the CRM API
// budget.
//
// The daemon fills a Snapshot (from the CRM's records through a Collector,
// the report metrics, the state's dead letters and the connectors' Usage) and
// hands New a function that returns the latest one.
package dashboard

import (
	"errors"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
)

// Config is the `dashboard:` section of the configuration. The dashboard
// shows partner data, so it is closed until a token or a user and password
// are set: then a request must carry `Authorization: Bearer <token>` or
// basic-auth credentials.
type Config struct {
	// Token is the bearer token (REGSYNC_DASHBOARD_TOKEN), at least 16
	// characters.
	Token secret.Secret `yaml:"token"`
	// User and Password are basic-auth credentials, for browsers
	// (REGSYNC_DASHBOARD_USER, REGSYNC_DASHBOARD_PASSWORD); the password is
	// at least 12 characters.
	User     string        `yaml:"user"`
	Password secret.Secret `yaml:"password"`
	// Refresh is how often the page reloads itself (default 1m, at least 5s).
	Refresh time.Duration `yaml:"refresh"`
	// Title heads the page (default "regsync").
	Title string `yaml:"title"`
	// DataRefresh is how often the daemon brings the page's data up to
	// date from the CRM's change feed: the registrations and deals changed
	// since the last look are read again in batch (default 1m, at least 10s).
	DataRefresh time.Duration `yaml:"data_refresh"`
	// FullRefresh is how often every registration and deal is read again
	// with the CRM's list endpoints, so the figures never drift from the
	// CRM (default 1h, at least 1m and not below data_refresh). One full
	// read costs about one API call per 100 records.
	FullRefresh time.Duration `yaml:"full_refresh"`
}

// Minimum credential lengths.
const (
	MinTokenLen    = 16
	MinPasswordLen = 12
)

// DefaultConfig is the section with every key at its default: closed.
func DefaultConfig() Config {
	return Config{Refresh: time.Minute, Title: "regsync", DataRefresh: time.Minute, FullRefresh: time.Hour}
}

// Configured reports whether any credential is set; without one the
// dashboard answers 403 to everybody.
func (c *Config) Configured() bool {
	return c.Token.IsSet() || c.User != "" || c.Password.IsSet()
}

// Validate checks the section; errors are *yamlx.PathError values under
// "dashboard".
func (c *Config) Validate() error {
	var errs []error
	p := func(k string) []string { return yamlx.Path("dashboard", k) }
	if c.Token.IsSet() && len(c.Token.Reveal()) < MinTokenLen {
		errs = append(errs, yamlx.Errorf(p("token"), "must be at least %d characters (try: openssl rand -hex 24)", MinTokenLen))
	}
	if c.Token.IsSet() && strings.ContainsAny(c.Token.Reveal(), " \t\r\n") {
		errs = append(errs, yamlx.Errorf(p("token"), "must not contain spaces or line breaks"))
	}
	switch {
	case c.User != "" && !c.Password.IsSet():
		errs = append(errs, yamlx.Errorf(p("password"), "required with dashboard.user (REGSYNC_DASHBOARD_PASSWORD)"))
	case c.User == "" && c.Password.IsSet():
		errs = append(errs, yamlx.Errorf(p("user"), "required with dashboard.password"))
	case c.Password.IsSet() && len(c.Password.Reveal()) < MinPasswordLen:
		errs = append(errs, yamlx.Errorf(p("password"), "must be at least %d characters", MinPasswordLen))
	}
	if strings.Contains(c.User, ":") || strings.ContainsAny(c.User, "\r\n") {
		errs = append(errs, yamlx.Errorf(p("user"), "must not contain a colon or a line break"))
	}
	if c.Refresh < 5*time.Second {
		errs = append(errs, yamlx.Errorf(p("refresh"), "must be at least 5s, not %s", c.Refresh))
	}
	if c.DataRefresh < 10*time.Second {
		errs = append(errs, yamlx.Errorf(p("data_refresh"), "must be at least 10s, not %s", c.DataRefresh))
	}
	if c.FullRefresh < time.Minute || c.FullRefresh < c.DataRefresh {
		errs = append(errs, yamlx.Errorf(p("full_refresh"), "must be at least 1m and at least data_refresh (%s), not %s", c.DataRefresh, c.FullRefresh))
	}
	if strings.ContainsAny(c.Title, "\r\n") {
		errs = append(errs, yamlx.Errorf(p("title"), "must be one line"))
	}
	return errors.Join(errs...)
}

// howToOpen is logged (once) and answered when no credential is set.
const howToOpen = "the dashboard is closed: set dashboard.token (or REGSYNC_DASHBOARD_TOKEN), " +
	"or dashboard.user and dashboard.password (REGSYNC_DASHBOARD_USER, REGSYNC_DASHBOARD_PASSWORD)"
