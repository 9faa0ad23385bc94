package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// The observing transport records a failed answer's first errorCode and
// message in these internal headers, so that CheckRetry and Backoff (which
// run after the body may have been drained) can classify it.
const (
	hdrCode    = "X-Regsync-Sf-Code"
	hdrMessage = "X-Regsync-Sf-Message"
)

// Waits.
const (
	// waitBase and maxDelay are the shared backoff's first wait and cap.
	waitBase       = crmhttp.WaitBase
	maxDelay       = crmhttp.MaxWait
	waitConcurrent = 2 * time.Second // REQUEST_LIMIT_EXCEEDED for concurrent long requests
	waitLock       = time.Second     // UNABLE_TO_LOCK_ROW
	// limitPause is how long writes stop after the daily allocation ran
	// out; the first call after it probes whether the rolling window freed.
	limitPause = 15 * time.Minute
)

// sfError is one entry of Salesforce's REST error array, or of a
// collection result's errors (which say statusCode instead of errorCode).
type sfError struct {
	Message    string   `json:"message"`
	ErrorCode  string   `json:"errorCode"`
	StatusCode string   `json:"statusCode"`
	Fields     []string `json:"fields"`
}

func (e sfError) code() string {
	if e.ErrorCode != "" {
		return e.ErrorCode
	}
	return e.StatusCode
}

// parseErrors reads an error body: Salesforce's [{message, errorCode,
// fields}], an OAuth {error, error_description}, or anything else (an HTML
// page from a load balancer), which yields no entries.
func parseErrors(body []byte) []sfError {
	var list []sfError
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		return list
	}
	var one sfError
	if json.Unmarshal(body, &one) == nil && one.code() != "" {
		return []sfError{one}
	}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oauth) == nil && oauth.Error != "" {
		return []sfError{{ErrorCode: strings.ToUpper(oauth.Error), Message: oauth.Description}}
	}
	return nil
}

// annotate reads a failed answer's body (bounded), puts it back and
// records its first error code and message in the internal headers.
func annotate(resp *http.Response) []sfError {
	errs := parseErrors(crmhttp.Peek(resp))
	if len(errs) > 0 {
		resp.Header.Set(hdrCode, errs[0].code())
		resp.Header.Set(hdrMessage, crmhttp.Clip(errs[0].Message, 200))
	}
	return errs
}

// isConcurrentLimit reports whether a REQUEST_LIMIT_EXCEEDED is about
// concurrent long-running requests (it passes in seconds), not the daily
// allocation.
func isConcurrentLimit(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "concurrent")
}

// checkRetry is the retryablehttp.CheckRetry of the client: network
// failures, 5xx (but 501 and 505), 429, UNABLE_TO_LOCK_ROW and the
// concurrent-request limit are retried; nothing else (an expired session is
// handled above, by logging in again once).
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if done, retry, err := (crmhttp.Retrier{}).Check(ctx, resp, err); done {
		return retry, err
	}
	return retryStatus(resp.StatusCode, resp.Header.Get(hdrCode), resp.Header.Get(hdrMessage)), nil
}

// retryStatus decides from the status and Salesforce's error code whether
// the HTTP client retries within the call. A write answered 5xx is retried
// too (its writes are idempotent: updates by id and upserts on an external
// id); the call remembers that an attempt may have been applied
// (httpfault.Attempts), so a final failure is then unknown.
func retryStatus(status int, code, msg string) bool {
	switch {
	case code == "REQUEST_LIMIT_EXCEEDED":
		return isConcurrentLimit(msg)
	case code == "UNABLE_TO_LOCK_ROW", code == "QUERY_TIMEOUT", code == "SERVER_UNAVAILABLE":
		return true
	case status == http.StatusTooManyRequests:
		return true
	}
	return crmhttp.ServerFault(status)
}

