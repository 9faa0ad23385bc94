package state

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"
)

// Defaults of Maintenance.
const (
	// DefaultMaintenanceInterval is how often Maintain purges.
	DefaultMaintenanceInterval = time.Hour
	// DefaultAuditRetention is how long audit entries are kept (the
	// configuration's state.audit_retention).
	DefaultAuditRetention = 400 * 24 * time.Hour
	// MinAuditRetention is the shortest retention Maintain accepts; a
	// shorter one is taken as this.
	MinAuditRetention = 24 * time.Hour
)

// Maintenance configures Maintain. The zero value is usable.
type Maintenance struct {
	// Every is the time between runs; default DefaultMaintenanceInterval.
	Every time.Duration
	// AuditRetention is how long audit entries are kept. It is asked at
	// every run, so a reloaded configuration applies at the next one; nil
	// or a result under MinAuditRetention: DefaultAuditRetention or
	// MinAuditRetention.
	AuditRetention func() time.Duration
	// Now is the clock holds and audit entries live in (the daemon's
	// business clock, which stamps them); default the file's clock
	// (Options.Now), which stamps every other expiring entry and is the
	// one their expiry is read against.
	Now func() time.Time
	// Log receives a line per run that purged something, and failures.
	Log *slog.Logger
	// Done, when set, is called after every run with what it did: the
	// daemon's metrics, and tests that wait for a run.
	Done func(MaintenanceRun)
}

// MaintenanceRun says what one maintenance run did.
type MaintenanceRun struct {
	// Purged counts the entries deleted, by bucket name.
	Purged map[string]int
	// FileBytes is the state file's size after the run (bbolt reuses the
	// pages it freed but never shrinks the file).
	FileBytes int64
	// Err joins the failures; the buckets before a failure were purged.
	Err error
}

// Maintain purges the expired entries of every bucket that has a
// lifetime — idempotency keys, markers, Slack origins, holds, and audit
// entries older than the retention — at once and then every m.Every,
// until ctx ends. Each bucket is purged in small transactions, so the
// write lock is never held for long. Inbox items, dead letters (operators
// decide), plans (until finished), cursors and record fingerprints are
// never purged: doc.go says why.
func (db *DB) Maintain(ctx context.Context, m Maintenance) {
	if m.Every <= 0 {
		m.Every = DefaultMaintenanceInterval
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(m.Every)
	defer t.Stop()
	for {
		run := db.maintain(m)
		switch {
		case run.Err != nil:
			m.Log.Warn("state maintenance failed; the next run tries again", "path", db.path, "err", run.Err)
		case len(run.Purged) > 0:
			args := []any{"path", db.path, "file_bytes", run.FileBytes}
			for name, n := range run.Purged {
				args = append(args, name, n)
			}
			m.Log.Info("state maintenance dropped expired entries", args...)
		}
		if m.Done != nil {
			m.Done(run)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintain is one run of Maintain.
func (db *DB) maintain(m Maintenance) MaintenanceRun {
	now := db.now
	if m.Now != nil {
		now = func() time.Time { return m.Now().UTC() }
	}
	retention := DefaultAuditRetention
	if m.AuditRetention != nil {
		retention = max(m.AuditRetention(), MinAuditRetention)
	}
	run := MaintenanceRun{Purged: map[string]int{}}
	var errs []error
	count := func(name []byte, n int, err error) {
		if n > 0 {
			run.Purged[string(name)] += n
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	n, err := db.PurgeExpired()
	count(bucketIdempotency, n, err)
	for _, mk := range []Markers{db.Escalations(), db.Summaries(), db.SlackOrigins()} {
		n, err := mk.purge()
		count(mk.name, n, err)
	}
	n, err = db.PurgeHolds(now())
	count(bucketHolds, n, err)
	n, err = db.PurgeAudit(now().Add(-retention))
	count(bucketAudit, n, err)
	if len(run.Purged) == 0 {
		run.Purged = nil
	}
	if fi, err := os.Stat(db.path); err == nil {
		run.FileBytes = fi.Size()
	}
	run.Err = errors.Join(errs...)
	return run
}
