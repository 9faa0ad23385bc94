package salesforce

import (
	"errors"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
)

// DefaultDomain is Salesforce's production login host. Sandboxes use
// https://test.salesforce.com, orgs with My Domain their own host.
const DefaultDomain = "https://login.salesforce.com"

// DefaultObject is the custom object the SFDX package in deploy/salesforce
// creates.
const DefaultObject = "Partner_Registration__c"

// DefaultAPIVersion is the REST API version regsync speaks (go-salesforce's
// own default).
const DefaultAPIVersion = "v63.0"

// Fields regsync keeps on each registration besides the mapped canonical
// fields. Domain_Key__c and Name_Key__c are derived from company_domain and
// company_name on every write that sets them, so rival registrations on a
// sub-domain or under a differently written name are found with one IN
// filter; Account__c and Opportunity__c are the lookups to the matched
// Account and Opportunity.
const (
	FieldDomainKey   = "Domain_Key__c"
	FieldNameKey     = "Name_Key__c"
	FieldAccount     = "Account__c"
	FieldOpportunity = "Opportunity__c"
)

// Auth flows, as Config.AuthFlow names them.
const (
	FlowClientCredentials = "client_credentials"
	FlowPassword          = "password"
	FlowJWT               = "jwt"
	FlowAccessToken       = "access_token"
)

// Note objects.
const (
	NoteFeedItem = "FeedItem" // a Chatter post on the registration's feed
	NoteClassic  = "Note"     // a classic Note in Notes & Attachments
)

// Config is the salesforce: section of the configuration.
type Config struct {
	// Domain is the full base URL logins go to (scheme included):
	// https://login.salesforce.com, https://test.salesforce.com, a My
	// Domain host, or a loopback fake.
	Domain string `yaml:"domain"`
	// ClientID and ClientSecret are the connected app's consumer key and
	// secret (REGSYNC_SALESFORCE_CLIENT_SECRET). Alone they select the
	// client-credentials flow.
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	// Username with Password and SecurityToken selects the
	// username-password flow; Username with PrivateKey (a PEM RSA key, or
	// file:/path) the JWT bearer flow.
	Username      string        `yaml:"username"`
	Password      secret.Secret `yaml:"password"`
	SecurityToken secret.Secret `yaml:"security_token"`
	PrivateKey    secret.Secret `yaml:"private_key"`
	// AccessToken is a session id used as is (it cannot be refreshed).
	AccessToken secret.Secret `yaml:"access_token"`
	// APIVersion is the REST API version, vNN.0.
	APIVersion string `yaml:"api_version"`
	// OrganizationID is the org's 18-character id; outbound messages from
	// any other org are refused. Required to accept outbound messages.
	OrganizationID string `yaml:"organization_id"`
	// OutboundMessages mounts POST /webhooks/salesforce, the push path of
	// outbound messages. false: the endpoint is not mounted and changes
	// arrive by polling alone.
	OutboundMessages bool `yaml:"outbound_messages"`
	// WebhookSecret must appear as the query parameter "secret" of the
	// outbound message's endpoint URL (REGSYNC_SALESFORCE_WEBHOOK_SECRET,
	// at least MinWebhookSecretLen characters). It is what authenticates a
	// message: the organization id in it is no secret. Required while
	// OutboundMessages is on (the configuration checks it; VerifyWebhook
	// refuses every message without it).
	WebhookSecret secret.Secret `yaml:"webhook_secret"`
	// Object is the registration object's API name.
	Object string `yaml:"object"`
	// Fields maps canonical field names (registration.FieldNames, except
	// id) to field API names; unmapped fields take the canonical name in
	// Case_Number__c form.
	Fields map[string]string `yaml:"fields"`
	// AccountDomainField is the Account field holding the company's web
	// address or domain: Website (free text, matched by registrable
	// domain) or a custom text field.
	AccountDomainField string `yaml:"account_domain_field"`
	// OpportunityPartnerField is the Opportunity field attribution stamps
	// with the partner id.
	OpportunityPartnerField string `yaml:"opportunity_partner_field"`
	// NoteObject is where audit notes go: FeedItem or Note.
	NoteObject string `yaml:"note_object"`
	// PollInterval is how often the daemon polls for changes.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PollOverlap is how far behind the newest SystemModstamp seen a poll
	// looks again, for transactions that commit with an earlier stamp.
	PollOverlap time.Duration `yaml:"poll_overlap"`
	// BulkThreshold is the number of records from which an import goes
	// through Bulk API 2.0 instead of sObject Collections.
	BulkThreshold int `yaml:"bulk_threshold"`
	// MaxQueryLength bounds the length of one SOQL statement; IN lists
	// are split to stay under it.
	MaxQueryLength int `yaml:"max_query_length"`
	// SlowDownAt is the share of the daily API allocation above which
	// regsync spaces its calls out and alerts.
	SlowDownAt float64 `yaml:"slow_down_at"`
	// Timeout bounds each HTTP attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how many times a retryable failure is retried.
	MaxRetries int `yaml:"max_retries"`
}

