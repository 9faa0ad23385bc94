package daemon

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/schedule"
	"github.com/regsync/regsync/server"
)

// reloadSide is what a reload needs besides the configuration in force:
// the configuration the daemon started with (the restart settings it runs
// with, docs/reload.md) and the cron, rebuilt when a schedule changes.
type reloadSide struct {
	mu      sync.Mutex // one reload at a time
	started *config.Config
	cron    schedule.Runner
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
	ctx := d.rl.cron.Context()
	if ctx == nil {
		return nil
	}
	return d.startCron(ctx, cfg)
}

// startCron builds the cron of cfg's schedules and runs it in place of
// the one running (a replaced cron's running job finishes on its own:
// sweeps take turns, a reconcile only queues, the summaries job only
// wakes the summaries loop; the shutdown waits for it).
func (d *Daemon) startCron(ctx context.Context, cfg *config.Config) error {
	c, err := schedule.Build(cfg.Schedule.Timezone, []schedule.Job{
		{Name: "sweep", Spec: cfg.Schedule.Sweep, Run: func() {
			res, err := d.worker.Sweep(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Error("sweep", "err", err)
				return
			}
			d.log.Info("sweep", "looked", res.Looked, "changed", res.Changed, "escalated", res.Escalated)
		}},
		{Name: "reconcile", Spec: cfg.Schedule.Reconcile, Run: func() {
			n, err := d.worker.Reconcile(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Error("reconcile", "err", err)
				return
			}
			d.log.Info("reconcile", "queued", n)
		}},
		{Name: "summaries", Spec: cfg.Schedule.Summaries, Run: d.summaries.Kick},
	}, d.log)
	if err != nil {
		return err
	}
	d.rl.cron.Run(ctx, c)
	if e, ok := d.rl.cron.Entries(); ok {
		d.log.Debug("cron in force", "jobs", len(e), "timezone", cfg.Schedule.Timezone)
	}
	return nil
}
