// Package hubspottest starts the fake HubSpot portal of sandbox/hubspot for
// tests, like net/http/httptest: Start serves one on a fresh loopback port
// and its Close stops everything it started. It holds what only tests use
// (Start, NewClock, the v2 webhook signature) and names the fake's types as
// they were named when the fake lived here, so that tests read
// hubspottest.Options and hubspottest.Server; anything else of the fake's
// is in sandbox/hubspot.
//
// The fake itself is a production package because the binary serves it
// (`regsync serve` with crm.kind sandbox, `regsync sandbox`); this one is
// never linked into the binary.
package hubspottest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"time"

	hubspot "github.com/regsync/regsync/sandbox/hubspot"
)

// Server is the fake portal; Options configures it; Faults are the
// failures it injects until changed.
type (
	Server  = hubspot.Server
	Options = hubspot.Options
	Faults  = hubspot.Faults
)

// Start builds a fake portal and serves it on a fresh loopback port.
func Start(opts Options) (*Server, error) { return StartAt("127.0.0.1:0", opts) }

// StartAt builds a fake portal and serves it on addr.
func StartAt(addr string, opts Options) (*Server, error) {
	s, err := hubspot.New(opts)
	if err != nil {
		return nil, err
	}
	if err := s.Listen(addr); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DefaultSeed is the fake's realistic portal (hubspot.DefaultSeed).
var DefaultSeed fs.FS = hubspot.DefaultSeed

// Clock is the settable clock of Options.Clock.
type Clock = hubspot.Clock

// NewClock returns a clock showing t, for Options.Clock.
func NewClock(t time.Time) *Clock {
	c := new(Clock)
	c.Set(t)
	return c
}

// A Subscription points the fake's webhooks at a receiver.
type Subscription = hubspot.Subscription

// SignV1 is HubSpot's v1 webhook signature (hubspot.SignV1).
func SignV1(secret string, body []byte) string { return hubspot.SignV1(secret, body) }

// SignV2 is HubSpot's v2 signature: hex SHA-256 of secret + method + URI +
// body. The fake signs its webhooks v1 and v3 only; tests of a receiver
// that checks v2 sign with this.
func SignV2(secret, method, uri string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret + method + uri))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// SignV3 is HubSpot's v3 webhook signature (hubspot.SignV3).
func SignV3(secret, method, uri string, body []byte, timestamp string) string {
	return hubspot.SignV3(secret, method, uri, body, timestamp)
}

// FormSubmission and FormValue are a submission of a HubSpot form, as the
// form-integrations API returns it.
type (
	FormSubmission = hubspot.FormSubmission
	FormValue      = hubspot.FormValue
)
