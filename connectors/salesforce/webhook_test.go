package salesforce

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/secret"
)

const testOrg = "00D5g000004SbxTEAS"

// testHookSecret is webhook_secret of the test clients; hook is the query
// of an endpoint URL that carries it.
const (
	testHookSecret = "outbound-endpoint-secret-42"
	hook           = "?secret=" + testHookSecret
)

func webhookClient(t *testing.T, edit func(*Config)) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ClientID, cfg.ClientSecret = "x", secret.New("y")
	cfg.OrganizationID = testOrg
	cfg.WebhookSecret = secret.New(testHookSecret)
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg, Options{Now: func() time.Time { return time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(query string) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/webhooks/salesforce"+query, nil)
}

func TestVerifyWebhookAcceptsSalesforceEnvelope(t *testing.T) {
	c := webhookClient(t, nil)
	evs, err := c.VerifyWebhook(post(hook), readFile(t, "outbound_registration.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []connectors.Event{
		{Object: EventRegistration, RecordID: "a0R5g00000Lm9XaEAJ", Source: "OUTBOUND_MESSAGE", EventID: "04l5g00000Gx7QzAAJ", OccurredAt: time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)},
		{Object: EventRegistration, RecordID: "a0R5g00000Lm9XbEAJ", Source: "OUTBOUND_MESSAGE", EventID: "04l5g00000Gx7R0AAJ", OccurredAt: time.Date(2026, 3, 2, 15, 4, 7, 0, time.UTC)},
	}
	if len(evs) != len(want) {
		t.Fatalf("events: %+v", evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
	evs, err = c.VerifyWebhook(post(hook), readFile(t, "outbound_opportunity.xml"))
	if err != nil || len(evs) != 1 || evs[0].Object != EventDeal || evs[0].RecordID != "0065g00000AbCdEAAV" {
		t.Fatalf("opportunity: %+v %v", evs, err)
	}
	// The 15-character org id works as well.
	c15 := webhookClient(t, func(cfg *Config) { cfg.OrganizationID = testOrg[:15] })
	if _, err := c15.VerifyWebhook(post(hook), readFile(t, "outbound_registration.xml")); err != nil {
		t.Errorf("15-character organization_id: %v", err)
	}
	// The endpoint secret is what proves the sender: a wrong or missing
	// one is refused, and so is every message while none is configured
	// (the organization id alone is no proof).
	if _, err := c.VerifyWebhook(post("?secret=wrong"), readFile(t, "outbound_registration.xml")); !errors.Is(err, ErrWebhook) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := c.VerifyWebhook(post(""), readFile(t, "outbound_registration.xml")); !errors.Is(err, ErrWebhook) {
		t.Errorf("no secret: %v", err)
	}
	none := webhookClient(t, func(cfg *Config) { cfg.WebhookSecret = secret.Secret{} })
	for _, q := range []string{"", "?secret=", hook} {
		if _, err := none.VerifyWebhook(post(q), readFile(t, "outbound_registration.xml")); !errors.Is(err, connectors.ErrWebhookSignature) ||
			!strings.Contains(err.Error(), "webhook_secret is not configured") {
			t.Errorf("no webhook_secret configured, query %q: %v", q, err)
		}
	}
}

func TestVerifyWebhookRefuses(t *testing.T) {
	c := webhookClient(t, nil)
	good := string(readFile(t, "outbound_registration.xml"))
	body := func(s string) []byte { return []byte(s) }
	many := strings.Replace(good, "<Notification>", strings.Repeat("<Notification><Id>04l5g00000Gx7QzAAJ</Id><sObject xsi:type=\"sf:Partner_Registration__c\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>a0R5g00000Lm9XaEAJ</sf:Id></sObject></Notification>", 101)+"<Notification>", 1)
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
` + strings.Replace(good[strings.Index(good, "<soapenv:Envelope"):], "approved", "&lol3;", 1)
	xxe := `<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
` + strings.Replace(good[strings.Index(good, "<soapenv:Envelope"):], "approved", "&xxe;", 1)
	undeclared := strings.Replace(good, "approved", "&lol3;", 1)
	for name, tc := range map[string]struct {
		req  *http.Request
		body []byte
		cfg  func(*Config)
	}{
		"wrong OrganizationId":     {post(hook), body(strings.ReplaceAll(good, testOrg, "00D5g000004SbxUEAS")), nil},
		"no organization_id set":   {post(hook), body(good), func(c *Config) { c.OrganizationID = "" }},
		"other org configured":     {post(hook), body(good), func(c *Config) { c.OrganizationID = "00D000000000001" }},
		"malformed XML":            {post(hook), body(good[:len(good)/2]), nil},
		"not XML":                  {post(hook), body(`{"OrganizationId":"00D5g000004SbxTEAS"}`), nil},
		"empty":                    {post(hook), nil, nil},
		"billion laughs":           {post(hook), body(laughs), nil},
		"XXE":                      {post(hook), body(xxe), nil},
		"undeclared entity":        {post(hook), body(undeclared), nil},
		"processing instruction":   {post(hook), body(strings.Replace(good, "<soapenv:Body>", `<?xml-stylesheet href="x"?><soapenv:Body>`, 1)), nil},
		"Latin-1":                  {post(hook), body(strings.Replace(good, `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)), nil},
		"too big":                  {post(hook), body(good + strings.Repeat(" ", MaxWebhookBytes)), nil},
		"too deep":                 {post(hook), body(strings.Replace(good, "<sf:Status__c>approved</sf:Status__c>", strings.Repeat("<a>", 20)+strings.Repeat("</a>", 20), 1)), nil},
		"no envelope":              {post(hook), body(good[strings.Index(good, "<notifications") : strings.Index(good, "</notifications>")+len("</notifications>")]), nil},
		"wrong namespace":          {post(hook), body(strings.Replace(good, "http://soap.sforce.com/2005/09/outbound", "http://evil.example/outbound", 1)), nil},
		"two notifications blocks": {post(hook), body(strings.Replace(good, "</notifications>", "</notifications><notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\"/>", 1)), nil},
		"no notification":          {post(hook), body(good[:strings.Index(good, "<Notification>")] + "</notifications></soapenv:Body></soapenv:Envelope>"), nil},
		"101 notifications":        {post(hook), body(many), nil},
		"bad notification id":      {post(hook), body(strings.Replace(good, "04l5g00000Gx7QzAAJ", "x", 1)), nil},
		"bad record id":            {post(hook), body(strings.Replace(good, "a0R5g00000Lm9XaEAJ", "a0R5g00000Lm9XaAAA", 1)), nil},
		"other object":             {post(hook), body(strings.Replace(good, "sf:Partner_Registration__c", "sf:Account", 1)), nil},
	} {
		cl := c
		if tc.cfg != nil {
			cl = webhookClient(t, tc.cfg)
		}
		evs, err := cl.VerifyWebhook(tc.req, tc.body)
		t.Logf("%s: %v", name, err)
		if err == nil || !errors.Is(err, ErrWebhook) || evs != nil {
			t.Errorf("%s: accepted (%v, %d events)", name, err, len(evs))
		}
	}
}

