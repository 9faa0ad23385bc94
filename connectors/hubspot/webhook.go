package hubspot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
)

// Webhook headers (D-val).
const (
	hdrSigV3     = "X-HubSpot-Signature-v3"
	hdrTimestamp = "X-HubSpot-Request-Timestamp"
	hdrSig       = "X-HubSpot-Signature"
	hdrSigVer    = "X-HubSpot-Signature-Version"
)

// webhookFutureSkew is how far in the future a v3 timestamp may be (clock
// skew between HubSpot and this host).
const webhookFutureSkew = time.Minute

// VerifyWebhook checks a HubSpot webhook request and parses its events.
//
// Signature v3 (X-HubSpot-Signature-v3, X-HubSpot-Request-Timestamp) is an
// HMAC-SHA256, keyed by the app's client secret, of method + URI + body +
// timestamp; the timestamp must be at most webhook_max_age old and at most
// a minute ahead. Legacy apps send X-HubSpot-Signature with
// X-HubSpot-Signature-Version v1 (SHA-256 of secret + body) or v2 (of
// secret + method + URI + body); these carry no timestamp, so a request
// signed with one can be replayed by anyone who saw it, and they are
// refused unless hubspot.webhook_signature_versions lists them (default:
// v3 only). A request carrying both is checked by v3 when v3 is accepted.
// Signatures are compared in constant time.
//
// The URI is hubspot.webhook_url when set; otherwise it is rebuilt from
// the request: X-Forwarded-Proto (else the connection's scheme),
// X-Forwarded-Host (else Host) and the request URI as received.
//
// Events come as a JSON array of at most 100, in any order, possibly
// repeated: repeats are dropped, the rest sorted by occurrence. Events of
// another app are dropped when hubspot.app_id is set. Errors wrap
// connectors.ErrWebhookSignature (401) or connectors.ErrWebhookPayload (400).
func (c *Client) VerifyWebhook(r *http.Request, body []byte) ([]connectors.Event, error) {
	secret := c.cfg.ClientSecret.Reveal()
	if secret == "" {
		return nil, fmt.Errorf("hubspot webhook: %w: no client secret configured (hubspot.client_secret)", connectors.ErrWebhookSignature)
	}
	uri := c.webhookURI(r)
	v3, legacy := r.Header.Get(hdrSigV3), r.Header.Get(hdrSig)
	switch {
	case v3 != "" && c.cfg.acceptsSignature(SignatureV3):
		if err := c.verifyV3(secret, r.Method, uri, body, v3, r.Header.Get(hdrTimestamp)); err != nil {
			return nil, err
		}
	case legacy != "":
		v := strings.ToLower(strings.TrimSpace(r.Header.Get(hdrSigVer)))
		if v == "" {
			v = SignatureV1
		}
		var want string
		switch v {
		case SignatureV1:
			want = signV1(secret, body)
		case SignatureV2:
			want = signV2(secret, r.Method, uri, body)
		default:
			return nil, fmt.Errorf("hubspot webhook: %w: unknown signature version %q", connectors.ErrWebhookSignature, clip(v, 10))
		}
		if !c.cfg.acceptsSignature(v) {
			return nil, fmt.Errorf("hubspot webhook: %w: signature %s is not accepted: it signs no timestamp, so the request may be a replay (hubspot.webhook_signature_versions is %s)",
				connectors.ErrWebhookSignature, v, strings.Join(c.cfg.WebhookSignatureVersions, ", "))
		}
		if !equalHex(legacy, want) {
			return nil, fmt.Errorf("hubspot webhook: %w: signature does not match", connectors.ErrWebhookSignature)
		}
	case v3 != "":
		return nil, fmt.Errorf("hubspot webhook: %w: signature v3 is not accepted (hubspot.webhook_signature_versions is %s)",
			connectors.ErrWebhookSignature, strings.Join(c.cfg.WebhookSignatureVersions, ", "))
	default:
		return nil, fmt.Errorf("hubspot webhook: %w: no signature header", connectors.ErrWebhookSignature)
	}
	if c.cfg.Object == ObjectRegistration && !c.schema.known() && bytes.Contains(body, []byte(`"2-`)) {
		// Learn the custom object's type id, so its events are named.
		if _, err := c.regType(r.Context()); err != nil {
			c.log.Warn("hubspot webhook: cannot resolve the registration object's type id", "err", err)
		}
	}
	return c.parseEvents(body)
}

