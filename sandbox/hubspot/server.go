// Package hubspot is an in-memory HubSpot CRM that speaks HubSpot's real
// wire format over real HTTP: CRM objects v3 (single, list, batch, search),
// custom object schemas, properties, associations v4, owners, form
// submissions, the OAuth refresh-token flow, rate limits with HubSpot's
// headers and 429 bodies, signed v3 webhooks with retries, and fault
// injection. It is the sandbox CRM the production binary serves (`regsync
// serve` with crm.kind sandbox, `regsync sandbox`), and the fake that tests
// and benchmarks run against.
//
// New builds a Server whose Handler can be served on any listener; Listen
// serves it on an address, and Close stops everything it started. Tests
// start one with connectors/hubspot/hubspottest, which also holds what only
// tests need. Importers that also use the HubSpot client name this package
// hubspotsandbox.
package hubspot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/sandbox/internal/fake"
)

// Options configures a fake portal. The zero value is a usable portal that
// accepts the token "sandbox-token".
type Options struct {
	// Tokens are the bearer tokens accepted (private-app tokens); default
	// {"sandbox-token"} unless OAuth is set. Any other request is answered
	// 401 as HubSpot does.
	Tokens []string
	// OAuth, when set, makes POST /oauth/v1/token issue short-lived access
	// tokens for this app's refresh token; the server accepts them until
	// they expire (on the Now clock).
	OAuth *OAuthApp
	// PortalID is the account (hub) id; default 62515.
	PortalID int
	// AppID is the app the tokens belong to: webhook events of changes made
	// through the API carry it as sourceId, and subscriptions without an
	// AppID use it; default 1160452.
	AppID int
	// Now is the clock for createdAt/updatedAt, hs_lastmodifieddate,
	// token expiry, form submissions and webhook timestamps; default
	// time.Now. Clock, when set, takes precedence and lets tests and the
	// helpers move time (a frozen clock gives thousands of records one
	// hs_lastmodifieddate).
	Now   func() time.Time
	Clock *Clock
	// LimitNow is the clock of the rate-limit windows; default time.Now.
	// It is separate from Now because clients pace real requests on the
	// real clock, whatever time the data says it is.
	LimitNow func() time.Time
	// PerTenSeconds is the 10-second rolling limit per portal; default 100
	// (Free/Starter private apps); <0 = unlimited.
	PerTenSeconds int
	// SearchPerSecond is the search limit per portal; default 5 (HubSpot
	// documents 4 and 5); <0 = unlimited. Searches do not count against
	// the 10-second window.
	SearchPerSecond int
	// Daily is the daily limit; default 250000; <0 = unlimited. It resets
	// at midnight in TimeZone.
	Daily int
	// TimeZone is the portal's time zone (account details, daily reset);
	// default UTC.
	TimeZone *time.Location
	// Bare is a brand-new portal without any custom object. Otherwise the
	// portal has one pre-existing custom object, "partner"; either way there
	// is no partner_registration: the client's setup creates it.
	Bare bool
	// Seed is a directory of JSON seed files (owners.json, companies.json,
	// contacts.json, deals.json, partners.json; each optional); nil = empty
	// portal. DefaultSeed is a realistic one.
	Seed fs.FS
	// Logger receives the server's logs; default discards them.
	Logger *slog.Logger
	// WebhookRetryBase is the backoff base for failed webhook deliveries
	// (retry n waits base·2ⁿ⁻¹, at most base·2⁸); default 1s.
	WebhookRetryBase time.Duration
	// WebhookTimeout is how long a delivery may take before it counts as
	// failed; default 5s as HubSpot.
	WebhookTimeout time.Duration
	// WebhookConcurrency bounds concurrent deliveries per subscription;
	// default 10 as HubSpot.
	WebhookConcurrency int
	// WebhookMaxAttempts is how many times a batch is tried; default 10.
	WebhookMaxAttempts int
	// SearchFilterLimits bounds search filters; zero fields take HubSpot's
	// documented 5 groups, 6 filters per group, 18 filters in all.
	SearchFilterLimits FilterLimits
	// SearchMaxResults is how deep search can page; default 10000.
	SearchMaxResults int
	// SearchLag is how far HubSpot's search index lags behind writes, on
	// the LimitNow clock; default 0 (search sees every write at once).
	// Search answers from the version of each record that is at least
	// SearchLag old: a new record is not found until SearchLag after its
	// creation; an updated one is matched, sorted, counted and returned
	// with the values (hs_lastmodifieddate and updatedAt included) it had
	// before the update until SearchLag after it; an archived one is still
	// found, unchanged, until SearchLag after the archive. Reads by id,
	// batch reads, lists, associations and webhooks see every write at
	// once, as in HubSpot. SetSearchLag changes it while serving.
	SearchLag time.Duration
	// Injector, when set, injects random faults (crmfault: 429s in
	// HubSpot's shape, 5xx and connection resets before or after a
	// request is applied, truncated bodies, latency) into API requests;
	// the OAuth endpoints only with its Auth option, GET /sandbox/calls
	// never. SetInjector changes it while serving. Requests answered
	// before they reach the portal (429, 5xx_before, reset_before) are
	// not in Calls; the injector counts every fault.
	Injector *crmfault.Injector
}

