package daemon

import (
	"context"
	"net/http"
	"sync"

	"github.com/robfig/cron/v3"
)

// mountDashboard mounts the dashboard.
func mountDashboard(_ *Daemon, _ *http.ServeMux) {}

// addReportJobs schedules the report side's cron jobs (partner summaries).
func addReportJobs(_ *Daemon, _ *cron.Cron) error { return nil }

// startReportLoops starts the report side's background loops (the deal
// change feed for attribution, the dashboard snapshot); each calls wg.Done
// when ctx ends.
func startReportLoops(_ *Daemon, _ context.Context, _ *sync.WaitGroup) {}
