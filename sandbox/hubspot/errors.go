package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is HubSpot's error body.
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
}

type errorDetail struct {
	Message     string              `json:"message"`
	Code        string              `json:"code,omitempty"`
	In          string              `json:"in,omitempty"`
	SubCategory string              `json:"subCategory,omitempty"`
	Context     map[string][]string `json:"context,omitempty"`
}

// httpError is a whole-request failure: a status and HubSpot's error body.
type httpError struct {
	status int
	body   apiError
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.body.Category, e.body.Message)
}

func newHTTPError(status int, category, msg string) *httpError {
	return &httpError{status: status, body: apiError{Message: msg, Category: category}}
}

func badRequest(format string, args ...any) *httpError {
	return newHTTPError(http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) *httpError {
	return newHTTPError(http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf(format, args...))
}

func writeHTTPError(w http.ResponseWriter, e *httpError) {
	writeErrorDetail(w, e.status, e.body)
}

// standardError is one failed input of a batch (a 207 answer's errors[]).
type standardError struct {
	Status      string              `json:"status"`
	Category    string              `json:"category"`
	SubCategory string              `json:"subCategory,omitempty"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context"`
	Errors      []errorDetail       `json:"errors"`
	Links       map[string]string   `json:"links"`
}

func newStandardError(category, message string, context map[string][]string) standardError {
	if context == nil {
		context = map[string][]string{}
	}
	return standardError{Status: "error", Category: category, Message: message, Context: context,
		Errors: []errorDetail{}, Links: map[string]string{}}
}

func writeError(w http.ResponseWriter, status int, category, message string) {
	writeJSON(w, status, apiError{Status: "error", Message: message, CorrelationID: newCorrelationID(), Category: category})
}

func writeErrorDetail(w http.ResponseWriter, status int, e apiError) {
	e.Status = "error"
	e.CorrelationID = newCorrelationID()
	writeJSON(w, status, e)
}

// rateLimitError is the body of a 429.
type rateLimitError struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	ErrorType     string `json:"errorType"`
	CorrelationID string `json:"correlationId"`
	PolicyName    string `json:"policyName"`
	RequestID     string `json:"requestId"`
}

// rateLimitMessages are HubSpot's 429 messages by policy.
var rateLimitMessages = map[string]string{
	"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
	"SECONDLY":             "You have reached your secondly limit.",
	"DAILY":                "You have reached your daily limit.",
}

func writeRateLimit(w http.ResponseWriter, policy string) {
	writeJSON(w, http.StatusTooManyRequests, rateLimitError{Status: "error", Message: rateLimitMessages[policy],
		ErrorType: "RATE_LIMIT", CorrelationID: newCorrelationID(), PolicyName: policy, RequestID: newCorrelationID()})
}

// valueError is one invalid property value, in HubSpot's words.
type valueError struct {
	Name    string
	Code    string // PROPERTY_DOESNT_EXIST, INVALID_OPTION, …
	Message string
}

// valueErrors is the 400 HubSpot answers for invalid property values: a
// message embedding the JSON list of failures, and errors[].
func (s *Server) valueErrors(errs []valueError) *httpError {
	type item struct {
		IsValid               bool   `json:"isValid"`
		Message               string `json:"message"`
		Error                 string `json:"error"`
		Name                  string `json:"name"`
		LocalizedErrorMessage string `json:"localizedErrorMessage"`
		PortalID              int    `json:"portalId"`
	}
	items := make([]item, len(errs))
	details := make([]errorDetail, len(errs))
	for i, e := range errs {
		items[i] = item{Message: e.Message, Error: e.Code, Name: e.Name, LocalizedErrorMessage: e.Message, PortalID: s.opts.PortalID}
		details[i] = errorDetail{Message: e.Message, Code: e.Code, Context: map[string][]string{"propertyName": {e.Name}}}
	}
	b, _ := json.Marshal(items)
	return &httpError{status: http.StatusBadRequest, body: apiError{Message: "Property values were not valid: " + string(b),
		Category: "VALIDATION_ERROR", Errors: details}}
}

func unknownPropertyError(name string) valueError {
	return valueError{Name: name, Code: "PROPERTY_DOESNT_EXIST", Message: fmt.Sprintf("Property %q does not exist", name)}
}

func unknownType(name string) *httpError {
	return badRequest("Unable to infer object type from: %s", name)
}

func tooMany(n, max int) *httpError {
	e := badRequest("Batch input size (%d) exceeds the maximum of %d inputs", n, max)
	e.body.Errors = []errorDetail{{Message: fmt.Sprintf("size must be between 1 and %d", max), In: "inputs"}}
	return e
}
