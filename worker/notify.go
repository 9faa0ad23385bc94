package worker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Notification kinds.
const (
	KindStatus     = "status"     // a registration's status changed: to the partner
	KindEscalation = "escalation" // a waiting registration missed its SLA: to the partner manager
	KindSummary    = "summary"    // the weekly partner summary
)

// Notification is one message to send. The worker renders it; a Notifier
// delivers it (e-mail, Slack, an outbox directory in the sandbox).
type Notification struct {
	Kind       string
	CaseNumber string
	RecordID   string
	PartnerID  string
	Status     registration.Status
	// To are e-mail addresses; empty when the message has no mail recipient
	// (a Slack-only AE message).
	To      []string
	Subject string
	Text    string
	HTML    string
	// StatusURL is the registration's login-free status link.
	StatusURL string

	// What a status change decided, for notifiers that render their own
	// message (a Slack post): the reason code, the partner-safe message,
	// the missing fields, the prospect, the dates, and when it was decided
	// (At also tells one decision from a repeat of the same status).
	Reason      string
	Message     string
	Missing     []string
	CompanyName string
	HoldUntil   time.Time
	MeetingDue  time.Time
	At          time.Time
}

// Notifier delivers notifications. Notify returns an error when any could
// not be handed over; the worker then tries the whole step again later, so
// implementations should make a repeated message harmless (e.g. a stable
// Message-ID per case and status).
type Notifier interface {
	Notify(ctx context.Context, ns []Notification) error
}

// Template is a configurable message: text/template sources for the
// subject and the plain-text body, over TemplateData.
type Template struct {
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
}

// TemplateData is what status templates see.
type TemplateData struct {
	CaseNumber  string
	CompanyName string
	PartnerName string
	Status      string
	Reason      string
	// Message is the rules' partner-safe message.
	Message    string
	Missing    []string // partner-friendly labels of missing fields
	HoldUntil  string   // "2 January 2006", empty when unset
	MeetingDue string
	SLADue     string
	StatusURL  string
	// Next says what happens next and by when, in one sentence.
	Next string
}

// DefaultTemplates are the partner e-mails, one per status; "" is the
// fallback for any status without its own.
var DefaultTemplates = map[string]Template{
	"": {
		Subject: "[{{.CaseNumber}}] {{.CompanyName}}: {{.Status}}",
		Text: `Hello{{with .PartnerName}} {{.}}{{end}},

Your registration of {{.CompanyName}} (case {{.CaseNumber}}) is now: {{.Status}}.

{{.Message}}
{{with .Next}}
What happens next: {{.}}
{{end}}{{with .StatusURL}}
See where it stands at any time, without logging in: {{.}}
{{end}}
— The partner team
`,
	},
	"needs_info": {
		Subject: "[{{.CaseNumber}}] {{.CompanyName}}: we need a few more details",
		Text: `Hello{{with .PartnerName}} {{.}}{{end}},

Thank you for registering {{.CompanyName}} (case {{.CaseNumber}}). Before we can decide it we need:
{{range .Missing}}
  - {{.}}{{end}}

{{.Message}}

Reply to this e-mail with the details, keeping this e-mail below your answer (its status link shows the reply is yours){{with .StatusURL}}, or supply them here: {{.}}{{end}}.

— The partner team
`,
	},
}

// compiled templates.
type templates map[string]*[2]*template.Template

func compileTemplates(over map[string]Template) (templates, error) {
	out := templates{}
	merged := map[string]Template{}
	for k, v := range DefaultTemplates {
		merged[k] = v
	}
	for k, v := range over {
		d := merged[k]
		if v.Subject != "" {
			d.Subject = v.Subject
		}
		if v.Text != "" {
			d.Text = v.Text
		}
		if d.Subject == "" {
			d.Subject = DefaultTemplates[""].Subject
		}
		if d.Text == "" {
			d.Text = DefaultTemplates[""].Text
		}
		merged[k] = d
	}
	for k, v := range merged {
		s, err := template.New("subject").Option("missingkey=error").Parse(v.Subject)
		if err != nil {
			return nil, fmt.Errorf("template %q subject: %w", k, err)
		}
		t, err := template.New("text").Option("missingkey=error").Parse(v.Text)
		if err != nil {
			return nil, fmt.Errorf("template %q text: %w", k, err)
		}
		out[k] = &[2]*template.Template{s, t}
	}
	return out, nil
}

