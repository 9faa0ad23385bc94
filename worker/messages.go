package worker

// The wording regsync writes for people: AE tasks, CRM notes, the status
// messages of its own transitions, what a partner is told happens next,
// and escalations. The partners' status e-mails are templates (notify.go),
// overridable in notify.templates. Nothing here decides anything.

import (
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// aeTask is the AE's to-do for a decision, if it needs one: a review for
// in_review and appeals, a follow-up for approvals.
func aeTask(p *rules.Policy, r *registration.Record, d rules.Decision, data planData, now time.Time) *connectors.Task {
	company := firstNonEmpty(r.CompanyName, r.CompanyDomain, "a prospect")
	partner := r.PartnerID
	if pt, ok := p.Partner(r.PartnerID); ok && pt.Name != "" {
		partner = pt.Name
	}
	var subject, body string
	due := d.SLADue
	switch d.Status {
	case registration.StatusInReview:
		subject = fmt.Sprintf("Review partner registration %s: %s (%s)", data.CaseNumber, company, d.Reason)
		body = fmt.Sprintf("%s registered %s (%s). The rules sent it to review: %s.\n\n%s", partner, company, r.CompanyDomain,
			d.Reason, traceText(d.Trace))
	case registration.StatusAppealed:
		subject = fmt.Sprintf("Decide the appeal of partner registration %s: %s", data.CaseNumber, company)
		body = fmt.Sprintf("%s appealed the decline of %s (%s). Set the status to approved or declined.", partner, company, r.CompanyDomain)
	case registration.StatusApproved:
		subject = fmt.Sprintf("Approved partner registration %s: %s — first meeting by %s", data.CaseNumber, company, d.MeetingDue.Format("2 Jan 2006"))
		body = fmt.Sprintf("%s's registration of %s (%s) is approved and protected until %s. Make sure the first meeting is logged by %s.",
			partner, company, r.CompanyDomain, d.HoldUntil.Format("2 Jan 2006"), d.MeetingDue.Format("2 Jan 2006"))
		due = d.MeetingDue
	default:
		return nil
	}
	if due.IsZero() {
		due = now.Add(48 * time.Hour)
	}
	return &connectors.Task{OwnerID: data.Owner, Subject: subject, Body: body, Due: due}
}

// auditNote is the CRM note recording a decision and its trace.
func auditNote(d planData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "regsync: %s → %s (%s) by %s at %s\n", d.From, d.To, d.Reason, d.Actor, d.At.Format(time.RFC3339))
	if d.Message != "" {
		fmt.Fprintf(&b, "Partner was told: %s\n", d.Message)
	}
	b.WriteString(traceText(d.Trace))
	return b.String()
}

func traceText(trace []rules.Check) string {
	var b strings.Builder
	for _, c := range trace {
		fmt.Fprintf(&b, "- %s: %s", c.Name, c.Result)
		if c.Detail != "" {
			b.WriteString(" — ")
			b.WriteString(c.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Attribution messages, as rules.Manual words them.
const (
	msgConverted = "A deal was opened from this registration. Thank you!"
	msgWon       = "The deal from this registration was won. Thank you!"
	msgLost      = "The deal from this registration was closed lost."
)

// MsgReceived is the status message of a registration created by an
// intake channel, until it is decided.
const MsgReceived = "Received — checking for earlier registrations of this company. The decision follows within moments."

func fmtDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 January 2006")
}

// next says what happens next and by when, for a status.
func next(d planData) string {
	switch d.To {
	case registration.StatusApproved:
		return fmt.Sprintf("log a first meeting with the prospect by %s; the company is registered to you until %s.",
			fmtDay(d.MeetingDue), fmtDay(d.HoldUntil))
	case registration.StatusMeetingBooked:
		return fmt.Sprintf("the company stays registered to you until %s.", fmtDay(d.HoldUntil))
	case registration.StatusInReview:
		if !d.SLADue.IsZero() {
			return fmt.Sprintf("an account executive reviews it; you will hear from us by %s.", d.SLADue.UTC().Format("2 January 2006 15:04 MST"))
		}
		return "an account executive reviews it and we will get back to you."
	case registration.StatusNeedsInfo:
		return "reply with the missing details and we will decide it right away."
	case registration.StatusDeclined:
		return "if you think this is wrong, you can appeal from the status page."
	case registration.StatusAppealed:
		return "an account executive decides the appeal."
	case registration.StatusExpired:
		return "you may register the company again if the opportunity comes back."
	}
	return ""
}

// AppealRefusal is the answer to an appeal the policy does not allow (past
// rules.appeals.max or .within_days): why, and whom to contact instead.
func AppealRefusal(p *rules.Policy, r *registration.Record, why string) *intake.Refused {
	return &intake.Refused{Message: "No further appeal is possible: " + why + ". Please contact " + appealContact(p, r.PartnerID) + "."}
}

// appealContact is whom a partner past the appeal limit should talk to:
// their partner manager.
func appealContact(p *rules.Policy, partnerID string) string {
	if pt, ok := p.Partner(partnerID); ok && pt.Manager != "" {
		return "your partner manager at " + pt.Manager
	}
	return "your partner manager"
}

// partnerNote is the CRM note recording what a partner sent with an
// amendment or appeal (their address masked).
func partnerNote(action, partnerEmail, note string) string {
	return fmt.Sprintf("Partner %s (%s): %s", action, registration.MaskEmail(partnerEmail), note)
}

// escalationTask is the AE task of a registration past its SLA.
func escalationTask(r *registration.Record, due time.Time) (subject, body string) {
	subject = fmt.Sprintf("Overdue: answer partner registration %s (%s), due %s", r.CaseNumber,
		firstNonEmpty(r.CompanyName, r.CompanyDomain), due.UTC().Format("2 Jan 2006 15:04 MST"))
	body = fmt.Sprintf("The partner was promised an answer by %s. Status: %s (%s).", due.UTC().Format(time.RFC1123),
		r.Status, r.StatusReason)
	return subject, body
}

// escalationNotice is the partner manager's message about a registration
// past its SLA.
func escalationNotice(r *registration.Record, partner string, due time.Time) (subject, text string) {
	company := firstNonEmpty(r.CompanyName, r.CompanyDomain)
	subject = fmt.Sprintf("[%s] SLA missed: %s's registration of %s", r.CaseNumber, partner, company)
	text = fmt.Sprintf("%s's registration %s of %s (%s) has waited past its answer deadline (%s).\nStatus: %s (%s). Owner: %s.\n",
		partner, r.CaseNumber, company, r.CompanyDomain, due.UTC().Format(time.RFC1123), r.Status, r.StatusReason,
		firstNonEmpty(r.OwnerID, "unassigned"))
	return subject, text
}