// DefaultConfig returns the section with every key at its default.
func DefaultConfig() Config {
	return Config{
		Domain:                  DefaultDomain,
		APIVersion:              DefaultAPIVersion,
		Object:                  DefaultObject,
		AccountDomainField:      "Website",
		OpportunityPartnerField: "Partner_Id__c",
		NoteObject:              NoteFeedItem,
		OutboundMessages:        true,
		PollInterval:            time.Minute,
		PollOverlap:             time.Minute,
		BulkThreshold:           2000,
		MaxQueryLength:          16000,
		SlowDownAt:              0.8,
		Timeout:                 30 * time.Second,
		MaxRetries:              4,
	}
}

// MinWebhookSecretLen is the shortest salesforce.webhook_secret accepted.
const MinWebhookSecretLen = 16

// maxSOQL is Salesforce's limit on the length of a SOQL statement.
const maxSOQL = 100000

// AuthFlow names the OAuth flow the credentials select, as go-salesforce
// picks it, or "" when none is configured.
func (c *Config) AuthFlow() string {
	switch {
	case c.AccessToken.IsSet():
		return FlowAccessToken
	case c.Username != "" && c.PrivateKey.IsSet():
		return FlowJWT
	case c.Username != "" && c.Password.IsSet():
		return FlowPassword
	case c.ClientID != "" && c.ClientSecret.IsSet():
		return FlowClientCredentials
	}
	return ""
}

