package daemon

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/state"
)

// TestLostAnswerKeepsThePlan: the CRM applies a batch of decisions but its
// answer is lost (the connection drops after the request was applied, on
// every retry within the call), and the read-back is lost too. regsync
// keeps the plan; when the CRM answers again it recognises the record as
// its own write and finishes the plan: one audit note, one task, one
// e-mail, the audit entry by regsync — never "a human's decision".
// (Regression: the write path dropped the plans of a write it did not
// hear, so decisions lost their side effects and came back through the
// change feed audited as actor=crm.)
//
// Seen on HubSpot; the same holds on Salesforce (its connector's
// TestTruncatedSuccessIsUnknown covers the classification).
func TestLostAnswerKeepsThePlan(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, pollInterval: 300 * time.Millisecond})
		isUpdate := func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/batch/update") ||
				r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/composite/sobjects")
		}
		isRead := func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/batch/read") ||
				r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/query") ||
				r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/composite") // Salesforce's queries in one call
		}
		var updated atomic.Bool
		in := crmfault.New(crmfault.Spec{Rate: 1, Weights: map[crmfault.Kind]float64{crmfault.ResetAfter: 1}}, 1, crmfault.Options{
			Only: func(r *http.Request) bool {
				if isUpdate(r) {
					updated.Store(true)
					return true
				}
				return updated.Load() && isRead(r) // once a decision went out, its read-back is lost too
			}})
		setFaults(t, h.crm, in)

		id := h.register(clean(40, "lost-answer.example"))
		// The client retries the update within the call first (a minute
		// at most), then the engine reads the record back.
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(h.logs.String(), "cannot be read back") {
			if time.Now().After(deadline) {
				t.Fatalf("no lost answer within 90s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := h.get(id)["status"]; got != "approved" {
			t.Fatalf("the decision did not reach the CRM: %s", got)
		}
		setFaults(t, h.crm, nil) // the CRM answers again
		h.waitDecided(id, 10*time.Second)
		h.settle(30 * time.Second)
		p := h.want(id, "approved", "approved")
		if n := len(h.crm.Linked(t, id, "notes")); n != 1 {
			t.Errorf("%d audit notes, want 1", n)
		}
		if n := len(h.crm.Linked(t, id, "tasks")); n != 1 {
			t.Errorf("%d AE tasks, want 1", n)
		}
		if n := len(h.outboxWith(p["case_number"])); n != 1 {
			t.Errorf("%d e-mails to the partner, want 1", n)
		}
		entries, err := h.d.db.Audit(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var mine []state.AuditEntry
		for _, e := range entries {
			if e.RecordID == id {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 || mine[0].Actor != "regsync" || mine[0].To != "approved" {
			t.Errorf("audit of the decision: %+v, want one entry submitted → approved by regsync", mine)
		}
	})
}

func setFaults(t *testing.T, f fakeCRM, in *crmfault.Injector) {
	t.Helper()
	switch ff := f.(type) {
	case *hubspotFake:
		ff.hs.SetInjector(in)
	case *salesforceFake:
		ff.sf.SetInjector(in)
	default:
		t.Fatalf("no faults for %T", f)
	}
}
