// Package connect builds the CRM connector of crm.kind — HubSpot,
// Salesforce, or the sandbox CRM (a fake HubSpot portal that lives inside
// `regsync serve`) — and says what the rest of regsync must know of the
// kind. It is the one place crm.kind is switched on.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/internal/secret"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
)

// Conn is the configured CRM: the connector, and what the rest of
// regsync must know of its kind.
type Conn struct {
	connectors.CRM
	// Object names the registrations in events and inbox keys; the
	// deals are DealObject on both CRMs.
	Object string
	// Webhooks: the CRM calls the daemon back (false for Salesforce
	// polling alone: no endpoint to forge messages to).
	Webhooks bool
	// PollInterval is its change-feed poll interval in a configuration
	// (hubspot.poll_interval, salesforce.poll_interval: a reload applies).
	PollInterval func(*config.Config) time.Duration
	sandbox      *sandbox // the embedded sandbox CRM of serve
}

// Sandbox is how a command reaches crm.kind sandbox, which lives inside
// serve.
type Sandbox int

const (
	SandboxRefused  Sandbox = iota // say ErrSandboxNeedsServe
	SandboxEmbedded                // serve: start the embedded sandbox CRM
	SandboxRemote                  // reach the sandbox of a running serve
)

// Env is what a connector is built with.
type Env struct {
	Logger *slog.Logger
	Now    func() time.Time
	Public string    // the daemon's public URL (the embedded sandbox's webhooks go there)
	Out    io.Writer // what a human starting serve reads (the embedded sandbox's address and token)
}

// ErrSandboxNeedsServe is returned by Connect for crm.kind sandbox: the
// sandbox CRM lives inside `regsync serve`.
var ErrSandboxNeedsServe = errors.New("crm.kind is sandbox: the sandbox CRM lives inside `regsync serve` — start it first (or run `regsync sandbox` and point hubspot.base_url at it with crm.kind: hubspot)")

// ErrNoSandbox is returned by ConnectReader for crm.kind sandbox when no
// sandbox CRM answers at crm.sandbox.addr.
var ErrNoSandbox = errors.New("crm.kind is sandbox and no sandbox CRM answers at crm.sandbox.addr: " +
	"start `regsync serve` with this configuration first (the sandbox CRM lives inside it)")

// Open builds the connector of crm.kind. Only kind sandbox with
// SandboxRemote or SandboxEmbedded makes a network call.
func Open(ctx context.Context, cfg *config.Config, use Sandbox, env Env) (*Conn, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Out == nil {
		env.Out = io.Discard
	}
	hubspotConn := func(hcfg hubspot.Config) (*Conn, *hubspot.Client, error) {
		c, err := hubspot.New(hcfg, hubspot.Options{Logger: env.Logger.With("connector", "hubspot"), Now: env.Now})
		if err != nil {
			return nil, nil, err
		}
		return &Conn{CRM: c, Object: hcfg.Object, Webhooks: true,
			PollInterval: func(cfg *config.Config) time.Duration { return cfg.HubSpot.PollInterval }}, c, nil
	}
	switch cfg.CRM.Kind {
	case config.KindHubSpot:
		conn, _, err := hubspotConn(cfg.HubSpot)
		return conn, err
	case config.KindSalesforce:
		// It makes no call: the first one logs in. Its events name
		// registrations salesforce.EventRegistration and deals "deals", as
		// HubSpot's do, so inbox keys and the worker are the same on both.
		c, err := salesforce.New(cfg.Salesforce, salesforce.Options{Logger: env.Logger.With("connector", "salesforce"), Now: env.Now})
		if err != nil {
			return nil, err
		}
		return &Conn{CRM: c, Object: salesforce.EventRegistration, Webhooks: cfg.Salesforce.OutboundMessages,
			PollInterval: func(cfg *config.Config) time.Duration { return cfg.Salesforce.PollInterval }}, nil
	case config.KindSandbox:
		switch use {
		case SandboxEmbedded:
			sb, hcfg, err := startSandbox(ctx, cfg, env.Public, env.Logger, env.Now, env.Out)
			if err != nil {
				return nil, err
			}
			conn, c, err := hubspotConn(hcfg)
			if err == nil {
				err = sb.setup(ctx, c, env.Out)
			}
			if err != nil {
				sb.close()
				return nil, err
			}
			conn.sandbox = sb
			return conn, nil
		case SandboxRemote:
			hcfg := cfg.HubSpot
			hcfg.BaseURL = "http://" + cfg.CRM.Sandbox.Addr
			hcfg.Token = secret.New(SandboxToken)
			hcfg.RefreshToken = secret.Secret{}
			hcfg.PerTenSeconds = cfg.CRM.Sandbox.PerTenSeconds
			hcfg.PollSettle = cfg.SandboxPollSettle()
			conn, _, err := hubspotConn(hcfg)
			if err != nil {
				return nil, err
			}
			if err := pingSandbox(ctx, conn, cfg.CRM.Sandbox.Addr); err != nil {
				return nil, err
			}
			return conn, nil
		}
		return nil, ErrSandboxNeedsServe
	}
	return nil, fmt.Errorf("crm.kind %q is not supported", cfg.CRM.Kind)
}

// pingSandbox checks that the sandbox CRM of a running serve answers (one
// cheap call), so that "start serve first" is said plainly rather than as
// a connection error halfway through.
func pingSandbox(ctx context.Context, c connectors.CRM, addr string) error {
	// Nothing listening is said at once, not after the client's retries.
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w (http://%s: %v)", ErrNoSandbox, addr, err)
	}
	_ = conn.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		return fmt.Errorf("%w (http://%s: %v)", ErrNoSandbox, addr, err)
	}
	return nil
}

// Sandbox is the embedded fake HubSpot of SandboxEmbedded (nil
// otherwise).
func (c *Conn) Sandbox() *hubspotsandbox.Server {
	if c.sandbox == nil {
		return nil
	}
	return c.sandbox.hs
}

// Close stops the embedded sandbox CRM, if any.
func (c *Conn) Close() {
	if c.sandbox != nil {
		c.sandbox.close()
	}
}
