package rules

import (
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// Attribution says which deals a registration may be credited with
// (rules.attribution). A partner is credited only with a deal it could have
// sourced: one created at or after the registration's submitted_at (less
// Grace), or one an AE explicitly accepted with the registration; never a
// deal that closed before the registration existed.
type Attribution struct {
	// Grace lets a deal created up to this long before the registration's
	// submitted_at be credited (the AE opened the deal while the partner
	// was still filling in the form). 0: the deal must be created at or
	// after submitted_at. A deal closed before submitted_at is never
	// credited, whatever the grace.
	Grace time.Duration `yaml:"grace" json:"grace"`
}

// MaxAttributionGrace bounds rules.attribution.grace: 30 days.
const MaxAttributionGrace = 30 * 24 * time.Hour

// Ways an AE accepts a deal with a registration, as Credit reports them.
const (
	// AcceptedDealID: the registration's deal_id (Salesforce Opportunity__c)
	// names the deal — set by an AE, or by regsync at the decision because
	// the deal already carried the partner's stamp.
	AcceptedDealID = "the registration's deal_id names it"
	// AcceptedAssociation: the deal is associated with the registration.
	AcceptedAssociation = "it is associated with the registration"
	// AcceptedStamp: the deal is stamped with the registration's partner
	// (deal_partner_property, opportunity_partner_field) by hand.
	AcceptedStamp = "it is stamped with the registration's partner"
	// AcceptedReview: an AE approved the registration from in_review
	// existing_deal, the review that named this deal.
	AcceptedReview = "an AE approved the registration over it (in_review existing_deal)"
)

// Credit reports whether deal d may be credited to registration r, and why
// (words for a log line: "created before the registration (2026-09-01 <
// 2026-12-07)"). accepted is how an AE accepted the deal with the
// registration (one of the Accepted… constants), "" when none did.
//
// The rule, in order:
//
//  1. A deal that closed before the registration existed is never credited.
//     The registration exists from its submitted_at (else its creation in
//     the CRM); a close date without a time of day (Salesforce's CloseDate,
//     a HubSpot date set at midnight UTC) counts as the whole day.
//  2. A deal an AE accepted is credited, whenever it was created.
//  3. Otherwise the deal must have been created at or after submitted_at
//     less rules.attribution.grace; a deal whose creation time is unknown,
//     or a registration without submitted_at or creation time, is not
//     credited.
func (p *Policy) Credit(d registration.Deal, r *registration.Record, accepted string) (ok bool, why string) {
	since := r.SubmittedAt
	if since.IsZero() {
		since = r.CreatedAt
	}
	if since.IsZero() {
		if accepted != "" {
			return true, accepted
		}
		return false, "the registration has no submitted_at"
	}
	since = since.UTC()
	if d.Closed && !d.CloseDate.IsZero() {
		closed := d.CloseDate.UTC()
		before := closed.Before(since)
		if closed.Equal(closed.Truncate(24 * time.Hour)) {
			before = !closed.Add(24 * time.Hour).After(since) // a date: the whole day
		}
		if before {
			return false, "closed before the registration (" + spanText(closed, since) + ")"
		}
	}
	if accepted != "" {
		return true, accepted
	}
	if d.CreatedAt.IsZero() {
		return false, "the deal's creation time is unknown"
	}
	created := d.CreatedAt.UTC()
	grace := max(p.Rules.Attribution.Grace, 0)
	switch {
	case !created.Before(since):
		return true, "created after the registration (" + spanText(since, created) + ")"
	case grace > 0 && !created.Before(since.Add(-grace)):
		return true, "created within rules.attribution.grace (" + grace.String() + ") before the registration (" + spanText(created, since) + ")"
	case grace > 0:
		return false, "created more than rules.attribution.grace (" + grace.String() + ") before the registration (" + spanText(created, since) + ")"
	}
	return false, "created before the registration (" + spanText(created, since) + ")"
}

// spanText writes "a < b" (or = or >) with dates, or with instants when
// both fall on one day.
func spanText(a, b time.Time) string {
	op := " < "
	if a.Equal(b) {
		op = " = "
	} else if b.Before(a) {
		op = " > "
	}
	da, db := a.Format(time.DateOnly), b.Format(time.DateOnly)
	if da != db {
		return da + op + db
	}
	return a.Format(time.RFC3339) + op + b.Format(time.RFC3339)
}

// The existing_deal check's failing trace line names the open deal between
// these: "open deal 123 not sourced by northwind".
const (
	existingDealPrefix = "open deal "
	existingDealSuffix = " not sourced by "
)

// ExistingDealIn returns the open deal a decision's trace sent to review or
// declined as existing_deal, or "" when the trace names none.
func ExistingDealIn(trace []Check) string {
	for _, c := range trace {
		if c.Name != "existing_deal" || c.Result != Fail {
			continue
		}
		rest, ok := strings.CutPrefix(c.Detail, existingDealPrefix)
		if !ok {
			continue
		}
		if id, _, ok := strings.Cut(rest, existingDealSuffix); ok && id != "" {
			return id
		}
	}
	return ""
}
