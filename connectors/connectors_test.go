package connectors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassOf(t *testing.T) {
	perm := NewError("batch update", 400, ClassPermanent, "invalid", errors.New("Property values were not valid"))
	retry := NewError("batch update", 0, ClassRetry, "locked", errors.New("UNABLE_TO_LOCK_ROW"))
	post := NewError("batch update", 429, ClassPostpone, "rate_limited", errors.New("TEN_SECONDLY_ROLLING"))
	post.After = 10 * time.Second
	unk := NewError("batch update", 502, ClassUnknown, "server_error", errors.New("Bad Gateway"))
	unk.After = time.Second
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ""},
		{"permanent", perm, ClassPermanent},
		{"retry", retry, ClassRetry},
		{"postpone", post, ClassPostpone},
		{"unknown", unk, ClassUnknown},
		{"wrapped", fmt.Errorf("hubspot: write 3 records: %w", perm), ClassPermanent},
		{"legacy retryable", &Error{Op: "x", Reason: "server_error", Retry: true}, ClassUnknown},
		{"legacy not retryable", &Error{Op: "x", Reason: "invalid"}, ClassPermanent},
		{"unclassified", errors.New("state: put plan: disk full"), ClassUnknown},
		{"cancelled", context.Canceled, ClassUnknown},
		{"deadline wrapped", fmt.Errorf("hubspot: batch update: %w", context.DeadlineExceeded), ClassUnknown},
		{"joined permanent", errors.Join(perm, perm), ClassPermanent},
		{"joined permanent and retry", errors.Join(perm, retry), ClassRetry},
		{"joined retry and postpone", errors.Join(retry, post), ClassPostpone},
		{"joined postpone and unknown", errors.Join(post, fmt.Errorf("x: %w", unk), perm), ClassUnknown},
		{"joined permanent and unclassified", errors.Join(perm, errors.New("boom")), ClassUnknown},
		{"two %w", fmt.Errorf("%w; %w", perm, retry), ClassRetry},
		{"wrapping an Error: the outer class wins", NewError("oauth", 0, ClassRetry, "network", unk), ClassRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassOf(tc.err); got != tc.want {
				t.Errorf("ClassOf = %q, want %q", got, tc.want)
			}
		})
	}
	if d := After(errors.Join(retry, post, unk)); d != 10*time.Second {
		t.Errorf("After = %s, want the longest, 10s", d)
	}
	if d := After(errors.New("x")); d != 0 {
		t.Errorf("After of an unclassified error = %s", d)
	}
}

func TestNewErrorKeepsRetryInStep(t *testing.T) {
	for _, c := range []Class{ClassRetry, ClassPostpone, ClassUnknown, ClassPermanent} {
		e := NewError("op", 0, c, "r", errors.New("x"))
		if e.Retry != c.Transient() || e.Class != c || !c.Valid() {
			t.Errorf("%s: Retry %v", c, e.Retry)
		}
		var f Error
		if f.SetClass(c); f.Retry != c.Transient() || f.Class != c {
			t.Errorf("SetClass(%s): %+v", c, f)
		}
	}
	if Class("").Valid() || Class("").Transient() || Class("maybe").Valid() {
		t.Error("only the four classes are valid")
	}
	// The error text is unchanged by the class.
	e := NewError("batch update", 400, ClassPermanent, "invalid", errors.New("Property values were not valid"))
	if got := e.Error(); got != "batch update: invalid (HTTP 400): Property values were not valid" {
		t.Errorf("Error() = %q", got)
	}
}
