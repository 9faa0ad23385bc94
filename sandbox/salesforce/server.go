// Package salesforce is an in-memory Salesforce org that speaks the
// REST API's real wire format over real HTTP, so that the unmodified
// go-salesforce library and regsync's connector can talk to it: the OAuth
// token endpoint (client credentials, username-password, JWT bearer, and
// plain access tokens), query and queryAll with a SOQL subset parser and
// nextRecordsUrl paging, sObject CRUD and upsert by external id, sObject
// Collections, composite, describe, Bulk API 2.0 ingest jobs, Salesforce's
// error JSON, Sforce-Limit-Info and a daily allocation that runs out, fault
// injection, a call counter, seed data, outbound messages (SOAP
// notifications, retried until acknowledged), and helpers with which tests
// act as an AE in the UI. It is the sandbox org the production binary
// serves (`regsync sandbox --crm salesforce`), and the fake that tests and
// benchmarks run against.
//
// New builds a Server whose Handler can be served on any listener (then
// SetURL says where); Listen serves it on an address, and Close stops
// everything it started. Tests start one with
// connectors/salesforce/salesforcetest. Importers that also use the
// Salesforce connector name this package salesforcesandbox.
package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/sandbox/internal/fake"
)

// Default credentials and organization id of the sandbox org (a config
// for the sandbox sets salesforce.organization_id to DefaultOrganizationID
// to accept its outbound messages).
const (
	DefaultClientID       = "sandbox"
	DefaultClientSecret   = "sandbox-secret"
	DefaultOrganizationID = "00D5g0000000144EAA"
	// DefaultWebhookSecret is the endpoint secret `regsync sandbox --crm
	// salesforce` puts in the URL of its outbound messages (?secret=…),
	// for salesforce.webhook_secret.
	DefaultWebhookSecret = "sandbox-outbound-secret"
)

// Options configures a fake org. The zero value is a seeded org with the
// Partner_Registration__c object in place that grants the client-credentials
// flow to sandbox / sandbox-secret.
type Options struct {
	// Addr is where salesforcetest.Start listens; default 127.0.0.1:0.
	Addr string
	// ClientID and ClientSecret are the connected app's consumer key and
	// secret; defaults sandbox / sandbox-secret.
	ClientID, ClientSecret string
	// Username, Password and SecurityToken enable the username-password
	// flow (the password is sent with the token appended); JWTKey, with
	// Username, the JWT bearer flow.
	Username, Password, SecurityToken string
	JWTKey                            *rsa.PublicKey
	// AccessTokens are accepted as they are (the access-token flow).
	AccessTokens []string
	// SessionTTL is how long a session lives without use, on the fake's
	// clock; default 2h. Expired sessions get 401 INVALID_SESSION_ID.
	SessionTTL time.Duration
	// Now is the clock for CreatedDate, SystemModstamp, date literals and
	// the daily allocation; default time.Now. SetNow and Advance move it.
	Now func() time.Time
	// DailyLimit is the rolling 24-hour API allocation; default 100000;
	// <0 = unlimited.
	DailyLimit int
	// PageSize is the number of records a query page holds; default 2000.
	PageSize int
	// Empty leaves out the seed Accounts and Opportunities (users and the
	// organisation are always there).
	Empty bool
	// Seed, when set, replaces the generated Accounts and Opportunities
	// with the records of sObject tree files (the Salesforce CLI's
	// `sf data export tree` format; see seedtree.go).
	Seed fs.FS
	// Bare leaves out the Partner_Registration__c object and the
	// Opportunity field Partner_Id__c, as in an org where the package is
	// not yet deployed.
	Bare bool
	// OrganizationID is the org id; default a fixed 00D… id.
	OrganizationID string
	// Logger receives the server's logs; default discards them.
	Logger *slog.Logger
	// OutboundRetryBase and OutboundRetryMax bound the exponential backoff
	// between outbound message attempts; defaults 1s and 2h (Salesforce
	// starts near 15s; the fake is faster by default).
	OutboundRetryBase, OutboundRetryMax time.Duration
	// OutboundTTL is how long an unacknowledged notification is retried;
	// default 24h.
	OutboundTTL time.Duration
	// Injector, when set, injects random faults (crmfault: 403
	// REQUEST_LIMIT_EXCEEDED, 5xx and connection resets before or after
	// a request is applied, truncated bodies, latency) into API requests;
	// the token endpoint only with its Auth option. SetInjector changes
	// it while serving. Requests answered before they reach the org (the
	// limit, 5xx_before, reset_before) are not in Calls; the injector
	// counts every fault.
	Injector *crmfault.Injector
}

