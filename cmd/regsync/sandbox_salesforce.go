package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/internal/crmfault"
	salesforcesandbox "github.com/regsync/regsync/sandbox/salesforce"
)

// sfSandbox are the flags of `regsync sandbox --crm salesforce`.
type sfSandbox struct {
	addr, clientID, clientSecret, seed, webhookURL, webhookSecret string
	bare                                                          bool
	faults                                                        *crmfault.Injector // --faults, or nil
}

// serveSalesforceSandbox serves a fake Salesforce org (sandbox/salesforce) on
// addr until ctx ends: seeded with Accounts and Opportunities (or the
// sObject tree files of --seed), with the Partner_Registration__c object in
// place (unless --bare), granting the client-credentials flow to
// --client-id / --client-secret (default sandbox / sandbox-secret). With
// --webhook-url it sends outbound messages for every change of a
// registration or an opportunity there, as a flow with an Outbound Message
// action would, the endpoint secret --webhook-secret (default
// sandbox-outbound-secret) in the URL's "secret" query parameter.
func serveSalesforceSandbox(ctx context.Context, g *globals, o sfSandbox) error {
	if o.clientID == "" {
		o.clientID = salesforcesandbox.DefaultClientID
	}
	if o.clientSecret == "" {
		o.clientSecret = salesforcesandbox.DefaultClientSecret
	}
	if o.webhookSecret == "" {
		o.webhookSecret = salesforcesandbox.DefaultWebhookSecret
	}
	if len(o.webhookSecret) < salesforce.MinWebhookSecretLen {
		return usageErr(fmt.Errorf("--webhook-secret: must be at least %d characters", salesforce.MinWebhookSecretLen))
	}
	opts := salesforcesandbox.Options{ClientID: o.clientID, ClientSecret: o.clientSecret, Bare: o.bare}
	if o.seed != "" {
		st, err := os.Stat(o.seed)
		if err != nil {
			return usageErr(fmt.Errorf("--seed: %w", err))
		}
		if !st.IsDir() {
			return usageErr(fmt.Errorf("--seed %s: not a directory of sObject tree files (sf data export tree)", o.seed))
		}
		opts.Seed = os.DirFS(o.seed)
	}
	if o.webhookURL != "" {
		u, err := url.Parse(o.webhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErr(fmt.Errorf("--webhook-url %q: want an http(s) URL such as http://127.0.0.1:8080/webhooks/salesforce", o.webhookURL))
		}
		// The endpoint secret goes in the URL, as an admin sets it in the
		// Outbound Message action.
		q := u.Query()
		q.Set("secret", o.webhookSecret)
		u.RawQuery = q.Encode()
		o.webhookURL = u.String()
	}
	sf, err := salesforcesandbox.New(opts)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	defer sf.Close()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("listen on --addr %s: %w", o.addr, err)}
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/calls", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"total": sf.TotalCalls(), "token": sf.AuthCalls(), "calls": sf.Calls()}
		if in := sf.Injector(); in != nil {
			body["faults"] = in.Counts()
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.Handle("/", sf.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	sf.SetURL(base) // the instance URL it hands out, and the outbound sender
	if o.webhookURL != "" {
		fields := []string{"Id", "SystemModstamp"}
		sf.SetOutbound(
			salesforcesandbox.OutboundMessage{Object: salesforcesandbox.RegistrationObject, URL: o.webhookURL, Fields: fields},
			salesforcesandbox.OutboundMessage{Object: "Opportunity", URL: o.webhookURL, Fields: fields},
		)
	}
	sf.SetInjector(o.faults)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	kind := "seeded with Accounts and Opportunities"
	if o.seed != "" {
		kind = "seeded from " + o.seed
	}
	if o.bare {
		kind += "; bare: no Partner_Registration__c object (run regsync setup against it)"
	} else {
		kind += ", with the Partner_Registration__c object"
	}
	fmt.Fprintf(g.stdout, `Salesforce sandbox at %s (%s)
client credentials: client_id %s, client_secret %s
organization id: %s
configuration:
  crm: {kind: salesforce}
  salesforce: {domain: %q, client_id: %q, client_secret: %q, organization_id: %s, webhook_secret: %q}
call counts: %s/sandbox/calls
`, base, kind, o.clientID, o.clientSecret, sf.OrganizationID(), base, o.clientID, o.clientSecret, sf.OrganizationID(), o.webhookSecret, base)
	if o.webhookURL != "" {
		fmt.Fprintf(g.stdout, "outbound messages: %s (registrations and opportunities)\n", o.webhookURL)
	}
	printFaults(g.stdout, o.faults)

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if serveErr != nil {
		return &exitError{code: exitFailure, err: serveErr}
	}
	return nil
}
