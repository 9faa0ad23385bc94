package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
)

// Attribution credits a partner only with deals it could have sourced: the
// tests below build a CRM history on the fakes' clock (the daemon's
// clock), and wait for conditions rather than for time.

// startHarnessAfter is startHarness with a CRM history made before the
// daemon first starts on its new state file.
func startHarnessAfter(t *testing.T, c crm, o harnessOpts, history func(f fakeCRM)) *harness {
	t.Helper()
	if o.pollInterval == 0 {
		o.pollInterval = time.Hour
	}
	f := c.start(t, o)
	t.Cleanup(f.Close)
	history(f)
	dir := t.TempDir()
	h := &harness{t: t, o: o, crm: f, dir: dir, cfg: testConfig(t, dir, f, o), logs: &syncBuffer{}}
	h.start()
	return h
}

// advanceTo moves a fake's clock forward to at.
func advanceTo(f fakeCRM, at time.Time) {
	if d := at.Sub(f.Now()); d > 0 {
		f.Advance(d)
	}
}

// closeDealNow closes a deal won or lost as an AE would, with its close
// date today.
func closeDealNow(t *testing.T, f fakeCRM, deal string, won bool) {
	t.Helper()
	switch x := f.(type) {
	case *hubspotFake:
		stage := "closedlost"
		if won {
			stage = "closedwon"
		}
		if err := x.hs.UpdateRecord("deals", deal, map[string]string{"dealstage": stage, "closedate": f.Now().Format(time.RFC3339)}); err != nil {
			t.Fatal(err)
		}
	case *salesforceFake:
		stage := "Closed Lost"
		if won {
			stage = "Closed Won"
		}
		if err := x.sf.AsAE().Update("Opportunity", deal, map[string]any{"StageName": stage, "CloseDate": f.Now().Format(time.DateOnly)}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("closeDealNow: unknown fake %T", f)
	}
}

// dealWithoutCompany opens a deal on no company.
func dealWithoutCompany(t *testing.T, f fakeCRM) string {
	t.Helper()
	switch x := f.(type) {
	case *hubspotFake:
		id, err := x.hs.CreateRecord("deals", map[string]string{"dealname": "Unattached", "dealstage": "qualifiedtobuy", "amount": "5000"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	case *salesforceFake:
		id, err := x.sf.AsAE().Create("Opportunity", map[string]any{"Name": "Unattached", "StageName": "Qualification",
			"Amount": 5000, "CloseDate": f.Now().AddDate(0, 2, 0).Format(time.DateOnly)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	t.Fatalf("dealWithoutCompany: unknown fake %T", f)
	return ""
}

// attachDeal puts a deal on a company and changes its amount, as an AE
// would: a change of the deal for the feed and the webhooks.
func attachDeal(t *testing.T, f fakeCRM, deal, company string) {
	t.Helper()
	switch x := f.(type) {
	case *hubspotFake:
		if err := x.hs.Associate("deals", deal, "companies", company); err != nil {
			t.Fatal(err)
		}
		if err := x.hs.UpdateRecord("deals", deal, map[string]string{"amount": "6000"}); err != nil {
			t.Fatal(err)
		}
	case *salesforceFake:
		if err := x.sf.AsAE().Update("Opportunity", deal, map[string]any{"AccountId": company, "Amount": 6000}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("attachDeal: unknown fake %T", f)
	}
}

// touchDeal changes a deal's amount, as an AE would.
func touchDeal(t *testing.T, f fakeCRM, deal string) {
	t.Helper()
	switch x := f.(type) {
	case *hubspotFake:
		if err := x.hs.UpdateRecord("deals", deal, map[string]string{"amount": "7000"}); err != nil {
			t.Fatal(err)
		}
	case *salesforceFake:
		if err := x.sf.AsAE().Update("Opportunity", deal, map[string]any{"Amount": 7000}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("touchDeal: unknown fake %T", f)
	}
}

// linkByHand links a deal to a registration as an AE would: a HubSpot
// association, the Salesforce Opportunity__c lookup.
func linkByHand(t *testing.T, f fakeCRM, regID, deal string) {
	t.Helper()
	switch x := f.(type) {
	case *hubspotFake:
		if err := x.hs.Associate("deals", deal, x.typeID, regID); err != nil {
			t.Fatal(err)
		}
	case *salesforceFake:
		if err := x.sf.AsAE().Update(salesforcetest.RegistrationObject, regID, map[string]any{salesforce.FieldOpportunity: deal}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("linkByHand: unknown fake %T", f)
	}
}

// waitLog waits until the daemon's log holds s.
func (h *harness) waitLog(s string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(h.logs.String(), s) {
		if time.Now().After(deadline) {
			h.t.Fatalf("the log never said %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAudit waits until a registration's audit log holds a step
// ("in_review→approved") and returns its steps, oldest first.
func (h *harness) waitAudit(id, step string, within time.Duration) []string {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		steps := h.auditSteps(id)
		if slices.Contains(steps, step) {
			return steps
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("audit of %s never showed %s: %v", id, step, steps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// auditSteps lists a registration's audit entries as from→to(reason),
// oldest first.
func (h *harness) auditSteps(id string) []string {
	h.t.Helper()
	entries, err := h.d.db.AuditFor(h.auditKey(id), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var steps []string
	for _, e := range entries {
		steps = append(steps, e.From+"→"+e.To+"("+e.Reason+")")
	}
	return steps
}

// TestAttributionIgnoresStaleDealsOnAFreshStateFile is the regression test
// of "attribution credits stale deals": the CRM holds a deal closed lost
// in the spring, one closed won in September, a registration approved on
// 7 December and a deal opened an hour after it. regsync starts on a new
// state file; its first deal poll reads all three deals. Only the deal
// opened after the registration is credited: the registration is converted
// to it and stays converted, and the stale deals are neither stamped nor
// linked, each refusal logged with its dates.
func TestAttributionIgnoresStaleDealsOnAFreshStateFile(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		var id, lost, won, fresh string
		h := startHarnessAfter(t, c, harnessOpts{}, func(f fakeCRM) {
			co := f.Company(t, "Stale Industries", "stale.example")
			lost = f.OpenDeal(t, co) // 2 March
			advanceTo(f, time.Date(2026, 4, 1, 15, 0, 0, 0, time.UTC))
			closeDealNow(t, f, lost, false)
			advanceTo(f, time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC))
			won = f.OpenDeal(t, co)
			advanceTo(f, time.Date(2026, 9, 15, 16, 0, 0, 0, time.UTC))
			closeDealNow(t, f, won, true)

			// Approved today, by a process before this state file.
			today := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			advanceTo(f, today)
			fields := clean(50, "stale.example")
			stamp := func(at time.Time) string { return at.Format(time.RFC3339) }
			for k, v := range map[string]string{"status": "approved", "status_reason": "approved", "company_id": co,
				"submitted_at": stamp(today), "decided_at": stamp(today), "first_response_at": stamp(today), "approved_at": stamp(today),
				"hold_until": stamp(today.AddDate(0, 0, 90)), "meeting_due": stamp(today.AddDate(0, 0, 14)), "owner_id": "ae-na"} {
				fields[k] = v
			}
			id = f.Register(t, fields)
			f.Advance(time.Hour)
			fresh = f.OpenDeal(t, co)
			f.Advance(time.Hour)
		})

		h.waitStatus(id, "converted", 10*time.Second)
		h.settle(10 * time.Second)
		p := h.get(id)
		if p["status"] != "converted" || p["deal_id"] != fresh {
			t.Fatalf("registration %s with deal_id %q, want converted to the fresh deal %s (lost %s, won %s)", p["status"], p["deal_id"], fresh, lost, won)
		}
		if steps, want := h.auditSteps(id), []string{"approved→converted(deal_created)"}; !slices.Equal(steps, want) {
			t.Errorf("audit %v, want %v", steps, want)
		}
		if got := h.crm.DealPartner(t, fresh); got != "northwind" {
			t.Errorf("the fresh deal stamped %q, want northwind", got)
		}
		for _, d := range []string{lost, won} {
			if got := h.crm.DealPartner(t, d); got != "" {
				t.Errorf("stale deal %s stamped %q", d, got)
			}
		}
		if deals := h.crm.Linked(t, id, "deal"); !slices.Equal(deals, []string{fresh}) {
			t.Errorf("registration linked with deals %v, want only %s", deals, fresh)
		}
		logs := h.logs.String()
		for _, want := range []string{
			"first deal poll of this state file: existing deals are read for their facts",
			"deal " + lost + " not credited to R-1050: closed before the registration (2026-04-01 < 2026-12-07)",
			"deal " + won + " not credited to R-1050: closed before the registration (2026-09-15 < 2026-12-07)",
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log does not say %q", want)
			}
		}
		for _, status := range []string{"Won", "lost"} {
			if m := h.outboxWith("R-1050", "The deal from this registration was", status); len(m) != 0 {
				t.Errorf("the partner was told the registration's deal was %s: %v", status, m)
			}
		}
	})
}

// TestAttributionGrace: deals an AE opened before the registration and
// attached to its company afterwards. With rules.attribution.grace 2h the
// one opened an hour before the registration is credited; the one opened
// three hours before is not, and the log says why.
func TestAttributionGrace(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true, policy: testPolicy + "  attribution: {grace: 2h}\n"})
		if g := h.cfg.Policy.Rules.Attribution.Grace; g != 2*time.Hour {
			t.Fatalf("grace %s", g)
		}
		far := dealWithoutCompany(t, h.crm)
		h.crm.Advance(2 * time.Hour)
		near := dealWithoutCompany(t, h.crm)
		h.crm.Advance(time.Hour)
		h.settle(10 * time.Second)

		coFar := h.crm.Company(t, "Far Corp", "grace-far.example")
		coNear := h.crm.Company(t, "Near Corp", "grace-near.example")
		submit := func(n int, domain string) string {
			f := clean(n, domain)
			f["submitted_at"] = h.crm.Now().Format(time.RFC3339)
			return h.register(f)
		}
		regFar, regNear := submit(60, "grace-far.example"), submit(61, "grace-near.example")
		for _, id := range []string{regFar, regNear} {
			if p, _ := h.waitDecided(id, 5*time.Second); p["status"] != "approved" {
				t.Fatalf("%s: status %q (%s), want approved", id, p["status"], p["status_reason"])
			}
		}
		h.settle(10 * time.Second)

		h.crm.Push(false)
		attachDeal(t, h.crm, far, coFar)
		attachDeal(t, h.crm, near, coNear)
		h.crm.Push(true)
		if p := h.waitStatus(regNear, "converted", 10*time.Second); p["deal_id"] != near {
			t.Errorf("deal_id %q, want %s", p["deal_id"], near)
		}
		h.waitLog("deal "+far+" not credited to R-1060: created more than rules.attribution.grace (2h0m0s) before the registration (", 10*time.Second)
		h.settle(10 * time.Second)
		if p := h.get(regFar); p["status"] != "approved" || p["deal_id"] != "" {
			t.Errorf("the registration of the deal beyond the grace is %s with deal %q", p["status"], p["deal_id"])
		}
		if got := h.crm.DealPartner(t, far); got != "" {
			t.Errorf("the deal beyond the grace was stamped %q", got)
		}
	})
}

// TestAttributionCreditsTheDealAnAEAccepted: a deal opened before the
// registration is credited when an AE accepted it — by approving the
// registration regsync sent to review because of that very deal
// (rules.existing_deal: review), or by linking the deal to the
// registration by hand.
func TestAttributionCreditsTheDealAnAEAccepted(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		policy := strings.Replace(testPolicy, "existing_deal: decline", "existing_deal: review", 1)
		h := startHarness(t, c, harnessOpts{webhooks: true, policy: policy})

		// Approved over the existing deal, which then closes won.
		co := h.crm.Company(t, "Reviewed Inc", "reviewed.example")
		deal := h.crm.OpenDeal(t, co)
		h.crm.Advance(time.Hour)
		id := h.register(clean(70, "reviewed.example"))
		if p, _ := h.waitDecided(id, 5*time.Second); p["status"] != "in_review" || p["status_reason"] != "existing_deal" {
			t.Fatalf("status %q (%s), want in_review existing_deal", p["status"], p["status_reason"])
		}
		h.settle(10 * time.Second)
		h.crm.Advance(time.Hour)
		h.crm.Update(t, id, map[string]string{"status": "approved"})
		h.waitAudit(id, "in_review→approved(manual)", 10*time.Second)
		h.settle(10 * time.Second)
		h.crm.Advance(time.Hour)
		h.crm.CloseDeal(t, deal, true)
		p := h.waitStatus(id, "won", 10*time.Second)
		if p["deal_id"] != deal {
			t.Errorf("deal_id %q, want %s", p["deal_id"], deal)
		}
		h.settle(10 * time.Second)
		want := []string{"submitted→in_review(existing_deal)", "in_review→approved(manual)", "approved→converted(deal_created)", "converted→won(won)"}
		if steps := h.auditSteps(id); !slices.Equal(steps, want) {
			t.Errorf("audit %v, want %v", steps, want)
		}
		if got := h.crm.DealPartner(t, deal); got != "northwind" {
			t.Errorf("deal stamped %q, want northwind", got)
		}

		// Linked by hand: a deal on no company, opened before the
		// registration.
		byHand := dealWithoutCompany(t, h.crm)
		h.crm.Advance(time.Hour)
		h.crm.Company(t, "Linked Ltd", "linked.example")
		linked := h.register(clean(71, "linked.example"))
		if p, _ := h.waitDecided(linked, 5*time.Second); p["status"] != "approved" {
			t.Fatalf("status %q (%s), want approved", p["status"], p["status_reason"])
		}
		h.settle(10 * time.Second)
		h.crm.Advance(time.Minute)
		linkByHand(t, h.crm, linked, byHand)
		touchDeal(t, h.crm, byHand)
		if p := h.waitStatus(linked, "converted", 10*time.Second); p["deal_id"] != byHand {
			t.Errorf("deal_id %q, want %s", p["deal_id"], byHand)
		}
		if got := h.crm.DealPartner(t, byHand); got != "northwind" {
			t.Errorf("deal linked by hand stamped %q, want northwind", got)
		}
	})
}
