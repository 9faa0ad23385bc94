// Package httpfault tells, for the attempts of one HTTP call, whether the
// request can have reached the server: the difference between a write that
// certainly did not happen (retry it) and one whose outcome is unknown (it
// may have been applied). Both connectors use it to classify failures
// (connectors.ClassRetry against connectors.ClassUnknown).
package httpfault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
)

// NotSent reports whether err, the error of one HTTP attempt, means the
// request never reached the server: the connection was never made (dial
// refused or timed out, DNS failed) or the TLS handshake failed, both before
// a byte of the request was written. Anything else — a reset, an EOF or a
// timeout while sending or awaiting the answer, a cancelled context — may
// have come after the server read the request.
func NotSent(err error) bool {
	if err == nil {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv) || errors.As(err, &rh)
}

// Ambiguous reports whether one attempt's outcome leaves the request
// possibly applied: an error after the request may have been sent, or a
// 5xx answer (but 501 Not Implemented and 505 HTTP Version Not Supported,
// which refuse the request as such).
func Ambiguous(resp *http.Response, err error) bool {
	if err != nil {
		return !NotSent(err)
	}
	if resp == nil {
		return false
	}
	s := resp.StatusCode
	return s >= 500 && s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported
}

// Attempts remembers, across the attempts of one call (the retries of an
// HTTP client included), whether any of them may have been applied: a
// write retried after a timeout and then refused by a limit may still
// have landed the first time. Safe for concurrent use.
type Attempts struct{ maybe atomic.Bool }

type key struct{}

// WithAttempts returns ctx carrying a new Attempts, for the transport to
// report to.
func WithAttempts(ctx context.Context) (context.Context, *Attempts) {
	a := &Attempts{}
	return context.WithValue(ctx, key{}, a), a
}

// FromContext returns the Attempts of ctx, or nil.
func FromContext(ctx context.Context) *Attempts {
	a, _ := ctx.Value(key{}).(*Attempts)
	return a
}

// Observe records one attempt's outcome. A nil Attempts ignores it.
func (a *Attempts) Observe(resp *http.Response, err error) {
	if a != nil && Ambiguous(resp, err) {
		a.maybe.Store(true)
	}
}

// MaybeApplied reports whether an attempt observed so far may have been
// applied. A nil Attempts says false.
func (a *Attempts) MaybeApplied() bool { return a != nil && a.maybe.Load() }
