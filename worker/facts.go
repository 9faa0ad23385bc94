package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// identify gives w's record the identity regsync writes with its first
// decision, when the CRM lacks it: the case number (derived from the CRM
// id, so the same on every read) and the place in line — submitted_at is
// the CRM's creation time of a record created outside regsync, never the
// instant regsync first saw it. A registration whose registrable domain
// was set or changed since regsync last saw it, under the same
// submitted_at, claims the new domain afresh: its place starts at the
// change (the CRM's modification time).
func (e *Engine) identify(w *work, now time.Time) {
	r := &w.rec
	stamp := func(name string) {
		if w.stamp == nil {
			w.stamp = map[string]string{}
		}
		w.stamp[name], _ = r.Get(name)
	}
	if r.CaseNumber == "" && r.ID != "" {
		r.CaseNumber = e.derivedCase(r.ID)
		stamp("case_number")
	}
	switch {
	case r.SubmittedAt.IsZero():
		t := r.CreatedAt
		if t.IsZero() {
			t = now
		}
		r.SubmittedAt = t.UTC().Truncate(e.prec)
		stamp("submitted_at")
	case w.hasFP && w.prevFP.Known && r.DomainKey != "" && w.prevFP.Domain != r.DomainKey && w.prevFP.At == placeText(r):
		t := r.ModifiedAt
		if t.IsZero() {
			t = now
		}
		e.log.Info("the registration names another company domain: a new place in line", "case", r.CaseNumber,
			"from", w.prevFP.Domain, "to", r.DomainKey, "submitted_at", t.UTC().Truncate(e.prec))
		r.SubmittedAt, r.SubmissionSeq = t.UTC().Truncate(e.prec), 0
		stamp("submitted_at")
		stamp("submission_seq")
	}
}

// identifyRivals gives the rivals in f the identity identify would give
// them: a record created outside regsync and not yet decided is in line
// from its creation time, under its derived case number.
func (e *Engine) identifyRivals(f *registration.Facts) {
	for i := range f.Registrations {
		o := &f.Registrations[i]
		if o.CaseNumber == "" && o.ID != "" {
			o.CaseNumber = e.derivedCase(o.ID)
		}
		if o.SubmittedAt.IsZero() && !o.CreatedAt.IsZero() {
			o.SubmittedAt = o.CreatedAt.UTC().Truncate(e.prec)
		}
	}
}

// derivedCase is the case number of a registration created outside regsync.
func (e *Engine) derivedCase(id string) string {
	return registration.CaseNumberFor("crm:" + e.crm.Name() + ":" + id)
}

func (e *Engine) debugFacts(ctx context.Context, w *work) {
	if !e.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var rv []string
	for _, o := range w.facts.Registrations {
		rv = append(rv, o.CaseNumber+"/"+o.ID+":"+string(o.Status))
	}
	e.log.Debug("facts", "case", w.rec.CaseNumber, "id", w.rec.ID, "rivals", strings.Join(rv, ","), "deals", len(w.facts.OpenDeals))
}

// gatherFacts reads, in one batch, the facts of what the rules must look
// at around the works that need them (rivals, the company, its deals).
func (e *Engine) gatherFacts(ctx context.Context, deciding []*work, p *rules.Policy) {
	var need []*work
	for _, w := range deciding {
		if w.out.Result == resultPending && needsFacts(w, p) {
			need = append(need, w)
		}
	}
	if len(need) == 0 {
		return
	}
	recs := make([]registration.Record, len(need))
	for i, w := range need {
		recs[i] = w.rec
	}
	facts, err := e.crm.Facts(ctx, recs)
	if err != nil {
		for _, w := range need {
			w.out.Result, w.out.Err = ResultFailed, fmt.Errorf("gather facts: %w", err)
		}
		return
	}
	for i, w := range need {
		if i < len(facts) {
			w.facts = facts[i]
		}
		w.hasFacts = true
	}
}
