package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/secret"
)

// /readyz is public (load balancers, uptime checks): while the CRM refuses
// the daemon's credentials it answers 503 "not ready" and nothing more —
// not the CRM's error, with its hints about the token and its correlation
// ids. The details go to the log and to the admin API's GET /-/readyz.
func TestReadyzTellsThePublicReadyOrNotOnly(t *testing.T) {
	h := newHarness(t, crms[0], harnessOpts{})
	h.cfg.HubSpot.Token = secret.New("pat-na1-revoked-0000-token") // HubSpot answers 401 with its error JSON
	h.start()

	resp, err := http.Get(h.d.public + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the CRM refusing the token answered %d: %s", resp.StatusCode, body)
	}
	var pub map[string]any
	if err := json.Unmarshal(body, &pub); err != nil || len(pub) != 1 || pub["ready"] != false {
		t.Errorf("/readyz answered the public %s, want {\"ready\": false} alone", body)
	}
	for _, leak := range []string{"hubspot", "401", "correlation", "token", "revoked"} {
		if strings.Contains(strings.ToLower(string(body)), leak) {
			t.Errorf("/readyz tells the public %q: %s", leak, body)
		}
	}

	// The operator gets the details from the admin API.
	req, _ := http.NewRequest("GET", h.adminURL()+"/-/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+h.adminToken())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var adm struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal(body, &adm); err != nil || resp.StatusCode != http.StatusServiceUnavailable || adm.Ready ||
		len(adm.Problems) == 0 || !strings.Contains(adm.Problems[0], "crm hubspot") {
		t.Errorf("GET /-/readyz answered %d %s, want 503 with the problems", resp.StatusCode, body)
	}
	unauth, err := http.Get(h.adminURL() + "/-/readyz")
	if err != nil {
		t.Fatal(err)
	}
	unauth.Body.Close()
	if unauth.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /-/readyz without the admin token answered %d, want 401", unauth.StatusCode)
	}
	// And the log says why.
	if logs := h.logs.String(); !strings.Contains(logs, "not ready") || !strings.Contains(logs, "crm hubspot") {
		t.Errorf("the log does not say why the daemon is not ready:\n%s", logs)
	}
}
