// Package salesforce is regsync's Salesforce connector: the
// connectors.CRM interface over the Salesforce REST API, built on
// github.com/k-capehart/go-salesforce/v3.
//
// The library logs in (client credentials, username-password, JWT bearer or
// a plain access token) and owns the HTTP client, which it is given: a
// go-retryablehttp round tripper with regsync's own retry classification,
// and a timeout. Every data call then goes through one place, Client.do,
// which the library cannot be: the library's calls take no context, report
// errors as raw strings, refresh an expired session without a lock and
// trust the server's paging, and its collection helpers stop at the first
// failed request. So do attaches the caller's context, reads
// Sforce-Limit-Info, stops writes while the daily allocation is spent,
// logs in again once (under a lock) on INVALID_SESSION_ID, classifies every
// failure as a *connectors.Error and guards paging; sObject Collections,
// composite, describe and Bulk API 2.0 are called through it with the
// library's session and HTTP client.
package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	gosf "github.com/k-capehart/go-salesforce/v3"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/internal/httpfault"
)

// Options are the client's collaborators.
type Options struct {
	// Logger receives the client's logs; default discards them.
	Logger *slog.Logger
	// Transport is the base HTTP transport; default a pooled transport.
	Transport http.RoundTripper
	// Now is the clock for pauses and webhook times; default time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx ends (pacing near the daily limit,
	// bulk job polling); default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// BulkPoll is how often a Bulk API job is polled; default 2s.
	BulkPoll time.Duration
	// MaxRetryWait caps the wait between HTTP retries; default 60s.
	MaxRetryWait time.Duration
}

// Client is the Salesforce connector. It is safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	poll    time.Duration
	rt      http.RoundTripper
	timeout time.Duration
	scrub   *crmhttp.Scrubber

	// smu guards the session: login and re-login are serialised, so the
	// library's session is never refreshed by two goroutines at once.
	smu sync.Mutex
	sf  *gosf.Salesforce
	gen uint64
	tok atomic.Value // string: the current access token

	usage crmhttp.Usage
	limit allocation

	cmu      sync.Mutex
	describe map[string]*objectInfo // by object name
	// describeFailed is, by object name, when a failed describe may be
	// asked again.
	describeFailed map[string]time.Time
	users          map[string]string  // e-mail/username (lower case) → user id
	lookups        map[string]lookups // registration id → its Account and Opportunity lookups
}

// Name is the connector's name.
func (c *Client) Name() string { return "salesforce" }

