package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// Rate-limit policies, as the limit transport records them on a response
// (in the internal header hdrPolicy) for CheckRetry and Backoff, which run
// after the body has been drained.
const (
	policyDaily    = "daily"    // 429 DAILY: no retry until the reset
	policyWindow   = "window"   // 429 TEN_SECONDLY_ROLLING (or an unnamed 429)
	policySecondly = "secondly" // 429 search "secondly limit"

	hdrPolicy  = "X-Regsync-Policy"
	hdrMessage = "X-Regsync-Message"
)

// Waits HubSpot documents or its SDKs use.
const (
	waitLocked    = 2 * time.Second  // 423: at least 2 s
	waitWindow    = 10 * time.Second // 429 TEN_SECONDLY_ROLLING without an interval header
	waitSecondly  = time.Second      // 429 search secondly limit
	waitMigration = 2 * time.Second  // 477 without Retry-After
	// waitBase and maxDelay are the shared backoff's first wait and cap.
	waitBase = crmhttp.WaitBase
	maxDelay = crmhttp.MaxWait
)

// errorBody is HubSpot's error answer (D-err, D-usage).
type errorBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	Category      string `json:"category"`
	ErrorType     string `json:"errorType"`
	PolicyName    string `json:"policyName"`
	CorrelationID string `json:"correlationId"`
	Errors        []struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"errors"`
}

// policyOf names the rate-limit policy of a 429 answer.
func policyOf(path string, body []byte) (string, errorBody) {
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	switch p := strings.ToUpper(eb.PolicyName); {
	case p == "DAILY":
		return policyDaily, eb
	case p == "TEN_SECONDLY_ROLLING":
		return policyWindow, eb
	case strings.Contains(p, "SECONDLY"), strings.Contains(strings.ToLower(eb.Message), "secondly limit"):
		return policySecondly, eb
	case strings.Contains(strings.ToLower(eb.Message), "daily limit"):
		return policyDaily, eb
	case strings.HasSuffix(path, "/search"):
		return policySecondly, eb
	}
	return policyWindow, eb
}

// annotate reads a failed response's body (bounded), puts it back, and
// records the rate-limit policy of a 429 in the internal header.
func annotate(resp *http.Response) (policy string, eb errorBody) {
	body := crmhttp.Peek(resp)
	if resp.StatusCode == http.StatusTooManyRequests {
		policy, eb = policyOf(resp.Request.URL.Path, body)
		resp.Header.Set(hdrPolicy, policy)
	} else {
		_ = json.Unmarshal(body, &eb)
	}
	return policy, eb
}

// checkRetry is the client's retryablehttp.CheckRetry: it retries network
// failures, 5xx (but 501 and 505), 423, 477 and 429s other than DAILY, and
// nothing else. An answer that asks for a longer wait than one call may
// spend between attempts (a 477 with Retry-After of hours) is not retried
// in the call: the caller gets it, with the wait in connectors.Error.After.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if done, retry, err := retrier.Check(ctx, resp, err); done {
		return retry, err
	}
	if !retryStatus(resp) {
		return false, nil
	}
	if waitFor(0, resp) > maxDelay {
		return false, nil
	}
	return true, nil
}

// retrier knows HubSpot's one final failure without an answer: a token
// refresh that failed has already retried what it could.
var retrier = crmhttp.Retrier{Final: func(err error) bool {
	var ae *authError
	return errors.As(err, &ae)
}}

func retryStatus(resp *http.Response) bool {
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		return resp.Header.Get(hdrPolicy) != policyDaily
	case s == http.StatusLocked, s == 477:
		return true
	}
	return crmhttp.ServerFault(resp.StatusCode)
}

// backoff returns how long to wait before retry attempt+1, capped at max.
func backoff(attempt int, resp *http.Response, max time.Duration) time.Duration {
	if max <= 0 {
		max = maxDelay
	}
	d := waitFor(attempt, resp)
	if d > max {
		d = max
	}
	if d < 0 {
		d = 0
	}
	return d
}

func waitFor(attempt int, resp *http.Response) time.Duration {
	exp := crmhttp.Exponential(attempt)
	if resp == nil {
		return exp // network failure
	}
	after, hasAfter := crmhttp.RetryAfter(resp.Header)
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		switch resp.Header.Get(hdrPolicy) {
		case policySecondly:
			return max(waitSecondly, after)
		default:
			if ms := crmhttp.HeaderInt(resp.Header, "X-HubSpot-RateLimit-Interval-Milliseconds", 0); ms > 0 {
				return max(time.Duration(ms)*time.Millisecond, after)
			}
			return max(waitWindow, after)
		}
	case s == http.StatusLocked:
		return max(waitLocked, after)
	case s == 477:
		if hasAfter {
			return after
		}
		return max(waitMigration, exp)
	}
	if hasAfter {
		return after
	}
	return exp
}

// classify turns a final non-2xx answer into a *connectors.Error. msg is
// HubSpot's message, already scrubbed of secrets and e-mail addresses.
// write says whether the request may change records: a 5xx then leaves the
// outcome unknown (HubSpot may have applied it before failing), where for
// a read it is simply retry. A DAILY 429 is postponed until the reset the
// client computes.
//
// The classes follow HubSpot's documented answers (docs/errors.md):
// https://developers.hubspot.com/docs/api-reference/error-handling (423,
// 429, 477, 502/504, 503, 521…) and, for 429 policies,
// https://developers.hubspot.com/docs/api/usage-details.
func classify(op string, resp *http.Response, msg string, write bool) *connectors.Error {
	e := &connectors.Error{Op: op, Status: resp.StatusCode}
	var class connectors.Class
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests && resp.Header.Get(hdrPolicy) == policyDaily:
		e.Reason, class = "daily_limit", connectors.ClassPostpone
	case s == http.StatusTooManyRequests:
		// TEN_SECONDLY_ROLLING, the search secondly limit: refused, not
		// applied; come back after the interval.
		e.Reason, class = "rate_limited", connectors.ClassPostpone
	case s == http.StatusLocked:
		// A lock of about 2 s while HubSpot syncs a large volume: nothing
		// was applied.
		e.Reason, class = "rate_limited", connectors.ClassRetry
	case s == 477:
		// Migration in progress: HubSpot says when, in Retry-After (up to
		// 24 h).
		e.Reason, class = "server_error", connectors.ClassPostpone
	case s == http.StatusUnauthorized:
		e.Reason, class = "unauthorized", connectors.ClassPermanent
	case s == http.StatusForbidden:
		e.Reason, class = "forbidden", connectors.ClassPermanent
	case s == http.StatusNotFound:
		e.Reason, class = "not_found", connectors.ClassPermanent
	case s == http.StatusConflict:
		e.Reason, class = "conflict", connectors.ClassPermanent
	case s == http.StatusNotImplemented, s == http.StatusHTTPVersionNotSupported:
		e.Reason, class = "server_error", connectors.ClassPermanent
	case s >= 500 && write:
		e.Reason, class = "server_error", connectors.ClassUnknown
	case s >= 500:
		e.Reason, class = "server_error", connectors.ClassRetry
	default:
		e.Reason, class = "invalid", connectors.ClassPermanent
	}
	e.SetClass(class)
	if e.Retry && e.Reason != "daily_limit" {
		// Not capped by MaxWait: the caller reschedules, it does not
		// sleep in a call.
		e.After = min(waitFor(0, resp), crmhttp.MaxRetryAfter)
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Err = errors.New(msg)
	return e
}

// errorMessage summarises an error body for an error value.
func errorMessage(eb errorBody) string {
	var b strings.Builder
	if eb.Category != "" {
		b.WriteString(eb.Category)
	}
	if eb.Message != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(eb.Message)
	}
	for i, e := range eb.Errors {
		if i == 3 {
			b.WriteString(" (and " + strconv.Itoa(len(eb.Errors)-3) + " more)")
			break
		}
		if e.Message != "" && e.Message != eb.Message {
			b.WriteString("; ")
			b.WriteString(e.Message)
		}
	}
	if eb.CorrelationID != "" {
		b.WriteString(" [correlationId ")
		b.WriteString(eb.CorrelationID)
		b.WriteString("]")
	}
	return crmhttp.Clip(b.String(), 600)
}
