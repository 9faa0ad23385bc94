package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/regsync/regsync/config"
	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// webhook posts an AE message — an SLA escalation, a registration sent to
// review or appealed — to notify.slack_webhook_url. Everything in it but
// regsync's own status link is text (company and partner names, the
// reason, an escalation's rendered subject and text) and is escaped for
// Slack, so a company named "<!channel>" pings no one. Every failure may
// pass: the URL was accepted when it was configured.
type webhook struct {
	http  *http.Client
	count func(channel, result string)
}

func (w *webhook) notify(ctx context.Context, cfg *config.Config, x *worker.Notification) (bool, error) {
	url := cfg.Notify.SlackWebhookURL.Reveal()
	if url == "" {
		return false, nil
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
		company := x.CompanyName
		if company == "" {
			company = "a prospect"
		}
		text = fmt.Sprintf("*Partner registration %s %s*\n%s registered %s (reason: %s). It is waiting in the CRM for an AE.",
			esc(x.CaseNumber), what, esc(partner), esc(company), esc(x.Reason))
	}
	if x.StatusURL != "" {
		text += "\n<" + x.StatusURL + "|Partner's status page>"
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return true, fmt.Errorf("notify: slack webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		w.count("slack_webhook", "failed")
		// The URL is a secret: say which notification failed, not where to.
		return true, fmt.Errorf("notify %s of %s to notify.slack_webhook_url: %w", x.Kind, x.CaseNumber, errors.Unwrap(err))
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		w.count("slack_webhook", "failed")
		return true, fmt.Errorf("notify %s of %s to notify.slack_webhook_url: answered %d", x.Kind, x.CaseNumber, resp.StatusCode)
	}
	w.count("slack_webhook", "ok")
	return false, nil
}
