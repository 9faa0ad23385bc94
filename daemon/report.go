package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/internal/secret"
)

// ErrNoSandbox is returned by ConnectReader for crm.kind sandbox when no
// sandbox CRM answers at crm.sandbox.addr.
var ErrNoSandbox = errors.New("crm.kind is sandbox and no sandbox CRM answers at crm.sandbox.addr: " +
	"start `regsync serve` with this configuration first (the sandbox CRM lives inside it)")

// ConnectReader builds a connector for commands that only read the CRM
// (regsync report). For kinds hubspot and salesforce it is Connect. For
// kind sandbox it reaches the sandbox CRM of a running `regsync serve` —
// the fake HubSpot portal it serves on crm.sandbox.addr, with the bearer
// token SandboxToken — and checks that it answers (one cheap call), so
// that "start serve first" is said plainly rather than as a connection
// error halfway through.
func ConnectReader(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (connectors.CRM, error) {
	if cfg.CRM.Kind != config.KindSandbox {
		c, _, err := Connect(cfg, log, now)
		return c, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hcfg := cfg.HubSpot
	hcfg.BaseURL = "http://" + cfg.CRM.Sandbox.Addr
	hcfg.Token = secret.New(SandboxToken)
	hcfg.RefreshToken = secret.Secret{}
	hcfg.PerTenSeconds = cfg.CRM.Sandbox.PerTenSeconds
	c, err := hubspot.New(hcfg, hubspot.Options{Logger: log.With("connector", "hubspot"), Now: now})
	if err != nil {
		return nil, err
	}
	// Nothing listening is said at once, not after the client's retries.
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", cfg.CRM.Sandbox.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoSandbox, hcfg.BaseURL, err)
	}
	_ = conn.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoSandbox, hcfg.BaseURL, err)
	}
	return c, nil
}

// mountDashboard mounts the dashboard.
func mountDashboard(_ *Daemon, _ *http.ServeMux) {}

// addReportJobs schedules the report side's cron jobs (partner summaries).
func addReportJobs(_ *Daemon, _ *cron.Cron) error { return nil }

// startReportLoops starts the report side's background loops (the deal
// change feed for attribution, the dashboard snapshot); each calls wg.Done
// when ctx ends.
func startReportLoops(_ *Daemon, _ context.Context, _ *sync.WaitGroup) {}
