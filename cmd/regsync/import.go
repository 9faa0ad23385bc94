package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/csvdrop"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/server"
)

func newImport(g *globals) *cobra.Command {
	var (
		out, partner      string
		submitter         string
		dryRun            bool
		logLevel, logForm string
	)
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Register the rows of a CSV file in the CRM and write the result CSV",
		Long: `import reads a CSV file of registrations (as Excel or Google Sheets export it:
UTF-8 with or without BOM, ',' or ';', quoted fields with line breaks; header
names as forgiving as the e-mail form's), judges each row on its own, registers
the good ones in the CRM 100 a call — decided at once by the same rules as the
daemon — and writes the result CSV, one line per data row:

  row,case_number,status,reason,message

A row that cannot be a registration is rejected invalid_row (a formula cell, a
value that cannot be read, no company, no partner), one repeating an earlier
row's domain and partner is rejected duplicate_row; any other row carries its
decision (approved, needs_info, declined, in_review …). No cell of the result
can start a formula. Each row names its partner (a Partner or Partner email
column) unless --partner names it for the whole file (--submitter then gives
the partner e-mail of rows without one).

Beside a running daemon (one holds state.path) import hands the rows to it
through its admin endpoint (admin.token, or the token file it wrote beside
the state file), so they are decided by the daemon's worker in the same
order as every other registration. Without one it decides the rows itself
from the CRM, holding the state file for its run as the daemon would. Running it again on the same file registers
nothing twice. With crm.kind sandbox it registers in the sandbox CRM of a
running 'regsync serve'.

Exit 0 when the file was processed, whatever the rows' outcomes; 1 when it
could not be (a header without a company or partner column, the CRM
unreachable); 2 on bad usage or configuration.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			lf := logFlags{level: logLevel, format: logForm}
			log, err := lf.logger(g.stderr)
			if err != nil {
				return err
			}
			if partner != "" {
				if _, ok := cfg.Policy.Partner(partner); !ok {
					return usageErr(fmt.Errorf("--partner %q: no partner with that id in %s", partner, cfg.File))
				}
			}
			if submitter != "" {
				if _, err := registration.ParseEmail(submitter); err != nil {
					return usageErr(fmt.Errorf("--submitter %q is not an e-mail address", submitter))
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runImport(ctx, g, cfg, log, importArgs{file: args[0], out: out, partner: partner, submitter: submitter, dryRun: dryRun})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "write the result CSV to this file (default: standard output)")
	f.StringVar(&partner, "partner", "", "the partner id of every row (for a file without a partner column)")
	f.StringVar(&submitter, "submitter", "", "the partner e-mail of rows that give none (the person the partner's updates go to)")
	f.BoolVar(&dryRun, "dry-run", false, "judge every row and write the result CSV without touching the CRM (rows that would be registered say valid)")
	f.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (logs go to standard error)")
	f.StringVar(&logForm, "log-format", "text", "text or json")
	return cmd
}

type importArgs struct {
	file, out, partner string
	submitter          string
	dryRun             bool
}

func runImport(ctx context.Context, g *globals, cfg *config.Config, log *slog.Logger, a importArgs) error {
	var in io.Reader = os.Stdin
	name := "standard input"
	if a.file != "-" {
		f, err := os.Open(a.file)
		if err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		defer f.Close()
		in, name = f, a.file
	}

	var reg intake.Registrar
	if !a.dryRun {
		// Beside a running daemon the rows go to it (its admin endpoint),
		// so they are decided by its worker, under the same locks and in
		// the same order as every other registration; two processes
		// deciding one company at once could both approve it.
		ac, running := runningDaemon(cfg)
		switch {
		case running:
			reg = &remoteRegistrar{ac: ac}
			log.Info("a daemon holds the state file: the rows go to it", "addr", ac.base)
		default:
			// No daemon: import holds the state file for its run, as the
			// daemon would (daemon.OpenImport), or, for the sandbox CRM,
			// registers without local state in the sandbox of a running
			// `regsync serve`.
			r, closeReg, err := daemon.OpenImport(ctx, cfg, log)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			defer closeReg()
			reg = r
		}
	}

	w := &lazyFile{path: a.out, std: g.stdout}
	started := time.Now()
	var freeMail *registration.FreeMail
	if cfg.Policy != nil {
		freeMail = registration.NewFreeMail(cfg.Policy.Rules.FreeEmailDomains.Extra, cfg.Policy.Rules.FreeEmailDomains.Allow)
	}
	sum, err := csvdrop.Import(ctx, in, w, reg, csvdrop.Options{
		PartnerID: a.partner, Submitter: a.submitter, Partners: intake.NewDirectory(cfg.Partners), FreeMail: freeMail, BatchSize: cfg.Intake.CSV.BatchSize,
		DryRun: a.dryRun, Logger: log, Now: time.Now,
	})
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write the results: %w", cerr)
	}
	took := time.Since(started)
	var fe *intake.FieldError
	switch {
	case errors.As(err, &fe):
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: %v", name, err)}
	case err != nil && sum.Rows > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: stopped after %d rows: %v\n"+
			"The result CSV holds the rows done so far; run the same command again to go on (rows already registered are not registered twice)",
			name, sum.Rows, err)}
	case err != nil:
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: %v", name, err)}
	}
	fmt.Fprintf(g.stderr, "%s: %d rows in %s: %s", name, sum.Rows, took.Round(time.Millisecond), outcomes(sum))
	if a.out != "" && a.out != "-" {
		fmt.Fprintf(g.stderr, "; results in %s", a.out)
	}
	fmt.Fprintln(g.stderr)
	if len(sum.Ignored) > 0 {
		fmt.Fprintf(g.stderr, "columns not read: %s\n", strings.Join(sum.Ignored, ", "))
	}
	return nil
}

// outcomes summarises the result rows: "3 approved, 1 needs_info, 2
// rejected (1 invalid_row, 1 duplicate_row)".
func outcomes(s csvdrop.Summary) string {
	keys := make([]string, 0, len(s.ByStatus))
	for k := range s.ByStatus {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if s.ByStatus[keys[i]] != s.ByStatus[keys[j]] {
			return s.ByStatus[keys[i]] > s.ByStatus[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		p := fmt.Sprintf("%d %s", s.ByStatus[k], k)
		if k == csvdrop.StatusRejected {
			p += fmt.Sprintf(" (%d invalid_row, %d duplicate_row)", s.Invalid, s.Duplicate)
		}
		parts = append(parts, p)
	}
	if s.Blank > 0 {
		parts = append(parts, fmt.Sprintf("%d blank", s.Blank))
	}
	if len(parts) == 0 {
		return "nothing to register"
	}
	out := strings.Join(parts, ", ")
	if s.Submitted > 0 && s.Created < s.Submitted {
		out += fmt.Sprintf(" (%d of them registered before)", s.Submitted-s.Created-s.Errors)
	}
	return out
}

// lazyFile creates the output file on the first write, so a file refused
// before any result leaves no empty output behind.
type lazyFile struct {
	path string
	std  io.Writer
	f    *os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.path == "" || l.path == "-" {
		return l.std.Write(p)
	}
	if l.f == nil && l.err == nil {
		l.f, l.err = os.Create(l.path)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		l.f.Close()
		return err
	}
	return l.f.Close()
}

// runningDaemon returns the admin client of the daemon holding cfg's state
// file, if one runs. A state file that does not exist has no daemon (and
// is not created by looking).
func runningDaemon(cfg *config.Config) (*adminClient, bool) {
	if _, err := os.Stat(cfg.State.Path); err != nil {
		return nil, false
	}
	ac, running, err := daemonFor(cfg)
	if err != nil || !running {
		return nil, false
	}
	return ac, true
}

// remoteRegistrar registers through a running daemon's admin endpoints.
type remoteRegistrar struct{ ac *adminClient }

var (
	_ intake.Registrar = (*remoteRegistrar)(nil)
	_ intake.Settler   = (*remoteRegistrar)(nil)
)

func (r *remoteRegistrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	var resp server.RegisterResponse
	if err := r.ac.do(ctx, "POST", "/-/register", server.RegisterRequest{Submissions: subs}, &resp); err != nil {
		return nil, fmt.Errorf("register through the daemon: %w", err)
	}
	if len(resp.Receipts) != len(subs) {
		return nil, fmt.Errorf("register through the daemon: %d receipts for %d submissions", len(resp.Receipts), len(subs))
	}
	out := make([]intake.Receipt, len(subs))
	for i, w := range resp.Receipts {
		out[i] = fromWire(w)
	}
	return out, nil
}

func (r *remoteRegistrar) Settle(ctx context.Context, cases []string) (map[string]intake.Receipt, error) {
	var resp server.SettleResponse
	err := r.ac.do(ctx, "POST", "/-/settle", server.SettleRequest{CaseNumbers: cases}, &resp)
	out := make(map[string]intake.Receipt, len(resp.Receipts))
	for c, w := range resp.Receipts {
		out[c] = fromWire(w)
	}
	return out, err
}

func fromWire(w server.WireReceipt) intake.Receipt {
	rc := w.Receipt
	if w.Err != "" {
		rc.Err = errors.New(w.Err)
	}
	return rc
}

func (r *remoteRegistrar) Lookup(context.Context, string) (registration.Record, error) {
	return registration.Record{}, errors.New("lookups go to the daemon's status pages")
}

func (r *remoteRegistrar) Amend(context.Context, string, intake.Amendment) (intake.Receipt, error) {
	return intake.Receipt{}, errors.New("amendments go to the daemon's channels")
}

func (r *remoteRegistrar) StatusURL(string) string { return "" }