// Faults are failures the server injects until changed. The random faults
// of every kind, seeded, are Options.Injector's (crmfault).
type Faults struct {
	// Latency delays every answer.
	Latency time.Duration
	// ServerErrorRate is the share of API requests answered 500/503,
	// chosen by a seeded random source.
	ServerErrorRate float64
	// Fail5xx answers the next N API requests 503 SERVER_UNAVAILABLE.
	Fail5xx int
	// HTMLErrors makes injected 5xx answers an HTML maintenance page, as a
	// load balancer sends, instead of Salesforce's error JSON.
	HTMLErrors bool
	// ConcurrentLimit answers the next N API requests 403
	// REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded".
	ConcurrentLimit int
	// OutboundOff holds outbound message deliveries (they queue up).
	OutboundOff bool
}

// Server is a fake Salesforce org.
type Server struct {
	opts Options
	log  *slog.Logger

	// clock
	tmu     sync.Mutex
	nowFunc func() time.Time
	offset  time.Duration
	fixed   time.Time

	// mu guards the org's data below.
	mu       sync.Mutex
	objects  map[string]*object // by lower-case name
	byPrefix map[string]*object
	seq      int64
	cursors  map[string]*cursor
	jobs     map[string]*ingestJob
	orgID    string
	apiUser  string // the integration user
	aeUser   string // the AE the UI helpers act as

	// amu guards sessions.
	amu      sync.Mutex
	sessions map[string]*session

	// FaultSwitch holds the crmfault injector in force (Options.Injector,
	// SetInjector).
	fake.FaultSwitch

	calls fake.Calls

	// cmu guards faults and limits.
	cmu    sync.Mutex
	faults Faults
	rnd    *mrand.Rand
	usage  usageWindow

	out *outbound

	ctx    context.Context
	cancel context.CancelFunc

	handler   http.Handler
	listener  *fake.Listener // Listen's, or nil
	url       string
	closeOnce sync.Once
}

type session struct {
	lastUsed time.Time
	static   bool
}

