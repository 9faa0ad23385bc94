package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/state"
)

// fingerprint is what regsync last wrote to (or saw on) a record: its
// status and reason, a digest of every field, and the registrable domain
// and submitted_at it had — a domain set or changed since, under the same
// submitted_at, is a new claim on that domain (identify).
type fingerprint struct {
	Status registration.Status
	Reason string
	Digest string
	// Known is set when Domain and At were recorded (fingerprints written
	// before they were kept have only the first three parts).
	Known  bool
	Domain string
	At     string
}

func (f fingerprint) String() string {
	return string(f.Status) + "|" + f.Reason + "|" + f.Digest + "|" + f.Domain + "|" + f.At
}

func parseFingerprint(s string) (fingerprint, bool) {
	parts := strings.SplitN(s, "|", 5)
	switch len(parts) {
	case 3:
		return fingerprint{Status: registration.Status(parts[0]), Reason: parts[1], Digest: parts[2]}, true
	case 5:
		return fingerprint{Status: registration.Status(parts[0]), Reason: parts[1], Digest: parts[2],
			Known: true, Domain: parts[3], At: parts[4]}, true
	}
	return fingerprint{}, false
}

// fingerprintOf digests every CRM field of r but its id.
func fingerprintOf(r *registration.Record) fingerprint {
	h := sha256.New()
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		h.Write([]byte(f.Name))
		h.Write([]byte{'='})
		h.Write([]byte(f.Get(r)))
		h.Write([]byte{0})
	}
	return fingerprint{Status: r.Status, Reason: r.StatusReason, Digest: hex.EncodeToString(h.Sum(nil)[:16]),
		Known: true, Domain: r.DomainKey, At: placeText(r)}
}

// placeText is the place in line as a fingerprint keeps it: submitted_at
// and submission_seq (a new place within the same second on Salesforce
// differs by its sequence).
func placeText(r *registration.Record) string {
	at, _ := r.Get("submitted_at")
	seq, _ := r.Get("submission_seq")
	return at + "/" + seq
}

// writtenBeneath reports whether a record that no longer matches its
// plan's fingerprint still holds what only that plan's write put there:
// the decision's instant in decided_at (to the CRM's precision) with its
// status message or reason. An AE changes the status, a meeting date, an
// owner; regsync alone stamps decided_at. A plan that wrote no decided_at
// (a sweep that changed no status) cannot tell, and is void as before.
func (e *Engine) writtenBeneath(r *registration.Record, pl *state.Plan) bool {
	var data planData
	if err := json.Unmarshal(pl.Data, &data); err != nil || data.At.IsZero() || r.DecidedAt.IsZero() {
		return false
	}
	if !r.DecidedAt.Equal(data.At.UTC().Truncate(e.prec)) {
		return false
	}
	return r.StatusMessage == data.Message || r.StatusReason == data.Reason
}

// samePrint reports whether a plan's expected fingerprint is the record's:
// the same status, reason and digest (what the plan's write sets).
func samePrint(expect string, fp fingerprint) bool {
	x, ok := parseFingerprint(expect)
	return ok && x.Status == fp.Status && x.Reason == fp.Reason && x.Digest == fp.Digest
}

// loadLocal reads fingerprints and plans for the batch.
func (e *Engine) loadLocal(works []*work) error {
	if e.o.State == nil {
		return nil
	}
	keys := make([]string, len(works))
	for i, w := range works {
		keys[i] = w.key
	}
	fps, err := e.o.State.Fingerprints(keys...)
	if err != nil {
		return err
	}
	plans, err := e.o.State.Plans(keys...)
	if err != nil {
		return err
	}
	for _, w := range works {
		if s, ok := fps[w.key]; ok {
			w.prevFP, w.hasFP = parseFingerprint(s)
		}
		if pl, ok := plans[w.key]; ok {
			w.plan = &pl
		}
	}
	return nil
}

// rememberObserved records what regsync saw on the records it left alone,
// so their echo and unchanged re-reads are recognised.
func (e *Engine) rememberObserved(works []*work) {
	if e.o.State == nil {
		return
	}
	fps := map[string]string{}
	for _, w := range works {
		if w.out.Result == ResultObserved {
			fps[w.key] = fingerprintOf(&w.rec).String()
		}
	}
	if err := e.o.State.SetFingerprints(fps); err != nil {
		e.log.Warn("remember fingerprints", "records", len(fps), "err", err)
	}
}
