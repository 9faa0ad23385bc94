package worker

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// failingCRM answers every read of registrations with the error next
// returns; nothing else is called before a record is read.
type failingCRM struct {
	connectors.CRM
	mu   sync.Mutex
	next func() error
}

func (f *failingCRM) Name() string { return "hubspot" }

func (f *failingCRM) Registrations(context.Context, []string) ([]registration.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return nil, f.next()
}

func failWorker(t *testing.T, crm *failingCRM) (*Worker, *state.DB, *hubspottest.Clock) {
	t.Helper()
	clock := hubspottest.NewClock(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := rules.NewPolicy(nil, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineOptions{CRM: crm, Policy: func() *rules.Policy { return p }, State: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Engine: e, State: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return w, db, clock
}

// A transient fault — retry, postpone, unknown, or an error no connector
// classified — never dead-letters an item, however many times it recurs:
// the item waits (the CRM's time for a limit, a backoff capped at 30
// minutes otherwise) and is tried again. A permanent one buries it at once,
// and the dead letter says which class and why.
func TestTransientFailuresNeverDeadLetter(t *testing.T) {
	transient := []func() error{
		func() error {
			return connectors.NewError("batch read", 502, connectors.ClassRetry, "server_error", errors.New("Bad Gateway"))
		},
		func() error {
			e := connectors.NewError("batch read", 429, connectors.ClassPostpone, "rate_limited", errors.New("You have reached your ten_secondly_rolling limit."))
			e.After = 10 * time.Second
			return e
		},
		func() error {
			return connectors.NewError("batch update", 0, connectors.ClassUnknown, "network", errors.New("connection reset by peer"))
		},
		func() error { return errors.New("state: put plan: disk full") }, // unclassified: unknown
		func() error {
			e := connectors.NewError("batch read", 429, connectors.ClassPostpone, "daily_limit", errors.New("You have reached your daily limit."))
			e.After = 9 * time.Hour
			return e
		},
	}
	n := 0
	crm := &failingCRM{}
	crm.next = func() error { n++; return transient[(n-1)%len(transient)]() }
	w, db, clock := failWorker(t, crm)
	if err := w.Enqueue("partner_registration", []string{"101"}, "webhook"); err != nil {
		t.Fatal(err)
	}
	key := state.ItemKey("hubspot", "partner_registration", "101")
	ctx := context.Background()
	counted := 0
	for round := 1; round <= 100; round++ {
		if got, err := w.Drain(ctx); err != nil || got != 1 {
			t.Fatalf("round %d: drained %d, %v", round, got, err)
		}
		it, err := db.Item(key)
		if err != nil {
			t.Fatalf("round %d: the item left the inbox: %v", round, err)
		}
		cause := transient[(round-1)%len(transient)]()
		class := connectors.ClassOf(cause)
		if it.LastClass != string(class) || it.LastError == "" {
			t.Fatalf("round %d: last failure %q, want class %s", round, it.Failure(), class)
		}
		wait := it.NotBefore.Sub(clock.Now())
		switch class {
		case connectors.ClassPostpone:
			if wait != connectors.After(cause) {
				t.Fatalf("round %d: postponed %s, want the CRM's %s", round, wait, connectors.After(cause))
			}
		default:
			counted++
			if want := max(state.DefaultBackoff(counted), connectors.After(cause)); wait != want {
				t.Fatalf("round %d: backoff %s, want %s", round, wait, want)
			}
			if wait > 30*time.Minute {
				t.Fatalf("round %d: backoff %s over the cap", round, wait)
			}
		}
		if it.Attempts != counted {
			t.Fatalf("round %d: %d attempts counted, want %d (a postponement counts none)", round, it.Attempts, counted)
		}
		if dead, _ := db.Dead(); len(dead) != 0 {
			t.Fatalf("round %d: a transient fault dead-lettered the item: %+v", round, dead)
		}
		clock.Advance(wait)
	}

	// A permanent refusal goes to the dead letters at once, with its class
	// and the CRM's reason.
	crm.next = func() error {
		return connectors.NewError("batch update", 400, connectors.ClassPermanent, "invalid",
			errors.New("VALIDATION_ERROR: Property values were not valid: amount must be a number"))
	}
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Item(key); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("the item is still pending: %v", err)
	}
	dead, err := db.Dead()
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	d := dead[0]
	if d.LastClass != "permanent" || !strings.HasPrefix(d.Failure(), "permanent: ") ||
		!strings.Contains(d.Failure(), "invalid (HTTP 400): VALIDATION_ERROR: Property values were not valid") {
		t.Fatalf("dead letter says %q (class %q)", d.Failure(), d.LastClass)
	}
	t.Logf("dead letter: %s", d.Failure())
}
