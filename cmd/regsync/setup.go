package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/internal/connect"
	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/internal/secret"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
	salesforcesandbox "github.com/regsync/regsync/sandbox/salesforce"
)

// setupper is a connector that can prepare its CRM.
type setupper interface {
	Setup(ctx context.Context, w io.Writer) (bool, error)
}

func newSetup(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Prepare the CRM: create or complete the Partner Registration object and its properties",
		Long: `setup prepares the CRM of crm.kind for regsync and prints what it did.

HubSpot: creates the partner_registration custom object (every property,
submission_key and case_number unique, the status enumeration, associations to
companies, contacts and deals) when it is missing, adds missing properties when
it exists, and changes nothing that is already right. Running it again changes
nothing and says so. With hubspot.object: deals it adds regsync's properties to
deals instead.

Salesforce: describes the objects (Partner_Registration__c, Opportunity, Account,
Task, FeedItem or Note) and reports every missing field, wrong type and lacking
permission of the integration user; it changes nothing (the REST API cannot
create metadata). Exit 1 when anything is missing: deploy the metadata package
in deploy/salesforce/ (sf project deploy start) and run setup again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			crm, err := connect.Open(cmd.Context(), cfg, connect.SandboxRefused, connect.Env{})
			if errors.Is(err, connect.ErrSandboxNeedsServe) {
				return &exitError{code: exitFailure, err: errors.New("crm.kind is sandbox: the sandbox sets itself up. " +
					"To try setup, run `regsync sandbox --bare` and point a config with crm.kind: hubspot and hubspot.base_url at it")}
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			s, ok := crm.CRM.(setupper)
			if !ok {
				return &exitError{code: exitFailure, err: fmt.Errorf("the %s connector has no setup", crm.Name())}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cfg.CRM.Kind == config.KindSalesforce {
				return setupSalesforce(ctx, g, s)
			}
			changed, err := s.Setup(ctx, g.stdout)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if !changed {
				fmt.Fprintln(g.stdout, "nothing to change: the CRM is already set up")
			}
			return nil
		},
	}
}

// setupSalesforce checks the org: the REST API cannot create metadata, so
// setup describes the objects and reports, field by field, what is missing
// or not permitted; exit 1 (with the deploy command) unless all is there.
func setupSalesforce(ctx context.Context, g *globals, s setupper) error {
	ready, err := s.Setup(ctx, g.stdout)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if !ready {
		return &exitError{code: exitFailure, err: fmt.Errorf("the Salesforce org lacks what regsync needs (listed above): "+
			"deploy the metadata package (%s), assign the Regsync_Integration permission set to the integration user, "+
			"and run regsync setup again", salesforce.DeployCommand)}
	}
	return nil
}

func newSandbox(g *globals) *cobra.Command {
	var (
		crmKind, addr, token, seed, webhookURL, clientSecret, clientID, faults, webhookSecret string
		bare                                                                                  bool
		searchLag                                                                             time.Duration
		faultsSeed                                                                            uint64
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a fake CRM (HubSpot or Salesforce) on a port, for local development",
		Long: `sandbox serves the protocol-faithful fake CRM that the tests and regsync serve's
embedded sandbox use, until SIGINT or SIGTERM. It prints its address and the
credentials it accepts.

--crm hubspot (default): a HubSpot portal, seeded with companies, contacts and
deals, with the partner_registration object already created — or, with --bare,
an empty portal with no custom object, as a new HubSpot account is (try
regsync setup against it). It accepts the bearer token --token. With
--webhook-url and --client-secret it sends signed v3 webhooks for every change.
GET /sandbox/calls shows the API calls it answered. Its search lags writes by
--search-lag (default 2s), as HubSpot's search index does: a new record is found
by search only that long after its creation, an updated one is found with its
previous values until that long after the update, while reads by id, batch
reads and lists see every write at once. --search-lag 0 makes search see every
write at once.

--crm salesforce: a Salesforce org seeded with Accounts and Opportunities (or,
with --seed, the sObject tree files of 'sf data export tree'), with the
Partner_Registration__c object in place (--bare: without it, as before the
metadata package is deployed). It grants the client-credentials flow to
--client-id / --client-secret (default sandbox / sandbox-secret) and prints the
salesforce: configuration that reaches it. With --webhook-url it sends outbound
messages (SOAP notifications) for every change of a registration or an
opportunity, as a flow with an Outbound Message action would, with the
endpoint secret --webhook-secret (default sandbox-outbound-secret, the printed
webhook_secret) added to the URL as ?secret=….
GET /sandbox/calls shows the API calls it answered.

` + sandboxFaultsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			inj, err := sandboxFaults(cmd, faults, faultsSeed)
			if err != nil {
				return err
			}
			switch crmKind {
			case "hubspot":
				if cmd.Flags().Changed("webhook-secret") {
					return usageErr(errors.New("--webhook-secret is for --crm salesforce (HubSpot signs its webhooks with --client-secret)"))
				}
				if searchLag < 0 || searchLag > maxSearchLag {
					return usageErr(fmt.Errorf("--search-lag %s: must be between 0 and 1m", searchLag))
				}
				return serveHubSpotSandbox(ctx, g, addr, token, seed, webhookURL, clientSecret, bare, searchLag, inj)
			case "salesforce":
				if cmd.Flags().Changed("search-lag") {
					return usageErr(errors.New("--search-lag is for --crm hubspot (the Salesforce sandbox's queries do not lag)"))
				}
				return serveSalesforceSandbox(ctx, g, sfSandbox{addr: addr, clientID: clientID, clientSecret: clientSecret,
					seed: seed, webhookURL: webhookURL, webhookSecret: webhookSecret, bare: bare, faults: inj})
			}
			return usageErr(fmt.Errorf("--crm %q: want hubspot or salesforce", crmKind))
		},
	}
	f := cmd.Flags()
	f.StringVar(&crmKind, "crm", "hubspot", "hubspot or salesforce")
	f.StringVar(&addr, "addr", "127.0.0.1:8081", "listen address")
	f.StringVar(&token, "token", connect.SandboxToken, "bearer token the HubSpot sandbox accepts")
	f.StringVar(&seed, "seed", "", "directory of seed JSON (HubSpot: its seed format; Salesforce: sObject tree files) (default: the seed shipped in the binary)")
	f.BoolVar(&bare, "bare", false, "without regsync's object (HubSpot: an empty portal without partner_registration; Salesforce: no Partner_Registration__c)")
	f.StringVar(&webhookURL, "webhook-url", "", "send change notifications to this URL (HubSpot: signed webhooks; Salesforce: outbound messages)")
	f.StringVar(&clientSecret, "client-secret", "", "HubSpot: the app secret that signs webhooks; Salesforce: the OAuth client secret (default sandbox-secret)")
	f.StringVar(&clientID, "client-id", "", "Salesforce: the OAuth client id (default sandbox)")
	f.StringVar(&webhookSecret, "webhook-secret", "", "Salesforce: the endpoint secret added to --webhook-url as ?secret= (default "+salesforcesandbox.DefaultWebhookSecret+")")
	f.DurationVar(&searchLag, "search-lag", 2*time.Second, "HubSpot: how long search takes to see a write (0 to 1m; 0: at once)")
	f.StringVar(&faults, "faults", "", "inject faults: "+crmfault.Syntax+", e.g. 0.2 (see above)")
	f.Uint64Var(&faultsSeed, "faults-seed", 0, "seed of the fault draws (default: from the clock, printed at start)")
	return cmd
}

// maxSearchLag bounds --search-lag, as config bounds crm.sandbox.search_lag.
const maxSearchLag = config.MaxSandboxSearchLag

func serveHubSpotSandbox(ctx context.Context, g *globals, addr, token, seed, webhookURL, clientSecret string, bare bool, searchLag time.Duration, faults *crmfault.Injector) error {
	if webhookURL != "" && clientSecret == "" {
		return usageErr(errors.New("--webhook-url needs --client-secret (webhooks are signed with it)"))
	}
	opts := hubspotsandbox.Options{Tokens: []string{token}, Bare: bare, SearchLag: searchLag}
	if !bare {
		opts.Seed = hubspotsandbox.DefaultSeed
		if seed != "" {
			opts.Seed = os.DirFS(seed)
		}
	}
	hs, err := hubspotsandbox.New(opts)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	defer hs.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	srv := &http.Server{Handler: hs.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	if !bare {
		cfg := hubspot.DefaultConfig()
		cfg.BaseURL, cfg.Token = base, secret.New(token)
		c, err := hubspot.New(cfg, hubspot.Options{})
		if err == nil {
			_, err = c.Setup(ctx, io.Discard)
		}
		if err != nil {
			_ = srv.Close()
			return &exitError{code: exitFailure, err: fmt.Errorf("create partner_registration in the sandbox: %w", err)}
		}
	}
	if webhookURL != "" {
		if err := hs.Subscribe(hubspotsandbox.Subscription{URL: webhookURL, ClientSecret: clientSecret}); err != nil {
			_ = srv.Close()
			return &exitError{code: exitFailure, err: err}
		}
	}
	// Faults start once the portal is set up, before anyone is told of it.
	hs.SetInjector(faults)
	kind := "seeded, with the partner_registration object"
	if bare {
		kind = "bare: no custom object (run regsync setup against it)"
	}
	fmt.Fprintf(g.stdout, "HubSpot sandbox at %s (%s)\nbearer token: %s\ncall counts: %s/sandbox/calls\n", base, kind, token, base)
	if searchLag > 0 {
		fmt.Fprintf(g.stdout, "search lag: %s (search finds a write %s after it, reads see it at once; --search-lag 0 for none)\n", searchLag, searchLag)
	} else {
		fmt.Fprintln(g.stdout, "search lag: none (search sees every write at once)")
	}
	if webhookURL != "" {
		fmt.Fprintf(g.stdout, "webhooks: %s (signed v3)\n", webhookURL)
	}
	printFaults(g.stdout, faults)
	select {
	case <-ctx.Done():
	case err := <-done:
		return &exitError{code: exitFailure, err: err}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
