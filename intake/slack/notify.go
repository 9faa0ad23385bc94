package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/intake"
)

// PostStatus posts a status change of a registration to the Slack channel
// it came from: the first post starts a thread, later ones reply in it. It
// returns the origin with ThreadTS (and, when the app could not post in the
// channel and fell back to a direct message to the user, ChannelID) set;
// the daemon stores it for the next change. company names the prospect in
// the message. A *slack.RateLimitedError (or a network failure) is worth
// retrying; Slack refusing the channel and the user alike is not.
func (h *Handler) PostStatus(ctx context.Context, o Origin, rc intake.Receipt, company string) (Origin, error) {
	text := statusText(rc, company)
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if o.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(o.ThreadTS))
	}
	ch, ts, err := h.api.PostMessageContext(ctx, o.ChannelID, opts...)
	if err != nil && o.ChannelID != o.UserID && o.UserID != "" && isChannelError(err) {
		// The app is not in the channel (or it is gone): tell the user
		// directly, and keep that thread.
		ch, ts, err = h.api.PostMessageContext(ctx, o.UserID, slack.MsgOptionText(text, false))
		if err == nil {
			o.ChannelID, o.ThreadTS = ch, ""
		}
	}
	if err != nil {
		return o, fmt.Errorf("slack: post status of %s: %w", rc.CaseNumber, err)
	}
	if o.ThreadTS == "" {
		o.ThreadTS = ts
	}
	if o.ChannelID == "" {
		o.ChannelID = ch
	}
	return o, nil
}

func isChannelError(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "not_in_channel", "channel_not_found", "is_archived", "restricted_action", "ekm_access_denied":
			return true
		}
	}
	switch err.Error() {
	case "not_in_channel", "channel_not_found", "is_archived":
		return true
	}
	return false
}

// statusText is a status change as posted to Slack.
func statusText(rc intake.Receipt, company string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", rc.CaseNumber)
	if company != "" {
		b.WriteString(" (" + Escape(company) + ")")
	}
	b.WriteString(": " + intake.StatusLabel(rc.Status) + "\n")
	if m := strings.TrimSpace(rc.Message); m != "" {
		b.WriteString(Escape(m) + "\n")
	} else if n := intake.NextSteps(rc.Status, rc.HoldUntil, rc.MeetingDue, time.Time{}); n != "" {
		b.WriteString(n + "\n")
	}
	if rc.StatusURL != "" {
		b.WriteString("<" + rc.StatusURL + "|Status and next steps>")
	}
	return strings.TrimSpace(b.String())
}
