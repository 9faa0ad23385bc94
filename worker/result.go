package worker

import (
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Result is what processing did with one record. Its values are also the
// label values of regsync_processed_total and regsync_intake_submissions_total
// (a contract with dashboards and alerts: never rename one).
type Result string

const (
	// ResultDecided: a decision was written to the CRM (its side effects
	// follow in the same batch).
	ResultDecided Result = "decided"
	// ResultResumed: an interrupted plan whose write had landed was
	// finished (its side effects run), without deciding again.
	ResultResumed Result = "resumed"
	// ResultEcho: the record is regsync's own last write coming back (a
	// webhook or poll hit): nothing to do.
	ResultEcho Result = "echo"
	// ResultObserved: the record was looked at and needed nothing, or a
	// human's change was recorded as it stands (manual_override).
	ResultObserved Result = "observed"
	// ResultEscalate: a sweep found a waiting registration past its SLA;
	// the sweep escalates it (once per deadline).
	ResultEscalate Result = "escalate"
	// ResultWaiting: an approval waits for earlier rivals to show in the
	// CRM's search; the record is looked at again at Outcome.Until.
	ResultWaiting Result = "waiting"
	// ResultCreated: Create registered the submission (status submitted);
	// the worker decides it next. The registrar also reports a created
	// submission's decision under this result.
	ResultCreated Result = "created"
	// ResultExists: Create found the submission already registered; the
	// outcome carries the record as the CRM holds it.
	ResultExists Result = "exists"
	// ResultMissing: the CRM has no record with this id.
	ResultMissing Result = "missing"
	// ResultUnknown: the CRM's answer to a decision's write was lost and
	// the record could not be read back: the plan stays, and whichever
	// path next reads the record finishes or voids it.
	ResultUnknown Result = "unknown"
	// ResultFailed: processing failed; Outcome.Err says why, and
	// Permanent(Err) whether trying again can help.
	ResultFailed Result = "failed"
)

// resultPending is a record still on its way through the batch.
const resultPending Result = ""

// Outcome is what processing did with one record.
type Outcome struct {
	ID     string
	Result Result
	// Until is when a waiting registration is looked at again (the
	// engine's clock).
	Until    time.Time
	Decision *rules.Decision
	Record   registration.Record // the record as it stands after processing
	Err      error
}
