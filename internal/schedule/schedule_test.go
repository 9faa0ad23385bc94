package schedule

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c, err := Build("Europe/Berlin", []Job{
		{Name: "sweep", Spec: "0 3 * * *", Run: func() {}},
		{Name: "reconcile", Spec: "off", Run: func() {}},
		{Name: "summaries", Spec: "", Run: func() {}},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Entries()); n != 1 {
		t.Errorf("%d entries, want 1 (off and empty schedule nothing)", n)
	}
	if _, err := Build("Europe/Berlin", []Job{{Name: "sweep", Spec: "every day", Run: func() {}}}, log); err == nil || !strings.HasPrefix(err.Error(), "schedule.sweep: ") {
		t.Errorf("a bad spec: %v", err)
	}
	if _, err := Build("Mars/Olympus", nil, log); err == nil {
		t.Error("an unknown time zone was accepted")
	}
}

// Run replaces the cron in force; Stop ends it for good and waits for
// every job; a Run after Stop starts nothing.
func TestRunner(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var r Runner
	if r.Context() != nil {
		t.Fatal("a context before the first Run")
	}
	if _, ok := r.Entries(); ok {
		t.Fatal("entries before the first Run")
	}
	ctx := t.Context()
	one, _ := Build("UTC", []Job{{Name: "sweep", Spec: "0 3 * * *", Run: func() {}}}, log)
	r.Run(ctx, one)
	two, _ := Build("UTC", []Job{{Name: "sweep", Spec: "0 3 * * *", Run: func() {}}, {Name: "reconcile", Spec: "0 4 * * *", Run: func() {}}}, log)
	r.Run(ctx, two)
	if e, ok := r.Entries(); !ok || len(e) != 2 || r.Context() != ctx {
		t.Fatalf("after the second Run: %d entries, ok %v", len(e), ok)
	}
	select {
	case <-r.Stop().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Stop with no job running did not end")
	}
	three, _ := Build("UTC", nil, log)
	r.Run(context.Background(), three)
	if e, _ := r.Entries(); len(e) != 2 {
		t.Errorf("a Run after Stop replaced the cron: %d entries", len(e))
	}
}
