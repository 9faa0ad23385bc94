package hubspot

import (
	"errors"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
)

// Objects the registrations can live in.
const (
	// ObjectRegistration is the custom object regsync setup creates.
	ObjectRegistration = "partner_registration"
	// ObjectDeals keeps registrations as deals with regsync's properties,
	// for portals without custom objects.
	ObjectDeals = "deals"
)

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Config is the hubspot: section of the configuration.
type Config struct {
	// BaseURL is the API host; tests and the sandbox point it at a fake.
	BaseURL string `yaml:"base_url"`
	// Token is a private-app access token (REGSYNC_HUBSPOT_TOKEN).
	Token secret.Secret `yaml:"token"`
	// ClientID, ClientSecret and RefreshToken configure an OAuth app: with
	// a refresh token set, access tokens are obtained and refreshed from
	// it (and Token is not used). ClientSecret also signs webhooks.
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	RefreshToken secret.Secret `yaml:"refresh_token"`
	// AppID, when set, drops webhook events sent for another app.
	AppID string `yaml:"app_id"`
	// Object is partner_registration (a custom object) or deals.
	Object string `yaml:"object"`
	// Properties maps canonical field names (registration.FieldNames,
	// except id) to HubSpot property names; unmapped fields keep their
	// canonical name.
	Properties map[string]string `yaml:"properties"`
	// ClosedStages are the deal stages that are not open.
	ClosedStages []string `yaml:"closed_stages"`
	// WonStages are the closed stages that count as won (for reports and
	// attribution); a deal HubSpot flags hs_is_closed_won counts too.
	WonStages []string `yaml:"won_stages"`
	// DealPipeline and DealStage are the pipeline and stage of the deal
	// created for a new registration when object is deals.
	DealPipeline string `yaml:"deal_pipeline"`
	DealStage    string `yaml:"deal_stage"`
	// DealPartnerProperty is the deal property that names the partner who
	// sourced the deal, set by attribution.
	DealPartnerProperty string `yaml:"deal_partner_property"`
	// MatchCompanySubdomains also finds companies whose domain is another
	// sub-domain of the registration's registrable domain (a company stored
	// as eu.globex.example for a registration on globex.example), with one
	// CONTAINS_TOKEN search per five unmatched domains. Off by default: the
	// IN search already matches the registrable domain, its www. form and
	// the registration's own host.
	MatchCompanySubdomains bool `yaml:"match_company_subdomains"`
	// PerTenSeconds is the client-side limit on calls per rolling 10 s.
	PerTenSeconds int `yaml:"per_10s"`
	// SearchPerSecond is the client-side limit on search calls per second.
	SearchPerSecond int `yaml:"search_per_second"`
	// Timeout bounds each HTTP request (each attempt).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how many times a retryable failure is retried.
	MaxRetries int `yaml:"max_retries"`
	// WebhookMaxAge is how old a v3-signed webhook may be.
	WebhookMaxAge time.Duration `yaml:"webhook_max_age"`
	// WebhookSignatureVersions are the signature versions a webhook may
	// carry: v3 (timestamped, so a replay is refused after
	// webhook_max_age), and v1 and v2 of legacy apps, which sign no
	// timestamp: a request signed with one can be replayed by anyone who
	// saw it. Default [v3].
	WebhookSignatureVersions []string `yaml:"webhook_signature_versions"`
	// WebhookURL is the public URL HubSpot posts webhooks to, exactly as
	// registered in the app. Signatures v2 and v3 sign it; empty: rebuilt
	// from the request (X-Forwarded-Proto, X-Forwarded-Host or Host, and
	// the request URI), which is right unless a proxy rewrites the path.
	WebhookURL string `yaml:"webhook_url"`
	// TimeZone is the portal's time zone (IANA name) in which HubSpot
	// resets the daily API allowance; empty is UTC.
	TimeZone string `yaml:"time_zone"`
	// PollInterval is how often the daemon polls the change feed (Changed)
	// to catch what webhooks missed.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PollSettle keeps Changed from reading records modified less than this
	// long ago: HubSpot's search index lags writes by a few seconds, and a
	// cursor moved past a record not yet indexed would skip it.
	PollSettle time.Duration `yaml:"poll_settle"`
}

