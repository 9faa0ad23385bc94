// Package webform is the open web form: GET /register serves a short,
// accessible page (no login, no script unless a captcha is configured),
// POST /register validates it on the server, defends against spam (a
// captcha, a honeypot field, rate limits per client, submitter address and
// partner, a signed one-time nonce) and checks that the submitter's address
// belongs to a partner.
//
// A typed address proves nothing, so a submission is registered at once
// only when the submitter is known — a personal partner link, or a browser
// that confirmed that address before (identity.go). Any other is held and
// a confirmation link e-mailed to the address (hold.go); it is registered
// when the link is opened and confirmed (confirm.go). A registration's
// page shows the case number, a status badge and the status link.
package webform

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/internal/webui"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// Path is where the form is served.
const Path = "/register"

// Options configure the form.
type Options struct {
	Config    intake.WebFormConfig
	Registrar intake.Registrar
	Partners  *intake.Directory
	// PublicURL is the site's address (a POST must come from its origin).
	PublicURL   string
	ProgramName string
	// FreeMail tells free-mail domains (not a company website). Default:
	// the embedded list.
	FreeMail *registration.FreeMail
	// HTTPClient calls the captcha provider (default: a plain client).
	HTTPClient *http.Client
	// Store keeps held submissions durably (the state file); Mail sends
	// their confirmation links. Without either, a submission that would
	// be held is refused (the page says why).
	Store Store
	Mail  regmail.Sender
	// OutboxURL, when set (the sandbox), is where the e-mails regsync
	// would send can be read; the "check your e-mail" page links there.
	OutboxURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Handler serves GET and POST /register and the confirmation links under
// ConfirmPrefix.
type Handler struct {
	o          Options
	nonces     nonces
	sign       signer
	captcha    *captcha
	perClient  *limiter // unconfirmed submissions, per clientKey
	perAddress *limiter // held submissions, per submitter address
	perPartner *limiter // registrations, per partner
	locks      keyLocks
	proxies    []netip.Prefix
}

// New returns the handler. Options.Config is expected valid (see
// intake.Config.Validate).
func New(o Options) *Handler {
	o.Logger = intake.QuietIfNil(o.Logger)
	o.Now = intake.ClockOr(o.Now)
	if o.ProgramName == "" {
		o.ProgramName = "Partner program"
	}
	if o.Config.NonceMaxAge <= 0 {
		o.Config.NonceMaxAge = 24 * time.Hour
	}
	if o.Config.ConfirmTTL <= 0 {
		o.Config.ConfirmTTL = 24 * time.Hour
	}
	rl := o.Config.RateLimit
	h := &Handler{o: o, captcha: newCaptcha(o.Config.Captcha, o.HTTPClient),
		perClient:  newLimiter(rl.PerHour, rl.Burst, o.Now),
		perAddress: newLimiter(rl.PerAddressPerHour, rl.PerAddressBurst, o.Now),
		perPartner: newLimiter(rl.PerPartnerPerHour, rl.PerPartnerBurst, o.Now)}
	h.nonces = nonces{key: keyOrRandom(o.Config.NonceKey)}
	h.sign = signer{key: keyOrRandom(o.Config.LinkKey)}
	for _, p := range o.Config.TrustedProxies {
		if pr, err := intake.ParsePrefix(p); err == nil {
			h.proxies = append(h.proxies, pr)
		}
	}
	return h
}

func keyOrRandom(k secret.Secret) []byte {
	if k.IsSet() {
		return []byte(k.Reveal())
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ConfirmPrefix) {
		h.confirm(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(w, r)
	case http.MethodPost:
		h.post(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
	}
}

// formField is one input of the form.
type formField struct {
	name, label, hint, typ, autocomplete string
	required                             bool
}

// formFields are the form's fields, in order: the registry's quick form
// (registration.QuickForm), then the submitter's address.
var formFields = func() []formField {
	var out []formField
	for _, name := range registration.QuickForm() {
		in := registration.FieldInfo(name)
		f := formField{name: name, label: in.Prompt, hint: in.Hint, typ: in.Input.HTMLType(), autocomplete: "off", required: !registration.QuickFormOptional(name)}
		if !f.required {
			// The page says "every field is required unless it says optional".
			f.hint = "Optional" + strings.TrimSuffix(", "+strings.ToLower(f.hint[:1])+f.hint[1:], ", ")
		}
		out = append(out, f)
	}
	pe := registration.FieldInfo(registration.FieldPartnerEmail)
	return append(out, formField{name: pe.Name, label: pe.Prompt, typ: pe.Input.HTMLType(), autocomplete: "email", required: true,
		hint: "We check that it belongs to a partner, e-mail you a link to confirm it, and send updates there."})
}()

type input struct {
	Name, Label, Hint, Type, Autocomplete, Value, Error string
	Required                                            bool
}

type formPage struct {
	Title, Program   string
	Inputs           []input
	Consent          bool
	ConsentLabel     string
	ConsentError     string
	Nonce            string
	Errors           []input // the error summary
	Notice           string
	CaptchaClass     string
	CaptchaSiteKey   string
	CaptchaScript    string
	CaptchaError     string
	captchaOrigins   []string
	Confirmed        bool
	CaseNumber       string
	Badge, BadgeCls  string
	StatusLabel      string
	Message, Next    string
	StatusURL        string
	Company, Partner string
	Note             string
	// A held submission: the address the link went to, until when.
	Held                   bool
	HeldEmail, HeldExpires string
	OutboxURL, RememberFor string
	// A personal link: its token, address and partner.
	Link, LinkEmail, LinkPartner string
	// Remembered is the address this browser confirmed before.
	Remembered string
}

func (h *Handler) blank() *formPage {
	p := &formPage{Title: h.o.Config.Title, Program: h.o.ProgramName, Nonce: h.nonces.issue(h.o.Now()),
		ConsentLabel: registration.FieldInfo(registration.FieldConsent).Prompt}
	if p.Title == "" {
		p.Title = "Register a prospect"
	}
	for _, f := range formFields {
		in := input{Name: f.name, Label: f.label, Hint: f.hint, Type: f.typ, Autocomplete: f.autocomplete, Required: f.required}
		if f.name == registration.FieldPartnerEmail && !h.o.Config.ConfirmEmail {
			in.Hint = "We check that it belongs to a partner and send updates there."
		}
		p.Inputs = append(p.Inputs, in)
	}
	if c := h.captcha; c != nil {
		p.CaptchaClass, p.CaptchaSiteKey, p.CaptchaScript, p.captchaOrigins = c.p.class, c.cfg.SiteKey, c.p.script, c.p.origins
	}
	return p
}

// get serves the form: blank, with a personal link's address filled in
// and fixed, or with the address this browser confirmed before.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	p := h.blank()
	if tok := r.URL.Query().Get(LinkParam); tok != "" {
		if !h.withLink(p, tok) {
			h.render(w, http.StatusNotFound, p)
			return
		}
	} else if a := h.remembered(r); a != "" {
		p.Remembered = a
		h.setValue(p, registration.FieldPartnerEmail, a)
	}
	h.render(w, http.StatusOK, p)
}

// withLink puts a personal link on the page, or says why it does not
// hold (false).
func (h *Handler) withLink(p *formPage, tok string) bool {
	c, err := h.readLink(tok)
	switch {
	case err == nil:
		p.Link, p.LinkEmail, p.LinkPartner = tok, c.Email, c.Partner
		if pt, ok := h.o.Partners.ByID(c.Partner); ok && pt.Name != "" {
			p.LinkPartner = pt.Name
		}
		return true
	case errors.Is(err, errLinkExpired):
		p.Notice = "Your personal link expired on " + when(time.Unix(c.Expires, 0)) + ". Ask your partner manager for a new one — or use this form: we will e-mail you a link to confirm your address."
		h.setValue(p, registration.FieldPartnerEmail, c.Email)
	case errors.Is(err, errLinkPartner):
		p.Notice = "Your personal link is no longer valid: its address is not one of a partner's any more. Ask your partner manager for a new one."
	default:
		p.Notice = "This personal link is not valid: it may be incomplete, or revoked. Ask your partner manager for a new one — or use this form: we will e-mail you a link to confirm your address."
	}
	return false
}

func (h *Handler) setValue(p *formPage, name, v string) {
	for i := range p.Inputs {
		if p.Inputs[i].Name == name {
			p.Inputs[i].Value = v
		}
	}
}

func (h *Handler) render(w http.ResponseWriter, status int, p *formPage) {
	webui.SecureHeaders(w, p.captchaOrigins...)
	w.WriteHeader(status)
	if err := tmpl.ExecuteTemplate(w, "layout", p); err != nil {
		h.o.Logger.Error("webform: render", "err", err)
	}
}

// maxForm bounds the request body.
const maxForm = 64 << 10

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r, h.proxies)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		status := http.StatusBadRequest
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		if ok, wait := h.perClient.allow(clientKey(ip)); !ok {
			setRetryAfter(w, wait)
			status = http.StatusTooManyRequests
		}
		p := h.blank()
		p.Notice = "The form could not be read. Please fill it in again."
		h.render(w, status, p)
		return
	}
	if !webui.SameOrigin(r, h.o.PublicURL) {
		p := h.blank()
		p.Notice = "This form was not sent from our registration page. Please fill it in here."
		h.render(w, http.StatusForbidden, p)
		h.o.Logger.Warn("webform: cross-site post refused", "origin", r.Header.Get("Origin"))
		return
	}
	p := h.blank()
	h.fill(p, r)

	// Who submits: a personal link's holder, a browser that confirmed the
	// typed address, or someone whose address is still to be confirmed.
	var link *linkClaims
	if tok := r.PostForm.Get(LinkParam); tok != "" {
		if !h.withLink(p, tok) {
			p.Notice += " Your registration was not sent."
			h.render(w, http.StatusUnprocessableEntity, p)
			return
		}
		c, _ := h.readLink(tok)
		link = &c
		if typed := strings.TrimSpace(r.PostForm.Get(registration.FieldPartnerEmail)); typed != "" && addrKey(typed) != addrKey(c.Email) {
			h.o.Logger.Warn("webform: a posted partner_email differs from the personal link's; the link's stands",
				"link_partner", c.Partner, "partner_email", registration.MaskEmail(typed))
		}
		h.setValue(p, registration.FieldPartnerEmail, c.Email)
	}
	remembered := h.remembered(r)
	known := link != nil || (remembered != "" && addrKey(remembered) == addrKey(r.PostForm.Get(registration.FieldPartnerEmail)))
	if !known {
		if ok, wait := h.perClient.allow(clientKey(ip)); !ok {
			h.limited(w, p, wait, "Too many registrations from your network in a short time.")
			h.o.Logger.Warn("webform: rate limited", "client", clientKey(ip))
			return
		}
	}

	// The honeypot: a field people never see or fill.
	if strings.TrimSpace(r.PostForm.Get(honeypot)) != "" {
		p := h.blank()
		p.Notice = "Your submission looks automated and was not accepted. If you are a person, please fill in the form again."
		h.render(w, http.StatusUnprocessableEntity, p)
		h.o.Logger.Info("webform: honeypot filled", "client", clientKey(ip))
		return
	}
	id, served, ok := h.nonces.check(r.PostForm.Get("nonce"))
	age := h.o.Now().Sub(served)
	switch {
	case !ok || age < -time.Minute:
		p.Notice = "This form could not be verified. Please check your details and send it again."
		h.render(w, http.StatusUnprocessableEntity, p)
		return
	case age > h.o.Config.NonceMaxAge:
		p.Notice = "This form was open too long. Please check your details and send it again."
		h.render(w, http.StatusUnprocessableEntity, p)
		return
	case age < h.o.Config.MinFillTime:
		p.Notice = "That was faster than a person can fill in the form. Please check your details and send it again."
		h.render(w, http.StatusUnprocessableEntity, p)
		return
	}
	// Keep the nonce: sending the same form again must register once.
	p.Nonce = r.PostForm.Get("nonce")

	rec, errs := h.validate(r.PostForm, link)
	if len(errs) == 0 && h.captcha != nil {
		if err := h.captcha.verify(r.Context(), r.PostForm.Get(h.captcha.p.field), ip.String()); err != nil {
			var fe *intake.FieldError
			if !errors.As(err, &fe) {
				h.o.Logger.Error("webform: captcha", "err", err)
				fe = intake.Refuse("captcha", "the check that you are not a robot could not be verified right now; please try again in a minute")
			}
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		h.annotate(p, errs)
		h.render(w, http.StatusUnprocessableEntity, p)
		return
	}
	if !known && h.o.Config.ConfirmEmail {
		h.holdForConfirmation(w, r, p, holdKey(id), rec)
		return
	}

	if ok, wait := h.perPartner.allow(rec.PartnerID); !ok {
		h.limited(w, p, wait, "Your company has registered many prospects through this form in a short time.")
		h.o.Logger.Warn("webform: partner rate limited", "partner", rec.PartnerID)
		return
	}
	rc, err := h.registerRecord(r, id, rec)
	if err != nil {
		h.perPartner.refund(rec.PartnerID)
		p.Notice = "We could not register this right now. Please send the form again in a minute; it will not be registered twice."
		h.render(w, http.StatusServiceUnavailable, p)
		return
	}
	if link != nil {
		h.remember(w, rec.PartnerEmail)
	}
	h.render(w, http.StatusOK, confirmation(p, rc, rec))
}

