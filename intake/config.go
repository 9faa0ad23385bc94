package intake

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Config is the intake: section of the configuration: the no-portal
// channels and the login-free status page.
// Partners reach the channels and the status pages at server.public_url.
type Config struct {
	StatusPage  StatusPageConfig  `yaml:"status_page"`
	Email       EmailConfig       `yaml:"email"`
	WebForm     WebFormConfig     `yaml:"webform"`
	Slack       SlackConfig       `yaml:"slack"`
	CSV         CSVConfig         `yaml:"csv"`
	HubSpotForm HubSpotFormConfig `yaml:"hubspot_form"`
}

// StatusPageConfig configures the status links (GET /r/{token}).
type StatusPageConfig struct {
	// Key signs status links (HMAC-SHA256, REGSYNC_INTAKE_STATUS_PAGE_KEY).
	// Rotating it revokes every link given out so far. Unset, the daemon
	// makes a random key at start (links then last until a restart).
	Key secret.Secret `yaml:"key"`
}

// EmailConfig is the e-mail channel (POST /intake/email and IMAP).
type EmailConfig struct {
	Enabled bool `yaml:"enabled"`
	// Token authenticates the inbound-mail service: its POSTs carry it as
	// "Authorization: Bearer TOKEN" or as the password of basic auth (a
	// URL such as https://regsync:TOKEN@host/intake/email).
	Token secret.Secret `yaml:"token"`
	// Address is the intake mailbox; mail from it is never answered.
	Address string `yaml:"address"`
	// MaxBytes bounds one message (the request body).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// ProcessingTimeout bounds the handling of one message (parsing, the
	// CRM, the reply), posted or polled: past it the inbound service gets
	// 503 and retries; a polled message is tried again at the next poll.
	ProcessingTimeout time.Duration `yaml:"processing_timeout"`
	// Authentication says which sender-authentication results to honour.
	Authentication EmailAuthConfig `yaml:"authentication"`
	IMAP           IMAPConfig      `yaml:"imap"`
}

// EmailAuthConfig says which DKIM/SPF/DMARC results the e-mail channel
// honours (see docs/intake.md's e-mail section for exactly how).
type EmailAuthConfig struct {
	// AuthservIDs are the authserv-ids (RFC 8601) of the receiving mail
	// servers whose Authentication-Results and ARC-Authentication-Results
	// headers are trusted. Empty: only the topmost Authentication-Results
	// header (the last hop's) is read, and ARC results are not.
	AuthservIDs []string `yaml:"authserv_ids"`
	// MailgunHeaders names X-Mailgun-Spf and X-Mailgun-Dkim-Check-Result
	// in the reasons of refusals. Neither is about the From domain (SPF
	// is the envelope sender's, the DKIM check names no signer), so
	// neither authenticates nor refuses a message.
	MailgunHeaders bool `yaml:"mailgun_headers"`
	// Require refuses mail that no honoured result authenticates (an
	// aligned DKIM or SPF pass, or a DMARC pass). Off, only a failing
	// result refuses.
	Require bool `yaml:"require"`
	// RequireForAmendments (default true) makes a withdrawal, an appeal
	// or fields supplied by e-mail need proof of the sender: a DKIM or
	// DMARC pass for the From domain from a source the sender cannot
	// write (the topmost Authentication-Results of a listed authserv-id,
	// or SendGrid's dkim field), or the registration's status link in the
	// message (a reply that keeps regsync's e-mail holds it). The case
	// number alone is not enough; a refused change is answered with how
	// to make it.
	RequireForAmendments bool `yaml:"require_for_amendments"`
}

// IMAP TLS modes (and SMTP's, in internal/mail).
const (
	TLSImplicit = "tls"
	TLSStartTLS = "starttls"
	TLSNone     = "none"
)