// OAuthApp is an OAuth app installed in the portal.
type OAuthApp struct {
	ClientID     string
	ClientSecret string
	RefreshToken string
	// AccessTokenLifetime is the expires_in of issued access tokens;
	// default 30 minutes as HubSpot.
	AccessTokenLifetime time.Duration
}

// FilterLimits bounds the filters of a search request.
type FilterLimits struct {
	Groups, PerGroup, Total int
}

// Faults are failures the server injects until changed. The random faults
// of every kind, seeded, are Options.Injector's (crmfault).
type Faults struct {
	// Latency delays every answer.
	Latency time.Duration
	// ServerErrorRate is the share of requests answered 502/503/504,
	// chosen by a seeded random source (deterministic for a given order of
	// requests).
	ServerErrorRate float64
	// Force429 answers the next N authenticated requests 429
	// (TEN_SECONDLY_ROLLING, or the secondly limit for searches).
	Force429 int
	// Force423 answers the next N authenticated requests 423 Locked.
	Force423 int
	// Force477 answers the next N authenticated requests 477 (migration
	// in progress) with Retry-After: 1.
	Force477 int
	// WebhooksOff holds webhook deliveries (events still queue up).
	WebhooksOff bool
}

// Server is a fake HubSpot portal.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	limNow  func() time.Time
	mux     *http.ServeMux
	handler http.Handler

	// mu guards the CRM data below.
	mu           sync.RWMutex
	types        map[string]*objectType // by type id
	typeOrder    []string
	nextID       int64
	nextCustom   int
	nextAssocDef int
	assocTypes   map[[2]string][]*assocType // (from type id, to type id) → types, default first
	links        map[linkKey]map[linkKey]map[int]bool
	owners       []*owner
	forms        map[string]*form
	accessTokens map[string]time.Time // OAuth access token → expiry

	calls fake.Calls

	// cmu guards the faults and limits.
	cmu    sync.Mutex
	faults Faults
	rnd    *mrand.Rand
	limits limiter

	// searchLag is Options.SearchLag as a time.Duration; SetSearchLag
	// changes it without a lock.
	searchLag atomic.Int64

	// FaultSwitch holds the crmfault injector in force (Options.Injector,
	// SetInjector).
	fake.FaultSwitch

	hooks *webhooks

	ctx    context.Context
	cancel context.CancelFunc

	listener  *fake.Listener // Listen's, or nil
	url       string
	closeOnce sync.Once
}

