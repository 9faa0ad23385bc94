package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/rules/ruletest"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad usage or bad configuration
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error  { return &exitError{code: exitUsage, err: err} }
func configErr(err error) error { return &exitError{code: exitUsage, err: err} }

type globals struct {
	configFlag string
	stdout     io.Writer
	stderr     io.Writer
}

// loadConfig finds and loads the configuration, every failure a config error.
func (g *globals) loadConfig() (*config.Config, error) {
	path, err := config.Find(g.configFlag)
	if err != nil {
		return nil, configErr(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, configErr(err)
	}
	return cfg, nil
}

// run is the whole CLI; main only adds os.Exit. Tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	// Errors may quote a setting's value: a URL's credentials never show.
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "regsync: %s\n", secret.RedactURLs(ee.err.Error()))
		}
		return ee.code
	}
	// Anything cobra itself rejects (unknown command or flag, wrong
	// argument count) is a usage error.
	fmt.Fprintf(stderr, "regsync: %s\nRun 'regsync --help' for usage.\n", secret.RedactURLs(err.Error()))
	return exitUsage
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "regsync",
		Short: "Partner lead registration without a portal login",
		Long: `regsync validates partner lead registrations against the rules RevOps keeps in
YAML and keeps the Partner Registration records in HubSpot or Salesforce decided
and in step. The CRM stays the only source of truth.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.PersistentFlags().StringVar(&g.configFlag, "config", "",
		"configuration file (default $REGSYNC_CONFIG, then ./regsync.yaml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(newCheckConfig(g), newRules(g), newVersion(g), newServe(g), newSweep(g), newInbox(g),
		newSetup(g), newSandbox(g), newReport(g), newImport(g), newPartnerLink(g))
	return root
}

func newCheckConfig(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "check-config",
		Short: "Validate the configuration and print it with every default filled in",
		Long: `check-config validates the configuration file (strictly: an unknown or misspelt
key is an error) and prints the effective configuration, defaults included and
every secret shown as <secret> — credentials inside URLs too (user:<secret>@host,
?token=<secret>), in the configuration and in errors. Exit 0 when valid, 2 with
file:line when not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if !quiet {
				out, err := cfg.Effective()
				if err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				fmt.Fprintf(g.stdout, "# effective configuration of %s\n%s", secret.RedactURLs(cfg.File), out)
			}
			fmt.Fprintf(g.stderr, "%s: configuration is valid (%d partners, %d territories)\n",
				secret.RedactURLs(cfg.File), len(cfg.Partners), len(cfg.Rules.Territories))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only validate; print nothing on success but the summary")
	return cmd
}

func newRules(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Work with the registration rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "test FILE...",
		Short: "Run rule-test files: prove what the rules decide before a change ships",
		Long: `rules test runs YAML rule-test files (see docs/rules.md, "Rule tests"). Each case gives
a registration, the facts around it and the expected decision; only the keys
given under expect are compared.

Exit 0 when every case passes, 1 with a diff per failing case, 2 on a bad file.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := ruletest.Run(args, g.stdout); code != ruletest.ExitOK {
				return &exitError{code: code}
			}
			return nil
		},
	})
	return cmd
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(g.stdout, "regsync %s\n", versionString())
			return nil
		},
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
