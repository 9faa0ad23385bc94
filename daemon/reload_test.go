package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/robfig/cron/v3"
)

// TestReloadKeepsTheOldConfigOnError: a reload with a bad file keeps the
// configuration in force and says why; a good one takes effect at once.
func TestReloadKeepsTheOldConfigOnError(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	path := h.cfg.File
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(good), "hold_window:", "hold_windw:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	err = h.d.Reload()
	if err == nil || !strings.Contains(err.Error(), "hold_windw not found") {
		t.Fatalf("reload of a bad file = %v", err)
	}
	if v := testutil.ToFloat64(h.d.m.ConfigReloadOK); v != 0 {
		t.Errorf("regsync_config_last_reload_successful = %v after a failed reload", v)
	}
	if h.d.cfg.Load().Rules.HoldWindow.Days != 60 {
		t.Errorf("the old configuration is not in force")
	}
	// A good change: 45-day windows from now on.
	if err := os.WriteFile(path, []byte(strings.Replace(string(good), "hold_window: {days: 60", "hold_window: {days: 45", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if v := testutil.ToFloat64(h.d.m.ConfigReloadOK); v != 1 {
		t.Errorf("regsync_config_last_reload_successful = %v after a good reload", v)
	}
	if got := h.d.policy.Load().Rules.HoldWindow.Days; got != 45 {
		t.Errorf("policy hold window %d days after the reload, want 45", got)
	}
}

// rewriteConfig replaces text in the daemon's configuration file; every
// old string must be there.
func rewriteConfig(t *testing.T, h *harness, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(h.cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s has no %q", h.cfg.File, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	if err := os.WriteFile(h.cfg.File, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cronEntries are the entries of the cron in force; ok is false until Run
// has started it.
func cronEntries(h *harness) (entries []cron.Entry, ok bool) {
	return h.d.rl.cron.Entries()
}

// waitFor waits until cond holds, failing after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A schedule change rebuilds the cron at the reload: new schedules, read
// in the new time zone, and their jobs run; schedules turned off are gone.
func TestReloadReschedulesTheCron(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	waitFor(t, "the cron started", 10*time.Second, func() bool { _, ok := cronEntries(h); return ok })
	if e, _ := cronEntries(h); len(e) != 0 {
		t.Fatalf("%d cron entries with every schedule off", len(e))
	}
	rewriteConfig(t, h, `schedule: {sweep: "off", reconcile: "off", summaries: "off"}`,
		`schedule: {sweep: "0 3 * * *", reconcile: "@every 1s", summaries: "off", timezone: America/New_York}`)
	res, err := h.d.reload()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"schedule.sweep", "schedule.reconcile", "schedule.timezone"}; !slices.Equal(res.Applied, want) || len(res.RestartRequired) != 0 {
		t.Errorf("reload applied %v, restart %v; want applied %v", res.Applied, res.RestartRequired, want)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := cronEntries(h)
	var daily, every int
	for _, e := range entries {
		switch s := e.Schedule.(type) {
		case *cron.SpecSchedule:
			if next := s.Next(time.Now()).In(ny); s.Location.String() == "America/New_York" && next.Hour() == 3 && next.Minute() == 0 {
				daily++
			}
		case cron.ConstantDelaySchedule:
			if s.Delay == time.Second {
				every++
			}
		}
	}
	if len(entries) != 2 || daily != 1 || every != 1 {
		t.Fatalf("cron after the reload: %d entries, %d at 03:00 New York, %d every second", len(entries), daily, every)
	}
	// The new reconcile job runs.
	runs := func() float64 { return testutil.ToFloat64(h.d.m.SweepRuns.WithLabelValues("reconcile", "ok")) }
	waitFor(t, "a reconcile run by the new schedule", 20*time.Second, func() bool { return runs() >= 1 })
	// Off again: no entry left.
	rewriteConfig(t, h, `sweep: "0 3 * * *", reconcile: "@every 1s"`, `sweep: "off", reconcile: "off"`)
	if _, err := h.d.reload(); err != nil {
		t.Fatal(err)
	}
	if e, _ := cronEntries(h); len(e) != 0 {
		t.Errorf("%d cron entries after turning every schedule off", len(e))
	}
}

// POST /-/reload lists what it applied and what waits for a restart —
// key names, never a value — and so does the log; a restart setting keeps
// its started value and keeps being reported until the file says that
// value again.
func TestReloadReportsRestartSettings(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	const token = "rotated-private-app-token-value"
	reload := func() (applied, restart []string) {
		t.Helper()
		code, body := adminCall(t, "POST", h.adminURL(), "/-/reload", h.adminToken())
		var got struct {
			OK              bool     `json:"reloaded"`
			Applied         []string `json:"applied"`
			RestartRequired []string `json:"restart_required"`
		}
		if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || !got.OK || got.Applied == nil || got.RestartRequired == nil {
			t.Fatalf("/-/reload = %d %s (%v)", code, body, err)
		}
		if strings.Contains(body, token) {
			t.Errorf("/-/reload shows a secret: %s", body)
		}
		return got.Applied, got.RestartRequired
	}

	rewriteConfig(t, h, "token: sandbox-token", "token: "+token, "worker: {recheck_after: 1s}", "worker: {recheck_after: 1s, concurrency: 3}",
		"poll_interval: 1h0m0s", "poll_interval: 30m")
	applied, restart := reload()
	if !slices.Equal(applied, []string{"hubspot.poll_interval"}) || !slices.Equal(restart, []string{"hubspot.token", "worker.concurrency"}) {
		t.Errorf("first reload: applied %v, restart %v", applied, restart)
	}
	if c := h.d.cfg.Load(); c.Worker.Concurrency != 2 || c.HubSpot.Token.Reveal() != "sandbox-token" || h.d.pollInterval() != 30*time.Minute {
		t.Errorf("in force: concurrency %d, token changed %v, poll interval %s", c.Worker.Concurrency, c.HubSpot.Token.Reveal() != "sandbox-token", h.d.pollInterval())
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "take effect only after a restart") || !strings.Contains(logs, "hubspot.token, worker.concurrency") {
		t.Errorf("the log does not name the restart settings:\n%s", logs)
	}
	if strings.Contains(logs, token) {
		t.Error("the log shows a secret")
	}

	// Another change: the restart settings are still reported.
	rewriteConfig(t, h, "hold_window: {days: 60", "hold_window: {days: 45")
	applied, restart = reload()
	if !slices.Equal(applied, []string{"rules.hold_window.days"}) || !slices.Equal(restart, []string{"hubspot.token", "worker.concurrency"}) {
		t.Errorf("second reload: applied %v, restart %v", applied, restart)
	}
	// Back to the started values: nothing waits for a restart.
	rewriteConfig(t, h, "token: "+token, "token: sandbox-token", "concurrency: 3", "concurrency: 2")
	if applied, restart = reload(); len(applied) != 0 || len(restart) != 0 {
		t.Errorf("third reload: applied %v, restart %v", applied, restart)
	}
}

// notify.enabled is live both ways: a daemon started with it off sends
// nothing, and sends what it decides once a reload turned it on.
func TestReloadTurnsNotificationsOn(t *testing.T) {
	h := newHarness(t, crms[0], harnessOpts{webhooks: true})
	h.cfg.Notify.Enabled = false // the file says true
	h.start()
	quiet := h.register(clean(1, "quiet.example"))
	h.waitDecided(quiet, 20*time.Second)
	h.settle(20 * time.Second)
	if m := h.outboxWith("R-1001"); len(m) != 0 {
		t.Fatalf("notify.enabled false, yet the outbox has %v", m)
	}
	res, err := h.d.reload()
	if err != nil || !slices.Contains(res.Applied, "notify.enabled") {
		t.Fatalf("reload: %v, applied %v", err, res.Applied)
	}
	loud := h.register(clean(2, "loud.example"))
	h.waitDecided(loud, 20*time.Second)
	waitFor(t, "the partner e-mail of R-1002", 20*time.Second, func() bool { return len(h.outboxWith("R-1002")) == 1 })
}
