// Package webform is the open web form: GET /register serves a short,
// accessible page (no login, no script unless a captcha is configured),
// POST /register validates it on the server, defends against spam (a
// captcha, a honeypot field, a per-IP rate limit, a signed one-time
// nonce), checks that the submitter's address belongs to a partner, and
// answers with a confirmation page: the case number, a status badge and
// the status link.
package webform

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/internal/webui"
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
	Logger     *slog.Logger
	Now        func() time.Time
}

// Handler serves GET and POST /register.
type Handler struct {
	o       Options
	nonces  nonces
	captcha *captcha
	limit   *limiter
	proxies []netip.Prefix
}

// New returns the handler. Options.Config is expected valid (see
// intake.Config.Validate).
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FreeMail == nil {
		o.FreeMail = registration.NewFreeMail(nil, nil)
	}
	if o.ProgramName == "" {
		o.ProgramName = "Partner program"
	}
	if o.Config.NonceMaxAge <= 0 {
		o.Config.NonceMaxAge = 24 * time.Hour
	}
	h := &Handler{o: o, captcha: newCaptcha(o.Config.Captcha, o.HTTPClient), limit: newLimiter(o.Config.RateLimit, o.Now)}
	if o.Config.NonceKey.IsSet() {
		h.nonces = nonces{key: []byte(o.Config.NonceKey.Reveal())}
	} else {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		h.nonces = nonces{key: k}
	}
	for _, p := range o.Config.TrustedProxies {
		if pr, err := intake.ParsePrefix(p); err == nil {
			h.proxies = append(h.proxies, pr)
		}
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.render(w, http.StatusOK, h.blank())
	case http.MethodPost:
		h.post(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
	}
}

// The form's fields, in order.
var formFields = []struct {
	name, label, hint, typ, autocomplete string
	required                             bool
}{
	{"company_name", "Company name", "", "text", "off", true},
	{"company_domain", "Company website", "Such as globex.com.", "text", "off", true},
	{"contact_name", "Contact's name", "The person at the prospect you spoke with.", "text", "off", true},
	{"contact_email", "Contact's e-mail", "", "email", "off", true},
	{"contact_role", "Contact's role", "Optional, such as CFO.", "text", "off", false},
	{"problem", "The problem, in a sentence", "What does the prospect need?", "textarea", "off", true},
	{"partner_email", "Your work e-mail", "We check that it belongs to a partner and send updates there.", "email", "email", true},
}

type input struct {
	Name, Label, Hint, Type, Autocomplete, Value, Error string
	Required                                            bool
}

type formPage struct {
	Title, Program   string
	Inputs           []input
	Consent          bool
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
}

func (h *Handler) blank() *formPage {
	p := &formPage{Title: h.o.Config.Title, Program: h.o.ProgramName, Nonce: h.nonces.issue(h.o.Now())}
	if p.Title == "" {
		p.Title = "Register a prospect"
	}
	for _, f := range formFields {
		p.Inputs = append(p.Inputs, input{Name: f.name, Label: f.label, Hint: f.hint, Type: f.typ, Autocomplete: f.autocomplete, Required: f.required})
	}
	if c := h.captcha; c != nil {
		p.CaptchaClass, p.CaptchaSiteKey, p.CaptchaScript, p.captchaOrigins = c.p.class, c.cfg.SiteKey, c.p.script, c.p.origins
	}
	return p
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
	if ok, wait := h.limit.allow(ip); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		p := h.blank()
		p.Notice = "Too many registrations from your network in a short time. Please try again later."
		h.render(w, http.StatusTooManyRequests, p)
		h.o.Logger.Warn("webform: rate limited", "ip", ip.String())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		status := http.StatusBadRequest
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
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
	// The honeypot: a field people never see or fill.
	if strings.TrimSpace(r.PostForm.Get(honeypot)) != "" {
		p := h.blank()
		p.Notice = "Your submission looks automated and was not accepted. If you are a person, please fill in the form again."
		h.render(w, http.StatusUnprocessableEntity, p)
		h.o.Logger.Info("webform: honeypot filled", "ip", ip.String())
		return
	}
	p := h.blank()
	h.fill(p, r)
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

	rec, errs := h.validate(r)
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
	key := "webform:" + id
	rec.SubmissionKey, rec.CaseNumber = key, registration.CaseNumberFor(key)
	rec.Index()
	rcs, err := h.o.Registrar.Register(r.Context(), []intake.Submission{{Key: key, Channel: intake.ChannelWebForm, Record: rec}})
	if err == nil && len(rcs) != 1 {
		err = errors.New("registrar returned no receipt")
	}
	if err == nil && rcs[0].Err != nil {
		err = rcs[0].Err
	}
	if err != nil {
		h.o.Logger.Error("webform: register", "case", rec.CaseNumber, "err", err)
		p.Notice = "We could not register this right now. Please send the form again in a minute; it will not be registered twice."
		h.render(w, http.StatusServiceUnavailable, p)
		return
	}
	rc := rcs[0]
	h.o.Logger.Info("webform: registered", "case", rc.CaseNumber, "partner", rec.PartnerID, "partner_email", registration.MaskEmail(rec.PartnerEmail), "status", rc.Status, "created", rc.Created)
	h.render(w, http.StatusOK, confirmation(p, rc, rec))
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
	p.Consent = r.PostForm.Get("consent") == "yes"
}

// validate checks every field on the server and builds the record.
func (h *Handler) validate(r *http.Request) (registration.Record, []*intake.FieldError) {
	rec := registration.Record{Source: intake.ChannelWebForm}
	var errs []*intake.FieldError
	bad := func(f, reason string) { errs = append(errs, intake.Refuse(f, reason)) }
	for _, f := range formFields {
		v := strings.TrimSpace(r.PostForm.Get(f.name))
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
	if rec.CompanyDomain != "" && h.o.FreeMail.IsFreeHost(rec.CompanyDomain) {
		bad("company_domain", rec.CompanyDomain+" is a free e-mail provider: enter the company's own website")
	}
	if rec.PartnerEmail != "" {
		pt, err := h.o.Partners.ForEmail("partner_email", rec.PartnerEmail)
		if err != nil {
			bad("partner_email", "use the work address of a partner in our program ("+registration.EmailDomain(rec.PartnerEmail)+" is not one)")
		} else {
			rec.PartnerID, rec.PartnerName, rec.PartnerType = pt.ID, pt.Name, pt.Type
			if rec.ContactEmail != "" {
				if cp, ok := h.o.Partners.ForDomain(registration.EmailDomain(rec.ContactEmail)); ok && cp.ID == pt.ID {
					bad("contact_email", "that is an address at your own company: enter the prospect's address")
				}
			}
		}
	}
	if r.PostForm.Get("consent") != "yes" {
		bad("consent", "confirm that the prospect agreed to be contacted")
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
		case "consent":
			p.ConsentError = e.Reason
			p.Errors = append(p.Errors, input{Name: "consent", Label: "Consent", Error: e.Reason})
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
{{if .StatusURL}}<p><a href="{{.StatusURL}}">See the status of {{.CaseNumber}}</a> — keep this link: it needs no login, and anyone who has it can see and change this registration.</p>{{end}}
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
{{range .Inputs}}{{if eq .Name "partner_email"}}{{template "input" .}}{{end}}{{end}}
<div class="field">
<div class="check"><input type="checkbox" id="f-consent" name="consent" value="yes"{{if .Consent}} checked{{end}} required{{if .ConsentError}} aria-invalid="true" aria-describedby="e-consent"{{end}}>
<label for="f-consent">The prospect agreed to be contacted about this</label></div>
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
