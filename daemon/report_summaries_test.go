package daemon

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/internal/schedule"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/worker"
)

func summariesCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// summaryFixture registers one approved registration for northwind, one
// missing details for fabrikam and one for contoso (unsubscribed).
func summaryFixture(h *harness) {
	h.t.Helper()
	a := h.register(clean(60, "summary-one.example"))
	b := h.register(map[string]string{"partner_id": "fabrikam", "partner_email": "sam@fabrikam.example",
		"company_name": "Summary Two", "company_domain": "summary-two.example", "case_number": "R-1061",
		"submitted_at": t0.Format(time.RFC3339)})
	cl := clean(62, "summary-three.example")
	cl["partner_id"], cl["partner_email"] = "contoso", "lee@contoso.example"
	c := h.register(cl)
	for _, id := range []string{a, b, c} {
		h.waitDecided(id, 5*time.Second)
	}
	h.settle(10 * time.Second)
}

// TestWeeklySummariesOncePerPartnerAndWeek: each subscribed partner with
// registrations gets one summary; a partner who unsubscribed gets none; a
// second run in the same week sends nothing again.
func TestWeeklySummariesOncePerPartnerAndWeek(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true,
			extra: `summaries: {unsubscribed: [contoso], program: "Acme Partners"}`})
		summaryFixture(h)
		ctx := summariesCtx(t)
		res, err := h.d.summaries.Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Week != "2026-W10" || res.Sent != 2 || res.AlreadySent != 0 {
			t.Errorf("first run %+v, want 2 sent in 2026-W10", res)
		}
		if !slices.Contains(res.Skipped, report.Skip{PartnerID: "contoso", Reason: "unsubscribed"}) ||
			!slices.Contains(res.Skipped, report.Skip{PartnerID: "oldco", Reason: "inactive"}) {
			t.Errorf("skipped %v, want contoso unsubscribed and oldco inactive", res.Skipped)
		}
		north := h.outboxWith("Acme Partners: your registrations", "jo@northwind.example", "R-1060")
		fab := h.outboxWith("Acme Partners: your registrations", "sam@fabrikam.example", "R-1061", "Needs your attention")
		all := h.outboxWith("Acme Partners: your registrations")
		if len(north) != 1 || len(fab) != 1 || len(all) != 2 {
			t.Errorf("summaries in the outbox: northwind %v, fabrikam %v, all %v", north, fab, all)
		}
		if lee := h.outboxWith("your registrations", "lee@contoso.example"); len(lee) != 0 {
			t.Errorf("the unsubscribed partner got %v", lee)
		}

		res, err = h.d.summaries.Send(ctx)
		if err != nil || res.Sent != 0 || res.AlreadySent != 2 {
			t.Errorf("second run %+v %v, want nothing sent again", res, err)
		}
		if n := len(h.outboxWith("Acme Partners: your registrations")); n != 2 {
			t.Errorf("%d summaries after a second run, want 2", n)
		}

		// The next week, they go out again.
		h.crm.Advance(7 * 24 * time.Hour)
		if res, err := h.d.summaries.Send(ctx); err != nil || res.Week != "2026-W11" || res.Sent != 2 {
			t.Errorf("next week %+v %v", res, err)
		}
	})
}

// TestSummaryRetrySendsTheSameMessage: a run that composed a partner's
// summary but crashed before it was marked sent is finished by the next
// run with that very message, so its Message-ID is the same.
func TestSummaryRetrySendsTheSameMessage(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{webhooks: true})
	summaryFixture(h)
	kept := worker.Notification{Kind: worker.KindSummary, PartnerID: "northwind", To: []string{"jo@northwind.example"},
		Subject: "Your registrations — composed before the crash", Text: "kept body\n", RecordID: "summary/northwind/2026-W10"}
	js, _ := json.Marshal(kept)
	if _, _, err := h.d.db.Remember("summary/northwind/2026-W10", string(js), time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := h.d.summaries.Send(summariesCtx(t))
	if err != nil || res.Sent != 3 {
		t.Fatalf("%+v %v, want 3 sent", res, err)
	}
	if m := h.outboxWith("composed before the crash", "kept body"); len(m) != 1 {
		t.Errorf("the kept message was not the one sent: %v", m)
	}
	if m := h.outboxWith("jo@northwind.example", "your registrations"); len(m) != 0 {
		t.Errorf("northwind got a second, new summary: %v", m)
	}
}

// TestSummariesRunOnTheirSchedule: schedule.summaries wakes the sender.
func TestSummariesRunOnTheirSchedule(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{webhooks: true})
	summaryFixture(h)
	cfg := *h.d.cfg.Load()
	cfg.Schedule.Summaries = "@every 1s"
	h.d.cfg.Store(&cfg)
	c := cron.New()
	if err := schedule.Add(c, time.UTC, "summaries", cfg.Schedule.Summaries, h.d.summaries.Kick); err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.outboxWith("Your registrations")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no summaries within 10s of a 1s schedule: %v", h.outboxWith("Your registrations"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Another tick: the sender runs again and finds every partner sent.
	waitUntil(t, 10*time.Second, "a second summaries run", func() bool {
		return strings.Contains(h.logs.String(), `msg="partner summaries"`) && strings.Contains(h.logs.String(), "already_sent=3")
	})
	if n := len(h.outboxWith("Your registrations")); n != 3 {
		t.Errorf("%d summaries after two ticks, want 3", n)
	}
	bad := cfg
	bad.Schedule.Summaries = "every day"
	h.d.cfg.Store(&bad)
	if err := schedule.Add(cron.New(), time.UTC, "summaries", bad.Schedule.Summaries, h.d.summaries.Kick); err == nil || !strings.Contains(err.Error(), "schedule.summaries") {
		t.Errorf("a bad schedule: %v", err)
	}
}
