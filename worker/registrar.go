package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
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
// the engine. Submissions are created as submitted (Engine.Create) and
// decided by the worker like any registration; a channel that answers the
// partner waits a little for that decision. Amendments are written and
// then decided by the worker, which holds the record's inbox lease, so
// nothing is decided twice.
type Registrar struct {
	e *Engine
	w *Worker // nil without a daemon (regsync import): Settle decides itself
	// Wait is how long a channel that answers the partner (the web form,
	// e-mail, Slack) waits for the decision before answering "received,
	// the decision follows" (default 5s: more than the sandbox's settle
	// time), and how long Amend waits for the worker's decision.
	Wait time.Duration
	// SettleWait bounds how long Settle waits for the decisions of an
	// import (default: the CRM's settle time plus a minute).
	SettleWait time.Duration

	mu      sync.Mutex
	created map[string]string // case number → CRM id, registered here and not settled yet
}

// NewRegistrar builds a Registrar; w may be nil when no daemon runs.
func NewRegistrar(e *Engine, w *Worker) *Registrar {
	return &Registrar{e: e, w: w, Wait: 5 * time.Second, SettleWait: e.settle + time.Minute, created: map[string]string{}}
}

var (
	_ intake.Registrar = (*Registrar)(nil)
	_ intake.Settler   = (*Registrar)(nil)
)

// StatusURL is the registration's login-free status link.
func (g *Registrar) StatusURL(caseNumber string) string { return g.e.o.StatusURL(caseNumber) }

// Register creates submissions (see Engine.Create), in batches of at most
// 100. With a daemon, the channels that answer the partner in place wait
// up to Wait for the worker's decision and answer with it; CSV imports
// get theirs from Settle.
func (g *Registrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	out := make([]intake.Receipt, len(subs))
	for start := 0; start < len(subs); start += 100 {
		end := min(start+100, len(subs))
		recs := make([]registration.Record, end-start)
		block := false
		for i, s := range subs[start:end] {
			r := s.Record
			r.SubmissionKey = s.Key
			if r.Source == "" {
				r.Source = s.Channel
			}
			recs[i] = r
			block = block || (r.Source != intake.ChannelCSV && answersInChannel(r.Source))
		}
		var until time.Time
		if g.w != nil {
			switch {
			case block:
				until = time.Now().Add(g.Wait)
			default:
				until = time.Now().Add(g.SettleWait) // CSV: Settle collects them
			}
		}
		outs, err := g.e.Create(ctx, recs, until)
		if err != nil {
			return out, err
		}
		var wait []string
		g.mu.Lock()
		for i, o := range outs {
			if o.Result == ResultCreated {
				g.created[o.Record.CaseNumber] = o.ID
				if recs[i].Source != intake.ChannelCSV && answersInChannel(recs[i].Source) && g.w != nil {
					wait = append(wait, o.Record.CaseNumber)
				}
			}
		}
		g.mu.Unlock()
		if g.w != nil {
			g.w.Kick()
		}
		decided := g.e.waits.wait(ctx, wait)
		for i, o := range outs {
			if d, ok := decided[o.Record.CaseNumber]; ok && o.Result == ResultCreated {
				d.Result = ResultCreated
				o = d
				g.forget(o.Record.CaseNumber)
			}
			rc := g.receipt(o)
			if rc.CaseNumber == "" && rc.Err == nil {
				// Every submission has its case number (from its key): a
				// receipt without one would tell the partner nothing.
				g.e.log.Error("registrar: an outcome without its record", "case", recs[i].CaseNumber, "result", o.Result, "id", o.ID)
				rc.CaseNumber, rc.StatusURL = recs[i].CaseNumber, g.StatusURL(recs[i].CaseNumber)
				if rc.CaseNumber == "" {
					rc.Err = errors.New("registrar: no case number for this submission")
				}
			}
			out[start+i] = rc
			g.e.m.IntakeSubmissions.WithLabelValues(subs[start+i].Channel, string(o.Result)).Inc()
		}
	}
	return out, nil
}

func (g *Registrar) forget(caseNumber string) {
	g.mu.Lock()
	delete(g.created, caseNumber)
	g.mu.Unlock()
}

