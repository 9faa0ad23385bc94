// Package slack is the Slack channel: the /register slash command (a modal
// when given no text, a direct registration when given key=value pairs),
// the modal's submission, the partner identified by their Slack user's
// e-mail domain, ephemeral answers with the case number and the status
// link, and PostStatus and SendStatusLink, which the daemon's notifier
// calls to post status changes back to the channel, in one thread per
// registration, and the status link to the submitter alone.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Paths the handlers are mounted at.
const (
	CommandsPath     = "/intake/slack/commands"
	InteractionsPath = "/intake/slack/interactions"
)

// Origin is where a registration came from in Slack: the answers and the
// status changes go there. The daemon keeps it (in its state file, keyed
// by case number) and passes it back to PostStatus.
type Origin struct {
	TeamID    string `json:"team_id"`
	ChannelID string `json:"channel_id"`
	UserID    string `json:"user_id"`
	// ThreadTS is the status thread's first message, set by the first
	// PostStatus.
	ThreadTS string `json:"thread_ts,omitempty"`
	// Private is set when ChannelID is the app's direct message with the
	// user (PostStatus fell back to it, or SendStatusLink found the
	// command was run there): status posts there carry the status link.
	Private bool `json:"private,omitempty"`
}

// OriginStore remembers where each registration came from. The daemon
// implements it over its state file; nil remembers nothing (no status
// changes are posted to Slack then).
type OriginStore interface {
	Remember(ctx context.Context, caseNumber string, o Origin) error
}

// Options configure the channel.
type Options struct {
	Config    intake.SlackConfig
	Registrar intake.Registrar
	Partners  *intake.Directory
	Origins   OriginStore
	// FreeMail tells free-mail domains (not a company website). Default:
	// the embedded list.
	FreeMail *registration.FreeMail
	// HTTPClient calls Slack's Web API and response URLs.
	HTTPClient *http.Client
	// AnswerWithin is how long a command or a modal waits for the
	// registration before it answers "registering…" and sends the result
	// later (Slack wants an answer within 3 s). Default 2.5 s.
	AnswerWithin time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// Handler is the Slack channel.
type Handler struct {
	o     Options
	api   *slack.Client
	users *userCache
	wg    sync.WaitGroup
}

// New returns the channel.
func New(o Options) *Handler {
	o.Logger = intake.QuietIfNil(o.Logger)
	o.Now = intake.ClockOr(o.Now)
	if o.HTTPClient == nil {
		timeout := o.Config.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		o.HTTPClient = &http.Client{Timeout: timeout}
	}
	if o.AnswerWithin <= 0 {
		o.AnswerWithin = 2500 * time.Millisecond
	}
	base := o.Config.APIURL
	if base == "" {
		base = intake.DefaultSlackAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	h := &Handler{o: o}
	h.api = slack.New(o.Config.BotToken.Reveal(), slack.OptionAPIURL(base), slack.OptionHTTPClient(o.HTTPClient))
	h.users = &userCache{ttl: o.Config.UserCacheTTL, now: o.Now, m: map[string]cachedUser{}}
	return h
}

// Wait waits for answers still being sent in the background (a
// registration slower than AnswerWithin); the daemon calls it on shutdown.
func (h *Handler) Wait() { h.wg.Wait() }

// maxBody bounds a request from Slack.
const maxBody = 256 << 10

// verified reads the body and checks Slack's signature (v0, HMAC-SHA256 of
// the timestamp and the body under the signing secret; the timestamp within
// five minutes), with slack-go's verifier. A request that fails is
// answered 401 and nothing else happens.
func (h *Handler) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		intake.WriteError(w, http.StatusMethodNotAllowed, intake.Refuse("method", "use POST"))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		intake.WriteError(w, http.StatusRequestEntityTooLarge, intake.Refuse("body", "too large"))
		return nil, false
	}
	sv, err := slack.NewSecretsVerifier(r.Header, h.o.Config.SigningSecret.Reveal())
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil || !h.o.Config.SigningSecret.IsSet() {
		reason := "missing or invalid Slack signature"
		if errors.Is(err, slack.ErrExpiredTimestamp) {
			reason = "the request is older than five minutes"
		}
		h.o.Logger.Warn("slack: request refused", "reason", reason)
		intake.WriteError(w, http.StatusUnauthorized, intake.Refuse("signature", reason))
		return nil, false
	}
	return body, true
}

// message is a slash command's immediate answer.
type message struct {
	ResponseType    string `json:"response_type"`
	Text            string `json:"text"`
	ReplaceOriginal bool   `json:"replace_original,omitempty"`
}

func ephemeral(w http.ResponseWriter, text string) {
	intake.WriteJSON(w, http.StatusOK, message{ResponseType: "ephemeral", Text: text})
}

