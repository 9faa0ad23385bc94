// Package notify delivers the worker's notifications (worker.Notifier):
// e-mail over SMTP or into an outbox directory, a post in the Slack thread
// of a registration made in Slack, and AE messages to a Slack incoming
// webhook. Each way of telling someone is a small notifier that says
// whether retrying can help; Notifier routes every notification to the
// ones it belongs to and hands the worker back only what a retry may mend.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/regsync/regsync/config"
	islack "github.com/regsync/regsync/intake/slack"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// Options wire a Notifier. The intake channels and the mail sender are
// looked up at each sending: a configuration reload replaces them.
type Options struct {
	// Config returns the configuration in force. Required.
	Config func() *config.Config
	// Mail returns the mail sender in force and the metric label of its
	// kind ("smtp" or "outbox"); a nil sender when no mail can be sent.
	Mail func() (regmail.Sender, string)
	// Slack returns the Slack channel in force (nil while it is off).
	Slack func() *islack.Handler
	// Origins are where Slack registrations came from (nil: none are
	// posted to).
	Origins *Origins
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// channel is one way of telling someone about one notification. A
// failure that may pass (a 4xx SMTP reply, a network error, Slack's rate
// limit) comes back with retry true; one that cannot (an address refused
// for good, a Slack channel that is gone) with retry false and a *refusal.
type channel interface {
	notify(ctx context.Context, cfg *config.Config, x *worker.Notification) (retry bool, err error)
}

// refusal is a failure no retry mends: logged with its own words, counted
// by the channel, and not returned to the worker.
type refusal struct {
	what  string // "partner e-mail", "slack status post", …
	attrs []any
	err   error
}

func (r *refusal) Error() string { return r.what + " refused for good: " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// Notifier composes the e-mail, Slack thread and Slack webhook notifiers.
type Notifier struct {
	cfg     func() *config.Config
	log     *slog.Logger
	email   channel
	thread  channel
	webhook channel
}

// New returns the notifier, or nil when notify.enabled is false in cfg (a
// reload that turns it off later silences it).
func New(cfg *config.Config, o Options) worker.Notifier {
	if !cfg.Notify.Enabled {
		return nil
	}
	return Build(o)
}

// Build returns the notifier whatever notify.enabled says now: it reads
// the setting at every notification, so a reload turns notifications on
// as well as off (the worker's notifier).
func Build(o Options) *Notifier {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	count := func(channel, result string) { o.Metrics.Notifications.WithLabelValues(channel, result).Inc() }
	return &Notifier{
		cfg:     o.Config,
		log:     o.Logger,
		email:   &email{mail: o.Mail, count: count, log: o.Logger},
		thread:  &thread{slack: o.Slack, origins: o.Origins, count: count, log: o.Logger},
		webhook: &webhook{http: &http.Client{Timeout: 15 * time.Second}, count: count},
	}
}

// Notify sends each notification on every channel it belongs to. A
// failure that may pass is returned, and the worker tries the whole step
// again later: a repeated e-mail carries the same Message-ID (mail clients
// show it once), and a Slack post already made for the same decision is
// not made again. Failures that cannot pass are logged and counted, not
// returned.
func (n *Notifier) Notify(ctx context.Context, ns []worker.Notification) error {
	cfg := n.cfg()
	if !cfg.Notify.Enabled {
		return nil
	}
	var errs []error
	send := func(c channel, x *worker.Notification) {
		retry, err := c.notify(ctx, cfg, x)
		var r *refusal
		switch {
		case err == nil:
		case retry:
			errs = append(errs, err)
		case errors.As(err, &r):
			n.log.Warn(r.what+" refused for good", append(r.attrs, "err", r.err)...)
		default:
			n.log.Warn("notification refused for good", "case", x.CaseNumber, "kind", x.Kind, "err", err)
		}
	}
	for i := range ns {
		x := &ns[i]
		send(n.email, x)
		switch x.Kind {
		case worker.KindStatus:
			send(n.thread, x)
			if x.Status == registration.StatusInReview || x.Status == registration.StatusAppealed {
				// An AE must act: tell the team's channel too.
				send(n.webhook, x)
			}
		case worker.KindEscalation:
			send(n.webhook, x)
		}
	}
	return errors.Join(errs...)
}
