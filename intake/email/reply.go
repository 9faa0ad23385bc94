package email

import (
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/csvdrop"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/registration"
)

// formTemplate is the form a partner fills in to register by e-mail: the
// registry's quick form (as the web form and the Slack modal ask it) and
// consent, each under its registry FormLabel.
var formTemplate = append(registration.QuickForm(), registration.FieldConsent)

// replySubject keeps the thread's subject, adds "Re:" and the case number.
func replySubject(subject, caseNumber string) string {
	s := strings.TrimSpace(subject)
	if s == "" {
		s = "Your registration"
	}
	if !strings.HasPrefix(strings.ToLower(s), "re:") {
		s = "Re: " + s
	}
	if caseNumber != "" && !strings.Contains(s, caseNumber) {
		s += " [" + caseNumber + "]"
	}
	return s
}

func greeting(p *Plan) string {
	name := strings.TrimSpace(p.In.FromName)
	if name == "" || strings.ContainsAny(name, "@<>\"") || len(name) > 60 {
		return "Hello,\n\n"
	}
	first := strings.Fields(name)[0]
	if strings.HasSuffix(first, ",") { // "Doe, Jane"
		if f := strings.Fields(name); len(f) > 1 {
			first = f[1]
		}
	}
	return "Hello " + strings.TrimSuffix(first, ",") + ",\n\n"
}

func (c *Channel) signature() string { return "\n" + c.o.ProgramName + "\n" }

func writeProblems(b *strings.Builder, problems []*intake.FieldError) {
	if len(problems) == 0 {
		return
	}
	b.WriteString("We could not use some of what you sent:\n")
	for _, pr := range problems {
		fmt.Fprintf(b, "- %s: %s\n", intake.FormLabel(pr.Field), pr.Reason)
	}
	b.WriteString("\n")
}

// fillIn writes the lines a partner fills in by replying.
func fillIn(b *strings.Builder, fields []string) {
	for _, f := range fields {
		line := intake.FormLabel(f) + ": "
		if f == registration.FieldConsent {
			line += "yes / no"
		}
		b.WriteString(line + "\n")
	}
}

func (c *Channel) receiptReply(p *Plan, rc intake.Receipt) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	rec := p.Submission.Record
	switch {
	case p.Action == ActionRegister && rc.Created:
		what := rec.CompanyName
		if rec.CompanyDomain != "" {
			if what != "" {
				what += " (" + rec.CompanyDomain + ")"
			} else {
				what = rec.CompanyDomain
			}
		}
		if what == "" {
			what = "your prospect"
		}
		fmt.Fprintf(&b, "Thank you. We received your registration of %s as case %s.\n\n", what, rc.CaseNumber)
	case p.Action == ActionRegister:
		fmt.Fprintf(&b, "We already have this registration, as case %s.\n\n", rc.CaseNumber)
	case p.Amendment.Action == intake.ActionWithdraw:
		fmt.Fprintf(&b, "Your registration %s is withdrawn.\n\n", rc.CaseNumber)
	case p.Amendment.Action == intake.ActionAppeal:
		fmt.Fprintf(&b, "We received your appeal of case %s.\n\n", rc.CaseNumber)
	default:
		fmt.Fprintf(&b, "Thank you. We updated case %s with what you sent.\n\n", rc.CaseNumber)
	}
	fmt.Fprintf(&b, "Status: %s\n", intake.StatusLabel(rc.Status))
	if m := strings.TrimSpace(rc.Message); m != "" {
		b.WriteString(m + "\n")
	}
	b.WriteString("\n")
	writeProblems(&b, p.Problems)
	if rc.Status == registration.StatusNeedsInfo && len(rc.Missing) > 0 {
		var fill, other []string
		for _, f := range rc.Missing {
			if intake.IsProspectField(f) {
				fill = append(fill, f)
			} else {
				other = append(other, f)
			}
		}
		fmt.Fprintf(&b, "We still need: %s.\n", intake.MissingList(rc.Missing))
		if len(fill) > 0 {
			b.WriteString("Reply to this e-mail with these lines filled in, keeping this e-mail below your answer, and we will check it again right away:\n\n")
			fillIn(&b, fill)
			b.WriteString("\n")
		}
		if len(other) > 0 {
			b.WriteString("For " + intake.MissingList(other) + ", please contact your partner manager.\n\n")
		}
	} else if strings.TrimSpace(rc.Message) == "" {
		if n := intake.NextSteps(rc.Status, rc.HoldUntil, rc.MeetingDue, time.Time{}); n != "" {
			b.WriteString(n + "\n\n")
		}
	}
	if rc.Status == registration.StatusDeclined {
		b.WriteString("To appeal, reply to this e-mail starting with \"Appeal:\" and your reason, keeping this e-mail below your answer.\n\n")
	}
	if rc.StatusURL != "" {
		b.WriteString("See where it stands at any time (no login needed):\n" + rc.StatusURL + "\n")
	}
	b.WriteString(c.signature())
	m := c.replyTo(p, rc.CaseNumber, replySubject(p.In.Subject, rc.CaseNumber))
	m.Text = b.String()
	return m
}

func (c *Channel) helpReply(p *Plan) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	if p.Action == ActionHelp && p.CaseNumber != "" {
		fmt.Fprintf(&b, "We could not find anything to add to case %s in your e-mail.\n", p.CaseNumber)
		b.WriteString("Reply with the missing lines filled in, such as:\n\n")
		fillIn(&b, []string{registration.FieldCompanyDomain, registration.FieldConsent})
		b.WriteString("\nor with \"Withdraw\" to withdraw it, or \"Appeal:\" and your reason to appeal a decline.\n\n")
	} else {
		b.WriteString("We could not find a registration in your e-mail.\n")
		b.WriteString("To register a prospect, reply with these lines filled in (one per line):\n\n")
		fillIn(&b, formTemplate)
		b.WriteString("\n")
	}
	writeProblems(&b, p.Problems)
	b.WriteString(c.signature())
	m := c.replyTo(p, p.CaseNumber, replySubject(p.In.Subject, p.CaseNumber))
	m.Text = b.String()
	return m
}

