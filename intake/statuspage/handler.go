package statuspage

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/internal/webui"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Prefix is where the status pages are mounted: GET /r/{token} and
// POST /r/{token}/{supply|withdraw|appeal}.
const Prefix = "/r/"

// Options configure the status page.
type Options struct {
	Signer    *Signer
	Registrar intake.Registrar
	// PublicURL is the site's address; a POST must come from its origin
	// (or the request's own host).
	PublicURL   string
	ProgramName string
	// Missing lists the fields a needs_info registration lacks. Default:
	// the blank fields of Required (see missingFields).
	Missing func(*registration.Record) []string
	// Required is the policy's required fields (default rules.DefaultRequired).
	Required []string
	// AppealNote says why a declined registration can no longer be
	// appealed ("" when it can; nil: always can).
	AppealNote func(*registration.Record) string
	Logger     *slog.Logger
}

// Handler serves the status pages.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// New returns the handler.
func New(o Options) *Handler {
	o.Logger = intake.QuietIfNil(o.Logger)
	if o.ProgramName == "" {
		o.ProgramName = "Partner program"
	}
	if o.Required == nil {
		o.Required = rules.DefaultRequired
	}
	if o.Missing == nil {
		o.Missing = missingFields(o.Required)
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /r/{token}", h.get)
	h.mux.HandleFunc("POST /r/{token}/{action}", h.post)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) render(w http.ResponseWriter, status int, p *page) {
	webui.SecureHeaders(w)
	w.WriteHeader(status)
	if err := tmpl.ExecuteTemplate(w, "layout", p); err != nil {
		h.o.Logger.Error("status page: render", "err", err)
	}
}

func (h *Handler) unavailable(w http.ResponseWriter, status int, msg string) {
	h.render(w, status, &page{Program: h.o.ProgramName, Unavailable: true, Message: msg})
}

const notValid = "This status link is not valid. It may have been mistyped, or replaced by a newer one: use the link in the latest message you received from us."

// caseOf checks the token in the path; nothing else happens for a token
// this site did not sign.
func (h *Handler) caseOf(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	token := r.PathValue("token")
	cn, ok := h.o.Signer.Verify(token)
	if !ok {
		h.unavailable(w, http.StatusNotFound, notValid)
		return "", "", false
	}
	return token, cn, true
}

func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, cn string) (*registration.Record, bool) {
	rec, err := h.o.Registrar.Lookup(r.Context(), cn)
	switch {
	case errors.Is(err, intake.ErrNotFound):
		h.unavailable(w, http.StatusNotFound, "We cannot find this registration any more.")
		return nil, false
	case err != nil:
		h.o.Logger.Error("status page: lookup", "case", cn, "err", err)
		h.unavailable(w, http.StatusServiceUnavailable, "We cannot show this registration right now. Please try again in a few minutes.")
		return nil, false
	case rec.CaseNumber != "" && rec.CaseNumber != cn:
		h.o.Logger.Error("status page: lookup returned another case", "case", cn)
		h.unavailable(w, http.StatusNotFound, notValid)
		return nil, false
	}
	rec.CaseNumber = cn
	return &rec, true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	token, cn, ok := h.caseOf(w, r)
	if !ok {
		return
	}
	rec, ok := h.lookup(w, r, cn)
	if !ok {
		return
	}
	p := h.build(rec, token)
	p.Done = doneText[r.URL.Query().Get("done")]
	h.render(w, http.StatusOK, p)
}

// maxForm bounds a POST body.
const maxForm = 64 << 10

// post handles the page's forms. Cross-site request forgery is refused
// twice over: the form must carry the token of its URL (only someone who
// holds the link knows it, and someone who holds it needs no forgery), and
// the request must come from this site (Origin, else Sec-Fetch-Site).
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	token, cn, ok := h.caseOf(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if action != intake.ActionSupply && action != intake.ActionWithdraw && action != intake.ActionAppeal {
		h.unavailable(w, http.StatusNotFound, notValid)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.unavailable(w, http.StatusBadRequest, "The form could not be read. Please go back and try again.")
		return
	}
	if !webui.SameOrigin(r, h.o.PublicURL) || r.PostForm.Get("token") != token {
		h.o.Logger.Warn("status page: cross-site form refused", "case", cn, "origin", r.Header.Get("Origin"))
		h.unavailable(w, http.StatusForbidden, "This form was not sent from our status page. Open your status link and try again.")
		return
	}
	am, fieldErrs := h.amendment(action, r)
	var rec *registration.Record
	if len(fieldErrs) > 0 || action == intake.ActionSupply {
		if rec, ok = h.lookup(w, r, cn); !ok {
			return
		}
	}
	if action == intake.ActionSupply {
		fieldErrs = append(fieldErrs, h.checkSupply(rec, am)...)
	}
	if len(fieldErrs) > 0 {
		p := h.build(rec, token)
		h.annotate(p, fieldErrs, r)
		h.render(w, http.StatusUnprocessableEntity, p)
		return
	}
	if _, err := h.o.Registrar.Amend(r.Context(), cn, am); err != nil {
		if errors.Is(err, intake.ErrNotAllowed) {
			if rec, ok = h.lookup(w, r, cn); !ok {
				return
			}
			p := h.build(rec, token)
			msg := "this is no longer possible: the registration is now " + strings.ToLower(intake.StatusLabel(rec.Status))
			var refused *intake.Refused
			if errors.As(err, &refused) {
				msg = refused.Message
			}
			p.Errors = append(p.Errors, field{Name: "status", Label: "Status", Error: msg})
			h.render(w, http.StatusUnprocessableEntity, p)
			return
		}
		if errors.Is(err, intake.ErrNotFound) {
			h.unavailable(w, http.StatusNotFound, "We cannot find this registration any more.")
			return
		}
		h.o.Logger.Error("status page: amend", "case", cn, "action", action, "err", err)
		h.unavailable(w, http.StatusServiceUnavailable, "We could not save this right now. Please go back and try again in a few minutes.")
		return
	}
	h.o.Logger.Info("status page: amendment", "case", cn, "action", action)
	http.Redirect(w, r, Prefix+token+"?done="+action, http.StatusSeeOther)
}

