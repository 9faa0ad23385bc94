// Package summary sends partners their weekly summaries (report's
// SummaryBuilder) on schedule.summaries, through the daemon's notifier,
// at most once per partner and week whatever the retries.
package summary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// Store is the part of the state file the sender keeps its marks in: the
// composed message (Remember) and the sent marker (Summaries, kept three
// weeks: a summary is only ever sent for the current week).
type Store interface {
	Summaries() state.Markers
	Remember(key, value string, ttl time.Duration) (prior string, seen bool, err error)
}

// Options wire a Sender.
type Options struct {
	// Config returns the configuration in force.
	Config func() *config.Config
	// Notifier returns the notifier to send with while notify.enabled is
	// true in cfg.
	Notifier func(cfg *config.Config) worker.Notifier
	// Registrations reads every registration (the CRM's list endpoints).
	Registrations func(ctx context.Context, fn func([]registration.Record) error) error
	State         Store
	StatusURL     func(caseNumber string) string
	Logger        *slog.Logger
	Now           func() time.Time
}

// Sender sends the summaries.
type Sender struct {
	o    Options
	kick chan struct{} // the cron wakes Loop
}

// New returns a sender.
func New(o Options) *Sender { return &Sender{o: o, kick: make(chan struct{}, 1)} }

// Result says what a summaries run did.
type Result struct {
	Week        string        `json:"week"` // ISO week, 2026-W14
	Sent        int           `json:"sent"`
	AlreadySent int           `json:"already_sent"` // sent by an earlier run this week
	Skipped     []report.Skip `json:"skipped,omitempty"`
}

// Kick wakes Loop to send the summaries: the job of schedule.summaries.
// It never blocks, so a retry waiting for its turn never holds the cron
// (and the shutdown) up; kicks while a run is pending are one.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// retries are the waits before the retries of a summaries run that failed
// (the CRM could not be read, a message could not be handed over);
// partners already sent are never sent again.
var retries = []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// Loop sends the summaries when the cron says, until ctx ends.
func (s *Sender) Loop(ctx context.Context) {
	log := s.o.Logger
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		for attempt := 0; ; attempt++ {
			res, err := s.Send(ctx)
			if err == nil {
				log.Info("partner summaries", "week", res.Week, "sent", res.Sent, "already_sent", res.AlreadySent, "skipped", len(res.Skipped))
				break
			}
			if ctx.Err() != nil {
				return
			}
			if attempt >= len(retries) {
				log.Error("partner summaries failed; giving up until the next run", "week", res.Week, "sent", res.Sent, "err", err)
				break
			}
			log.Warn("partner summaries failed; will retry", "week", res.Week, "sent", res.Sent,
				"retry_in", retries[attempt], "err", err)
			t := time.NewTimer(retries[attempt])
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// keep is how long a composed summary is kept to be resent identically by
// a retry of its week.
const keep = 21 * 24 * time.Hour

// Send e-mails each partner the summary of its registrations, read from
// the CRM (list endpoints), through the notifier: one message per partner
// and ISO week (in schedule.timezone). A partner is sent at most one
// summary a week whatever the retries: the message is composed once and
// kept in the state file (so a retry after a crash sends the same
// message, with the same Message-ID), and marked sent once the notifier
// took it. Unsubscribed and inactive partners get none.
func (s *Sender) Send(ctx context.Context) (Result, error) {
	cfg := s.o.Config()
	now := s.o.Now()
	loc, err := time.LoadLocation(cfg.Schedule.Timezone)
	if err != nil {
		loc = time.UTC
	}
	y, wk := now.In(loc).ISOWeek()
	res := Result{Week: fmt.Sprintf("%d-W%02d", y, wk)}
	if !cfg.Summaries.Enabled {
		return res, nil
	}
	var n worker.Notifier
	if cfg.Notify.Enabled {
		n = s.o.Notifier(cfg)
	}
	if n == nil {
		s.o.Logger.Warn("partner summaries are not sent: notify.enabled is false")
		return res, nil
	}
	b := report.NewSummaryBuilder(cfg.Policy, now, report.SummaryOptions{Config: cfg.Summaries, StatusLink: s.o.StatusURL})
	if err := s.o.Registrations(ctx, b.Add); err != nil {
		return res, fmt.Errorf("summaries: read the registrations: %w", err)
	}
	sums, skips := b.Result()
	res.Skipped = skips
	db := s.o.State
	var errs []error
	for _, sum := range sums {
		key := "summary/" + sum.PartnerID + "/" + res.Week
		if _, sent, err := db.Summaries().Get(key); err != nil {
			errs = append(errs, err)
			continue
		} else if sent {
			res.AlreadySent++
			continue
		}
		note := worker.Notification{Kind: worker.KindSummary, PartnerID: sum.PartnerID, To: sum.To, Subject: sum.Subject,
			Text: sum.Text, HTML: sum.HTML, RecordID: key}
		js, err := json.Marshal(note)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		prior, seen, err := db.Remember(key, string(js), keep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen {
			// Composed by an earlier run that did not finish: send that.
			var kept worker.Notification
			if json.Unmarshal([]byte(prior), &kept) == nil {
				note = kept
			}
		}
		if err := n.Notify(ctx, []worker.Notification{note}); err != nil {
			errs = append(errs, fmt.Errorf("summary of %s: %w", sum.PartnerID, err))
			continue
		}
		if err := db.Summaries().Put(key, strconv.FormatInt(now.Unix(), 10)); err != nil {
			errs = append(errs, err)
		}
		res.Sent++
	}
	return res, errors.Join(errs...)
}