func (c *Client) verifyV3(secret, method, uri string, body []byte, sig, ts string) error {
	if ts == "" {
		return fmt.Errorf("hubspot webhook: %w: no %s", connectors.ErrWebhookSignature, hdrTimestamp)
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return fmt.Errorf("hubspot webhook: %w: bad timestamp", connectors.ErrWebhookSignature)
	}
	now := c.now()
	at := time.UnixMilli(ms)
	if now.Sub(at) > c.cfg.WebhookMaxAge {
		return fmt.Errorf("hubspot webhook: %w: timestamp %s is older than %s", connectors.ErrWebhookSignature,
			at.UTC().Format(time.RFC3339), c.cfg.WebhookMaxAge)
	}
	if at.Sub(now) > webhookFutureSkew {
		return fmt.Errorf("hubspot webhook: %w: timestamp %s is in the future", connectors.ErrWebhookSignature,
			at.UTC().Format(time.RFC3339))
	}
	want := signV3(secret, method, uri, body, ts)
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("hubspot webhook: %w: signature does not match", connectors.ErrWebhookSignature)
	}
	return nil
}

// signV3 is HubSpot's v3 signature (raw HMAC bytes).
func signV3(secret, method, uri string, body []byte, ts string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method))
	m.Write([]byte(decodeURI(uri)))
	m.Write(body)
	m.Write([]byte(ts))
	return m.Sum(nil)
}

// signV1 is HubSpot's v1 signature: hex SHA-256 of secret + body.
func signV1(secret string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// signV2 is HubSpot's v2 signature: hex SHA-256 of secret + method + URI + body.
func signV2(secret, method, uri string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write([]byte(method))
	h.Write([]byte(uri))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func equalHex(got, want string) bool {
	g := []byte(strings.ToLower(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(g, []byte(want)) == 1
}

// uriDecodes are the escapes HubSpot decodes in the URI before signing v3.
var uriDecodes = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

func decodeURI(u string) string { return uriDecodes.Replace(u) }

// webhookURI is the URL HubSpot signed.
func (c *Client) webhookURI(r *http.Request) string {
	if c.cfg.WebhookURL != "" {
		return c.cfg.WebhookURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
		scheme = strings.ToLower(p)
	}
	host := r.Host
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// webhookEvent is one event of a HubSpot webhook batch.
type webhookEvent struct {
	EventID          json.Number `json:"eventId"`
	SubscriptionID   json.Number `json:"subscriptionId"`
	PortalID         json.Number `json:"portalId"`
	AppID            json.Number `json:"appId"`
	OccurredAt       int64       `json:"occurredAt"`
	SubscriptionType string      `json:"subscriptionType"`
	AttemptNumber    int         `json:"attemptNumber"`
	ObjectID         json.Number `json:"objectId"`
	ObjectTypeID     string      `json:"objectTypeId"`
	PropertyName     string      `json:"propertyName"`
	PropertyValue    *string     `json:"propertyValue"`
	ChangeSource     string      `json:"changeSource"`
	ChangeFlag       string      `json:"changeFlag"`
}

// maxEvents bounds a batch; HubSpot sends at most 100.
const maxEvents = 1000

func (c *Client) parseEvents(body []byte) ([]connectors.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw []webhookEvent
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("hubspot webhook: %w: not a JSON array of events: %v", connectors.ErrWebhookPayload, err)
	}
	if len(raw) > maxEvents {
		return nil, fmt.Errorf("hubspot webhook: %w: %d events, more than %d", connectors.ErrWebhookPayload, len(raw), maxEvents)
	}
	type key struct {
		id, obj, typ, object, prop, val string
		at                              int64
	}
	seen := map[key]bool{}
	var out []connectors.Event
	for i, e := range raw {
		if e.ObjectID.String() == "" {
			return nil, fmt.Errorf("hubspot webhook: %w: event %d has no objectId", connectors.ErrWebhookPayload, i)
		}
		if c.cfg.AppID != "" && e.AppID.String() != "" && e.AppID.String() != c.cfg.AppID {
			continue
		}
		object := c.eventObject(e)
		val := ""
		if e.PropertyValue != nil {
			val = *e.PropertyValue
		}
		k := key{e.EventID.String(), e.ObjectID.String(), e.SubscriptionType, object, e.PropertyName, val, e.OccurredAt}
		if seen[k] {
			continue
		}
		seen[k] = true
		ev := connectors.Event{Object: object, RecordID: e.ObjectID.String(), Property: e.PropertyName, Value: val,
			Source: e.ChangeSource, EventID: e.EventID.String()}
		if e.OccurredAt > 0 {
			ev.OccurredAt = time.UnixMilli(e.OccurredAt).UTC()
		}
		out = append(out, ev)
	}
	slices.SortStableFunc(out, func(a, b connectors.Event) int {
		if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	return out, nil
}

// eventObject names the object an event is about: partner_registration
// (the custom object's type id, known once resolved), deals, companies,
// contacts, or the raw object type id of any other object.
func (c *Client) eventObject(e webhookEvent) string {
	if e.ObjectTypeID != "" {
		return c.objectName(e.ObjectTypeID)
	}
	prefix, _, _ := strings.Cut(e.SubscriptionType, ".")
	switch prefix {
	case "contact":
		return "contacts"
	case "company":
		return "companies"
	case "deal":
		return "deals"
	case "ticket":
		return "tickets"
	}
	return prefix
}
