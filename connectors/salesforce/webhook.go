package salesforce

import (
	"bytes"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// Outbound messages (SOAP 1.1 notifications) — the push path.
//
// A message is refused, changing nothing, unless: it is at most
// MaxWebhookBytes; it is well-formed UTF-8 XML with no DOCTYPE (so no
// entity can be declared: no XXE, no billion laughs), no processing
// instruction but the XML declaration, and no element deeper than 16; it
// is a soapenv:Envelope whose Body holds one notifications element in
// Salesforce's outbound namespace; its OrganizationId is the configured
// organization_id; the endpoint's "secret" query parameter matches
// webhook_secret, which must be set (the organization id is no secret:
// anyone who has seen one of the org's URLs knows it); and it carries 1
// to 100 notifications, each with a notification id and an sObject id.

// MaxWebhookBytes bounds an outbound message.
const MaxWebhookBytes = 4 << 20

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsOutbound = "http://soap.sforce.com/2005/09/outbound"
	nsXSI      = "http://www.w3.org/2001/XMLSchema-instance"
	maxDepth   = 16
)

// Event object names.
const (
	EventRegistration = "partner_registration"
	EventDeal         = "deals"
)

// ErrWebhook is wrapped by every refusal of VerifyWebhook.
var ErrWebhook = errors.New("salesforce: outbound message refused")

type soapEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Notifications []soapNotifications `xml:"http://soap.sforce.com/2005/09/outbound notifications"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type soapNotifications struct {
	OrganizationID string `xml:"http://soap.sforce.com/2005/09/outbound OrganizationId"`
	ActionID       string `xml:"http://soap.sforce.com/2005/09/outbound ActionId"`
	Notification   []struct {
		ID      string `xml:"http://soap.sforce.com/2005/09/outbound Id"`
		SObject struct {
			Type   string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			Fields []struct {
				XMLName xml.Name
				Nil     string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"http://soap.sforce.com/2005/09/outbound sObject"`
	} `xml:"http://soap.sforce.com/2005/09/outbound Notification"`
}

// refuse builds a refusal: ErrWebhook and connectors.ErrWebhookSignature
// (401), or connectors.ErrWebhookPayload (400) when payload is set, which
// VerifyWebhook does only once the endpoint secret has proved the sender.
func refuse(payload bool, format string, args ...any) error {
	kind := connectors.ErrWebhookSignature
	if payload {
		kind = connectors.ErrWebhookPayload
	}
	return fmt.Errorf("%w: %w: %s", ErrWebhook, kind, fmt.Sprintf(format, args...))
}

