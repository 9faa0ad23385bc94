package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/server"
)

// reloadSide is what a reload needs besides the configuration in force:
// the configuration the daemon started with (the restart settings it runs
// with, docs/reload.md) and the cron, rebuilt when a schedule changes.
type reloadSide struct {
	mu      sync.Mutex // one reload at a time
	started *config.Config

	cronMu  sync.Mutex
	cronCtx context.Context // the work context the cron's jobs run under; nil until Run starts the cron
	cron    *cron.Cron
	stopped bool              // the shutdown stopped the cron: a reload starts none
	retired []context.Context // Stop contexts of the crons a reload replaced
}

// Reload re-reads the configuration file. A bad file keeps the old
// configuration in force (and says why); settings that need a restart
// (addresses, the state file, the CRM, …: config/reload.go) are reported,
// not applied.
func (d *Daemon) Reload() error {
	_, err := d.reload()
	return err
}

// reload re-reads the configuration file and applies what a running
// daemon can: the configuration in force becomes config.InForce (the new
// file's live settings, the started values of the others), the intake
// channels are rebuilt, and the cron is rebuilt when a schedule changed.
// It returns the dotted keys applied and those waiting for a restart —
// names only, never values — and logs both.
func (d *Daemon) reload() (server.Reloaded, error) {
	d.rl.mu.Lock()
	defer d.rl.mu.Unlock()
	old := d.cfg.Load()
	next, err := config.Load(old.File)
	if err != nil {
		d.m.ConfigReloadOK.Set(0)
		d.log.Error("configuration reload failed; the old configuration stays in force", "file", old.File, "err", err)
		return server.Reloaded{}, err
	}
	if err := d.engine.SetTemplates(next.Notify.Templates); err != nil {
		d.m.ConfigReloadOK.Set(0)
		return server.Reloaded{}, err
	}
	next.File = old.File
	// Live keys against the configuration in force; restart keys against
	// the one the daemon runs with, so that one changed at an earlier
	// reload is still reported.
	applied, _ := config.Changes(old, next)
	_, restart := config.Changes(d.rl.started, next)
	cfg := config.InForce(d.rl.started, next)
	d.cfg.Store(cfg)
	d.policy.Store(cfg.Policy)
	reloadIntake(d, cfg)
	if scheduleChanged(applied) {
		if err := d.reschedule(cfg); err != nil {
			// Cannot happen with a file that loaded (its schedules were
			// parsed); the cron in force keeps running if it does.
			d.m.ConfigReloadOK.Set(0)
			d.log.Error("configuration reloaded but the cron could not be rebuilt; the old schedules stay", "err", err)
			return server.Reloaded{Applied: applied, RestartRequired: restart}, err
		}
	}
	d.m.ConfigReloadOK.Set(1)
	d.m.ConfigReloadTime.Set(float64(time.Now().Unix()))
	d.log.Info("configuration reloaded", "file", old.File, "partners", len(cfg.Partners), "applied", applied)
	if len(restart) > 0 {
		d.log.Warn("these settings changed but take effect only after a restart", "keys", strings.Join(restart, ", "))
	}
	return server.Reloaded{Applied: applied, RestartRequired: restart}, nil
}

func scheduleChanged(keys []string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, "schedule.") {
			return true
		}
	}
	return false
}

// startSchedules starts the cron from the configuration in force. It
// holds the reload lock, so that a reload while the daemon starts is
// either in the configuration it reads or reschedules the cron it started.
func (d *Daemon) startSchedules(ctx context.Context) error {
	d.rl.mu.Lock()
	defer d.rl.mu.Unlock()
	return d.startCron(ctx, d.cfg.Load())
}

// reschedule rebuilds the cron from cfg (which must be in force: the
// summaries job reads it) once Run has started it; before, Run starts it
// from the configuration in force anyway.
func (d *Daemon) reschedule(cfg *config.Config) error {
	d.rl.cronMu.Lock()
	ctx := d.rl.cronCtx
	d.rl.cronMu.Unlock()
	if ctx == nil {
		return nil
	}
	return d.startCron(ctx, cfg)
}

// runCron starts a cron built by startCron in place of the one running.
// The old one is stopped without waiting: a job of it still running
// finishes on its own (sweeps take turns, a reconcile only queues, the
// summaries job only wakes the summaries loop), and the shutdown waits for
// it.
func (s *reloadSide) runCron(ctx context.Context, c *cron.Cron) {
	s.cronMu.Lock()
	defer s.cronMu.Unlock()
	if s.stopped {
		return
	}
	if s.cron != nil {
		// Keep only the replaced crons with a job still running.
		s.retired = slices.DeleteFunc(s.retired, func(w context.Context) bool { return w.Err() != nil })
		s.retired = append(s.retired, s.cron.Stop())
	}
	s.cron, s.cronCtx = c, ctx
	c.Start()
}

// stopCron stops the cron for good and returns a context done once every
// job has ended, of the cron in force and of those a reload replaced.
func (s *reloadSide) stopCron() context.Context {
	s.cronMu.Lock()
	defer s.cronMu.Unlock()
	s.stopped = true
	waits := s.retired
	if s.cron != nil {
		waits = append(waits, s.cron.Stop())
	}
	ctx, done := context.WithCancel(context.Background())
	go func() {
		defer done()
		for _, w := range waits {
			<-w.Done()
		}
	}()
	return ctx
}
