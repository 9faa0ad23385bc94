// Package schedule runs regsync's cron: named jobs at the schedule.* specs
// of the configuration, in its time zone, rebuilt in place when a reload
// changes them. A job never overlaps itself (cron.SkipIfStillRunning) and a
// panicking job is logged, not fatal (cron.Recover).
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/config"
)

// Job is one scheduled job: Spec is its schedule.<Name> value ("" or "off":
// not scheduled).
type Job struct {
	Name, Spec string
	Run        func()
}

// Build makes a cron (not started) that runs jobs in the time zone tz.
func Build(tz string, jobs []Job, log *slog.Logger) (*cron.Cron, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	logger := cronLogger{log}
	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	for _, j := range jobs {
		if err := Add(c, loc, j.Name, j.Spec, j.Run); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Add adds job to c at schedule.<name> (none when spec is empty or "off").
func Add(c *cron.Cron, loc *time.Location, name, spec string, job func()) error {
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

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// Runner holds the cron in force. Run replaces it; Stop ends it for good.
type Runner struct {
	mu      sync.Mutex
	ctx     context.Context // the work context the jobs run under; nil until the first Run
	cur     *cron.Cron
	stopped bool              // Stop was called: Run starts nothing
	retired []context.Context // Stop contexts of the crons Run replaced
}

// Run starts c in place of the cron running, whose jobs run under ctx. The
// old one is stopped without waiting: a job of it still running finishes
// on its own, and Stop waits for it.
func (r *Runner) Run(ctx context.Context, c *cron.Cron) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if r.cur != nil {
		// Keep only the replaced crons with a job still running.
		r.retired = slices.DeleteFunc(r.retired, func(w context.Context) bool { return w.Err() != nil })
		r.retired = append(r.retired, r.cur.Stop())
	}
	r.cur, r.ctx = c, ctx
	c.Start()
}

// Context is the context the running cron's jobs run under; nil before
// the first Run (a reload before then has nothing to reschedule).
func (r *Runner) Context() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctx
}

// Entries are the entries of the cron in force; ok is false before Run.
func (r *Runner) Entries() (entries []cron.Entry, ok bool) {
	r.mu.Lock()
	c := r.cur
	r.mu.Unlock()
	if c == nil {
		return nil, false
	}
	return c.Entries(), true
}

// Stop stops the cron for good and returns a context done once every job
// has ended, of the cron in force and of those Run replaced.
func (r *Runner) Stop() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	waits := r.retired
	if r.cur != nil {
		waits = append(waits, r.cur.Stop())
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