// New builds a client. It does not log in: the first call does (Ping
// forces it).
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AuthFlow() == "" {
		return nil, errors.New("salesforce: no credentials: set client_id and client_secret (REGSYNC_SALESFORCE_CLIENT_SECRET), username with password or private_key, or access_token")
	}
	c := &Client{
		cfg:   cfg,
		log:   opts.Logger,
		now:   opts.Now,
		sleep: opts.Sleep,
		poll:  opts.BulkPoll,
		scrub: crmhttp.NewScrubber(cfg.ClientSecret.Reveal(), cfg.Password.Reveal(), cfg.SecurityToken.Reveal(),
			cfg.AccessToken.Reveal(), cfg.PrivateKey.Reveal(), cfg.WebhookSecret.Reveal()),
		describe:       map[string]*objectInfo{},
		describeFailed: map[string]time.Time{},
		users:          map[string]string{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.scrub.Logger(c.log)
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.poll <= 0 {
		c.poll = 2 * time.Second
	}
	base := opts.Transport
	if base == nil {
		base = cleanhttp.DefaultPooledTransport()
	}
	capWait := opts.MaxRetryWait
	if capWait <= 0 {
		capWait = maxDelay
	}
	rc := crmhttp.NewClient(crmhttp.Options{
		Transport:  &observer{c: c, base: base},
		Timeout:    cfg.Timeout,
		Retries:    cfg.MaxRetries,
		CheckRetry: checkRetry,
		Backoff: func(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
			return min(backoff(attempt, resp), capWait)
		},
		Logger: c.log,
		Prefix: "salesforce http",
	})
	c.rt = &retryablehttp.RoundTripper{Client: rc}
	// The library's client timeout bounds a whole call, retries included.
	c.timeout = cfg.Timeout*time.Duration(cfg.MaxRetries+1) + maxDelay*time.Duration(cfg.MaxRetries)
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// opKey carries the operation name to the observing transport.
type opKey struct{}

// observer counts every HTTP attempt, reads Sforce-Limit-Info from every
// answer and annotates failed answers for the retry policy.
type observer struct {
	c    *Client
	base http.RoundTripper
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	op, _ := req.Context().Value(opKey{}).(string)
	o.c.usage.Call(op)
	resp, err := o.base.RoundTrip(req)
	httpfault.FromContext(req.Context()).Observe(resp, err)
	if err != nil {
		return resp, err
	}
	if used, limit, ok := parseLimitInfo(resp.Header.Get("Sforce-Limit-Info")); ok {
		o.c.observeLimit(used, limit)
	}
	if resp.StatusCode >= 300 {
		errs := annotate(resp)
		if len(errs) > 0 && errs[0].code() == "REQUEST_LIMIT_EXCEEDED" {
			o.c.usage.Limited()
		}
	}
	return resp, nil
}

// parseLimitInfo reads "api-usage=10018/100000" (other entries, such as
// per-app usage, may follow after a comma).
func parseLimitInfo(v string) (used, limit int64, ok bool) {
	for _, part := range strings.Split(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || k != "api-usage" {
			continue
		}
		a, b, found := strings.Cut(val, "/")
		if !found {
			return 0, 0, false
		}
		u, e1 := strconv.ParseInt(a, 10, 64)
		l, e2 := strconv.ParseInt(b, 10, 64)
		if e1 != nil || e2 != nil || u < 0 || l < 0 {
			return 0, 0, false
		}
		return u, l, true
	}
	return 0, 0, false
}

// session returns the logged-in library client and its generation.
func (c *Client) session(ctx context.Context) (*gosf.Salesforce, uint64, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sf != nil {
		return c.sf, c.gen, nil
	}
	if err := c.loginLocked(ctx); err != nil {
		return nil, 0, err
	}
	return c.sf, c.gen, nil
}

// relogin logs in again after gen's session was refused; when another
// goroutine already did, it returns at once.
func (c *Client) relogin(ctx context.Context, gen uint64) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sf != nil && c.gen != gen {
		return nil
	}
	if c.cfg.AuthFlow() == FlowAccessToken {
		return connectors.NewError("login", 0, connectors.ClassPermanent, "unauthorized",
			errors.New("the configured access_token expired or was revoked (a plain access token cannot be refreshed)"))
	}
	return c.loginLocked(ctx)
}

// currentToken is the session's access token; it never blocks (a login
// may hold the session lock).
func (c *Client) currentToken() string {
	t, _ := c.tok.Load().(string)
	return t
}

// loginLocked logs in with the configured flow (c.smu held). go-salesforce
// posts to the token endpoint with http.Post, which has no timeout, so the
// wait is bounded here; an abandoned attempt ends with its connection.
func (c *Client) loginLocked(ctx context.Context) error {
	creds := gosf.Creds{Domain: strings.TrimRight(c.cfg.Domain, "/")}
	switch c.cfg.AuthFlow() {
	case FlowAccessToken:
		creds.AccessToken = c.cfg.AccessToken.Reveal()
	case FlowJWT:
		creds.Username, creds.ConsumerKey, creds.ConsumerRSAPem = c.cfg.Username, c.cfg.ClientID, c.cfg.PrivateKey.Reveal()
	case FlowPassword:
		creds.Username, creds.Password, creds.SecurityToken = c.cfg.Username, c.cfg.Password.Reveal(), c.cfg.SecurityToken.Reveal()
		creds.ConsumerKey, creds.ConsumerSecret = c.cfg.ClientID, c.cfg.ClientSecret.Reveal()
	case FlowClientCredentials:
		creds.ConsumerKey, creds.ConsumerSecret = c.cfg.ClientID, c.cfg.ClientSecret.Reveal()
	}
	type result struct {
		sf  *gosf.Salesforce
		err error
	}
	done := make(chan result, 1)
	c.usage.Call("login")
	go func() {
		sf, err := gosf.Init(creds, gosf.WithRoundTripper(c.rt), gosf.WithHTTPTimeout(c.timeout), gosf.WithAPIVersion(c.cfg.APIVersion))
		done <- result{sf, err}
	}()
	t := time.NewTimer(c.cfg.Timeout)
	defer t.Stop()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		c.usage.Fail("network")
		// A login changes no record: retry.
		e := connectors.NewError("login", 0, connectors.ClassRetry, "network",
			fmt.Errorf("no answer from %s within %s", c.cfg.Domain, c.cfg.Timeout))
		e.After = waitBase
		return e
	}
	if r.err != nil {
		e := c.loginError(r.err)
		c.usage.Fail(e.Reason)
		return e
	}
	c.sf = r.sf
	c.gen++
	c.tok.Store(r.sf.GetAccessToken())
	c.scrub.Add(r.sf.GetAccessToken())
	return nil
}

