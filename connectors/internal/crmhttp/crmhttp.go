// Package crmhttp is the HTTP layer both CRM connectors share: the
// go-retryablehttp client and its logging, the retry decisions that do not
// depend on a CRM's answers, Retry-After, the API usage counters behind
// connectors.Usage, and the scrubbing of secrets and e-mail addresses from
// everything that may reach a log line or an error.
//
// What a CRM's answers mean (HubSpot's 429 policies, Salesforce's error
// codes) stays in each connector: this package only knows HTTP.
package crmhttp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/httpfault"
)

// Waits both connectors use.
const (
	// WaitBase is the first wait of the exponential backoff, and the wait
	// a caller is told (connectors.Error.After) after a fault with no
	// prescribed wait (a network failure, a 5xx).
	WaitBase = 500 * time.Millisecond
	// MaxWait caps every wait between two attempts of one call. A CRM that
	// asks for longer (a Retry-After of minutes or hours) is not waited for
	// inside the call: the caller gets the answer, with the wait in
	// connectors.Error.After, and reschedules the work.
	MaxWait = 60 * time.Second
	// MaxRetryAfter bounds what RetryAfter reports: see there.
	MaxRetryAfter = 24 * time.Hour
)

// Exponential is WaitBase doubled attempt times (attempt 0: WaitBase), not
// capped: callers cap it with MaxWait or their own limit.
func Exponential(attempt int) time.Duration {
	return WaitBase << min(max(attempt, 0), 16)
}

// ServerFault reports whether status is a server error that may pass: any
// 5xx but 501 Not Implemented and 505 HTTP Version Not Supported, which
// refuse the request as such.
func ServerFault(status int) bool {
	return status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
}

// RetryAfter reads an answer's Retry-After header: delay seconds or an
// HTTP date. An HTTP date is measured against the answer's own Date header
// when it has one (the CRM's clock, so that a skew between the two clocks
// does not change the wait), else against the local clock. A negative or
// unreadable value is no value.
//
// The result is bounded by MaxRetryAfter, 24 hours, for both CRMs: the
// longest wait either documents is HubSpot's 477 (a portal migration,
// "up to 24 hours"); a larger value is a fault and must neither overflow a
// time.Duration nor park a registration for weeks. The bound says what
// the CRM asked for; how much of it a call sleeps is a separate rule
// (MaxWait), applied by each connector's backoff.
func RetryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	now := time.Now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}

// HeaderInt reads a numeric header (HubSpot's X-HubSpot-RateLimit-*):
// def when it is missing or not a number.
func HeaderInt(h http.Header, name string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil {
		return def
	}
	return n
}

// Options configure the retrying client of a connector.
type Options struct {
	// Transport is the connector's own round tripper stack (auth, limits,
	// counters) over the base transport.
	Transport http.RoundTripper
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Retries is how many times a call is sent again at most.
	Retries int
	// CheckRetry decides whether an attempt is sent again; see Retrier.
	CheckRetry retryablehttp.CheckRetry
	// Backoff is how long to wait before the next attempt.
	Backoff retryablehttp.Backoff
	// Logger receives retryablehttp's messages (see NewClient).
	Logger *slog.Logger
	// Prefix starts each of those messages ("hubspot http").
	Prefix string
	// NoRedirects answers a redirect as it is instead of following it, so
	// that a bearer token is never carried to another address.
	NoRedirects bool
}

// NewClient builds the go-retryablehttp client of a connector. Its final
// answer is passed through as it is (PassthroughErrorHandler), for the
// connector to classify. Its per-attempt messages go to the logger at
// debug level, URLs without their query strings (which carry SOQL with
// company names, search filters, cursors): each connector reports the
// final outcome of a call itself, in its error and its own log line.
func NewClient(o Options) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: o.Transport, Timeout: o.Timeout}
	if o.NoRedirects {
		rc.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	rc.Logger = retryLogger{l: o.Logger, prefix: o.Prefix + ": "}
	rc.RetryMax = o.Retries
	rc.RetryWaitMin, rc.RetryWaitMax = WaitBase, MaxWait
	rc.CheckRetry = o.CheckRetry
	rc.Backoff = o.Backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return rc
}

// retryLogger adapts a *slog.Logger to retryablehttp's LeveledLogger.
type retryLogger struct {
	l      *slog.Logger
	prefix string
}

func (r retryLogger) Error(msg string, kv ...any) { r.log(msg, kv) }
func (r retryLogger) Info(msg string, kv ...any)  { r.log(msg, kv) }
func (r retryLogger) Debug(msg string, kv ...any) { r.log(msg, kv) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.log(msg, kv) }

func (r retryLogger) log(msg string, kv []any) {
	if r.l == nil || !r.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	out := make([]any, len(kv))
	for i, v := range kv {
		if s, ok := v.(string); ok {
			v = DropQueries(s)
		}
		out[i] = v
	}
	r.l.Debug(r.prefix+msg, out...)
}

// DropQueries replaces the query string of every URL in s (from a "?" to
// the next space: a query string is URL-encoded, without spaces) with
// "?…".
func DropQueries(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '?')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("?…")
		s = s[i+1:]
		if j := strings.IndexByte(s, ' '); j >= 0 {
			s = s[j:]
		} else {
			s = ""
		}
	}
}

