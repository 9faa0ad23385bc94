// Package server is regsync's HTTP server. Its public listener takes CRM
// webhooks into the durable inbox, the intake channels and status pages
// (mounted by the daemon), the dashboard, /metrics, /healthz and /readyz;
// the operator endpoints under /-/ (bearer-token protected) are on a
// listener of their own (admin.addr, loopback by default), or on the
// public one only when Options.AdminOnPublic says so.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/state"
)

// MaxWebhookBody bounds a webhook request. HubSpot sends at most 100 events
// (a few tens of KB); Salesforce outbound messages up to 100 notifications.
const MaxWebhookBody = 1 << 20

// Inbox is where webhook events go: the worker's durable inbox.
type Inbox interface {
	// Enqueue stores items durably (fsync'd) and wakes the worker.
	Enqueue(items ...state.Item) error
}

// Admin is what the operator endpoints drive.
type Admin interface {
	// Reload re-reads the configuration and says what it applied.
	Reload() (Reloaded, error)
	Sweep(ctx context.Context) (any, error)
	Reconcile(ctx context.Context) (any, error)
	Poll(ctx context.Context) (any, error)
	State() *state.DB
}

// Options configure a Server.
type Options struct {
	Addr     string
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	// Webhooks maps a CRM name (the path /webhooks/{name}) to its connector.
	// The server uses it as a connectors.WebhookVerifier (and a
	// connectors.WebhookAcker when it is one).
	Webhooks map[string]connectors.WebhookVerifier
	Inbox    Inbox
	Admin    Admin
	// Registrations takes submissions from commands beside the daemon
	// (POST /-/register, /-/settle); nil: those answer 404.
	Registrations Registrations
	// AdminToken protects /-/ endpoints; unset: they answer 403.
	AdminToken secret.Secret
	// AdminOnPublic mounts the /-/ endpoints on the public listener
	// (admin.public with admin.addr equal to server.addr); otherwise they
	// are served only on the admin listener (SetAdminListener).
	AdminOnPublic bool
	// Ready reports readiness problems for /readyz (nil: ready).
	Ready func(ctx context.Context) error
	// BeforeScrape refreshes gauges before /metrics is served.
	BeforeScrape func()
	// Mount adds routes (intake channels, status pages, dashboard).
	Mount func(mux *http.ServeMux)
}

// Server is the daemon's HTTP server: the public listener and the admin
// listener.
type Server struct {
	o        Options
	log      *slog.Logger
	m        *metrics.Metrics
	mux      *http.ServeMux // public
	adminMux *http.ServeMux // the /-/ endpoints (mux itself with AdminOnPublic)
	srv      *http.Server
	adminSrv *http.Server

	mu           sync.Mutex
	ln, adminLn  net.Listener
	draining     bool
	lastProblems string // what readiness last found ("" ready)
}

// New builds the server and its routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	s := &Server{o: o, log: o.Logger, m: o.Metrics, mux: http.NewServeMux()}
	s.adminMux = http.NewServeMux()
	if o.AdminOnPublic {
		s.adminMux = s.mux
	}
	s.routes()
	s.srv = newHTTPServer(s.mux, o.Logger)
	s.adminSrv = newHTTPServer(s.adminMux, o.Logger.With("listener", "admin"))
	return s
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.o.Gatherer != nil {
		h := promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{})
		s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			if s.o.BeforeScrape != nil {
				s.o.BeforeScrape()
			}
			h.ServeHTTP(w, r)
		})
	}
	for name, crm := range s.o.Webhooks {
		s.mux.Handle("POST /webhooks/"+name, s.webhook(crm))
	}
	a := s.adminMux
	a.Handle("POST /-/reload", s.admin(s.reload))
	a.Handle("POST /-/sweep", s.admin(s.run(func(ctx context.Context) (any, error) { return s.o.Admin.Sweep(ctx) })))
	a.Handle("POST /-/reconcile", s.admin(s.run(func(ctx context.Context) (any, error) { return s.o.Admin.Reconcile(ctx) })))
	a.Handle("POST /-/poll", s.admin(s.run(func(ctx context.Context) (any, error) { return s.o.Admin.Poll(ctx) })))
	a.Handle("GET /-/readyz", s.admin(s.adminReadyz))
	a.Handle("GET /-/inbox", s.admin(s.inboxList))
	a.Handle("POST /-/register", s.admin(s.register))
	a.Handle("POST /-/settle", s.admin(s.settle))
	a.Handle("POST /-/inbox/retry", s.admin(s.inboxRetry))
	a.Handle("POST /-/inbox/drop", s.admin(s.inboxDrop))
	if s.o.Mount != nil {
		s.o.Mount(s.mux)
	}
}