// amendment reads the form of an action.
func (h *Handler) amendment(action string, r *http.Request) (intake.Amendment, []*intake.FieldError) {
	switch action {
	case intake.ActionWithdraw:
		if r.PostForm.Get("confirm") != "yes" {
			return intake.Amendment{}, []*intake.FieldError{intake.Refuse("confirm", "tick the box to confirm")}
		}
		return intake.Amendment{Action: intake.ActionWithdraw}, nil
	case intake.ActionAppeal:
		note := strings.TrimSpace(r.PostForm.Get("appeal"))
		switch {
		case note == "":
			return intake.Amendment{}, []*intake.FieldError{intake.Refuse("appeal", "tell us why we should look again")}
		case intake.CheckValue(note) != nil:
			return intake.Amendment{}, []*intake.FieldError{intake.Refuse("appeal", intake.CheckValue(note).Error())}
		}
		return intake.Amendment{Action: intake.ActionAppeal, Note: note}, nil
	}
	am := intake.Amendment{Action: intake.ActionSupply, Fields: map[string]string{}}
	var errs []*intake.FieldError
	var scratch registration.Record
	for _, f := range intake.ProspectFields {
		v, given := r.PostForm[f]
		if !given {
			continue
		}
		text := strings.TrimSpace(v[0])
		if text == "" {
			continue
		}
		if err := intake.SetField(&scratch, f, text); err != nil {
			var fe *intake.FieldError
			errors.As(err, &fe)
			errs = append(errs, fe)
			continue
		}
		am.Fields[f], _ = scratch.Get(f)
	}
	return am, errs
}

// checkSupply requires every field the form asked for.
func (h *Handler) checkSupply(rec *registration.Record, am intake.Amendment) []*intake.FieldError {
	if rec.Status != registration.StatusNeedsInfo {
		return []*intake.FieldError{intake.Refuse("status", "this registration does not need anything more")}
	}
	var errs []*intake.FieldError
	for _, f := range h.o.Missing(rec) {
		if !intake.IsProspectField(f) {
			continue
		}
		if v, ok := am.Fields[f]; !ok || v == "" || (f == registration.FieldConsent && v != "true") {
			reason := "required"
			if f == registration.FieldConsent {
				reason = "tick the box once the prospect has agreed to be contacted"
			}
			errs = append(errs, intake.Refuse(f, reason))
		}
	}
	return errs
}

// annotate puts field errors and the values sent back on the page.
func (h *Handler) annotate(p *page, errs []*intake.FieldError, r *http.Request) {
	byField := map[string]string{}
	for _, e := range errs {
		if _, dup := byField[e.Field]; !dup {
			byField[e.Field] = e.Reason
		}
	}
	for i := range p.Supply {
		f := &p.Supply[i]
		if v := r.PostForm.Get(f.Name); v != "" && f.Type != "checkbox" {
			f.Value = v
		}
		if e, ok := byField[f.Name]; ok {
			f.Error = e
			p.Errors = append(p.Errors, *f)
			delete(byField, f.Name)
		}
	}
	p.Appeal = r.PostForm.Get("appeal")
	for _, e := range errs {
		if _, left := byField[e.Field]; left {
			name := e.Field
			label := map[string]string{"appeal": "Appeal", "confirm": "Withdraw", "status": "Status"}[name]
			if label == "" {
				label = registration.FieldInfo(name).Prompt
			}
			p.Errors = append(p.Errors, field{Name: name, Label: label, Error: e.Reason})
			delete(byField, e.Field)
		}
	}
}
