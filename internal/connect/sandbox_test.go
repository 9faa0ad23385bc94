package connect

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
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

// crm.sandbox.faults switches faults on in the embedded sandbox once it is
// set up (setup itself never faults), seeded with crm.sandbox.faults_seed,
// and the startup text says them and the seed.
func TestSandboxFaults(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte("crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\", faults: \"1,5xx_before=1\", faults_seed: 9}}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sb, hcfg, err := startSandbox(context.Background(), cfg, "http://127.0.0.1:9", slog.New(slog.DiscardHandler), time.Now, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.close()
	if sb.hs.Injector() != nil {
		t.Fatal("faults on before setup")
	}
	hcfg.MaxRetries = 0
	c, err := hubspot.New(hcfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sb.setup(ctx, c, &out); err != nil {
		t.Fatal(err)
	}
	in := sb.hs.Injector()
	if in == nil || in.Seed() != 9 || in.Spec().String() != "1,5xx_before=1" {
		t.Fatalf("after setup the injector is %+v", in)
	}
	for _, want := range []string{
		`sandbox CRM: faults 100% of requests: 5xx_before 100% (crm.sandbox.faults "1,5xx_before=1") once set up; seed 9 (crm.sandbox.faults_seed: 9 draws them again)`,
		"sandbox CRM: faults on",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("startup text lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := c.Setup(ctx, io.Discard); err == nil || in.Total() == 0 {
		t.Errorf("a call after setup: %v, %s", err, in.Summary())
	}
}
