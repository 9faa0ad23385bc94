package notify

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"

	"github.com/regsync/regsync/config"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// email sends a notification to its addresses: over SMTP (mail.host) or
// into an outbox directory (notify.outbox; the sandbox's default).
type email struct {
	mail       func() (regmail.Sender, string)
	count      func(channel, result string)
	log        *slog.Logger
	noMailOnce sync.Once
}

func (e *email) notify(ctx context.Context, cfg *config.Config, x *worker.Notification) (bool, error) {
	var to []mail.Address
	for _, a := range x.To {
		if addr, err := registration.ParseEmail(a); err == nil {
			to = append(to, mail.Address{Address: addr})
		}
	}
	if len(to) == 0 {
		return false, nil
	}
	var sender regmail.Sender
	kind := ""
	if e.mail != nil {
		sender, kind = e.mail()
	}
	if sender == nil {
		e.noMailOnce.Do(func() {
			e.log.Warn("partner e-mails are not sent: set mail.host (SMTP) or notify.outbox")
		})
		e.count("email", "skipped")
		return false, nil
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
	err := sender.Send(ctx, m)
	switch {
	case err == nil:
		e.count(kind, "ok")
		return false, nil
	case regmail.IsPermanent(err) || errors.Is(err, regmail.ErrInvalid):
		e.count(kind, "refused")
		return false, &refusal{what: "partner e-mail", attrs: []any{"case", x.CaseNumber, "kind", x.Kind}, err: err}
	}
	e.count(kind, "failed")
	return true, fmt.Errorf("notify %s of %s by e-mail: %w", x.Kind, x.CaseNumber, err)
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
