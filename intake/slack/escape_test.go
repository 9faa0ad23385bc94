package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/slack/slacktest"
	"github.com/regsync/regsync/registration"
)

// Partner text in the channel's own messages is escaped: what a partner
// types cannot mention a channel or a user or disguise a link.

// loopback serves the channel's handlers over HTTP on loopback, as Slack
// reaches them.
func loopback(t *testing.T, h *Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST "+CommandsPath, h.Commands())
	mux.Handle("POST "+InteractionsPath, h.Interactions())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// post sends a request signed as Slack signs it and returns the answer.
func post(t *testing.T, srv *httptest.Server, path string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range slacktest.Sign(signing, body, time.Now()) {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slowRegistrar registers after a delay (longer than AnswerWithin), so the
// channel answers "registering…" first and the result later.
type slowRegistrar struct {
	delay time.Duration
	mu    sync.Mutex
	subs  []intake.Submission
}

func (s *slowRegistrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	s.subs = append(s.subs, subs...)
	s.mu.Unlock()
	out := make([]intake.Receipt, len(subs))
	for i, sub := range subs {
		out[i] = intake.Receipt{CaseNumber: sub.Record.CaseNumber, Status: registration.StatusInReview, Created: true,
			Message: "An AE reviews " + sub.Record.CompanyName + ".", StatusURL: "https://partners.example.com/r/tok"}
	}
	return out, nil
}

func (s *slowRegistrar) Lookup(context.Context, string) (registration.Record, error) {
	return registration.Record{}, intake.ErrNotFound
}

func (s *slowRegistrar) Amend(context.Context, string, intake.Amendment) (intake.Receipt, error) {
	return intake.Receipt{}, intake.ErrNotFound
}

func (s *slowRegistrar) StatusURL(string) string { return "https://partners.example.com/r/tok" }

// evilCompany is what an attacker names the prospect.
const evilCompany = `Globex <!channel> <@U0ADMIN> <https://evil.example/login|https://partners.vendor.example> & Co`

const evilShown = `Globex &lt;!channel&gt; &lt;@U0ADMIN&gt; &lt;https://evil.example/login|https://partners.vendor.example&gt; &amp; Co`

// assertEscaped checks a Slack text: no control sequence but regsync's own
// status link, and the partner's text shown as typed.
func assertEscaped(t *testing.T, what, text, shown string) {
	t.Helper()
	rest := strings.ReplaceAll(text, "<https://partners.example.com/r/tok|Status and next steps>", "")
	if strings.ContainsAny(rest, "<>") || !strings.Contains(text, shown) {
		t.Errorf("%s: partner text not escaped:\n%s", what, text)
	}
}

// A slash command whose key is markup: the refusal quotes it escaped.
func TestCommandAnswersEscapePartnerText(t *testing.T) {
	h, api, _ := setup(t)
	srv := loopback(t, h)
	code, body := post(t, srv, CommandsPath, command(api, "U1", `<!here|here>=1 company=Globex`))
	var m message
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.ResponseType != "ephemeral" {
		t.Fatalf("%d %s", code, body)
	}
	assertEscaped(t, "refusal", m.Text, `&lt;!here|here&gt;: unknown field "&lt;!here|here&gt;"`)
}

// A registration slower than Slack's three seconds: the "registering…"
// answer, the late answer and the modal's answers name the company
// escaped.
func TestSlowAnswersEscapeTheCompany(t *testing.T) {
	h, api, _ := setup(t)
	reg := &slowRegistrar{delay: 300 * time.Millisecond}
	h.o.Registrar, h.o.AnswerWithin = reg, 50*time.Millisecond
	srv := loopback(t, h)
	text := `company="` + evilCompany + `" domain=globex.example contact=Hank email=hank@globex.example problem=x consent=yes`
	code, body := post(t, srv, CommandsPath, command(api, "U1", text))
	var m message
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	assertEscaped(t, "registering answer", m.Text, "Registering "+evilShown+"…")
	h.Wait()
	resps := api.Responses()
	if len(resps) != 1 {
		t.Fatalf("late answers %v", resps)
	}
	assertEscaped(t, "late answer", resps[0]["text"].(string), "An AE reviews "+evilShown+".")

	// The modal, as slow.
	values := map[string]string{"company_name": evilCompany, "company_domain": "globex.example", "contact_name": "Hank",
		"contact_email": "hank@globex.example", "problem": "x"}
	code, body = post(t, srv, InteractionsPath, interaction(t, submission("U1", values, true)))
	if code != 200 || !strings.Contains(body, `"response_action":"update"`) {
		t.Fatalf("%d %s", code, body)
	}
	var view struct {
		View struct {
			Blocks []struct {
				Text struct{ Text string } `json:"text"`
			} `json:"blocks"`
		} `json:"view"`
	}
	if err := json.Unmarshal([]byte(body), &view); err != nil || len(view.View.Blocks) != 1 {
		t.Fatalf("modal answer %s", body)
	}
	assertEscaped(t, "modal answer", view.View.Blocks[0].Text.Text, "Registering *"+evilShown+"*…")
	h.Wait()
	var late []string
	for _, msg := range api.Messages() {
		late = append(late, msg.Text)
	}
	if len(late) != 1 {
		t.Fatalf("late modal answers %q", late)
	}
	assertEscaped(t, "late modal answer", late[0], "An AE reviews "+evilShown+".")
}
