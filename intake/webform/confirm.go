package webform

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/internal/webui"
	"github.com/regsync/regsync/registration"
)

// The confirmation link: GET shows what waits (so the partner sees what
// they confirm, and a mail scanner that fetches every link confirms
// nothing), POST from that page confirms it — registers it through the
// Registrar, starting its place in line — and remembers the browser. A
// link confirmed before shows the registration it made; an expired one
// says so.

type confirmPage struct {
	Title, Program string
	// State is "ask", "gone" or "error".
	State    string
	Heading  string
	Text     []string
	Summary  []summaryLine
	Email    string
	Expires  string
	Action   string
	Remember bool
}

type summaryLine struct{ Label, Value string }

func (h *Handler) renderConfirm(w http.ResponseWriter, status int, p *confirmPage) {
	p.Program = h.o.ProgramName
	if p.Title == "" {
		p.Title = p.Heading
	}
	webui.SecureHeaders(w)
	w.WriteHeader(status)
	if err := confirmTmpl.ExecuteTemplate(w, "layout", p); err != nil {
		h.o.Logger.Error("webform: render confirmation", "err", err)
	}
}

func (h *Handler) gone(w http.ResponseWriter, status int, heading string, text ...string) {
	h.renderConfirm(w, status, &confirmPage{State: "gone", Heading: heading, Text: text})
}

const (
	linkNotValid = "This link is not valid. It may be mistyped, or replaced by a newer one: use the link in the latest e-mail we sent you, or fill in the form again."
	againLater   = "We could not register this right now. Please open the link again in a minute: it registers once, and your registration counts from when it goes through."
)

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	token := strings.TrimPrefix(r.URL.Path, ConfirmPrefix)
	id, secret, exp, ok := parseToken(token)
	if !ok {
		h.gone(w, http.StatusNotFound, "Link not valid", linkNotValid)
		return
	}
	key := holdKey(id)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil || !webui.SameOrigin(r, h.o.PublicURL) {
			h.o.Logger.Warn("webform: confirmation not sent from its page", "origin", r.Header.Get("Origin"))
			h.gone(w, http.StatusForbidden, "Open the link again", "This confirmation was not sent from our page. Open the link from the e-mail and confirm there.")
			return
		}
		unlock := h.locks.lock(key)
		defer unlock()
	}
	if h.o.Store == nil {
		h.gone(w, http.StatusNotFound, "Link not valid", linkNotValid)
		return
	}
	cur, err := h.o.Store.GetHold(key, h.o.Now())
	var d *held
	if err == nil {
		d, err = decodeHeld(cur)
	}
	switch {
	case err != nil:
		h.o.Logger.Error("webform: read a held submission", "key", key, "err", err)
		h.gone(w, http.StatusServiceUnavailable, "Please try again", "We cannot open this link right now. Please try again in a minute.")
		return
	case d == nil && !h.o.Now().Before(exp):
		h.gone(w, http.StatusGone, "This link has expired",
			"This confirmation link expired on "+when(exp)+". Nothing was registered from it unless you confirmed it before then.",
			"To register the prospect, fill in the form again.")
		return
	case d == nil || !d.matches(secret):
		h.gone(w, http.StatusNotFound, "Link not valid", linkNotValid)
		return
	case d.confirmed():
		h.showRegistered(w, r, d.CaseNumber, "You confirmed this registration on "+when(d.ConfirmedAt)+"; this link registers once.")
		return
	}
	form := d.Form
	if r.Method != http.MethodPost {
		p := &confirmPage{State: "ask", Heading: "Confirm your registration", Email: d.Email, Expires: when(d.Expires), Action: ConfirmPrefix + token,
			Remember: h.o.Config.RememberConfirmed > 0}
		for _, f := range formFields {
			if v := form.Get(f.name); v != "" && f.name != registration.FieldPartnerEmail {
				p.Summary = append(p.Summary, summaryLine{f.label, v})
			}
		}
		h.renderConfirm(w, http.StatusOK, p)
		return
	}

	// Confirmed: registered now, as any submission.
	rec, errs := h.validate(form, nil)
	if len(errs) > 0 || addrKey(rec.PartnerEmail) != addrKey(d.Email) {
		reasons := []string{"This registration can no longer be made as it was sent:"}
		for _, e := range errs {
			reasons = append(reasons, e.Reason+".")
		}
		reasons = append(reasons, "Nothing was registered. Please fill in the form again.")
		h.gone(w, http.StatusUnprocessableEntity, "This cannot be registered", reasons...)
		return
	}
	if ok, wait := h.perPartner.allow(rec.PartnerID); !ok {
		setRetryAfter(w, wait)
		h.gone(w, http.StatusTooManyRequests, "Please try again later",
			"Your company has registered many prospects through this form in a short time. Please open this link again "+againIn(wait)+
				": it works until "+when(d.Expires)+", and your registration counts from when it goes through.")
		return
	}
	rc, err := h.registerRecord(r, id, rec)
	if err != nil {
		h.perPartner.refund(rec.PartnerID)
		h.gone(w, http.StatusServiceUnavailable, "Please try again", againLater)
		return
	}
	if err := h.markConfirmed(key, rc.CaseNumber); err != nil {
		// The registration exists: opening the link again finds it (its
		// submission key) and registers nothing twice.
		h.o.Logger.Error("webform: mark a held submission confirmed", "case", rc.CaseNumber, "err", err)
	}
	h.remember(w, d.Email)
	h.o.Logger.Info("webform: confirmed", "case", rc.CaseNumber, "partner", rec.PartnerID, "partner_email", registration.MaskEmail(d.Email),
		"held_for", h.o.Now().Sub(cur.At).Round(time.Second), "status", rc.Status)
	p := h.blank()
	h.render(w, http.StatusOK, confirmation(p, rc, rec))
}

