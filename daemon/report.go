package daemon

import (
	"net/http"

	"github.com/robfig/cron/v3"
)

// mountDashboard mounts the dashboard.
func mountDashboard(_ *Daemon, _ *http.ServeMux) {}

// addReportJobs schedules the report side's cron jobs (partner summaries).
func addReportJobs(_ *Daemon, _ *cron.Cron) error { return nil }
