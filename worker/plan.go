package worker

import (
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Steps of a plan, in order.
const (
	stepWrite  = "write"
	stepLink   = "link"
	stepTask   = "task"
	stepNote   = "note"
	stepAudit  = "audit"
	stepNotify = "notify"
)

// planData is what a plan remembers of its decision, to finish the side
// effects after a crash without deciding again.
type planData struct {
	From         registration.Status `json:"from"`
	To           registration.Status `json:"to"`
	Reason       string              `json:"reason"`
	Message      string              `json:"message"`
	Missing      []string            `json:"missing,omitempty"`
	CaseNumber   string              `json:"case_number,omitempty"`
	CompanyName  string              `json:"company_name,omitempty"`
	PartnerID    string              `json:"partner_id,omitempty"`
	PartnerEmail string              `json:"partner_email,omitempty"`
	Owner        string              `json:"owner,omitempty"`
	CompanyID    string              `json:"company_id,omitempty"`
	DealID       string              `json:"deal_id,omitempty"`
	HoldUntil    time.Time           `json:"hold_until,omitzero"`
	MeetingDue   time.Time           `json:"meeting_due,omitzero"`
	SLADue       time.Time           `json:"sla_due,omitzero"`
	Actor        string              `json:"actor"`
	Trace        []rules.Check       `json:"trace,omitempty"`
	At           time.Time           `json:"at"`
	// Task is the AE task to open, if any.
	Task *connectors.Task `json:"task,omitempty"`
	// Rivals are in_review conflict_pending rivals waiting on this one.
	Rivals []string `json:"rivals,omitempty"`
}

// plan turns a decision into the record's update and the side effects owed.
func (e *Engine) plan(w *work, p *rules.Policy, now time.Time) {
	r, d := &w.rec, w.decision
	from := transitionFrom(w)
	u := fieldUpdate{r: r, u: map[string]string{}, prec: e.prec}
	u.decision(d)
	for k, v := range w.stamp {
		u.u[k] = v // identity the CRM lacks (identify)
	}
	u.stamps(w, d, from, now)
	linkCompany, linkDeal := u.links(w)
	for k, v := range w.extra {
		u.set(k, v)
	}
	w.update = u.u

	data := planData{
		From: from, To: d.Status, Reason: d.Reason, Message: d.Message, Missing: d.Missing,
		CaseNumber: r.CaseNumber, CompanyName: r.CompanyName, PartnerID: r.PartnerID, PartnerEmail: r.PartnerEmail,
		Owner: firstNonEmpty(d.Owner, r.OwnerID), CompanyID: linkCompany, DealID: linkDeal, HoldUntil: d.HoldUntil, MeetingDue: d.MeetingDue,
		SLADue: d.SLADue, Actor: actorOf(w), Trace: d.Trace, At: now,
	}
	data.Task = aeTask(p, r, d, data, now)
	data.Rivals = rivalsToWake(p, w, data.CaseNumber)
	w.data = data
}

// transitionFrom is the status a decision moves the record from: what
// regsync last saw when a human changed the status in the CRM (the
// partner hears of it), submitted for a record new to the CRM.
func transitionFrom(w *work) registration.Status {
	from := w.rec.Status
	if w.act == actManual && w.hasFP && w.prevFP.Status.Valid() {
		from = w.prevFP.Status
	}
	if from == registration.StatusNone {
		from = registration.StatusSubmitted
	}
	return from
}

// actorOf is who decided, as the audit log says: a human in the CRM
// (followed through by regsync), or regsync's rules.
func actorOf(w *work) string {
	if w.act == actManual {
		return "crm"
	}
	return "regsync"
}

// fieldUpdate collects the fields a decision changes on a record: a field
// whose value the record holds already is not written.
type fieldUpdate struct {
	r    *registration.Record
	u    map[string]string
	prec time.Duration // instants are written truncated to what the CRM keeps
}

func (f fieldUpdate) set(name, v string) {
	if cur, _ := f.r.Get(name); cur != v {
		f.u[name] = v
	}
}

func (f fieldUpdate) setTime(name string, t time.Time) {
	if t.IsZero() {
		f.set(name, "")
		return
	}
	f.set(name, t.UTC().Truncate(f.prec).Format(time.RFC3339Nano))
}

// decision sets the decision's own fields: status, reason, message, dates,
// owner, conflicts.
func (f fieldUpdate) decision(d rules.Decision) {
	f.set("status", string(d.Status))
	f.set("status_reason", d.Reason)
	f.set("status_message", d.Message)
	f.setTime("hold_until", d.HoldUntil)
	f.setTime("meeting_due", d.MeetingDue)
	if d.Status.Waiting() {
		f.setTime("sla_due", d.SLADue)
	}
	if d.Owner != "" {
		f.set("owner_id", d.Owner)
	}
	f.set("conflict_with", d.ConflictWith)
	if d.Status == registration.StatusDeclined {
		f.set("declined_reason", d.Reason) // kept when the partner appeals
	}
}

// stamps sets the instants regsync alone writes: decided_at (by which a
// plan's write is recognised beneath a later change, writtenBeneath),
// first_response_at and approved_at.
func (f fieldUpdate) stamps(w *work, d rules.Decision, from registration.Status, now time.Time) {
	decision := d.Status != from || w.act == actDecide || w.act == actManual
	if decision && d.Status != registration.StatusSubmitted {
		f.setTime("decided_at", now)
		if f.r.FirstResponseAt.IsZero() {
			f.setTime("first_response_at", now)
		}
	}
	if d.Status == registration.StatusApproved && f.r.ApprovedAt.IsZero() {
		f.setTime("approved_at", now)
	}
}

// links sets the company and the partner's own deal found in the facts,
// and returns them to be associated. Links are made once, when regsync
// first learns the company or the partner's own deal: a lookup an AE set
// or changed is theirs.
func (f fieldUpdate) links(w *work) (company, deal string) {
	r := f.r
	if w.facts.Company != nil && r.CompanyID == "" {
		company = w.facts.Company.ID
		f.set("company_id", company)
	}
	if r.DealID == "" {
		for _, dl := range w.facts.OpenDeals {
			if dl.PartnerID != "" && dl.PartnerID == r.PartnerID {
				deal = dl.ID // the partner's own deal on the company
				f.set("deal_id", deal)
				break
			}
		}
	}
	return company, deal
}

// rivalsToWake are the registrations a decision may settle, looked at
// again at once (effects: wakeRivals).
func rivalsToWake(p *rules.Policy, w *work, caseNumber string) []string {
	r, d := &w.rec, w.decision
	var rivals []string
	if d.Status != registration.StatusInReview || d.Reason != rules.ReasonConflictPending {
		// A decision that takes this registration out of pending may settle
		// rivals waiting on it.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusInReview && o.StatusReason == rules.ReasonConflictPending &&
				o.ID != "" && slices.Contains(strings.Split(o.ConflictWith, ","), caseNumber) {
				rivals = append(rivals, o.ID)
			}
		}
	}
	if d.Status == registration.StatusMeetingBooked && p.Rules.Conflict.Policy == rules.FirstMeetingWins {
		// The race is won: the other partners' approved racers on the
		// company have lost it, now rather than at the next sweep.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusApproved && o.PartnerID != r.PartnerID && o.ID != "" &&
				o.DomainKey != "" && o.DomainKey == r.DomainKey && !slices.Contains(rivals, o.ID) {
				rivals = append(rivals, o.ID)
			}
		}
	}
	return rivals
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// expected is the record as it will read back once the update landed.
func expected(r registration.Record, u map[string]string) registration.Record {
	for k, v := range u {
		_ = r.Set(k, v)
	}
	return r
}
