package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/intake"
	islack "github.com/regsync/regsync/intake/slack"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// notifier delivers the worker's notifications: e-mail over SMTP
// (mail.host) or into an outbox directory (notify.outbox; the sandbox's
// default), a post in the Slack thread of registrations made in Slack, and
// SLA escalations to notify.slack_webhook_url. It is nil when
// notify.enabled is false at start; a reload that turns it off silences it.
func (d *Daemon) notifier(cfg *config.Config) worker.Notifier {
	if !cfg.Notify.Enabled {
		return nil
	}
	d.in.ensure(d, cfg)
	return &notifier{d: d, http: &http.Client{Timeout: 15 * time.Second}}
}

type notifier struct {
	d    *Daemon
	http *http.Client
}

// Notify sends each notification on every channel it belongs to. A
// failure that may pass (a 4xx SMTP reply, a network error, Slack's rate
// limit) is returned, and the worker tries the whole step again later: a
// repeated e-mail carries the same Message-ID (mail clients show it once),
// and a Slack post already made for the same decision is not made again.
// Failures that cannot pass (an address the server refuses for good, a
// Slack channel that is gone) are logged and counted, not returned.
func (n *notifier) Notify(ctx context.Context, ns []worker.Notification) error {
	cfg := n.d.cfg.Load()
	if !cfg.Notify.Enabled {
		return nil
	}
	c := n.d.in.ensure(n.d, cfg)
	var errs []error
	for i := range ns {
		x := &ns[i]
		if err := n.email(ctx, cfg, c, x); err != nil {
			errs = append(errs, err)
		}
		switch x.Kind {
		case worker.KindStatus:
			if err := n.slack(ctx, c, x); err != nil {
				errs = append(errs, err)
			}
			if x.Status == registration.StatusInReview || x.Status == registration.StatusAppealed {
				// An AE must act: tell the team's channel too.
				if err := n.webhook(ctx, cfg, x); err != nil {
					errs = append(errs, err)
				}
			}
		case worker.KindEscalation:
			if err := n.webhook(ctx, cfg, x); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (n *notifier) count(channel, result string) {
	n.d.m.Notifications.WithLabelValues(channel, result).Inc()
}

// email sends the notification to its addresses.
func (n *notifier) email(ctx context.Context, cfg *config.Config, c *channels, x *worker.Notification) error {
	var to []mail.Address
	for _, a := range x.To {
		if addr, err := registration.ParseEmail(a); err == nil {
			to = append(to, mail.Address{Address: addr})
		}
	}
	if len(to) == 0 {
		return nil
	}
	if c.mail == nil {
		n.d.in.noMailOnce.Do(func() {
			n.d.log.Warn("partner e-mails are not sent: set mail.host (SMTP) or notify.outbox")
		})
		n.count("email", "skipped")
		return nil
	}
	m := &regmail.Message{
		To: to, Subject: x.Subject, Text: x.Text, MessageID: messageID(cfg, x),
		Header: map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
	}
	// Replies reach the e-mail channel, which reads the case number in the
	// subject: a partner answers a needs-info e-mail with the details.
	if ic := cfg.Intake.Email; ic.Enabled && ic.Address != "" && x.Kind == worker.KindStatus {
		m.ReplyTo = []mail.Address{{Address: ic.Address}}
	}
	err := c.mail.Send(ctx, m)
	switch {
	case err == nil:
		n.count(c.mailKind, "ok")
		return nil
	case regmail.IsPermanent(err) || errors.Is(err, regmail.ErrInvalid):
		n.count(c.mailKind, "refused")
		n.d.log.Warn("partner e-mail refused for good", "case", x.CaseNumber, "kind", x.Kind, "err", err)
		return nil
	}
	n.count(c.mailKind, "failed")
	return fmt.Errorf("notify %s of %s by e-mail: %w", x.Kind, x.CaseNumber, err)
}

// messageID is the same for every sending of one notification, so a
// resent one is the same message to every mail system; it starts with the
// case number, so a reply to it (In-Reply-To) finds the registration.
//
// A status notification is one status change: its case, record, partner,
// new status and the decision's instant (At, kept in the worker's plan).
// It does not depend on the rendered text, which a template or public_url
// reloaded between a crash and the resend would change. Every decision is
// its own status change: approved → meeting_booked is a new message, and
// so is approved again after a decline by hand and an appeal (the partner
// is told each step) — a different At, a different id. Notifications
// without an instant (escalations, summaries kept in the state file) are
// identified by their text.
func messageID(cfg *config.Config, x *worker.Notification) string {
	h := sha256.New()
	if x.Kind == worker.KindStatus && !x.At.IsZero() {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d", x.CaseNumber, x.Kind, x.Status, x.RecordID, x.PartnerID, x.At.UnixNano())
	} else {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%s\x00%s", x.CaseNumber, x.Kind, x.Status, x.RecordID, x.PartnerID,
			x.At.UnixNano(), x.Subject, x.Text)
	}
	sum := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:15]))
	domain := "regsync.invalid"
	if a, err := regmail.ParseAddress(cfg.Mail.From); err == nil {
		if dom := regmail.Domain(a.Address); dom != "" {
			domain = dom
		}
	}
	prefix := x.CaseNumber
	if !registration.ValidCaseNumber(prefix) {
		prefix = "regsync"
	}
	return prefix + "." + x.Kind + "-" + sum + "@" + domain
}

