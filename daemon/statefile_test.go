package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/state"
)

// TestDaemonWaitsForAHeldStateFile: `regsync import` or `regsync sweep` run
// while no daemon was up hold the state file for their run; a daemon
// started meanwhile waits for it, saying so, and starts when it is free.
// (Regression: the torture test saw New fail on the held file and then
// panic on its own nil daemon while cleaning up.)
func TestDaemonWaitsForAHeldStateFile(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	h.stop()
	held, err := state.Open(h.cfg.State.Path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	type result struct {
		d   *Daemon
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := New(context.Background(), h.cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: h.crm.Now,
			Registry: prometheus.NewRegistry()})
		done <- result{d, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "held by another regsync") {
		select {
		case r := <-done:
			t.Fatalf("New returned while the state file was held: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the held state file within 10s: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("New after the state file was released: %v", r.err)
		}
		if err := r.d.shutdown(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("New did not start within 10s of the state file's release")
	}
}

// TestNewFailsCleanly: a daemon that cannot start returns its error — it
// does not panic while it lets go of what it opened.
func TestNewFailsCleanly(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	h.stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // gives up at once on the held file
	held, err := state.Open(h.cfg.State.Path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := New(ctx, h.cfg, Options{Now: h.crm.Now, Registry: prometheus.NewRegistry()}); err == nil {
		t.Fatal("New started on a held state file")
	}
}
