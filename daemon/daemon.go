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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/rules"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
	"github.com/regsync/regsync/server"
	"github.com/regsync/regsync/state"
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
}

// Daemon is a running regsync serve.
type Daemon struct {
	o   Options
	log *slog.Logger
	reg *prometheus.Registry
	m   *metrics.Metrics
	now func() time.Time

	cfg    atomic.Pointer[config.Config]
	policy atomic.Pointer[rules.Policy]

	db      *state.DB
	crm     connectors.CRM
	object  string
	sandbox *sandbox
	engine  *worker.Engine
	worker  *worker.Worker
	server  *server.Server
	cron    *cron.Cron
	addr    net.Addr
	admAddr net.Addr // the admin API's listener (addr itself when shared)
	public  string
	token   secret.Secret

	in  intakeSide // the intake channels, status pages and mail (intake.go)
	rep reportSide // the dashboard, the deal feed and the partner summaries (report.go)

	readyMu   sync.Mutex
	readyAt   time.Time
	readyErr  error
	reloadMu  sync.Mutex
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
	d = &Daemon{o: o, log: o.Logger, reg: o.Registry, now: o.Now}
	d.m = metrics.New(o.Registry)
	d.cfg.Store(cfg)
	d.policy.Store(cfg.Policy)
	d.m.ConfigReloadOK.Set(1)
	d.m.ConfigReloadTime.Set(float64(time.Now().Unix()))
	self := d // d is nil when New fails
	defer func() {
		if err != nil {
			self.closeAll()
		}
	}()

	if dir := filepath.Dir(cfg.State.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	// The inbox runs on the real clock: leases and backoff are about
	// processes and networks, not about the business time of decisions.
	d.db, err = openState(ctx, cfg, d.log)
	if err != nil {
		return nil, err
	}
	if n, err := d.db.ReleaseLeases(); err != nil {
		return nil, err
	} else if n > 0 {
		d.log.Info("took back inbox items a previous process held when it stopped", "items", n)
	}
	if err := d.adminToken(cfg); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on server.addr %s: %w", cfg.Server.Addr, err)
	}
	d.addr = ln.Addr()
	// Where the public listener really is (the configured address may be
	// :0).
	if err := writePrivate(AddrFile(cfg.State.Path), []byte(d.addr.String()+"\n")); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("write the daemon's address to %s: %w", AddrFile(cfg.State.Path), err)
	}
	d.public = strings.TrimRight(cfg.Server.PublicURL, "/")
	if d.public == "" {
		d.public = "http://" + d.addr.String()
	}
	// The admin API has a listener of its own (loopback unless
	// admin.public), or shares the public one when admin.public allows
	// admin.addr to be server.addr.
	var adminLn net.Listener
	if cfg.AdminShared() {
		d.admAddr = d.addr
	} else {
		adminLn, err = net.Listen("tcp", cfg.Admin.Addr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listen on admin.addr %s: %w", cfg.Admin.Addr, err)
		}
		d.admAddr = adminLn.Addr()
	}
	closeLns := func() {
		_ = ln.Close()
		if adminLn != nil {
			_ = adminLn.Close()
		}
	}
	if err := writePrivate(AdminAddrFile(cfg.State.Path), []byte(d.admAddr.String()+"\n")); err != nil {
		closeLns()
		return nil, fmt.Errorf("write the admin API's address to %s: %w", AdminAddrFile(cfg.State.Path), err)
	}

	if err := d.connect(ctx, cfg); err != nil {
		closeLns()
		return nil, err
	}
	if err := metrics.RegisterUsage(o.Registry, d.crm.Name(), d.crm.Usage); err != nil {
		closeLns()
		return nil, err
	}

	d.engine, err = worker.NewEngine(worker.EngineOptions{
		CRM: d.crm, Object: d.object, DealObject: dealObject(d.crm), Policy: d.policy.Load, State: d.db, Notifier: d.notifier(cfg),
		StatusURL: d.statusURL, RecheckAfter: cfg.Worker.RecheckAfter, Logger: o.Logger, Metrics: d.m, Now: o.Now,
	})
	if err != nil {
		closeLns()
		return nil, err
	}
	if err := d.engine.SetTemplates(cfg.Notify.Templates); err != nil {
		closeLns()
		return nil, err
	}
	d.worker, err = worker.New(worker.Options{Engine: d.engine, State: d.db, BatchSize: cfg.Worker.BatchSize,
		Concurrency: cfg.Worker.Concurrency, EscalationTo: cfg.Notify.EscalationTo})
	if err != nil {
		closeLns()
		return nil, err
	}

	webhooks := map[string]connectors.CRM{d.crm.Name(): d.crm}
	if cfg.CRM.Kind == config.KindSalesforce && !cfg.Salesforce.OutboundMessages {
		delete(webhooks, d.crm.Name()) // polling alone: no endpoint to forge messages to
	}
	d.server = server.New(server.Options{
		Addr: cfg.Server.Addr, Logger: o.Logger, Metrics: d.m, Gatherer: o.Registry,
		Webhooks: webhooks, Inbox: inbox{d}, Admin: admin{d}, AdminToken: d.token, AdminOnPublic: cfg.AdminShared(),
		Registrations: registrations{d}, Ready: d.ready, BeforeScrape: d.worker.Gauge, Mount: d.mount,
	})
	d.setListener(ln)
	if adminLn != nil {
		d.server.SetAdminListener(adminLn)
	}
	return d, nil
}

