package daemon

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// mixedRegistration is the i-th registration of the mixed flow: mostly
// clean, with conflicts, duplicates, blocked, incomplete, free-mail,
// unknown and inactive partners, foreign submitters, existing deals,
// unassigned countries and possible duplicates mixed in.
func mixedRegistration(i int) map[string]string {
	partners := []string{"northwind", "fabrikam", "contoso"}
	p := clean(i, fmt.Sprintf("p%d-mix.example", i))
	pt := partners[i%3]
	p["partner_id"], p["partner_email"] = pt, "rep@"+pt+".example"
	p["case_number"] = fmt.Sprintf("R-%d", 10000+i)
	if i%2 == 0 {
		p["country"] = "DE"
	}
	base := i - i%20 // the block's first registration
	switch i % 20 {
	case 8:
		delete(p, "contact_email")
	case 9:
		p["company_domain"] = fmt.Sprintf("https://sub%d.initech.example/", i)
	case 10:
		p["company_domain"] = "gmail.com"
	case 11:
		p["partner_id"], p["partner_email"] = "nobody", "x@nobody.example"
	case 12:
		p["partner_email"] = "rep@gmail.com"
	case 13: // the first of a conflict
		p["partner_id"], p["partner_email"] = "northwind", "rep@northwind.example"
		p["company_domain"] = fmt.Sprintf("c%d-mix.example", base)
		p["company_name"] = fmt.Sprintf("Contested %d", base)
	case 14: // another partner on the same domain, later
		p["partner_id"], p["partner_email"] = "fabrikam", "rep@fabrikam.example"
		p["company_domain"] = fmt.Sprintf("www.c%d-mix.example", base)
	case 15: // the first partner again on the same domain
		p["partner_id"], p["partner_email"] = "northwind", "rep@northwind.example"
		p["company_domain"] = fmt.Sprintf("eu.c%d-mix.example", base)
	case 16:
		p["country"] = "JP"
	case 17:
		p["company_domain"] = fmt.Sprintf("d%d-mix.example", base)
	case 18: // the same company under another domain, another partner
		p["partner_id"], p["partner_email"] = "contoso", "rep@contoso.example"
		p["company_name"] = fmt.Sprintf("Contested %d, Inc.", base)
		p["company_domain"] = fmt.Sprintf("contested%d.example", base)
	case 19:
		p["partner_id"], p["partner_email"] = "oldco", "rep@oldco.example"
	}
	return p
}

// oracle decides the registrations one after another in submission order,
// with facts built from the registrations themselves and the companies
// and open deals the test created: what the rules dictate.
func oracle(t *testing.T, p *rules.Policy, regs []registration.Record, companies map[string]*registration.Company,
	deals map[string][]registration.Deal, now time.Time) map[string]rules.Decision {
	t.Helper()
	order := make([]int, len(regs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return regs[order[a]].SubmittedAt.Before(regs[order[b]].SubmittedAt) })
	out := map[string]rules.Decision{}
	cur := make([]registration.Record, len(regs))
	copy(cur, regs)
	for _, i := range order {
		r := cur[i]
		f := registration.Facts{Company: companies[r.DomainKey], OpenDeals: deals[r.DomainKey]}
		for j := range cur {
			if j != i && ((r.DomainKey != "" && cur[j].DomainKey == r.DomainKey) || (r.NameKey != "" && cur[j].NameKey == r.NameKey)) {
				f.Registrations = append(f.Registrations, cur[j])
			}
		}
		d := rules.Decide(p, &r, f, now)
		out[r.CaseNumber] = d
		cur[i].Status, cur[i].StatusReason = d.Status, d.Reason
		cur[i].HoldUntil, cur[i].MeetingDue, cur[i].DecidedAt = d.HoldUntil, d.MeetingDue, now
	}
	return out
}

func TestTwoThousandMixedRegistrations(t *testing.T) {
	if testing.Short() {
		t.Skip("flows 2,000 registrations through the rate-limited fake (about a minute)")
	}
	forEachCRM(t, func(t *testing.T, c crm) { mixedFlow(t, c, 2000) })
}

