// Package hubspot is regsync's HubSpot CRM connector: a thin, batch-first
// client over hashicorp/go-retryablehttp that implements connectors.CRM.
//
// Every call goes through one *http.Client with a per-attempt timeout, a
// client-side limiter for HubSpot's rolling 10-second window and another for
// its per-second search limit, and one retry policy that knows HubSpot's
// answers (429 policies, 423, 477, 5xx). Registrations live in the custom
// object partner_registration (regsync setup creates it) or, for portals
// without custom objects, on deals carrying regsync's properties.
package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/internal/httpfault"
)

// Options carries what a Client needs besides its configuration.
type Options struct {
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for cursors, webhook freshness and the daily pause;
	// nil is time.Now. (The rate limiters pace real network calls and run
	// on the real clock.)
	Now func() time.Time
	// HTTPClient, when set, supplies the base transport (its Transport) and,
	// when positive, the per-attempt timeout (its Timeout). For tests.
	HTTPClient *http.Client
	// Transport, when set, is the base transport (it wins over
	// HTTPClient.Transport). For tests.
	Transport http.RoundTripper
}

// Client talks to one HubSpot portal. It is safe for concurrent use.
type Client struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	base *url.URL
	http *retryablehttp.Client
	auth *authenticator

	win       *window // the rolling 10-second window
	searchWin *window // searches per second

	usage crmhttp.Usage
	daily daily

	schema schemaCache
	owners ownerCache
	assoc  assocCache // "from/to" → default association type

	scrub *crmhttp.Scrubber
}

var _ connectors.CRM = (*Client)(nil)

// Name is the connector's name for logs and metric labels.
func (c *Client) Name() string { return "hubspot" }

// New builds a client. It makes no network call.
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hubspot: %w", err)
	}
	if !cfg.Token.IsSet() && !cfg.RefreshToken.IsSet() {
		return nil, errors.New("hubspot: no credentials: set hubspot.token (REGSYNC_HUBSPOT_TOKEN) or an OAuth refresh_token")
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	c := &Client{
		cfg:       cfg,
		log:       opts.Logger,
		now:       opts.Now,
		base:      base,
		win:       newWindow(cfg.PerTenSeconds, 10*time.Second),
		searchWin: newWindow(cfg.SearchPerSecond, time.Second),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.scrub = crmhttp.NewScrubber(cfg.Token.Reveal(), cfg.ClientSecret.Reveal(), cfg.RefreshToken.Reveal())
	c.log = c.scrub.Logger(c.log)
	c.daily.loc = time.UTC
	if cfg.TimeZone != "" {
		loc, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("hubspot: time_zone: %w", err)
		}
		c.daily.loc = loc
	}

	transport := opts.Transport
	timeout := cfg.Timeout
	if opts.HTTPClient != nil {
		if transport == nil {
			transport = opts.HTTPClient.Transport
		}
		if opts.HTTPClient.Timeout > 0 {
			timeout = opts.HTTPClient.Timeout
		}
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		transport = t
	}
	c.auth = newAuthenticator(c, cfg)
	c.http = crmhttp.NewClient(crmhttp.Options{
		Transport: &authTransport{a: c.auth, next: &limitTransport{c: c, next: transport}},
		Timeout:   timeout,
		Retries:   cfg.MaxRetries,
		// HubSpot's API does not redirect: never carry the token elsewhere.
		NoRedirects: true,
		CheckRetry:  checkRetry,
		Backoff: func(_, max time.Duration, attempt int, resp *http.Response) time.Duration {
			return jitter(backoff(attempt, resp, max), resp)
		},
		Logger: c.log,
		Prefix: "hubspot http",
	})
	return c, nil
}