// New builds a fake org without listening; serve Handler yourself (and
// call SetURL) or call Listen.
func New(opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	fake.Positive(&opts.SessionTTL, 2*time.Hour)
	if opts.DailyLimit == 0 {
		opts.DailyLimit = 100000
	}
	fake.Positive(&opts.PageSize, 2000)
	fake.Positive(&opts.OutboundRetryBase, time.Second)
	fake.Positive(&opts.OutboundRetryMax, 2*time.Hour)
	fake.Positive(&opts.OutboundTTL, 24*time.Hour)
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		nowFunc:  opts.Now,
		objects:  map[string]*object{},
		byPrefix: map[string]*object{},
		cursors:  map[string]*cursor{},
		jobs:     map[string]*ingestJob{},
		sessions: map[string]*session{},
		rnd:      mrand.New(mrand.NewPCG(1, 2)),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.nowFunc == nil {
		s.nowFunc = time.Now
	}
	for _, t := range opts.AccessTokens {
		s.sessions[t] = &session{static: true}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.schema()
	if err := s.seed(); err != nil {
		return nil, err
	}
	s.out = newOutbound(s)
	s.SetInjector(opts.Injector)
	s.handler = s.faultHandler(http.HandlerFunc(s.serve))
	return s, nil
}

// Listen serves the org on addr ("127.0.0.1:0": a fresh loopback port)
// until Close, reports that URL as the instance URL, and starts the
// outbound sender. The sandbox command serves Handler on its own listener
// and calls SetURL instead.
func (s *Server) Listen(addr string) error {
	l, err := fake.Listen(addr, s.handler, nil, s.log, "salesforce sandbox")
	if err != nil {
		return fmt.Errorf("salesforce sandbox: listen %s: %w", addr, err)
	}
	s.listener = l
	s.SetURL(l.URL())
	return nil
}

// Handler serves the org's HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the base URL (login and instance), e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// SetURL sets the URL the server reports as instance_url when it is served
// by the caller rather than by Start, and starts the outbound sender.
func (s *Server) SetURL(u string) {
	s.url = strings.TrimRight(u, "/")
	s.out.start()
}

// OrganizationID is the org's 18-character id.
func (s *Server) OrganizationID() string { return s.orgID }

// IntegrationUserID is the id of the user API sessions run as.
func (s *Server) IntegrationUserID() string { return s.apiUser }

// Close stops the server and the outbound sender.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.listener.Close()
		s.out.wait()
	})
}

// now is the fake clock.
func (s *Server) now() time.Time {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if !s.fixed.IsZero() {
		return s.fixed.Add(s.offset)
	}
	return s.nowFunc().Add(s.offset)
}

// Now reports the fake clock.
func (s *Server) Now() time.Time { return s.now() }

// SetNow stops the clock at t (Advance moves it on).
func (s *Server) SetNow(t time.Time) {
	s.tmu.Lock()
	s.fixed, s.offset = t, 0
	s.tmu.Unlock()
}

// Advance moves the clock forward by d.
func (s *Server) Advance(d time.Duration) {
	s.tmu.Lock()
	s.offset += d
	s.tmu.Unlock()
}

// stamp is the clock at Salesforce's second precision.
func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }

// Calls reports the API requests received, by route ("GET query",
// "PATCH composite/sobjects", …); token requests count as "POST token".
func (s *Server) Calls() map[string]int { return s.calls.Counts().ByRoute }

// TotalCalls is the number of API requests received (token requests
// excluded), those refused for limits included.
func (s *Server) TotalCalls() int { return s.calls.Counts().Total }

// tokenRoute is the route token requests are counted under.
const tokenRoute = "POST token"

// AuthCalls is the number of token requests received.
func (s *Server) AuthCalls() int { return s.calls.Counts().ByRoute[tokenRoute] }

// LimitRefusals is the number of requests refused with
// REQUEST_LIMIT_EXCEEDED.
func (s *Server) LimitRefusals() int { return s.calls.Counts().Limited }

// ResetCalls zeroes the call counters (not the daily allocation).
func (s *Server) ResetCalls() { s.calls.Reset() }

// Faults reports the faults in force (counters such as Fail5xx as they
// stand), so that a test can change one and keep the others.
func (s *Server) Faults() Faults {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.faults
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.cmu.Lock()
	s.faults = f
	s.cmu.Unlock()
	s.out.kick()
}

// ExpireSessions invalidates every session issued so far (access tokens
// given in Options included): the next request of each client gets 401
// INVALID_SESSION_ID and must log in again.
func (s *Server) ExpireSessions() {
	s.amu.Lock()
	s.sessions = map[string]*session{}
	s.amu.Unlock()
}

// APIUsage reports the calls counted in the rolling 24 hours and the
// allocation, as Sforce-Limit-Info does.
func (s *Server) APIUsage() (used, limit int) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.usage.used(s.now()), s.opts.DailyLimit
}

// SetAPIUsage pretends n calls were made in the last minute (on top of
// nothing else), to bring the org near or past its allocation.
func (s *Server) SetAPIUsage(n int) {
	s.cmu.Lock()
	s.usage.set(s.now(), n)
	s.cmu.Unlock()
}

