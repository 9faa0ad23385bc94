package worker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Attribution: a deal an AE creates or moves for a company with an approved
// (or meeting_booked) registration is credited to the registration's
// partner — the partner is stamped on the deal, the deal and the
// registration are associated (connectors.CRM.Attribute), and the
// registration becomes converted (deal_created) with attributed_at and
// deal_id set. When the registration's deal closes, converted becomes won
// or lost. Both status changes go through Engine.Transition: plan, write,
// audit note, audit log and partner e-mail, like any decision.
//
// Which registration a deal credits, among those of its company that the
// deal may credit at all (credit.go: created at or after the registration's
// submitted_at, or accepted by an AE; never closed before it existed): the
// one whose deal_id already names the deal (the partner's own deal, linked
// at approval), else one associated with the deal, else one of the partner
// an AE stamped on the deal, else the earliest approved. A deal stamped by
// hand with a partner that holds no registration of the company is left as
// the AE set it: regsync never overwrites a human's attribution (the
// commission-accuracy metric reports it as mismatched).

// attributable are the statuses of registrations a new deal credits.
var attributable = []registration.Status{registration.StatusApproved, registration.StatusMeetingBooked}

// attribute follows deals that AEs create or move: it returns one error
// per item (nil: done).
func (w *Worker) attribute(ctx context.Context, items []state.Item) []error {
	errs := make([]error, len(items))
	var ids []string
	for _, it := range items {
		if !slices.Contains(ids, it.RecordID) {
			ids = append(ids, it.RecordID)
		}
	}
	byDeal, err := w.e.Attribute(ctx, ids)
	for i, it := range items {
		switch {
		case err != nil:
			errs[i] = err
		default:
			errs[i] = byDeal[it.RecordID]
		}
	}
	return errs
}

// AttributionResult says what Attribute did.
type AttributionResult struct {
	Converted []string // registrations converted (deal_created)
	Closed    []string // registrations won or lost
	Stamped   []string // deals stamped with a partner
}

// Attribute looks at deals by CRM id and credits each to the registration
// of its company, following it to won or lost when it closes. It is
// idempotent: a deal already credited changes nothing. The map holds the
// failures by deal id; the error is for failures of the whole batch (the
// deals or the registrations could not be read).
func (e *Engine) Attribute(ctx context.Context, dealIDs []string) (map[string]error, error) {
	_, failed, err := e.attribute(ctx, dealIDs)
	return failed, err
}

func (e *Engine) attribute(ctx context.Context, dealIDs []string) (AttributionResult, map[string]error, error) {
	var res AttributionResult
	failed := map[string]error{}
	if len(dealIDs) == 0 {
		return res, failed, nil
	}
	deals, err := e.crm.Deals(ctx, dealIDs)
	if err != nil {
		return res, failed, fmt.Errorf("attribution: read %d deals: %w", len(dealIDs), err)
	}
	if len(deals) == 0 {
		return res, failed, nil
	}
	// Oldest deal first: when two deals of one company arrive together,
	// the first opened is the one the registration converts to.
	sort.SliceStable(deals, func(i, j int) bool { return deals[i].CreatedAt.Before(deals[j].CreatedAt) })
	c, err := e.candidates(ctx, deals)
	if err != nil {
		return res, failed, err
	}
	p := e.o.Policy()
	m := e.match(p, deals, c)
	res.Stamped = e.stamp(ctx, m, failed)
	res.Converted = e.convertTo(ctx, p, m.convert, failed)
	res.Closed = e.closeWith(ctx, p, m.closeBy, failed)
	return res, failed, nil
}

// attrCandidates are the registrations deals may credit: those of every
// deal's company (attributable or converted), and those associated with
// the deals.
type attrCandidates struct {
	byCompany map[string][]registration.Record
	known     map[string]registration.Record // by id
}

