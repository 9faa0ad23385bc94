package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/channels"
	"github.com/regsync/regsync/internal/connect"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/notify"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// The engine and the worker, built the same way for serve, for the
// commands that run without the daemon (sweep, inbox, import) and for
// import beside the sandbox.

// engineDeps are what an engine is built over besides the configuration
// and the CRM; a nil State runs without local state.
type engineDeps struct {
	policy    func() *rules.Policy
	state     *state.DB
	notifier  worker.Notifier
	statusURL func(caseNumber string) string
	log       *slog.Logger
	metrics   *metrics.Metrics
	now       func() time.Time
}

func newEngine(cfg *config.Config, crm *connect.Conn, x engineDeps) (*worker.Engine, error) {
	e, err := worker.NewEngine(worker.EngineOptions{
		CRM: crm.CRM, Object: crm.Object, DealObject: dealObject(crm.CRM), Policy: x.policy, State: x.state, Notifier: x.notifier,
		StatusURL: x.statusURL, RecheckAfter: cfg.Worker.RecheckAfter, Logger: x.log, Metrics: x.metrics, Now: x.now,
	})
	if err != nil {
		return nil, err
	}
	return e, e.SetTemplates(cfg.Notify.Templates)
}

func newWorker(cfg *config.Config, e *worker.Engine, db *state.DB) (*worker.Worker, error) {
	return worker.New(worker.Options{Engine: e, State: db, BatchSize: cfg.Worker.BatchSize,
		Concurrency: cfg.Worker.Concurrency, EscalationTo: cfg.Notify.EscalationTo})
}

// publicURL is the base URL partners and the CRM reach the daemon at:
// server.public_url, else the listener's address.
func publicURL(cfg *config.Config, addr string) string {
	if p := strings.TrimRight(cfg.Server.PublicURL, "/"); p != "" {
		return p
	}
	return "http://" + addr
}

// Offline is the worker without the daemon: the state file, the connector,
// the engine and the worker, for `regsync sweep`, `regsync inbox` and
// `regsync import` when no daemon holds the state file.
type Offline struct {
	DB     *state.DB
	CRM    connectors.CRM
	Engine *worker.Engine
	Worker *worker.Worker
}

// OpenOffline opens the state file and connects the CRM (not the sandbox
// CRM, which lives inside serve). Close releases them.
func OpenOffline(cfg *config.Config, log *slog.Logger) (*Offline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	crm, err := connect.Open(context.Background(), cfg, connect.SandboxRefused, connect.Env{Logger: log, Now: time.Now})
	if err != nil {
		return nil, err
	}
	db, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := db.ReleaseLeases(); err != nil { // no daemon holds the file: its leases are stale
		return nil, errors.Join(err, db.Close())
	}
	links := channels.NewLinks(cfg, publicURL(cfg, cfg.Server.Addr), log)
	mail := channels.NewMail(cfg, log.With("component", "intake"), time.Now)
	m := metrics.New(nil)
	n := notify.New(cfg, notify.Options{Config: func() *config.Config { return cfg }, Mail: mail.Sender, Metrics: m, Logger: log})
	o := &Offline{DB: db, CRM: crm.CRM}
	o.Engine, err = newEngine(cfg, crm, engineDeps{policy: func() *rules.Policy { return cfg.Policy }, state: db, notifier: n,
		statusURL: links.URL, log: log, metrics: m})
	if err == nil {
		o.Worker, err = newWorker(cfg, o.Engine, db)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return o, nil
}

// Close closes the state file.
func (o *Offline) Close() error { return o.DB.Close() }

// OpenImport returns the registrar `regsync import` registers through when
// no daemon runs, and what releases it. For kinds hubspot and salesforce
// that is an Offline engine: import holds the state file for its run, as
// the daemon would — its decisions go through write-ahead plans, and the
// daemon started later knows them for regsync's own. For kind sandbox it
// is an engine without local state over the sandbox CRM of a running
// serve (ConnectReader says plainly when none answers).
func OpenImport(ctx context.Context, cfg *config.Config, log *slog.Logger) (intake.Registrar, func() error, error) {
	off, err := OpenOffline(cfg, log)
	if err == nil {
		return worker.NewRegistrar(off.Engine, nil), off.Close, nil
	}
	if !errors.Is(err, connect.ErrSandboxNeedsServe) {
		return nil, nil, err
	}
	crm, err := connect.Open(ctx, cfg, connect.SandboxRemote, connect.Env{Logger: log, Now: time.Now})
	if err != nil {
		return nil, nil, err
	}
	e, err := newEngine(cfg, crm, engineDeps{policy: func() *rules.Policy { return cfg.Policy }, log: log, now: time.Now})
	if err != nil {
		return nil, nil, err
	}
	return worker.NewRegistrar(e, nil), func() error { return nil }, nil
}