// backoff returns how long to wait before retry attempt+1, capped.
func backoff(attempt int, resp *http.Response) time.Duration {
	d := crmhttp.Exponential(attempt)
	if resp != nil {
		switch resp.Header.Get(hdrCode) {
		case "REQUEST_LIMIT_EXCEEDED":
			d = max(d, waitConcurrent)
		case "UNABLE_TO_LOCK_ROW":
			d = max(d, waitLock)
		}
		if after, ok := crmhttp.RetryAfter(resp.Header); ok {
			d = after
		}
	}
	return min(max(d, 0), maxDelay)
}

// reasonOf classifies a Salesforce error code (an errorCode of a REST
// error, a statusCode of a per-record error): a short reason (a metric
// label) and its class. ok is false for codes it does not know, which are
// classified by HTTP status. docs/errors.md has the table and the
// documentation each line rests on:
//   - status codes and error bodies:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
//   - ExceptionCode and StatusCode values:
//     https://developer.salesforce.com/docs/atlas.en-us.244.0.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
//   - REQUEST_LIMIT_EXCEEDED, daily and concurrent:
//     https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html
func reasonOf(code, msg string) (reason string, class connectors.Class, ok bool) {
	switch code {
	case "REQUEST_LIMIT_EXCEEDED":
		if isConcurrentLimit(msg) {
			return "rate_limited", connectors.ClassPostpone, true
		}
		return "daily_limit", connectors.ClassPostpone, true
	case "UNABLE_TO_LOCK_ROW":
		// The DML could not lock the row (another transaction held it
		// past Salesforce's 10 s wait) and nothing was saved:
		// https://developer.salesforce.com/docs/atlas.en-us.234.0.apexcode.meta/pages/langCon_apex_locking_statements.htm
		return "locked", connectors.ClassRetry, true
	case "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "QUERY_TIMEOUT":
		// Retry for a read and for a record of a batch (its DML was rolled
		// back); a whole write answered 5xx is unknown (classify).
		return "server_error", connectors.ClassRetry, true
	case "ALL_OR_NONE_OPERATION_ROLLED_BACK", "PROCESSING_HALTED":
		// Rolled back because another record failed: nothing was saved.
		return "rolled_back", connectors.ClassRetry, true
	case "INVALID_QUERY_LOCATOR":
		// A query cursor expired between pages: the query runs again.
		return "query_expired", connectors.ClassRetry, true
	case "INVALID_SESSION_ID", "INVALID_AUTH_HEADER", "INVALID_GRANT", "INVALID_CLIENT", "INVALID_CLIENT_ID":
		// Seen only after logging in again once (Client.do).
		return "unauthorized", connectors.ClassPermanent, true
	case "DUPLICATES_DETECTED":
		// The org's duplicate rules block the record.
		return "duplicate", connectors.ClassPermanent, true
	case "DUPLICATE_VALUE", "DUPLICATE_EXTERNAL_ID":
		// A unique field's value is held by another record (or an external
		// id matches several). A create of a case number that exists is
		// looked up and reported as existing, in Write (create); what is
		// left is a conflict of data.
		return "duplicate_value", connectors.ClassPermanent, true
	case "ENTITY_IS_DELETED":
		return "deleted", connectors.ClassPermanent, true
	case "CANNOT_UPDATE_CONVERTED_LEAD", "CONVERTED_LEAD":
		return "converted", connectors.ClassPermanent, true
	case "ENTITY_IS_LOCKED":
		// Locked by an approval process until an admin unlocks it: not a
		// row lock that passes by itself.
		return "record_locked", connectors.ClassPermanent, true
	case "INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE", "INVALID_TYPE", "INSUFFICIENT_ACCESS_OR_READONLY",
		"INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "INSUFFICIENT_ACCESS", "INVALID_TYPE_FOR_OPERATION":
		return "field_access", connectors.ClassPermanent, true
	case "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY", "INVALID_ID_FIELD", "MALFORMED_ID":
		return "not_found", connectors.ClassPermanent, true
	case "FIELD_CUSTOM_VALIDATION_EXCEPTION":
		return "validation", connectors.ClassPermanent, true
	case "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED", "FUNCTIONALITY_NOT_ENABLED":
		return "forbidden", connectors.ClassPermanent, true
	case "STORAGE_LIMIT_EXCEEDED":
		// Needs an admin to free storage; retrying every record until then
		// would spend the API allocation for nothing.
		return "storage_limit", connectors.ClassPermanent, true
	case "MALFORMED_QUERY", "INVALID_QUERY_FILTER_OPERATOR", "JSON_PARSER_ERROR", "REQUIRED_FIELD_MISSING", "STRING_TOO_LONG",
		"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "FIELD_INTEGRITY_EXCEPTION", "NUMBER_OUTSIDE_VALID_RANGE",
		"INVALID_EMAIL_ADDRESS", "MISSING_ARGUMENT", "EXCEEDED_ID_LIMIT", "INVALID_BATCH_REQUEST":
		return "invalid", connectors.ClassPermanent, true
	}
	return "", "", false
}