// candidates reads the deals' candidate registrations, in batch.
func (e *Engine) candidates(ctx context.Context, deals []registration.Deal) (attrCandidates, error) {
	var companies, linked []string
	for _, d := range deals {
		if d.CompanyID != "" && !slices.Contains(companies, d.CompanyID) {
			companies = append(companies, d.CompanyID)
		}
		linked = append(linked, d.RegistrationIDs...)
	}
	statuses := append(slices.Clone(attributable), registration.StatusConverted)
	byCompany, err := e.crm.CompanyRegistrations(ctx, companies, statuses)
	if err != nil {
		return attrCandidates{}, fmt.Errorf("attribution: find the registrations of %d companies: %w", len(companies), err)
	}
	c := attrCandidates{byCompany: byCompany, known: map[string]registration.Record{}}
	for _, rs := range byCompany {
		for _, r := range rs {
			c.known[r.ID] = r
		}
	}
	var read []string
	for _, id := range linked {
		if _, ok := c.known[id]; !ok && !slices.Contains(read, id) {
			read = append(read, id)
		}
	}
	if len(read) > 0 {
		rs, err := e.crm.Registrations(ctx, read)
		if err != nil {
			return attrCandidates{}, fmt.Errorf("attribution: read %d registrations of deals: %w", len(read), err)
		}
		for _, r := range rs {
			c.known[r.ID] = r
		}
	}
	return c, nil
}

// of lists a deal's candidates: its company's registrations, then those
// associated with it, each once.
func (c attrCandidates) of(d registration.Deal) []registration.Record {
	var regs []registration.Record
	seen := map[string]bool{}
	for _, r := range c.byCompany[d.CompanyID] {
		if !seen[r.ID] {
			seen[r.ID] = true
			regs = append(regs, r)
		}
	}
	for _, id := range d.RegistrationIDs {
		if r, ok := c.known[id]; ok && !seen[id] {
			seen[id] = true
			regs = append(regs, r)
		}
	}
	return regs
}

// attrMatch is what a batch of deals does: the stamps to write, the
// registrations to convert and those to close.
type attrMatch struct {
	attrs   []connectors.Attribution
	convert map[string]attrPlan // registration id → the deal it converts to
	closeBy map[string]attrPlan // registration id → its closed deal
}

// match finds each deal's registration: the one already converted to it,
// or the one it credits now (pickRegistration), each registration taken by
// one deal of the batch at most.
func (e *Engine) match(p *rules.Policy, deals []registration.Deal, c attrCandidates) attrMatch {
	m := attrMatch{convert: map[string]attrPlan{}, closeBy: map[string]attrPlan{}}
	taken := map[string]bool{}
	for _, d := range deals {
		own, ok := e.dealRegistration(p, d, c.of(d), taken)
		if !ok {
			continue
		}
		if own.Status != registration.StatusConverted || !sameID(own.DealID, d.ID) {
			taken[own.ID] = true
			m.convert[own.ID] = attrPlan{d, own}
		}
		switch {
		case d.PartnerID != "" && !strings.EqualFold(d.PartnerID, own.PartnerID):
			// Re-stamped by hand after the conversion: the AE's word stands.
			e.log.Warn("attribution: deal re-stamped by hand with another partner; left as set",
				"deal", d.ID, "stamped", d.PartnerID, "registration", own.CaseNumber, "partner", own.PartnerID)
		case d.PartnerID == "" || !slices.ContainsFunc(d.RegistrationIDs, func(id string) bool { return sameID(id, own.ID) }):
			m.attrs = append(m.attrs, connectors.Attribution{DealID: d.ID, RegistrationID: own.ID, PartnerID: own.PartnerID})
		}
		if d.Closed {
			m.closeBy[own.ID] = attrPlan{d, own}
		}
	}
	return m
}

