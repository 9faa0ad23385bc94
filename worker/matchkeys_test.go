package worker

import (
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
)

// A registration created in the CRM by hand has no match keys; its read
// says so, and the worker writes them: with its decision when it decides
// one (one write, not two), alone when it has nothing else to write, and
// never again once they are current. Over the real HubSpot connector and
// the fake portal.
func TestStaleMatchKeysAreWritten(t *testing.T) {
	r := newFlowRig(t)
	now := r.clock.Now()
	decided, _ := r.register(1, "one.example", now.Add(-time.Hour))
	declined, err := r.hs.CreateRecord(r.typeID, map[string]string{"case_number": "R-2002", "status": "declined",
		"status_reason": "duplicate", "partner_id": "northwind", "company_name": "Prospect 2", "company_domain": "two.example",
		"submitted_at": now.Add(-2 * time.Hour).UTC().Format(time.RFC3339), "decided_at": now.Add(-time.Hour).UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{decided, declined} {
		if rec := r.get(id); !rec.KeysStale {
			t.Fatalf("%s: a registration created by hand must read with stale keys", id)
		}
	}
	before := map[string]int{decided: r.hs.WriteCount(r.typeID, decided), declined: r.hs.WriteCount(r.typeID, declined)}
	if o := r.process(decided); o.Result != ResultDecided {
		t.Fatalf("submitted registration: %s %v", o.Result, o.Err)
	}
	if o := r.process(declined); o.Result == ResultDecided {
		t.Fatalf("declined registration decided again: %+v", o)
	}
	keyOf := func(company, domain string) (string, string) {
		k := registration.Record{CompanyName: company, CompanyDomain: domain}
		k.Index()
		return k.DomainKey, k.NameKey
	}
	for id, want := range map[string][2]string{decided: {"one.example", "Prospect 1"}, declined: {"two.example", "Prospect 2"}} {
		if n := r.hs.WriteCount(r.typeID, id) - before[id]; n != 1 {
			t.Errorf("%s: %d writes, want 1 (the decision with its keys, or the keys alone)", id, n)
		}
		rec, _ := r.hs.GetRecord(r.typeID, id)
		domain, name := keyOf(want[1], want[0])
		if rec.Properties["domain_key"] != domain || rec.Properties["name_key"] != name {
			t.Errorf("%s: keys %q %q, want %q %q", id, rec.Properties["domain_key"], rec.Properties["name_key"], domain, name)
		}
		if r.get(id).KeysStale {
			t.Errorf("%s: keys still read as stale", id)
		}
	}
	// Read again with current keys: nothing more is written.
	n := r.hs.WriteCount(r.typeID, declined)
	r.process(declined)
	if got := r.hs.WriteCount(r.typeID, declined); got != n {
		t.Errorf("keys written again: %d writes after %d", got, n)
	}
}
