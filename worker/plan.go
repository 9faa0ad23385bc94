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
	u := map[string]string{}
	set := func(name, v string) {
		if cur, _ := r.Get(name); cur != v {
			u[name] = v
		}
	}
	setTime := func(name string, t time.Time) {
		if t.IsZero() {
			set(name, "")
			return
		}
		set(name, t.UTC().Truncate(e.prec).Format(time.RFC3339Nano))
	}
	from := r.Status
	if w.act == actManual && w.hasFP && w.prevFP.Status.Valid() {
		// A human changed the status in the CRM: the transition is from
		// what regsync last saw, and the partner hears of it.
		from = w.prevFP.Status
	}
	if from == registration.StatusNone {
		from = registration.StatusSubmitted
	}
	actor := "regsync"
	if w.act == actManual {
		actor = "crm"
	}
	set("status", string(d.Status))
	set("status_reason", d.Reason)
	set("status_message", d.Message)
	setTime("hold_until", d.HoldUntil)
	setTime("meeting_due", d.MeetingDue)
	if d.Status.Waiting() {
		setTime("sla_due", d.SLADue)
	}
	if d.Owner != "" {
		set("owner_id", d.Owner)
	}
	set("conflict_with", d.ConflictWith)
	if d.Status == registration.StatusDeclined {
		set("declined_reason", d.Reason) // kept when the partner appeals
	}
	for k, v := range w.stamp {
		u[k] = v // identity the CRM lacks (identify)
	}
	decision := d.Status != from || w.act == actDecide || w.act == actManual
	if decision && d.Status != registration.StatusSubmitted {
		setTime("decided_at", now)
		if r.FirstResponseAt.IsZero() {
			setTime("first_response_at", now)
		}
	}
	if d.Status == registration.StatusApproved && r.ApprovedAt.IsZero() {
		setTime("approved_at", now)
	}
	if w.facts.Company != nil && r.CompanyID == "" {
		set("company_id", w.facts.Company.ID)
	}
	// Links are made once, when regsync first learns the company or the
	// partner's own deal: a lookup an AE set or changed is theirs.
	linkCompany, linkDeal := "", ""
	if w.facts.Company != nil && r.CompanyID == "" {
		linkCompany = w.facts.Company.ID
	}
	if r.DealID == "" {
		for _, dl := range w.facts.OpenDeals {
			if dl.PartnerID != "" && dl.PartnerID == r.PartnerID {
				linkDeal = dl.ID // the partner's own deal on the company
				set("deal_id", linkDeal)
				break
			}
		}
	}
	for k, v := range w.extra {
		set(k, v)
	}
	w.update = u

	data := planData{
		From: from, To: d.Status, Reason: d.Reason, Message: d.Message, Missing: d.Missing,
		CaseNumber: r.CaseNumber, CompanyName: r.CompanyName, PartnerID: r.PartnerID, PartnerEmail: r.PartnerEmail,
		Owner: firstNonEmpty(d.Owner, r.OwnerID), CompanyID: linkCompany, DealID: linkDeal, HoldUntil: d.HoldUntil, MeetingDue: d.MeetingDue,
		SLADue: d.SLADue, Actor: actor, Trace: d.Trace, At: now,
	}
	data.Task = aeTask(p, r, d, data, now)
	if d.Status != registration.StatusInReview || d.Reason != rules.ReasonConflictPending {
		// A decision that takes this registration out of pending may settle
		// rivals waiting on it.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusInReview && o.StatusReason == rules.ReasonConflictPending &&
				o.ID != "" && slices.Contains(strings.Split(o.ConflictWith, ","), data.CaseNumber) {
				data.Rivals = append(data.Rivals, o.ID)
			}
		}
	}
	if d.Status == registration.StatusMeetingBooked && p.Rules.Conflict.Policy == rules.FirstMeetingWins {
		// The race is won: the other partners' approved racers on the
		// company have lost it, now rather than at the next sweep.
		for _, o := range w.facts.Registrations {
			if o.Status == registration.StatusApproved && o.PartnerID != r.PartnerID && o.ID != "" &&
				o.DomainKey != "" && o.DomainKey == r.DomainKey && !slices.Contains(data.Rivals, o.ID) {
				data.Rivals = append(data.Rivals, o.ID)
			}
		}
	}
	w.data = data
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