// Commands is POST /intake/slack/commands.
func (h *Handler) Commands() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := h.verified(w, r)
		if !ok {
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			intake.WriteError(w, http.StatusBadRequest, intake.Refuse("body", "not a slash command"))
			return
		}
		cmd := slashCommand(form)
		log := h.o.Logger.With("channel", intake.ChannelSlack, "team", cmd.TeamID, "user", cmd.UserID)
		if strings.TrimSpace(cmd.Text) == "" || strings.EqualFold(strings.TrimSpace(cmd.Text), "form") {
			h.openModal(r.Context(), w, cmd, log)
			return
		}
		if strings.EqualFold(strings.TrimSpace(cmd.Text), "help") {
			ephemeral(w, usage(h.o.Config.Command))
			return
		}
		fields, err := ParseCommand(cmd.Text)
		if err != nil {
			ephemeral(w, ":warning: "+Escape(err.Error())+"\n\n"+usage(h.o.Config.Command))
			return
		}
		rec, errs := h.record(fields)
		if len(errs) > 0 {
			ephemeral(w, ":warning: "+joinErrors(errs)+"\n\n"+usage(h.o.Config.Command))
			return
		}
		pt, email, err := h.partner(r.Context(), cmd.TeamID, cmd.UserID)
		if err != nil {
			h.refusePartner(w, err, log)
			return
		}
		h.fillPartner(&rec, pt, email)
		sub, errs := h.funnel().Submission(intake.ChannelSlack, rec, cmd.TeamID, cmd.TriggerID)
		if len(errs) > 0 {
			ephemeral(w, ":warning: "+joinErrors(errs)+"\n\n"+usage(h.o.Config.Command))
			return
		}
		origin := Origin{TeamID: cmd.TeamID, ChannelID: cmd.ChannelID, UserID: cmd.UserID}
		h.registerAndAnswer(r.Context(), w, sub, origin, cmd.ResponseURL, log)
	})
}

func slashCommand(f url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: f.Get("team_id"), ChannelID: f.Get("channel_id"), UserID: f.Get("user_id"), Command: f.Get("command"),
		Text: f.Get("text"), ResponseURL: f.Get("response_url"), TriggerID: f.Get("trigger_id"), APIAppID: f.Get("api_app_id"),
	}
}

func usage(cmd string) string {
	if cmd == "" {
		cmd = "/register"
	}
	return "Register a prospect with `" + cmd + "` (a form opens), or in one line:\n" +
		"`" + cmd + ` company="Globex Corp" domain=globex.com contact="Hank Scorpio" email=hank@globex.com role=CEO problem="reconciles stock by hand" consent=yes` + "`"
}

// joinErrors lists field errors for a Slack message; they quote what the
// partner typed, so they are escaped.
func joinErrors(errs []*intake.FieldError) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = Escape(e.Error())
	}
	return strings.Join(s, "; ")
}

// record builds the registration from the prospect's fields.
func (h *Handler) record(fields map[string]string) (registration.Record, []*intake.FieldError) {
	rec := registration.Record{Source: intake.ChannelSlack}
	var errs []*intake.FieldError
	for _, f := range registration.FieldNames() {
		v, ok := fields[f]
		if !ok {
			continue
		}
		if f == registration.FieldConsent {
			if b, ok := registration.ParseBool(v); ok {
				v = fmt.Sprint(b)
			}
		}
		if err := intake.SetField(&rec, f, v); err != nil {
			var fe *intake.FieldError
			errors.As(err, &fe)
			errs = append(errs, fe)
		}
	}
	if rec.CompanyName == "" && rec.CompanyDomain == "" {
		errs = append(errs, intake.Refuse("company", "give at least the company or its domain"))
	}
	return rec, errs
}

func (h *Handler) fillPartner(rec *registration.Record, pt rules.Partner, email string) {
	rec.PartnerID, rec.PartnerName, rec.PartnerType, rec.PartnerEmail = pt.ID, pt.Name, pt.Type, email
}

var errNoEmail = errors.New("no e-mail address")

// partner identifies the partner of a Slack user by the domain of the
// user's e-mail address (users.info, cached).
func (h *Handler) partner(ctx context.Context, team, user string) (rules.Partner, string, error) {
	email, err := h.users.email(ctx, team, user, func(ctx context.Context) (string, error) {
		u, err := h.api.GetUserInfoContext(ctx, user)
		if err != nil {
			return "", err
		}
		if u.Deleted || u.IsBot {
			return "", errNoEmail
		}
		return u.Profile.Email, nil
	})
	if err != nil {
		return rules.Partner{}, "", err
	}
	if email == "" {
		return rules.Partner{}, "", errNoEmail
	}
	pt, err := h.o.Partners.ForEmail("email", email)
	if err != nil {
		return rules.Partner{}, email, err
	}
	return pt, email, nil
}

func (h *Handler) refusePartner(w http.ResponseWriter, err error, log *slog.Logger) {
	var fe *intake.FieldError
	switch {
	case errors.As(err, &fe):
		log.Info("slack: not a partner", "reason", fe.Reason)
		ephemeral(w, ":no_entry: Your Slack account's e-mail address is not at a partner of our program ("+Escape(fe.Reason)+"). Register from your company's Slack account, or contact your partner manager.")
	case errors.Is(err, errNoEmail):
		ephemeral(w, ":no_entry: We cannot see an e-mail address on your Slack account, so we cannot tell which partner you are with.")
	default:
		log.Error("slack: users.info", "err", err)
		ephemeral(w, ":hourglass: We could not check your account with Slack right now. Please try again in a minute.")
	}
}

