package slack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// CallbackID marks regsync's registration modal.
const CallbackID = "regsync_register"

// modalField is one input of the modal; its block id is the canonical
// field.
type modalField struct {
	field, label, hint string
	multiline, opt     bool
}

// modalFields are the modal's inputs: the registry's quick form
// (registration.QuickForm).
var modalFields = func() []modalField {
	var out []modalField
	for _, name := range registration.QuickForm() {
		in := registration.FieldInfo(name)
		out = append(out, modalField{field: name, label: in.Prompt, hint: in.Hint,
			multiline: in.Input == registration.InputTextarea, opt: registration.QuickFormOptional(name)})
	}
	return out
}()

type metadata struct {
	Channel string `json:"c"`
	Team    string `json:"t"`
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func registrationModal(md metadata) slack.ModalViewRequest {
	var blocks []slack.Block
	for _, f := range modalFields {
		el := slack.NewPlainTextInputBlockElement(nil, "value").WithMaxLength(intake.MaxValueLen)
		if !f.multiline {
			el.WithMaxLength(300)
		} else {
			el.WithMultiline(true)
		}
		var hint *slack.TextBlockObject
		if f.hint != "" {
			hint = plain(f.hint)
		}
		blocks = append(blocks, slack.NewInputBlock(f.field, plain(f.label), hint, el).WithOptional(f.opt))
	}
	ci := registration.FieldInfo(registration.FieldConsent)
	consent := slack.NewCheckboxGroupsBlockElement("value", slack.NewOptionBlockObject("yes", plain(ci.Prompt), nil))
	blocks = append(blocks, slack.NewInputBlock(ci.Name, plain(ci.FormLabel), nil, consent))
	meta, _ := json.Marshal(md)
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: CallbackID, Title: plain("Register a prospect"),
		Submit: plain("Register"), Close: plain("Cancel"), Blocks: slack.Blocks{BlockSet: blocks},
		PrivateMetadata: string(meta),
	}
}

func infoModal(title, text string) *slack.ModalViewRequest {
	return &slack.ModalViewRequest{
		Type: slack.VTModal, Title: plain(title), Close: plain("Close"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}},
	}
}

func (h *Handler) openModal(ctx context.Context, w http.ResponseWriter, cmd slack.SlashCommand, log *slog.Logger) {
	_, err := h.api.OpenViewContext(ctx, cmd.TriggerID, registrationModal(metadata{Channel: cmd.ChannelID, Team: cmd.TeamID}))
	if err != nil {
		log.Error("slack: views.open", "err", err)
		ephemeral(w, ":warning: The form could not be opened. "+usage(h.o.Config.Command))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Interactions is POST /intake/slack/interactions: the modal's submission.
func (h *Handler) Interactions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := h.verified(w, r)
		if !ok {
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			intake.WriteError(w, http.StatusBadRequest, intake.Refuse("payload", "unreadable"))
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
			intake.WriteError(w, http.StatusBadRequest, intake.Refuse("payload", "not an interaction payload"))
			return
		}
		if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != CallbackID {
			w.WriteHeader(http.StatusOK) // other interactions are not regsync's
			return
		}
		h.submit(r.Context(), w, cb)
	})
}

func writeView(w http.ResponseWriter, resp *slack.ViewSubmissionResponse) {
	intake.WriteJSON(w, http.StatusOK, resp)
}

// ModalValues reads the submitted modal's fields (canonical name → text).
func ModalValues(v slack.View) map[string]string {
	out := map[string]string{}
	if v.State == nil {
		return out
	}
	for block, actions := range v.State.Values {
		a, ok := actions["value"]
		if !ok {
			continue
		}
		if block == registration.FieldConsent {
			out[registration.FieldConsent] = "false"
			for _, o := range a.SelectedOptions {
				if o.Value == "yes" {
					out[registration.FieldConsent] = "true"
				}
			}
			continue
		}
		if t := strings.TrimSpace(a.Value); t != "" {
			out[block] = t
		}
	}
	return out
}

