package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
)

// authenticator hands out the bearer token: the private-app token as is, or
// an OAuth access token obtained from the refresh token and refreshed before
// it expires and after a 401 (once per 401; concurrent callers share one
// refresh).
type authenticator struct {
	c      *Client
	static string

	clientID, clientSecret string

	mu      sync.Mutex
	refresh string // the current refresh token (HubSpot may rotate it)
	access  string
	expires time.Time
	gen     uint64

	rmu sync.Mutex // one refresh at a time
}

// authError is a failure to obtain an access token.
type authError struct {
	reason string
	status int
	// class is the token call's (a read: retry, postpone or permanent);
	// the request that needed the token was never sent.
	class connectors.Class
	err   error
}

func (e *authError) Error() string { return "hubspot oauth: " + e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func newAuthenticator(c *Client, cfg Config) *authenticator {
	a := &authenticator{c: c}
	if cfg.RefreshToken.IsSet() {
		a.refresh = cfg.RefreshToken.Reveal()
		a.clientID = cfg.ClientID
		a.clientSecret = cfg.ClientSecret.Reveal()
	} else {
		a.static = cfg.Token.Reveal()
	}
	return a
}

func (a *authenticator) oauth() bool { return a.static == "" }

// refreshMargin is how long before its expiry an access token is renewed.
const refreshMargin = 60 * time.Second

// token returns a usable bearer token.
func (a *authenticator) token(ctx context.Context) (string, error) {
	if a.static != "" {
		return a.static, nil
	}
	a.mu.Lock()
	if a.access != "" && a.c.now().Before(a.expires) {
		t := a.access
		a.mu.Unlock()
		return t, nil
	}
	gen := a.gen
	a.mu.Unlock()
	return a.renew(ctx, gen)
}

// invalidate forgets tok after HubSpot refused it, unless a newer token
// replaced it already.
func (a *authenticator) invalidate(tok string) {
	if a.static != "" {
		return
	}
	a.mu.Lock()
	if a.access == tok {
		a.access = ""
	}
	a.mu.Unlock()
}

// refreshAfter401 makes sure a fresh token is at hand after a 401.
func (a *authenticator) refreshAfter401(ctx context.Context) error {
	_, err := a.token(ctx)
	if err != nil {
		return err
	}
	return nil
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// renew obtains a new access token unless another caller did so since gen.
func (a *authenticator) renew(ctx context.Context, gen uint64) (string, error) {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.mu.Lock()
	if a.gen != gen && a.access != "" && a.c.now().Before(a.expires) {
		t := a.access
		a.mu.Unlock()
		return t, nil
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {a.clientID},
		"client_secret": {a.clientSecret},
		"refresh_token": {a.refresh},
	}
	a.mu.Unlock()

	var ans tokenAnswer
	_, err := a.c.do(ctx, call{op: "oauth refresh", method: http.MethodPost, path: "/oauth/v1/token",
		form: form, out: &ans, noAuth: true})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		ae := &authError{reason: "unauthorized", class: connectors.ClassPermanent, err: err}
		var ce *connectors.Error
		if errors.As(err, &ce) {
			ae.status, ae.class = ce.Status, connectors.ClassOf(ce)
			if ae.class.Transient() {
				ae.reason = ce.Reason
			} else {
				ae.err = fmt.Errorf("HubSpot refused the OAuth refresh token (check hubspot.client_id, client_secret and refresh_token, or reinstall the app): %w", err)
			}
		}
		return "", ae
	}
	if ans.AccessToken == "" {
		return "", &authError{reason: "unauthorized", status: http.StatusOK, class: connectors.ClassPermanent,
			err: errors.New("HubSpot's token answer carries no access_token")}
	}
	a.c.scrub.Add(ans.AccessToken, ans.RefreshToken)
	life := time.Duration(ans.ExpiresIn) * time.Second
	if life <= 0 {
		life = 30 * time.Minute
	}
	a.mu.Lock()
	a.access = ans.AccessToken
	a.expires = a.c.now().Add(max(life-refreshMargin, life/2))
	if ans.RefreshToken != "" {
		a.refresh = ans.RefreshToken
	}
	a.gen++
	a.mu.Unlock()
	a.c.log.Debug("hubspot: obtained an OAuth access token", "expires_in", life)
	return ans.AccessToken, nil
}