// Refusals tell the server 401 from 400: a body is only "malformed" (400)
// once the endpoint secret proved the sender; otherwise, and for a wrong
// organization, the sender is not verified (401).
func TestVerifyWebhookRefusalKinds(t *testing.T) {
	good := string(readFile(t, "outbound_registration.xml"))
	plain := webhookClient(t, func(cfg *Config) { cfg.WebhookSecret = secret.Secret{} })
	withSecret := webhookClient(t, func(cfg *Config) { cfg.WebhookSecret = secret.New("s3cret-of-16-chars") })
	for _, tc := range []struct {
		c     *Client
		query string
		body  string
		kind  error
	}{
		{plain, "", good[:100], connectors.ErrWebhookSignature},
		{plain, "?secret=s3cret-of-16-chars", good, connectors.ErrWebhookSignature},
		{withSecret, "", good[:100], connectors.ErrWebhookSignature},
		{withSecret, "?secret=s3cret-of-16-chars", good[:100], connectors.ErrWebhookPayload},
		{withSecret, "?secret=s3cret-of-16-chars", strings.Replace(good, "04l5g00000Gx7QzAAJ", "x", 1), connectors.ErrWebhookPayload},
		{withSecret, "?secret=s3cret-of-16-chars", strings.ReplaceAll(good, testOrg, "00D5g000004SbxUEAS"), connectors.ErrWebhookSignature},
		{withSecret, "?secret=nope", good[:100], connectors.ErrWebhookSignature},
	} {
		_, err := tc.c.VerifyWebhook(post(tc.query), []byte(tc.body))
		if !errors.Is(err, tc.kind) || !errors.Is(err, ErrWebhook) {
			t.Errorf("%s %.40q: %v, want %v", tc.query, tc.body, err, tc.kind)
		}
	}
}

