package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/notify"
	"github.com/regsync/regsync/worker"
)

// Partner text in Slack messages and HubSpot engagements is text: Slack's
// control sequences (<!channel>, <@U…>, <url|label>) and HTML (<script>,
// <img onerror>) in a company name are shown, never acted on.

// markup is a company name an attacker registers.
const markup = `<!channel> Acme <@U0ADMIN> <https://evil.example/login|https://partners.vendor.example> <img src=x onerror=alert(1)><script>alert(1)</script> & Co`

// webhookFake is an incoming-webhook endpoint recording the texts posted.
type webhookFake struct {
	*httptest.Server
	mu    sync.Mutex
	texts []string
}

func startWebhook(t *testing.T) *webhookFake {
	w := &webhookFake{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var v map[string]string
		_ = json.NewDecoder(r.Body).Decode(&v)
		w.mu.Lock()
		w.texts = append(w.texts, v["text"])
		w.mu.Unlock()
		_, _ = rw.Write([]byte("ok"))
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookFake) Texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.texts...)
}

// reOwnLink is the one link regsync itself puts in an AE post.
var reOwnLink = regexp.MustCompile(`<https?://[^|<>]+/r/[^|<>]+\|Partner's status page>`)

// assertSlackText checks that a Slack text holds no control sequence but
// regsync's own status link, and shows the markup escaped.
func assertSlackText(t *testing.T, what, text string) {
	t.Helper()
	rest := reOwnLink.ReplaceAllString(text, "")
	if strings.ContainsAny(rest, "<>") {
		t.Errorf("%s: partner text went into Slack unescaped:\n%s", what, text)
	}
	if !strings.Contains(text, "&lt;!channel&gt; Acme &lt;@U0ADMIN&gt; &lt;https://evil.example/login|https://partners.vendor.example&gt;") ||
		!strings.Contains(text, "&amp; Co") {
		t.Errorf("%s: the company name is not shown as written:\n%s", what, text)
	}
}

// A company name full of markup, registered on a partner's HubSpot form
// (a form has no answer of its own: the AE channel hears of it), goes to
// review: the AE channel's post shows it as text, and the AE task and the
// audit note in HubSpot (HTML bodies) hold it escaped, their regsync-key
// line intact.
func TestIntakeMarkupInACompanyNameIsText(t *testing.T) {
	hook := startWebhook(t)
	r := startRig(t, rigOpts{formPoll: 100 * time.Millisecond, webhook: hook.URL + "/services/T0/B0/secret"})
	v := func(name, value string) hubspottest.FormValue { return hubspottest.FormValue{Name: name, Value: value} }
	r.fake.hs.AddFormSubmission(rigFormGUID, hubspottest.FormSubmission{PageURL: "https://www.northwind.example/register",
		Values: []hubspottest.FormValue{v("firstname", "Dana"), v("lastname", "Scully"), v("email", "dana@acme-labs.example"),
			v("company", markup), v("website", "acme-labs.example"), v("message", "Evidence tracking is manual."),
			v("LEGAL_CONSENT.subscription_type_1", "true"), v("partner_id", "northwind"), v("partner_email", "sam@northwind.example")}})
	deadline := time.Now().Add(5 * time.Second)
	for r.records() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	recs := r.fake.hs.Records(r.fake.typeID)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	rec := r.waitCase(r.crm.Get(t, recs[0].ID)["case_number"], 5*time.Second, "in_review")
	rec["id"] = recs[0].ID
	if rec["company_name"] != markup {
		t.Fatalf("company_name stored as %q", rec["company_name"])
	}
	r.settle(5 * time.Second)
	texts := hook.Texts()
	if len(texts) == 0 {
		t.Fatal("no post in the AE channel for a registration sent to review")
	}
	for _, text := range texts {
		assertSlackText(t, "AE webhook", text)
	}

	for _, kind := range []string{"tasks", "notes"} {
		prop := map[string]string{"tasks": "hs_task_body", "notes": "hs_note_body"}[kind]
		ids := r.crm.Linked(t, rec["id"], kind)
		if len(ids) == 0 {
			t.Fatalf("no %s on the registration", kind)
		}
		for _, id := range ids {
			o, _ := r.fake.hs.GetRecord(kind, id)
			body := o.Properties[prop]
			for _, tag := range []string{"<script", "<img", "<https", "<!channel", "<@"} {
				if strings.Contains(body, tag) {
					t.Errorf("%s %s: %s holds live markup %q:\n%s", kind, id, prop, tag, body)
				}
			}
			if len(connectors.MarkedKeys(body)) != 1 {
				t.Errorf("%s %s: the regsync-key line is not readable:\n%s", kind, id, body)
			}
			if kind == "tasks" && !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co") {
				t.Errorf("task %s: the company name is not shown as written:\n%s", id, body)
			}
		}
	}
}

// SLA escalations and review posts name the company and the partner: the
// AE channel's post shows them as text.
func TestNotifierWebhookEscapesPartnerText(t *testing.T) {
	hook := startWebhook(t)
	cfg := config.Default()
	cfg.Notify.SlackWebhookURL = secret.New(hook.URL + "/services/T0/B0/secret")
	n := notify.New(&cfg, notify.Options{Config: func() *config.Config { return &cfg }})
	esc := worker.Notification{Kind: worker.KindEscalation, CaseNumber: "R-7QK2M9XBHD",
		Subject:   "[R-7QK2M9XBHD] SLA missed: northwind's registration of " + markup,
		Text:      "northwind's registration R-7QK2M9XBHD of " + markup + " (acme.example) has waited past its answer deadline.\n",
		StatusURL: "https://partners.example/r/x"}
	review := worker.Notification{Kind: worker.KindStatus, CaseNumber: "R-7QK2M9XBHD", RecordID: "1001", PartnerID: "northwind",
		To: []string{"sam@northwind.example"}, Subject: "[R-7QK2M9XBHD] Globex: in review", Text: "In review.\n"}
	review.Status, review.Reason, review.CompanyName, review.StatusURL = "in_review", "possible_duplicate", markup, "https://partners.example/r/y"
	if err := n.Notify(context.Background(), []worker.Notification{esc, review}); err != nil {
		t.Fatal(err)
	}
	texts := hook.Texts()
	if len(texts) != 2 {
		t.Fatalf("%d posts, want 2: %q", len(texts), texts)
	}
	for i, text := range texts {
		assertSlackText(t, []string{"escalation", "review"}[i], text)
	}
}