// call is one API request.
type call struct {
	op     string // operation, for Usage and errors: "batch read", "search", …
	method string
	path   string // below the base URL, e.g. /crm/v3/objects/deals/batch/read
	query  url.Values
	body   any // JSON-encoded when not nil
	out    any // decoded from a 2xx answer's JSON when not nil
	search bool
	// form, when set, is sent form-encoded instead of body (OAuth).
	form url.Values
	// noAuth sends no bearer token (the OAuth token endpoint).
	noAuth bool
	// bypassPause sends the call even during the daily pause (the one
	// call that asks HubSpot when the allowance resets).
	bypassPause bool
}

type ctxKey int

const (
	keyOp ctxKey = iota
)

// reqInfo travels in a request's context to the transports.
type reqInfo struct {
	op     string
	search bool
	noAuth bool
}

func infoOf(ctx context.Context) reqInfo {
	ri, _ := ctx.Value(keyOp).(reqInfo)
	return ri
}

// maxResponse bounds the body read from any answer.
const maxResponse = 64 << 20

// do sends one call through the retrying client and decodes its answer. It
// returns the final HTTP status; a non-2xx answer is a *connectors.Error.
func (c *Client) do(ctx context.Context, k call) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if _, ok := c.daily.pausedUntil(c.now()); ok && !k.noAuth && !k.bypassPause {
		until := c.dailyPaused(ctx)
		err := connectors.NewError(k.op, http.StatusTooManyRequests, connectors.ClassPostpone, "daily_limit",
			fmt.Errorf("HubSpot's daily API limit is used up; calls resume after %s", until.Format(time.RFC3339)))
		err.After = until.Sub(c.now())
		c.usage.Fail(err.Reason)
		return 0, err
	}
	// att hears every attempt of this call (retries and the replay after
	// an OAuth refresh included): a write one of them may have applied is
	// unknown whatever the last answer says.
	ctx, att := httpfault.WithAttempts(ctx)
	refreshed := false
	for {
		status, body, hdr, err := c.send(ctx, k, att)
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized && c.auth.oauth() && !refreshed && !k.noAuth {
			refreshed = true
			if rerr := c.auth.refreshAfter401(ctx); rerr != nil {
				return status, rerr
			}
			continue
		}
		if status >= 200 && status < 300 {
			if e := crmhttp.Decode(k.op, status, k.writes(), body, k.out); e != nil {
				c.usage.Fail(e.Reason)
				return status, e
			}
			return status, nil
		}
		return status, c.failure(ctx, k, status, hdr, body, refreshed, att)
	}
}

// writes reports whether the call may change records: every method but
// GET, except HubSpot's reads that are POSTed (batch read, search) and the
// OAuth token endpoint.
func (k call) writes() bool {
	if k.method == http.MethodGet || k.noAuth || k.search {
		return false
	}
	return !strings.HasSuffix(k.path, "/batch/read") && !strings.HasSuffix(k.path, "/search")
}

// send makes the request and reads the whole answer.
func (c *Client) send(ctx context.Context, k call, att *httpfault.Attempts) (int, []byte, http.Header, error) {
	u := *c.base
	u.Path = c.base.Path + k.path
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	var body []byte
	ctype := ""
	switch {
	case k.form != nil:
		body = []byte(k.form.Encode())
		ctype = "application/x-www-form-urlencoded"
	case k.body != nil:
		b, err := json.Marshal(k.body)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("hubspot: %s: encode request: %w", k.op, err)
		}
		body, ctype = b, "application/json"
	}
	ctx = context.WithValue(ctx, keyOp, reqInfo{op: k.op, search: k.search, noAuth: k.noAuth})
	var rawBody any
	if body != nil {
		rawBody = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, k.method, u.String(), rawBody)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("hubspot: %s: %w", k.op, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "regsync-hubspot/1")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("hubspot: %s: %w", k.op, ctx.Err())
		}
		e := crmhttp.SendError(k.op, k.writes(), err, att, c.scrub.String(err.Error()))
		var ae *authError
		if errors.As(err, &ae) {
			// No token: the request itself was never sent.
			e.Reason, e.Status, e.After = ae.reason, ae.status, 0
			e.SetClass(ae.class)
		}
		c.usage.Fail(e.Reason)
		c.log.Warn("hubspot call failed", "op", k.op, "reason", e.Reason, "err", e.Err)
		return 0, nil, nil, e
	}
	data, err := crmhttp.ReadAnswer(ctx, k.op, k.writes(), resp, maxResponse, c.scrub)
	var e *connectors.Error
	switch {
	case errors.As(err, &e):
		c.usage.Fail(e.Reason)
		return 0, nil, nil, e
	case err != nil:
		return 0, nil, nil, fmt.Errorf("hubspot: %s: %w", k.op, err)
	}
	return resp.StatusCode, data, resp.Header, nil
}

