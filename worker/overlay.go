package worker

import (
	"slices"
	"sync"
	"time"

	"github.com/regsync/regsync/registration"
)

// overlay is what this process knows of registrations fresher than the
// CRM's search can tell it: the records it just read by id or wrote, and
// the submissions its intake channels accepted that are not in the CRM yet
// (claims). Facts are merged with it before every decision, so a decision
// never misses an earlier rival because the CRM's search index lags
// (HubSpot shows a write to search seconds after it landed) or because the
// rival's create is still in flight.
//
// Entries of records the CRM holds live for ttl after they were recorded
// (the search lag and a margin); a claim lives until its create is
// answered (created: it becomes an ordinary entry; refused: it goes).
type overlay struct {
	ttl time.Duration

	mu     sync.Mutex
	byID   map[string]*ovEntry
	byCase map[string]*ovEntry // case number → the entry in byID
	claims map[string]*ovEntry // case number → a submission not in the CRM yet
	keys   map[string]map[*ovEntry]bool
	lastGC time.Time
}

type ovEntry struct {
	rec registration.Record // Indexed
	at  time.Time           // when this process learnt it (the engine's clock)
}

func newOverlay(ttl time.Duration) *overlay {
	return &overlay{ttl: ttl, byID: map[string]*ovEntry{}, byCase: map[string]*ovEntry{}, claims: map[string]*ovEntry{}, keys: map[string]map[*ovEntry]bool{}}
}

// matchKeys are the keys a record is matched on: its registrable domain and
// its normalised company name.
func matchKeys(r *registration.Record) []string {
	var ks []string
	if r.DomainKey != "" {
		ks = append(ks, "d:"+r.DomainKey)
	}
	if r.NameKey != "" {
		ks = append(ks, "n:"+r.NameKey)
	}
	return ks
}

func (o *overlay) index(e *ovEntry) {
	for _, k := range matchKeys(&e.rec) {
		if o.keys[k] == nil {
			o.keys[k] = map[*ovEntry]bool{}
		}
		o.keys[k][e] = true
	}
}

func (o *overlay) unindex(e *ovEntry) {
	for _, k := range matchKeys(&e.rec) {
		delete(o.keys[k], e)
		if len(o.keys[k]) == 0 {
			delete(o.keys, k)
		}
	}
}

// observe records registrations as they stand now in the CRM (read by id,
// or as a write of ours left them). A record's claim, if any, is resolved.
func (o *overlay) observe(now time.Time, recs ...registration.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gc(now)
	for _, r := range recs {
		if r.ID == "" {
			continue
		}
		if c := o.claims[r.CaseNumber]; c != nil && r.CaseNumber != "" {
			o.unindex(c)
			delete(o.claims, r.CaseNumber)
		}
		if old := o.byID[r.ID]; old != nil {
			o.unindex(old)
			if o.byCase[old.rec.CaseNumber] == old {
				delete(o.byCase, old.rec.CaseNumber)
			}
		}
		e := &ovEntry{rec: r, at: now}
		o.byID[r.ID] = e
		if r.CaseNumber != "" {
			o.byCase[r.CaseNumber] = e
		}
		o.index(e)
	}
}

// claimLocked records a submission accepted but not yet created in the
// CRM. The caller holds o.mu.
func (o *overlay) claimLocked(now time.Time, r registration.Record) {
	if r.CaseNumber == "" {
		return
	}
	if old := o.claims[r.CaseNumber]; old != nil {
		o.unindex(old)
	}
	e := &ovEntry{rec: r, at: now}
	o.claims[r.CaseNumber] = e
	o.index(e)
}

// drop forgets the claims of submissions that were not created (already
// registered, or refused).
func (o *overlay) drop(caseNumbers ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range caseNumbers {
		if e := o.claims[c]; e != nil {
			o.unindex(e)
			delete(o.claims, c)
		}
	}
}

// known returns the registration with this case number that this process
// read or wrote within the ttl (a claim is not a registration yet).
func (o *overlay) known(caseNumber string) (registration.Record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.byCase[caseNumber]; e != nil {
		return e.rec, true
	}
	return registration.Record{}, false
}

// gc forgets entries older than the ttl (claims stay until resolved).
func (o *overlay) gc(now time.Time) {
	if now.Sub(o.lastGC) < o.ttl/4 && now.After(o.lastGC) {
		return // entries past the ttl by less than a quarter of it do no harm
	}
	o.lastGC = now
	for id, e := range o.byID {
		if now.Sub(e.at) > o.ttl {
			o.unindex(e)
			delete(o.byID, id)
			if o.byCase[e.rec.CaseNumber] == e {
				delete(o.byCase, e.rec.CaseNumber)
			}
		}
	}
}

// merge brings the rivals in f up to date for deciding r: a rival this
// process knows a fresher version of is replaced by it (fresher: recorded
// after the CRM's own last modification of the version the search
// returned), and a registration it knows on r's domain or name that the
// search did not return (not indexed yet, or not created yet) is added. r
// itself is never a rival of its own.
func (o *overlay) merge(now time.Time, r *registration.Record, f *registration.Facts) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gc(now)
	seenID := map[string]bool{}
	seenCase := map[string]bool{}
	for i := range f.Registrations {
		x := &f.Registrations[i]
		if e := o.byID[x.ID]; e != nil && x.ID != "" && now.Sub(e.at) <= o.ttl && (x.ModifiedAt.IsZero() || !x.ModifiedAt.After(e.at)) {
			*x = e.rec
		}
		seenID[x.ID] = true
		seenCase[x.CaseNumber] = true
	}
	seen := map[*ovEntry]bool{}
	var cand []*ovEntry
	for _, k := range matchKeys(r) {
		for e := range o.keys[k] {
			if !seen[e] {
				seen[e] = true
				cand = append(cand, e)
			}
		}
	}
	// In line order, so the facts read the same whatever the map's order.
	slices.SortFunc(cand, func(a, b *ovEntry) int { return inLine(&a.rec, &b.rec) })
	for _, e := range cand {
		x := &e.rec
		switch {
		case x.ID != "" && now.Sub(e.at) > o.ttl:
			continue // the search is current again
		case x.ID != "" && seenID[x.ID], x.CaseNumber != "" && seenCase[x.CaseNumber]:
			continue // the search returned it; replaced above when fresher
		case (x.ID != "" && x.ID == r.ID) || (x.CaseNumber != "" && x.CaseNumber == r.CaseNumber):
			continue // r itself
		}
		f.Registrations = append(f.Registrations, *x)
		seenID[x.ID] = true
		seenCase[x.CaseNumber] = true
	}
}
