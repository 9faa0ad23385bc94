package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/slack/slacktest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

const signing = "slack-signing-secret"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T) (*Handler, *slacktest.Server, *clock) {
	t.Helper()
	api := slacktest.Start(t, "xoxb-test-token")
	api.AddUser(slacktest.User{ID: "U1", TeamID: "T1", Email: "sam@northwind.example", RealName: "Sam Carter"})
	api.AddUser(slacktest.User{ID: "U2", TeamID: "T1", Email: "eve@evil.example", RealName: "Eve"})
	api.AddUser(slacktest.User{ID: "U3", TeamID: "T1", Email: "", RealName: "No Mail"})
	cfg := intake.DefaultConfig().Slack
	cfg.Enabled, cfg.SigningSecret, cfg.BotToken, cfg.APIURL = true, secret.New(signing), secret.New("xoxb-test-token"), api.APIURL()
	c := &clock{t: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)}
	h := New(Options{Config: cfg, Now: c.now, Partners: intake.NewDirectory([]rules.Partner{{ID: "northwind", Name: "Northwind", EmailDomains: []string{"northwind.example"}}})})
	return h, api, c
}

func signed(path string, body []byte, at time.Time, secretKey string) *http.Request {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	for k, v := range slacktest.Sign(secretKey, body, at) {
		req.Header[k] = v
	}
	return req
}

func command(api *slacktest.Server, user, text string) []byte {
	return []byte(url.Values{
		"token": {"legacy"}, "team_id": {"T1"}, "team_domain": {"northwind"}, "channel_id": {"C1"}, "channel_name": {"deals"},
		"user_id": {user}, "user_name": {"sam"}, "command": {"/register"}, "text": {text},
		"response_url": {api.ResponseURL("r1")}, "trigger_id": {"13345224609.738474920.8088930838d88f008e0"}, "api_app_id": {"A1"},
	}.Encode())
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestParseCommand(t *testing.T) {
	got, err := ParseCommand(`company="Globex Corp" domain=<http://globex.example|globex.example> contact='Hank Scorpio' email=<mailto:hank@globex.example|hank@globex.example> role=CEO problem=“stock by hand” consent=yes stage=discovery`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"company_name": "Globex Corp", "company_domain": "globex.example", "contact_name": "Hank Scorpio",
		"contact_email": "hank@globex.example", "contact_role": "CEO", "problem": "stock by hand", "consent": "yes", "stage_guess": "discovery"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v", got)
	}
	if got, _ := ParseCommand(`company_name=A website=<http://a.example> e-mail=a@b.example`); got["company_domain"] != "http://a.example" || got["contact_email"] != "a@b.example" {
		t.Errorf("forgiving keys: %v", got)
	}
	for in, want := range map[string]string{
		"Globex":                "Globex: expected key=value",
		`company="Globex`:       "company: the quote is not closed",
		"status=approved":       `status: unknown field "status"`,
		"partner_email=a@b.com": `partner_email: unknown field`,
		"company=A company=B":   "company: given twice",
		"company=A foo=bar":     `foo: unknown field "foo"`,
		`problem="a" "b"`:       `"b": expected key=value`,
	} {
		_, err := ParseCommand(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCommand(%q) = %v, want …%s…", in, err, want)
		}
	}
}

// The Registrar is nil: every refusal must come before it.
func TestSignatureIsVerifiedFirst(t *testing.T) {
	h, api, _ := setup(t)
	body := command(api, "U1", "company=Globex")
	now := time.Now()
	cases := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"forged", signed(CommandsPath, body, now, "not-the-secret"), "missing or invalid Slack signature"},
		{"tampered", func() *http.Request {
			r := signed(CommandsPath, body, now, signing)
			r.Body = httpBody(command(api, "U1", "company=Evil"))
			return r
		}(), "missing or invalid Slack signature"},
		{"unsigned", httptest.NewRequest("POST", CommandsPath, bytes.NewReader(body)), "missing or invalid Slack signature"},
		{"replayed after 6 minutes", signed(CommandsPath, body, now.Add(-6*time.Minute), signing), "older than five minutes"},
		{"from the future", signed(CommandsPath, body, now.Add(6*time.Minute), signing), "older than five minutes"},
	}
	for _, c := range cases {
		rec := serve(h.Commands(), c.req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), c.want) || !strings.Contains(rec.Body.String(), `"field":"signature"`) {
			t.Errorf("%s: %d %s", c.name, rec.Code, rec.Body.String())
		}
	}
	rec := serve(h.Interactions(), signed(InteractionsPath, []byte("payload=%7B%7D"), now, "wrong"))
	if rec.Code != 401 {
		t.Errorf("interactions forged: %d", rec.Code)
	}
	if api.Calls("users.info")+api.Calls("views.open") != 0 {
		t.Error("a refused request called Slack")
	}
	// Unset signing secret: nothing verifies, not even a request signed
	// with the empty secret.
	h.o.Config.SigningSecret = secret.New("")
	if rec := serve(h.Commands(), signed(CommandsPath, body, now, "")); rec.Code != 401 {
		t.Errorf("empty secret accepted: %d", rec.Code)
	}
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func ephemeralText(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var m message
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.ResponseType != "ephemeral" {
		t.Fatalf("not an ephemeral answer: %d %s", rec.Code, rec.Body.String())
	}
	return m.Text
}

