package connect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/internal/secret"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
)

// sandboxAppID is the app id the sandbox signs webhooks as.
const sandboxAppID = 4242

// SandboxToken is the bearer token the embedded sandbox CRM accepts.
const SandboxToken = "sandbox-token"

// sandbox is the embedded fake HubSpot of crm.kind sandbox, served on
// crm.sandbox.addr, with its webhooks pointed at the daemon itself.
type sandbox struct {
	hs     *hubspotsandbox.Server
	faults *crmfault.Injector // crm.sandbox.faults, switched on after setup; nil: none
	srv    *http.Server
	done   chan struct{}
}

// startSandbox serves the fake HubSpot and returns the HubSpot client
// configuration that reaches it.
func startSandbox(_ context.Context, cfg *config.Config, public string, log *slog.Logger, now func() time.Time, out io.Writer) (*sandbox, hubspot.Config, error) {
	var seed fs.FS = hubspotsandbox.DefaultSeed
	if cfg.CRM.Sandbox.Seed != "" {
		if _, err := os.Stat(cfg.CRM.Sandbox.Seed); err != nil {
			return nil, hubspot.Config{}, fmt.Errorf("crm.sandbox.seed: %w", err)
		}
		seed = os.DirFS(cfg.CRM.Sandbox.Seed)
	}
	faults, err := sandboxFaults(cfg)
	if err != nil {
		return nil, hubspot.Config{}, err
	}
	hs, err := hubspotsandbox.New(hubspotsandbox.Options{
		Tokens: []string{SandboxToken}, Now: now, PerTenSeconds: cfg.CRM.Sandbox.PerTenSeconds,
		SearchLag: cfg.CRM.Sandbox.SearchLag,
		Seed:      seed, Logger: log.With("component", "sandbox-crm"),
	})
	if err != nil {
		return nil, hubspot.Config{}, fmt.Errorf("sandbox CRM: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.CRM.Sandbox.Addr)
	if err != nil {
		hs.Close()
		return nil, hubspot.Config{}, fmt.Errorf("sandbox CRM: listen on crm.sandbox.addr %s: %w", cfg.CRM.Sandbox.Addr, err)
	}
	sb := &sandbox{hs: hs, faults: faults, done: make(chan struct{}),
		srv: &http.Server{Handler: hs.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(sb.done)
		if err := sb.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("sandbox CRM stopped", "err", err)
		}
	}()
	var b [16]byte
	_, _ = rand.Read(b[:])
	clientSecret := hex.EncodeToString(b[:])
	if err := hs.Subscribe(hubspotsandbox.Subscription{URL: public + "/webhooks/hubspot", ClientSecret: clientSecret, AppID: sandboxAppID}); err != nil {
		sb.close()
		return nil, hubspot.Config{}, fmt.Errorf("sandbox CRM: subscribe webhooks: %w", err)
	}

	hcfg := cfg.HubSpot
	hcfg.BaseURL = "http://" + ln.Addr().String()
	hcfg.Token = secret.New(SandboxToken)
	hcfg.RefreshToken = secret.Secret{}
	hcfg.ClientSecret = secret.New(clientSecret)
	hcfg.AppID = strconv.Itoa(sandboxAppID)
	hcfg.PerTenSeconds = cfg.CRM.Sandbox.PerTenSeconds
	hcfg.PollSettle = cfg.SandboxPollSettle()
	fmt.Fprintf(out, "sandbox CRM: a fake HubSpot portal at %s (bearer token %q), webhooks to %s/webhooks/hubspot\n",
		hcfg.BaseURL, SandboxToken, public)
	fmt.Fprintf(out, "sandbox CRM: search lags writes by %s (crm.sandbox.search_lag), polls settle for %s\n",
		cfg.CRM.Sandbox.SearchLag, hcfg.PollSettle)
	if faults != nil {
		fmt.Fprintf(out, "sandbox CRM: faults %s (crm.sandbox.faults %q) once set up; seed %d (crm.sandbox.faults_seed: %d draws them again)\n",
			faults.Spec().Describe(), cfg.CRM.Sandbox.Faults, faults.Seed(), faults.Seed())
	}
	if hcfg.PollSettle < cfg.CRM.Sandbox.SearchLag {
		log.Warn("hubspot.poll_settle is shorter than crm.sandbox.search_lag: polling may step past records the sandbox's search has not indexed yet",
			"poll_settle", hcfg.PollSettle, "search_lag", cfg.CRM.Sandbox.SearchLag)
	}
	return sb, hcfg, nil
}

// setup creates the partner_registration object in the sandbox, as
// `regsync setup` does in a real portal.
func (s *sandbox) setup(ctx context.Context, c *hubspot.Client, out io.Writer) error {
	if _, err := c.Setup(ctx, io.Discard); err != nil {
		return fmt.Errorf("sandbox CRM: set up the partner_registration object: %w", err)
	}
	fmt.Fprintln(out, "sandbox CRM: partner_registration object ready")
	if s.faults != nil {
		s.hs.SetInjector(s.faults)
		fmt.Fprintln(out, "sandbox CRM: faults on")
	}
	return nil
}

// sandboxFaults is the injector of crm.sandbox.faults (nil when empty),
// seeded with crm.sandbox.faults_seed or, unset, from the clock.
func sandboxFaults(cfg *config.Config) (*crmfault.Injector, error) {
	sc := cfg.CRM.Sandbox
	if sc.Faults == "" {
		return nil, nil
	}
	sp, err := crmfault.Parse(sc.Faults)
	if err != nil {
		return nil, fmt.Errorf("crm.sandbox.faults: %w", err)
	}
	seed := sc.FaultsSeed
	if !cfg.IsSet("crm.sandbox.faults_seed") {
		seed = uint64(time.Now().UnixNano())
	}
	return crmfault.New(sp, seed, crmfault.Options{}), nil
}

func (s *sandbox) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	s.hs.Close()
}