// DefaultConfig returns the section with every key at its default.
func DefaultConfig() Config {
	return Config{
		BaseURL:                  DefaultBaseURL,
		Object:                   ObjectRegistration,
		ClosedStages:             []string{"closedwon", "closedlost"},
		WonStages:                []string{"closedwon"},
		DealPartnerProperty:      "partner_id",
		DealPipeline:             "default",
		DealStage:                "appointmentscheduled",
		PerTenSeconds:            100,
		SearchPerSecond:          4,
		Timeout:                  30 * time.Second,
		MaxRetries:               5,
		WebhookMaxAge:            5 * time.Minute,
		WebhookSignatureVersions: []string{SignatureV3},
		PollInterval:             30 * time.Second,
		PollSettle:               10 * time.Second,
	}
}

// Webhook signature versions (hubspot.webhook_signature_versions).
const (
	SignatureV1 = "v1"
	SignatureV2 = "v2"
	SignatureV3 = "v3"
)

// Extra properties regsync keeps on each registration, derived from
// company_domain and company_name on every write that sets them, so that
// rival registrations on a sub-domain or under a differently written name
// are found with one IN filter.
const (
	// PropDomainKey holds the registrable domain of company_domain.
	PropDomainKey = "domain_key"
	// PropNameKey holds registration.CompanyKey(company_name).
	PropNameKey = "name_key"
)

