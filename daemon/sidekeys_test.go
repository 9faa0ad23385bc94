package daemon

import (
	"testing"
	"time"
)

// TestTwoDecisionsInOneInstantTwoTasks: regsync sends a registration to
// review and an AE approves it within the same instant of the CRM's clock
// (Salesforce keeps whole seconds, so this is any approval within the
// second; here the shared fake clock stands still). Each decision has its
// own task and audit note: their idempotency keys name the transition, not
// only the instant (found by the torture test: the approval's follow-up
// task was upserted over the review task on Salesforce).
func TestTwoDecisionsInOneInstantTwoTasks(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, pollInterval: 200 * time.Millisecond})
		p := clean(7, "review-me.example")
		p["country"] = "JP" // no territory: unassigned review
		id := h.register(p)
		got, _ := h.waitDecided(id, 5*time.Second)
		if got["status"] != "in_review" {
			t.Fatalf("status %q reason %q, want in_review", got["status"], got["status_reason"])
		}
		h.settle(5 * time.Second)
		h.crm.Update(t, id, map[string]string{"status": "approved"})
		deadline := time.Now().Add(5 * time.Second)
		for h.get(id)["hold_until"] == "" {
			if time.Now().After(deadline) {
				t.Fatalf("the AE's approval was not followed through: %v", h.get(id))
			}
			time.Sleep(20 * time.Millisecond)
		}
		h.settle(5 * time.Second)
		if tasks := h.crm.Linked(t, id, "tasks"); len(tasks) != 2 {
			t.Errorf("%d AE tasks, want 2 (the review, the approval's follow-up)", len(tasks))
		}
		if notes := h.crm.Linked(t, id, "notes"); len(notes) != 2 {
			t.Errorf("%d audit notes, want 2", len(notes))
		}
	})
}