func mixedFlow(t *testing.T, c crm, n int) {
	h := startHarness(t, c, harnessOpts{webhooks: true, perTen: 100})
	p := h.cfg.Policy

	// Companies with an open deal not sourced by anyone: existing_deal.
	companies := map[string]*registration.Company{}
	deals := map[string][]registration.Deal{}
	for i := 17; i < n; i += 20 {
		dom := fmt.Sprintf("d%d-mix.example", i-17)
		co := h.crm.Company(t, fmt.Sprintf("Dealco %d", i), dom)
		deal := h.crm.OpenDeal(t, co)
		companies[dom] = &registration.Company{ID: co, Domain: dom}
		deals[dom] = []registration.Deal{{ID: deal, CompanyID: co}}
	}

	// Create all of them at once, as a burst of form submissions would.
	ids := make([]string, n)
	recs := make([]registration.Record, n)
	byCase := map[string]string{}
	start := time.Now()
	for i := range n {
		props := mixedRegistration(i)
		ids[i] = h.register(props)
		r := registration.Record{}
		for k, v := range props {
			if err := r.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		r.Status, r.ID = registration.StatusSubmitted, ids[i]
		r.Index()
		recs[i] = r
		byCase[r.CaseNumber] = ids[i]
	}
	h.settle(5 * time.Minute)
	took := time.Since(start)
	want := oracle(t, p, recs, companies, deals, h.crm.Now())

	// Every registration ends where the rules say.
	reasons := map[string]int{}
	wrong := 0
	for i, id := range ids {
		got := h.get(id)
		w := want[recs[i].CaseNumber]
		reasons[w.Reason]++
		if got["status"] != string(w.Status) || got["status_reason"] != w.Reason {
			wrong++
			if wrong <= 10 {
				t.Errorf("%s (%d, kind %d): %s/%s, rules dictate %s/%s", recs[i].CaseNumber, i, i%20,
					got["status"], got["status_reason"], w.Status, w.Reason)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d registrations not where the rules put them", wrong, n)
	}
	for _, r := range []string{"approved", "missing_fields", "blocked_account", "free_email_domain", "unknown_partner",
		"submitter_not_partner", "conflict_protected", "duplicate", "no_territory", "existing_deal", "possible_duplicate", "partner_inactive"} {
		if reasons[r] == 0 {
			t.Errorf("the mix never produced %s", r)
		}
	}

	// Zero decided twice, zero loops.
	maxWrites := 0
	for i, id := range ids {
		entries, err := h.d.db.AuditFor(h.auditKey(id), 100)
		if err != nil {
			t.Fatal(err)
		}
		writes := h.crm.WriteCount(id)
		maxWrites = max(maxWrites, writes)
		seen := map[string]bool{}
		for _, e := range entries {
			k := e.From + ">" + e.To
			if seen[k] {
				t.Errorf("%s decided twice: %s", recs[i].CaseNumber, k)
			}
			seen[k] = true
		}
		// One write per decision, plus at most one that stores the match
		// keys of a registration created outside regsync.
		if len(entries) == 0 || writes < len(entries) || writes > len(entries)+1 {
			t.Errorf("%s: %d API writes for %d decisions", recs[i].CaseNumber, writes, len(entries))
		}
		if notes := h.crm.Linked(t, id, "notes"); len(notes) != len(entries) {
			t.Errorf("%s: %d audit notes for %d decisions", recs[i].CaseNumber, len(notes), len(entries))
		}
	}
	if n429 := h.crm.RateLimited(); n429 != 0 {
		t.Errorf("the fake refused %d calls for the rate limit", n429)
	}
	if dead, _ := h.d.db.Dead(); len(dead) != 0 {
		t.Errorf("%d dead letters: %+v", len(dead), dead[0])
	}
	calls := h.crm.TotalCalls()
	t.Logf("%d registrations decided in %s with %d API calls (%.1f per 100), at most %d writes per record; outcomes %v",
		n, took.Round(time.Second), calls, float64(calls)*100/float64(n), maxWrites, summarize(reasons))
}

func summarize(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
