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

// Status changes go back to Slack in two parts, because the status link
// is a login-free key to the registration (anyone holding it sees the
// prospect's details and can withdraw or appeal): PostStatus tells the
// channel the registration came from, in one thread, without the link;
// SendStatusLink tells the partner who registered it, by direct message,
// with the link. Neither escapes a Slack-formatted link from partner text
// (see Escape).

// PostStatus posts a status change of a registration to the Slack channel
// it came from: the first post starts a thread, later ones reply in it.
// The post carries no status link (SendStatusLink sends that), except in a
// thread that is the app's direct message with the submitter (Private). It
// returns the origin with ThreadTS (and, when the app could not post in
// the channel and fell back to a direct message to the user, ChannelID and
// Private) set; the daemon stores it for the next change. company names
// the prospect in the message. A *slack.RateLimitedError (or a network
// failure) is worth retrying; Slack refusing the channel and the user
// alike is not.
func (h *Handler) PostStatus(ctx context.Context, o Origin, rc intake.Receipt, company string) (Origin, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(statusText(rc, company, o.Private), false)}
	if o.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(o.ThreadTS))
	}
	ch, ts, err := h.api.PostMessageContext(ctx, o.ChannelID, opts...)
	if err != nil && o.ChannelID != o.UserID && o.UserID != "" && isChannelError(err) {
		// The app is not in the channel (or it is gone): tell the user
		// directly, link and all, and keep that thread.
		ch, ts, err = h.api.PostMessageContext(ctx, o.UserID, slack.MsgOptionText(statusText(rc, company, true), false))
		if err == nil {
			o.ChannelID, o.ThreadTS, o.Private = ch, "", true
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

// SendStatusLink sends the submitter (o.UserID) the status change with its
// status link, as a direct message from the app. Nothing is sent when the
// origin's thread is already that direct message (PostStatus carried the
// link) or there is no link. When the direct message turns out to be the
// channel the registration came from (the command was run in the app's
// own conversation), the origin comes back Private, so later changes are
// posted there once. Errors are as PostStatus's.
func (h *Handler) SendStatusLink(ctx context.Context, o Origin, rc intake.Receipt, company string) (Origin, error) {
	if o.Private || rc.StatusURL == "" || o.UserID == "" {
		return o, nil
	}
	ch, _, err := h.api.PostMessageContext(ctx, o.UserID, slack.MsgOptionText(statusText(rc, company, true), false))
	if err != nil {
		return o, fmt.Errorf("slack: send the status link of %s: %w", rc.CaseNumber, err)
	}
	if ch != "" && ch == o.ChannelID {
		o.Private = true
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

// statusText is a status change as posted to Slack; with link, it ends
// with the status link (for the submitter's eyes only), else it says where
// the link went.
func statusText(rc intake.Receipt, company string, link bool) string {
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
	switch {
	case rc.StatusURL == "":
	case link:
		b.WriteString("<" + rc.StatusURL + "|Status and next steps>")
	default:
		b.WriteString("_The status link was sent to the partner who registered it, by direct message._")
	}
	return strings.TrimSpace(b.String())
}
