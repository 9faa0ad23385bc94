package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/state"
)

// logFlags are the logging flags of the long-running commands.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&l.format, "log-format", "text", "text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usageErr(fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level))
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErr(fmt.Errorf("--log-format %q: want text or json", l.format))
}

func newServe(g *globals) *cobra.Command {
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: webhooks and polling into the inbox, decisions written back, sweeps",
		Long: `serve keeps the CRM's Partner Registration records decided and in step: CRM
webhooks and a poller feed a durable inbox, the worker decides each record with
the rules and writes the decision back, the cron expires hold windows and
escalates missed SLAs, and partners are told where they stand.

With crm.kind: sandbox (as in config.example.yaml) it starts a fake HubSpot
portal in-process on loopback (crm.sandbox.addr), seeded, and talks to it over
real HTTP: no account needed. Mail goes to an outbox/ directory beside the
state file.

The admin API (/-/reload, /-/sweep, /-/inbox, /-/readyz …, used by sweep, inbox
and import beside the daemon) listens apart from the public listener, on
admin.addr (default 127.0.0.1:9091, loopback), with the bearer token
admin.token or the one generated into <state.path>.admin-token.

SIGINT or SIGTERM stop it gracefully (within server.shutdown_timeout); SIGHUP
re-reads the configuration (a bad one keeps the old).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			log, err := lf.logger(g.stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			d, err := daemon.New(ctx, cfg, daemon.Options{Logger: log, Out: g.stderr})
			if err != nil {
				if errors.Is(err, state.ErrInUse) {
					return &exitError{code: exitFailure, err: fmt.Errorf("%w (is another regsync serve running?)", err)}
				}
				return &exitError{code: exitFailure, err: err}
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						_ = d.Reload() // logged; the old configuration stays on error
					}
				}
			}()
			tokenAt := "admin.token"
			if !cfg.Admin.Token.IsSet() {
				tokenAt = daemon.AdminTokenFile(cfg.State.Path)
			}
			fmt.Fprintf(g.stderr, "regsync serving on http://%s; admin API on http://%s (token in %s)\n",
				d.Addr(), d.AdminAddr(), tokenAt)
			if err := d.Run(ctx); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	lf.add(cmd)
	return cmd
}

// adminClient reaches a running daemon's /-/ endpoints, on its admin
// listener.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// daemonFor reports whether a daemon holds the state file of cfg, and
// returns a client for its admin endpoints when one does.
func daemonFor(cfg *config.Config) (*adminClient, bool, error) {
	db, err := state.Open(cfg.State.Path, state.Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		_ = db.Close()
		return nil, false, nil
	}
	if !errors.Is(err, state.ErrInUse) {
		return nil, false, err
	}
	tok := cfg.Admin.Token.Reveal()
	if tok == "" {
		b, err := os.ReadFile(daemon.AdminTokenFile(cfg.State.Path))
		if err != nil {
			return nil, true, fmt.Errorf("a daemon holds %s but its admin token is unknown: set admin.token (REGSYNC_ADMIN_TOKEN): %w", cfg.State.Path, err)
		}
		tok = strings.TrimSpace(string(b))
	}
	addr := cfg.Admin.Addr
	if b, err := os.ReadFile(daemon.AdminAddrFile(cfg.State.Path)); err == nil && strings.TrimSpace(string(b)) != "" {
		addr = strings.TrimSpace(string(b)) // where it really listens (admin.addr may say :0)
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return &adminClient{base: "http://" + net.JoinHostPort(host, port), token: tok, http: &http.Client{Timeout: 10 * time.Minute}}, true, nil
}

func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the running daemon at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(data, &e)
		msg := strings.TrimSpace(e.Error + " " + strings.Join(e.Errors, "; "))
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("daemon answered %s: %s", resp.Status, msg)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