// dealRegistration is the registration a deal belongs to: the one already
// converted to it (followed to its close, its stamp made sure of), else
// the one it credits now. false: none (the reason is logged).
func (e *Engine) dealRegistration(p *rules.Policy, d registration.Deal, regs []registration.Record, taken map[string]bool) (registration.Record, bool) {
	for i := range regs {
		if regs[i].Status == registration.StatusConverted && sameID(regs[i].DealID, d.ID) {
			own := regs[i]
			if ok, why := e.credit(p, d, &own); !ok {
				e.notCredited(d, &own, why)
				return registration.Record{}, false
			}
			return own, true
		}
	}
	r, ok := pickRegistration(d, e.creditable(p, d, regs, taken), taken)
	if !ok {
		return registration.Record{}, false
	}
	if d.PartnerID != "" && !strings.EqualFold(d.PartnerID, r.PartnerID) {
		e.log.Warn("attribution: deal stamped by hand with a partner holding no registration of its company; left as set",
			"deal", d.ID, "stamped", d.PartnerID, "registration", r.CaseNumber, "partner", r.PartnerID)
		return registration.Record{}, false
	}
	return r, true
}

// stamp stamps and associates the deals first: the commission follows the
// CRM's deal. A deal whose stamp failed is neither converted nor closed.
func (e *Engine) stamp(ctx context.Context, m attrMatch, failed map[string]error) (stamped []string) {
	if len(m.attrs) == 0 {
		return nil
	}
	results, err := e.crm.Attribute(ctx, m.attrs)
	for i, a := range m.attrs {
		var ferr error
		switch {
		case i < len(results) && results[i].Err != nil:
			ferr = results[i].Err
		case i >= len(results) && err != nil:
			ferr = err
		}
		if ferr != nil {
			failed[a.DealID] = fmt.Errorf("attribution: stamp deal %s: %w", a.DealID, ferr)
			delete(m.convert, a.RegistrationID)
			delete(m.closeBy, a.RegistrationID)
			continue
		}
		stamped = append(stamped, a.DealID)
		e.log.Info("deal attributed", "deal", a.DealID, "partner", a.PartnerID, "registration", a.RegistrationID)
	}
	return stamped
}

// convertTo moves the registrations a deal was opened for from approved or
// meeting_booked to converted.
func (e *Engine) convertTo(ctx context.Context, p *rules.Policy, convert map[string]attrPlan, failed map[string]error) (done []string) {
	if len(convert) == 0 {
		return nil
	}
	now := e.now()
	outs, err := e.Transition(ctx, sortedKeys(convert), func(r *registration.Record) (rules.Decision, map[string]string, bool) {
		pl, ok := convert[r.ID]
		if !ok || !slices.Contains(attributable, r.Status) {
			return rules.Decision{}, nil, false
		}
		credited, why := e.credit(p, pl.deal, r)
		if !credited {
			e.notCredited(pl.deal, r, why) // the registration changed since it was read
			return rules.Decision{}, nil, false
		}
		d := carry(r, registration.StatusConverted, rules.ReasonDealCreated, msgConverted,
			fmt.Sprintf("deal %s%s opened for company %s; credited to partner %s: %s", pl.deal.ID, dealName(pl.deal), pl.deal.CompanyID, r.PartnerID, why))
		fields := map[string]string{"deal_id": pl.deal.ID, "attributed_at": now.Format(time.RFC3339Nano)}
		if !r.AttributedAt.IsZero() {
			delete(fields, "attributed_at") // set once, like approved_at
		}
		return d, fields, true
	})
	e.collect(outs, err, convert, failed, &done)
	return done
}

