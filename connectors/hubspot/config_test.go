package hubspot

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/yamlx"
)

// TestExampleBlockIsTheDefaults: the commented hubspot block of
// config.example.yaml names every key and shows its default.
func TestExampleBlockIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Skip("no config.example.yaml")
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "# hubspot:":
			in = true
			block = append(block, "hubspot:")
		case in && strings.HasPrefix(line, "#   "):
			block = append(block, line[1:])
		case in:
			in = false
		}
	}
	if len(block) < 2 {
		t.Fatal("config.example.yaml has no commented hubspot: block")
	}
	var doc struct {
		HubSpot Config `yaml:"hubspot"`
	}
	if _, err := yamlx.Decode("example", []byte(strings.Join(block, "\n")), &doc); err != nil {
		t.Fatalf("the example block does not decode: %v", err)
	}
	got, want := doc.HubSpot, DefaultConfig()
	if len(got.Properties) == 0 {
		got.Properties = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example block\n%+v\ndefaults\n%+v", got, want)
	}
	// Every yaml key of Config is in the block, except the secrets.
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		switch key {
		case "token", "client_secret", "refresh_token":
			continue
		}
		if !strings.Contains(strings.Join(block, "\n"), "  "+key+":") {
			t.Errorf("the example block lacks %s", key)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.DealPartnerProperty = "Partner"
	c.DealStage = "closedwon"
	c.WebhookURL = "ftp://x"
	c.TimeZone = "Mars/Base"
	c.PollSettle = 2 * time.Hour
	c.PollInterval = 0
	c.WonStages = []string{" "}
	err := c.Validate()
	for _, want := range []string{"deal_partner_property", "deal_stage", "webhook_url", "time_zone", "poll_settle", "poll_interval", "won_stages"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	for _, tc := range []struct {
		versions []string
		want     string
	}{
		{[]string{"v3", "V1"}, `hubspot.webhook_signature_versions.1: must be v1, v2 or v3, not "V1"`},
		{[]string{}, "hubspot.webhook_signature_versions: list at least one of v1, v2, v3"},
	} {
		c := DefaultConfig()
		c.WebhookSignatureVersions = tc.versions
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("versions %q: %v, want %q", tc.versions, err, tc.want)
		}
	}
	if d := DefaultConfig(); d.Validate() != nil {
		err := d.Validate()
		t.Errorf("defaults invalid: %v", err)
	}
}
