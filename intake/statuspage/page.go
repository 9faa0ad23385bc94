package statuspage

import (
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/internal/webui"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// field is one input of the supply form.
type field struct {
	Name, Label, Hint, Type, Value, Error string
}

type dateRow struct{ Label, Value string }

// page is what the status page shows. It is built from the registration
// alone and holds nothing of any other registration or partner: no rival
// (conflict_with), no owner, no deal.
type page struct {
	Program     string
	Token       string
	CaseNumber  string
	StatusLabel string
	Badge       string
	BadgeClass  string
	Company     string
	Domain      string
	Contact     string
	Message     string
	Next        string
	Dates       []dateRow
	Supply      []field
	SupplyNote  string
	CanWithdraw bool
	CanAppeal   bool
	Appeal      string
	Errors      []field // the summary: fields with an error
	Done        string
	Unavailable bool
}

var doneText = map[string]string{
	intake.ActionSupply:   "Thank you. We received the details and are checking your registration again.",
	intake.ActionWithdraw: "Your registration is withdrawn.",
	intake.ActionAppeal:   "Thank you. Your appeal is with an account executive.",
}

// missingFields is the default list of fields a needs_info registration
// lacks: the required prospect fields that are blank (consent not given
// counts), and the company domain when it was refused as a free-mail
// domain.
func missingFields(required []string) func(*registration.Record) []string {
	return func(r *registration.Record) []string {
		var out []string
		seen := map[string]bool{}
		add := func(f string) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
		if r.StatusReason == rules.ReasonFreeEmailDomain {
			add(registration.FieldCompanyDomain)
		}
		for _, name := range required {
			f, ok := registration.LookupField(name)
			if !ok {
				continue
			}
			if f.IsZero(r) {
				add(name)
				continue
			}
			switch name {
			case registration.FieldCompanyDomain:
				if _, err := registration.NormalizeDomain(r.CompanyDomain); err != nil {
					add(name)
				}
			case registration.FieldContactEmail, registration.FieldPartnerEmail:
				v, _ := r.Get(name)
				if _, err := registration.ParseEmail(v); err != nil {
					add(name)
				}
			}
		}
		return out
	}
}

func (h *Handler) build(rec *registration.Record, token string) *page {
	p := &page{
		Program: h.o.ProgramName, Token: token, CaseNumber: rec.CaseNumber,
		StatusLabel: intake.StatusLabel(rec.Status), Badge: intake.Badge(rec.Status),
		Company: rec.CompanyName, Domain: rec.CompanyDomain, Contact: rec.ContactName,
		Message: strings.TrimSpace(rec.StatusMessage),
		Next:    intake.NextSteps(rec.Status, rec.HoldUntil, rec.MeetingDue, rec.SLADue),
	}
	p.BadgeClass = "badge-" + strings.ReplaceAll(p.Badge, " ", "-")
	for _, d := range []struct {
		label string
		t     time.Time
	}{
		{"Submitted", rec.SubmittedAt}, {"Decided", rec.DecidedAt}, {"Answer due", slaIfWaiting(rec)},
		{"Protected until", protectedUntil(rec)}, {"First meeting due", meetingDue(rec)}, {"First meeting", rec.FirstMeetingAt},
	} {
		if !d.t.IsZero() {
			p.Dates = append(p.Dates, dateRow{d.label, intake.FormatDate(d.t)})
		}
	}
	if rec.Status == registration.StatusNeedsInfo {
		var other []string
		for _, f := range h.o.Missing(rec) {
			if !intake.IsProspectField(f) {
				other = append(other, f)
				continue
			}
			in := registration.FieldInfo(f)
			v, _ := rec.Get(f)
			if f == registration.FieldConsent || f == registration.FieldCompanyDomain && rec.StatusReason == rules.ReasonFreeEmailDomain {
				v = ""
			}
			p.Supply = append(p.Supply, field{Name: f, Label: in.Prompt, Hint: in.Hint, Type: in.Input.HTMLType(), Value: v})
		}
		if len(other) > 0 {
			p.SupplyNote = "For " + intake.MissingList(other) + ", please contact your partner manager."
		}
	}
	p.CanWithdraw = rec.Status.Active()
	p.CanAppeal = rec.Status == registration.StatusDeclined
	if p.CanAppeal && h.o.AppealNote != nil {
		if note := h.o.AppealNote(rec); note != "" {
			p.CanAppeal, p.Next = false, note // instead of "you can appeal"
		}
	}
	return p
}

func slaIfWaiting(r *registration.Record) time.Time {
	if r.Status.Waiting() {
		return r.SLADue
	}
	return time.Time{}
}

func protectedUntil(r *registration.Record) time.Time {
	if r.Status.Protected() {
		return r.HoldUntil
	}
	return time.Time{}
}

func meetingDue(r *registration.Record) time.Time {
	if r.Status == registration.StatusApproved {
		return r.MeetingDue
	}
	return time.Time{}
}

var tmpl = webui.Parse("status", `
{{define "title"}}{{if .CaseNumber}}Registration {{.CaseNumber}}{{else}}Registration status{{end}} – {{.Program}}{{end}}
{{define "body"}}
{{if .Unavailable}}
<h1>Registration status</h1>
<div class="card"><p>{{.Message}}</p></div>
{{else}}
<p>{{.Program}}</p>
<h1>Registration <span class="case">{{.CaseNumber}}</span> <span class="badge {{.BadgeClass}}">{{.Badge}}</span></h1>
{{if .Done}}<div class="notice" role="status"><p>{{.Done}}</p></div>{{end}}
{{if .Errors}}<div class="summary" role="alert" aria-labelledby="err-title" tabindex="-1"><h2 id="err-title">There is a problem</h2><ul>{{range .Errors}}<li><a href="#f-{{.Name}}">{{.Label}}: {{.Error}}</a></li>{{end}}</ul></div>{{end}}
<div class="card">
<h2 style="margin-top:0">{{.StatusLabel}}</h2>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Next}}<p><strong>What happens next:</strong> {{.Next}}</p>{{end}}
</div>
<div class="card">
<dl>
{{if .Company}}<dt>Company</dt><dd>{{.Company}}</dd>{{end}}
{{if .Domain}}<dt>Website</dt><dd>{{.Domain}}</dd>{{end}}
{{if .Contact}}<dt>Contact</dt><dd>{{.Contact}}</dd>{{end}}
{{range .Dates}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}
</dl>
</div>
{{if or .Supply .SupplyNote}}
<h2 id="supply-title">Send what is missing</h2>
{{if .Supply}}
<form method="post" action="/r/{{.Token}}/supply" class="card" aria-labelledby="supply-title" novalidate>
<input type="hidden" name="token" value="{{.Token}}">
{{range .Supply}}
<div class="field">
{{if eq .Type "checkbox"}}
<div class="check"><input type="checkbox" id="f-{{.Name}}" name="{{.Name}}" value="yes" required{{if .Error}} aria-invalid="true" aria-describedby="e-{{.Name}}"{{end}}>
<label for="f-{{.Name}}">{{.Label}}</label></div>
{{if .Error}}<span class="error" id="e-{{.Name}}">{{.Error}}</span>{{end}}
{{else}}
<label for="f-{{.Name}}">{{.Label}}</label>
{{if .Hint}}<span class="hint" id="h-{{.Name}}">{{.Hint}}</span>{{end}}
{{if .Error}}<span class="error" id="e-{{.Name}}">{{.Error}}</span>{{end}}
{{if eq .Type "textarea"}}<textarea id="f-{{.Name}}" name="{{.Name}}" rows="3" required{{if .Error}} aria-invalid="true"{{end}}{{if or .Hint .Error}} aria-describedby="{{if .Hint}}h-{{.Name}}{{end}}{{if and .Hint .Error}} {{end}}{{if .Error}}e-{{.Name}}{{end}}"{{end}}>{{.Value}}</textarea>
{{else}}<input type="{{.Type}}" id="f-{{.Name}}" name="{{.Name}}" value="{{.Value}}" required{{if eq .Type "email"}} autocomplete="email"{{end}}{{if .Error}} aria-invalid="true"{{end}}{{if or .Hint .Error}} aria-describedby="{{if .Hint}}h-{{.Name}}{{end}}{{if and .Hint .Error}} {{end}}{{if .Error}}e-{{.Name}}{{end}}"{{end}}>{{end}}
{{end}}
</div>
{{end}}
<button type="submit">Send</button>
</form>
{{end}}
{{if .SupplyNote}}<p>{{.SupplyNote}}</p>{{end}}
{{end}}
{{if .CanAppeal}}
<h2 id="appeal-title">Appeal this decision</h2>
<form method="post" action="/r/{{.Token}}/appeal" class="card" aria-labelledby="appeal-title">
<input type="hidden" name="token" value="{{.Token}}">
<div class="field">
<label for="f-appeal">Why should we look again?</label>
<span class="hint" id="h-appeal">For example: when you first met the prospect. An account executive decides.</span>
<textarea id="f-appeal" name="appeal" rows="4" required aria-describedby="h-appeal">{{.Appeal}}</textarea>
</div>
<button type="submit">Send appeal</button>
</form>
{{end}}
{{if .CanWithdraw}}
<h2 id="withdraw-title">Withdraw</h2>
<form method="post" action="/r/{{.Token}}/withdraw" class="card" aria-labelledby="withdraw-title">
<input type="hidden" name="token" value="{{.Token}}">
<div class="field check"><input type="checkbox" id="f-confirm" name="confirm" value="yes" required><label for="f-confirm">Yes, withdraw registration {{.CaseNumber}}. This cannot be undone.</label></div>
<button type="submit" class="secondary">Withdraw registration</button>
</form>
{{end}}
<footer><p>Keep this link to yourself: anyone who has it can see and change this registration.</p></footer>
{{end}}
{{end}}
`)
