package worker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/regsync/regsync/registration"
)

// First come, first served rests on three things here:
//
//   - claim locks: every path that decides registrations (the worker's
//     batches, the sweep, Transition) holds the lock of each registrable
//     domain and normalised company name it decides on, from gathering the
//     facts until its decisions are written and in the overlay, so two
//     decisions on one company never run on facts that miss each other;
//   - the overlay (overlay.go), so facts include what this process wrote,
//     read or accepted moments ago that the CRM's search cannot show yet;
//   - within a batch, registrations sharing a domain or name are decided
//     one after the other in the order of their place in line, each write
//     landing before the next decision (see rounds).
//
// Claim locks are taken after record locks and never the other way round,
// each set in sorted order, so no two paths wait for each other in a cycle.

// claimKeys are the claim-lock keys of the records.
func claimKeys(ws []*work) []string {
	var keys []string
	for _, w := range ws {
		keys = append(keys, matchKeys(&w.rec)...)
	}
	return keys
}

// lockClaims takes the claim locks of the works' records.
func (e *Engine) lockClaims(ctx context.Context, ws []*work) (func(), error) {
	return e.claims.lock(ctx, claimKeys(ws))
}

// groups splits works into sets that share a registrable domain or a
// normalised company name (directly or through each other), each in the
// order they must be decided: a human's change first (it is the truth the
// rules look at), then by place in line.
func groups(ws []*work) [][]*work {
	parent := make([]int, len(ws))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, w := range ws {
		for _, k := range matchKeys(&w.rec) {
			if j, ok := owner[k]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[k] = i
			}
		}
	}
	byRoot := map[int][]*work{}
	var roots []int
	for i, w := range ws {
		r := find(i)
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], w)
	}
	out := make([][]*work, 0, len(roots))
	for _, r := range roots {
		g := byRoot[r]
		slices.SortStableFunc(g, func(a, b *work) int {
			if ha, hb := a.act == actManual || a.act == actCustom, b.act == actManual || b.act == actCustom; ha != hb {
				if ha {
					return -1
				}
				return 1
			}
			return inLine(&a.rec, &b.rec)
		})
		out = append(out, g)
	}
	return out
}

// acceptance stamps the submissions regsync's channels accept with their
// place in line: the instant of acceptance (never earlier than the one
// before, whatever the clock does) and a sequence strictly increasing in
// acceptance order — microseconds since the Unix epoch of the real clock,
// so it keeps increasing across restarts, and fits a Salesforce
// Number(18, 0) and a float64 exactly.
type acceptance struct {
	mu      sync.Mutex
	lastAt  time.Time
	lastSeq int64
}

func (a *acceptance) stamp(at time.Time, wall time.Time) (time.Time, float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stampLocked(at, wall)
}

func (a *acceptance) stampLocked(at time.Time, wall time.Time) (time.Time, float64) {
	if at.Before(a.lastAt) {
		at = a.lastAt
	}
	a.lastAt = at
	seq := wall.UnixMicro()
	if seq <= a.lastSeq {
		seq = a.lastSeq + 1
	}
	a.lastSeq = seq
	return at, float64(seq)
}

// accept gives each new submission its place in line, unless the caller
// set one (a submission accepted earlier and registered now keeps its
// instant), and records it in the overlay as a claim. Stamp and claim are
// one step under the overlay's lock, and a decision reads the clock before
// it merges the overlay: a decision that misses the claim began before the
// stamp, so its own registration came first.
func (e *Engine) accept(recs []registration.Record) {
	e.ov.mu.Lock()
	defer e.ov.mu.Unlock()
	now := e.now()
	for i := range recs {
		r := &recs[i]
		if r.SubmittedAt.IsZero() || r.SubmissionSeq == 0 {
			at, seq := e.acc.stamp(now, time.Now())
			if r.SubmittedAt.IsZero() {
				r.SubmittedAt = at
			}
			if r.SubmissionSeq == 0 {
				r.SubmissionSeq = seq
			}
		}
		// As the CRM will keep it, so the claim orders as its record will.
		r.SubmittedAt = r.SubmittedAt.UTC().Truncate(e.prec)
		e.ov.claimLocked(now, *r)
	}
}

// claim takes the claim locks of the companies the works decide on. It
// returns the release (safe to call twice: run releases before the side
// effects and defers it for a panic) and the works that hold their claims:
// none when the locks could not be taken (they fail).
func (e *Engine) claim(ctx context.Context, deciding []*work) (release func(), held []*work) {
	if len(deciding) == 0 {
		return func() {}, nil
	}
	unlock, err := e.lockClaims(ctx, deciding)
	if err != nil {
		failAll(deciding, err)
		return func() {}, nil
	}
	var once sync.Once
	return func() { once.Do(unlock) }, deciding
}

// inLine orders two registrations by their place in line (for sorting):
// -1 when a comes first, 1 when b does, 0 when neither.
func inLine(a, b *registration.Record) int {
	pa, pb := a.Place(), b.Place()
	switch {
	case pa.Before(pb):
		return -1
	case pb.Before(pa):
		return 1
	}
	return 0
}