// loginError classifies go-salesforce's login errors, which are raw
// strings: "400 Bad Request: failed authentication" for a refused grant
// (the OAuth body is dropped), a network error, or an error body of the
// access-token check. A login changes no record, so what is not a refusal
// is retry.
func (c *Client) loginError(err error) *connectors.Error {
	msg := c.scrub.String(err.Error())
	e := &connectors.Error{Op: "login", Err: errors.New(crmhttp.Clip(msg, 400))}
	status := 0
	if f := strings.Fields(msg); len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 100 && n < 600 {
			status = n
		}
	}
	switch {
	case strings.Contains(msg, "failed authentication") && status >= 500:
		e.Status, e.Reason, e.After = status, "server_error", waitBase
		e.SetClass(connectors.ClassRetry)
	case strings.Contains(msg, "failed authentication"):
		e.Status, e.Reason = status, "unauthorized"
		e.SetClass(connectors.ClassPermanent)
		e.Err = fmt.Errorf("%s: the %s flow was refused by %s: check client_id, client_secret and the user's credentials", msg, c.cfg.AuthFlow(), c.cfg.Domain)
	case len(parseErrors([]byte(msg))) > 0:
		return c.classify("login", 0, parseErrors([]byte(msg)), false)
	default:
		var ue *url.Error
		if errors.As(err, &ue) || strings.Contains(msg, "connection refused") || strings.Contains(msg, "EOF") {
			e.Reason, e.After = "network", waitBase
			e.SetClass(connectors.ClassRetry)
		} else {
			e.Reason = "unauthorized"
			e.SetClass(connectors.ClassPermanent)
		}
	}
	return e
}

// call describes one REST request.
type call struct {
	op     string
	method string
	// path is below /services/data/vNN.0 ("/query?q=…"), or absolute
	// ("/services/data/v63.0/query/01g…-2000").
	path string
	body any // JSON-encoded unless []byte
	// contentType of a []byte body; default application/json.
	contentType string
	// write says the request may change records: a failure whose outcome
	// regsync did not hear (a 5xx, a timeout or a reset after sending, an
	// answer cut short) is then connectors.ClassUnknown, not retry.
	write bool
	// date, when set, receives the answer's Date header (the server's
	// clock).
	date *time.Time
}

