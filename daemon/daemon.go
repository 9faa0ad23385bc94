// Package daemon assembles `regsync serve`: the state file, the CRM
// connector (or the embedded sandbox CRM), the worker, the HTTP server and
// the cron, started in order and stopped in reverse under one deadline.
// It never touches signals: cmd/regsync turns SIGINT/SIGTERM into a
// cancelled context and SIGHUP into Reload, so tests run the whole daemon
// in-process.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/dashboard"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/channels"
	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/internal/connect"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/notify"
	"github.com/regsync/regsync/rules"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
	"github.com/regsync/regsync/server"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/summary"
	"github.com/regsync/regsync/worker"
)

// Options carry what the configuration does not: the clock, the logger and
// the metrics registry, for tests.
type Options struct {
	Logger *slog.Logger
	// Registry receives the metrics; nil: a fresh one (with Go and process
	// collectors).
	Registry *prometheus.Registry
	// Now is the clock of decisions, windows and SLAs; nil: time.Now.
	Now func() time.Time
	// Out receives what a human starting the daemon should read (the
	// sandbox's address and token); nil: discarded.
	Out io.Writer
	// Sandbox, when set, is handed the embedded sandbox CRM of crm.kind
	// sandbox once it serves (for a tool or test that looks inside it).
	Sandbox func(*hubspotsandbox.Server)
}

// Daemon is a running regsync serve.
type Daemon struct {
	log *slog.Logger
	m   *metrics.Metrics
	now func() time.Time

	cfg    atomic.Pointer[config.Config]
	policy atomic.Pointer[rules.Policy]

	db        *state.DB
	conn      *connect.Conn
	crm       connectors.CRM
	object    string
	links     *channels.Links
	mail      *channels.Mail
	engine    *worker.Engine
	worker    *worker.Worker
	intake    *channels.Set
	dash      *dashboard.Cache
	summaries *summary.Sender
	server    *server.Server
	addr      net.Addr
	admAddr   net.Addr // the admin API's listener (addr itself when shared)
	public    string
	rl        reloadSide // the started configuration and the cron (reload.go)

	readyMu   sync.Mutex
	readyAt   time.Time
	readyErr  error
	closeOnce sync.Once
}

