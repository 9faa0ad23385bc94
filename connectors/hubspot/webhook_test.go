package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/secret"
)

// HubSpot's published test vectors (hubspot-api-nodejs test/unit/signature.spec.ts).
const (
	vecSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	vecV1Body = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	vecV1Sig  = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
	vecV2Sig  = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"

	// A v3 case computed by hand (Python hmac) for this body, URL and
	// timestamp.
	v3Body = `[{"eventId":100,"subscriptionId":7,"portalId":62515,"appId":54321,"occurredAt":1700000000000,"subscriptionType":"object.propertyChange","attemptNumber":0,"objectId":1001,"objectTypeId":"2-1000001","propertyName":"status","propertyValue":"approved","changeSource":"CRM_UI"}]`
	v3TS   = "1700000000000"
	v3Sig  = "hZhSQemNmms3eo15ijToG/9BoLXbUk1Czb5g651WLoQ="
	// The same, for a URL whose query HubSpot decodes (%40 → @) before signing.
	v3SigDecoded = "pLPVlAzFRoUp4oEifKS9xj2ojrt9yua+mMj/xL8GSog="
)

func webhookClient(t *testing.T, now time.Time, mutate func(*Config)) *Client {
	cfg := testConfig("https://api.hubapi.com")
	cfg.ClientSecret = secret.New(vecSecret)
	if mutate != nil {
		mutate(&cfg)
	}
	c, _ := newTestClient(t, cfg, Options{Now: func() time.Time { return now }})
	c.schema.set("2-1000001", "p62515_partner_registration")
	return c
}

func v3Request(target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Host = "regsync.example.com"
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(hdrTimestamp, v3TS)
	r.Header.Set(hdrSigV3, v3Sig)
	return r
}

// legacyOK accepts the signature versions of legacy apps besides v3.
func legacyOK(cfg *Config) { cfg.WebhookSignatureVersions = []string{"v1", "v2", "v3"} }

func TestWebhookV1Vector(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/hubspot", strings.NewReader(vecV1Body))
	r.Header.Set(hdrSig, vecV1Sig)
	r.Header.Set(hdrSigVer, "v1")
	// By default a v1 signature is refused however valid: it signs no
	// timestamp, so the request may be a replay.
	if _, err := webhookClient(t, time.Now(), nil).VerifyWebhook(r, []byte(vecV1Body)); !errors.Is(err, connectors.ErrWebhookSignature) ||
		!strings.Contains(err.Error(), "signature v1 is not accepted") {
		t.Errorf("v1 by default: %v", err)
	}
	c := webhookClient(t, time.Now(), legacyOK)
	evs, err := c.VerifyWebhook(r, []byte(vecV1Body))
	if err != nil {
		t.Fatalf("v1 vector refused: %v", err)
	}
	if len(evs) != 1 || evs[0].Object != "contacts" || evs[0].RecordID != "123" || evs[0].EventID != "1" ||
		evs[0].Source != "CRM" || !evs[0].OccurredAt.Equal(time.UnixMilli(1564113600000)) {
		t.Errorf("events %+v", evs)
	}
	// A changed body fails.
	changed := strings.Replace(vecV1Body, `"objectId":123`, `"objectId":124`, 1)
	if _, err := c.VerifyWebhook(r, []byte(changed)); !errors.Is(err, connectors.ErrWebhookSignature) {
		t.Errorf("changed body: %v", err)
	}
}

