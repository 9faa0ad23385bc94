package worker

import (
	"time"

	"github.com/regsync/regsync/registration"
)

// Idempotency keys of side effects (connectors.Task.Key, Note.Key): each
// names one side effect of one decision, the same on every attempt, so a
// connector can find what an attempt whose answer was lost created before
// creating it again.

// sideKey is the key of one step's side effect of w's decision: the plan's
// key (CRM, object, record id), the decision's instant and transition,
// kept in the plan, and the step ("task", "note"). The transition is part
// of it because two decisions of one record can share an instant: an AE's
// change is dated by the CRM's modification time, which Salesforce keeps
// to the second, so regsync's in_review and the AE's approval a moment
// later may both read 10:00:59 — one key would make the second task
// overwrite the first (Salesforce upserts tasks on the key).
func sideKey(w *work, step string) string {
	return w.key + "/" + w.data.At.UTC().Format(time.RFC3339Nano) + "/" + string(w.data.From) + ">" + string(w.data.To) + "/" + step
}

// firstTry reports whether w's side effects are attempted for the first
// time: its decision was written in this very call, so no earlier attempt
// can have reached the CRM and connectors need not look for one. A plan
// resumed (after a failed step or a crash) may have been partly applied.
func firstTry(w *work) bool { return w.out != nil && w.out.Result == ResultDecided }

// amendKey is the key of the note recording a partner's amendment of r:
// one per action on the version of the record it amended.
func amendKey(recordKey string, r registration.Record, action string) string {
	return recordKey + "/" + r.ModifiedAt.UTC().Format(time.RFC3339Nano) + "/" + action + "-note"
}
