package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
)

// The embedded sandbox runs the fake with crm.sandbox.search_lag (2s by
// default) and gives the daemon's client poll_settle search_lag + 1s,
// unless hubspot.poll_settle is set.
func TestSandboxSearchLagAndPollSettle(t *testing.T) {
	for _, tc := range []struct {
		name, yaml  string
		lag, settle time.Duration
	}{
		{"defaults", "", 2 * time.Second, 3 * time.Second},
		{"no lag", "crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\", search_lag: 0s}}\n", 0, time.Second},
		{"poll_settle set", "hubspot: {poll_settle: 10s}\n", 2 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := tc.yaml
			if !strings.Contains(yml, "crm:") {
				yml += "crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\"}}\n"
			}
			cfg, err := config.Parse("c.yaml", []byte(yml), false)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sb, hcfg, err := startSandbox(context.Background(), cfg, "http://127.0.0.1:9", slog.New(slog.DiscardHandler), time.Now, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer sb.close()
			if got := sb.hs.SearchLag(); got != tc.lag {
				t.Errorf("the sandbox's search lag is %s, want %s", got, tc.lag)
			}
			if hcfg.PollSettle != tc.settle {
				t.Errorf("poll_settle %s, want %s", hcfg.PollSettle, tc.settle)
			}
			if !strings.Contains(out.String(), "search lags writes by "+tc.lag.String()) {
				t.Errorf("startup text:\n%s", out.String())
			}
		})
	}
}
