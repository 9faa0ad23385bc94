package worker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Which deals a registration may be credited with (rules.Policy.Credit):
// those created at or after its submitted_at (less rules.attribution.grace)
// and those an AE explicitly accepted with it, never one that closed
// before the registration existed. Every deal read — the first deal poll of
// a new state file reads them all — goes through the same rule, so history
// is read for its facts and credits only what a partner could have sourced.
//
// An AE accepts a deal with a registration, as far as regsync can see, by
//   - naming it in the registration's deal_id (on Salesforce the
//     Opportunity__c lookup); regsync itself fills deal_id at the decision
//     only with an open deal already stamped with the partner;
//   - associating the deal with the registration (HubSpot);
//   - stamping the deal with the registration's partner by hand (regsync
//     stamps a deal only when it credits it);
//   - approving the registration from in_review existing_deal: the open
//     deal that review named is accepted. This is read from the audit log
//     of the state file, so it holds for reviews this state file recorded.

// credit reports whether deal d may be credited to registration r, and
// why, in words for a log line.
func (e *Engine) credit(p *rules.Policy, d registration.Deal, r *registration.Record) (bool, string) {
	accepted := ""
	switch {
	case sameID(r.DealID, d.ID):
		accepted = rules.AcceptedDealID
	case slices.ContainsFunc(d.RegistrationIDs, func(id string) bool { return sameID(id, r.ID) }):
		accepted = rules.AcceptedAssociation
	case d.PartnerID != "" && strings.EqualFold(d.PartnerID, r.PartnerID):
		accepted = rules.AcceptedStamp
	}
	ok, why := p.Credit(d, r, accepted)
	if ok || accepted != "" {
		return ok, why
	}
	if sameID(e.reviewedDeal(r), d.ID) {
		return p.Credit(d, r, rules.AcceptedReview)
	}
	return ok, why
}

// creditable returns the registrations of regs that deal d may credit —
// those pickRegistration would consider, less the ones the rule refuses —
// and logs each refusal.
func (e *Engine) creditable(p *rules.Policy, d registration.Deal, regs []registration.Record, taken map[string]bool) []registration.Record {
	var out []registration.Record
	for i := range regs {
		r := &regs[i]
		if !slices.Contains(attributable, r.Status) || taken[r.ID] || r.PartnerID == "" {
			continue
		}
		if ok, why := e.credit(p, d, r); !ok {
			e.notCredited(d, r, why)
			continue
		}
		out = append(out, *r)
	}
	return out
}

// notCredited logs a deal the rule kept from a registration.
func (e *Engine) notCredited(d registration.Deal, r *registration.Record, why string) {
	e.log.Info(fmt.Sprintf("deal %s not credited to %s: %s", d.ID, firstNonEmpty(r.CaseNumber, r.ID), why),
		"deal", d.ID, "registration", r.ID, "case", r.CaseNumber, "partner", r.PartnerID, "status", r.Status)
}

// reviewedDeal returns the deal an AE accepted by approving r from
// in_review existing_deal, from the state file's audit log; "" when r was
// never so approved (or regsync runs without a state file).
func (e *Engine) reviewedDeal(r *registration.Record) string {
	if e.o.State == nil || r.ID == "" {
		return ""
	}
	entries, err := e.o.State.AuditFor(e.Key(r.ID), 0)
	if err != nil {
		e.log.Warn("attribution: read the audit log", "case", r.CaseNumber, "err", err)
		return ""
	}
	return approvedOverReview(entries)
}

// approvedOverReview walks a registration's audit entries (oldest first,
// as AuditFor returns them) and returns the open deal of an existing_deal
// review that was followed by an approval out of in_review; "" when none.
// A later review for another reason, or leaving in_review other than by
// approval, forgets the deal.
func approvedOverReview(entries []state.AuditEntry) string {
	reviewed, accepted := "", ""
	for _, en := range entries {
		from, to := registration.Status(en.From), registration.Status(en.To)
		switch {
		case to == registration.StatusInReview && from != registration.StatusInReview:
			reviewed = ""
			if en.Reason == rules.ReasonExistingDeal {
				var trace []rules.Check
				if json.Unmarshal(en.Trace, &trace) == nil {
					reviewed = rules.ExistingDealIn(trace)
				}
			}
		case from == registration.StatusInReview && (to == registration.StatusApproved || to == registration.StatusMeetingBooked):
			if reviewed != "" {
				accepted = reviewed
			}
			reviewed = ""
		case from == registration.StatusInReview && to != registration.StatusInReview:
			reviewed = ""
		}
	}
	return accepted
}