// closeWith follows converted registrations to won or lost when their deal
// closed.
func (e *Engine) closeWith(ctx context.Context, p *rules.Policy, closeBy map[string]attrPlan, failed map[string]error) (done []string) {
	if len(closeBy) == 0 {
		return nil
	}
	outs, err := e.Transition(ctx, sortedKeys(closeBy), func(r *registration.Record) (rules.Decision, map[string]string, bool) {
		pl, ok := closeBy[r.ID]
		if !ok || r.Status != registration.StatusConverted || !sameID(r.DealID, pl.deal.ID) {
			return rules.Decision{}, nil, false
		}
		if credited, why := e.credit(p, pl.deal, r); !credited {
			e.notCredited(pl.deal, r, why)
			return rules.Decision{}, nil, false
		}
		to, reason, msg := registration.StatusLost, rules.ReasonLost, msgLost
		if pl.deal.Won {
			to, reason, msg = registration.StatusWon, rules.ReasonWon, msgWon
		}
		return carry(r, to, reason, msg, fmt.Sprintf("deal %s%s closed %s (stage %s)", pl.deal.ID, dealName(pl.deal), reason, pl.deal.Stage)), nil, true
	})
	e.collect(outs, err, closeBy, failed, &done)
	return done
}

// attrPlan is a registration and the deal it converts to or closes with.
type attrPlan struct {
	deal registration.Deal
	reg  registration.Record
}

// collect maps Transition outcomes back to deals.
func (e *Engine) collect(outs []Outcome, err error, plans map[string]attrPlan, failed map[string]error, done *[]string) {
	for _, o := range outs {
		pl := plans[o.ID]
		switch {
		case o.Err != nil:
			failed[pl.deal.ID] = fmt.Errorf("attribution: registration %s: %w", o.ID, o.Err)
		case err != nil && o.Result != ResultMissing:
			failed[pl.deal.ID] = fmt.Errorf("attribution: %w", err)
		case o.Result == ResultDecided || o.Result == ResultResumed:
			*done = append(*done, o.ID)
		}
	}
}

// pickRegistration chooses the registration a deal credits among those of
// its company still attributable and not taken by an earlier deal of the
// batch.
func pickRegistration(d registration.Deal, regs []registration.Record, taken map[string]bool) (registration.Record, bool) {
	var cands []registration.Record
	for _, r := range regs {
		if slices.Contains(attributable, r.Status) && !taken[r.ID] && strings.TrimSpace(r.PartnerID) != "" {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return registration.Record{}, false
	}
	rank := func(r registration.Record) int {
		switch {
		case sameID(r.DealID, d.ID):
			return 0
		case slices.ContainsFunc(d.RegistrationIDs, func(id string) bool { return sameID(id, r.ID) }):
			return 1
		case d.PartnerID != "" && strings.EqualFold(d.PartnerID, r.PartnerID):
			return 2
		}
		return 3
	}
	slices.SortStableFunc(cands, func(a, b registration.Record) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		switch {
		case a.ApprovedAt.IsZero() != b.ApprovedAt.IsZero():
			if a.ApprovedAt.IsZero() {
				return 1
			}
			return -1
		case !a.ApprovedAt.Equal(b.ApprovedAt):
			return a.ApprovedAt.Compare(b.ApprovedAt)
		}
		return strings.Compare(a.CaseNumber, b.CaseNumber)
	})
	return cands[0], true
}

// carry is a decision that changes the status and keeps the record's
// dates, owner and rivals as they are.
func carry(r *registration.Record, to registration.Status, reason, msg, detail string) rules.Decision {
	return rules.Decision{Status: to, Reason: reason, Message: msg, HoldUntil: r.HoldUntil, MeetingDue: r.MeetingDue,
		Owner: r.OwnerID, ConflictWith: r.ConflictWith,
		Trace: []rules.Check{{Name: "attribution", Result: rules.Pass, Detail: detail}}}
}

func dealName(d registration.Deal) string {
	if d.Name == "" {
		return ""
	}
	return " (" + d.Name + ")"
}

// sameID compares CRM ids; Salesforce's 15- and 18-character forms of one
// id share their first 15 characters.
func sameID(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) != len(b) && (len(a) == 18 || len(b) == 18) && len(a) >= 15 && len(b) >= 15 {
		return a[:15] == b[:15]
	}
	return a == b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