// Addr is the public HTTP listener's address.
func (d *Daemon) Addr() net.Addr { return d.addr }

// AdminAddr is the admin API's address (Addr itself when admin.addr shares
// the public listener).
func (d *Daemon) AdminAddr() net.Addr { return d.admAddr }

// PublicURL is the base URL partners and the CRM reach the daemon at.
func (d *Daemon) PublicURL() string { return d.public }

// State is the daemon's state file.
func (d *Daemon) State() *state.DB { return d.db }

// CRM is the daemon's connector.
func (d *Daemon) CRM() connectors.CRM { return d.crm }

// Sandbox is the embedded fake HubSpot of kind sandbox (nil otherwise).
func (d *Daemon) Sandbox() *hubspotsandbox.Server {
	if d.sandbox == nil {
		return nil
	}
	return d.sandbox.hs
}

// Worker is the daemon's worker.
func (d *Daemon) Worker() *worker.Worker { return d.worker }

// Config is the configuration in force.
func (d *Daemon) Config() *config.Config { return d.cfg.Load() }

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
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = d.worker.Run(workCtx, hard)
	}()
	go func() {
		defer wg.Done()
		d.worker.PollLoop(workCtx, func() time.Duration { return d.pollInterval() })
	}()
	startReportLoops(d, workCtx, &wg)
	startIntakeLoops(d, workCtx, &wg)
	if err := d.startCron(workCtx, cfg); err != nil {
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
	deadline := cfg.Server.ShutdownTimeout
	sctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var errs []error
	errs = append(errs, runErr)
	if err := d.server.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop http server: %w", err))
	}
	if d.cron != nil {
		select {
		case <-d.cron.Stop().Done():
		case <-sctx.Done():
			errs = append(errs, errors.New("a cron job was still running at the shutdown deadline"))
		}
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
	if d.sandbox != nil {
		d.sandbox.close()
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close releases everything without running (for a daemon that New built
// but Run never started).
func (d *Daemon) Close() error { return d.shutdown() }

func (d *Daemon) setListener(ln net.Listener) { d.server.SetListener(ln) }

// connect builds the CRM connector; kind sandbox starts the embedded fake
// HubSpot first and points a real HubSpot client at it.
func (d *Daemon) connect(ctx context.Context, cfg *config.Config) error {
	switch cfg.CRM.Kind {
	case config.KindSandbox:
		sb, hcfg, err := startSandbox(ctx, cfg, d.public, d.log, d.now, d.o.Out)
		if err != nil {
			return err
		}
		d.sandbox = sb
		c, err := hubspot.New(hcfg, hubspot.Options{Logger: d.log.With("connector", "hubspot"), Now: d.now})
		if err != nil {
			return err
		}
		if err := sb.setup(ctx, c, d.o.Out); err != nil {
			return err
		}
		d.crm, d.object = c, hcfg.Object
		return nil
	}
	crm, object, err := Connect(cfg, d.log, d.now)
	if err != nil {
		return err
	}
	d.crm, d.object = crm, object
	return nil
}

// ErrSandboxNeedsServe is returned by Connect for crm.kind sandbox: the
// sandbox CRM lives inside `regsync serve`.
var ErrSandboxNeedsServe = errors.New("crm.kind is sandbox: the sandbox CRM lives inside `regsync serve` — start it first (or run `regsync sandbox` and point hubspot.base_url at it with crm.kind: hubspot)")

// Connect builds the connector of a real CRM (kinds hubspot and
// salesforce) and returns it with the registrations' object name. It makes
// no network call. Commands that work from the CRM alone (import, report,
// setup, sweep without a daemon) use it.
func Connect(cfg *config.Config, log *slog.Logger, now func() time.Time) (connectors.CRM, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.CRM.Kind {
	case config.KindHubSpot:
		c, err := hubspot.New(cfg.HubSpot, hubspot.Options{Logger: log.With("connector", "hubspot"), Now: now})
		if err != nil {
			return nil, "", err
		}
		return c, cfg.HubSpot.Object, nil
	case config.KindSalesforce:
		return connectSalesforce(cfg, log, now)
	case config.KindSandbox:
		return nil, "", ErrSandboxNeedsServe
	}
	return nil, "", fmt.Errorf("crm.kind %q is not supported", cfg.CRM.Kind)
}

func (d *Daemon) pollInterval() time.Duration {
	cfg := d.cfg.Load()
	if iv := pollIntervalOf(cfg); iv > 0 {
		return iv
	}
	return 30 * time.Second
}

// adminToken takes admin.token, or generates one and writes it beside the
// state file for the CLI.
func (d *Daemon) adminToken(cfg *config.Config) error {
	if cfg.Admin.Token.IsSet() {
		d.token = cfg.Admin.Token
		return nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	path := AdminTokenFile(cfg.State.Path)
	if err := writePrivate(path, []byte(tok+"\n")); err != nil {
		return fmt.Errorf("write the admin token to %s: %w", path, err)
	}
	d.token = secret.New(tok)
	return nil
}

// writePrivate replaces the file at path with data, readable by its owner
// only (0600) whatever the mode of a file that was there (os.WriteFile
// keeps an existing file's mode) and without following a symlink there:
// the data goes to a new file in the same directory, renamed over path.
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600) // CreateTemp makes 0600 already; say so
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// loopbackAddr reports whether a listener's address is on loopback.
func loopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// AdminTokenFile is where serve writes a generated admin token.
func AdminTokenFile(statePath string) string { return statePath + ".admin-token" }

// AddrFile is where serve writes the address its public listener got.
func AddrFile(statePath string) string { return statePath + ".addr" }

// AdminAddrFile is where serve writes the address its admin API listens
// on, for the commands beside it (admin.addr may say :0).
func AdminAddrFile(statePath string) string { return statePath + ".admin-addr" }

// statusURL is a registration's login-free status link.
func (d *Daemon) statusURL(caseNumber string) string {
	return statusLink(d, caseNumber)
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

// Reload re-reads the configuration file. A bad file keeps the old
// configuration in force (and says why); settings that need a restart
// (addresses, the state file, the CRM) are reported, not applied.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.cfg.Load()
	next, err := config.Load(old.File)
	if err != nil {
		d.m.ConfigReloadOK.Set(0)
		d.log.Error("configuration reload failed; the old configuration stays in force", "file", old.File, "err", err)
		return err
	}
	if err := d.engine.SetTemplates(next.Notify.Templates); err != nil {
		d.m.ConfigReloadOK.Set(0)
		return err
	}
	var restart []string
	if next.Server.Addr != old.Server.Addr {
		restart = append(restart, "server.addr")
	}
	if next.State.Path != old.State.Path {
		restart = append(restart, "state.path")
	}
	if next.CRM.Kind != old.CRM.Kind {
		restart = append(restart, "crm.kind")
	}
	if next.Admin.Addr != old.Admin.Addr {
		restart = append(restart, "admin.addr")
	}
	if next.Admin.Public != old.Admin.Public {
		restart = append(restart, "admin.public")
	}
	if next.Admin.Token.Reveal() != old.Admin.Token.Reveal() {
		restart = append(restart, "admin.token")
	}
	if next.Salesforce.OutboundMessages != old.Salesforce.OutboundMessages {
		restart = append(restart, "salesforce.outbound_messages")
	}
	next.File = old.File
	d.cfg.Store(next)
	d.policy.Store(next.Policy)
	reloadIntake(d, next)
	d.m.ConfigReloadOK.Set(1)
	d.m.ConfigReloadTime.Set(float64(time.Now().Unix()))
	d.log.Info("configuration reloaded", "file", old.File, "partners", len(next.Partners))
	if len(restart) > 0 {
		d.log.Warn("these settings changed but take effect only after a restart", "keys", strings.Join(restart, ", "))
	}
	return nil
}

func (d *Daemon) startCron(ctx context.Context, cfg *config.Config) error {
	loc, err := time.LoadLocation(cfg.Schedule.Timezone)
	if err != nil {
		return err
	}
	logger := cronLogger{d.log}
	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	add := func(name, spec string, job func()) error {
		if spec == "" || spec == "off" {
			return nil
		}
		s, err := config.ParseSchedule(spec, loc)
		if err != nil {
			return fmt.Errorf("schedule.%s: %w", name, err)
		}
		c.Schedule(s, cron.FuncJob(job))
		return nil
	}
	if err := add("sweep", cfg.Schedule.Sweep, func() {
		res, err := d.worker.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("sweep", "err", err)
			return
		}
		d.log.Info("sweep", "looked", res.Looked, "changed", res.Changed, "escalated", res.Escalated)
	}); err != nil {
		return err
	}
	if err := add("reconcile", cfg.Schedule.Reconcile, func() {
		n, err := d.worker.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("reconcile", "err", err)
			return
		}
		d.log.Info("reconcile", "queued", n)
	}); err != nil {
		return err
	}
	if err := addReportJobs(d, c); err != nil {
		return err
	}
	d.cron = c
	c.Start()
	return nil
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// inbox adapts the worker to server.Inbox.
type inbox struct{ d *Daemon }

func (i inbox) Enqueue(items ...state.Item) error {
	if err := i.d.db.Enqueue(items...); err != nil {
		return err
	}
	i.d.worker.Kick()
	return nil
}

// admin adapts the daemon to server.Admin.
type admin struct{ d *Daemon }

func (a admin) Reload() error    { return a.d.Reload() }
func (a admin) State() *state.DB { return a.d.db }
func (a admin) Sweep(ctx context.Context) (any, error) {
	return a.d.worker.Sweep(ctx)
}
func (a admin) Reconcile(ctx context.Context) (any, error) {
	n, err := a.d.worker.Reconcile(ctx)
	return map[string]int{"queued": n}, err
}
func (a admin) Poll(ctx context.Context) (any, error) {
	n, err := a.d.worker.Poll(ctx)
	return map[string]int{"changed": n}, err
}

// registrations adapts the daemon's intake to server.Registrations.
type registrations struct{ d *Daemon }

var errNoIntake = errors.New("the daemon's intake is not ready")

func (r registrations) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	reg := r.d.in.registrar
	if reg == nil {
		return nil, errNoIntake
	}
	return reg.Register(ctx, subs)
}

func (r registrations) Settle(ctx context.Context, cases []string) (map[string]intake.Receipt, error) {
	reg := r.d.in.registrar
	if reg == nil {
		return nil, errNoIntake
	}
	return reg.Settle(ctx, cases)
}

// mount adds the intake channels, status pages and dashboard.
func (d *Daemon) mount(mux *http.ServeMux) { mountExtras(d, mux) }
