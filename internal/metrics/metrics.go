// Package metrics holds regsync's Prometheus collectors. They are created
// against a prometheus.Registerer passed in (never the global one), so that
// tests and several daemons in one process each have their own.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/state"
)

// Metrics are the daemon's collectors. Names are a contract with the
// Grafana dashboard in deploy/grafana.
type Metrics struct {
	InboxDepth        prometheus.Gauge
	InboxOldestAge    prometheus.Gauge
	InboxDeadLetters  prometheus.Gauge
	Decisions         *prometheus.CounterVec // status, reason
	CRMFailed         *prometheus.CounterVec // connector, reason
	WebhookEvents     *prometheus.CounterVec // connector
	WebhookFailures   *prometheus.CounterVec // connector, reason
	SweepDuration     *prometheus.HistogramVec
	SweepRuns         *prometheus.CounterVec // sweep, result
	Notifications     *prometheus.CounterVec // channel, result
	IntakeSubmissions *prometheus.CounterVec // channel, result
	PollRuns          *prometheus.CounterVec // connector, result
	ConfigReloadOK    prometheus.Gauge
	ConfigReloadTime  prometheus.Gauge
	Processed         *prometheus.CounterVec // result: decided, echo, observed, failed, dead
	StatePurged       *prometheus.CounterVec // bucket
	StateFileBytes    prometheus.Gauge
}

// New creates the collectors and registers them with reg (nil: not
// registered, for tools that need none).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		InboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_inbox_depth",
			Help: "Items waiting in the durable inbox."}),
		InboxOldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_inbox_oldest_age_seconds",
			Help: "Age of the oldest item in the inbox."}),
		InboxDeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_inbox_dead_letters",
			Help: "Items in the dead-letter bucket (regsync inbox list --dead)."}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_decisions_total",
			Help: "Decisions written to the CRM, by status and reason."}, []string{"status", "reason"}),
		CRMFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_crm_failed_total",
			Help: "Failed CRM operations by reason."}, []string{"connector", "reason"}),
		WebhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_webhook_events_total",
			Help: "Webhook events accepted into the inbox."}, []string{"connector"}),
		WebhookFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_webhook_verify_failures_total",
			Help: "Webhook requests refused, by reason."}, []string{"connector", "reason"}),
		SweepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "regsync_sweep_duration_seconds",
			Help: "How long each sweep took.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"sweep"}),
		SweepRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_sweep_runs_total",
			Help: "Sweep runs by result."}, []string{"sweep", "result"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_notifications_total",
			Help: "Notifications sent, by channel and result."}, []string{"channel", "result"}),
		IntakeSubmissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_intake_submissions_total",
			Help: "Submissions received by the intake channels, by result."}, []string{"channel", "result"}),
		PollRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_poll_runs_total",
			Help: "Polls of the CRM's change feed, by result."}, []string{"connector", "result"}),
		ConfigReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded."}),
		ConfigReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully."}),
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_worker_records_total",
			Help: "Records the worker looked at, by result (decided, echo, observed, failed, dead)."}, []string{"result"}),
		StatePurged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regsync_state_purged_total",
			Help: "Expired entries the state maintenance deleted, by bucket."}, []string{"bucket"}),
		StateFileBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsync_state_file_bytes",
			Help: "Size of the state file after the last maintenance run."}),
	}
	if reg != nil {
		reg.MustRegister(m.InboxDepth, m.InboxOldestAge, m.InboxDeadLetters, m.Decisions,
			m.CRMFailed, m.WebhookEvents, m.WebhookFailures, m.SweepDuration, m.SweepRuns,
			m.Notifications, m.IntakeSubmissions, m.PollRuns, m.ConfigReloadOK, m.ConfigReloadTime, m.Processed,
			m.StatePurged, m.StateFileBytes)
	}
	return m
}

// StateMaintained records a state maintenance run (state.Maintenance.Done):
// what it purged, by bucket, and the file's size; a failed run counts as
// sweep "state" with result error.
func (m *Metrics) StateMaintained(r state.MaintenanceRun) {
	for bucket, n := range r.Purged {
		m.StatePurged.WithLabelValues(bucket).Add(float64(n))
	}
	if r.FileBytes > 0 {
		m.StateFileBytes.Set(float64(r.FileBytes))
	}
	result := "ok"
	if r.Err != nil {
		result = "error"
	}
	m.SweepRuns.WithLabelValues("state", result).Inc()
}

// usageCollector reports a connector's API consumption at scrape time from
// its own counters, so the numbers are the connector's, not a copy.
type usageCollector struct {
	connector string
	usage     func() connectors.Usage
}

var (
	descCalls = prometheus.NewDesc("regsync_crm_api_calls_total",
		"CRM API requests, retries included, by connector and operation.", []string{"connector", "op"}, nil)
	descLimited = prometheus.NewDesc("regsync_crm_rate_limited_total",
		"CRM answers that said a rate limit was reached.", []string{"connector"}, nil)
	descDailyUsed = prometheus.NewDesc("regsync_crm_daily_used",
		"The CRM's count of today's API calls, as last reported.", []string{"connector"}, nil)
	descDailyLimit = prometheus.NewDesc("regsync_crm_daily_limit",
		"The CRM's daily API allocation, as last reported.", []string{"connector"}, nil)
	descPaused = prometheus.NewDesc("regsync_crm_writes_paused",
		"1 while writes are stopped because the daily allocation ran out.", []string{"connector"}, nil)
)

func (c usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCalls
	ch <- descLimited
	ch <- descDailyUsed
	ch <- descDailyLimit
	ch <- descPaused
}

func (c usageCollector) Collect(ch chan<- prometheus.Metric) {
	u := c.usage()
	for op, n := range u.Calls {
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(n), c.connector, op)
	}
	ch <- prometheus.MustNewConstMetric(descLimited, prometheus.CounterValue, float64(u.RateLimited), c.connector)
	ch <- prometheus.MustNewConstMetric(descDailyUsed, prometheus.GaugeValue, float64(u.DailyUsed), c.connector)
	ch <- prometheus.MustNewConstMetric(descDailyLimit, prometheus.GaugeValue, float64(u.DailyLimit), c.connector)
	paused := 0.0
	if !u.PausedUntil.IsZero() && time.Now().Before(u.PausedUntil) {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, paused, c.connector)
}

// RegisterUsage exposes a connector's Usage as regsync_crm_* metrics.
func RegisterUsage(reg prometheus.Registerer, connector string, usage func() connectors.Usage) error {
	return reg.Register(usageCollector{connector: connector, usage: usage})
}