// CheckTemplates compiles templates and renders each against sample data,
// so that a mistake stops startup rather than a notification.
func CheckTemplates(over map[string]Template) error {
	ts, err := compileTemplates(over)
	if err != nil {
		return err
	}
	sample := TemplateData{CaseNumber: "R-0000000000", CompanyName: "Globex", Status: "approved", Missing: []string{"x"}}
	for k := range ts {
		if _, _, err := ts.render(k, sample); err != nil {
			return fmt.Errorf("template %q: %w", k, err)
		}
	}
	return nil
}

func (ts templates) render(status string, data TemplateData) (subject, text string, err error) {
	t, ok := ts[status]
	if !ok {
		t = ts[""]
	}
	var s, b bytes.Buffer
	if err := t[0].Execute(&s, data); err != nil {
		return "", "", err
	}
	if err := t[1].Execute(&b, data); err != nil {
		return "", "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(s.String(), "\n", " ")), b.String(), nil
}

// SetTemplates replaces the partner e-mail templates (after CheckTemplates).
func (e *Engine) SetTemplates(over map[string]Template) error {
	ts, err := compileTemplates(over)
	if err != nil {
		return err
	}
	e.tmu.Lock()
	e.tmpl = ts
	e.tmu.Unlock()
	return nil
}

func (e *Engine) templates() templates {
	e.tmu.Lock()
	defer e.tmu.Unlock()
	if e.tmpl == nil {
		e.tmpl, _ = compileTemplates(nil)
	}
	return e.tmpl
}

func (e *Engine) partnerName(id string) string {
	if pt, ok := e.o.Policy().Partner(id); ok {
		return pt.Name
	}
	return ""
}

// statusNotification renders the partner's e-mail for a written decision.
func (e *Engine) statusNotification(w *work) Notification {
	d := w.data
	url := e.o.StatusURL(d.CaseNumber)
	missing := make([]string, len(d.Missing))
	for i, f := range d.Missing {
		missing[i] = rules.FieldLabel(f)
	}
	td := TemplateData{
		CaseNumber: d.CaseNumber, CompanyName: firstNonEmpty(d.CompanyName, w.rec.CompanyDomain), PartnerName: e.partnerName(d.PartnerID),
		Status: strings.ReplaceAll(string(d.To), "_", " "), Reason: d.Reason, Message: d.Message, Missing: missing,
		HoldUntil: fmtDay(d.HoldUntil), MeetingDue: fmtDay(d.MeetingDue), SLADue: fmtDay(d.SLADue), StatusURL: url, Next: next(d),
	}
	subject, text, err := e.templates().render(string(d.To), td)
	if err != nil {
		// Templates were checked at startup; fall back to the default.
		subject, text, _ = mustDefault().render(string(d.To), td)
	}
	n := Notification{Kind: KindStatus, CaseNumber: d.CaseNumber, RecordID: w.rec.ID, PartnerID: d.PartnerID,
		Status: d.To, Subject: subject, Text: text, StatusURL: url,
		Reason: d.Reason, Message: d.Message, Missing: d.Missing, CompanyName: td.CompanyName,
		HoldUntil: d.HoldUntil, MeetingDue: d.MeetingDue, At: d.At}
	n.To = e.partnerRecipients(d)
	return n
}

// partnerRecipients is whom a status e-mail goes to: the registration's
// partner_email, only when it is at one of the partner's email_domains.
// Every channel's registrations are told here, and partner_email is input
// (a HubSpot form's hidden field, a CSV row): an address anywhere else
// gets nothing, whatever the decision (the status page and the CRM still
// show it).
func (e *Engine) partnerRecipients(d planData) []string {
	addr, err := registration.ParseEmail(d.PartnerEmail)
	if err != nil {
		return nil
	}
	if !e.o.Policy().AtPartnerDomain(d.PartnerID, addr) {
		e.log.Warn("status e-mail not sent: partner_email is not at the partner's email_domains",
			"case", d.CaseNumber, "partner", d.PartnerID, "partner_email", registration.MaskEmail(addr))
		return nil
	}
	return []string{addr}
}

func mustDefault() templates {
	ts, err := compileTemplates(nil)
	if err != nil {
		panic("worker: default templates: " + err.Error())
	}
	return ts
}