// Validate checks the section. Errors carry paths starting at "salesforce"
// and are joined. Missing credentials are not an error here (the section
// is unused unless crm.kind is salesforce): see AuthFlow.
func (c *Config) Validate() error {
	var errs []error
	p := func(segs ...any) []string { return yamlx.Path(append([]any{"salesforce"}, segs...)...) }
	if u, err := url.Parse(c.Domain); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, yamlx.Errorf(p("domain"), "%q is not an http(s) URL (a full base URL such as %s)", c.Domain, DefaultDomain))
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Trim(u.Path, "/") != "" {
		errs = append(errs, yamlx.Errorf(p("domain"), "must be a base URL without path, user info, query or fragment"))
	}
	switch {
	case c.AccessToken.IsSet():
	case c.Username != "":
		switch {
		case c.PrivateKey.IsSet():
			if c.ClientID == "" {
				errs = append(errs, yamlx.Errorf(p("client_id"), "required with username and private_key (JWT bearer flow)"))
			}
		case c.Password.IsSet():
			if c.ClientID == "" {
				errs = append(errs, yamlx.Errorf(p("client_id"), "required with username and password"))
			}
			if !c.ClientSecret.IsSet() {
				errs = append(errs, yamlx.Errorf(p("client_secret"), "required with username and password"))
			}
			if !c.SecurityToken.IsSet() {
				errs = append(errs, yamlx.Errorf(p("security_token"),
					"required with username and password (go-salesforce picks the password flow only with a security token)"))
			}
		default:
			errs = append(errs, yamlx.Errorf(p("username"), "set password (REGSYNC_SALESFORCE_PASSWORD) or private_key for the JWT bearer flow"))
		}
	case c.ClientSecret.IsSet() && c.ClientID == "":
		errs = append(errs, yamlx.Errorf(p("client_id"), "required with client_secret"))
	case c.ClientID != "" && !c.ClientSecret.IsSet():
		errs = append(errs, yamlx.Errorf(p("client_secret"), "required with client_id (REGSYNC_SALESFORCE_CLIENT_SECRET)"))
	}
	if !validAPIVersion(c.APIVersion) {
		errs = append(errs, yamlx.Errorf(p("api_version"), "%q is not an API version such as %s", c.APIVersion, DefaultAPIVersion))
	}
	if c.OrganizationID != "" && !validID(c.OrganizationID) {
		errs = append(errs, yamlx.Errorf(p("organization_id"), "%q is not a 15- or 18-character Salesforce id", c.OrganizationID))
	}
	if c.WebhookSecret.IsSet() && len(c.WebhookSecret.Reveal()) < MinWebhookSecretLen {
		errs = append(errs, yamlx.Errorf(p("webhook_secret"), "must be at least %d characters (try: openssl rand -hex 24)", MinWebhookSecretLen))
	}
	if !validAPIName(c.Object) {
		errs = append(errs, yamlx.Errorf(p("object"), "%q is not an object API name", c.Object))
	}
	if !validAPIName(c.AccountDomainField) {
		errs = append(errs, yamlx.Errorf(p("account_domain_field"), "%q is not a field API name", c.AccountDomainField))
	}
	if !validAPIName(c.OpportunityPartnerField) {
		errs = append(errs, yamlx.Errorf(p("opportunity_partner_field"), "%q is not a field API name", c.OpportunityPartnerField))
	}
	switch c.NoteObject {
	case NoteFeedItem, NoteClassic:
	default:
		errs = append(errs, yamlx.Errorf(p("note_object"), "must be %s or %s, not %q", NoteFeedItem, NoteClassic, c.NoteObject))
	}
	errs = append(errs, c.validateFields(p)...)
	if c.PollInterval <= 0 {
		errs = append(errs, yamlx.Errorf(p("poll_interval"), "must be positive, not %s", c.PollInterval))
	}
	if c.PollOverlap < 0 || c.PollOverlap > time.Hour {
		errs = append(errs, yamlx.Errorf(p("poll_overlap"), "must be between 0 and 1h, not %s", c.PollOverlap))
	}
	if c.BulkThreshold < 1 {
		errs = append(errs, yamlx.Errorf(p("bulk_threshold"), "must be positive, not %d", c.BulkThreshold))
	}
	if c.MaxQueryLength < 2000 || c.MaxQueryLength > maxSOQL {
		errs = append(errs, yamlx.Errorf(p("max_query_length"), "must be between 2000 and %d characters, not %d", maxSOQL, c.MaxQueryLength))
	}
	if !(c.SlowDownAt > 0 && c.SlowDownAt <= 1) {
		errs = append(errs, yamlx.Errorf(p("slow_down_at"), "must be a share above 0 and at most 1, not %s",
			strconv.FormatFloat(c.SlowDownAt, 'g', -1, 64)))
	}
	if c.Timeout <= 0 {
		errs = append(errs, yamlx.Errorf(p("timeout"), "must be positive, not %s", c.Timeout))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, yamlx.Errorf(p("max_retries"), "must not be negative, not %d", c.MaxRetries))
	}
	return errors.Join(errs...)
}

// reservedFields are the fields regsync maintains itself on the object.
var reservedFields = []string{"Id", "Name", "SystemModstamp", "LastModifiedDate", "CreatedDate", "IsDeleted", "OwnerId",
	FieldDomainKey, FieldNameKey, FieldAccount, FieldOpportunity}