// VerifyWebhook checks an outbound message and parses its notifications:
// one Event per notification, keyed by the notification id (Salesforce
// may deliver a notification more than once, and in any order), with the
// record's SystemModstamp (or LastModifiedDate) as its time.
func (c *Client) VerifyWebhook(r *http.Request, body []byte) ([]connectors.Event, error) {
	if c.cfg.OrganizationID == "" {
		return nil, refuse(false, "salesforce.organization_id is not configured, so no sender can be verified")
	}
	if !c.cfg.WebhookSecret.IsSet() {
		return nil, refuse(false, "salesforce.webhook_secret is not configured, so no sender can be verified")
	}
	got := ""
	if r != nil && r.URL != nil {
		got = r.URL.Query().Get("secret")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.WebhookSecret.Reveal())) != 1 {
		return nil, refuse(false, "wrong or missing endpoint secret")
	}
	// proven: the endpoint secret matched, so what follows is the
	// sender's mistake, not a forgery.
	const proven = true
	if len(body) == 0 {
		return nil, refuse(proven, "empty body")
	}
	if len(body) > MaxWebhookBytes {
		return nil, refuse(proven, "body of %d bytes exceeds %d", len(body), MaxWebhookBytes)
	}
	if err := checkXML(body); err != nil {
		return nil, refuse(proven, "%v", err)
	}
	var env soapEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, refuse(proven, "not a SOAP envelope: %v", err)
	}
	if len(env.Body.Notifications) != 1 {
		return nil, refuse(proven, "want one notifications element in the SOAP body, found %d", len(env.Body.Notifications))
	}
	n := env.Body.Notifications[0]
	org := strings.TrimSpace(n.OrganizationID)
	if !validID(org) || !sameID(org, c.cfg.OrganizationID) {
		return nil, refuse(false, "OrganizationId %q is not the configured organization", crmhttp.Clip(org, 20))
	}
	if len(n.Notification) == 0 || len(n.Notification) > 100 {
		return nil, refuse(proven, "%d notifications (1 to 100 expected)", len(n.Notification))
	}
	events := make([]connectors.Event, 0, len(n.Notification))
	for i, no := range n.Notification {
		nid := strings.TrimSpace(no.ID)
		if !validID(nid) {
			return nil, refuse(proven, "notification %d has no valid Id", i)
		}
		typ := no.SObject.Type
		if _, after, ok := strings.Cut(typ, ":"); ok {
			typ = after
		}
		var object string
		switch {
		case strings.EqualFold(typ, c.cfg.Object):
			object = EventRegistration
		case strings.EqualFold(typ, "Opportunity"):
			object = EventDeal
		default:
			return nil, refuse(proven, "notification %d is about %q, not %s or Opportunity", i, crmhttp.Clip(typ, 40), c.cfg.Object)
		}
		var rid string
		var at time.Time
		for _, f := range no.SObject.Fields {
			if f.XMLName.Space != "urn:sobject.enterprise.soap.sforce.com" && f.XMLName.Space != "urn:sobject.partner.soap.sforce.com" {
				continue
			}
			switch f.XMLName.Local {
			case "Id":
				rid = strings.TrimSpace(f.Value)
			case "SystemModstamp":
				if t, ok := parseSFTime(strings.TrimSpace(f.Value)); ok {
					at = t
				}
			case "LastModifiedDate":
				if t, ok := parseSFTime(strings.TrimSpace(f.Value)); ok && at.IsZero() {
					at = t
				}
			}
		}
		if !validID(rid) {
			return nil, refuse(proven, "notification %d has no valid sObject Id", i)
		}
		if at.IsZero() {
			at = c.now().UTC()
		}
		events = append(events, connectors.Event{Object: object, RecordID: rid, Source: "OUTBOUND_MESSAGE", EventID: nid, OccurredAt: at})
	}
	return events, nil
}

// sameID compares two ids by their case-sensitive 15-character form.
func sameID(a, b string) bool {
	return len(a) >= 15 && len(b) >= 15 && a[:15] == b[:15]
}

// checkXML refuses, before any decoding into structures, what a
// notifications message never holds: a DOCTYPE (entity declarations, so
// XXE and entity expansion), processing instructions other than the XML
// declaration, non-UTF-8 encodings, deep nesting and malformed markup.
func checkXML(body []byte) error {
	if bytes.Contains(bytes.ToUpper(body), []byte("<!DOCTYPE")) || bytes.Contains(bytes.ToUpper(body), []byte("<!ENTITY")) {
		return errors.New("DOCTYPE and entity declarations are not allowed")
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	dec.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q is not UTF-8", label)
	}
	depth, elements := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			elements++
			if depth > maxDepth {
				return fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
			if elements > 200000 {
				return errors.New("too many elements")
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errors.New("XML directives are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("processing instruction %q is not allowed", t.Target)
			}
		}
	}
	if elements == 0 {
		return errors.New("no XML element")
	}
	return nil
}

// ackEnvelope is the SOAP answer Salesforce counts as delivered.
const ackEnvelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
`

// WriteWebhookAck answers an outbound message with the SOAP Ack; the
// server calls it only once the events are durably in the inbox (until
// then Salesforce keeps retrying).
func (c *Client) WriteWebhookAck(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ackEnvelope)
}
