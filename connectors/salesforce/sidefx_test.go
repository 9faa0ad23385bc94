package salesforce

import (
	"bytes"
	"errors"
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

	"github.com/hashicorp/go-cleanhttp"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/crmfault"
)

// lossy lets the fake apply the requests lose picks and then loses their
// answer: a truncated body, or a connection reset.
type lossy struct {
	mu    sync.Mutex
	next  http.RoundTripper
	lose  func(*http.Request) bool
	reset bool
	lost  int
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	lose, reset := l.lose != nil && l.lose(r), l.reset
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
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader([]byte(`[{"id":"00T`)), failingReader{}))
	return resp, nil
}

func (l *lossy) set(lose func(*http.Request) bool, reset bool) {
	l.mu.Lock()
	l.lose, l.reset = lose, reset
	l.mu.Unlock()
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// writesOf matches the collection writes that create tasks or notes.
func writesOf(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && strings.HasSuffix(p, "/composite/sobjects") ||
		r.Method == http.MethodPatch && strings.HasSuffix(p, "/composite/sobjects/Task/"+FieldTaskKey)
}

// lossyEnv is a fake org and a client whose answers can be lost; the
// client does not retry within a call, so a lost answer reaches the caller.
func lossyEnv(t *testing.T) (*env, *lossy) {
	t.Helper()
	s, err := salesforcetest.Start(salesforcetest.Options{DailyLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := testConfig(s)
	cfg.MaxRetries = 0
	e := &env{t: t, sf: s, logs: &syncBuffer{}, clock: time.Now()}
	l := &lossy{next: cleanhttp.DefaultPooledTransport()}
	c, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Now: e.now, Sleep: e.sleep,
		MaxRetryWait: time.Millisecond, Transport: l})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e, l
}

// keyCount counts the live records of object per marked or stored key.
func keyCount(e *env, object string) map[string]int {
	out := map[string]int{}
	for _, r := range e.sf.Records(object) {
		if k, _ := r[FieldTaskKey].(string); k != "" {
			out[k]++
			continue
		}
		for _, f := range []string{"Body", "Description"} {
			s, _ := r[f].(string)
			for _, k := range connectors.MarkedKeys(s) {
				out[k]++
			}
		}
	}
	return out
}

func regs(t *testing.T, e *env, n int) []string {
	t.Helper()
	var ups []connectors.Update
	for i := range n {
		ups = append(ups, newRegistration(fmt.Sprintf("sidefx-%d", i), fmt.Sprintf("Side %d", i), fmt.Sprintf("side-%d.example", i), "p-1"))
	}
	res := mustWrite(t, e.c, ups...)
	ids := make([]string, n)
	for i, r := range res {
		ids[i] = r.ID
	}
	return ids
}

// TestTaskNoteOnce: the same key twice — a retry after an unknown outcome
// — is one task (upserted on Activity.Regsync_Key__c) and one Chatter
// post; another key is another; a first attempt costs one call, a retried
// task and a retried note one query more.
func TestTaskNoteOnce(t *testing.T) {
	e, _ := lossyEnv(t)
	ctx := ctxT(t)
	ids := regs(t, e, 2)
	at := time.Date(2026, 3, 2, 15, 4, 0, 0, time.UTC)
	task := func(key string, fresh bool) connectors.Task {
		return connectors.Task{RegistrationID: ids[0], Subject: "Review registration R-1", Body: "Please review.", Due: at, Key: key, Fresh: fresh}
	}
	note := func(key string, fresh bool) connectors.Note {
		return connectors.Note{RegistrationID: ids[0], Body: "regsync: submitted → in_review", At: at, Key: key, Fresh: fresh}
	}
	calls := func(f func() error) int {
		t.Helper()
		before := e.sf.TotalCalls()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return e.sf.TotalCalls() - before
	}
	// The Task describe, once per process, as any earlier task does.
	if err := e.c.Task(ctx, []connectors.Task{{RegistrationID: ids[1], Subject: "warm", Key: "warm", Fresh: true}}); err != nil {
		t.Fatal(err)
	}
	if n := calls(func() error { return e.c.Task(ctx, []connectors.Task{task("k/task", true)}) }); n != 1 {
		t.Errorf("a first attempt took %d calls, want 1 (the upsert)", n)
	}
	if n := calls(func() error { return e.c.Task(ctx, []connectors.Task{task("k/task", false)}) }); n != 1 {
		t.Errorf("a retry of a task that exists took %d calls, want 1 (the query)", n)
	}
	if n := calls(func() error { return e.c.Note(ctx, []connectors.Note{note("k/note", true)}) }); n != 1 {
		t.Errorf("a note's first attempt took %d calls, want 1", n)
	}
	if n := calls(func() error { return e.c.Note(ctx, []connectors.Note{note("k/note", false)}) }); n != 1 {
		t.Errorf("a retried note that exists took %d calls, want 1 (the query)", n)
	}
	// A retry that did not land: query, then create.
	if n := calls(func() error { return e.c.Task(ctx, []connectors.Task{task("k2/task", false), task("k2/task", false)}) }); n != 2 {
		t.Errorf("a retried task that does not exist took %d calls, want 2", n)
	}
	if err := e.c.Note(ctx, []connectors.Note{note("k2/note", false), note("k2/note", true)}); err != nil {
		t.Fatal(err)
	}
	tasks, notes := keyCount(e, "Task"), keyCount(e, "FeedItem")
	if tasks["k/task"] != 1 || tasks["k2/task"] != 1 || len(tasks) != 3 {
		t.Errorf("tasks by key: %v", tasks)
	}
	if notes["k/note"] != 1 || notes["k2/note"] != 1 || len(notes) != 2 {
		t.Errorf("posts by key: %v", notes)
	}
	for _, r := range e.sf.Records("FeedItem") {
		if b := r["Body"].(string); strings.Contains(b, "k/note") && b != "[2026-03-02 15:04 UTC] regsync: submitted → in_review\n\nregsync-key: k/note" {
			t.Errorf("post body %q", b)
		}
	}
	for _, r := range e.sf.Records("Task") {
		if r[FieldTaskKey] == "k/task" && (r["Description"] != "Please review." || r["WhatId"] != ids[0]) {
			t.Errorf("task %v", r)
		}
	}
	// A retry never rewrites a task an AE changed since.
	for _, r := range e.sf.Records("Task") {
		if r[FieldTaskKey] == "k/task" {
			if err := e.sf.AsAE().Update("Task", r["Id"].(string), map[string]any{"Status": "Completed"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.c.Task(ctx, []connectors.Task{task("k/task", false)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.sf.Records("Task") {
		if r[FieldTaskKey] == "k/task" && r["Status"] != "Completed" {
			t.Errorf("the retry reopened the AE's completed task: %v", r["Status"])
		}
	}
}

// TestTaskNoteLostAnswer: the fake applies the write and the answer is
// lost; the retry creates nothing, with and without Regsync_Key__c, with a
// classic Note object too.
func TestTaskNoteLostAnswer(t *testing.T) {
	for _, tc := range []struct {
		name           string
		noKeyField     bool
		classic, reset bool
	}{
		{name: "upsert-truncated"}, {name: "upsert-reset", reset: true},
		{name: "description", noKeyField: true}, {name: "classic-note", classic: true, reset: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, l := lossyEnv(t)
			ctx := ctxT(t)
			if tc.noKeyField {
				if err := e.sf.RemoveField("Task", FieldTaskKey); err != nil {
					t.Fatal(err)
				}
			}
			noteObj := NoteFeedItem
			if tc.classic {
				e.c.cfg.NoteObject, noteObj = NoteClassic, NoteClassic
			}
			ids := regs(t, e, 3)
			var tasks []connectors.Task
			var notes []connectors.Note
			for i, id := range ids {
				tasks = append(tasks, connectors.Task{RegistrationID: id, Subject: "Review", Body: "b", Key: fmt.Sprintf("t/%d", i), Fresh: true})
				notes = append(notes, connectors.Note{RegistrationID: id, Body: "decided", At: time.Now(), Key: fmt.Sprintf("n/%d", i), Fresh: true})
			}
			l.set(writesOf, tc.reset)
			if err := e.c.Task(ctx, tasks); err == nil || !connectors.ClassOf(err).Transient() {
				t.Fatalf("task, answer lost: %v", err)
			}
			if err := e.c.Note(ctx, notes); err == nil || !connectors.ClassOf(err).Transient() {
				t.Fatalf("note, answer lost: %v", err)
			}
			l.set(nil, false)
			for i := range tasks {
				tasks[i].Fresh, notes[i].Fresh = false, false
			}
			for range 2 {
				if err := e.c.Task(ctx, tasks); err != nil {
					t.Fatal(err)
				}
				if err := e.c.Note(ctx, notes); err != nil {
					t.Fatal(err)
				}
			}
			for object, want := range map[string]int{"Task": 3, noteObj: 3} {
				got := keyCount(e, object)
				if len(got) != want {
					t.Errorf("%s: %v", object, got)
				}
				for k, n := range got {
					if n != 1 {
						t.Errorf("%s %s: %d copies", object, k, n)
					}
				}
			}
			if tc.noKeyField {
				for _, r := range e.sf.Records("Task") {
					if !hasKey(r["Description"].(string), "t/0") && !hasKey(r["Description"].(string), "t/1") &&
						!hasKey(r["Description"].(string), "t/2") {
						t.Errorf("a task without the key field lacks the key on its description: %q", r["Description"])
					}
				}
			}
		})
	}
}

// TestTaskNoteOnceRandom: seeded retries, lost answers and repeats; each
// key ends on exactly one task and one post.
func TestTaskNoteOnceRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			e, l := lossyEnv(t)
			ctx := ctxT(t)
			ids := regs(t, e, 6)
			type op struct {
				reg, key string
				tried    bool
			}
			var ops []*op
			for i := range 30 {
				ops = append(ops, &op{reg: ids[rng.IntN(len(ids))], key: fmt.Sprintf("r/%d", i)})
			}
			pending := slices.Clone(ops)
			for round := 0; len(pending) > 0 && round < 100; round++ {
				var batch []*op
				for _, o := range pending {
					if rng.IntN(3) > 0 {
						batch = append(batch, o)
					}
				}
				if len(batch) == 0 {
					continue
				}
				lose := rng.IntN(3) == 0
				l.set(func(r *http.Request) bool { return lose && writesOf(r) }, rng.IntN(2) == 0)
				var tasks []connectors.Task
				var notes []connectors.Note
				for _, o := range batch {
					tasks = append(tasks, connectors.Task{RegistrationID: o.reg, Subject: "t", Key: o.key + "/task", Fresh: !o.tried})
					notes = append(notes, connectors.Note{RegistrationID: o.reg, Body: "n", Key: o.key + "/note", Fresh: !o.tried})
					o.tried = true
				}
				terr, nerr := e.c.Task(ctx, tasks), e.c.Note(ctx, notes)
				if !lose && (terr != nil || nerr != nil) {
					t.Fatalf("round %d: task %v, note %v", round, terr, nerr)
				}
				if terr == nil && nerr == nil {
					pending = slices.DeleteFunc(pending, func(o *op) bool { return slices.Contains(batch, o) })
				}
			}
			l.set(nil, false)
			if len(pending) > 0 {
				t.Fatalf("%d side effects never went through", len(pending))
			}
			for _, object := range []string{"Task", "FeedItem"} {
				got := keyCount(e, object)
				if len(got) != len(ops) {
					t.Errorf("%s: %d keys, want %d", object, len(got), len(ops))
				}
				for k, n := range got {
					if n != 1 {
						t.Errorf("%s %s: %d copies", object, k, n)
					}
				}
			}
		})
	}
}

// TestLinkAttributeTwice: linking and attributing twice leave one lookup
// value each (a lookup holds one record) and the same stamp.
func TestLinkAttributeTwice(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	id := mustWrite(t, e.c, newRegistration("k-1", "Globex Corporation", "globex.example", "p-1"))[0].ID
	recs, _ := e.c.Registrations(ctx, []string{id})
	facts, err := e.c.Facts(ctx, recs)
	if err != nil || facts[0].Company == nil || len(facts[0].OpenDeals) == 0 {
		t.Fatal(facts, err)
	}
	acct, deal := facts[0].Company.ID, facts[0].OpenDeals[0].ID
	for range 2 {
		if err := e.c.Link(ctx, []connectors.Link{{RegistrationID: id, CompanyID: acct, DealID: deal}}); err != nil {
			t.Fatal(err)
		}
		res, err := e.c.Attribute(ctx, []connectors.Attribution{{DealID: deal, RegistrationID: id, PartnerID: "p-1"}})
		if err != nil || res[0].Err != nil {
			t.Fatal(res, err)
		}
	}
	got, _ := e.sf.Get(obj, id)
	opp, _ := e.sf.Get("Opportunity", deal)
	if got["Account__c"] != acct || got["Opportunity__c"] != deal || opp["Partner_Id__c"] != "p-1" {
		t.Errorf("after twice: %v %v %v", got["Account__c"], got["Opportunity__c"], opp["Partner_Id__c"])
	}
	deals, err := e.c.Deals(ctx, []string{deal})
	if err != nil || len(deals) != 1 || !slices.Equal(deals[0].RegistrationIDs, []string{id}) {
		t.Errorf("deal's registrations: %+v %v", deals, err)
	}
}

// TestTaskUndescribed: when Task cannot be described, whether it has the
// key field is unknown, so no keyed task is opened (a task keyed on its
// description now and looked for on the field later could be opened
// twice); once describe answers, it is.
func TestTaskUndescribed(t *testing.T) {
	e, l := lossyEnv(t)
	ctx := ctxT(t)
	ids := regs(t, e, 1)
	l.set(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/sobjects/Task/describe") }, true)
	task := connectors.Task{RegistrationID: ids[0], Subject: "Review", Key: "u/task", Fresh: true}
	if err := e.c.Task(ctx, []connectors.Task{task}); err == nil || !connectors.ClassOf(err).Transient() {
		t.Fatalf("Task without describe: %v", err)
	}
	if n := e.sf.Count("Task"); n != 0 {
		t.Errorf("%d tasks", n)
	}
	l.set(nil, false)
	e.advance(10 * time.Minute) // describe is asked again
	task.Fresh = false
	if err := e.c.Task(ctx, []connectors.Task{task}); err != nil {
		t.Fatal(err)
	}
	if got := keyCount(e, "Task"); got["u/task"] != 1 || len(got) != 1 {
		t.Errorf("tasks: %v", got)
	}
}

// TestTaskDescribeFailureIsShortLived: a Task describe lost to a transient
// fault (a 5xx on every attempt) makes the task wait, but only seconds: the
// describe is asked again 10 s later, not after five minutes (found by the
// fault torture test: one unlucky describe held every AE task of the run
// back past its deadline).
func TestTaskDescribeFailureIsShortLived(t *testing.T) {
	e := newEnv(t, salesforcetest.Options{}, nil)
	ctx := ctxT(t)
	ids := regs(t, e, 1)
	e.sf.SetInjector(crmfault.New(crmfault.Spec{Rate: 1, Weights: map[crmfault.Kind]float64{crmfault.ServerErrorBefore: 1}}, 1,
		crmfault.Options{Only: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/Task/describe") }}))
	task := []connectors.Task{{RegistrationID: ids[0], Subject: "Review", Key: "k/1/task", Fresh: true}}
	if err := e.c.Task(ctx, task); err == nil || !connectors.ClassOf(err).Transient() {
		t.Fatalf("task with the describe failing: %v, want a retryable error", err)
	}
	e.sf.SetInjector(nil)
	if err := e.c.Task(ctx, task); err == nil {
		t.Fatal("the failed describe was asked again at once")
	}
	e.advance(11 * time.Second)
	if err := e.c.Task(ctx, task); err != nil {
		t.Fatalf("task 11 s after a transient describe failure: %v", err)
	}
}
