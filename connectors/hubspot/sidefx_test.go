package hubspot_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
)

// lossy is a transport that, for the requests lose says so of, lets the
// fake apply the request and then loses the answer: the body breaks off
// (truncated), or the connection "resets" before any answer.
type lossy struct {
	mu    sync.Mutex
	next  http.RoundTripper
	lose  func(r *http.Request) bool
	reset bool // lose as a connection reset, not a truncated body
	lost  int
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	lose := l.lose != nil && l.lose(r)
	reset := l.reset
	l.mu.Unlock()
	resp, err := l.next.RoundTrip(r)
	if err != nil || !lose {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	l.mu.Lock()
	l.lost++
	l.mu.Unlock()
	if reset {
		return nil, errors.New("read tcp 127.0.0.1:1: connection reset by peer")
	}
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader([]byte(`{"status":"COMPLETE","resu`)), errReader{io.ErrUnexpectedEOF}))
	return resp, nil
}

func (l *lossy) set(lose func(*http.Request) bool, reset bool) {
	l.mu.Lock()
	l.lose, l.reset = lose, reset
	l.mu.Unlock()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// creates matches batch creates of kind (notes, tasks).
func creates(kind string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/crm/v3/objects/"+kind+"/batch/create"
	}
}

// sideClient is a client for s through a lossy transport, without the
// transport's own retries (a lost answer reaches the caller).
func sideClient(t testing.TB, s *hubspottest.Server) (*hubspot.Client, *lossy) {
	t.Helper()
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL = s.URL()
	cfg.Token = secret.New("sandbox-token")
	cfg.ClientSecret = secret.New("client-secret")
	cfg.PollSettle = 0
	cfg.MaxRetries = 0
	l := &lossy{next: http.DefaultTransport}
	c, err := hubspot.New(cfg, hubspot.Options{Logger: slog.New(slog.DiscardHandler), Transport: l})
	if err != nil {
		t.Fatal(err)
	}
	setup(t, c)
	return c, l
}

// registrations creates n registrations and returns their ids.
func registrations(t testing.TB, c *hubspot.Client, n int) []string {
	t.Helper()
	ups := make([]connectors.Update, n)
	for i := range ups {
		ups[i] = connectors.Update{SubmissionKey: fmt.Sprintf("sidefx:%d", i), Fields: map[string]string{
			"status": "submitted", "partner_id": "northwind", "company_name": fmt.Sprintf("Side %d", i),
			"company_domain": fmt.Sprintf("side-%d.example", i)}}
	}
	res, err := c.Write(ctxFor(t), ups)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ids[i] = r.ID
	}
	return ids
}

// keyed counts, per key, the live notes or tasks of kind carrying it and
// associated with their registration.
func keyed(t testing.TB, s *hubspottest.Server, kind string) map[string]int {
	t.Helper()
	typeID, _ := s.TypeID("partner_registration")
	prop := map[string]string{"notes": "hs_note_body", "tasks": "hs_task_body"}[kind]
	out := map[string]int{}
	for _, r := range s.Records(kind) {
		regs := s.Associations(kind, r.ID, typeID)
		for _, k := range connectors.MarkedKeys(r.Properties[prop]) {
			if len(regs) != 1 {
				t.Errorf("%s %s (%s) is associated with %v", kind, r.ID, k, regs)
			}
			out[k]++
		}
	}
	return out
}