// showRegistered shows where a registration made before stands.
func (h *Handler) showRegistered(w http.ResponseWriter, r *http.Request, caseNumber, note string) {
	rec, err := h.o.Registrar.Lookup(r.Context(), caseNumber)
	if err != nil {
		if !errors.Is(err, intake.ErrNotFound) {
			h.o.Logger.Error("webform: look up a confirmed registration", "case", caseNumber, "err", err)
		}
		rec = registration.Record{CaseNumber: caseNumber, Status: registration.StatusSubmitted}
	}
	rc := intake.Receipt{CaseNumber: caseNumber, Status: rec.Status, Message: rec.StatusMessage, HoldUntil: rec.HoldUntil,
		MeetingDue: rec.MeetingDue, StatusURL: h.o.Registrar.StatusURL(caseNumber)}
	p := confirmation(h.blank(), rc, rec)
	p.Note = note
	h.render(w, http.StatusOK, p)
}

var confirmTmpl = webui.Parse("confirm", `
{{define "title"}}{{.Title}} – {{.Program}}{{end}}
{{define "body"}}
<p>{{.Program}}</p>
<h1>{{.Heading}}</h1>
{{if eq .State "ask"}}
<p>Someone — we hope you — registered this prospect with your address, <strong>{{.Email}}</strong>. Nothing is registered yet.</p>
<div class="card"><dl>{{range .Summary}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}</dl></div>
<form method="post" action="{{.Action}}"><button type="submit">Confirm and register</button></form>
<p>Your registration counts from when you confirm: its place in line starts then.{{if .Remember}} This browser is remembered for your address, so your next registrations from it count at once.{{end}}</p>
<p>Not yours? Do nothing: nothing is registered, and this link expires on {{.Expires}}.</p>
{{else}}
<div class="card" role="alert">{{range .Text}}<p>{{.}}</p>{{end}}</div>
<p><a href="/register">Register a prospect</a></p>
{{end}}
{{end}}
`)