// New opens the state file, connects the CRM (starting the sandbox CRM for
// kind sandbox), and binds the HTTP address. Run starts the work.
func New(ctx context.Context, cfg *config.Config, o Options) (d *Daemon, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	d = &Daemon{log: o.Logger, now: o.Now, m: metrics.New(o.Registry)}
	d.cfg.Store(cfg)
	d.rl.started = cfg
	d.policy.Store(cfg.Policy)
	d.m.ConfigReloadOK.Set(1)
	d.m.ConfigReloadTime.Set(float64(time.Now().Unix()))
	self := d // d is nil when New fails
	var lns listeners
	defer func() {
		if err != nil {
			lns.close()
			_ = self.closeAll()
		}
	}()

	if dir := filepath.Dir(cfg.State.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	// The inbox runs on the real clock: leases and backoff are about
	// processes and networks, not about the business time of decisions.
	if d.db, err = openState(ctx, cfg, d.log); err != nil {
		return nil, err
	}
	if n, err := d.db.ReleaseLeases(); err != nil {
		return nil, err
	} else if n > 0 {
		d.log.Info("took back inbox items a previous process held when it stopped", "items", n)
	}
	token, err := adminToken(cfg)
	if err != nil {
		return nil, err
	}
	if lns, err = listen(cfg); err != nil {
		return nil, err
	}
	d.addr, d.admAddr = lns.addr(), lns.adminAddr()
	d.public = publicURL(cfg, d.addr.String())

	// The leaves: the CRM, the status links, the mail sender, the partner
	// directory.
	if d.conn, err = connect.Open(ctx, cfg, connect.SandboxEmbedded, connect.Env{Logger: d.log, Now: d.now, Public: d.public, Out: o.Out}); err != nil {
		return nil, err
	}
	if sb := d.conn.Sandbox(); sb != nil && o.Sandbox != nil {
		o.Sandbox(sb)
	}
	d.crm, d.object = d.conn.CRM, d.conn.Object
	if err := metrics.RegisterUsage(o.Registry, d.crm.Name(), d.crm.Usage); err != nil {
		return nil, err
	}
	intakeLog := d.log.With("component", "intake")
	d.links = channels.NewLinks(cfg, d.public, d.log)
	d.mail = channels.NewMail(cfg, intakeLog, d.now)
	partners := intake.NewDirectory(cfg.Partners)
	origins := notify.NewOrigins(d.db)

	// The notifier looks the Slack channel up at each sending: the one
	// edge that points back (Slack takes registrations and is told their
	// outcome), and a reload replaces the channel anyway.
	nopts := notify.Options{Config: d.cfg.Load, Mail: d.mail.Sender, Slack: d.slack, Origins: origins, Metrics: d.m, Logger: d.log}
	// The worker's notifier reads notify.enabled at every notification, so
	// a reload turns notifications on as well as off.
	notifier := notify.Build(nopts)
	if d.engine, err = newEngine(cfg, d.conn, engineDeps{policy: d.policy.Load, state: d.db, notifier: notifier,
		statusURL: d.links.URL, log: d.log, metrics: d.m, now: d.now}); err != nil {
		return nil, err
	}
	if d.worker, err = newWorker(cfg, d.engine, d.db); err != nil {
		return nil, err
	}
	registrar := worker.NewRegistrar(d.engine, d.worker)
	d.intake = channels.New(channels.Options{Config: cfg, PublicURL: d.public, Registrar: registrar, Partners: partners,
		Links: d.links, Mail: d.mail, State: d.db, Origins: origins, CRM: d.crm, Logger: d.log, Now: d.now})
	d.dash = dashboard.NewCache(dashboard.CacheOptions{
		Config: func() *dashboard.Config { return &d.cfg.Load().Dashboard }, Policy: func() *rules.Policy { return d.cfg.Load().Policy },
		CRM: d.crm, State: d.db, RegCursor: d.worker.PollCursor(), DealCursor: dealCursor(d), DealFeed: dealObject(d.crm) != d.object,
		Logger: d.log, Now: d.now,
	})
	d.summaries = summary.New(summary.Options{Config: d.cfg.Load, Registrations: d.crm.All, State: d.db, StatusURL: d.links.URL,
		Logger: d.log, Now: d.now, Notifier: func(cfg *config.Config) worker.Notifier {
			if !cfg.Notify.Enabled {
				return nil // no summary is sent, nor marked sent
			}
			return notifier
		}})

	webhooks := map[string]connectors.WebhookVerifier{}
	if d.conn.Webhooks {
		webhooks[d.crm.Name()] = d.crm
	}
	d.server = server.New(server.Options{
		Addr: cfg.Server.Addr, Logger: o.Logger, Metrics: d.m, Gatherer: o.Registry,
		Webhooks: webhooks, Inbox: inbox{d.db, d.worker}, Admin: admin{d.db, d.worker, d.reload}, AdminToken: token,
		AdminOnPublic: cfg.AdminShared(), Registrations: registrar, Ready: d.ready, BeforeScrape: d.worker.Gauge,
		Mount: func(mux *http.ServeMux) {
			d.intake.Mount(mux)
			mux.Handle("GET /dashboard", d.dash)
		},
	})
	lns.hand(d.server)
	return d, nil
}

// slack is the Slack intake channel in force, for the notifier.
func (d *Daemon) slack() *islack.Handler { return d.intake.Slack() }

// Addr is the public HTTP listener's address.
func (d *Daemon) Addr() net.Addr { return d.addr }

// AdminAddr is the admin API's address (Addr itself when admin.addr shares
// the public listener).
func (d *Daemon) AdminAddr() net.Addr { return d.admAddr }

// Run starts the server, the worker, the poller and the cron, and blocks
// until ctx ends; then it stops them in reverse order within
// server.shutdown_timeout: intake first, then the cron (waiting for a
// running job), then the work in flight, then the sandbox, then the state
// file. Errors are joined.
func (d *Daemon) Run(ctx context.Context) error {
	cfg := d.cfg.Load()
	if ids, err := d.engine.Recover(ctx); err != nil {
		d.log.Warn("recover interrupted registrations; will try at the next start", "err", err)
	} else if len(ids) > 0 {
		d.log.Info("finishing registrations interrupted by a crash", "records", len(ids))
		if err := d.worker.Enqueue(d.object, ids, "recover"); err != nil {
			return errors.Join(err, d.shutdown())
		}
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve() }()

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = d.worker.Run(workCtx, hard)
	}()
	go func() {
		defer wg.Done()
		d.db.Maintain(workCtx, state.Maintenance{Now: d.now, Log: d.log, Done: d.m.StateMaintained,
			AuditRetention: func() time.Duration { return d.cfg.Load().State.AuditRetention }})
	}()
	go func() {
		defer wg.Done()
		d.worker.PollLoop(workCtx, func() time.Duration { return d.pollInterval() })
	}()
	startReportLoops(d, workCtx, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.intake.Run(workCtx)
	}()
	if err := d.startSchedules(workCtx); err != nil {
		stopWork()
		wg.Wait()
		return errors.Join(err, d.shutdown())
	}
	d.log.Info("regsync serving", "addr", d.addr.String(), "admin_addr", d.admAddr.String(), "crm", d.crm.Name(),
		"public_url", secret.RedactURL(d.public))
	switch {
	case cfg.AdminShared():
		d.log.Warn("the admin API shares the public listener (admin.public with admin.addr = server.addr): whoever reaches server.addr can try admin tokens")
	case cfg.Admin.Public && !loopbackAddr(d.admAddr):
		d.log.Warn("the admin API listens off loopback (admin.public): whoever reaches admin.addr can try admin tokens", "admin_addr", d.admAddr.String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}

	// Shut down in reverse order, under one deadline.
	deadline := d.cfg.Load().Server.ShutdownTimeout // reloadable
	sctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var errs []error
	errs = append(errs, runErr)
	if err := d.server.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop http server: %w", err))
	}
	select {
	case <-d.rl.cron.Stop().Done():
	case <-sctx.Done():
		errs = append(errs, errors.New("a cron job was still running at the shutdown deadline"))
	}
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		stopHard() // cancel CRM calls in flight; their items come back after the lease
		<-done
		errs = append(errs, errors.New("work in flight was cancelled at the shutdown deadline; it resumes at the next start"))
	}
	errs = append(errs, d.shutdown())
	return errors.Join(errs...)
}

