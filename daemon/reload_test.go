package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
