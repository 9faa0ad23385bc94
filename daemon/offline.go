package daemon

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// Offline is the worker without the daemon: the state file, the connector,
// the engine and the worker, for `regsync sweep` and `regsync inbox` when no
// daemon holds the state file.
type Offline struct {
	DB     *state.DB
	CRM    connectors.CRM
	Engine *worker.Engine
	Worker *worker.Worker
}

// OpenOffline opens the state file and connects the CRM. Close releases
// them.
func OpenOffline(cfg *config.Config, log *slog.Logger) (*Offline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	crm, object, err := Connect(cfg, log, time.Now)
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
	o := &Offline{DB: db, CRM: crm}
	m := metrics.New(nil)
	d := &Daemon{log: log, m: m, now: time.Now, public: strings.TrimRight(cfg.Server.PublicURL, "/")}
	if d.public == "" {
		d.public = "http://" + cfg.Server.Addr
	}
	d.cfg.Store(cfg)
	o.Engine, err = worker.NewEngine(worker.EngineOptions{CRM: crm, Object: object, Policy: func() *rules.Policy { return cfg.Policy },
		State: db, Notifier: d.notifier(cfg), StatusURL: d.statusURL, RecheckAfter: cfg.Worker.RecheckAfter,
		Logger: log, Metrics: m})
	if err == nil {
		err = o.Engine.SetTemplates(cfg.Notify.Templates)
	}
	if err == nil {
		o.Worker, err = worker.New(worker.Options{Engine: o.Engine, State: db, BatchSize: cfg.Worker.BatchSize,
			EscalationTo: cfg.Notify.EscalationTo})
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return o, nil
}

// Close closes the state file.
func (o *Offline) Close() error { return o.DB.Close() }