// Validate checks the section. Errors carry paths starting at "hubspot"
// and are joined.
func (c *Config) Validate() error {
	var errs []error
	p := func(segs ...any) []string { return yamlx.Path(append([]any{"hubspot"}, segs...)...) }
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, yamlx.Errorf(p("base_url"), "%q is not an http(s) URL", c.BaseURL))
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, yamlx.Errorf(p("base_url"), "must not carry user info, a query or a fragment"))
	}
	switch c.Object {
	case ObjectRegistration, ObjectDeals:
	default:
		errs = append(errs, yamlx.Errorf(p("object"), "must be %s or %s, not %q", ObjectRegistration, ObjectDeals, c.Object))
	}
	if c.RefreshToken.IsSet() {
		if c.ClientID == "" {
			errs = append(errs, yamlx.Errorf(p("client_id"), "required with refresh_token"))
		}
		if !c.ClientSecret.IsSet() {
			errs = append(errs, yamlx.Errorf(p("client_secret"), "required with refresh_token"))
		}
	}
	names := make([]string, 0, len(c.Properties))
	for k := range c.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	used := map[string]string{}
	for _, k := range names {
		v := c.Properties[k]
		if k == "id" {
			errs = append(errs, yamlx.Errorf(p("properties", k), "id is the record's hs_object_id and cannot be mapped"))
			continue
		}
		if _, ok := registration.LookupField(k); !ok {
			errs = append(errs, yamlx.Errorf(p("properties", k), "unknown field %q", k))
			continue
		}
		if !validPropertyName(v) {
			errs = append(errs, yamlx.Errorf(p("properties", k), "%q is not a HubSpot property name (lower-case letters, digits and _, starting with a letter)", v))
			continue
		}
		if v == PropDomainKey || v == PropNameKey || v == "hs_object_id" || v == "hs_lastmodifieddate" {
			errs = append(errs, yamlx.Errorf(p("properties", k), "%q is reserved", v))
			continue
		}
		used[v] = k
	}
	// Two fields on one property: compare with the effective mapping, so
	// that mapping status → company_name clashes with the default of
	// company_name too.
	eff := map[string][]string{}
	for _, f := range registration.FieldNames() {
		if f == "id" {
			continue
		}
		prop := f
		if v, ok := c.Properties[f]; ok && validPropertyName(v) {
			prop = v
		}
		eff[prop] = append(eff[prop], f)
	}
	for _, k := range names {
		v := c.Properties[k]
		if fs := eff[v]; len(fs) > 1 && slices.Contains(fs, k) {
			others := slices.DeleteFunc(slices.Clone(fs), func(s string) bool { return s == k })
			errs = append(errs, yamlx.Errorf(p("properties", k), "property %q is also used by %s", v, strings.Join(others, ", ")))
		}
	}
	for i, s := range c.ClosedStages {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, yamlx.Errorf(p("closed_stages", i), "empty stage"))
		}
	}
	for i, s := range c.WonStages {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, yamlx.Errorf(p("won_stages", i), "empty stage"))
		}
	}
	if strings.TrimSpace(c.DealPipeline) == "" {
		errs = append(errs, yamlx.Errorf(p("deal_pipeline"), "must not be empty"))
	}
	if strings.TrimSpace(c.DealStage) == "" {
		errs = append(errs, yamlx.Errorf(p("deal_stage"), "must not be empty"))
	} else if slices.Contains(c.ClosedStages, c.DealStage) {
		errs = append(errs, yamlx.Errorf(p("deal_stage"), "%q is a closed stage: a new registration's deal must be open", c.DealStage))
	}
	if !validPropertyName(c.DealPartnerProperty) {
		errs = append(errs, yamlx.Errorf(p("deal_partner_property"), "%q is not a HubSpot property name (lower-case letters, digits and _, starting with a letter)", c.DealPartnerProperty))
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			errs = append(errs, yamlx.Errorf(p("webhook_url"), "%q is not an http(s) URL", c.WebhookURL))
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, yamlx.Errorf(p("time_zone"), "%q is not a time zone (an IANA name such as Europe/Berlin)", c.TimeZone))
		}
	}
	if c.PollInterval <= 0 {
		errs = append(errs, yamlx.Errorf(p("poll_interval"), "must be positive, not %s", c.PollInterval))
	}
	if c.PollSettle < 0 || c.PollSettle > time.Hour {
		errs = append(errs, yamlx.Errorf(p("poll_settle"), "must be between 0 and 1h, not %s", c.PollSettle))
	}
	if c.PerTenSeconds <= 0 {
		errs = append(errs, yamlx.Errorf(p("per_10s"), "must be positive, not %d", c.PerTenSeconds))
	}
	if c.SearchPerSecond <= 0 {
		errs = append(errs, yamlx.Errorf(p("search_per_second"), "must be positive, not %d", c.SearchPerSecond))
	}
	if c.Timeout <= 0 {
		errs = append(errs, yamlx.Errorf(p("timeout"), "must be positive, not %s", c.Timeout))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, yamlx.Errorf(p("max_retries"), "must not be negative, not %d", c.MaxRetries))
	}
	if c.WebhookMaxAge <= 0 {
		errs = append(errs, yamlx.Errorf(p("webhook_max_age"), "must be positive, not %s", c.WebhookMaxAge))
	}
	if len(c.WebhookSignatureVersions) == 0 {
		errs = append(errs, yamlx.Errorf(p("webhook_signature_versions"), "list at least one of v1, v2, v3 (v3 is the only one that cannot be replayed)"))
	}
	for i, v := range c.WebhookSignatureVersions {
		switch v {
		case SignatureV1, SignatureV2, SignatureV3:
		default:
			errs = append(errs, yamlx.Errorf(p("webhook_signature_versions", i), "must be v1, v2 or v3, not %q", v))
		}
	}
	return errors.Join(errs...)
}

// acceptsSignature reports whether webhooks signed with version v are
// accepted.
func (c *Config) acceptsSignature(v string) bool {
	return slices.Contains(c.WebhookSignatureVersions, v)
}

// validPropertyName reports whether s is a HubSpot internal property name.
func validPropertyName(s string) bool {
	if s == "" || len(s) > 100 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// property returns the HubSpot property of a canonical field.
func (c *Config) property(field string) string {
	if field == "id" {
		return "hs_object_id"
	}
	if v, ok := c.Properties[field]; ok && v != "" {
		return v
	}
	return field
}
