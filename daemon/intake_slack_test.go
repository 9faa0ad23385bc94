package daemon

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/intake/slack/slacktest"
)

var reSlackCase = regexp.MustCompile(`\*(R-[0-9A-Z]{10})\*`)

func slashCommand(user, text, trigger string) []byte {
	return []byte(url.Values{
		"token": {"legacy"}, "team_id": {"T1"}, "team_domain": {"northwind"}, "channel_id": {"C-deals"}, "channel_name": {"deals"},
		"user_id": {user}, "user_name": {"sam"}, "command": {"/register"}, "text": {text},
		"response_url": {"http://127.0.0.1:1/unused"}, "trigger_id": {trigger}, "api_app_id": {"A1"},
	}.Encode())
}

// /register with text registers at once and answers ephemerally; when an
// AE later approves it in the CRM, the change is posted in the Slack
// channel (one thread; the status link goes to the submitter by direct
// message) and e-mailed to the partner.
func TestIntakeSlackCommandAndLaterStatus(t *testing.T) {
	r := startRig(t, rigOpts{})
	text := `company="Initrode Global" domain=initrode.example contact="Bill Lumbergh" email=bill@initrode.example role=VP problem="TPS reports by hand" consent=yes`
	code, body := r.slackPost(islack.CommandsPath, slashCommand("U1", text, "1111.2222.aaaa"), rigSlackSecret)
	var ans struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &ans); code != 200 || err != nil || ans.ResponseType != "ephemeral" {
		t.Fatalf("%d %s", code, body)
	}
	m := reSlackCase.FindStringSubmatch(ans.Text)
	if m == nil || !strings.Contains(ans.Text, r.base+"/r/") || !strings.Contains(ans.Text, "In review") {
		t.Fatalf("answer %q", ans.Text)
	}
	cn := m[1]
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	if rec["source"] != "slack" || rec["partner_id"] != "northwind" || rec["partner_email"] != "sam@northwind.example" || rec["contact_email"] != "bill@initrode.example" {
		t.Errorf("record %v", rec)
	}
	r.settle(5 * time.Second)
	if n := len(r.slack.Messages()); n != 0 {
		t.Errorf("%d Slack posts for a first decision the command answered", n)
	}

	// An AE approves it in the CRM.
	r.crm.Update(t, rec["id"], map[string]string{"status": "approved"})
	rec = r.waitField(cn, "hold_until", 5*time.Second) // the worker follows the approval through
	if rec["status"] != "approved" || rec["status_reason"] != "manual" {
		t.Errorf("after the AE's approval: %v", rec)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.slack.Messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	msgs := channelPosts(r, "C-deals")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, cn) || !strings.Contains(msgs[0].Text, "Approved") {
		t.Fatalf("slack posts %+v", r.slack.Messages())
	}
	mail := r.mailTo("sam@northwind.example", cn, 5*time.Second)
	if !strings.Contains(mail.Envelope.Text, "approved") || mail.Header("Reply-To") != rigIntakeAddr {
		t.Errorf("status e-mail %q reply-to %q:\n%s", mail.Header("Subject"), mail.Header("Reply-To"), mail.Envelope.Text)
	}

	// A second change goes into the same thread.
	r.settle(5 * time.Second)
	r.crm.Update(t, rec["id"], map[string]string{"status": "withdrawn"})
	r.waitCase(cn, 5*time.Second, "withdrawn")
	deadline = time.Now().Add(5 * time.Second)
	for len(r.slack.Messages()) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	msgs = channelPosts(r, "C-deals")
	if len(msgs) != 2 || msgs[1].ThreadTS != msgs[0].TS {
		t.Errorf("second post not in the thread: %+v", r.slack.Messages())
	}
	if dms := channelPosts(r, "D1"); len(dms) != 2 {
		t.Errorf("%d direct messages with the status link, want one per change: %+v", len(dms), dms)
	}
}