// New builds a fake portal without listening; serve Handler yourself or call Listen.
func New(opts Options) (*Server, error) {
	if len(opts.Tokens) == 0 && opts.OAuth == nil {
		opts.Tokens = []string{"sandbox-token"}
	}
	if opts.PortalID == 0 {
		opts.PortalID = 62515
	}
	if opts.PortalID < 0 {
		return nil, fmt.Errorf("hubspot sandbox: negative portal id %d", opts.PortalID)
	}
	if opts.AppID == 0 {
		opts.AppID = 1160452
	}
	if opts.Clock != nil {
		opts.Now = opts.Clock.Now
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LimitNow == nil {
		opts.LimitNow = time.Now
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	if opts.OAuth != nil {
		o := *opts.OAuth
		if o.ClientID == "" || o.ClientSecret == "" || o.RefreshToken == "" {
			return nil, errors.New("hubspot sandbox: OAuth needs a client id, a client secret and a refresh token")
		}
		if o.AccessTokenLifetime <= 0 {
			o.AccessTokenLifetime = 30 * time.Minute
		}
		opts.OAuth = &o
	}
	if opts.PerTenSeconds == 0 {
		opts.PerTenSeconds = 100
	}
	if opts.SearchPerSecond == 0 {
		opts.SearchPerSecond = 5
	}
	if opts.Daily == 0 {
		opts.Daily = 250000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fake.Positive(&opts.WebhookRetryBase, time.Second)
	fake.Positive(&opts.WebhookTimeout, 5*time.Second)
	fake.Positive(&opts.WebhookConcurrency, 10)
	fake.Positive(&opts.WebhookMaxAttempts, 10)
	fake.Positive(&opts.SearchMaxResults, 10000)
	fl := &opts.SearchFilterLimits
	fake.Positive(&fl.Groups, 5)
	fake.Positive(&fl.PerGroup, 6)
	fake.Positive(&fl.Total, 18)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Logger, now: opts.Now, limNow: opts.LimitNow,
		types:        map[string]*objectType{},
		nextID:       1000, // ids ascend from here, across types
		nextCustom:   3465400,
		nextAssocDef: 100,
		assocTypes:   map[[2]string][]*assocType{},
		links:        map[linkKey]map[linkKey]map[int]bool{},
		forms:        map[string]*form{},
		accessTokens: map[string]time.Time{},
		rnd:          mrand.New(mrand.NewPCG(62515, 1)),
		ctx:          ctx, cancel: cancel,
	}
	for _, t := range builtinTypes() {
		s.types[t.id] = t
		s.typeOrder = append(s.typeOrder, t.id)
	}
	s.SetSearchLag(opts.SearchLag)
	s.builtinAssociations()
	s.hooks = newWebhooks(s)
	if !opts.Bare {
		if _, err := s.createSchema(partnerSchema()); err != nil {
			cancel()
			return nil, fmt.Errorf("hubspot sandbox: built-in partner schema: %s", err.body.Message)
		}
	}
	if opts.Seed != nil {
		if err := s.loadSeed(opts.Seed); err != nil {
			cancel()
			return nil, err
		}
	}
	s.routes()
	s.SetInjector(opts.Injector)
	s.handler = s.faultHandler(http.HandlerFunc(s.serve))
	return s, nil
}

// Listen serves the portal on addr ("127.0.0.1:0": a fresh loopback port)
// until Close; URL then reports where. The sandbox command and the daemon
// serve Handler on their own listener instead.
func (s *Server) Listen(addr string) error {
	l, err := fake.Listen(addr, s.handler, s.ctx, s.log, "hubspot sandbox")
	if err != nil {
		return fmt.Errorf("hubspot sandbox: listen on %s: %w", addr, err)
	}
	s.listener, s.url = l, l.URL()
	return nil
}

// Handler serves the fake API.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the base URL ("http://127.0.0.1:port") after Listen; "" before.
func (s *Server) URL() string { return s.url }

// PortalID is the portal's id.
func (s *Server) PortalID() int { return s.opts.PortalID }

// Now is the server's data clock.
func (s *Server) Now() time.Time { return s.now() }

// Clock is the settable clock of Options.Clock, or nil.
func (s *Server) Clock() *Clock { return s.opts.Clock }

// Close stops the listener (if Listen made one) and the webhook deliveries,
// and waits for them. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.listener.Close()
		s.hooks.stop()
	})
}

// Calls returns the number of requests per endpoint, keyed by the route
// pattern ("POST /crm/v3/objects/{objectType}/batch/read"). Every request
// counts, including those answered 401, 429 or 5xx; GET /sandbox/calls and
// the Go helpers do not.
func (s *Server) Calls() map[string]int { return s.calls.Counts().ByRoute }

// TotalCalls is the number of API requests so far.
func (s *Server) TotalCalls() int { return s.calls.Counts().Total }

// Count429 is the number of requests answered 429 so far.
func (s *Server) Count429() int { return s.calls.Counts().Limited }

// ResetCalls zeroes the call counters (not the rate-limit windows).
func (s *Server) ResetCalls() { s.calls.Reset() }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.cmu.Lock()
	s.faults = f
	s.cmu.Unlock()
	s.hooks.kick()
}

// Faults returns the faults in force (forced counts go down as they fire).
func (s *Server) Faults() Faults {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.faults
}

func (s *Server) webhooksOff() bool {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.faults.WebhooksOff
}

// --- request pipeline ------------------------------------------------------------

const maxBody = 16 << 20