// reasonOfStatus classifies by HTTP status alone. A 5xx is retry for a
// read and unknown for a write, which Salesforce may have applied before
// it failed; 501 and 505 refuse the request as such.
func reasonOfStatus(status int, write bool) (string, connectors.Class) {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limited", connectors.ClassPostpone
	case status == http.StatusUnauthorized:
		return "unauthorized", connectors.ClassPermanent
	case status == http.StatusForbidden:
		return "forbidden", connectors.ClassPermanent
	case status == http.StatusNotFound:
		return "not_found", connectors.ClassPermanent
	case status == http.StatusMultipleChoices, status == http.StatusConflict:
		// 300: an external id matches several records.
		return "conflict", connectors.ClassPermanent
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		return "server_error", connectors.ClassPermanent
	case status >= 500 && write:
		return "server_error", connectors.ClassUnknown
	case status >= 500:
		return "server_error", connectors.ClassRetry
	}
	return "invalid", connectors.ClassPermanent
}

// classify turns a failed answer into a *connectors.Error. write says
// whether the request may change records: then any 5xx is an unknown
// outcome, whatever its error code (Salesforce may have saved records
// before it failed).
func (c *Client) classify(op string, status int, errs []sfError, write bool) *connectors.Error {
	e := &connectors.Error{Op: op, Status: status}
	var code, msg string
	if len(errs) > 0 {
		code, msg = errs[0].code(), errs[0].Message
	}
	var class connectors.Class
	if r, cl, ok := reasonOf(code, msg); ok {
		e.Reason, class = r, cl
	} else {
		e.Reason, class = reasonOfStatus(status, write)
	}
	if write && crmhttp.ServerFault(status) {
		class = connectors.ClassUnknown
	}
	e.SetClass(class)
	switch e.Reason {
	case "daily_limit":
		e.After = limitPause
	case "rate_limited":
		e.After = waitConcurrent
	case "locked":
		e.After = waitLock
	case "server_error", "rolled_back":
		if e.Retry {
			e.After = waitBase
		}
	}
	e.Err = errors.New(c.describeErrors(status, errs))
	return e
}

// recordError classifies a per-record error of a collection answer.
// The record's own answer is definite: it was not saved (with
// allOrNone=false each record stands alone), so its class is never
// unknown; a code regsync does not know is permanent, like the REST
// answer of a refused request.
// https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html
func (c *Client) recordError(op string, errs []sfError) *connectors.Error {
	e := c.classify(op, 0, errs, false)
	if e.Reason == "invalid" && len(errs) == 0 {
		e.Err = errors.New("failed without an error")
	}
	return e
}

// describeErrors summarises error entries for an error value: codes,
// messages and fields, scrubbed of secrets and e-mail addresses.
func (c *Client) describeErrors(status int, errs []sfError) string {
	if len(errs) == 0 {
		if status == 0 {
			return "no error detail"
		}
		return http.StatusText(status)
	}
	var b strings.Builder
	for i, e := range errs {
		if i == 3 {
			fmt.Fprintf(&b, " (and %d more)", len(errs)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.code())
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
		if len(e.Fields) > 0 {
			b.WriteString(" [")
			b.WriteString(strings.Join(e.Fields, ", "))
			b.WriteString("]")
		}
	}
	return c.scrub.String(crmhttp.Clip(b.String(), 600))
}
