package daemon

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/secret"
)

// postOutbound posts an outbound message to the daemon.
func postOutbound(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An organization id is no secret (it is in every Salesforce URL and
// e-mail header the org sends), so it cannot authenticate an outbound
// message. A daemon whose salesforce.webhook_secret is unset — which the
// configuration no longer allows while outbound messages are on, so the
// test clears it after loading — refuses a forged message that carries
// only the right organization id.
func TestSalesforceForgedOutboundMessageWithoutSecret(t *testing.T) {
	h := newHarness(t, crm{"salesforce", startSalesforceFake}, harnessOpts{})
	h.cfg.Salesforce.WebhookSecret = secret.Secret{}
	h.start()
	sf := h.crm.(*salesforceFake).sf
	forged := outboundEnvelope(sf.URL(), sf.OrganizationID(), "a015g00000Forge")
	for _, url := range []string{h.d.public + "/webhooks/salesforce", h.d.public + "/webhooks/salesforce?secret="} {
		if code, body := postOutbound(t, url, forged); code != http.StatusUnauthorized || strings.Contains(body, "<Ack>true</Ack>") {
			t.Errorf("a forged message with the organization id only (%s) answered %d: %s", url, code, body)
		}
	}
	st, err := h.d.db.InboxStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending+st.Dead != 0 {
		t.Errorf("the forged message reached the inbox: %+v", st)
	}
}

// salesforce.outbound_messages: false unmounts /webhooks/salesforce: an
// org that relies on polling alone offers no endpoint to forge messages
// to, whatever they carry.
func TestSalesforceOutboundMessagesOff(t *testing.T) {
	h := startHarness(t, crm{"salesforce", startSalesforceFake}, harnessOpts{salesforce: "outbound_messages: false"})
	sf := h.crm.(*salesforceFake).sf
	msg := outboundEnvelope(sf.URL(), sf.OrganizationID(), "a015g00000Forge")
	if code, body := postOutbound(t, h.d.public+"/webhooks/salesforce?secret="+outboundSecret, msg); code != http.StatusNotFound {
		t.Errorf("/webhooks/salesforce with outbound messages off answered %d, want 404: %s", code, body)
	}
	st, err := h.d.db.InboxStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending+st.Dead != 0 {
		t.Errorf("the message reached the inbox: %+v", st)
	}
}
