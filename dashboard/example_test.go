package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/dashboard"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/report"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// The daemon reads the CRM once per refresh, feeding the same pages to the
// report and the dashboard collector (crm.All(ctx, func(p) error {…}) in
// production), and serves the latest snapshot.
func ExampleNew() {
	policy, _ := rules.NewPolicy([]rules.Partner{{ID: "northwind", Name: "Northwind"}}, rules.DefaultRules())
	now := time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC)
	page := []registration.Record{{ID: "1", CaseNumber: "R-1", PartnerID: "northwind", CompanyName: "Initech",
		Status: registration.StatusSubmitted, SubmittedAt: now.Add(-72 * time.Hour)}}

	acc, _ := report.New(policy, report.Options{Now: now, By: report.ByPartner})
	col := dashboard.NewCollector(policy, now, dashboard.CollectorOptions{})
	for _, add := range []func([]registration.Record) error{acc.Add, col.Add} {
		_ = add(page)
	}
	rep := acc.Result()
	snap := &dashboard.Snapshot{DataAsOf: now, Report: &rep, Inbox: &state.InboxStats{},
		Budgets: []dashboard.Budget{{Connector: "hubspot", Usage: connectors.Usage{DailyUsed: 10, DailyLimit: 250000}}}}
	col.Fill(snap)

	cfg := dashboard.DefaultConfig()
	cfg.Token = secret.New("an-example-token-0123")
	h := dashboard.New(cfg, func(context.Context) (*dashboard.Snapshot, error) { return snap, nil }, nil)

	req := httptest.NewRequest("GET", "/dashboard", nil)
	req.Header.Set("Authorization", "Bearer an-example-token-0123")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Code, len(snap.Queue), snap.Queue[0].Overdue)
	// Output: 200 1 true
}
