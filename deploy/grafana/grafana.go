// Package grafana ships regsync's Grafana dashboard (regsync.json) over the
// Prometheus metrics the daemon exposes at /metrics. Import the file in
// Grafana (Dashboards → New → Import) and pick a Prometheus data source; the
// data source is a dashboard variable, so nothing in the file names yours.
package grafana

import _ "embed"

// Dashboard is regsync.json, for tools that install it.
//
//go:embed regsync.json
var Dashboard []byte

// Metric is one metric the daemon exposes: its name, type and labels.
type Metric struct {
	Name   string
	Type   string // counter, gauge or histogram
	Labels []string
}

// Metrics are the metrics the dashboard may use — the daemon's contract.
var Metrics = []Metric{
	{"regsync_inbox_depth", "gauge", nil},
	{"regsync_inbox_oldest_age_seconds", "gauge", nil},
	{"regsync_inbox_dead_letters", "gauge", nil},
	{"regsync_decisions_total", "counter", []string{"status", "reason"}},
	{"regsync_crm_api_calls_total", "counter", []string{"connector", "op"}},
	{"regsync_crm_rate_limited_total", "counter", []string{"connector"}},
	{"regsync_crm_failed_total", "counter", []string{"connector", "reason"}},
	{"regsync_crm_daily_used", "gauge", []string{"connector"}},
	{"regsync_crm_daily_limit", "gauge", []string{"connector"}},
	{"regsync_webhook_events_total", "counter", []string{"connector"}},
	{"regsync_webhook_verify_failures_total", "counter", []string{"connector", "reason"}},
	{"regsync_sweep_duration_seconds", "histogram", []string{"sweep"}},
	{"regsync_sweep_runs_total", "counter", []string{"sweep", "result"}},
	{"regsync_notifications_total", "counter", []string{"channel", "result"}},
	{"regsync_intake_submissions_total", "counter", []string{"channel", "result"}},
	{"regsync_poll_runs_total", "counter", []string{"connector", "result"}},
	{"regsync_state_purged_total", "counter", []string{"bucket"}},
	{"regsync_state_file_bytes", "gauge", nil},
	{"regsync_config_last_reload_successful", "gauge", nil},
	{"regsync_config_last_reload_success_timestamp_seconds", "gauge", nil},
	{"regsync_worker_records_total", "counter", []string{"result"}},
	{"regsync_crm_writes_paused", "gauge", []string{"connector"}},
}