func TestCommandWithoutTextOpensTheModal(t *testing.T) {
	h, api, _ := setup(t)
	rec := serve(h.Commands(), signed(CommandsPath, command(api, "U1", ""), time.Now(), signing))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	views := api.Views()
	if len(views) != 1 || views[0].TriggerID != "13345224609.738474920.8088930838d88f008e0" {
		t.Fatalf("views %+v", views)
	}
	v := views[0].View
	if v["callback_id"] != CallbackID || v["private_metadata"] != `{"c":"C1","t":"T1"}` || v["type"] != "modal" {
		t.Errorf("view %v", v)
	}
	blocks, _ := v["blocks"].([]any)
	var ids []string
	for _, b := range blocks {
		ids = append(ids, b.(map[string]any)["block_id"].(string))
	}
	if strings.Join(ids, ",") != "company_name,company_domain,contact_name,contact_email,contact_role,problem,consent" {
		t.Errorf("blocks %v", ids)
	}
}

func TestCommandRefusalsBeforeTheRegistrar(t *testing.T) {
	h, api, c := setup(t)
	cases := []struct{ user, text, want string }{
		{"U1", "help", "Register a prospect with `/register`"},
		{"U1", `company="Globex`, "company: the quote is not closed"},
		{"U1", "domain=not_a_domain!", "company_domain: not a website or domain"},
		{"U1", "email=nope", "contact_email: not a valid e-mail address; company: give at least the company or its domain"},
		{"U1", "company=Globex consent=maybe", "consent: answer yes or no"},
		{"U2", "company=Globex", "not at a partner of our program (evil.example is not the e-mail domain of a partner in our program)"},
		{"U3", "company=Globex", "We cannot see an e-mail address on your Slack account"},
		{"U9", "company=Globex", "We could not check your account with Slack right now"},
	}
	for _, tc := range cases {
		rec := serve(h.Commands(), signed(CommandsPath, command(api, tc.user, tc.text), time.Now(), signing))
		if got := ephemeralText(t, rec); !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: %q, want …%s…", tc.user, tc.text, got, tc.want)
		}
	}
	// users.info is cached per user for user_cache_ttl.
	before := api.Calls("users.info")
	serve(h.Commands(), signed(CommandsPath, command(api, "U2", "company=Globex"), time.Now(), signing))
	if api.Calls("users.info") != before {
		t.Error("users.info not cached")
	}
	c.add(2 * time.Hour)
	serve(h.Commands(), signed(CommandsPath, command(api, "U2", "company=Globex"), time.Now(), signing))
	if api.Calls("users.info") != before+1 {
		t.Error("users.info cache did not expire")
	}
}