type result struct {
	rc  intake.Receipt
	err error
}

// register registers one submission and remembers its origin.
func (h *Handler) register(ctx context.Context, sub intake.Submission, origin Origin) (intake.Receipt, error) {
	rc, err := h.funnel().RegisterOne(ctx, sub)
	if err != nil {
		return intake.Receipt{}, err
	}
	if h.o.Origins != nil {
		if err := h.o.Origins.Remember(ctx, rc.CaseNumber, origin); err != nil {
			h.o.Logger.Error("slack: remember origin", "case", rc.CaseNumber, "err", err)
		}
	}
	return rc, nil
}

// within runs the registration and waits up to AnswerWithin for it. When
// it takes longer, later is called with the result in the background.
func (h *Handler) within(ctx context.Context, sub intake.Submission, origin Origin, later func(intake.Receipt, error)) (intake.Receipt, error, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	done := make(chan result, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		rc, err := h.register(ctx, sub, origin)
		done <- result{rc, err}
	}()
	t := time.NewTimer(h.o.AnswerWithin)
	defer t.Stop()
	select {
	case res := <-done:
		return res.rc, res.err, true
	case <-t.C:
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			res := <-done
			later(res.rc, res.err)
		}()
		return intake.Receipt{}, nil, false
	}
}

func (h *Handler) registerAndAnswer(ctx context.Context, w http.ResponseWriter, sub intake.Submission, origin Origin, responseURL string, log *slog.Logger) {
	rec := sub.Record
	later := func(rc intake.Receipt, err error) {
		text := answer(rc, err)
		if err := h.respond(context.Background(), responseURL, text); err != nil {
			log.Error("slack: late answer", "err", err)
		}
	}
	rc, err, done := h.within(ctx, sub, origin, later)
	if !done {
		ephemeral(w, ":hourglass_flowing_sand: Registering "+Escape(firstNonEmpty(rec.CompanyName, rec.CompanyDomain))+"… you will get the case number here in a moment.")
		return
	}
	if err != nil {
		log.Error("slack: register", "err", err)
	} else {
		log.Info("slack: registered", "case", rc.CaseNumber, "partner", rec.PartnerID, "status", rc.Status, "created", rc.Created)
	}
	ephemeral(w, answer(rc, err))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// answer is the text of an answer about a receipt.
func answer(rc intake.Receipt, err error) string {
	if err != nil {
		return ":warning: We could not register this right now. Please run the command again in a minute; it will not be registered twice."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* — %s\n", rc.CaseNumber, intake.StatusLabel(rc.Status))
	if m := strings.TrimSpace(rc.Message); m != "" {
		b.WriteString(Escape(m) + "\n")
	} else if n := intake.NextSteps(rc.Status, rc.HoldUntil, rc.MeetingDue, time.Time{}); n != "" {
		b.WriteString(n + "\n")
	}
	if rc.Status == registration.StatusNeedsInfo && len(rc.Missing) > 0 {
		b.WriteString("Still needed: " + intake.MissingList(rc.Missing) + ".\n")
	}
	if rc.StatusURL != "" {
		b.WriteString("<" + rc.StatusURL + "|Status and next steps>")
	}
	return strings.TrimSpace(b.String())
}

// respond posts an ephemeral answer to a slash command's response_url.
func (h *Handler) respond(ctx context.Context, responseURL, text string) error {
	u, err := url.Parse(responseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("slack: no usable response_url")
	}
	body, _ := json.Marshal(message{ResponseType: "ephemeral", Text: text})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("slack: response_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("slack: response_url answered %d", resp.StatusCode)
	}
	return nil
}

// userCache caches Slack users' e-mail addresses.
type userCache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]cachedUser
}

type cachedUser struct {
	email   string
	expires time.Time
}

const maxCachedUsers = 50_000

func (c *userCache) email(ctx context.Context, team, user string, fetch func(context.Context) (string, error)) (string, error) {
	k := team + "/" + user
	c.mu.Lock()
	if u, ok := c.m[k]; ok && c.now().Before(u.expires) {
		c.mu.Unlock()
		return u.email, nil
	}
	c.mu.Unlock()
	email, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.m) >= maxCachedUsers {
			clear(c.m)
		}
		c.m[k] = cachedUser{email: email, expires: c.now().Add(c.ttl)}
		c.mu.Unlock()
	}
	return email, nil
}

// funnel is the way the channel's submissions go (built from the options
// each time: tests swap the Registrar).
func (h *Handler) funnel() *intake.Funnel {
	return &intake.Funnel{Registrar: h.o.Registrar, Partners: h.o.Partners, FreeMail: h.o.FreeMail}
}