// channelPosts are the messages posted in a channel.
func channelPosts(r *rig, channel string) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range r.slack.Messages() {
		if m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

func modalSubmission(user, viewID string, values map[string]string) []byte {
	state := map[string]any{}
	for k, v := range values {
		state[k] = map[string]any{"value": map[string]any{"type": "plain_text_input", "value": v}}
	}
	state["consent"] = map[string]any{"value": map[string]any{"type": "checkboxes",
		"selected_options": []any{map[string]any{"value": "yes", "text": map[string]any{"type": "plain_text", "text": "yes"}}}}}
	b, _ := json.Marshal(map[string]any{
		"type": "view_submission", "team": map[string]any{"id": "T1"}, "user": map[string]any{"id": user},
		"view": map[string]any{"id": viewID, "callback_id": islack.CallbackID, "private_metadata": `{"c":"C-deals","t":"T1"}`,
			"state": map[string]any{"values": state}},
	})
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

// /register alone opens the modal (views.open at the Slack fake); its
// submission registers and the modal shows the case number.
func TestIntakeSlackModal(t *testing.T) {
	r := startRig(t, rigOpts{})
	code, body := r.slackPost(islack.CommandsPath, slashCommand("U1", "", "3333.4444.bbbb"), rigSlackSecret)
	if code != 200 || strings.TrimSpace(body) != "" {
		t.Fatalf("/register: %d %q", code, body)
	}
	views := r.slack.Views()
	if len(views) != 1 || views[0].TriggerID != "3333.4444.bbbb" || views[0].View["callback_id"] != islack.CallbackID {
		t.Fatalf("views.open %+v", views)
	}
	values := map[string]string{"company_name": "Vandelay Industries", "company_domain": "vandelay.example", "contact_name": "Art Vandelay",
		"contact_email": "art@vandelay.example", "problem": "Imports and exports tracked on paper.", "contact_role": "Owner"}
	code, body = r.slackPost(islack.InteractionsPath, modalSubmission("U1", "V-modal-1", values), rigSlackSecret)
	var resp slack.ViewSubmissionResponse
	if err := json.Unmarshal([]byte(body), &resp); code != 200 || err != nil || resp.ResponseAction != slack.RAUpdate {
		t.Fatalf("%d %s", code, body)
	}
	m := reSlackCase.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("modal answer without a case number: %s", body)
	}
	rec := r.waitCase(m[1], 5*time.Second, "in_review")
	if rec["source"] != "slack" || rec["company_name"] != "Vandelay Industries" || rec["consent"] != "true" {
		t.Errorf("record %v", rec)
	}
	// Slack retries the submission: still one record.
	before := r.records()
	r.slackPost(islack.InteractionsPath, modalSubmission("U1", "V-modal-1", values), rigSlackSecret)
	if r.records() != before {
		t.Error("a repeated modal submission made a record")
	}
}

// A forged or stale signature gets 401 and changes nothing; a Slack user
// of no partner is told so, ephemerally.
func TestIntakeSlackRefusals(t *testing.T) {
	r := startRig(t, rigOpts{})
	before := r.records()
	text := `company=Globex domain=globex.example contact=Hank email=hank@globex.example problem=x consent=yes`
	if code, body := r.slackPost(islack.CommandsPath, slashCommand("U1", text, "5.5.5"), "not-the-secret"); code != 401 || !strings.Contains(body, "signature") {
		t.Errorf("forged: %d %s", code, body)
	}
	if code, _ := r.slackPost(islack.InteractionsPath, modalSubmission("U1", "V-forged", map[string]string{"company_name": "X"}), "forged"); code != 401 {
		t.Errorf("forged interaction: %d", code)
	}
	// Stale: signed six minutes ago.
	b := slashCommand("U1", text, "6.6.6")
	hdr := map[string]string{}
	for k, v := range slacktestSign(rigSlackSecret, b, time.Now().Add(-6*time.Minute)) {
		hdr[k] = v[0]
	}
	if resp, body := r.do("POST", islack.CommandsPath, "", strings.NewReader(string(b)), hdr); resp.StatusCode != 401 || !strings.Contains(string(body), "older than five minutes") {
		t.Errorf("stale: %d %s", resp.StatusCode, body)
	}
	code, body := r.slackPost(islack.CommandsPath, slashCommand("U9", text, "7.7.7"), rigSlackSecret)
	if code != 200 || !strings.Contains(body, "not at a partner of our program") {
		t.Errorf("not a partner: %d %s", code, body)
	}
	if r.records() != before {
		t.Errorf("refused Slack requests made records: %d → %d", before, r.records())
	}
}

// The status link opens the registration without a login (its details,
// withdraw, appeal): a later status change is posted in the shared
// channel's thread without it, and the link goes to the submitter alone,
// by direct message.
func TestIntakeSlackStatusLinkStaysOutOfTheChannel(t *testing.T) {
	r := startRig(t, rigOpts{})
	text := `company="Initrode Global" domain=initrode.example contact="Bill Lumbergh" email=bill@initrode.example role=VP problem="TPS reports by hand" consent=yes`
	code, body := r.slackPost(islack.CommandsPath, slashCommand("U1", text, "8888.9999.cccc"), rigSlackSecret)
	m := reSlackCase.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("%d %s", code, body)
	}
	cn := m[1]
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	r.settle(5 * time.Second)
	r.crm.Update(t, rec["id"], map[string]string{"status": "approved"})
	r.waitField(cn, "hold_until", 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(r.slack.Messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.settle(5 * time.Second)
	var inChannel, direct []string
	for _, msg := range r.slack.Messages() {
		switch {
		case msg.Method != "chat.postMessage":
			t.Errorf("unexpected %s: %+v", msg.Method, msg)
		case msg.Channel == "C-deals":
			inChannel = append(inChannel, msg.Text)
		case msg.Channel == "D1": // the app's direct message with U1
			direct = append(direct, msg.Text)
		default:
			t.Errorf("a post in %s: %q", msg.Channel, msg.Text)
		}
	}
	if len(inChannel) != 1 || !strings.Contains(inChannel[0], cn) || !strings.Contains(inChannel[0], "Approved") {
		t.Fatalf("channel posts %q", inChannel)
	}
	if strings.Contains(inChannel[0], "/r/") {
		t.Errorf("the status link was posted in the shared channel:\n%s", inChannel[0])
	}
	if len(direct) != 1 || !strings.Contains(direct[0], cn) || !strings.Contains(direct[0], r.base+"/r/") {
		t.Errorf("direct messages to the submitter %q, want one with the status link", direct)
	}
}
