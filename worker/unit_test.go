package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

func TestFingerprintSeesEveryFieldButID(t *testing.T) {
	r := registration.Record{ID: "1", CaseNumber: "R-1", Status: registration.StatusApproved, CompanyName: "Globex"}
	a := fingerprintOf(&r)
	r.ID = "2"
	if fingerprintOf(&r) != a {
		t.Fatal("the CRM id changed the fingerprint")
	}
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		c := r
		var v string
		switch f.Kind {
		case registration.KindTime:
			v = "2026-03-02T15:00:00.001Z"
		case registration.KindBool:
			v = "true"
		case registration.KindNumber:
			v = "12.5"
		default:
			v = "changed"
		}
		if err := f.Set(&c, v); err != nil {
			t.Fatal(err)
		}
		if fingerprintOf(&c).Digest == a.Digest {
			t.Errorf("changing %s did not change the fingerprint", f.Name)
		}
	}
	p, ok := parseFingerprint(a.String())
	if !ok || p != a {
		t.Fatalf("parseFingerprint(%q) = %+v %v", a.String(), p, ok)
	}
	if _, ok := parseFingerprint("garbage"); ok {
		t.Fatal("a malformed fingerprint parsed")
	}
}

func TestExpectedReadsBackLikeTheCRM(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 123456789, time.UTC).Truncate(time.Millisecond)
	r := registration.Record{ID: "9", Status: registration.StatusSubmitted}
	u := map[string]string{"status": "approved", "hold_until": now.Format(time.RFC3339Nano), "owner_id": "ae-na"}
	exp := expected(r, u)
	if exp.Status != registration.StatusApproved || !exp.HoldUntil.Equal(now) || exp.OwnerID != "ae-na" {
		t.Fatalf("expected = %+v", exp)
	}
	// The same instant written as epoch milliseconds (HubSpot's form)
	// digests the same.
	back := r
	_ = back.Set("status", "approved")
	_ = back.Set("hold_until", "1772463600123")
	_ = back.Set("owner_id", "ae-na")
	if fingerprintOf(&back) != fingerprintOf(&exp) {
		t.Fatalf("a read-back record does not match its expectation:\n%+v\n%+v", back, exp)
	}
}

func TestTemplates(t *testing.T) {
	if err := CheckTemplates(nil); err != nil {
		t.Fatalf("default templates: %v", err)
	}
	if err := CheckTemplates(map[string]Template{"approved": {Subject: "{{.Nope}}"}}); err == nil {
		t.Fatal("a template naming an unknown field was accepted")
	}
	if err := CheckTemplates(map[string]Template{"approved": {Text: "{{if}}"}}); err == nil {
		t.Fatal("a template that does not parse was accepted")
	}
	ts, err := compileTemplates(map[string]Template{"approved": {Subject: "Yes! {{.CaseNumber}}"}})
	if err != nil {
		t.Fatal(err)
	}
	subj, text, err := ts.render("approved", TemplateData{CaseNumber: "R-1", CompanyName: "Globex", Status: "approved",
		Message: "Approved.", Next: "log a meeting by 1 April 2026.", StatusURL: "https://x/r/t"})
	if err != nil {
		t.Fatal(err)
	}
	if subj != "Yes! R-1" || !strings.Contains(text, "log a meeting by 1 April 2026.") || !strings.Contains(text, "https://x/r/t") {
		t.Fatalf("rendered %q\n%s", subj, text)
	}
	subj, text, _ = ts.render("needs_info", TemplateData{CaseNumber: "R-2", CompanyName: "Initech", Missing: []string{"contact e-mail"}})
	if !strings.Contains(subj, "R-2") || !strings.Contains(text, "  - contact e-mail") {
		t.Fatalf("needs_info rendered %q\n%s", subj, text)
	}
}

func TestNextSaysWhatAndWhen(t *testing.T) {
	hold := time.Date(2026, 5, 31, 15, 0, 0, 0, time.UTC)
	meet := time.Date(2026, 3, 16, 15, 0, 0, 0, time.UTC)
	got := next(planData{To: registration.StatusApproved, HoldUntil: hold, MeetingDue: meet})
	if !strings.Contains(got, "16 March 2026") || !strings.Contains(got, "31 May 2026") {
		t.Fatalf("next = %q", got)
	}
	if next(planData{To: registration.StatusWon}) != "" {
		t.Fatal("a closed registration has nothing next")
	}
}

func TestAETask(t *testing.T) {
	p, err := rules.NewPolicy([]rules.Partner{{ID: "northwind", Name: "Northwind Consulting"}}, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	r := &registration.Record{PartnerID: "northwind", CompanyName: "Globex", CompanyDomain: "globex.example"}
	d := rules.Decision{Status: registration.StatusInReview, Reason: rules.ReasonConflictPending, SLADue: now.Add(48 * time.Hour),
		Trace: []rules.Check{{Name: "conflict", Result: rules.Fail, Detail: "earlier R-7 pending"}}}
	task := aeTask(p, r, d, planData{CaseNumber: "R-9", Owner: "ae-na"}, now)
	if task == nil || task.OwnerID != "ae-na" || !task.Due.Equal(d.SLADue) || !strings.Contains(task.Subject, "R-9") ||
		!strings.Contains(task.Body, "Northwind Consulting") || !strings.Contains(task.Body, "earlier R-7 pending") {
		t.Fatalf("review task = %+v", task)
	}
	if aeTask(p, r, rules.Decision{Status: registration.StatusDeclined}, planData{}, now) != nil {
		t.Fatal("a decline opened an AE task")
	}
}
