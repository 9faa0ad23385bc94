package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/config"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/mail/mailtest"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// notifierFor builds the notifier over a configuration, with the mail
// sender the configuration names, and returns its metrics.
func notifierFor(t *testing.T, cfg *config.Config) (*metrics.Metrics, worker.Notifier) {
	t.Helper()
	m := metrics.New(nil)
	var sender regmail.Sender
	if s, err := regmail.New(cfg.Mail, "", regmail.Options{}); err == nil {
		sender = s
	} else if !errors.Is(err, regmail.ErrNotConfigured) {
		t.Fatal(err)
	}
	return m, New(cfg, Options{Config: func() *config.Config { return cfg }, Metrics: m,
		Mail: func() (regmail.Sender, string) { return sender, "smtp" }})
}

func notifyConfig(smtpPort int) *config.Config {
	cfg := config.Default()
	cfg.CRM.Kind = config.KindHubSpot
	cfg.Mail.Host, cfg.Mail.Port, cfg.Mail.TLS, cfg.Mail.From = "127.0.0.1", smtpPort, "none", "Vendor partner program <partners@vendor.example>"
	cfg.Mail.Timeout = 5 * time.Second
	cfg.Intake.Email.Enabled, cfg.Intake.Email.Address = true, "intake@vendor.example"
	return &cfg
}

func statusNote(to string) worker.Notification {
	return worker.Notification{Kind: worker.KindStatus, CaseNumber: "R-7QK2M9XBHD", RecordID: "1001", PartnerID: "northwind",
		Status: registration.StatusApproved, To: []string{to}, Subject: "[R-7QK2M9XBHD] Globex: approved",
		Text: "Approved.\n", At: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
}

// A notification sent again (the worker retrying its step) keeps its
// Message-ID; replies go to the intake address; an address the server
// refuses for good is not retried, a refusal that may pass is.
func TestNotifierMail(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Reject: func(rcpt string) error {
		switch {
		case strings.HasPrefix(rcpt, "gone@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(rcpt, "busy@"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}})
	d, n := notifierFor(t, notifyConfig(srv.Port()))
	ctx := context.Background()
	for range 2 {
		if err := n.Notify(ctx, []worker.Notification{statusNote("sam@northwind.example")}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].Header("Message-Id") != msgs[1].Header("Message-Id") {
		t.Fatalf("%d messages, ids %q", len(msgs), msgs[0].Header("Message-Id"))
	}
	m := msgs[0]
	if id := m.Header("Message-Id"); !strings.HasPrefix(id, "<R-7QK2M9XBHD.status-") || !strings.HasSuffix(id, "@vendor.example>") {
		t.Errorf("Message-ID %q: the case number first (replies find it), the sender's domain", id)
	}
	if m.Header("Reply-To") != "intake@vendor.example" || m.Header("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers: Reply-To %q Auto-Submitted %q", m.Header("Reply-To"), m.Header("Auto-Submitted"))
	}
	// Another decision to the same status is another message.
	other := statusNote("sam@northwind.example")
	other.At = other.At.Add(time.Hour)
	if err := n.Notify(ctx, []worker.Notification{other}); err != nil {
		t.Fatal(err)
	}
	if id := srv.Messages()[2].Header("Message-Id"); id == m.Header("Message-Id") {
		t.Error("a later decision reused the Message-ID")
	}
	if err := n.Notify(ctx, []worker.Notification{statusNote("gone@northwind.example")}); err != nil {
		t.Errorf("a permanent refusal was returned for retrying: %v", err)
	}
	if err := n.Notify(ctx, []worker.Notification{statusNote("busy@northwind.example")}); err == nil {
		t.Error("a temporary refusal was swallowed")
	}
	if got := testutil.ToFloat64(d.Notifications.WithLabelValues("smtp", "refused")); got != 1 {
		t.Errorf("refused counter %v", got)
	}
	if got := testutil.ToFloat64(d.Notifications.WithLabelValues("smtp", "ok")); got != 3 {
		t.Errorf("ok counter %v", got)
	}
}

// Without a mail server nothing is sent and nothing fails; with
// notify.enabled off there is no notifier.
func TestNotifierWithoutMail(t *testing.T) {
	cfg := notifyConfig(1)
	cfg.Mail.Host = ""
	d, n := notifierFor(t, cfg)
	if err := n.Notify(context.Background(), []worker.Notification{statusNote("sam@northwind.example")}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(d.Notifications.WithLabelValues("email", "skipped")); got != 1 {
		t.Errorf("skipped counter %v", got)
	}
	cfg.Notify.Enabled = false
	if _, n := notifierFor(t, cfg); n != nil {
		t.Error("a notifier with notify.enabled false")
	}
}

// SLA escalations go to notify.slack_webhook_url too; a failing webhook
// is retried and its URL (a secret) never appears in the error.
func TestNotifierEscalationWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]string
	fail := false
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]string
		_ = json.NewDecoder(r.Body).Decode(&v)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got = append(got, v)
	}))
	t.Cleanup(hook.Close)
	posts := func() []map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]string(nil), got...)
	}
	cfg := notifyConfig(1)
	cfg.Mail.Host = ""
	cfg.Notify.SlackWebhookURL = secret.New(hook.URL + "/services/T000/B000/secretpart")
	_, n := notifierFor(t, cfg)
	esc := worker.Notification{Kind: worker.KindEscalation, CaseNumber: "R-7QK2M9XBHD", Subject: "[R-7QK2M9XBHD] SLA missed: Northwind's registration of Globex",
		Text: "It has waited past its answer deadline.\n", StatusURL: "https://partners.example/r/x"}
	if err := n.Notify(context.Background(), []worker.Notification{esc}); err != nil {
		t.Fatal(err)
	}
	if p := posts(); len(p) != 1 || !strings.Contains(p[0]["text"], "SLA missed") || !strings.Contains(p[0]["text"], "https://partners.example/r/x") {
		t.Errorf("webhook got %v", p)
	}
	// An approval is the partner's news, not an AE message.
	if err := n.Notify(context.Background(), []worker.Notification{statusNote("sam@northwind.example")}); err != nil || len(posts()) != 1 {
		t.Errorf("an approval went to the AE webhook: %v %v", err, posts())
	}
	// A registration sent to review is: the AE's message, not the partner's e-mail.
	review := statusNote("sam@northwind.example")
	review.Status, review.Reason = registration.StatusInReview, "possible_duplicate"
	if err := n.Notify(context.Background(), []worker.Notification{review}); err != nil {
		t.Fatal(err)
	}
	if p := posts(); len(p) != 2 || !strings.Contains(p[1]["text"], "needs a review") ||
		!strings.Contains(p[1]["text"], "possible_duplicate") || strings.Contains(p[1]["text"], "Hello") {
		t.Errorf("review post: %v", p)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	err := n.Notify(context.Background(), []worker.Notification{esc})
	if err == nil || strings.Contains(err.Error(), "secretpart") {
		t.Errorf("failing webhook: %v", err)
	}
}