// unlimited routes are answered without authentication or rate limits.
var unlimited = map[string]bool{
	"POST /oauth/v1/token":                true,
	"GET /oauth/v1/access-tokens/{token}": true,
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sandbox/calls" && r.Method == http.MethodGet {
		s.serveCalls(w)
		return
	}
	_, pattern := s.mux.Handler(r)
	key := pattern
	if key == "" {
		key = r.Method + " (unmatched)"
	}
	search := strings.HasSuffix(pattern, "/search")

	s.calls.Count(key)
	f := s.Faults()
	if f.Latency > 0 && !fake.Delay(r.Context(), s.ctx.Done(), f.Latency) {
		return
	}
	if pattern != "" && unlimited[pattern] {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		s.mux.ServeHTTP(w, r)
		return
	}
	if ok, expiredAgo := s.authorized(r); !ok {
		if expiredAgo > 0 {
			writeError(w, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION",
				fmt.Sprintf("The OAuth token used to make this call expired %d minute(s) ago.", int(expiredAgo/time.Minute)))
			return
		}
		msg := "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
		if r.Header.Get("Authorization") != "" {
			msg = "The access token provided is not valid. Check that the token is active and was issued for this account."
		}
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION", msg)
		return
	}

	s.cmu.Lock()
	forced := 0
	switch {
	case s.faults.Force429 > 0:
		s.faults.Force429--
		forced = http.StatusTooManyRequests
	case s.faults.Force423 > 0:
		s.faults.Force423--
		forced = http.StatusLocked
	case s.faults.Force477 > 0:
		s.faults.Force477--
		forced = 477
	}
	var lim limitResult
	if forced == http.StatusTooManyRequests {
		lim = s.limits.peek(s.limNow(), s.opts)
		lim.tenRemaining = 0
		lim.policy = "TEN_SECONDLY_ROLLING"
		if search {
			lim.policy = "SECONDLY"
		}
	} else {
		lim = s.limits.take(s.limNow(), search, s.opts)
	}
	if lim.policy != "" {
		s.calls.CountLimited()
	}
	fail := 0
	if forced == 0 && lim.policy == "" && f.ServerErrorRate > 0 && s.rnd.Float64() < f.ServerErrorRate {
		fail = []int{502, 503, 504}[s.rnd.IntN(3)]
	}
	s.cmu.Unlock()

	if !search {
		lim.setHeaders(w.Header(), s.opts)
	}
	switch {
	case lim.policy != "":
		writeRateLimit(w, lim.policy)
		return
	case forced == http.StatusLocked:
		writeError(w, http.StatusLocked, "LOCKED", "The resource is locked by another request, please retry in a couple of seconds.")
		return
	case forced == 477:
		w.Header().Set("Retry-After", "1")
		writeError(w, 477, "MIGRATION_IN_PROGRESS", "The account is being migrated between data centers; retry after the time in the Retry-After header.")
		return
	case fail != 0:
		writeServerError(w, fail)
		return
	case pattern == "":
		if allow := s.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", fmt.Sprintf("HTTP 405 Method Not Allowed: %s is not supported on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("No route for %s %s", r.Method, r.URL.Path))
		return
	}
	// The mux matches again: ServeMux.Handler does not set path values.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.mux.ServeHTTP(rec, r)
		s.log.Debug("hubspot sandbox: request", "route", pattern, "path", r.URL.Path, "status", rec.status)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusRecorder remembers the status of an answer, for the debug log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// allowedMethods lists the methods served on the request's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		c := r.Clone(r.Context())
		c.Method = m
		if _, p := s.mux.Handler(c); p != "" {
			out = append(out, m)
		}
	}
	return out
}

// authorized checks the bearer token; for an expired OAuth access token it
// also says how long ago it expired.
func (s *Server) authorized(r *http.Request) (ok bool, expiredAgo time.Duration) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		return false, 0
	}
	for _, t := range s.opts.Tokens {
		if t == tok {
			return true, 0
		}
	}
	s.mu.RLock()
	exp, known := s.accessTokens[tok]
	s.mu.RUnlock()
	if !known {
		return false, 0
	}
	if now := s.now(); now.Before(exp) {
		return true, 0
	} else {
		return false, max(now.Sub(exp), time.Nanosecond)
	}
}

func (s *Server) serveCalls(w http.ResponseWriter) {
	c := s.calls.Counts()
	body := struct {
		Calls  map[string]int `json:"calls"`
		Total  int            `json:"total"`
		N429   int            `json:"count429"`
		Faults map[string]int `json:"faults,omitempty"`
	}{Calls: c.ByRoute, Total: c.Total, N429: c.Limited}
	if in := s.Injector(); in != nil {
		body.Faults = in.Counts()
	}
	writeJSON(w, http.StatusOK, body)
}

// readJSON decodes the request body into v, answering 415 or 400 as HubSpot
// does when it cannot. It reports whether the handler may go on.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "VALIDATION_ERROR",
			fmt.Sprintf("HTTP 415 Unsupported Media Type: Content-Type %q is not supported, use application/json", ct))
		return false
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "VALIDATION_ERROR", "Request body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Could not read the request body")
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: the request body is empty")
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+jsonErrorText(data, err))
		return false
	}
	return true
}

func jsonErrorText(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset)
		return fmt.Sprintf("on line %d, column %d: %s", line, col, se.Error())
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col := position(data, te.Offset)
		return fmt.Sprintf("on line %d, column %d: cannot use a JSON %s for %s", line, col, te.Value, te.Field)
	}
	return err.Error()
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(data) && int64(i) < off; i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
