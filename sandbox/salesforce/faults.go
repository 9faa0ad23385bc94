package salesforce

import (
	"fmt"
	"html"
	"io"
	"net/http"

	"github.com/regsync/regsync/internal/crmfault"
)

// faultHandler serves next behind the injector in force (SetInjector).
func (s *Server) faultHandler(next http.Handler) http.Handler {
	return s.FaultSwitch.Wrap(next, faultShapes{s}, faultRoute, s.ctx.Done())
}

// faultRoute: the token endpoint faults only with crmfault's Auth option.
func faultRoute(r *http.Request) crmfault.Route {
	if r.URL.Path == "/services/oauth2/token" {
		return crmfault.Auth
	}
	return crmfault.API
}

// faultShapes are Salesforce's answers to injected faults. Requests they
// answer are not in Calls or LimitRefusals: the injector counts them.
type faultShapes struct{ s *Server }

// RateLimited answers 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn
// Limit exceeded.", the limit Salesforce refuses a burst of requests with
// (the daily allocation, "TotalRequests Limit exceeded.", is the fake's own
// DailyLimit). The token endpoint and requests without a valid session
// are not refused so (they are served as usual).
//
// Verified with the search tool: "403 — The request has been refused …
// If the error code is REQUEST_LIMIT_EXCEEDED, you've exceeded API request
// limits in your org", in
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
// (read in a stored copy); "If the number of long running requests exceeds
// the limit, the API returns a REQUEST_LIMIT_EXCEEDED exception code", in
// https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html.
// Salesforce answers no 429 and no Retry-After on its REST API.
func (f faultShapes) RateLimited(w http.ResponseWriter, r *http.Request, _ crmfault.Fault) bool {
	s := f.s
	if faultRoute(r) == crmfault.Auth || !s.authorized(r) {
		return false
	}
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	w.Header().Set("Sforce-Limit-Info", s.countCall(false))
	writeErrors(w, http.StatusForbidden, "", "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
	return true
}

// ServerError answers 500 UNKNOWN_EXCEPTION or 503 SERVER_UNAVAILABLE in
// Salesforce's error JSON, or the HTML page of a 502 from Salesforce Edge
// or of a 503 maintenance.
//
// Verified with the search tool, in
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
// (read in a stored copy): "500 — An error has occurred within Lightning
// Platform, so the request couldn't be completed"; "502 — Salesforce Edge
// wasn't able to communicate successfully with the Salesforce instance";
// "503 — The server is unavailable to handle the request. Typically this
// issue occurs if the server is down for maintenance or is overloaded";
// errors as [{"message":…,"errorCode":…}].
func (f faultShapes) ServerError(w http.ResponseWriter, _ *http.Request, flt crmfault.Fault) {
	w.Header().Set("Date", f.s.now().UTC().Format(http.TimeFormat))
	switch flt.Pick % 4 {
	case 0:
		writeServerError(w, http.StatusInternalServerError, false)
	case 1:
		writeServerError(w, http.StatusServiceUnavailable, false)
	case 2:
		writeServerError(w, http.StatusBadGateway, true)
	default:
		writeServerError(w, http.StatusServiceUnavailable, true)
	}
}

// writeServerError writes a 5xx: Salesforce's error JSON, or the HTML page
// a load balancer or Salesforce Edge sends.
func writeServerError(w http.ResponseWriter, status int, asHTML bool) {
	if asHTML {
		title, heading := http.StatusText(status), http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			heading = "Maintenance"
		}
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, fmt.Sprintf("<html><head><title>%s</title></head><body><h1>%s</h1></body></html>",
			html.EscapeString(title), html.EscapeString(heading)))
		return
	}
	code, msg := "SERVER_UNAVAILABLE", "Server is temporarily unavailable; please retry"
	if status == http.StatusInternalServerError {
		code, msg = "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)"
	}
	writeErrors(w, status, "", code, msg)
}
