package daemon

import (
	"testing"
	"time"
)

func TestDecidedWithinTwoPollsWithoutWebhooks(t *testing.T) {
	const interval = time.Second
	h := startHarness(t, harnessOpts{pollInterval: interval})
	co := h.company("Globex Poll", "globex-poll.example")
	time.Sleep(interval / 2) // the first poll has run
	id := h.register(clean(1, "www.globex-poll.example"))
	p, took := h.waitDecided(id, 2*interval)
	t.Logf("decided in %s by polling (interval %s)", took, interval)
	h.settle(5 * time.Second)
	h.checkApproved(id, p, co)
}

func TestDecidedWithinASecondWithWebhooks(t *testing.T) {
	h := startHarness(t, harnessOpts{webhooks: true})
	co := h.company("Globex Hook", "globex-hook.example")
	id := h.register(clean(2, "https://eu.globex-hook.example/about"))
	p, took := h.waitDecided(id, time.Second)
	t.Logf("decided in %s by webhook", took)
	h.settle(5 * time.Second)
	h.checkApproved(id, p, co)
}

// checkApproved checks what the worker wrote for a clean registration.
func (h *harness) checkApproved(id string, p map[string]string, company string) {
	t := h.t
	t.Helper()
	if p["status"] != "approved" || p["status_reason"] != "approved" {
		t.Fatalf("status %q reason %q, want approved approved", p["status"], p["status_reason"])
	}
	if p["hold_until"] == "" || p["meeting_due"] == "" || p["decided_at"] == "" || p["first_response_at"] == "" || p["approved_at"] == "" {
		t.Fatalf("dates not written: %v", p)
	}
	if p["owner_id"] != "ae-na" {
		t.Errorf("owner_id %q, want ae-na (territory na)", p["owner_id"])
	}
	if p["status_message"] == "" {
		t.Error("no partner message")
	}
	if cos := h.hs.Associations(h.typeID, id, "companies"); len(cos) != 1 || cos[0] != company {
		t.Errorf("associated with companies %v, want [%s], the company of the domain", cos, company)
	}
	if p["company_id"] != company {
		t.Errorf("company_id %q, want %s", p["company_id"], company)
	}
	notes := h.hs.Associations(h.typeID, id, "notes")
	if len(notes) != 1 {
		t.Errorf("%d audit notes, want 1", len(notes))
	}
	tasks := h.hs.Associations(h.typeID, id, "tasks")
	if len(tasks) != 1 {
		t.Errorf("%d AE tasks, want 1 (the approval follow-up)", len(tasks))
	}
}