func TestWriteWebhookAck(t *testing.T) {
	c := webhookClient(t, nil)
	rec := httptest.NewRecorder()
	c.WriteWebhookAck(rec)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/xml") {
		t.Fatalf("ack: %d %v", rec.Code, rec.Header())
	}
	var env struct {
		Body struct {
			Resp struct {
				Ack bool `xml:"http://soap.sforce.com/2005/09/outbound Ack"`
			} `xml:"http://soap.sforce.com/2005/09/outbound notificationsResponse"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil || !env.Body.Resp.Ack {
		t.Fatalf("ack body: %v\n%s", err, rec.Body.String())
	}
}

// The fake's outbound sender delivers to an endpoint built on the client:
// acknowledged messages stop; refused ones are retried.
func TestOutboundMessagesEndToEnd(t *testing.T) {
	sf, err := salesforcetest.Start(salesforcetest.Options{Empty: true, OutboundRetryBase: 5 * time.Millisecond, OutboundRetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sf.Close)
	var mu sync.Mutex
	var got []connectors.Event
	refused := 0
	handler := func(c *Client) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBytes+1))
			evs, err := c.VerifyWebhook(r, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused++
				http.Error(w, "refused", http.StatusUnauthorized)
				return
			}
			got = append(got, evs...)
			c.WriteWebhookAck(w)
		}
	}
	good := webhookClient(t, func(cfg *Config) {
		cfg.OrganizationID = sf.OrganizationID()
		cfg.WebhookSecret = secret.New("path-secret-0123456")
	})
	srv := httptest.NewServer(handler(good))
	t.Cleanup(srv.Close)
	sf.SetOutbound(salesforcetest.OutboundMessage{Object: obj, URL: srv.URL + "/webhooks/salesforce?secret=path-secret-0123456",
		Fields: []string{"Case_Number__c", "Status__c", "SystemModstamp"}})
	id, err := sf.AsAE().Create(obj, map[string]any{"Case_Number__c": "R-0000000001", "Status__c": "submitted"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sf.FlushOutbound(ctx); err != nil {
		t.Fatalf("not acknowledged: %v (%+v)", err, sf.OutboundStats())
	}
	mu.Lock()
	if len(got) != 1 || got[0].RecordID != id || got[0].Object != EventRegistration {
		t.Errorf("events: %+v", got)
	}
	mu.Unlock()
	// An endpoint that refuses (wrong org configured): Salesforce retries.
	bad := webhookClient(t, func(cfg *Config) { cfg.OrganizationID = "00D000000000001" })
	srv2 := httptest.NewServer(handler(bad))
	t.Cleanup(srv2.Close)
	sf.SetOutbound(salesforcetest.OutboundMessage{Object: obj, URL: srv2.URL})
	if err := sf.AsAE().Update(obj, id, map[string]any{"Status__c": "in_review"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := refused
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused %d times: %+v", n, sf.OutboundStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if sf.OutboundPending() != 1 {
		t.Errorf("pending = %d", sf.OutboundPending())
	}
}
