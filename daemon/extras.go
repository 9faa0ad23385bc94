package daemon

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
)

// connectSalesforce builds the Salesforce connector.
func connectSalesforce(_ *config.Config, _ *slog.Logger, _ func() time.Time) (connectors.CRM, string, error) {
	return nil, "", errors.New("crm.kind salesforce: the Salesforce connector is not part of this build yet")
}

// pollIntervalOf is the change-feed poll interval of the configured CRM.
func pollIntervalOf(cfg *config.Config) time.Duration {
	if cfg.CRM.Kind == config.KindHubSpot || cfg.CRM.Kind == config.KindSandbox {
		return cfg.HubSpot.PollInterval
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
