package worker

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// keysCRM holds records in memory and remembers every update written.
type keysCRM struct {
	connectors.CRM
	mu      sync.Mutex
	recs    map[string]registration.Record
	updates []connectors.Update
}

func (c *keysCRM) Name() string { return "hubspot" }

func (c *keysCRM) Registrations(_ context.Context, ids []string) ([]registration.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []registration.Record
	for _, id := range ids {
		if r, ok := c.recs[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *keysCRM) Facts(_ context.Context, recs []registration.Record) ([]registration.Facts, error) {
	return make([]registration.Facts, len(recs)), nil
}

func (c *keysCRM) Write(_ context.Context, ups []connectors.Update) ([]connectors.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := make([]connectors.Result, len(ups))
	for i, u := range ups {
		c.updates = append(c.updates, u)
		r := c.recs[u.ID]
		for k, v := range u.Fields {
			_ = r.Set(k, v)
		}
		r.Index()
		if u.Keys != nil {
			r.KeysStale = false
		}
		c.recs[u.ID] = r
		res[i].ID = u.ID
	}
	return res, nil
}

func (c *keysCRM) Link(context.Context, []connectors.Link) error { return nil }
func (c *keysCRM) Task(context.Context, []connectors.Task) error { return nil }
func (c *keysCRM) Note(context.Context, []connectors.Note) error { return nil }

// A record read with stale match keys gets them written by the worker:
// with its decision when it decides one, alone when it has nothing else to
// write; a record whose keys are current gets none.
func TestStaleMatchKeysAreWritten(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := rules.NewPolicy(nil, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id string, status registration.Status, stale bool) registration.Record {
		r := registration.Record{ID: id, CaseNumber: "R-" + id, Status: status, PartnerID: "p-1",
			CompanyName: "Globex " + id, CompanyDomain: id + ".globex.example", SubmittedAt: now.Add(-time.Hour)}
		if status != registration.StatusSubmitted {
			r.DecidedAt = now.Add(-time.Hour)
		}
		r.Index()
		r.KeysStale = stale
		return r
	}
	crm := &keysCRM{recs: map[string]registration.Record{
		"1": mk("1", registration.StatusSubmitted, true), // decided now
		"2": mk("2", registration.StatusDeclined, true),  // nothing to decide
		"3": mk("3", registration.StatusDeclined, false), // keys current
	}}
	e, err := NewEngine(EngineOptions{CRM: crm, Policy: func() *rules.Policy { return p }, State: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := e.ProcessSweeping(context.Background(), []string{"1", "2", "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Result != "decided" || outs[1].Result == "decided" || outs[2].Result == "decided" {
		t.Fatalf("outcomes %q %q %q", outs[0].Result, outs[1].Result, outs[2].Result)
	}
	byID := map[string][]connectors.Update{}
	for _, u := range crm.updates {
		byID[u.ID] = append(byID[u.ID], u)
	}
	want := func(id string) connectors.MatchKeys {
		r := mk(id, "", false)
		return connectors.MatchKeys{Domain: r.DomainKey, Name: r.NameKey}
	}
	if us := byID["1"]; len(us) != 1 || len(us[0].Fields) == 0 || us[0].Keys == nil || *us[0].Keys != want("1") {
		t.Errorf("decided record: %+v, want one write, the decision with its keys %+v", us, want("1"))
	}
	if us := byID["2"]; len(us) != 1 || len(us[0].Fields) != 0 || us[0].Keys == nil || *us[0].Keys != want("2") {
		t.Errorf("undecided record: %+v, want its keys written alone %+v", us, want("2"))
	}
	if us := byID["3"]; len(us) != 0 {
		t.Errorf("record with current keys: %+v, want no write", us)
	}
	// Read again, nothing is stale: no more writes.
	n := len(crm.updates)
	if _, err := e.ProcessSweeping(context.Background(), []string{"2", "3"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(crm.updates) != n {
		t.Errorf("keys written again: %+v", crm.updates[n:])
	}
}