// TestNoteTaskOnce: a note and a task sent again with the same key — as
// the retry after an unknown outcome sends them — exist once; a different
// key makes a second; a first attempt costs one call, a retry two more.
func TestNoteTaskOnce(t *testing.T) {
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c, _ := sideClient(t, s)
	ctx := ctxFor(t)
	ids := registrations(t, c, 2)
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	note := func(key string, fresh bool) connectors.Note {
		return connectors.Note{RegistrationID: ids[0], Body: "regsync: submitted → approved", At: at, Key: key, Fresh: fresh}
	}
	task := func(key string, fresh bool) connectors.Task {
		return connectors.Task{RegistrationID: ids[0], Subject: "Approved: first meeting", Body: "Book it.", Due: at, Key: key, Fresh: fresh}
	}
	calls := func(f func() error) int {
		t.Helper()
		before := s.TotalCalls()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return s.TotalCalls() - before
	}
	// Warm the association-type cache (one labels call per kind, once per
	// process), as any earlier note or task would.
	if err := c.Note(ctx, []connectors.Note{{RegistrationID: ids[1], Body: "warm", At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Task(ctx, []connectors.Task{{RegistrationID: ids[1], Subject: "warm"}}); err != nil {
		t.Fatal(err)
	}

	if n := calls(func() error { return c.Note(ctx, []connectors.Note{note("k/note", true)}) }); n != 1 {
		t.Errorf("a first attempt took %d calls, want 1", n)
	}
	if n := calls(func() error { return c.Note(ctx, []connectors.Note{note("k/note", false)}) }); n != 2 {
		t.Errorf("a retry took %d calls, want 2 (associations read, batch read)", n)
	}
	if err := c.Note(ctx, []connectors.Note{note("k/note", false), note("k/note", false)}); err != nil {
		t.Fatal(err)
	}
	if n := calls(func() error { return c.Task(ctx, []connectors.Task{task("k/task", true)}) }); n != 1 {
		t.Errorf("a task's first attempt took %d calls, want 1", n)
	}
	for range 2 {
		if err := c.Task(ctx, []connectors.Task{task("k/task", false)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := keyed(t, s, "notes"); got["k/note"] != 1 || len(got) != 1 {
		t.Errorf("notes by key after retries: %v", got)
	}
	if got := keyed(t, s, "tasks"); got["k/task"] != 1 || len(got) != 1 {
		t.Errorf("tasks by key after retries: %v", got)
	}
	// Another key is another note and another task.
	if err := c.Note(ctx, []connectors.Note{note("k2/note", false)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Task(ctx, []connectors.Task{task("k2/task", false)}); err != nil {
		t.Fatal(err)
	}
	if got := keyed(t, s, "notes"); got["k/note"] != 1 || got["k2/note"] != 1 {
		t.Errorf("notes by key: %v", got)
	}
	if got := keyed(t, s, "tasks"); got["k/task"] != 1 || got["k2/task"] != 1 {
		t.Errorf("tasks by key: %v", got)
	}
	// The body still reads as written, the key on its last line.
	for _, r := range s.Records("notes") {
		if b := r.Properties["hs_note_body"]; strings.Contains(b, "k/note") && b != "regsync: submitted → approved\n\nregsync-key: k/note" {
			t.Errorf("note body %q", b)
		}
	}
	// A keyless note is created each time, as before.
	for range 2 {
		if err := c.Note(ctx, []connectors.Note{{RegistrationID: ids[0], Body: "no key", At: at}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Records("notes")); n != 1+2+2 {
		t.Errorf("%d notes", n)
	}
}

// TestNoteTaskLostAnswer: the fake applies the batch create, the answer
// is lost (a truncated body, a connection reset): the call fails and the
// retry — not Fresh — finds what was created and creates nothing.
func TestNoteTaskLostAnswer(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(map[bool]string{false: "truncated", true: "reset"}[reset], func(t *testing.T) {
			s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
			c, l := sideClient(t, s)
			ctx := ctxFor(t)
			ids := registrations(t, c, 3)
			var notes []connectors.Note
			var tasks []connectors.Task
			for i, id := range ids {
				notes = append(notes, connectors.Note{RegistrationID: id, Body: "decided", At: time.Now(), Key: fmt.Sprintf("n%d", i), Fresh: true})
				tasks = append(tasks, connectors.Task{RegistrationID: id, Subject: "Review", Key: fmt.Sprintf("t%d", i), Fresh: true})
			}
			l.set(func(r *http.Request) bool { return creates("notes")(r) || creates("tasks")(r) }, reset)
			if err := c.Note(ctx, notes); err == nil || !connectors.ClassOf(err).Transient() {
				t.Fatalf("a lost answer: %v, want a retryable error", err)
			}
			if err := c.Task(ctx, tasks); err == nil || !connectors.ClassOf(err).Transient() {
				t.Fatalf("a lost answer: %v, want a retryable error", err)
			}
			l.set(nil, false)
			if l.lost < 2 {
				t.Fatalf("%d answers lost", l.lost)
			}
			for i := range notes {
				notes[i].Fresh, tasks[i].Fresh = false, false
			}
			for range 2 {
				if err := c.Note(ctx, notes); err != nil {
					t.Fatal(err)
				}
				if err := c.Task(ctx, tasks); err != nil {
					t.Fatal(err)
				}
			}
			for kind, want := range map[string]int{"notes": 3, "tasks": 3} {
				got := keyed(t, s, kind)
				if len(got) != want {
					t.Errorf("%s: %v", kind, got)
				}
				for k, n := range got {
					if n != 1 {
						t.Errorf("%s %s: %d copies", kind, k, n)
					}
				}
			}
		})
	}
}

// TestNoteTaskOnceRandom: seeded random retries, lost answers and
// repeated keys; every key ends up on exactly one note (task).
func TestNoteTaskOnceRandom(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	if *sidefxSeed != 0 {
		seeds = []uint64{*sidefxSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { noteTaskOnceRandom(t, seed) })
	}
}

var sidefxSeed = flag.Uint64("sidefx.seed", 0, "seed of TestNoteTaskOnceRandom (0: seeds 1 to 5)")

func noteTaskOnceRandom(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c, l := sideClient(t, s)
	ctx := ctxFor(t)
	ids := registrations(t, c, 8)
	type op struct {
		reg, key string
		tried    bool
	}
	var ops []*op
	for i := range 40 {
		ops = append(ops, &op{reg: ids[rng.IntN(len(ids))], key: fmt.Sprintf("r/%d", i)})
	}
	pending := slices.Clone(ops)
	for round := 0; len(pending) > 0 && round < 100; round++ {
		var batch []*op
		for _, o := range pending {
			if rng.IntN(3) > 0 {
				batch = append(batch, o)
				if rng.IntN(5) == 0 {
					batch = append(batch, o) // the same side effect twice in one call
				}
			}
		}
		if len(batch) == 0 {
			continue
		}
		lose := rng.IntN(3) == 0
		l.set(func(r *http.Request) bool { return lose && (creates("notes")(r) || creates("tasks")(r)) }, rng.IntN(2) == 0)
		notes := make([]connectors.Note, len(batch))
		tasks := make([]connectors.Task, len(batch))
		for i, o := range batch {
			notes[i] = connectors.Note{RegistrationID: o.reg, Body: "n", At: time.Now(), Key: o.key + "/note", Fresh: !o.tried}
			tasks[i] = connectors.Task{RegistrationID: o.reg, Subject: "t", Key: o.key + "/task", Fresh: !o.tried}
		}
		for _, o := range batch {
			o.tried = true
		}
		nerr := c.Note(ctx, notes)
		terr := c.Task(ctx, tasks)
		// A lost answer fails the call, unless everything in it existed
		// already (nothing to create, nothing to lose).
		if !lose && (nerr != nil || terr != nil) {
			t.Fatalf("round %d: note %v, task %v", round, nerr, terr)
		}
		if nerr == nil && terr == nil {
			pending = slices.DeleteFunc(pending, func(o *op) bool { return slices.Contains(batch, o) })
		}
	}
	l.set(nil, false)
	if len(pending) > 0 {
		t.Fatalf("%d side effects never went through", len(pending))
	}
	for _, kind := range []string{"notes", "tasks"} {
		got := keyed(t, s, kind)
		if len(got) != len(ops) {
			t.Errorf("%s: %d keys, want %d", kind, len(got), len(ops))
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("%s %s: %d copies", kind, k, n)
			}
		}
	}
}

// TestLinkAttributeTwice: associating twice is one association, and
// stamping a deal twice leaves one stamp and one association.
func TestLinkAttributeTwice(t *testing.T) {
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c := client(t, s, nil)
	setup(t, c)
	ctx := ctxFor(t)
	typeID, _ := s.TypeID("partner_registration")
	ids := registrations(t, c, 1)
	acme, _ := s.FindRecord("companies", "domain", "acme.example")
	deal, _ := s.FindRecord("deals", "dealname", "Acme Corporation — Platform")
	for range 2 {
		if err := c.Link(ctx, []connectors.Link{{RegistrationID: ids[0], CompanyID: acme.ID, DealID: deal.ID}}); err != nil {
			t.Fatal(err)
		}
		res, err := c.Attribute(ctx, []connectors.Attribution{{DealID: deal.ID, RegistrationID: ids[0], PartnerID: "northwind"}})
		if err != nil || res[0].Err != nil {
			t.Fatal(res, err)
		}
	}
	if a := s.Associations(typeID, ids[0], "companies"); !slices.Equal(a, []string{acme.ID}) {
		t.Errorf("registration → companies %v", a)
	}
	if a := s.Associations(typeID, ids[0], "deals"); !slices.Equal(a, []string{deal.ID}) {
		t.Errorf("registration → deals %v", a)
	}
	if a := s.Associations("deals", deal.ID, typeID); !slices.Equal(a, []string{ids[0]}) {
		t.Errorf("deal → registrations %v", a)
	}
	if l := s.AssociationLabels(typeID, ids[0], "deals", deal.ID); len(l) != 1 {
		t.Errorf("labels between registration and deal: %q", l)
	}
	if d, _ := s.GetRecord("deals", deal.ID); d.Properties["partner_id"] != "northwind" {
		t.Errorf("stamp %q", d.Properties["partner_id"])
	}
}

// TestNoteCreateThenAssociate: when the association type cannot be
// learnt, notes are created and then associated; an association whose
// answer is lost leaves no unassociated copy for the retry to miss (what
// was created is archived), and the retry makes exactly one note.
func TestNoteCreateThenAssociate(t *testing.T) {
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c, l := sideClient(t, s)
	ctx := ctxFor(t)
	ids := registrations(t, c, 2)
	labels := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/labels") }
	assoc := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/batch/associate/default") }
	notes := []connectors.Note{
		{RegistrationID: ids[0], Body: "a", At: time.Now(), Key: "o/0", Fresh: true},
		{RegistrationID: ids[1], Body: "b", At: time.Now(), Key: "o/1", Fresh: true},
	}
	l.set(func(r *http.Request) bool { return labels(r) || assoc(r) }, true)
	if err := c.Note(ctx, notes); err == nil {
		t.Fatal("a lost association answer: no error")
	}
	if n := len(s.Records("notes")); n != 0 {
		t.Errorf("%d notes left after the association failed, want 0 (archived)", n)
	}
	l.set(labels, true) // still no association type: create, then associate
	notes[0].Fresh, notes[1].Fresh = false, false
	for range 2 {
		if err := c.Note(ctx, notes); err != nil {
			t.Fatal(err)
		}
	}
	if got := keyed(t, s, "notes"); got["o/0"] != 1 || got["o/1"] != 1 || len(got) != 2 {
		t.Errorf("notes by key: %v", got)
	}
}

// TestNoteTaskBodiesAreText: hs_note_body and hs_task_body are HTML. A
// company name or a partner's note holding markup is stored escaped — it
// shows as written, never as a script, an image or a link — and the key
// line still reads back, so a retry (with the answer of the first attempt
// lost) creates nothing twice.
func TestNoteTaskBodiesAreText(t *testing.T) {
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed})
	c, l := sideClient(t, s)
	ctx := ctxFor(t)
	ids := registrations(t, c, 1)
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	evil := `Acme <script>alert(1)</script><img src=x onerror=alert(1)> <a href="https://evil.example">https://good.example</a> & Co`
	note := connectors.Note{RegistrationID: ids[0], Body: "Partner appeal (s***@northwind.example): " + evil, At: at, Key: "k/esc/note", Fresh: true}
	task := connectors.Task{RegistrationID: ids[0], Subject: "Review " + evil, Body: "Northwind registered " + evil + ".\n\n- territory: fail", Due: at, Key: "k/esc/task", Fresh: true}
	l.set(func(r *http.Request) bool { return creates("notes")(r) || creates("tasks")(r) }, false)
	if err := c.Note(ctx, []connectors.Note{note}); err == nil {
		t.Fatal("the lost answer was not reported")
	}
	if err := c.Task(ctx, []connectors.Task{task}); err == nil {
		t.Fatal("the lost answer was not reported")
	}
	l.set(nil, false)
	note.Fresh, task.Fresh = false, false
	if err := c.Note(ctx, []connectors.Note{note}); err != nil {
		t.Fatal(err)
	}
	if err := c.Task(ctx, []connectors.Task{task}); err != nil {
		t.Fatal(err)
	}
	if got := keyed(t, s, "notes"); got["k/esc/note"] != 1 {
		t.Errorf("notes by key after the retry: %v", got)
	}
	if got := keyed(t, s, "tasks"); got["k/esc/task"] != 1 {
		t.Errorf("tasks by key after the retry: %v", got)
	}
	shown := `Acme &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &lt;a href="https://evil.example"&gt;https://good.example&lt;/a&gt; &amp; Co`
	for kind, prop := range map[string]string{"notes": "hs_note_body", "tasks": "hs_task_body"} {
		for _, r := range s.Records(kind) {
			b := r.Properties[prop]
			if strings.ContainsAny(b, "<>") || !strings.Contains(b, shown) {
				t.Errorf("%s %s: %s = %q, want the markup escaped", kind, r.ID, prop, b)
			}
		}
	}
	for _, r := range s.Records("tasks") {
		if want := "Northwind registered " + shown + ".\n\n- territory: fail\n\nregsync-key: k/esc/task"; r.Properties["hs_task_body"] != want {
			t.Errorf("task body %q\nwant       %q", r.Properties["hs_task_body"], want)
		}
	}
}
