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
	"strings"
	"sync"
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
		body, err := crmhttp.ReadAnswer(ctx, cl.op, cl.write, resp, 256<<20, c.scrub)
		if e := (*connectors.Error)(nil); errors.As(err, &e) {
			return nil, fail(e)
		} else if err != nil {
			return nil, err
		}
		if cl.date != nil {
			if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				*cl.date = t.UTC()
			}
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if e := crmhttp.Decode(cl.op, resp.StatusCode, cl.write, body, out); e != nil {
				return nil, fail(e)
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