// Retrier is the part of a connector's CheckRetry that does not depend on
// the CRM's answers. A connector's CheckRetry calls Check first and decides
// from the answer only when Check leaves it open.
type Retrier struct {
	// Final reports errors of an attempt that retrying cannot mend, beyond
	// the TLS failures Check knows (HubSpot: a failed token refresh, which
	// already retried what it could). Nil: none.
	Final func(err error) bool
}

// Check decides what it can: a cancelled call is not retried; a create that
// is not idempotent (WithoutResend) is not sent again after an attempt that
// may have been applied; an attempt that failed without an answer is
// retried unless its failure is final (a TLS problem does not fix itself).
// done is false when the answer decides: then resp is not nil.
func (r Retrier) Check(ctx context.Context, resp *http.Response, err error) (done, retry bool, cerr error) {
	if ctx.Err() != nil {
		return true, false, ctx.Err()
	}
	if noResend(ctx) && httpfault.Ambiguous(resp, err) {
		// A create that may have been applied is not sent again blind:
		// the caller finds what exists first.
		return true, false, nil
	}
	if err == nil {
		return false, false, nil
	}
	if r.Final != nil && r.Final(err) {
		return true, false, nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		var ci x509.CertificateInvalidError
		if errors.As(ue.Err, &ua) || errors.As(ue.Err, &hn) || errors.As(ue.Err, &ci) {
			return true, false, nil
		}
	}
	return true, true, nil
}

type noResendKey struct{}

// WithoutResend marks ctx's calls as creates that are not idempotent
// (HubSpot notes and tasks, Salesforce feed posts and notes): they are sent
// again only when the attempt surely never reached the CRM (a refused
// connection, a limit refusal), never after an answer that leaves them
// possibly applied (a 5xx, a connection lost after sending). The caller's
// next attempt reads what exists first.
func WithoutResend(ctx context.Context) context.Context {
	return context.WithValue(ctx, noResendKey{}, true)
}

func noResend(ctx context.Context) bool {
	v, _ := ctx.Value(noResendKey{}).(bool)
	return v
}

// Peek reads a failed answer's body (at most 1 MiB) and puts it back, so
// that a round tripper can read the CRM's error before CheckRetry and the
// caller do.
func Peek(resp *http.Response) []byte {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

// Unheard is the class of an answer regsync did not get (a reset after
// sending, a timeout, a body cut short or unreadable): nothing changed for
// a read (retry); a write may have been applied (unknown).
func Unheard(write bool) connectors.Class {
	if write {
		return connectors.ClassUnknown
	}
	return connectors.ClassRetry
}

// SendError classifies an attempt that got no answer: "network", unheard
// (see Unheard) unless the request surely never left (then retry), to be
// tried again after WaitBase. msg is the failure's text, already scrubbed.
func SendError(op string, write bool, sendErr error, att *httpfault.Attempts, msg string) *connectors.Error {
	class := Unheard(write)
	if httpfault.NotSent(sendErr) && !att.MaybeApplied() {
		class = connectors.ClassRetry // the request never left
	}
	e := connectors.NewError(op, 0, class, "network", errors.New(msg))
	e.After = WaitBase
	return e
}

// AnswerError classifies a 2xx answer regsync could not read (cut short,
// not JSON): for a write the CRM applied something regsync does not know
// (unknown); for a read nothing changed (retry). Never permanent.
func AnswerError(op string, status int, write bool, reason string, err error) *connectors.Error {
	e := connectors.NewError(op, status, Unheard(write), reason, err)
	e.After = WaitBase
	return e
}

// MaybeApplied makes e unknown when the call is a write and one of its
// attempts may have been applied (a retried 5xx, a replay after a token
// refresh): whatever the last answer says, the CRM may hold the write.
func MaybeApplied(e *connectors.Error, write bool, att *httpfault.Attempts) {
	if write && att.MaybeApplied() && e.Class != connectors.ClassUnknown {
		e.SetClass(connectors.ClassUnknown)
		e.Err = fmt.Errorf("%w (an earlier attempt may have been applied)", e.Err)
	}
}

// ReadAnswer reads resp's whole body, at most limit bytes, and closes it.
// An answer cut short (the connection lost while reading) is a "network"
// failure whose outcome was not heard (AnswerError); its text is scrubbed.
// A cancelled ctx is returned as it is.
func ReadAnswer(ctx context.Context, op string, write bool, resp *http.Response, limit int64, scrub *Scrubber) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err == nil {
		return body, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, AnswerError(op, resp.StatusCode, write, "network", fmt.Errorf("read answer: %s", scrub.String(err.Error())))
}

// Decode decodes a 2xx answer's JSON body into out; an empty body or a nil
// out decodes nothing. A success regsync cannot read (cut short, not JSON)
// is "bad_response": unknown for a write (the CRM applied something regsync
// does not know), retry for a read (nothing changed); never permanent.
func Decode(op string, status int, write bool, body []byte, out any) *connectors.Error {
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return AnswerError(op, status, write, "bad_response", fmt.Errorf("undecodable answer: %v", err))
	}
	return nil
}