func (h *Handler) submit(ctx context.Context, w http.ResponseWriter, cb slack.InteractionCallback) {
	log := h.o.Logger.With("channel", intake.ChannelSlack, "team", cb.Team.ID, "user", cb.User.ID)
	values := ModalValues(cb.View)
	errs := map[string]string{}
	for _, f := range modalFields {
		if !f.opt && values[f.field] == "" {
			errs[f.field] = "Required"
		}
	}
	if values[registration.FieldConsent] != "true" {
		errs[registration.FieldConsent] = "Register only prospects who agreed to be contacted"
	}
	fields := map[string]string{}
	for k, v := range values {
		if intake.IsProspectField(k) {
			fields[k] = v
		}
	}
	rec, ferrs := h.record(fields)
	for _, fe := range ferrs {
		if _, dup := errs[fe.Field]; !dup && fe.Field != "company" {
			errs[fe.Field] = capitalize(fe.Reason)
		}
	}
	if len(errs) > 0 {
		writeView(w, slack.NewErrorsViewSubmissionResponse(errs))
		return
	}
	pt, email, err := h.partner(ctx, cb.Team.ID, cb.User.ID)
	if err != nil {
		var fe *intake.FieldError
		text := "We could not check your account with Slack right now. Please try again in a minute."
		switch {
		case errors.As(err, &fe):
			text = "Your Slack account's e-mail address is not at a partner of our program (" + Escape(fe.Reason) + "). Register from your company's Slack account, or contact your partner manager."
		case errors.Is(err, errNoEmail):
			text = "We cannot see an e-mail address on your Slack account, so we cannot tell which partner you are with."
		default:
			log.Error("slack: users.info", "err", err)
		}
		writeView(w, slack.NewUpdateViewSubmissionResponse(infoModal("Not registered", text)))
		return
	}
	h.fillPartner(&rec, pt, email)
	sub, ferrs := h.funnel().Submission(intake.ChannelSlack, rec, cb.Team.ID, cb.View.ID)
	if len(ferrs) > 0 {
		for _, fe := range ferrs {
			errs[fe.Field] = capitalize(fe.Reason)
		}
		writeView(w, slack.NewErrorsViewSubmissionResponse(errs))
		return
	}
	rec = sub.Record
	var md metadata
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &md)
	origin := Origin{TeamID: cb.Team.ID, ChannelID: md.Channel, UserID: cb.User.ID}
	later := func(rc intake.Receipt, err error) {
		if err := h.tell(context.Background(), origin, answer(rc, err)); err != nil {
			log.Error("slack: late answer", "err", err)
		}
	}
	rc, err, done := h.within(ctx, sub, origin, later)
	switch {
	case !done:
		writeView(w, slack.NewUpdateViewSubmissionResponse(infoModal("Registering", "Registering *"+Escape(firstNonEmpty(rec.CompanyName, rec.CompanyDomain))+"*… you will get the case number in Slack in a moment.")))
	case err != nil:
		log.Error("slack: register", "err", err)
		writeView(w, slack.NewUpdateViewSubmissionResponse(infoModal("Not registered", answer(rc, err))))
	default:
		log.Info("slack: registered", "case", rc.CaseNumber, "partner", rec.PartnerID, "status", rc.Status, "created", rc.Created)
		writeView(w, slack.NewUpdateViewSubmissionResponse(infoModal("Registered", answer(rc, nil))))
	}
}

// tell sends an ephemeral message to the user in the origin channel, or a
// direct message when there is no channel.
func (h *Handler) tell(ctx context.Context, o Origin, text string) error {
	if o.ChannelID != "" {
		if _, err := h.api.PostEphemeralContext(ctx, o.ChannelID, o.UserID, slack.MsgOptionText(text, false)); err == nil {
			return nil
		}
	}
	_, _, err := h.api.PostMessageContext(ctx, o.UserID, slack.MsgOptionText(text, false))
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Escape makes text safe to put in a Slack message: the three characters
// Slack reserves — &, < and > — become &amp;, &lt; and &gt;
// (https://api.slack.com/reference/surfaces/formatting#escaping), so that
// partner text such as a company name cannot mention a channel
// (<!channel>) or a user (<@U…>) or show a link under another label
// (<https://evil|https://good>). Every partner-supplied string in a Slack
// message — this channel's answers and posts, the daemon's AE webhook —
// goes through it; links regsync builds itself are added after.
func Escape(s string) string { return slackEscaper.Replace(s) }

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