// IMAPConfig is the optional poller of a mailbox.
type IMAPConfig struct {
	Enabled bool `yaml:"enabled"`
	// Addr is host:port (993 for tls, 143 for starttls).
	Addr     string        `yaml:"addr"`
	TLS      string        `yaml:"tls"`
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// Mailbox is polled for messages without the processed keyword.
	Mailbox string `yaml:"mailbox"`
	// Keyword marks processed messages (they are also marked \Seen).
	Keyword      string        `yaml:"keyword"`
	PollInterval time.Duration `yaml:"poll_interval"`
	Timeout      time.Duration `yaml:"timeout"`
}

// WebFormConfig is the open web form (GET/POST /register).
type WebFormConfig struct {
	Enabled bool `yaml:"enabled"`
	// Title heads the page (the program's name).
	Title   string        `yaml:"title"`
	Captcha CaptchaConfig `yaml:"captcha"`
	// ConfirmEmail holds a submission from an address that has not been
	// confirmed (no personal link, no remembered browser) until someone
	// opens the link e-mailed to that address; only then is it registered,
	// and its place in line starts then. Off, the form believes whatever
	// address is typed.
	ConfirmEmail bool `yaml:"confirm_email"`
	// ConfirmTTL is how long a held submission waits for its confirmation;
	// then it is dropped and its link says it expired.
	ConfirmTTL time.Duration `yaml:"confirm_ttl"`
	// RememberConfirmed is how long a browser that confirmed an address is
	// remembered (a signed cookie): its later submissions from that
	// address are registered at once. 0: never remembered.
	RememberConfirmed time.Duration `yaml:"remember_confirmed"`
	// LinkKey signs personal partner links (regsync partner-link) and the
	// cookies of remembered browsers (HMAC-SHA256,
	// REGSYNC_INTAKE_WEBFORM_LINK_KEY). Rotating it revokes every
	// personal link and every remembered browser. Unset, serve makes one
	// and keeps it beside the state file (<state.path>.link-key), where
	// regsync partner-link finds it.
	LinkKey secret.Secret `yaml:"link_key"`
	// RateLimit bounds submissions per client, per submitter address and
	// per partner.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies
	// whose X-Forwarded-For is believed; from anyone else it is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// NonceKey signs the form's one-time nonce (its submission key).
	// Unset, a random key is made at start.
	NonceKey secret.Secret `yaml:"nonce_key"`
	// NonceMaxAge is how long a served form may be submitted.
	NonceMaxAge time.Duration `yaml:"nonce_max_age"`
	// MinFillTime refuses forms submitted faster than a person can (0: off).
	MinFillTime time.Duration `yaml:"min_fill_time"`
}

// Captcha providers.
const (
	CaptchaNone      = "none"
	CaptchaReCAPTCHA = "recaptcha"
	CaptchaHCaptcha  = "hcaptcha"
	CaptchaTurnstile = "turnstile"
)

// CaptchaConfig is the web form's captcha: a siteverify-style endpoint.
type CaptchaConfig struct {
	// Provider is none, recaptcha, hcaptcha or turnstile.
	Provider string        `yaml:"provider"`
	SiteKey  string        `yaml:"site_key"`
	Secret   secret.Secret `yaml:"secret"`
	// VerifyURL defaults to the provider's siteverify endpoint.
	VerifyURL string        `yaml:"verify_url"`
	Timeout   time.Duration `yaml:"timeout"`
}

// DefaultVerifyURL is the siteverify endpoint of each provider.
var DefaultVerifyURL = map[string]string{
	CaptchaReCAPTCHA: "https://www.google.com/recaptcha/api/siteverify",
	CaptchaHCaptcha:  "https://api.hcaptcha.com/siteverify",
	CaptchaTurnstile: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
}