// failure classifies a final non-2xx answer, counts and logs it. A write
// that an earlier attempt of the call may have applied is unknown, whatever
// this answer says.
func (c *Client) failure(ctx context.Context, k call, status int, hdr http.Header, body []byte, refreshed bool, att *httpfault.Attempts) error {
	resp := &http.Response{StatusCode: status, Header: hdr}
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	msg := c.scrub.String(errorMessage(eb))
	e := classify(k.op, resp, msg, k.writes())
	switch {
	case e.Reason == "daily_limit":
		c.daily.pause(c.now())
		until := c.daily.until0()
		if !k.bypassPause {
			until = c.dailyPaused(ctx)
		}
		e.After = until.Sub(c.now())
	case status == http.StatusUnauthorized && refreshed:
		e.Err = fmt.Errorf("HubSpot refused a freshly refreshed OAuth access token (check the app's installation and scopes): %w", e.Err)
	case status == http.StatusUnauthorized && c.auth.oauth():
		e.Err = fmt.Errorf("HubSpot refused the OAuth access token: %w", e.Err)
	case status == http.StatusUnauthorized:
		e.Err = fmt.Errorf("HubSpot refused the private-app token (check REGSYNC_HUBSPOT_TOKEN): %w", e.Err)
	case status == http.StatusForbidden:
		e.Err = fmt.Errorf("the token lacks a scope this call needs (see docs/hubspot.md for the scopes regsync needs): %w", e.Err)
	}
	crmhttp.MaybeApplied(e, k.writes(), att)
	c.usage.Fail(e.Reason)
	lvl := slog.LevelWarn
	if status == http.StatusNotFound {
		lvl = slog.LevelDebug
	}
	c.log.Log(context.Background(), lvl, "hubspot call failed", "op", k.op, "status", status,
		"reason", e.Reason, "class", e.Class, "correlation_id", eb.CorrelationID, "err", e.Err)
	return e
}

// get, post, patch are shorthands for do.
func (c *Client) get(ctx context.Context, op, path string, q url.Values, out any) error {
	_, err := c.do(ctx, call{op: op, method: http.MethodGet, path: path, query: q, out: out})
	return err
}

func (c *Client) post(ctx context.Context, op, path string, body, out any) (int, error) {
	return c.do(ctx, call{op: op, method: http.MethodPost, path: path, body: body, out: out})
}

// Ping checks that HubSpot answers and accepts the credentials with one
// cheap call: resolving the registration object's type id when it is not
// known yet (which is needed anyway), or reading one record.
func (c *Client) Ping(ctx context.Context) error {
	if c.cfg.Object == ObjectRegistration && !c.schema.known() {
		_, err := c.regType(ctx)
		return err
	}
	t, err := c.regType(ctx)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1"}, "properties": {"hs_object_id"}, "archived": {"false"}}
	if err := c.get(ctx, "ping", "/crm/v3/objects/"+t, q, nil); err != nil {
		return fmt.Errorf("hubspot: ping: %w", err)
	}
	return nil
}

// chunks splits n items into [lo, hi) ranges of at most size.
func chunks(n, size int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += size {
		out = append(out, [2]int{lo, min(lo+size, n)})
	}
	return out
}

// SearchSettle is hubspot.poll_settle: how long after a write HubSpot's
// search may still show the record as it was (connectors.SearchSettle).
func (c *Client) SearchSettle() time.Duration { return c.cfg.PollSettle }