// Settle waits for the decisions of registrations Register created (an
// import's rows) and returns their receipts by case number; those still
// undecided when SettleWait ends (or ctx) are missing from the result.
// Without a daemon it decides them itself, once the CRM's settle time has
// passed since their submission, through the same path as the worker.
func (g *Registrar) Settle(ctx context.Context, caseNumbers []string) (map[string]intake.Receipt, error) {
	out := map[string]intake.Receipt{}
	if len(caseNumbers) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.SettleWait)
	defer cancel()
	if g.w != nil {
		for c, o := range g.e.waits.wait(ctx, caseNumbers) {
			out[c] = g.receipt(o)
			g.forget(c)
		}
		var rest []string
		for _, c := range caseNumbers {
			if _, ok := out[c]; !ok {
				rest = append(rest, c)
			}
		}
		if len(rest) > 0 {
			// Decided before anyone waited, or not yet: as the CRM holds them.
			recs, err := g.e.crm.Lookup(context.WithoutCancel(ctx), rest)
			if err != nil {
				return out, err
			}
			for _, r := range recs {
				if r.Status != registration.StatusSubmitted {
					out[r.CaseNumber] = g.receipt(Outcome{ID: r.ID, Record: r, Result: ResultCreated})
					g.forget(r.CaseNumber)
				}
			}
		}
		return out, nil
	}
	// No daemon: decide here, in batches, when each may be decided.
	g.mu.Lock()
	ids := map[string]string{}
	for _, c := range caseNumbers {
		if id, ok := g.created[c]; ok {
			ids[id] = c
		}
	}
	g.mu.Unlock()
	for len(ids) > 0 && ctx.Err() == nil {
		batch := make([]string, 0, len(ids))
		for id := range ids {
			batch = append(batch, id)
		}
		slices.Sort(batch)
		var soonest time.Time
		for start := 0; start < len(batch); start += 100 {
			part := batch[start:min(start+100, len(batch))]
			outs, err := g.e.ProcessSweeping(ctx, part, nil)
			if err != nil {
				return out, err
			}
			for _, o := range outs {
				switch o.Result {
				case ResultWaiting:
					if soonest.IsZero() || o.Until.Before(soonest) {
						soonest = o.Until
					}
					continue
				case ResultFailed:
					if Permanent(o.Err) {
						delete(ids, o.ID)
					}
					continue
				}
				c := ids[o.ID]
				delete(ids, o.ID)
				out[c] = g.receipt(Outcome{ID: o.ID, Record: o.Record, Decision: o.Decision, Result: ResultCreated})
				g.forget(c)
			}
		}
		if len(ids) == 0 {
			break
		}
		wait := time.Second
		if !soonest.IsZero() {
			wait = max(soonest.Sub(g.e.now())+50*time.Millisecond, 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return out, nil
}

func (g *Registrar) receipt(o Outcome) intake.Receipt {
	r := o.Record
	rc := intake.Receipt{ID: firstNonEmpty(o.ID, r.ID), CaseNumber: r.CaseNumber, Status: r.Status, Reason: r.StatusReason,
		Message: r.StatusMessage, HoldUntil: r.HoldUntil, MeetingDue: r.MeetingDue,
		Created: o.Result == ResultCreated || o.Result == ResultDecided, Err: o.Err}
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
	found, err := g.Lookup(ctx, caseNumber)
	if err != nil {
		return intake.Receipt{}, err
	}
	// The change is judged and written under the record's lock (see hold),
	// on the record as it is now: no decision runs on it meanwhile.
	unlock, err := g.e.lockRecords(ctx, []string{found.ID})
	if err != nil {
		return intake.Receipt{}, err
	}
	var once sync.Once
	release := func() { once.Do(unlock) }
	defer release()
	recs, err := g.e.crm.Registrations(ctx, []string{found.ID})
	if err != nil {
		return intake.Receipt{}, err
	}
	if len(recs) != 1 {
		return intake.Receipt{}, fmt.Errorf("%w: %s", ErrNotFound, caseNumber)
	}
	r := recs[0]
	fields := map[string]string{}
	switch a.Action {
	case intake.ActionSupply:
		if r.Status != registration.StatusNeedsInfo {
			return g.receipt(Outcome{Record: r}), fmt.Errorf("%w: supplying details to a %s registration", ErrNotAllowed, r.Status)
		}
		c := r
		for k, v := range a.Fields {
			f, ok := registration.LookupField(k)
			if !ok || !registration.FieldInfo(k).Prospect() {
				return intake.Receipt{}, fmt.Errorf("field %q cannot be supplied by a partner", k)
			}
			if err := f.Set(&c, v); err != nil {
				return intake.Receipt{}, err
			}
			fields[k] = f.Get(&c)
		}
		c.Index()
		if c.DomainKey != "" && c.DomainKey != r.DomainKey {
			// A place in line belongs to a company: naming a domain (or
			// another one) is a new claim, in line from now. Filling in
			// anything else keeps the place.
			var place registration.Record
			place.SubmittedAt, place.SubmissionSeq = g.e.acc.stamp(g.e.now(), time.Now())
			fields["submitted_at"], _ = place.Get("submitted_at")
			fields["submission_seq"], _ = place.Get("submission_seq")
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
		p := g.e.o.Policy()
		if ok, why := p.AppealAllowed(&r, g.e.now()); !ok {
			return g.receipt(Outcome{Record: r}), AppealRefusal(p, &r, why)
		}
		fields["status"] = string(registration.StatusAppealed)
		fields["status_reason"] = rules.ReasonAppealed
		fields["appeal_count"] = strconv.Itoa(int(r.AppealCount) + 1)
		if r.DeclinedReason == "" {
			fields["declined_reason"] = r.StatusReason // declined before declined_reason was kept
		}
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
	amended := expected(r, fields)
	amended.Index()
	g.e.ov.observe(g.e.now(), amended) // decisions on its company see it at once
	if a.Note != "" {
		note := partnerNote(a.Action, r.PartnerEmail, a.Note)
		if err := g.e.crm.Note(ctx, []connectors.Note{{RegistrationID: r.ID, Body: note, At: g.e.now(), Key: amendKey(g.e.Key(r.ID), r, a.Action)}}); err != nil {
			g.e.log.Warn("record the partner's note", "case", caseNumber, "err", err)
		}
	}
	release() // the worker decides it, under the same lock
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

// AppealNote is what a declined registration's page or reply says about
// appealing it: "" when the partner may appeal, else the refusal.
func AppealNote(p *rules.Policy, r *registration.Record, now time.Time) string {
	if r.Status != registration.StatusDeclined {
		return ""
	}
	if ok, why := p.AppealAllowed(r, now); !ok {
		return AppealRefusal(p, r, why).Message
	}
	return ""
}

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
