package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	gosf "github.com/k-capehart/go-salesforce/v3"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// The session: go-salesforce logs in and holds the access token and the
// instance URL; regsync serialises logins and logs in again once when a
// session expires (Client.do).

// session returns the logged-in library client and its generation.
func (c *Client) session(ctx context.Context) (*gosf.Salesforce, uint64, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sf != nil {
		return c.sf, c.gen, nil
	}
	if err := c.loginLocked(ctx); err != nil {
		return nil, 0, err
	}
	return c.sf, c.gen, nil
}

// relogin logs in again after gen's session was refused; when another
// goroutine already did, it returns at once.
func (c *Client) relogin(ctx context.Context, gen uint64) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sf != nil && c.gen != gen {
		return nil
	}
	if c.cfg.AuthFlow() == FlowAccessToken {
		return connectors.NewError("login", 0, connectors.ClassPermanent, "unauthorized",
			errors.New("the configured access_token expired or was revoked (a plain access token cannot be refreshed)"))
	}
	return c.loginLocked(ctx)
}

// loginLocked logs in with the configured flow (c.smu held). go-salesforce
// posts to the token endpoint with http.Post, which has no timeout, so the
// wait is bounded here; an abandoned attempt ends with its connection.
func (c *Client) loginLocked(ctx context.Context) error {
	creds := gosf.Creds{Domain: strings.TrimRight(c.cfg.Domain, "/")}
	switch c.cfg.AuthFlow() {
	case FlowAccessToken:
		creds.AccessToken = c.cfg.AccessToken.Reveal()
	case FlowJWT:
		creds.Username, creds.ConsumerKey, creds.ConsumerRSAPem = c.cfg.Username, c.cfg.ClientID, c.cfg.PrivateKey.Reveal()
	case FlowPassword:
		creds.Username, creds.Password, creds.SecurityToken = c.cfg.Username, c.cfg.Password.Reveal(), c.cfg.SecurityToken.Reveal()
		creds.ConsumerKey, creds.ConsumerSecret = c.cfg.ClientID, c.cfg.ClientSecret.Reveal()
	case FlowClientCredentials:
		creds.ConsumerKey, creds.ConsumerSecret = c.cfg.ClientID, c.cfg.ClientSecret.Reveal()
	}
	type result struct {
		sf  *gosf.Salesforce
		err error
	}
	done := make(chan result, 1)
	c.usage.Call("login")
	go func() {
		sf, err := gosf.Init(creds, gosf.WithRoundTripper(c.rt), gosf.WithHTTPTimeout(c.timeout), gosf.WithAPIVersion(c.cfg.APIVersion))
		done <- result{sf, err}
	}()
	t := time.NewTimer(c.cfg.Timeout)
	defer t.Stop()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		c.usage.Fail("network")
		// A login changes no record: retry.
		e := connectors.NewError("login", 0, connectors.ClassRetry, "network",
			fmt.Errorf("no answer from %s within %s", c.cfg.Domain, c.cfg.Timeout))
		e.After = waitBase
		return e
	}
	if r.err != nil {
		e := c.loginError(r.err)
		c.usage.Fail(e.Reason)
		return e
	}
	c.sf = r.sf
	c.gen++
	c.scrub.Add(r.sf.GetAccessToken())
	return nil
}

// loginError classifies go-salesforce's login errors, which are raw
// strings: "400 Bad Request: failed authentication" for a refused grant
// (the OAuth body is dropped), a network error, or an error body of the
// access-token check. A login changes no record, so what is not a refusal
// is retry.
func (c *Client) loginError(err error) *connectors.Error {
	msg := c.scrub.String(err.Error())
	e := &connectors.Error{Op: "login", Err: errors.New(crmhttp.Clip(msg, 400))}
	status := 0
	if f := strings.Fields(msg); len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 100 && n < 600 {
			status = n
		}
	}
	switch {
	case strings.Contains(msg, "failed authentication") && status >= 500:
		e.Status, e.Reason, e.After = status, "server_error", waitBase
		e.SetClass(connectors.ClassRetry)
	case strings.Contains(msg, "failed authentication"):
		e.Status, e.Reason = status, "unauthorized"
		e.SetClass(connectors.ClassPermanent)
		e.Err = fmt.Errorf("%s: the %s flow was refused by %s: check client_id, client_secret and the user's credentials", msg, c.cfg.AuthFlow(), c.cfg.Domain)
	case len(parseErrors([]byte(msg))) > 0:
		return c.classify("login", 0, parseErrors([]byte(msg)), false)
	default:
		var ue *url.Error
		if errors.As(err, &ue) || strings.Contains(msg, "connection refused") || strings.Contains(msg, "EOF") {
			e.Reason, e.After = "network", waitBase
			e.SetClass(connectors.ClassRetry)
		} else {
			e.Reason = "unauthorized"
			e.SetClass(connectors.ClassPermanent)
		}
	}
	return e
}
