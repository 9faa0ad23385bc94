package intake

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// FieldError is bad input: what is wrong (Reason) with which field or part
// of the input (Field: a canonical field name, or a channel's own name for
// a part, such as "from", "captcha", "signature" or "file").
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Refuse returns a *FieldError.
func Refuse(field, reason string) *FieldError { return &FieldError{Field: field, Reason: reason} }

// FieldErrors lists the *FieldError values in err (an errors.Join tree or
// a single error); an error of another kind becomes one with no field.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, FieldErrors(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Reason: err.Error()}}
}

// ErrorBody is the JSON an intake endpoint answers bad input with.
type ErrorBody struct {
	Error  string        `json:"error"`
	Fields []*FieldError `json:"fields,omitempty"`
}

// WriteError answers with status and a JSON ErrorBody: a one-line summary
// and every field error in err.
func WriteError(w http.ResponseWriter, status int, err error) {
	fes := FieldErrors(err)
	msgs := make([]string, len(fes))
	for i, fe := range fes {
		msgs[i] = fe.Error()
	}
	body := ErrorBody{Error: strings.Join(msgs, "; "), Fields: fes}
	if body.Error == "" {
		body.Error = http.StatusText(status)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrTooLarge is returned (wrapped) when an upload exceeds its size bound.
var ErrTooLarge = errors.New("too large")

// StatusFor is the HTTP status for an intake error: 413 for ErrTooLarge
// and *http.MaxBytesError, 422 for *FieldError, else 500.
func StatusFor(err error) int {
	var mbe *http.MaxBytesError
	var fe *FieldError
	switch {
	case errors.Is(err, ErrTooLarge) || errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// ErrNotFound is what a Registrar's Lookup and Amend return (wrapped) for
// a case number no registration has. Channels answer it as "not found";
// any other error is a failure worth retrying.
var ErrNotFound = errors.New("registration not found")

// ErrNotAllowed is what a Registrar's Amend returns (wrapped), with a
// receipt of the registration as it stands, for a change its status does
// not allow: supplying fields to a registration that needs none,
// withdrawing a closed one, appealing one that was not declined.
var ErrNotAllowed = errors.New("not possible in the registration's current status")

// Refused is an amendment the program does not allow, with the reason in
// words for the partner (and whom to contact instead). It wraps
// ErrNotAllowed; channels show Message as it is.
type Refused struct {
	Message string
}

func (r *Refused) Error() string { return r.Message }

func (r *Refused) Unwrap() error { return ErrNotAllowed }
