package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/internal/connect"
	"github.com/regsync/regsync/report"
)

func newReport(g *globals) *cobra.Command {
	var since, until, by, format, now, logLevel string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the seven program metrics, computed from the CRM's records",
		Long: `report reads every registration and deal from the CRM (list endpoints, about one
API call per 100 records; never search) and prints the seven program metrics:
registration-to-meeting rate, approval rate, conflicts avoided vs unresolved
disputes, win rate and sales volume, time to first response and to approval,
active protection windows, and commission accuracy and cycle time. Their exact
definitions are in docs/reports.md ("The seven metrics").

--since and --until select registrations by submitted_at (metrics 1-5) and won
deals by close date (metric 7); metric 6 is a snapshot now. A date (2026-03-31)
is a local date in rules.sla.timezone, an --until date inclusive; an RFC 3339
instant is taken as is. --by adds a breakdown row per partner, segment, region
or product to every metric.

report needs no local state and may run beside the daemon. With crm.kind:
sandbox it reads the sandbox CRM of the running regsync serve (crm.sandbox.addr).

Exit 0 with the report, 1 when the CRM could not be read (nothing is printed),
2 on bad flags or configuration.`,
		Example: `  regsync report --config regsync.yaml
  regsync report --since 2026-01-01 --until 2026-03-31 --by partner
  regsync report --by segment --format csv > q1.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			loc := cfg.Policy.SLALocation()
			var opt report.Options
			var errs []error
			if opt.Since, err = report.ParseDate(since, loc, false); err != nil {
				errs = append(errs, fmt.Errorf("--since: %w", err))
			}
			if opt.Until, err = report.ParseDate(until, loc, true); err != nil {
				errs = append(errs, fmt.Errorf("--until: %w", err))
			}
			if opt.By, err = report.ParseGroupBy(by); err != nil {
				errs = append(errs, err)
			}
			f, err := report.ParseFormat(format)
			if err != nil {
				errs = append(errs, err)
			}
			opt.Now = time.Now().UTC()
			if now != "" {
				if opt.Now, err = time.Parse(time.RFC3339Nano, now); err != nil {
					errs = append(errs, fmt.Errorf("--now: %q is not an RFC 3339 time", now))
				}
			}
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(logLevel)); err != nil {
				errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel))
			}
			if err := errors.Join(errs...); err != nil {
				return usageErr(err)
			}
			acc, err := report.New(cfg.Policy, opt)
			if err != nil {
				return usageErr(err)
			}
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: lv}))

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			crm, err := connect.Open(ctx, cfg, connect.SandboxRemote, connect.Env{Logger: log})
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if err := crm.All(ctx, acc.Add); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("read the registrations from %s: %w", crm.Name(), err)}
			}
			if err := crm.AllDeals(ctx, acc.AddDeals); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("read the deals from %s: %w", crm.Name(), err)}
			}
			rep := acc.Result()
			var out bytes.Buffer
			if err := report.Render(&out, rep, f); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if _, err := g.stdout.Write(out.Bytes()); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			var calls int64
			for _, n := range crm.Usage().Calls {
				calls += n
			}
			log.Info("report", "crm", crm.Name(), "registrations", rep.Meta.Registrations, "deals", rep.Meta.Deals,
				"api_calls", calls, "took", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "first day of the period (2006-01-02 in rules.sla.timezone, or RFC 3339)")
	fl.StringVar(&until, "until", "", "last day of the period, inclusive (2006-01-02), or an RFC 3339 instant (exclusive)")
	fl.StringVar(&by, "by", "", "breakdown: partner, segment, region or product")
	fl.StringVar(&format, "format", "table", "table, csv or json")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	fl.StringVar(&now, "now", "", "the instant the report is as of (RFC 3339), for reproducible reports")
	_ = fl.MarkHidden("now")
	return cmd
}
