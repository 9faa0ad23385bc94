package webform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
)

// provider is what differs between the siteverify-style captchas.
type provider struct {
	script  string   // the widget's script
	class   string   // the widget element's class
	field   string   // the form field the widget fills in
	origins []string // what the page's CSP must allow
}

var providers = map[string]provider{
	intake.CaptchaReCAPTCHA: {"https://www.google.com/recaptcha/api.js", "g-recaptcha", "g-recaptcha-response",
		[]string{"https://www.google.com", "https://www.gstatic.com"}},
	intake.CaptchaHCaptcha: {"https://js.hcaptcha.com/1/api.js", "h-captcha", "h-captcha-response",
		[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"}},
	intake.CaptchaTurnstile: {"https://challenges.cloudflare.com/turnstile/v0/api.js", "cf-turnstile", "cf-turnstile-response",
		[]string{"https://challenges.cloudflare.com"}},
}

// captcha verifies a widget's response with the provider's siteverify
// endpoint: a form POST of secret, response and remoteip, answered with
// JSON {"success": bool, "error-codes": [...]} — the same for reCAPTCHA,
// hCaptcha and Turnstile.
type captcha struct {
	cfg    intake.CaptchaConfig
	p      provider
	client *http.Client
}

func newCaptcha(cfg intake.CaptchaConfig, client *http.Client) *captcha {
	p, ok := providers[cfg.Provider]
	if !ok {
		return nil
	}
	if cfg.VerifyURL == "" {
		cfg.VerifyURL = intake.DefaultVerifyURL[cfg.Provider]
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if client == nil {
		client = &http.Client{}
	}
	return &captcha{cfg: cfg, p: p, client: client}
}

// errCaptchaUnavailable is a siteverify call that failed: not the
// submitter's fault, but nothing is registered unverified.
var errCaptchaUnavailable = errors.New("captcha check unavailable")

// verify returns nil for a solved captcha, a *intake.FieldError on
// "captcha" for a wrong or missing one, and errCaptchaUnavailable when the
// provider cannot be asked.
func (c *captcha) verify(ctx context.Context, response, remoteIP string) error {
	if strings.TrimSpace(response) == "" {
		return intake.Refuse("captcha", "complete the check that you are not a robot")
	}
	if len(response) > 4096 {
		return intake.Refuse("captcha", "the check could not be verified; please try it again")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	form := url.Values{"secret": {c.cfg.Secret.Reveal()}, "response": {response}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.VerifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", errCaptchaUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errCaptchaUnavailable, c.cfg.Provider, redactURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %d", errCaptchaUnavailable, c.cfg.Provider, resp.StatusCode)
	}
	var v struct {
		Success    bool     `json:"success"`
		ErrorCodes []string `json:"error-codes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v); err != nil {
		return fmt.Errorf("%w: %s: unreadable answer", errCaptchaUnavailable, c.cfg.Provider)
	}
	if !v.Success {
		for _, code := range v.ErrorCodes {
			switch code {
			case "missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch", "invalid-or-already-seen-response-secret":
				return fmt.Errorf("%w: %s rejects the configured secret (%s)", errCaptchaUnavailable, c.cfg.Provider, code)
			}
		}
		return intake.Refuse("captcha", "the check that you are not a robot failed; please try it again")
	}
	return nil
}

// redactURLError keeps an http.Client error free of query strings.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
