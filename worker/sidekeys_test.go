package worker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// sideCRM records the tasks and notes the engine sends.
type sideCRM struct {
	connectors.CRM
	tasks []connectors.Task
	notes []connectors.Note
}

func (c *sideCRM) Name() string                                  { return "fake" }
func (c *sideCRM) Link(context.Context, []connectors.Link) error { return nil }
func (c *sideCRM) Task(_ context.Context, ts []connectors.Task) error {
	c.tasks = append(c.tasks, ts...)
	return nil
}
func (c *sideCRM) Note(_ context.Context, ns []connectors.Note) error {
	c.notes = append(c.notes, ns...)
	return nil
}

// TestSideEffectKeys: a decision's task and note carry one key each, the
// same when the plan is resumed from its JSON (after a failed step or a
// crash) and different for the next decision of the same record; only the
// first attempt is Fresh.
func TestSideEffectKeys(t *testing.T) {
	crm := &sideCRM{}
	e := &Engine{crm: crm, o: EngineOptions{Object: "partner_registration"}}
	at := time.Date(2026, 3, 2, 15, 0, 0, 123456789, time.FixedZone("EST", -5*3600))
	data := planData{From: registration.StatusSubmitted, To: registration.StatusInReview, Reason: rules.ReasonConflictPending,
		CaseNumber: "R-1", At: at, Task: &connectors.Task{Subject: "Review R-1", OwnerID: "ae-na"}}
	fresh := &work{rec: registration.Record{ID: "101"}, key: e.Key("101"), data: data, out: &Outcome{Result: ResultDecided}}
	e.sideEffects(context.Background(), []*work{fresh})

	js, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var back planData
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	resumed := &work{rec: registration.Record{ID: "101"}, key: e.Key("101"), data: back, out: &Outcome{Result: ResultResumed}}
	e.sideEffects(context.Background(), []*work{resumed})

	next := data
	next.At, next.To = at.Add(time.Hour), registration.StatusApproved
	later := &work{rec: registration.Record{ID: "101"}, key: e.Key("101"), data: next, out: &Outcome{Result: ResultDecided}}
	e.sideEffects(context.Background(), []*work{later})

	if len(crm.tasks) != 3 || len(crm.notes) != 3 {
		t.Fatalf("%d tasks, %d notes", len(crm.tasks), len(crm.notes))
	}
	wantTask := "fake/partner_registration/101/2026-03-02T20:00:00.123456789Z/submitted>in_review/task"
	if crm.tasks[0].Key != wantTask || crm.notes[0].Key != "fake/partner_registration/101/2026-03-02T20:00:00.123456789Z/submitted>in_review/note" {
		t.Errorf("keys %q %q", crm.tasks[0].Key, crm.notes[0].Key)
	}
	if crm.tasks[1].Key != crm.tasks[0].Key || crm.notes[1].Key != crm.notes[0].Key {
		t.Errorf("a resumed plan changed its keys: %q %q", crm.tasks[1].Key, crm.notes[1].Key)
	}
	if crm.tasks[2].Key == crm.tasks[0].Key || crm.notes[2].Key == crm.notes[0].Key {
		t.Error("the next decision reused the keys")
	}
	if !crm.tasks[0].Fresh || !crm.notes[0].Fresh || crm.tasks[1].Fresh || crm.notes[1].Fresh {
		t.Errorf("fresh: first %v/%v, resumed %v/%v", crm.tasks[0].Fresh, crm.notes[0].Fresh, crm.tasks[1].Fresh, crm.notes[1].Fresh)
	}
	if data.Task.Key != "" {
		t.Error("the plan's task was changed in place")
	}
}

func TestAmendKey(t *testing.T) {
	r := registration.Record{ID: "7", ModifiedAt: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	k := amendKey("hubspot/p/7", r, "appeal")
	if k != "hubspot/p/7/2026-03-02T15:00:00Z/appeal-note" {
		t.Errorf("amendKey = %q", k)
	}
	r.ModifiedAt = r.ModifiedAt.Add(time.Second)
	if amendKey("hubspot/p/7", r, "appeal") == k || amendKey("hubspot/p/7", r, "withdraw") == amendKey("hubspot/p/7", r, "appeal") {
		t.Error("amendments of another version, or other actions, share a key")
	}
}