// slack posts a status change to the Slack thread of a registration made
// in Slack, and sends the submitter the status link by direct message (it
// is never posted in the channel: see islack.PostStatus). Each part is
// remembered once made, so a retry after the other failed does not repeat
// it.
func (n *notifier) slack(ctx context.Context, c *channels, x *worker.Notification) error {
	if c.slack == nil || n.d.db == nil || x.CaseNumber == "" {
		return nil
	}
	or := origins{n.d}
	so, ok, err := or.get(x.CaseNumber)
	if err != nil || !ok {
		return err
	}
	mark := string(x.Status) + "@" + x.At.UTC().Format(time.RFC3339Nano)
	rc := intake.Receipt{ID: x.RecordID, CaseNumber: x.CaseNumber, Status: x.Status, Reason: x.Reason, Message: x.Message,
		Missing: x.Missing, HoldUntil: x.HoldUntil, MeetingDue: x.MeetingDue, StatusURL: x.StatusURL}
	if so.Posted != mark {
		o, err := c.slack.PostStatus(ctx, so.Origin, rc, x.CompanyName)
		if err != nil {
			return n.slackFailed(x, "slack status post", err)
		}
		n.count("slack", "ok")
		so.Origin, so.Posted = o, mark
		if err := or.put(x.CaseNumber, so); err != nil {
			n.d.log.Warn("remember the slack thread", "case", x.CaseNumber, "err", err)
		}
	}
	if so.Linked != mark && !so.Private && x.StatusURL != "" {
		o, err := c.slack.SendStatusLink(ctx, so.Origin, rc, x.CompanyName)
		if err != nil {
			return n.slackFailed(x, "slack status link", err)
		}
		n.count("slack", "ok")
		so.Origin, so.Linked = o, mark
		if err := or.put(x.CaseNumber, so); err != nil {
			n.d.log.Warn("remember the slack thread", "case", x.CaseNumber, "err", err)
		}
	}
	return nil
}

// slackFailed counts a failed Slack call and returns it when it is worth
// retrying; one that is not is logged.
func (n *notifier) slackFailed(x *worker.Notification, what string, err error) error {
	if retryableSlack(err) {
		n.count("slack", "failed")
		return fmt.Errorf("notify %s in Slack: %w", x.CaseNumber, err)
	}
	n.count("slack", "refused")
	n.d.log.Warn(what+" refused for good", "case", x.CaseNumber, "err", err)
	return nil
}

// retryableSlack tells a failure that may pass (Slack's rate limit, a
// network error, a 5xx) from one that will not (the channel and the user
// are gone, the token was revoked).
func retryableSlack(err error) bool {
	var rl *slack.RateLimitedError
	var ne net.Error
	var se slack.StatusCodeError
	switch {
	case errors.As(err, &rl), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &se):
		return se.Code >= 500
	}
	return false
}

// webhook posts an AE message — an SLA escalation, a registration sent to
// review or appealed — to notify.slack_webhook_url. Everything in it but
// regsync's own status link is text (company and partner names, the
// reason, an escalation's rendered subject and text) and is escaped for
// Slack, so a company named "<!channel>" pings no one.
func (n *notifier) webhook(ctx context.Context, cfg *config.Config, x *worker.Notification) error {
	url := cfg.Notify.SlackWebhookURL.Reveal()
	if url == "" {
		return nil
	}
	esc := islack.Escape
	text := "*" + esc(x.Subject) + "*\n" + esc(x.Text)
	if x.Kind == worker.KindStatus {
		// The partner's e-mail is not the AE's message.
		what := "needs a review"
		if x.Status == registration.StatusAppealed {
			what = "was appealed by the partner"
		}
		partner := x.PartnerID
		if p := cfg.Policy; p != nil {
			if pt, ok := p.Partner(x.PartnerID); ok && pt.Name != "" {
				partner = pt.Name
			}
		}
		text = fmt.Sprintf("*Partner registration %s %s*\n%s registered %s (reason: %s). It is waiting in the CRM for an AE.",
			esc(x.CaseNumber), what, esc(partner), esc(firstNonEmptyString(x.CompanyName, "a prospect")), esc(x.Reason))
	}
	if x.StatusURL != "" {
		text += "\n<" + x.StatusURL + "|Partner's status page>"
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: slack webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		n.count("slack_webhook", "failed")
		// The URL is a secret: say which notification failed, not where to.
		return fmt.Errorf("notify %s of %s to notify.slack_webhook_url: %w", x.Kind, x.CaseNumber, errors.Unwrap(err))
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		n.count("slack_webhook", "failed")
		return fmt.Errorf("notify %s of %s to notify.slack_webhook_url: answered %d", x.Kind, x.CaseNumber, resp.StatusCode)
	}
	n.count("slack_webhook", "ok")
	return nil
}

func firstNonEmptyString(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