// SetListener gives the server a listener bound elsewhere (the daemon binds
// early, to learn its public URL before the routes exist).
func (s *Server) SetListener(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
}

// SetAdminListener gives the server the admin API's listener (unused with
// AdminOnPublic).
func (s *Server) SetAdminListener(ln net.Listener) {
	s.mu.Lock()
	s.adminLn = ln
	s.mu.Unlock()
}

// Serve serves the public listener, and the admin listener when one is
// set, until Shutdown; Listen must have been called. It returns when the
// first of them fails, or when both are shut down.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln, aln := s.ln, s.adminLn
	s.mu.Unlock()
	if ln == nil {
		return errors.New("server: Serve before Listen")
	}
	serve := func(srv *http.Server, ln net.Listener, what string) error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s listener: %w", what, err)
		}
		return nil
	}
	n := 1
	errc := make(chan error, 2)
	go func() { errc <- serve(s.srv, ln, "public") }()
	if aln != nil && !s.o.AdminOnPublic {
		n++
		go func() { errc <- serve(s.adminSrv, aln, "admin") }()
	}
	for range n {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// Shutdown stops accepting requests on both listeners and waits for those
// in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	return errors.Join(s.srv.Shutdown(ctx), s.adminSrv.Shutdown(ctx))
}

// readiness checks whether the daemon is ready; the problems say why not.
// A change of the problems is logged (once, not at every probe).
func (s *Server) readiness(ctx context.Context) []string {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	var err error
	if draining {
		err = errors.New("shutting down")
	} else if s.o.Ready != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.o.Ready(ctx)
		cancel()
	}
	var problems []string
	if err != nil {
		problems = strings.Split(err.Error(), "\n")
	}
	now := strings.Join(problems, "\n")
	s.mu.Lock()
	changed := now != s.lastProblems
	s.lastProblems = now
	s.mu.Unlock()
	switch {
	case changed && len(problems) > 0:
		s.log.Warn("not ready", "problems", problems)
	case changed:
		s.log.Info("ready again")
	}
	return problems
}