func (c *Channel) notFoundReply(p *Plan) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	fmt.Fprintf(&b, "We could not find registration %s for your partner account. Please check the case number in the subject.\n", p.CaseNumber)
	b.WriteString("To register a new prospect, send a new e-mail (not a reply) with these lines filled in:\n\n")
	fillIn(&b, formTemplate)
	b.WriteString(c.signature())
	m := c.replyTo(p, "", replySubject(p.In.Subject, ""))
	m.Text = b.String()
	return m
}

// unprovenReply answers an amendment whose sender is not proven: what was
// not done, why, and how to do it. It names nothing about the
// registration (not even whether it exists) and never holds its status
// link: the reply goes to the address in From, which anyone can write.
func (c *Channel) unprovenReply(p *Plan) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	what, where := "change", "make the change"
	switch p.Amendment.Action {
	case intake.ActionWithdraw:
		what, where = "withdrawal", "withdraw it"
	case intake.ActionAppeal:
		what, where = "appeal", "appeal there"
	case intake.ActionSupply:
		what, where = "details you sent", "fill them in there"
	}
	fmt.Fprintf(&b, "We have not made this change to registration %s (the %s in your e-mail): changes by e-mail need proof that "+
		"they come from you, and this e-mail carries no proof that it comes from you. It has no DKIM signature of %s that our "+
		"mail server checked, and it does not hold the registration's status link.\n\n", p.CaseNumber, what, registration.EmailDomain(p.In.From))
	b.WriteString("To make the change, either:\n")
	fmt.Fprintf(&b, "- open the status link in our e-mails about %s and %s (no login needed), or\n", p.CaseNumber, where)
	b.WriteString("- reply to one of those e-mails and keep our message below your answer: the status link in it shows the reply is yours.\n\n")
	b.WriteString("If you cannot find our e-mail, please contact your partner manager.\n")
	b.WriteString(c.signature())
	m := c.replyTo(p, p.CaseNumber, replySubject(p.In.Subject, p.CaseNumber))
	m.Text = b.String()
	return m
}

// keyInUseReply answers a message whose submission key is already another
// partner's registration (it tells nothing about that one).
func (c *Channel) keyInUseReply(p *Plan) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	b.WriteString("We could not register this e-mail. Please send the registration again as a new e-mail (not a copy or a resend of an earlier one).\n")
	b.WriteString(c.signature())
	m := c.replyTo(p, "", replySubject(p.In.Subject, ""))
	m.Text = b.String()
	return m
}

func (c *Channel) notAllowedReply(p *Plan, rc intake.Receipt) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	status := strings.ToLower(intake.StatusLabel(rc.Status))
	switch p.Amendment.Action {
	case intake.ActionWithdraw:
		fmt.Fprintf(&b, "Registration %s cannot be withdrawn: it is %s.\n", p.CaseNumber, status)
	case intake.ActionAppeal:
		fmt.Fprintf(&b, "Registration %s cannot be appealed: it is %s, and only declined registrations can be.\n", p.CaseNumber, status)
	default:
		fmt.Fprintf(&b, "Registration %s does not need more details: it is %s.\n", p.CaseNumber, status)
	}
	if rc.StatusURL != "" {
		b.WriteString("\nSee where it stands (no login needed):\n" + rc.StatusURL + "\n")
	}
	b.WriteString(c.signature())
	m := c.replyTo(p, p.CaseNumber, replySubject(p.In.Subject, p.CaseNumber))
	m.Text = b.String()
	return m
}

func (c *Channel) csvReply(p *Plan, name string, sum csvdrop.Summary, results []byte) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	fmt.Fprintf(&b, "We processed %s: %d rows, %d registered", name, sum.Rows-sum.Blank, sum.Submitted)
	if r := sum.Invalid + sum.Duplicate; r > 0 {
		fmt.Fprintf(&b, ", %d rejected", r)
	}
	if sum.Errors > 0 {
		fmt.Fprintf(&b, ", %d failed", sum.Errors)
	}
	b.WriteString(".\nThe attached results.csv gives the case number, status and reason of every row.\n")
	if len(sum.ByStatus) > 0 {
		b.WriteString("\n")
		for _, s := range append(append([]string{}, statusOrder()...), csvdrop.StatusRejected, csvdrop.StatusError) {
			if n := sum.ByStatus[s]; n > 0 {
				fmt.Fprintf(&b, "  %s: %d\n", s, n)
			}
		}
	}
	b.WriteString(c.signature())
	m := c.replyTo(p, "", replySubject(p.In.Subject, ""))
	m.Text = b.String()
	m.Attachments = []regmail.Attachment{{Filename: "results.csv", ContentType: "text/csv; charset=utf-8", Data: results}}
	return m
}

func statusOrder() []string {
	out := make([]string, len(registration.Statuses))
	for i, s := range registration.Statuses {
		out[i] = string(s)
	}
	return out
}

func (c *Channel) csvRefusedReply(p *Plan, name string, fe *intake.FieldError) *regmail.Message {
	var b strings.Builder
	b.WriteString(greeting(p))
	fmt.Fprintf(&b, "We could not read %s: %s.\nNothing was registered from it. Please check the file and send it again.\n", name, fe.Reason)
	b.WriteString(c.signature())
	m := c.replyTo(p, "", replySubject(p.In.Subject, ""))
	m.Text = b.String()
	return m
}