// usageWindow counts calls per minute over a rolling 24 hours.
type usageWindow struct {
	minutes map[int64]int
}

func (u *usageWindow) prune(now time.Time) {
	cut := now.Add(-24*time.Hour).Unix() / 60
	for m := range u.minutes {
		if m <= cut {
			delete(u.minutes, m)
		}
	}
}

func (u *usageWindow) used(now time.Time) int {
	u.prune(now)
	n := 0
	for _, v := range u.minutes {
		n += v
	}
	return n
}

func (u *usageWindow) add(now time.Time) {
	if u.minutes == nil {
		u.minutes = map[int64]int{}
	}
	u.minutes[now.Unix()/60]++
}

func (u *usageWindow) set(now time.Time, n int) {
	u.minutes = map[int64]int{now.Unix() / 60: n}
}

// serve is the HTTP entry point.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	path := r.URL.Path
	switch {
	case path == "/services/oauth2/token":
		s.calls.CountRoute(tokenRoute)
		s.token(w, r)
		return
	case strings.HasPrefix(path, "/services/data/"):
	default:
		writeErrors(w, http.StatusNotFound, "", "NOT_FOUND", "The requested resource does not exist")
		return
	}
	rest := strings.TrimPrefix(path, "/services/data/")
	version, rest, _ := strings.Cut(rest, "/")
	route := routeName(r.Method, rest)

	s.calls.Count(route)
	s.cmu.Lock()
	f := s.faults
	var inject int
	switch {
	case s.faults.Fail5xx > 0:
		s.faults.Fail5xx--
		inject = http.StatusServiceUnavailable
	case f.ServerErrorRate > 0 && s.rnd.Float64() < f.ServerErrorRate:
		inject = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}[s.rnd.IntN(2)]
	}
	concurrent := false
	if inject == 0 && s.faults.ConcurrentLimit > 0 {
		s.faults.ConcurrentLimit--
		concurrent = true
	}
	s.cmu.Unlock()

	if f.Latency > 0 && !fake.Delay(r.Context(), s.ctx.Done(), f.Latency) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 150<<20))
	if err != nil {
		return
	}
	if version == "" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, []map[string]string{{"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"}})
		return
	}
	if !validVersion(version) {
		writeErrors(w, http.StatusNotFound, "", "NOT_FOUND", "The requested resource does not exist")
		return
	}
	if !s.authorized(r) {
		writeErrors(w, http.StatusUnauthorized, "", "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	limitInfo := s.countCall(inject == 0 && !concurrent)
	w.Header().Set("Sforce-Limit-Info", limitInfo)
	if inject != 0 {
		writeServerError(w, inject, f.HTMLErrors)
		return
	}
	if concurrent {
		s.calls.CountLimited()
		writeErrors(w, http.StatusForbidden, "", "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
		return
	}
	if limitInfo == "" {
		used, limit := s.APIUsage()
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
		s.calls.CountLimited()
		writeErrors(w, http.StatusForbidden, "", "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	s.mu.Lock()
	res := s.api(r.Method, version, rest, r.URL.Query(), body, r.Header, false)
	s.mu.Unlock()
	for k, v := range res.header {
		w.Header()[k] = v
	}
	if res.contentType == "" {
		res.contentType = "application/json;charset=UTF-8"
	}
	if res.status == http.StatusNoContent {
		w.WriteHeader(res.status)
		return
	}
	w.Header().Set("Content-Type", res.contentType)
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// countCall counts an API call against the daily allocation and returns
// the Sforce-Limit-Info value, or "" when the allocation is used up.
func (s *Server) countCall(count bool) string {
	now := s.now()
	s.cmu.Lock()
	defer s.cmu.Unlock()
	used := s.usage.used(now)
	if s.opts.DailyLimit > 0 && used >= s.opts.DailyLimit && count {
		return ""
	}
	if count {
		s.usage.add(now)
		used++
	}
	limit := s.opts.DailyLimit
	if limit < 0 {
		limit = 0
	}
	return fmt.Sprintf("api-usage=%d/%d", used, limit)
}

func validVersion(v string) bool {
	n, ok := strings.CutPrefix(v, "v")
	if !ok {
		return false
	}
	a, b, ok := strings.Cut(n, ".")
	_, e1 := strconv.Atoi(a)
	_, e2 := strconv.Atoi(b)
	return ok && e1 == nil && e2 == nil
}

// routeName labels a request for the call counter.
func routeName(method, rest string) string {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	label := segs[0]
	switch segs[0] {
	case "sobjects":
		switch {
		case len(segs) == 3 && segs[2] == "describe":
			label = "sobjects/describe"
		case len(segs) >= 2:
			label = "sobjects/" + segs[1]
		}
	case "composite":
		if len(segs) >= 2 && segs[1] == "sobjects" {
			label = "composite/sobjects"
		}
	case "jobs":
		label = "jobs/ingest"
	}
	return method + " " + label
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "OAuth ")
	}
	if !ok || tok == "" {
		return false
	}
	now := s.now()
	s.amu.Lock()
	defer s.amu.Unlock()
	sess := s.sessions[tok]
	if sess == nil {
		return false
	}
	if !sess.static && now.Sub(sess.lastUsed) > s.opts.SessionTTL {
		delete(s.sessions, tok)
		return false
	}
	sess.lastUsed = now
	return true
}

func (s *Server) newSession() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := s.orgID[:15] + "!" + hex.EncodeToString(b[:])
	s.amu.Lock()
	s.sessions[tok] = &session{lastUsed: s.now()}
	s.amu.Unlock()
	return tok
}

// response is the result of one API request (or composite subrequest).
type response struct {
	status      int
	body        []byte
	contentType string
	header      http.Header
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`[{"message":"` + err.Error() + `","errorCode":"UNKNOWN_EXCEPTION"}]`)
		status = http.StatusInternalServerError
	}
	return response{status: status, body: b}
}