// registerRecord registers a submission the form believes (a known
// submitter, or one just confirmed) through the funnel, under the hold's
// key.
func (h *Handler) registerRecord(r *http.Request, id string, rec registration.Record) (intake.Receipt, error) {
	sub, _ := h.funnel().Submission(intake.ChannelWebForm, rec, id) // validate checked it
	rc, err := h.funnel().RegisterOne(r.Context(), sub)
	if err != nil {
		h.o.Logger.Error("webform: register", "case", sub.Record.CaseNumber, "err", err)
		return intake.Receipt{}, err
	}
	h.o.Logger.Info("webform: registered", "case", rc.CaseNumber, "partner", rec.PartnerID, "partner_email", registration.MaskEmail(rec.PartnerEmail), "status", rc.Status, "created", rc.Created)
	return rc, nil
}

// holdForConfirmation stores a submission from an unconfirmed address —
// durably, before the page answers — and e-mails the link to confirm it to
// that address.
func (h *Handler) holdForConfirmation(w http.ResponseWriter, r *http.Request, p *formPage, key string, rec registration.Record) {
	if h.o.Store == nil || h.o.Mail == nil {
		h.o.Logger.Error("webform: a submission needs its address confirmed but no confirmation e-mail can be sent (no state or no mail)")
		p.Notice = "We cannot send confirmation e-mails right now, so this form cannot register anything. Please use your personal partner link, or ask your partner manager."
		h.render(w, http.StatusServiceUnavailable, p)
		return
	}
	unlock := h.locks.lock(key)
	defer unlock()
	cur, err := h.o.Store.GetHold(key, h.o.Now())
	prev, derr := decodeHeld(cur)
	if err == nil && derr == nil && (prev == nil || addrKey(prev.Email) != addrKey(rec.PartnerEmail)) {
		// A new hold e-mails the address: counted per address.
		if ok, wait := h.perAddress.allow(addrKey(rec.PartnerEmail)); !ok {
			h.limited(w, p, wait, "Too many registrations from "+rec.PartnerEmail+" are waiting for confirmation: open the links we e-mailed to that address.")
			h.o.Logger.Warn("webform: address rate limited", "partner_email", registration.MaskEmail(rec.PartnerEmail))
			return
		}
	}
	out, err := h.hold(key, rec.PartnerEmail, rec.PartnerID, r.PostForm)
	if err != nil {
		h.o.Logger.Error("webform: hold a submission", "key", key, "err", err)
		p.Notice = "We could not save this right now. Please send the form again in a minute; it will not be registered twice."
		h.render(w, http.StatusServiceUnavailable, p)
		return
	}
	if out.already != "" {
		h.showRegistered(w, r, out.already, "")
		return
	}
	if out.mail != "" {
		if err := h.sendLink(r.Context(), out.data, rec, out.mail); err != nil {
			h.o.Logger.Error("webform: send a confirmation link", "partner_email", registration.MaskEmail(rec.PartnerEmail), "err", err)
			p.Notice = "We saved your registration but could not e-mail the link to confirm it right now. Please send the form again in a minute: we will send the link then."
			h.render(w, http.StatusServiceUnavailable, p)
			return
		}
		if err := h.mailed(key); err != nil {
			h.o.Logger.Warn("webform: record a confirmation link as sent", "key", key, "err", err)
		}
	}
	h.o.Logger.Info("webform: held until its address is confirmed", "case", registration.CaseNumberFor(key), "partner", rec.PartnerID,
		"partner_email", registration.MaskEmail(rec.PartnerEmail), "expires", out.data.Expires, "mailed", out.mail != "")
	c := &formPage{Title: "Check your e-mail", Program: p.Program, Held: true, HeldEmail: out.data.Email,
		HeldExpires: when(out.data.Expires), OutboxURL: h.o.OutboxURL, Company: rec.CompanyName}
	if d := h.o.Config.RememberConfirmed; d > 0 {
		c.RememberFor = days(d)
	}
	h.render(w, http.StatusAccepted, c)
}