func TestWebhookV2Vector(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "https://www.example.com/webhook_uri", nil)
	r.Header.Set(hdrSig, vecV2Sig)
	r.Header.Set(hdrSigVer, "v2")
	if _, err := webhookClient(t, time.Now(), nil).VerifyWebhook(r, nil); !errors.Is(err, connectors.ErrWebhookSignature) ||
		!strings.Contains(err.Error(), "signature v2 is not accepted") {
		t.Errorf("v2 by default: %v", err)
	}
	// Listed in v1 only, v2 is refused too.
	if _, err := webhookClient(t, time.Now(), func(cfg *Config) { cfg.WebhookSignatureVersions = []string{"v1"} }).VerifyWebhook(r, nil); !errors.Is(err, connectors.ErrWebhookSignature) {
		t.Errorf("v2 with [v1]: %v", err)
	}
	c := webhookClient(t, time.Now(), legacyOK)
	if uri := c.webhookURI(r); uri != "https://www.example.com/webhook_uri" {
		t.Fatalf("uri %q", uri)
	}
	if got := signV2(vecSecret, "GET", "https://www.example.com/webhook_uri", nil); got != vecV2Sig {
		t.Fatalf("v2 signature %s, want %s", got, vecV2Sig)
	}
	// The vector's body is empty, which is not an event array: the
	// signature passes and the payload is refused as such (400, not 401).
	_, err := c.VerifyWebhook(r, nil)
	if !errors.Is(err, connectors.ErrWebhookPayload) {
		t.Fatalf("v2 vector: %v, want a payload error after a valid signature", err)
	}
	// A changed URL fails the signature.
	r2 := httptest.NewRequest(http.MethodGet, "https://www.example.com/webhook_uri2", nil)
	r2.Header.Set(hdrSig, vecV2Sig)
	r2.Header.Set(hdrSigVer, "v2")
	if _, err := c.VerifyWebhook(r2, nil); !errors.Is(err, connectors.ErrWebhookSignature) {
		t.Errorf("changed URL: %v", err)
	}
}