// RateLimitConfig is the web form's token buckets. Submissions that are
// not confirmed (no personal link, no remembered browser) count per client
// — an IPv4 address, an IPv6 /64 — and, once valid, per submitter address;
// only submissions registered in the CRM (confirmed ones) count per
// partner, so a stranger typing a partner's address never uses up the
// partner's allowance. Each per_hour 0 turns its bucket off.
type RateLimitConfig struct {
	// PerHour is the sustained rate of unconfirmed submissions per client.
	PerHour int `yaml:"per_hour"`
	// Burst is how many may come at once.
	Burst int `yaml:"burst"`
	// PerAddressPerHour bounds unconfirmed submissions (so confirmation
	// e-mails) per submitter address, whatever client sends them.
	PerAddressPerHour int `yaml:"per_address_per_hour"`
	PerAddressBurst   int `yaml:"per_address_burst"`
	// PerPartnerPerHour bounds the web form's registrations per partner:
	// confirmed submissions, counted when they are registered.
	PerPartnerPerHour int `yaml:"per_partner_per_hour"`
	PerPartnerBurst   int `yaml:"per_partner_burst"`
}

// SlackConfig is the Slack app (/register).
type SlackConfig struct {
	Enabled bool `yaml:"enabled"`
	// SigningSecret verifies every request from Slack.
	SigningSecret secret.Secret `yaml:"signing_secret"`
	// BotToken (xoxb-…) calls views.open, users.info, chat.postMessage and
	// chat.postEphemeral; it needs the commands, users:read,
	// users:read.email and chat:write scopes.
	BotToken secret.Secret `yaml:"bot_token"`
	// APIURL is Slack's Web API base; tests point it at a fake.
	APIURL string `yaml:"api_url"`
	// Command is the slash command's name.
	Command string `yaml:"command"`
	// UserCacheTTL is how long a user's e-mail address is cached.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl"`
	Timeout      time.Duration `yaml:"timeout"`
}

// DefaultSlackAPIURL is Slack's Web API.
const DefaultSlackAPIURL = "https://slack.com/api/"

// CSVConfig is the CSV drop (POST /intake/csv; regsync import needs no
// tokens).
type CSVConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxBytes bounds one upload.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// BatchSize is how many rows one Register call carries (1–100).
	BatchSize int `yaml:"batch_size"`
	// Tokens authenticate uploads, one per partner.
	Tokens []CSVToken `yaml:"tokens"`
}

// CSVToken lets one partner upload.
type CSVToken struct {
	Partner string        `yaml:"partner"`
	Token   secret.Secret `yaml:"token"`
	// Submitter is the partner_email of rows that carry none.
	Submitter string `yaml:"submitter"`
}

// HubSpotFormConfig is the poller of HubSpot forms with hidden fields.
type HubSpotFormConfig struct {
	Enabled      bool          `yaml:"enabled"`
	PollInterval time.Duration `yaml:"poll_interval"`
	Forms        []HubSpotForm `yaml:"forms"`
}

// HubSpotForm is one polled form.
type HubSpotForm struct {
	GUID string `yaml:"guid"`
	// PartnerID is the partner of submissions without a partner_id hidden
	// field; PartnerEmail is their partner_email when the form carries none.
	PartnerID    string `yaml:"partner_id"`
	PartnerEmail string `yaml:"partner_email"`
	// Fields maps the form's field names to canonical field names, over
	// the built-in mapping.
	Fields map[string]string `yaml:"fields"`
}

// DefaultConfig returns the section with every channel off and every other
// key at its default.
func DefaultConfig() Config {
	return Config{
		Email: EmailConfig{
			MaxBytes:          25 << 20,
			ProcessingTimeout: 30 * time.Second,
			Authentication:    EmailAuthConfig{RequireForAmendments: true},
			IMAP: IMAPConfig{TLS: TLSImplicit, Mailbox: "INBOX", Keyword: "$RegsyncProcessed",
				PollInterval: time.Minute, Timeout: 30 * time.Second},
		},
		WebForm: WebFormConfig{
			Title:             "Register a prospect",
			Captcha:           CaptchaConfig{Provider: CaptchaNone, Timeout: 10 * time.Second},
			ConfirmEmail:      true,
			ConfirmTTL:        24 * time.Hour,
			RememberConfirmed: 30 * 24 * time.Hour,
			RateLimit: RateLimitConfig{PerHour: 20, Burst: 5, PerAddressPerHour: 6, PerAddressBurst: 3,
				PerPartnerPerHour: 60, PerPartnerBurst: 20},
			NonceMaxAge: 24 * time.Hour,
		},
		Slack:       SlackConfig{APIURL: DefaultSlackAPIURL, Command: "/register", UserCacheTTL: time.Hour, Timeout: 10 * time.Second},
		CSV:         CSVConfig{MaxBytes: 20 << 20, BatchSize: 100},
		HubSpotForm: HubSpotFormConfig{PollInterval: 5 * time.Minute},
	}
}