func interaction(t *testing.T, cb map[string]any) []byte {
	b, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

func submission(user string, values map[string]string, consent bool) map[string]any {
	state := map[string]any{}
	for k, v := range values {
		state[k] = map[string]any{"value": map[string]any{"type": "plain_text_input", "value": v}}
	}
	var opts []any
	if consent {
		opts = []any{map[string]any{"value": "yes", "text": map[string]any{"type": "plain_text", "text": "x"}}}
	}
	state["consent"] = map[string]any{"value": map[string]any{"type": "checkboxes", "selected_options": opts}}
	return map[string]any{
		"type": "view_submission", "team": map[string]any{"id": "T1"}, "user": map[string]any{"id": user},
		"view": map[string]any{"id": "V123", "callback_id": CallbackID, "private_metadata": `{"c":"C1","t":"T1"}`, "state": map[string]any{"values": state}},
	}
}

func TestModalSubmissionRefusals(t *testing.T) {
	h, _, _ := setup(t)
	full := map[string]string{"company_name": "Globex", "company_domain": "globex.example", "contact_name": "Hank", "contact_email": "hank@globex.example", "problem": "x"}
	// Missing and invalid fields: errors on the blocks.
	rec := serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U1", map[string]string{"company_domain": "bad domain!", "contact_email": "nope"}, false)), time.Now(), signing))
	var resp slack.ViewSubmissionResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.ResponseAction != slack.RAErrors {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	want := map[string]string{"company_name": "Required", "company_domain": "Not a website or domain", "contact_name": "Required",
		"contact_email": "Not a valid e-mail address", "problem": "Required", "consent": "Register only prospects who agreed to be contacted"}
	if fmt.Sprint(resp.Errors) != fmt.Sprint(want) {
		t.Errorf("errors %v", resp.Errors)
	}
	// Not a partner: the modal says so.
	rec = serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U2", full, true)), time.Now(), signing))
	if !strings.Contains(rec.Body.String(), `"response_action":"update"`) || !strings.Contains(rec.Body.String(), "not at a partner of our program") {
		t.Errorf("not a partner: %s", rec.Body.String())
	}
	// Other interactions are acknowledged and ignored.
	rec = serve(h.Interactions(), signed(InteractionsPath, interaction(t, map[string]any{"type": "block_actions"}), time.Now(), signing))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("block_actions: %d %s", rec.Code, rec.Body.String())
	}
	rec = serve(h.Interactions(), signed(InteractionsPath, []byte("payload=not-json"), time.Now(), signing))
	if rec.Code != 400 {
		t.Errorf("bad payload: %d", rec.Code)
	}
}

func TestModalValues(t *testing.T) {
	var cb slack.InteractionCallback
	b, _ := json.Marshal(submission("U1", map[string]string{"company_name": " Globex ", "contact_role": ""}, true))
	if err := json.Unmarshal(b, &cb); err != nil {
		t.Fatal(err)
	}
	if got := ModalValues(cb.View); fmt.Sprint(got) != "map[company_name:Globex consent:true]" {
		t.Errorf("values %v", got)
	}
}

func TestPostStatusThreadsAndFallsBack(t *testing.T) {
	h, api, _ := setup(t)
	rc := intake.Receipt{CaseNumber: "R-7QK2M9XBHD", Status: registration.StatusApproved, Message: "Approved. Registered to you until Sat 3 May 2025 <yes>.", StatusURL: "https://partners.example.com/r/tok"}
	o, err := h.PostStatus(t.Context(), Origin{TeamID: "T1", ChannelID: "C1", UserID: "U1"}, rc, "Globex & Co")
	if err != nil || o.ThreadTS == "" || o.ChannelID != "C1" || o.Private {
		t.Fatalf("first post: %+v %v", o, err)
	}
	rc.Status, rc.Message = registration.StatusMeetingBooked, ""
	o2, err := h.PostStatus(t.Context(), o, rc, "Globex & Co")
	if err != nil || o2 != o {
		t.Fatalf("second post: %+v %v", o2, err)
	}
	msgs := api.Messages()
	if len(msgs) != 2 || msgs[0].ThreadTS != "" || msgs[1].ThreadTS != o.ThreadTS || msgs[1].Channel != "C1" {
		t.Fatalf("messages %+v", msgs)
	}
	if msgs[0].Text != "*R-7QK2M9XBHD* (Globex &amp; Co): Approved\nApproved. Registered to you until Sat 3 May 2025 &lt;yes&gt;.\n_The status link was sent to the partner who registered it, by direct message._" {
		t.Errorf("text %q", msgs[0].Text)
	}
	if !strings.Contains(msgs[1].Text, "Meeting booked\nYour first meeting is logged") {
		t.Errorf("second text %q", msgs[1].Text)
	}
	// The link goes to the submitter alone.
	o3, err := h.SendStatusLink(t.Context(), o, rc, "Globex & Co")
	msgs = api.Messages()
	if err != nil || o3 != o || len(msgs) != 3 || msgs[2].Channel != "D1" || msgs[2].ThreadTS != "" ||
		!strings.HasSuffix(msgs[2].Text, "<https://partners.example.com/r/tok|Status and next steps>") {
		t.Fatalf("status link: %+v %v %+v", o3, err, msgs)
	}
	// Not in the channel: a direct message to the user, which becomes the
	// (private) thread and carries the link itself.
	api.NotInChannel("C2")
	o4, err := h.PostStatus(t.Context(), Origin{TeamID: "T1", ChannelID: "C2", UserID: "U1"}, rc, "Initech")
	msgs = api.Messages()
	if err != nil || o4.ChannelID != "D1" || o4.ThreadTS == "" || !o4.Private || !strings.Contains(msgs[len(msgs)-1].Text, "/r/tok|") {
		t.Errorf("fallback: %+v %v %+v", o4, err, msgs[len(msgs)-1])
	}
	if _, err := h.SendStatusLink(t.Context(), o4, rc, "Initech"); err != nil || len(api.Messages()) != len(msgs) {
		t.Errorf("a second copy of the link in the private thread: %v", err)
	}
	// The command was run in the app's own direct message: the first link
	// finds that out, and later posts there carry the link once.
	dm := Origin{TeamID: "T1", ChannelID: "D1", UserID: "U1"}
	dm, _ = h.PostStatus(t.Context(), dm, rc, "Hooli")
	if dm, err = h.SendStatusLink(t.Context(), dm, rc, "Hooli"); err != nil || !dm.Private {
		t.Errorf("app DM: %+v %v", dm, err)
	}
	// Rate limited: a retryable error.
	api.RateLimit(1)
	_, err = h.PostStatus(t.Context(), o, rc, "Globex")
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Errorf("rate limited: %v", err)
	}
	api.RateLimit(1)
	_, err = h.SendStatusLink(t.Context(), o, rc, "Globex")
	if !errors.As(err, &rl) {
		t.Errorf("rate limited link: %v", err)
	}
}