// errorItem is one entry of Salesforce's REST error array.
type errorItem struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func errResponse(e *apiError) response {
	return jsonResponse(e.status, []errorItem{{Message: e.msg, ErrorCode: e.code, Fields: e.fields}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, status int, _ string, code, msg string) {
	writeJSON(w, status, []errorItem{{Message: msg, ErrorCode: code}})
}

// api dispatches one REST request below /services/data/vNN.0/.
func (s *Server) api(method, version, rest string, q url.Values, body []byte, h http.Header, sub bool) response {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	for i, sg := range segs {
		if u, err := url.PathUnescape(sg); err == nil {
			segs[i] = u
		}
	}
	notFound := errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
	switch segs[0] {
	case "limits":
		if method != http.MethodGet {
			break
		}
		used, limit := s.APIUsage()
		return jsonResponse(200, map[string]any{
			"DailyApiRequests":     map[string]int{"Max": limit, "Remaining": max(limit-used, 0)},
			"DailyBulkV2QueryJobs": map[string]int{"Max": 10000, "Remaining": 10000},
		})
	case "query", "queryAll":
		if method != http.MethodGet {
			break
		}
		all := segs[0] == "queryAll"
		if len(segs) == 2 && segs[1] != "" {
			return s.queryMore(segs[1], version)
		}
		return s.query(q.Get("q"), all, version)
	case "sobjects":
		return s.sobjects(method, version, segs[1:], q, body)
	case "composite":
		if len(segs) >= 2 && segs[1] == "sobjects" {
			return s.collections(method, version, segs[2:], q, body)
		}
		if len(segs) == 1 && method == http.MethodPost && !sub {
			return s.composite(version, body, h)
		}
	case "jobs":
		if len(segs) >= 2 && segs[1] == "ingest" {
			return s.ingest(method, version, segs[2:], body, h)
		}
	}
	return notFound
}