// do sends a request and decodes a 2xx JSON answer into out (unless nil).
// It returns the raw body of a 2xx answer too. Every failure is a
// classified *connectors.Error (docs/errors.md), but a cancelled ctx, which
// is returned as it is (unclassified, so unknown).
func (c *Client) do(ctx context.Context, cl call, out any) ([]byte, error) {
	if err := c.gate(ctx, cl.op); err != nil {
		return nil, err
	}
	// att hears every HTTP attempt of this call, the HTTP client's
	// retries included: a write one of them may have applied is unknown
	// whatever the last answer says.
	ctx, att := httpfault.WithAttempts(ctx)
	fail := func(e *connectors.Error) error {
		crmhttp.MaybeApplied(e, cl.write, att)
		c.usage.Fail(e.Reason)
		// retryablehttp logs each attempt at debug level; the outcome of
		// the call is logged here.
		lvl := slog.LevelWarn
		if e.Reason == "not_found" {
			lvl = slog.LevelDebug
		}
		c.log.Log(ctx, lvl, "salesforce call failed", "op", cl.op, "status", e.Status, "reason", e.Reason, "class", e.Class, "err", e.Err)
		return e
	}
	var payload []byte
	ct := cl.contentType
	switch b := cl.body.(type) {
	case nil:
	case []byte:
		payload = b
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("salesforce: %s: encode: %w", cl.op, err)
		}
	}
	if ct == "" {
		ct = "application/json"
	}
	for attempt := 0; ; attempt++ {
		sf, gen, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		target := sf.GetInstanceUrl()
		if strings.HasPrefix(cl.path, "/services/") {
			target += cl.path
		} else {
			target += "/services/data/" + c.cfg.APIVersion + cl.path
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(context.WithValue(ctx, opKey{}, cl.op), cl.method, target, rd)
		if err != nil {
			return nil, fmt.Errorf("salesforce: %s: %w", cl.op, err)
		}
		req.Header.Set("Authorization", "Bearer "+sf.GetAccessToken())
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "regsync")
		if payload != nil {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := sf.GetHTTPClient().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			msg := err
			var ue *url.Error
			if errors.As(err, &ue) {
				msg = ue.Err // the URL holds the query: keep it out of errors
			}
			return nil, fail(crmhttp.SendError(cl.op, cl.write, err, att,
				fmt.Sprintf("%s %s: %s", cl.method, pathOnly(cl.path), c.scrub.String(msg.Error()))))
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		_ = resp.Body.Close()
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The answer was cut short: a write may have been applied.
			return nil, fail(crmhttp.AnswerError(cl.op, resp.StatusCode, cl.write, "network",
				fmt.Errorf("read answer: %s", c.scrub.String(rerr.Error()))))
		}
		if cl.date != nil {
			if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				*cl.date = t.UTC()
			}
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if out != nil && len(body) > 0 {
				if err := json.Unmarshal(body, out); err != nil {
					// A success regsync cannot read (cut short, not
					// JSON): for a write, Salesforce said it applied
					// something regsync does not know; for a read,
					// nothing changed. Never permanent.
					return nil, fail(crmhttp.AnswerError(cl.op, resp.StatusCode, cl.write, "bad_response",
						fmt.Errorf("undecodable answer: %v", err)))
				}
			}
			return body, nil
		}
		errs := parseErrors(body)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 &&
			(len(errs) == 0 || errs[0].code() == "INVALID_SESSION_ID") {
			if err := c.relogin(ctx, gen); err != nil {
				return nil, err
			}
			continue
		}
		e := c.classify(cl.op, resp.StatusCode, errs, cl.write)
		if e.Reason == "daily_limit" {
			c.pause()
		}
		return nil, fail(e)
	}
}

// pathOnly drops the query string of a request path.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// TimePrecision is the precision at which Salesforce keeps DateTime
// values: whole seconds. An instant written with milliseconds reads back
// truncated, so whatever compares written values with read ones (the
// worker's fingerprints) must truncate to this first.
func (c *Client) TimePrecision() time.Duration { return time.Second }

// Ping logs in if needed and reads the org's limits: one cheap call.
func (c *Client) Ping(ctx context.Context) error {
	var lim struct {
		Daily struct {
			Max       int64 `json:"Max"`
			Remaining int64 `json:"Remaining"`
		} `json:"DailyApiRequests"`
	}
	if _, err := c.do(ctx, call{op: "ping", method: http.MethodGet, path: "/limits"}, &lim); err != nil {
		return err
	}
	if lim.Daily.Max > 0 {
		c.observeLimit(lim.Daily.Max-lim.Daily.Remaining, lim.Daily.Max)
	}
	return nil
}

var (
	_ connectors.CRM          = (*Client)(nil)
	_ connectors.WebhookAcker = (*Client)(nil)
)