// Both Slack paths refuse, with the field and why, what every channel
// refuses: a free-mail company website and a contact at the partner's own
// company (the user U1 is at northwind.example). Before the funnel only
// the web form did; Slack registered them and let the rules decide.
func TestSlackRefusesWhatEveryChannelRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, domain, email, field, reason string
	}{
		{"free-mail website", "gmail.com", "hank@globex.example", "company_domain", "gmail.com is a free e-mail provider: enter the company's own website"},
		{"own-company contact", "globex.example", "bob@northwind.example", "contact_email", "that is an address at your own company; give the prospect's address"},
	} {
		h, api, _ := setup(t)
		reg := &slowRegistrar{}
		h.o.Registrar = reg
		text := `company=Globex domain=` + tc.domain + ` contact=Hank email=` + tc.email + ` problem=x consent=yes`
		got := ephemeralText(t, serve(h.Commands(), signed(CommandsPath, command(api, "U1", text), time.Now(), signing)))
		if !strings.Contains(got, ":warning: "+tc.field+": "+tc.reason) {
			t.Errorf("command, %s: %q", tc.name, got)
		}
		values := map[string]string{"company_name": "Globex", "company_domain": tc.domain, "contact_name": "Hank", "contact_email": tc.email, "problem": "x"}
		rec := serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U1", values, true)), time.Now(), signing))
		var resp slack.ViewSubmissionResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.ResponseAction != slack.RAErrors ||
			len(resp.Errors) != 1 || resp.Errors[tc.field] != strings.ToUpper(tc.reason[:1])+tc.reason[1:] {
			t.Errorf("modal, %s: %s", tc.name, rec.Body.String())
		}
		if len(reg.subs) != 0 {
			t.Errorf("%s: registered %d", tc.name, len(reg.subs))
		}
	}
}

// The keys Slack registrations are upserted on are what they were: the
// team and the command's trigger id, or the modal's view id.
func TestSlackSubmissionKeysAreUnchanged(t *testing.T) {
	h, api, _ := setup(t)
	reg := &slowRegistrar{}
	h.o.Registrar = reg
	text := `company=Globex domain=globex.example contact=Hank email=hank@globex.example problem=x consent=yes`
	serve(h.Commands(), signed(CommandsPath, command(api, "U1", text), time.Now(), signing))
	values := map[string]string{"company_name": "Globex", "company_domain": "globex.example", "contact_name": "Hank", "contact_email": "hank@globex.example", "problem": "x"}
	serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U1", values, true)), time.Now(), signing))
	h.Wait()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	want := []struct{ key, cn string }{{"slack:T1:13345224609.738474920.8088930838d88f008e0", "R-J8NYM3WPBX"}, {"slack:T1:V123", "R-RCSCCCEQ7W"}}
	if len(reg.subs) != len(want) {
		t.Fatalf("registered %d", len(reg.subs))
	}
	for i, w := range want {
		s := reg.subs[i]
		if s.Key != w.key || s.Record.SubmissionKey != w.key || s.Record.CaseNumber != w.cn || s.Channel != "slack" || s.Record.Source != "slack" {
			t.Errorf("submission %d: key %q case %q channel %q source %q, want %s %s", i, s.Key, s.Record.CaseNumber, s.Channel, s.Record.Source, w.key, w.cn)
		}
		if s.Record.PartnerID != "northwind" || s.Record.PartnerEmail != "sam@northwind.example" {
			t.Errorf("submission %d: partner %q %q", i, s.Record.PartnerID, s.Record.PartnerEmail)
		}
	}
}
