package daemon

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce"
)

// connectSalesforce builds the Salesforce connector from the salesforce:
// section. It makes no call: the first one logs in. Its events name
// registrations salesforce.EventRegistration and deals "deals", as
// HubSpot's do, so inbox keys and the worker are the same on both CRMs.
func connectSalesforce(cfg *config.Config, log *slog.Logger, now func() time.Time) (connectors.CRM, string, error) {
	c, err := salesforce.New(cfg.Salesforce, salesforce.Options{Logger: log.With("connector", "salesforce"), Now: now})
	if err != nil {
		return nil, "", err
	}
	return c, salesforce.EventRegistration, nil
}

// pollIntervalOf is the change-feed poll interval of the configured CRM.
func pollIntervalOf(cfg *config.Config) time.Duration {
	switch cfg.CRM.Kind {
	case config.KindHubSpot, config.KindSandbox:
		return cfg.HubSpot.PollInterval
	case config.KindSalesforce:
		return cfg.Salesforce.PollInterval
	}
	return 30 * time.Second
}

// mountExtras mounts the intake channels, status pages and dashboard.
func mountExtras(d *Daemon, mux *http.ServeMux) {
	mountIntake(d, mux)
	mountDashboard(d, mux)
}

// dealObject names the CRM's deal object in events and inbox keys: both
// connectors call it "deals".
func dealObject(connectors.CRM) string { return "deals" }
