package salesforce

import (
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/secret"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.AuthFlow() != "" {
		t.Errorf("flow without credentials: %s", c.AuthFlow())
	}
	if _, err := New(c, Options{}); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("New without credentials: %v", err)
	}
}

func TestDefaultFieldNames(t *testing.T) {
	c := DefaultConfig()
	for in, want := range map[string]string{
		"case_number": "Case_Number__c", "status": "Status__c", "status_reason": "Status_Reason__c",
		"company_domain": "Company_Domain__c", "sla_due": "Sla_Due__c", "first_response_at": "First_Response_At__c", "id": "Id",
	} {
		if got := c.FieldName(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	c.Fields = map[string]string{"status": "Registration_Status__c"}
	if got := c.FieldName("status"); got != "Registration_Status__c" {
		t.Errorf("mapped: %s", got)
	}
}

func TestAuthFlows(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		flow string
	}{
		{"client credentials", func(c *Config) { c.ClientID, c.ClientSecret = "id", secret.New("s") }, FlowClientCredentials},
		{"password", func(c *Config) {
			c.ClientID, c.ClientSecret, c.Username, c.Password, c.SecurityToken = "id", secret.New("s"), "u@x.com", secret.New("p"), secret.New("t")
		}, FlowPassword},
		{"jwt", func(c *Config) {
			c.ClientID, c.Username, c.PrivateKey = "id", "u@x.com", secret.New("-----BEGIN RSA PRIVATE KEY-----")
		}, FlowJWT},
		{"access token", func(c *Config) { c.AccessToken = secret.New("00D!x") }, FlowAccessToken},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if c.AuthFlow() != tc.flow {
			t.Errorf("%s: flow %s", tc.name, c.AuthFlow())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Domain = "login.salesforce.com" }, `salesforce.domain: "login.salesforce.com" is not an http(s) URL (a full base URL such as https://login.salesforce.com)`},
		{func(c *Config) { c.Domain = "https://x.my.salesforce.com/services" }, "salesforce.domain: must be a base URL without path, user info, query or fragment"},
		{func(c *Config) { c.ClientSecret = secret.New("s") }, "salesforce.client_id: required with client_secret"},
		{func(c *Config) { c.ClientID = "id" }, "salesforce.client_secret: required with client_id (REGSYNC_SALESFORCE_CLIENT_SECRET)"},
		{func(c *Config) { c.Username = "u@x.com" }, "salesforce.username: set password (REGSYNC_SALESFORCE_PASSWORD) or private_key for the JWT bearer flow"},
		{func(c *Config) {
			c.ClientID, c.ClientSecret, c.Username, c.Password = "id", secret.New("s"), "u", secret.New("p")
		},
			"salesforce.security_token: required with username and password (go-salesforce picks the password flow only with a security token)"},
		{func(c *Config) { c.Username, c.PrivateKey = "u", secret.New("k") }, "salesforce.client_id: required with username and private_key (JWT bearer flow)"},
		{func(c *Config) { c.APIVersion = "63" }, `salesforce.api_version: "63" is not an API version such as v63.0`},
		{func(c *Config) { c.OrganizationID = "00Dxyz" }, `salesforce.organization_id: "00Dxyz" is not a 15- or 18-character Salesforce id`},
		{func(c *Config) { c.Object = "Partner Registration" }, `salesforce.object: "Partner Registration" is not an object API name`},
		{func(c *Config) { c.AccountDomainField = "Website'--" }, `salesforce.account_domain_field: "Website'--" is not a field API name`},
		{func(c *Config) { c.NoteObject = "Chatter" }, `salesforce.note_object: must be FeedItem or Note, not "Chatter"`},
		{func(c *Config) { c.Fields = map[string]string{"id": "X__c"} }, "salesforce.fields.id: id is the record's Id and cannot be mapped"},
		{func(c *Config) { c.Fields = map[string]string{"colour": "Colour__c"} }, `salesforce.fields.colour: unknown field "colour"`},
		{func(c *Config) { c.Fields = map[string]string{"status": "Status__c OR Id != null"} }, `salesforce.fields.status: "Status__c OR Id != null" is not a field API name (letters, digits and single underscores, starting with a letter, optionally ending in __c)`},
		{func(c *Config) { c.Fields = map[string]string{"status": "Domain_Key__c"} }, `salesforce.fields.status: "Domain_Key__c" is reserved`},
		{func(c *Config) { c.Fields = map[string]string{"status": "company_name__c"} }, `salesforce.fields.status: field "company_name__c" is also used by company_name`},
		{func(c *Config) { c.PollInterval = 0 }, "salesforce.poll_interval: must be positive, not 0s"},
		{func(c *Config) { c.PollOverlap = 2 * time.Hour }, "salesforce.poll_overlap: must be between 0 and 1h, not 2h0m0s"},
		{func(c *Config) { c.BulkThreshold = 0 }, "salesforce.bulk_threshold: must be positive, not 0"},
		{func(c *Config) { c.MaxQueryLength = 200000 }, "salesforce.max_query_length: must be between 2000 and 100000 characters, not 200000"},
		{func(c *Config) { c.SlowDownAt = 1.5 }, "salesforce.slow_down_at: must be a share above 0 and at most 1, not 1.5"},
		{func(c *Config) { c.Timeout = -1 }, "salesforce.timeout: must be positive, not -1ns"},
		{func(c *Config) { c.MaxRetries = -1 }, "salesforce.max_retries: must not be negative, not -1"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

func TestValidAPIName(t *testing.T) {
	for s, want := range map[string]bool{
		"Website": true, "Domain__c": true, "My_Field_2__c": true, "a": true,
		"": false, "__c": false, "Two__Underscores__c": false, "Trailing_": false, "1Field": false, "Field-Name": false,
		"Name'": false, "Name OR": false, "Field___c": false, strings.Repeat("a", 81): false,
	} {
		if validAPIName(s) != want {
			t.Errorf("validAPIName(%q) = %v", s, !want)
		}
	}
}
