package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// ErrNotFound is returned by the Registrar for an unknown case number.
var ErrNotFound = intake.ErrNotFound

// ErrNotAllowed is returned for an amendment the registration's status does
// not allow (supplying fields to an approved registration, appealing one
// that was not declined).
var ErrNotAllowed = intake.ErrNotAllowed

// Registrar is the intake channels' way into the CRM: intake.Registrar over
// the engine. Submissions are decided before they are created (see
// Engine.Create); amendments are written and then decided by the worker,
// which holds the record's inbox lease, so nothing is decided twice.
type Registrar struct {
	e *Engine
	w *Worker // nil without a daemon (regsync import): amendments unsupported
	// Wait is how long Amend waits for the worker's decision before
	// answering with the record as it stands (default 5s).
	Wait time.Duration
}

// NewRegistrar builds a Registrar; w may be nil when no daemon runs.
func NewRegistrar(e *Engine, w *Worker) *Registrar {
	return &Registrar{e: e, w: w, Wait: 5 * time.Second}
}

var _ intake.Registrar = (*Registrar)(nil)

// StatusURL is the registration's login-free status link.
func (g *Registrar) StatusURL(caseNumber string) string { return g.e.o.StatusURL(caseNumber) }

// Register creates and decides submissions (see Engine.Create), in batches
// of at most 100.
func (g *Registrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	out := make([]intake.Receipt, len(subs))
	for start := 0; start < len(subs); start += 100 {
		end := min(start+100, len(subs))
		recs := make([]registration.Record, end-start)
		for i, s := range subs[start:end] {
			r := s.Record
			r.SubmissionKey = s.Key
			if r.Source == "" {
				r.Source = s.Channel
			}
			recs[i] = r
		}
		outs, err := g.e.Create(ctx, recs)
		if err != nil {
			return out, err
		}
		for i, o := range outs {
			out[start+i] = g.receipt(o)
			g.e.m.IntakeSubmissions.WithLabelValues(subs[start+i].Channel, o.Result).Inc()
		}
	}
	return out, nil
}

func (g *Registrar) receipt(o Outcome) intake.Receipt {
	r := o.Record
	rc := intake.Receipt{ID: firstNonEmpty(o.ID, r.ID), CaseNumber: r.CaseNumber, Status: r.Status, Reason: r.StatusReason,
		Message: r.StatusMessage, HoldUntil: r.HoldUntil, MeetingDue: r.MeetingDue, Created: o.Result == "decided", Err: o.Err}
	if o.Decision != nil {
		rc.Missing = o.Decision.Missing
	} else if r.Status == registration.StatusNeedsInfo && r.StatusReason == rules.ReasonMissingFields {
		rc.Missing = missingOf(g.e.o.Policy(), &r)
	}
	if rc.CaseNumber != "" {
		rc.StatusURL = g.StatusURL(rc.CaseNumber)
	}
	return rc
}

// missingOf lists the required fields blank on r (for a receipt of an
// existing needs_info registration).
func missingOf(p *rules.Policy, r *registration.Record) []string {
	var out []string
	for _, name := range p.Rules.Required {
		f, ok := registration.LookupField(name)
		if ok && (f.IsZero(r) || (name == "consent" && !r.Consent)) {
			out = append(out, name)
		}
	}
	return out
}

// Lookup returns the registration with this case number.
func (g *Registrar) Lookup(ctx context.Context, caseNumber string) (registration.Record, error) {
	if !registration.ValidCaseNumber(caseNumber) {
		return registration.Record{}, fmt.Errorf("%w: %q", ErrNotFound, caseNumber)
	}
	recs, err := g.e.crm.Lookup(ctx, []string{caseNumber})
	if err != nil {
		return registration.Record{}, err
	}
	for _, r := range recs {
		if r.CaseNumber == caseNumber {
			return r, nil
		}
	}
	return registration.Record{}, fmt.Errorf("%w: %s", ErrNotFound, caseNumber)
}