func (c *Config) validateFields(p func(...any) []string) []error {
	var errs []error
	names := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := c.Fields[k]
		switch {
		case k == "id":
			errs = append(errs, yamlx.Errorf(p("fields", k), "id is the record's Id and cannot be mapped"))
		case !isField(k):
			errs = append(errs, yamlx.Errorf(p("fields", k), "unknown field %q", k))
		case !validAPIName(v):
			errs = append(errs, yamlx.Errorf(p("fields", k), "%q is not a field API name (letters, digits and single underscores, starting with a letter, optionally ending in __c)", v))
		case slices.ContainsFunc(reservedFields, func(r string) bool { return strings.EqualFold(r, v) }):
			errs = append(errs, yamlx.Errorf(p("fields", k), "%q is reserved", v))
		}
	}
	// Two canonical fields on one API name (compared case-insensitively,
	// as Salesforce does), with the effective mapping.
	eff := map[string][]string{}
	for _, f := range registration.FieldNames() {
		if f == "id" {
			continue
		}
		api := DefaultFieldName(f)
		if v, ok := c.Fields[f]; ok && validAPIName(v) {
			api = v
		}
		eff[strings.ToLower(api)] = append(eff[strings.ToLower(api)], f)
	}
	for _, k := range names {
		v := c.Fields[k]
		if fs := eff[strings.ToLower(v)]; len(fs) > 1 && slices.Contains(fs, k) {
			others := slices.DeleteFunc(slices.Clone(fs), func(s string) bool { return s == k })
			errs = append(errs, yamlx.Errorf(p("fields", k), "field %q is also used by %s", v, strings.Join(others, ", ")))
		}
	}
	return errs
}

func isField(name string) bool {
	_, ok := registration.LookupField(name)
	return ok
}

// DefaultFieldName is the default API name of a canonical field: each
// word capitalised and "__c" appended, so case_number → Case_Number__c and
// sla_due → Sla_Due__c; id → Id.
func DefaultFieldName(canonical string) string {
	if canonical == "id" {
		return "Id"
	}
	words := strings.Split(canonical, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "_") + "__c"
}

// FieldName returns the API name of a canonical field.
func (c *Config) FieldName(canonical string) string {
	if canonical == "id" {
		return "Id"
	}
	if v, ok := c.Fields[canonical]; ok && v != "" {
		return v
	}
	return DefaultFieldName(canonical)
}

// validAPIName reports whether s is an object or field API name: letters,
// digits and underscores, starting with a letter, no double underscore
// except a final __c, at most 80 characters. It is the only check between
// configuration and the text of a SOQL statement, so it is strict.
func validAPIName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	base := strings.TrimSuffix(s, "__c")
	if base == "" || strings.Contains(base, "__") || strings.HasSuffix(base, "_") {
		return false
	}
	if !('a' <= base[0] && base[0] <= 'z' || 'A' <= base[0] && base[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validAPIVersion reports whether s has the form vNN.0.
func validAPIVersion(s string) bool {
	n, ok := strings.CutPrefix(s, "v")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(n, ".")
	return ok && major != "" && minor != "" && allDigits(major) && allDigits(minor) && len(major) <= 3 && len(minor) <= 2
}

// validID reports whether s is a 15-character Salesforce id, or an
// 18-character one whose last three characters are the checksum of the
// case of the first fifteen.
func validID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	if len(s) == 18 {
		const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
		for i := 0; i < 3; i++ {
			bits := 0
			for j := 0; j < 5; j++ {
				if c := s[i*5+j]; 'A' <= c && c <= 'Z' {
					bits |= 1 << j
				}
			}
			if c := s[15+i]; suffix[bits] != c && suffix[bits] != c-32 {
				return false
			}
		}
	}
	return true
}

// fullID returns the 18-character form of a valid 15- or 18-character id
// (Salesforce answers with 18), or s unchanged.
func fullID(s string) string {
	if len(s) != 15 || !validID(s) {
		return s
	}
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	out := []byte(s)
	for i := 0; i < 3; i++ {
		bits := 0
		for j := 0; j < 5; j++ {
			if c := s[i*5+j]; 'A' <= c && c <= 'Z' {
				bits |= 1 << j
			}
		}
		out = append(out, suffix[bits])
	}
	return string(out)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
