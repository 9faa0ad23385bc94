package worker

import (
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Outcome is what processing did with one record.
type Outcome struct {
	ID string
	// Result: decided (a decision was written), resumed (a plan was
	// finished), echo (our own write came back), observed (nothing to do),
	// waiting (an approval waits for earlier rivals to show in the CRM's
	// search: looked at again at Until), created (registered by Create,
	// decided next by the worker), exists (Create: already registered),
	// missing (not in the CRM), failed.
	Result string
	// Until is when a waiting registration is looked at again (the
	// engine's clock).
	Until    time.Time
	Decision *rules.Decision
	Record   registration.Record // the record as it stands after processing
	Err      error
}
