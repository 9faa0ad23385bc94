package worker

import (
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
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