// Validate checks the section; partners are the configured partners
// (tokens and forms must name one). Errors carry paths starting at "intake"
// and are joined.
func (c *Config) Validate(partners []rules.Partner) error {
	var errs []error
	bad := func(path []string, format string, args ...any) {
		errs = append(errs, yamlx.Errorf(append([]string{"intake"}, path...), format, args...))
	}
	known := map[string]bool{}
	for _, p := range partners {
		known[p.ID] = true
	}
	if k := c.StatusPage.Key; k.IsSet() && len(k.Reveal()) < 16 {
		bad(yamlx.Path("status_page", "key"), "too short: use 16 characters or more (32 random ones are best)")
	}
	e := &c.Email
	if e.IMAP.Enabled && !e.Enabled {
		bad(yamlx.Path("email", "imap", "enabled"), "the mailbox is polled only while intake.email.enabled is true")
	}
	if e.Enabled && !e.Token.IsSet() {
		bad(yamlx.Path("email", "token"), "required when the e-mail channel is enabled: the inbound-mail service sends it with every message (REGSYNC_INTAKE_EMAIL_TOKEN)")
	}
	if e.Address != "" {
		if _, err := registration.ParseEmail(e.Address); err != nil {
			bad(yamlx.Path("email", "address"), "%q is not an e-mail address", e.Address)
		}
	}
	if e.MaxBytes <= 0 {
		bad(yamlx.Path("email", "max_bytes"), "must be positive")
	}
	if e.ProcessingTimeout <= 0 {
		bad(yamlx.Path("email", "processing_timeout"), "must be positive, not %s", e.ProcessingTimeout)
	}
	for i, id := range e.Authentication.AuthservIDs {
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t;") {
			bad(yamlx.Path("email", "authentication", "authserv_ids", i), "%q is not an authserv-id (a host name such as mx.google.com)", id)
		}
	}
	if im := &e.IMAP; im.Enabled {
		if _, _, err := net.SplitHostPort(im.Addr); err != nil {
			bad(yamlx.Path("email", "imap", "addr"), "%q is not host:port", im.Addr)
		}
		if im.Username == "" {
			bad(yamlx.Path("email", "imap", "username"), "required when imap is enabled")
		}
		if im.Mailbox == "" {
			bad(yamlx.Path("email", "imap", "mailbox"), "required when imap is enabled")
		}
		if host, _, err := net.SplitHostPort(im.Addr); err == nil && im.TLS == TLSNone && !isLoopback(host) {
			bad(yamlx.Path("email", "imap", "tls"), "none would send the password in clear text to %s: use tls or starttls", host)
		}
	}
	switch e.IMAP.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		bad(yamlx.Path("email", "imap", "tls"), "must be tls, starttls or none, not %q", e.IMAP.TLS)
	}
	if !validKeyword(e.IMAP.Keyword) {
		bad(yamlx.Path("email", "imap", "keyword"), "%q is not an IMAP keyword (letters, digits, $, _ and -)", e.IMAP.Keyword)
	}
	if e.IMAP.PollInterval <= 0 {
		bad(yamlx.Path("email", "imap", "poll_interval"), "must be positive, not %s", e.IMAP.PollInterval)
	}
	if e.IMAP.Timeout <= 0 {
		bad(yamlx.Path("email", "imap", "timeout"), "must be positive, not %s", e.IMAP.Timeout)
	}

	w := &c.WebForm
	switch w.Captcha.Provider {
	case CaptchaNone:
	case CaptchaReCAPTCHA, CaptchaHCaptcha, CaptchaTurnstile:
		if w.Captcha.SiteKey == "" {
			bad(yamlx.Path("webform", "captcha", "site_key"), "required with provider %s", w.Captcha.Provider)
		}
		if !w.Captcha.Secret.IsSet() {
			bad(yamlx.Path("webform", "captcha", "secret"), "required with provider %s", w.Captcha.Provider)
		}
	default:
		bad(yamlx.Path("webform", "captcha", "provider"), "must be none, recaptcha, hcaptcha or turnstile, not %q", w.Captcha.Provider)
	}
	if w.Captcha.VerifyURL != "" {
		if err := checkBaseURL(w.Captcha.VerifyURL); err != nil {
			bad(yamlx.Path("webform", "captcha", "verify_url"), "%v", err)
		}
	}
	if w.Captcha.Timeout <= 0 {
		bad(yamlx.Path("webform", "captcha", "timeout"), "must be positive, not %s", w.Captcha.Timeout)
	}
	for _, b := range []struct {
		perHour, burst   int
		perKey, burstKey string
	}{
		{w.RateLimit.PerHour, w.RateLimit.Burst, "per_hour", "burst"},
		{w.RateLimit.PerAddressPerHour, w.RateLimit.PerAddressBurst, "per_address_per_hour", "per_address_burst"},
		{w.RateLimit.PerPartnerPerHour, w.RateLimit.PerPartnerBurst, "per_partner_per_hour", "per_partner_burst"},
	} {
		if b.perHour < 0 {
			bad(yamlx.Path("webform", "rate_limit", b.perKey), "must be 0 (no limit) or more, not %d", b.perHour)
		}
		if b.perHour > 0 && b.burst <= 0 {
			bad(yamlx.Path("webform", "rate_limit", b.burstKey), "must be positive, not %d", b.burst)
		}
	}
	if w.ConfirmTTL <= 0 {
		bad(yamlx.Path("webform", "confirm_ttl"), "must be positive, not %s", w.ConfirmTTL)
	}
	if w.RememberConfirmed < 0 {
		bad(yamlx.Path("webform", "remember_confirmed"), "must be 0 (never remembered) or more, not %s", w.RememberConfirmed)
	}
	if k := w.LinkKey; k.IsSet() && len(k.Reveal()) < 16 {
		bad(yamlx.Path("webform", "link_key"), "too short: use 16 characters or more (32 random ones are best)")
	}
	for i, p := range w.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad(yamlx.Path("webform", "trusted_proxies", i), "%q is not an IP address or CIDR range", p)
		}
	}
	if w.NonceMaxAge <= 0 {
		bad(yamlx.Path("webform", "nonce_max_age"), "must be positive, not %s", w.NonceMaxAge)
	}
	if w.MinFillTime < 0 || (w.NonceMaxAge > 0 && w.MinFillTime >= w.NonceMaxAge) {
		bad(yamlx.Path("webform", "min_fill_time"), "must be 0 or more and less than nonce_max_age, not %s", w.MinFillTime)
	}

	s := &c.Slack
	if s.Enabled {
		if !s.SigningSecret.IsSet() {
			bad(yamlx.Path("slack", "signing_secret"), "required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_SIGNING_SECRET)")
		}
		if !s.BotToken.IsSet() {
			bad(yamlx.Path("slack", "bot_token"), "required when the Slack channel is enabled (REGSYNC_INTAKE_SLACK_BOT_TOKEN)")
		}
	}
	if err := checkBaseURL(s.APIURL); err != nil {
		bad(yamlx.Path("slack", "api_url"), "%v", err)
	}
	if !strings.HasPrefix(s.Command, "/") || len(s.Command) < 2 || strings.ContainsAny(s.Command, " \t") {
		bad(yamlx.Path("slack", "command"), "%q is not a slash command such as /register", s.Command)
	}
	if s.UserCacheTTL < 0 {
		bad(yamlx.Path("slack", "user_cache_ttl"), "must not be negative, not %s", s.UserCacheTTL)
	}
	if s.Timeout <= 0 {
		bad(yamlx.Path("slack", "timeout"), "must be positive, not %s", s.Timeout)
	}

	cv := &c.CSV
	if cv.MaxBytes <= 0 {
		bad(yamlx.Path("csv", "max_bytes"), "must be positive")
	}
	if cv.BatchSize < 1 || cv.BatchSize > 100 {
		bad(yamlx.Path("csv", "batch_size"), "must be 1 to 100, not %d", cv.BatchSize)
	}
	seen := map[string]int{}
	for i, t := range cv.Tokens {
		switch {
		case t.Partner == "":
			bad(yamlx.Path("csv", "tokens", i, "partner"), "partner id is required")
		case !known[t.Partner]:
			bad(yamlx.Path("csv", "tokens", i, "partner"), "no partner with id %q", t.Partner)
		}
		if !t.Token.IsSet() {
			bad(yamlx.Path("csv", "tokens", i, "token"), "required")
		} else if len(t.Token.Reveal()) < 16 {
			bad(yamlx.Path("csv", "tokens", i, "token"), "too short: use 16 characters or more")
		} else if j, dup := seen[t.Token.Reveal()]; dup {
			bad(yamlx.Path("csv", "tokens", i, "token"), "the same token as tokens.%d", j)
		} else {
			seen[t.Token.Reveal()] = i
		}
		if t.Submitter != "" {
			if _, err := registration.ParseEmail(t.Submitter); err != nil {
				bad(yamlx.Path("csv", "tokens", i, "submitter"), "%q is not an e-mail address", t.Submitter)
			}
		}
	}

	h := &c.HubSpotForm
	if h.PollInterval <= 0 {
		bad(yamlx.Path("hubspot_form", "poll_interval"), "must be positive, not %s", h.PollInterval)
	}
	if h.Enabled && len(h.Forms) == 0 {
		bad(yamlx.Path("hubspot_form", "forms"), "list at least one form guid when hubspot_form is enabled")
	}
	guids := map[string]bool{}
	for i, f := range h.Forms {
		switch {
		case strings.TrimSpace(f.GUID) == "":
			bad(yamlx.Path("hubspot_form", "forms", i, "guid"), "form guid is required")
		case guids[f.GUID]:
			bad(yamlx.Path("hubspot_form", "forms", i, "guid"), "duplicate form %q", f.GUID)
		}
		guids[f.GUID] = true
		if f.PartnerID != "" && !known[f.PartnerID] {
			bad(yamlx.Path("hubspot_form", "forms", i, "partner_id"), "no partner with id %q", f.PartnerID)
		}
		if f.PartnerEmail != "" {
			if _, err := registration.ParseEmail(f.PartnerEmail); err != nil {
				bad(yamlx.Path("hubspot_form", "forms", i, "partner_email"), "%q is not an e-mail address", f.PartnerEmail)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.Fields)) {
			v := f.Fields[k]
			if _, ok := registration.LookupField(v); !ok || !settable(v) {
				bad(yamlx.Path("hubspot_form", "forms", i, "fields", k), "%q is not a field a form may set", v)
			}
		}
	}
	return errors.Join(errs...)
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry user info, a query or a fragment", s)
	}
	return nil
}

func validKeyword(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '$' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParsePrefix reads an IP address (a single-address prefix) or a CIDR range.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ByteSize is a size in bytes, written in YAML as a number or with a unit:
// 512KiB, 25MiB, 1GiB (KB, MB and GB are read as the same powers of two).
type ByteSize int64

// UnmarshalYAML reads a number or a number with a unit; an error names the
// line.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a size such as 25MiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size with the largest exact unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// ParseByteSize reads "1048576", "512KiB", "25MiB", "25 MB" or "1GiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
	}
	var mul int64
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
		mul = 1
	case "k", "kb", "kib":
		mul = 1 << 10
	case "m", "mb", "mib":
		mul = 1 << 20
	case "g", "gb", "gib":
		mul = 1 << 30
	default:
		return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
	}
	if n > (1<<62)/mul {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * mul), nil
}

// isLoopback reports whether host is this machine (localhost or a
// loopback address), where a connection in clear text stays on the host.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
