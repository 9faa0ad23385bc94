package worker

import (
	"context"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
)

// Match keys. Both connectors store a registration's derived match keys
// (registration.Record's DomainKey and NameKey) on the record, so that
// their searches for rivals (connectors.FactFinder) find it by them. A
// record created or edited outside regsync has none, or stale ones, and its
// read says so (Record.KeysStale). The worker keeps them current as part of
// its own writes, under the record's lock: with the decision it writes
// (keysToStore, in commit), or alone when it writes nothing else
// (storeStaleKeys, at the end of hold).
//
// Keys are not fields: they are in no fingerprint (their write, and its
// echo, change nothing regsync decides on), and writing them is not a
// decision — no plan, no audit, no side effect. A failure is logged; the
// keys are written the next time the record is read.

// keysToStore is what a write of r carries of its match keys: nil unless
// its stored keys are stale.
func keysToStore(r *registration.Record) *connectors.MatchKeys {
	if !r.KeysStale {
		return nil
	}
	return &connectors.MatchKeys{Domain: r.DomainKey, Name: r.NameKey}
}

// storeStaleKeys writes the match keys of the records of works read with
// stale ones that did not go with a decision: those with nothing to write
// (an echo, a record that needs nothing), in one batch. A record waiting to
// be decided (an approval waiting for its rivals to show in the CRM's
// search) keeps them for the decision's write; works that failed are left
// to their retry, which reads them again.
func (e *Engine) storeStaleKeys(ctx context.Context, works []*work) {
	var updates []connectors.Update
	for _, w := range works {
		switch {
		case !w.rec.KeysStale || w.rec.ID == "" || w.out.Err != nil:
			continue
		case w.out.Result == ResultDecided && len(w.update) > 0:
			continue // the keys went with the decision (commit)
		case w.out.Result == ResultWaiting:
			continue // decided soon: the keys go with that write
		}
		updates = append(updates, connectors.Update{ID: w.rec.ID, Keys: keysToStore(&w.rec)})
	}
	if len(updates) == 0 {
		return
	}
	res, err := e.crm.Write(ctx, updates)
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
			if err == nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		e.log.Warn("cannot store the match keys of registrations created or edited outside regsync now; they are written at their next read",
			"records", len(updates), "failed", failed, "err", err)
		return
	}
	e.log.Debug("stored the match keys of registrations created or edited outside regsync", "records", len(updates))
}
