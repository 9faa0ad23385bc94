package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/server"
	"github.com/regsync/regsync/state"
)

func newSweep(g *globals) *cobra.Command {
	var what string
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Run the sweeps once: expiry, conflicts, SLA escalations (for cron outside the daemon)",
		Long: `sweep applies the passing of time once: approved registrations past their
meeting deadline or window expire, first-meeting races are settled, pending
conflicts are decided again, missed SLAs are escalated (once each).

When a daemon holds the state file, sweep asks it through its admin endpoint
(admin.token, or the token file it wrote beside the state file); otherwise it
opens the state file itself.

--what reconcile compares every active registration with what regsync last saw
and queues those that differ; --what poll reads the CRM's change feed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			switch what {
			case "sweep", "reconcile", "poll":
			default:
				return usageErr(fmt.Errorf("--what %q: want sweep, reconcile or poll", what))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ac, running, err := daemonFor(cfg)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if running {
				var out struct {
					Result json.RawMessage `json:"result"`
				}
				if err := ac.do(ctx, "POST", "/-/"+what, nil, &out); err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				fmt.Fprintf(g.stdout, "%s (by the running daemon): %s\n", what, out.Result)
				return nil
			}
			log, err := lf.logger(g.stderr)
			if err != nil {
				return err
			}
			off, err := daemon.OpenOffline(cfg, log)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			defer off.Close()
			var res any
			switch what {
			case "sweep":
				res, err = off.Worker.Sweep(ctx)
			case "reconcile":
				var n int
				n, err = off.Worker.Reconcile(ctx)
				res = map[string]int{"queued": n}
			case "poll":
				var n int
				n, err = off.Worker.Poll(ctx)
				res = map[string]int{"changed": n}
			}
			if err == nil {
				_, err = off.Worker.Drain(ctx) // decide what the sweep queued
			}
			b, _ := json.Marshal(res)
			fmt.Fprintf(g.stdout, "%s: %s\n", what, b)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&what, "what", "sweep", "sweep, reconcile or poll")
	lf.add(cmd)
	return cmd
}

func newInbox(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "Look at the durable inbox: pending items and dead letters; retry or drop dead letters",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var dead, asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List pending items and dead letters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l server.InboxListing
			err := withInbox(cmd.Context(), g, func(ac *adminClient, db *state.DB) error {
				if ac != nil {
					q := ""
					if dead {
						q = "?dead=only"
					}
					return ac.do(cmd.Context(), "GET", "/-/inbox"+q, nil, &l)
				}
				var err error
				if l.Stats, err = db.InboxStats(); err != nil {
					return err
				}
				if !dead {
					if l.Pending, err = db.Pending(); err != nil {
						return err
					}
				}
				l.Dead, err = db.Dead()
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			s := l.Stats
			fmt.Fprintf(g.stdout, "pending %d (leased %d, due %d, backing off %d), dead letters %d\n",
				s.Pending, s.Leased, s.Due, s.Waiting, s.Dead)
			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			// CLASS is the last failure's class (docs/errors.md): a
			// pending item's is transient, a dead letter's permanent.
			if len(l.Pending) > 0 {
				fmt.Fprintln(tw, "\nPENDING\tREASON\tENQUEUED\tATTEMPTS\tCLASS\tLAST ERROR")
				for _, it := range l.Pending {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", it.Key, it.Reason, it.EnqueuedAt.Format(time.RFC3339), it.Attempts, dash(it.LastClass), it.LastError)
				}
			}
			if len(l.Dead) > 0 {
				fmt.Fprintln(tw, "\nDEAD\tREASON\tENQUEUED\tATTEMPTS\tCLASS\tLAST ERROR")
				for _, it := range l.Dead {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", it.Key, it.Reason, it.EnqueuedAt.Format(time.RFC3339), it.Attempts, dash(it.LastClass), it.LastError)
				}
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&dead, "dead", false, "dead letters only")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	keys := func(use, short, path string, f func(db *state.DB) func(string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " KEY...",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withInbox(cmd.Context(), g, func(ac *adminClient, db *state.DB) error {
					if ac != nil {
						return ac.do(cmd.Context(), "POST", path, map[string]any{"keys": args}, nil)
					}
					var errs []error
					for _, k := range args {
						if err := f(db)(k); err != nil {
							errs = append(errs, err)
							continue
						}
						fmt.Fprintf(g.stdout, "%s: %s\n", use, k)
					}
					return errors.Join(errs...)
				})
			},
		}
	}
	cmd.AddCommand(list,
		keys("retry", "Move dead letters back into the inbox (fresh attempts)", "/-/inbox/retry",
			func(db *state.DB) func(string) error { return db.RetryDead }),
		keys("drop", "Delete dead letters for good", "/-/inbox/drop",
			func(db *state.DB) func(string) error { return db.DropDead }))
	return cmd
}

// dash shows an empty cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withInbox runs f against the running daemon (ac set) or the state file
// (db set).
func withInbox(ctx context.Context, g *globals, f func(ac *adminClient, db *state.DB) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	ac, running, err := daemonFor(cfg)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if running {
		if err := f(ac, nil); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		return nil
	}
	db, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	defer db.Close()
	if err := f(nil, db); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	return ctx.Err()
}
