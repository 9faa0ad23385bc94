package hubspot

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/regsync/regsync/internal/crmfault"
)

// faultHandler serves next behind the injector in force (SetInjector).
func (s *Server) faultHandler(next http.Handler) http.Handler {
	return s.FaultSwitch.Wrap(next, faultShapes{s}, faultRoute, s.ctx.Done())
}

// faultRoute exempts the fake's own /sandbox/calls; the OAuth endpoints
// fault only with crmfault.Options.Auth.
func faultRoute(r *http.Request) crmfault.Route {
	switch {
	case r.URL.Path == "/sandbox/calls":
		return crmfault.Exempt
	case strings.HasPrefix(r.URL.Path, "/oauth/"):
		return crmfault.Auth
	}
	return crmfault.API
}

// faultShapes are HubSpot's answers to injected faults. Requests they
// answer are not in Calls: the injector counts them.
type faultShapes struct{ s *Server }

// RateLimited answers 429 as HubSpot does when the ten-second rolling
// window (or, for a search, the per-second search limit) is full: the body
// with errorType RATE_LIMIT and policyName, the X-HubSpot-RateLimit-*
// headers with nothing remaining, and Retry-After until the window's oldest
// call leaves it. Unauthenticated API requests are not rate-limited (they
// get their 401).
//
// Verified with the search tool: the 429 body ("status", "message",
// "errorType": "RATE_LIMIT", "correlationId", "policyName", "requestId";
// "The message and policyName will indicate which limit you hit") of
// https://developers.hubspot.com/docs/api/usage-details, as quoted in
// https://community.hubspot.com/t5/APIs-Integrations/Hubspot-User-experience/m-p/511719;
// the rate-limit headers in
// https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses;
// 429 "when your account or app is over its API rate limits" in the API
// FAQ (https://developers.hubspot.com/docs/api/faq, read in a stored copy).
// Retry-After in seconds on 429s is reported, not shown in those pages:
// https://github.com/PostHog/posthog/pull/64726.
func (f faultShapes) RateLimited(w http.ResponseWriter, r *http.Request, _ crmfault.Fault) bool {
	s := f.s
	policy := "TEN_SECONDLY_ROLLING"
	if faultRoute(r) == crmfault.Auth {
		w.Header().Set("Retry-After", "1")
		writeRateLimit(w, policy)
		return true
	}
	if ok, _ := s.authorized(r); !ok {
		return false
	}
	_, pattern := s.mux.Handler(r)
	search := strings.HasSuffix(pattern, "/search")
	if search {
		policy = "SECONDLY"
	}
	s.cmu.Lock()
	now := s.limNow()
	lim := s.limits.peek(now, s.opts)
	after := s.limits.retryAfter(now, search)
	s.cmu.Unlock()
	if !search {
		lim.tenRemaining = 0
		lim.setHeaders(w.Header(), s.opts)
	}
	w.Header().Set("Retry-After", strconv.Itoa(after))
	writeRateLimit(w, policy)
	return true
}

// ServerError answers 502, 503 or 504 with HubSpot's error body.
//
// Verified with the search tool: "502/504 timeouts - HubSpot has
// processing limits in place to prevent a single client from causing
// degraded performance … If you get one of these responses, you should
// pause your requests for a few seconds, then retry", and the error body
// {"status":"error","message":…,"category":…,"correlationId":…}, in the
// API FAQ (https://developers.hubspot.com/docs/api/faq, read in a stored
// copy), whose successor is
// https://developers.hubspot.com/docs/api-reference/error-handling.
func (faultShapes) ServerError(w http.ResponseWriter, _ *http.Request, f crmfault.Fault) {
	writeServerError(w, []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}[f.Pick%3])
}

// writeServerError is an injected 5xx in HubSpot's error body.
func writeServerError(w http.ResponseWriter, status int) {
	writeError(w, status, "INTERNAL_ERROR", "HTTP "+strconv.Itoa(status)+": injected fault, please retry")
}
