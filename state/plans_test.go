package state

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestPlansLifecycle(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	a, b := hsKey("1"), hsKey("2")
	err := db.PutPlans(
		Plan{Key: a, Expect: "approved|abc", Steps: []string{"write", "link", "task", "note"}, Data: json.RawMessage(`{"reason":"approved"}`)},
		Plan{Key: b, Expect: "declined|def", Steps: []string{"write", "note"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Plans(a, b, hsKey("3"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a].Expect != "approved|abc" || string(got[a].Data) != `{"reason":"approved"}` || got[a].At.IsZero() {
		t.Fatalf("Plans = %+v", got)
	}
	if got[a].Done("write") || !got[a].Done("notify") {
		t.Fatalf("Done wrong for %v", got[a].Steps)
	}

	// Steps finish across reopen; the last one deletes the plan.
	if err := db.FinishSteps([]string{a, b, hsKey("3")}, "write", "link"); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	got, _ = db.Plans(a, b)
	if !slices.Equal(got[a].Steps, []string{"task", "note"}) || !slices.Equal(got[b].Steps, []string{"note"}) {
		t.Fatalf("after FinishSteps: %v / %v", got[a].Steps, got[b].Steps)
	}
	if err := db.FinishSteps([]string{b}, "note"); err != nil {
		t.Fatal(err)
	}
	all, err := db.AllPlans()
	if err != nil || len(all) != 1 || all[0].Key != a {
		t.Fatalf("AllPlans = %+v, %v", all, err)
	}
	if err := db.DeletePlans(a, hsKey("9")); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.AllPlans(); len(all) != 0 {
		t.Fatalf("plans left after delete: %+v", all)
	}
	mustCheck(t, db)
}

func TestPutPlansRefusesBadInput(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if err := db.PutPlans(Plan{Expect: "x"}); err == nil {
		t.Error("a plan without a key was stored")
	}
	if err := db.PutPlans(Plan{Key: hsKey("1"), Data: json.RawMessage(`{"x":`)}); err == nil {
		t.Error("a plan with invalid JSON data was stored")
	}
	if all, _ := db.AllPlans(); len(all) != 0 {
		t.Fatalf("refused plans were stored: %+v", all)
	}
}

func TestFingerprintsBatch(t *testing.T) {
	db, _, _ := openTest(t, Options{})
	if err := db.SetFingerprints(map[string]string{hsKey("1"): "a", hsKey("2"): "b"}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Fingerprints(hsKey("1"), hsKey("2"), hsKey("3"))
	if err != nil || len(got) != 2 || got[hsKey("1")] != "a" || got[hsKey("2")] != "b" {
		t.Fatalf("Fingerprints = %v, %v", got, err)
	}
	if fp, _, ok, _ := db.Fingerprint(hsKey("2")); !ok || fp != "b" {
		t.Fatalf("Fingerprint = %q %v", fp, ok)
	}
}