func TestWebhookV3(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	c := webhookClient(t, at.Add(time.Minute), nil)
	evs, err := c.VerifyWebhook(v3Request("/webhooks/hubspot?portal=62515", v3Body), []byte(v3Body))
	if err != nil {
		t.Fatalf("v3 refused: %v", err)
	}
	want := connectors.Event{Object: ObjectRegistration, RecordID: "1001", Property: "status", Value: "approved",
		Source: "CRM_UI", EventID: "100", OccurredAt: at.UTC()}
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("events %+v, want %+v", evs, want)
	}

	refuse := func(name string, c *Client, r *http.Request, body string) {
		t.Helper()
		if _, err := c.VerifyWebhook(r, []byte(body)); !errors.Is(err, connectors.ErrWebhookSignature) {
			t.Errorf("%s: %v, want a signature error", name, err)
		}
	}
	refuse("changed body", c, v3Request("/webhooks/hubspot?portal=62515", v3Body), strings.Replace(v3Body, "approved", "declined", 1))
	refuse("changed URL", c, v3Request("/webhooks/hubspot?portal=62516", v3Body), v3Body)
	r := v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Host = "evil.example.com"
	refuse("changed host", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Header.Set("X-Forwarded-Proto", "http")
	refuse("changed scheme", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Method = http.MethodPut
	refuse("changed method", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Header.Set(hdrTimestamp, "1700000000001")
	refuse("changed timestamp", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Header.Del(hdrTimestamp)
	refuse("no timestamp", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Header.Set(hdrSigV3, "!!!not base64")
	refuse("garbage signature", c, r, v3Body)
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Header.Del(hdrSigV3)
	refuse("no signature", c, r, v3Body)

	v1only := webhookClient(t, at.Add(time.Minute), func(cfg *Config) { cfg.WebhookSignatureVersions = []string{"v1"} })
	refuse("v3 not listed", v1only, v3Request("/webhooks/hubspot?portal=62515", v3Body), v3Body)

	stale := webhookClient(t, at.Add(5*time.Minute+time.Millisecond), nil)
	refuse("stale timestamp", stale, v3Request("/webhooks/hubspot?portal=62515", v3Body), v3Body)
	edge := webhookClient(t, at.Add(5*time.Minute), nil)
	if _, err := edge.VerifyWebhook(v3Request("/webhooks/hubspot?portal=62515", v3Body), []byte(v3Body)); err != nil {
		t.Errorf("exactly 5 minutes old: %v", err)
	}
	future := webhookClient(t, at.Add(-2*time.Minute), nil)
	refuse("future timestamp", future, v3Request("/webhooks/hubspot?portal=62515", v3Body), v3Body)
	other := webhookClient(t, at, func(c *Config) { c.ClientSecret = secret.New("another-secret") })
	refuse("other secret", other, v3Request("/webhooks/hubspot?portal=62515", v3Body), v3Body)
}

// TestWebhookV3URI: the decoded escapes, a configured public URL, and
// X-Forwarded-Host.
func TestWebhookV3URI(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	c := webhookClient(t, at, nil)
	r := v3Request("/webhooks/hubspot?from=a%40b.example", v3Body)
	r.Header.Set(hdrSigV3, v3SigDecoded)
	if _, err := c.VerifyWebhook(r, []byte(v3Body)); err != nil {
		t.Errorf("escaped query: %v", err)
	}
	// Behind a proxy that rewrites host and path: the configured URL wins.
	pub := webhookClient(t, at, func(c *Config) {
		c.WebhookURL = "https://regsync.example.com/webhooks/hubspot?portal=62515"
	})
	r = v3Request("/internal/hook", v3Body)
	r.Host = "10.0.0.7:8080"
	r.Header.Del("X-Forwarded-Proto")
	if _, err := pub.VerifyWebhook(r, []byte(v3Body)); err != nil {
		t.Errorf("configured webhook_url: %v", err)
	}
	// X-Forwarded-Host, first value of a list.
	r = v3Request("/webhooks/hubspot?portal=62515", v3Body)
	r.Host = "10.0.0.7:8080"
	r.Header.Set("X-Forwarded-Host", "regsync.example.com, proxy.internal")
	r.Header.Set("X-Forwarded-Proto", "https,http")
	if _, err := c.VerifyWebhook(r, []byte(v3Body)); err != nil {
		t.Errorf("X-Forwarded-Host: %v", err)
	}
}

func signedV3(t *testing.T, body string, at time.Time) *http.Request {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(vecSecret))
	m.Write([]byte("POST" + "https://regsync.example.com/webhooks/hubspot" + body + ts))
	r := httptest.NewRequest(http.MethodPost, "/webhooks/hubspot", strings.NewReader(body))
	r.Host = "regsync.example.com"
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set(hdrTimestamp, ts)
	r.Header.Set(hdrSigV3, base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return r
}

// TestWebhookEvents: a batch of 100 in any order with duplicates, object
// type ids mapped, other apps' events dropped.
func TestWebhookEvents(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	c := webhookClient(t, at, func(c *Config) { c.AppID = "54321" })
	var evs []string
	for i := 99; i >= 0; i-- {
		typ, app := "2-1000001", 54321
		switch i % 10 {
		case 1:
			typ = "0-3"
		case 2:
			typ = "0-2"
		case 3:
			app = 999 // another app
		}
		evs = append(evs, fmt.Sprintf(`{"eventId":%d,"subscriptionId":7,"portalId":62515,"appId":%d,"occurredAt":%d,"subscriptionType":"object.propertyChange","attemptNumber":0,"objectId":%d,"objectTypeId":%q,"propertyName":"status","propertyValue":"approved","changeSource":"INTEGRATION"}`,
			i, app, at.UnixMilli()-int64(100-i)*1000, 5000+i, typ))
	}
	evs = append(evs, evs[5], evs[17]) // duplicates (HubSpot retries)
	body := "[" + strings.Join(evs, ",") + "]"
	got, err := c.VerifyWebhook(signedV3(t, body, at), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 90 {
		t.Fatalf("%d events, want 90 (100 − 10 of another app, duplicates dropped)", len(got))
	}
	objects := map[string]int{}
	for i, e := range got {
		objects[e.Object]++
		if i > 0 && e.OccurredAt.Before(got[i-1].OccurredAt) {
			t.Fatalf("events not in occurrence order at %d", i)
		}
	}
	if objects[ObjectRegistration] != 70 || objects["deals"] != 10 || objects["companies"] != 10 {
		t.Errorf("objects %v", objects)
	}
	// A signed body that is not an event array is a payload error.
	bad := `{"not":"an array"}`
	if _, err := c.VerifyWebhook(signedV3(t, bad, at), []byte(bad)); !errors.Is(err, connectors.ErrWebhookPayload) {
		t.Errorf("bad payload: %v", err)
	}
	// No client secret: refused.
	none := webhookClient(t, at, func(c *Config) { c.ClientSecret = secret.Secret{} })
	if _, err := none.VerifyWebhook(signedV3(t, body, at), []byte(body)); !errors.Is(err, connectors.ErrWebhookSignature) {
		t.Errorf("no secret: %v", err)
	}
}
