package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/intake"
	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// thread posts a status change to the Slack thread of a registration made
// in Slack, and sends the submitter the status link by direct message (it
// is never posted in the channel: see islack.PostStatus). Each part is
// remembered once made, so a retry after the other failed does not repeat
// it.
type thread struct {
	slack   func() *islack.Handler
	origins *Origins
	count   func(channel, result string)
	log     *slog.Logger
}

func (t *thread) notify(ctx context.Context, _ *config.Config, x *worker.Notification) (bool, error) {
	var h *islack.Handler
	if t.slack != nil {
		h = t.slack()
	}
	if h == nil || t.origins == nil || x.CaseNumber == "" {
		return false, nil
	}
	so, ok, err := t.origins.get(x.CaseNumber)
	if err != nil || !ok {
		return err != nil, err
	}
	mark := string(x.Status) + "@" + x.At.UTC().Format(time.RFC3339Nano)
	rc := intake.Receipt{ID: x.RecordID, CaseNumber: x.CaseNumber, Status: x.Status, Reason: x.Reason, Message: x.Message,
		Missing: x.Missing, HoldUntil: x.HoldUntil, MeetingDue: x.MeetingDue, StatusURL: x.StatusURL}
	if so.Posted != mark {
		o, err := h.PostStatus(ctx, so.Origin, rc, x.CompanyName)
		if err != nil {
			return t.failed(x, "slack status post", err)
		}
		t.count("slack", "ok")
		so.Origin, so.Posted = o, mark
		if err := t.origins.put(x.CaseNumber, so); err != nil {
			t.log.Warn("remember the slack thread", "case", x.CaseNumber, "err", err)
		}
	}
	if so.Linked != mark && !so.Private && x.StatusURL != "" {
		o, err := h.SendStatusLink(ctx, so.Origin, rc, x.CompanyName)
		if err != nil {
			return t.failed(x, "slack status link", err)
		}
		t.count("slack", "ok")
		so.Origin, so.Linked = o, mark
		if err := t.origins.put(x.CaseNumber, so); err != nil {
			t.log.Warn("remember the slack thread", "case", x.CaseNumber, "err", err)
		}
	}
	return false, nil
}

// failed counts a failed Slack call and says whether it is worth retrying.
func (t *thread) failed(x *worker.Notification, what string, err error) (bool, error) {
	if retryableSlack(err) {
		t.count("slack", "failed")
		return true, fmt.Errorf("notify %s in Slack: %w", x.CaseNumber, err)
	}
	t.count("slack", "refused")
	return false, &refusal{what: what, attrs: []any{"case", x.CaseNumber}, err: err}
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

// Origins keep where each Slack registration came from in the state
// file's Slack origins (state.DB.SlackOrigins, kept 400 days after their
// last change): the Slack channel stores them (islack.OriginStore), the
// thread notifier reads them and marks what it posted.
type Origins struct{ db *state.DB }

// NewOrigins keeps Slack origins in db.
func NewOrigins(db *state.DB) *Origins { return &Origins{db: db} }

// slackOrigin is what the state file holds about a Slack registration:
// where it came from, the last status posted there and the last status
// whose link was sent to the submitter (so a retried notification is not
// posted twice).
type slackOrigin struct {
	islack.Origin
	Posted string `json:"posted,omitempty"`
	Linked string `json:"linked,omitempty"`
}

func (o *Origins) get(caseNumber string) (slackOrigin, bool, error) {
	raw, _, err := o.db.SlackOrigins().Get(caseNumber)
	if err != nil || raw == "" {
		return slackOrigin{}, false, err
	}
	var so slackOrigin
	if err := json.Unmarshal([]byte(raw), &so); err != nil {
		return slackOrigin{}, false, fmt.Errorf("slack origin of %s: %w", caseNumber, err)
	}
	return so, true, nil
}

func (o *Origins) put(caseNumber string, so slackOrigin) error {
	b, err := json.Marshal(so)
	if err != nil {
		return err
	}
	return o.db.SlackOrigins().Put(caseNumber, string(b))
}

// Remember stores where a registration came from. A repeat (Slack
// retrying the same command) keeps the thread already started.
func (o *Origins) Remember(_ context.Context, caseNumber string, or islack.Origin) error {
	prev, ok, err := o.get(caseNumber)
	if err != nil {
		return err
	}
	if ok && prev.ChannelID == or.ChannelID && prev.TeamID == or.TeamID {
		return nil
	}
	return o.put(caseNumber, slackOrigin{Origin: or})
}