// readyz is the public readiness probe: ready or not, nothing more. The
// problems (a CRM's error text carries hints about its credentials and
// its request ids) go to the log and to the admin API's GET /-/readyz.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if problems := s.readiness(r.Context()); len(problems) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// adminReadyz is GET /-/readyz: readiness with the problems.
func (s *Server) adminReadyz(w http.ResponseWriter, r *http.Request) {
	if problems := s.readiness(r.Context()); len(problems) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "problems": problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// webhook takes a CRM's webhook: verify, store durably, answer. The work
// happens after the answer, so HubSpot's 5-second deadline holds under load.
func (s *Server) webhook(crm connectors.WebhookVerifier) http.Handler {
	name := crm.Name()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.m.WebhookFailures.WithLabelValues(name, "too_large").Inc()
				http.Error(w, fmt.Sprintf("request body larger than %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
				return
			}
			s.m.WebhookFailures.WithLabelValues(name, "read").Inc()
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
		events, err := crm.VerifyWebhook(r, body)
		if err != nil {
			if errors.Is(err, connectors.ErrWebhookPayload) {
				s.m.WebhookFailures.WithLabelValues(name, "payload").Inc()
				s.log.Warn("webhook payload refused", "connector", name, "err", err)
				http.Error(w, "malformed webhook payload", http.StatusBadRequest)
				return
			}
			s.m.WebhookFailures.WithLabelValues(name, "signature").Inc()
			s.log.Warn("webhook refused: signature not valid", "connector", name, "remote", r.RemoteAddr, "err", err)
			http.Error(w, "webhook signature not valid", http.StatusUnauthorized)
			return
		}
		seen := map[string]bool{}
		items := make([]state.Item, 0, len(events))
		for _, ev := range events {
			if ev.RecordID == "" || ev.Object == "" {
				continue
			}
			key := state.ItemKey(name, ev.Object, ev.RecordID)
			if seen[key] {
				continue // duplicates collapse to one item per record
			}
			seen[key] = true
			items = append(items, state.Item{CRM: name, Object: ev.Object, RecordID: ev.RecordID, Reason: "webhook"})
		}
		if err := s.o.Inbox.Enqueue(items...); err != nil {
			// Not stored: the CRM must try again.
			s.log.Error("webhook events not stored; answering 503 so the CRM retries", "connector", name, "err", err)
			http.Error(w, "could not store the events; retry", http.StatusServiceUnavailable)
			return
		}
		s.m.WebhookEvents.WithLabelValues(name).Add(float64(len(items)))
		if a, ok := crm.(connectors.WebhookAcker); ok {
			a.WriteWebhookAck(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// admin protects an operator endpoint with the bearer token.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Admin == nil {
			http.Error(w, "no admin interface", http.StatusNotFound)
			return
		}
		want := s.o.AdminToken.Reveal()
		if want == "" {
			http.Error(w, "admin endpoints are disabled: set admin.token", http.StatusForbidden)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="regsync admin"`)
			http.Error(w, "admin token required", http.StatusUnauthorized)
			return
		}
		h(w, r)
	})
}

// Reloaded is what a configuration reload did: the dotted keys whose
// change it applied, and those that changed but take effect only after a
// restart. Only names: some of the values are secrets.
type Reloaded struct {
	Applied         []string `json:"applied"`
	RestartRequired []string `json:"restart_required"`
}

func (s *Server) reload(w http.ResponseWriter, _ *http.Request) {
	res, err := s.o.Admin.Reload()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"reloaded": false, "error": err.Error()})
		return
	}
	// Lists, never null: a client reads "nothing to restart" as [].
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true,
		"applied": append([]string{}, res.Applied...), "restart_required": append([]string{}, res.RestartRequired...)})
}

func (s *Server) run(f func(ctx context.Context) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := f(r.Context())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"result": res, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": res})
	}
}

// InboxListing is what GET /-/inbox answers.
type InboxListing struct {
	Stats   state.InboxStats `json:"stats"`
	Pending []state.Item     `json:"pending,omitempty"`
	Dead    []state.Item     `json:"dead,omitempty"`
}

func (s *Server) inboxList(w http.ResponseWriter, r *http.Request) {
	db := s.o.Admin.State()
	var l InboxListing
	var err error
	if l.Stats, err = db.InboxStats(); err == nil {
		if r.URL.Query().Get("dead") != "only" {
			l.Pending, err = db.Pending()
		}
		if err == nil {
			l.Dead, err = db.Dead()
		}
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) inboxRetry(w http.ResponseWriter, r *http.Request) {
	s.inboxKeys(w, r, s.o.Admin.State().RetryDead)
}

func (s *Server) inboxDrop(w http.ResponseWriter, r *http.Request) {
	s.inboxKeys(w, r, s.o.Admin.State().DropDead)
}

func (s *Server) inboxKeys(w http.ResponseWriter, r *http.Request, f func(string) error) {
	var req struct {
		Keys []string `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Keys) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `body must be {"keys": ["crm/object/id", …]}`})
		return
	}
	done := []string{}
	var errs []string
	for _, k := range req.Keys {
		if err := f(k); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		done = append(done, k)
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]any{"done": done, "errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
