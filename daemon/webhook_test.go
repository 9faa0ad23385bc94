package daemon

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
)

// TestWebhookRefusals: a bad signature, a stale timestamp, a 10 MB body or
// malformed JSON is refused with the right code and leaves the inbox as it
// was; a good request is accepted and stored.
func TestWebhookRefusals(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{}) // HubSpot's signatures
	hf := h.crm.(*hubspotFake)
	url := h.d.public + "/webhooks/hubspot"
	now := h.crm.Now()
	body := []byte(fmt.Sprintf(`[{"eventId":1,"subscriptionId":1,"portalId":62515,"appId":1160452,"occurredAt":%d,`+
		`"subscriptionType":"object.propertyChange","attemptNumber":0,"objectId":424242,"objectTypeId":%q,`+
		`"propertyName":"status","propertyValue":"submitted","changeSource":"CRM_UI"}]`, now.UnixMilli(), hf.typeID))
	post := func(body []byte, ts time.Time, sign func(ts string) string) int {
		t.Helper()
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		stamp := strconv.FormatInt(ts.UnixMilli(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Request-Timestamp", stamp)
		req.Header.Set("X-HubSpot-Signature-Version", "v3")
		req.Header.Set("X-HubSpot-Signature-v3", sign(stamp))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := func(b []byte) func(string) string {
		return func(ts string) string { return hubspottest.SignV3(testSecret, "POST", url, b, ts) }
	}
	pending := func() int {
		st, err := h.d.db.InboxStats()
		if err != nil {
			t.Fatal(err)
		}
		return st.Pending + st.Dead
	}
	big := append([]byte(`[{"eventId":1,"objectId":1,"x":"`), bytes.Repeat([]byte("a"), 10<<20)...)
	big = append(big, `"}]`...)
	malformed := []byte(`[{"eventId":1,"objectId":`)
	for _, tc := range []struct {
		name string
		body []byte
		ts   time.Time
		sign func(string) string
		want int
	}{
		{"bad signature", body, now, func(string) string { return "bm90IGEgc2lnbmF0dXJl" }, http.StatusUnauthorized},
		{"signed with another secret", body, now, func(ts string) string { return hubspottest.SignV3("wrong", "POST", url, body, ts) }, http.StatusUnauthorized},
		{"stale timestamp", body, now.Add(-6 * time.Minute), good(body), http.StatusUnauthorized},
		{"changed body", bytes.Replace(body, []byte("424242"), []byte("424243"), 1), now, good(body), http.StatusUnauthorized},
		{"10 MB body", big, now, good(big), http.StatusRequestEntityTooLarge},
		{"malformed JSON, validly signed", malformed, now, good(malformed), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := pending()
			if got := post(tc.body, tc.ts, tc.sign); got != tc.want {
				t.Errorf("answered %d, want %d", got, tc.want)
			}
			if after := pending(); after != before {
				t.Errorf("the inbox changed: %d items before, %d after", before, after)
			}
		})
	}
	// The good request is stored (counted as it enters the inbox) and
	// answered 204; none of the refused ones counted.
	if got := post(body, now, good(body)); got != http.StatusNoContent {
		t.Fatalf("a good webhook answered %d", got)
	}
	if n := testutil.ToFloat64(h.d.m.WebhookEvents.WithLabelValues("hubspot")); n != 1 {
		t.Errorf("%v events stored, want 1", n)
	}
	for reason, want := range map[string]float64{"signature": 4, "too_large": 1, "payload": 1} {
		if n := testutil.ToFloat64(h.d.m.WebhookFailures.WithLabelValues("hubspot", reason)); n != want {
			t.Errorf("regsync_webhook_verify_failures_total{reason=%q} = %v, want %v", reason, n, want)
		}
	}
}

// HubSpot's v1 and v2 signatures sign no timestamp, so a request signed
// with one can be replayed by anyone who saw it, forever. By default
// (hubspot.webhook_signature_versions: [v3]) the daemon refuses them: a
// captured v1- or v2-signed request, sent again, is answered 401 and
// stores nothing.
func TestWebhookLegacySignatureReplayRefused(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	hf := h.crm.(*hubspotFake)
	url := h.d.public + "/webhooks/hubspot"
	body := []byte(fmt.Sprintf(`[{"eventId":7,"subscriptionId":1,"portalId":62515,"appId":1160452,"occurredAt":%d,`+
		`"subscriptionType":"object.propertyChange","attemptNumber":0,"objectId":515151,"objectTypeId":%q,`+
		`"propertyName":"status","propertyValue":"submitted","changeSource":"CRM_UI"}]`, t0.Add(-30*24*time.Hour).UnixMilli(), hf.typeID))
	for _, tc := range []struct{ version, sig string }{
		{"v1", hubspottest.SignV1(testSecret, body)},
		{"v2", hubspottest.SignV2(testSecret, "POST", url, body)},
	} {
		t.Run(tc.version, func(t *testing.T) {
			for attempt := range 2 { // the capture, then its replay
				req, err := http.NewRequest("POST", url, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-HubSpot-Signature-Version", tc.version)
				req.Header.Set("X-HubSpot-Signature", tc.sig)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("send %d of a %s-signed request answered %d, want 401", attempt+1, tc.version, resp.StatusCode)
				}
			}
			st, err := h.d.db.InboxStats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending+st.Dead != 0 {
				t.Errorf("the inbox took the replayed events: %+v", st)
			}
		})
	}
}