// Amend applies a partner's change: supplying fields to a needs_info
// registration (it goes back to submitted and is decided again), withdrawing
// an open one, or appealing a decline (an AE decides; they get a task).
func (g *Registrar) Amend(ctx context.Context, caseNumber string, a intake.Amendment) (intake.Receipt, error) {
	if g.w == nil {
		return intake.Receipt{}, errors.New("amendments need the running daemon")
	}
	r, err := g.Lookup(ctx, caseNumber)
	if err != nil {
		return intake.Receipt{}, err
	}
	fields := map[string]string{}
	switch a.Action {
	case intake.ActionSupply:
		if r.Status != registration.StatusNeedsInfo {
			return g.receipt(Outcome{Record: r}), fmt.Errorf("%w: supplying details to a %s registration", ErrNotAllowed, r.Status)
		}
		for k, v := range a.Fields {
			f, ok := registration.LookupField(k)
			if !ok || !partnerEditable[k] {
				return intake.Receipt{}, fmt.Errorf("field %q cannot be supplied by a partner", k)
			}
			c := r
			if err := f.Set(&c, v); err != nil {
				return intake.Receipt{}, err
			}
			fields[k] = f.Get(&c)
		}
		fields["status"] = string(registration.StatusSubmitted)
		fields["status_reason"] = ""
	case intake.ActionWithdraw:
		if !r.Status.Active() {
			return g.receipt(Outcome{Record: r}), fmt.Errorf("%w: withdrawing a %s registration", ErrNotAllowed, r.Status)
		}
		fields["status"] = string(registration.StatusWithdrawn)
		fields["status_reason"] = rules.ReasonWithdrawn
	case intake.ActionAppeal:
		if r.Status != registration.StatusDeclined {
			return g.receipt(Outcome{Record: r}), fmt.Errorf("%w: appealing a %s registration", ErrNotAllowed, r.Status)
		}
		fields["status"] = string(registration.StatusAppealed)
		fields["status_reason"] = rules.ReasonAppealed
	default:
		return intake.Receipt{}, fmt.Errorf("unknown amendment %q", a.Action)
	}
	res, err := g.e.crm.Write(ctx, []connectors.Update{{ID: r.ID, Fields: fields}})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		return intake.Receipt{}, fmt.Errorf("amend %s: %w", caseNumber, err)
	}
	if a.Note != "" {
		note := fmt.Sprintf("Partner %s (%s): %s", a.Action, registration.MaskEmail(r.PartnerEmail), a.Note)
		if err := g.e.crm.Note(ctx, []connectors.Note{{RegistrationID: r.ID, Body: note, At: g.e.now()}}); err != nil {
			g.e.log.Warn("record the partner's note", "case", caseNumber, "err", err)
		}
	}
	key := g.e.Key(r.ID)
	if err := g.w.db.Enqueue(state.Item{Key: key, Reason: "partner_" + a.Action}); err != nil {
		return intake.Receipt{}, err
	}
	g.w.Kick()
	g.waitFor(ctx, key)
	after, err := g.Lookup(ctx, caseNumber)
	if err != nil {
		return intake.Receipt{}, err
	}
	return g.receipt(Outcome{Record: after}), nil
}

// partnerEditable are the fields a partner may supply on the status page or
// by e-mail.
var partnerEditable = map[string]bool{
	"company_name": true, "company_domain": true, "contact_name": true, "contact_email": true, "contact_role": true,
	"problem": true, "solution_fit": true, "services_needed": true, "stage_guess": true, "consent": true,
	"region": true, "country": true, "segment": true, "product_interest": true, "target_revenue": true,
	"competing_vendors": true,
}

// PartnerEditable reports whether a partner may supply this field.
func PartnerEditable(field string) bool { return partnerEditable[field] }

// waitFor waits until the inbox item is processed, up to Wait.
func (g *Registrar) waitFor(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(ctx, g.Wait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := g.w.db.Item(key); errors.Is(err, state.ErrNotFound) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// caseFromSubject finds a case number in free text such as an e-mail
// subject ("Re: [R-7K3QH2XM01] Globex: needs info").
func caseFromSubject(s string) string {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z')
	}) {
		if registration.ValidCaseNumber(f) {
			return f
		}
	}
	return ""
}

// CaseInText finds a case number in free text, such as an e-mail subject.
func CaseInText(s string) string { return caseFromSubject(s) }