// shutdown closes the sandbox and the state file.
func (d *Daemon) shutdown() error {
	var err error
	d.closeOnce.Do(func() { err = d.closeAll() })
	return err
}

// openState opens the state file. Another regsync may hold it for a while
// — `regsync import` or `regsync sweep` run while no daemon was up — and
// the daemon then waits for it rather than fail, saying so.
func openState(ctx context.Context, cfg *config.Config, log *slog.Logger) (*state.DB, error) {
	for said := false; ; said = true {
		db, err := state.Open(cfg.State.Path, state.Options{})
		if !errors.Is(err, state.ErrInUse) {
			return db, err
		}
		if !said {
			log.Warn("the state file is held by another regsync (an import or a sweep run without the daemon); waiting for it",
				"path", cfg.State.Path)
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
}

func (d *Daemon) closeAll() error {
	var errs []error
	if d.conn != nil {
		d.conn.Close()
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pollInterval is the change-feed poll interval in force.
func (d *Daemon) pollInterval() time.Duration {
	if iv := d.conn.PollInterval(d.cfg.Load()); iv > 0 {
		return iv
	}
	return 30 * time.Second
}

// adminToken takes admin.token, or generates one and writes it beside the
// state file for the CLI.
func adminToken(cfg *config.Config) (secret.Secret, error) {
	if cfg.Admin.Token.IsSet() {
		return cfg.Admin.Token, nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return secret.Secret{}, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	path := AdminTokenFile(cfg.State.Path)
	if err := writePrivate(path, []byte(tok+"\n")); err != nil {
		return secret.Secret{}, fmt.Errorf("write the admin token to %s: %w", path, err)
	}
	return secret.New(tok), nil
}

// ready reports what keeps the daemon from being ready: the state file,
// the configuration, the CRM (pinged at most every 15 s).
func (d *Daemon) ready(ctx context.Context) error {
	var errs []error
	if _, err := d.db.InboxStats(); err != nil {
		errs = append(errs, fmt.Errorf("state: %w", err))
	}
	if d.cfg.Load() == nil {
		errs = append(errs, errors.New("config: not loaded"))
	}
	d.readyMu.Lock()
	if time.Since(d.readyAt) > 15*time.Second {
		d.readyErr = d.crm.Ping(ctx)
		d.readyAt = time.Now()
	}
	crmErr := d.readyErr
	d.readyMu.Unlock()
	if crmErr != nil {
		errs = append(errs, fmt.Errorf("crm %s: %w", d.crm.Name(), crmErr))
	}
	return errors.Join(errs...)
}

// inbox adapts the worker to server.Inbox.
type inbox struct {
	db *state.DB
	w  *worker.Worker
}

func (i inbox) Enqueue(items ...state.Item) error {
	if err := i.db.Enqueue(items...); err != nil {
		return err
	}
	i.w.Kick()
	return nil
}

// admin adapts the worker and Reload to server.Admin.
type admin struct {
	db     *state.DB
	w      *worker.Worker
	reload func() (server.Reloaded, error)
}

func (a admin) Reload() (server.Reloaded, error) { return a.reload() }
func (a admin) State() *state.DB                 { return a.db }
func (a admin) Sweep(ctx context.Context) (any, error) {
	return a.w.Sweep(ctx)
}
func (a admin) Reconcile(ctx context.Context) (any, error) {
	n, err := a.w.Reconcile(ctx)
	return map[string]int{"queued": n}, err
}
func (a admin) Poll(ctx context.Context) (any, error) {
	n, err := a.w.Poll(ctx)
	return map[string]int{"changed": n}, err
}

// reloadIntake sets the leaves (status links, mail) and then the intake
// channels built over them to a new configuration.
func reloadIntake(d *Daemon, cfg *config.Config) {
	d.links.Set(cfg)
	d.mail.Set(cfg)
	d.intake.Reload(cfg)
}