// limited answers a submission over a rate limit: the form as it was
// typed, when to try again, and Retry-After.
func (h *Handler) limited(w http.ResponseWriter, p *formPage, wait time.Duration, why string) {
	setRetryAfter(w, wait)
	p.Notice = why + " Nothing was registered. Please send the form again " + againIn(wait) + " (at " + h.o.Now().Add(wait).UTC().Format("15:04 UTC") + "): what you typed is kept below."
	h.render(w, http.StatusTooManyRequests, p)
}

func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}

// againIn says when to try again, for a page.
func againIn(d time.Duration) string {
	switch m := int(d.Minutes() + 0.999); {
	case m <= 1:
		return "in a minute"
	case m < 90:
		return "in " + strconv.Itoa(m) + " minutes"
	default:
		return "in about " + strconv.Itoa((m+30)/60) + " hours"
	}
}

func days(d time.Duration) string {
	if n := int(d.Hours() / 24); n >= 1 {
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

func confirmation(p *formPage, rc intake.Receipt, rec registration.Record) *formPage {
	c := &formPage{Title: "Registration received", Program: p.Program, Confirmed: true,
		CaseNumber: rc.CaseNumber, Badge: intake.Badge(rc.Status), StatusLabel: intake.StatusLabel(rc.Status),
		Message: strings.TrimSpace(rc.Message), StatusURL: rc.StatusURL, Company: rec.CompanyName}
	c.BadgeCls = "badge-" + strings.ReplaceAll(c.Badge, " ", "-")
	if c.Message == "" {
		c.Next = intake.NextSteps(rc.Status, rc.HoldUntil, rc.MeetingDue, time.Time{})
	}
	if rc.Status == registration.StatusNeedsInfo && len(rc.Missing) > 0 {
		c.Next = "Still needed: " + intake.MissingList(rc.Missing) + ". You can send it on the status page."
	}
	return c
}

const honeypot = "homepage"

// fill puts the submitted values back into the form.
func (h *Handler) fill(p *formPage, r *http.Request) {
	for i := range p.Inputs {
		p.Inputs[i].Value = r.PostForm.Get(p.Inputs[i].Name)
	}
	p.Consent = r.PostForm.Get(registration.FieldConsent) == "yes"
}

// validate checks every field on the server and builds the record. With
// a personal link, the link's address is the submitter's, whatever was
// posted.
func (h *Handler) validate(form url.Values, link *linkClaims) (registration.Record, []*intake.FieldError) {
	rec := registration.Record{Source: intake.ChannelWebForm}
	var errs []*intake.FieldError
	bad := func(f, reason string) { errs = append(errs, intake.Refuse(f, reason)) }
	for _, f := range formFields {
		v := strings.TrimSpace(form.Get(f.name))
		if f.name == registration.FieldPartnerEmail && link != nil {
			v = link.Email
		}
		if v == "" {
			if f.required {
				bad(f.name, "enter "+strings.ToLower(f.label[:1])+f.label[1:])
			}
			continue
		}
		if err := intake.SetField(&rec, f.name, v); err != nil {
			var fe *intake.FieldError
			errors.As(err, &fe)
			errs = append(errs, fe)
		}
	}
	if rec.PartnerEmail != "" {
		pt, err := h.o.Partners.ForEmail(registration.FieldPartnerEmail, rec.PartnerEmail)
		if err != nil {
			bad(registration.FieldPartnerEmail, "use the work address of a partner in our program ("+registration.EmailDomain(rec.PartnerEmail)+" is not one)")
		} else {
			rec.PartnerID, rec.PartnerName, rec.PartnerType = pt.ID, pt.Name, pt.Type
		}
	}
	errs = append(errs, h.funnel().Check(&rec)...)
	if link != nil && rec.PartnerID != link.Partner {
		bad(registration.FieldPartnerEmail, "your personal link is no longer valid; ask your partner manager for a new one")
	}
	if form.Get(registration.FieldConsent) != "yes" {
		bad(registration.FieldConsent, "confirm that the prospect agreed to be contacted")
	} else {
		rec.Consent = true
	}
	return rec, errs
}

// annotate ties each error to its field (and lists them in the summary).
func (h *Handler) annotate(p *formPage, errs []*intake.FieldError) {
	seen := map[string]bool{}
	for _, e := range errs {
		if seen[e.Field] {
			continue
		}
		seen[e.Field] = true
		switch e.Field {
		case registration.FieldConsent:
			p.ConsentError = e.Reason
			p.Errors = append(p.Errors, input{Name: registration.FieldConsent, Label: "Consent", Error: e.Reason})
		case "captcha":
			p.CaptchaError = e.Reason
			p.Errors = append(p.Errors, input{Name: "captcha", Label: "Check", Error: e.Reason})
		default:
			for i := range p.Inputs {
				if p.Inputs[i].Name == e.Field {
					p.Inputs[i].Error = e.Reason
					p.Errors = append(p.Errors, p.Inputs[i])
				}
			}
		}
	}
}

var tmpl = webui.Parse("webform", `
{{define "title"}}{{if .Errors}}Error: {{end}}{{.Title}} – {{.Program}}{{end}}
{{define "head"}}{{if and .CaptchaScript (not .Confirmed)}}<script src="{{.CaptchaScript}}" async defer></script>{{end}}{{end}}
{{define "body"}}
<p>{{.Program}}</p>
{{if .Confirmed}}
<h1>Registration received</h1>
<div class="card" role="status">
<p>Your case number is <span class="case">{{.CaseNumber}}</span> <span class="badge {{.BadgeCls}}">{{.Badge}}</span></p>
{{if .Company}}<p>Company: {{.Company}}</p>{{end}}
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Next}}<p>{{.Next}}</p>{{end}}
</div>
{{if .Note}}<p class="notice">{{.Note}}</p>{{end}}
{{if .StatusURL}}<p><a href="{{.StatusURL}}">See the status of {{.CaseNumber}}</a> — keep this link: it needs no login, and anyone who has it can see and change this registration.</p>{{end}}
<p><a href="/register">Register another prospect</a></p>
{{else if .Held}}
<h1>Check your e-mail</h1>
<div class="card" role="status">
<p>Check your e-mail: we sent a link to <strong>{{.HeldEmail}}</strong>; your registration{{if .Company}} of {{.Company}}{{end}} counts from when you open it and confirm.</p>
<p>Until then nothing is registered. The link works once, until {{.HeldExpires}}; if the e-mail does not come, look in your spam folder, or send the form again for a new link.</p>
</div>
{{if .OutboxURL}}<p class="notice">This is the sandbox: no e-mail leaves it. <a href="{{.OutboxURL}}">Read the e-mail in the sandbox outbox</a> and open the link there.</p>{{end}}
<p>{{if .RememberFor}}Confirm on this browser and we remember your address here for {{.RememberFor}}: your next registrations count at once. {{end}}Registering often? Ask your partner manager for your personal link: it needs no confirmation.</p>
<p><a href="/register">Register another prospect</a></p>
{{else}}
<h1>{{.Title}}</h1>
<p>It takes under a minute. Every field is required unless it says optional.</p>
{{if .Notice}}<div class="summary" role="alert"><p>{{.Notice}}</p></div>{{end}}
{{if .Errors}}<div class="summary" role="alert" aria-labelledby="err-title" tabindex="-1"><h2 id="err-title">There is a problem</h2><ul>{{range .Errors}}<li><a href="#f-{{.Name}}">{{.Error}}</a></li>{{end}}</ul></div>{{end}}
<form method="post" action="/register" novalidate>
<input type="hidden" name="nonce" value="{{.Nonce}}">
<fieldset>
<legend>The prospect</legend>
{{range .Inputs}}{{if ne .Name "partner_email"}}{{template "input" .}}{{end}}{{end}}
</fieldset>
<fieldset>
<legend>You</legend>
{{if .Link}}<input type="hidden" name="link" value="{{.Link}}">
<p id="f-partner_email">Registering as <strong>{{.LinkEmail}}</strong> ({{.LinkPartner}}) with your personal link: your registrations count at once.</p>
{{else}}{{range .Inputs}}{{if eq .Name "partner_email"}}{{template "input" .}}{{end}}{{end}}
{{if .Remembered}}<p class="hint">This browser confirmed {{.Remembered}}: registrations from that address count at once.</p>{{end}}{{end}}
<div class="field">
<div class="check"><input type="checkbox" id="f-consent" name="consent" value="yes"{{if .Consent}} checked{{end}} required{{if .ConsentError}} aria-invalid="true" aria-describedby="e-consent"{{end}}>
<label for="f-consent">{{.ConsentLabel}}</label></div>
{{if .ConsentError}}<span class="error" id="e-consent">{{.ConsentError}}</span>{{end}}
</div>
</fieldset>
<div class="hp" aria-hidden="true"><label for="f-homepage">Leave this field empty</label><input type="text" id="f-homepage" name="homepage" tabindex="-1" autocomplete="off"></div>
{{if .CaptchaClass}}<div class="field" id="f-captcha">{{if .CaptchaError}}<span class="error" id="e-captcha">{{.CaptchaError}}</span>{{end}}<div class="{{.CaptchaClass}}" data-sitekey="{{.CaptchaSiteKey}}"></div><noscript><p>The check that you are not a robot needs JavaScript.</p></noscript></div>{{end}}
<button type="submit">Register</button>
</form>
{{end}}
{{end}}
{{define "input"}}<div class="field">
<label for="f-{{.Name}}">{{.Label}}</label>
{{if .Hint}}<span class="hint" id="h-{{.Name}}">{{.Hint}}</span>{{end}}
{{if .Error}}<span class="error" id="e-{{.Name}}">{{.Error}}</span>{{end}}
{{if eq .Type "textarea"}}<textarea id="f-{{.Name}}" name="{{.Name}}" rows="3" maxlength="4000"{{if .Required}} required{{end}}{{if .Error}} aria-invalid="true"{{end}}{{if or .Hint .Error}} aria-describedby="{{if .Hint}}h-{{.Name}}{{end}}{{if and .Hint .Error}} {{end}}{{if .Error}}e-{{.Name}}{{end}}"{{end}}>{{.Value}}</textarea>
{{else}}<input type="{{.Type}}" id="f-{{.Name}}" name="{{.Name}}" value="{{.Value}}" autocomplete="{{.Autocomplete}}" maxlength="300"{{if eq .Type "email"}} inputmode="email" spellcheck="false"{{end}}{{if .Required}} required{{end}}{{if .Error}} aria-invalid="true"{{end}}{{if or .Hint .Error}} aria-describedby="{{if .Hint}}h-{{.Name}}{{end}}{{if and .Hint .Error}} {{end}}{{if .Error}}e-{{.Name}}{{end}}"{{end}}>{{end}}
</div>{{end}}
`)

// funnel is the way the channel's submissions go (built from the options
// each time: tests swap the Registrar).
func (h *Handler) funnel() *intake.Funnel {
	return &intake.Funnel{Registrar: h.o.Registrar, Partners: h.o.Partners, FreeMail: h.o.FreeMail}
}
