package registration

import (
	"errors"
	"fmt"
)

// Status is where a registration stands. Its values are written to the CRM's
// status field verbatim and are a stable contract.
type Status string

// Statuses.
const (
	StatusNone          Status = "" // not yet in the CRM
	StatusSubmitted     Status = "submitted"
	StatusInReview      Status = "in_review"
	StatusNeedsInfo     Status = "needs_info"
	StatusApproved      Status = "approved"
	StatusMeetingBooked Status = "meeting_booked"
	StatusConverted     Status = "converted"
	StatusExpired       Status = "expired"
	StatusDeclined      Status = "declined"
	StatusAppealed      Status = "appealed"
	StatusWon           Status = "won"
	StatusLost          Status = "lost"
	StatusWithdrawn     Status = "withdrawn"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{
	StatusSubmitted, StatusInReview, StatusNeedsInfo, StatusApproved, StatusMeetingBooked,
	StatusConverted, StatusExpired, StatusDeclined, StatusAppealed, StatusWon, StatusLost,
	StatusWithdrawn,
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Code is the status's position in Statuses plus one: 1 for submitted up to
// 12 for withdrawn, and 0 for StatusNone or any text that is not a status.
// Hot loops switch on it (see Record.StatusCode) rather than on strings.
func (s Status) Code() uint8 {
	// By length first: constant comparisons of known length compile to a
	// few integer compares.
	switch len(s) {
	case 3:
		if s == StatusWon {
			return 10
		}
	case 4:
		if s == StatusLost {
			return 11
		}
	case 7:
		if s == StatusExpired {
			return 7
		}
	case 8:
		switch s {
		case StatusApproved:
			return 4
		case StatusDeclined:
			return 8
		case StatusAppealed:
			return 9
		}
	case 9:
		switch s {
		case StatusSubmitted:
			return 1
		case StatusInReview:
			return 2
		case StatusConverted:
			return 6
		case StatusWithdrawn:
			return 12
		}
	case 10:
		if s == StatusNeedsInfo {
			return 3
		}
	case 14:
		if s == StatusMeetingBooked {
			return 5
		}
	}
	return 0
}

// Active reports whether a registration in this status still claims its
// company: submitted, in_review, needs_info, approved, meeting_booked or
// appealed. These are also the "open" statuses that may be withdrawn.
func (s Status) Active() bool {
	// Compared by length first: matching runs this for thousands of
	// registrations per decision, and constant comparisons of known length
	// compile to a few integer compares.
	switch len(s) {
	case 8:
		return s == StatusApproved || s == StatusAppealed
	case 9:
		return s == StatusSubmitted || s == StatusInReview
	case 10:
		return s == StatusNeedsInfo
	case 14:
		return s == StatusMeetingBooked
	}
	return false
}

// Pending reports whether the registration awaits a decision (by the rules,
// an AE or the partner): submitted, in_review, needs_info or appealed.
func (s Status) Pending() bool {
	switch len(s) {
	case 8:
		return s == StatusAppealed
	case 9:
		return s == StatusSubmitted || s == StatusInReview
	case 10:
		return s == StatusNeedsInfo
	}
	return false
}

// Waiting reports whether we owe the partner an answer, so an SLA runs:
// submitted, in_review or appealed.
func (s Status) Waiting() bool {
	switch s {
	case StatusSubmitted, StatusInReview, StatusAppealed:
		return true
	}
	return false
}

// Protected reports whether the registration currently holds protection on
// its company (approved or meeting_booked; whether the window is still open is
// a matter of HoldUntil).
func (s Status) Protected() bool {
	return s == StatusApproved || s == StatusMeetingBooked
}

// ReasonConflictLost is the only reason for which approved → declined is a
// valid transition.
const ReasonConflictLost = "conflict_lost"

var transitions = map[Status][]Status{
	StatusNone:          {StatusSubmitted},
	StatusSubmitted:     {StatusApproved, StatusNeedsInfo, StatusDeclined, StatusInReview},
	StatusInReview:      {StatusApproved, StatusDeclined, StatusNeedsInfo},
	StatusNeedsInfo:     {StatusSubmitted, StatusExpired},
	StatusApproved:      {StatusMeetingBooked, StatusConverted, StatusExpired, StatusDeclined},
	StatusMeetingBooked: {StatusConverted, StatusExpired},
	StatusConverted:     {StatusWon, StatusLost},
	StatusDeclined:      {StatusAppealed},
	StatusAppealed:      {StatusApproved, StatusDeclined},
}

// ErrTransition is returned (wrapped) for a transition the table forbids.
var ErrTransition = errors.New("transition not allowed")

// CheckTransition reports whether moving from one status to another, for the
// given reason code, is allowed by the transition table:
//
//	submitted → approved | needs_info | declined | in_review
//	in_review → approved | declined | needs_info
//	needs_info → submitted | expired
//	approved → meeting_booked | converted | expired | declined (only conflict_lost)
//	meeting_booked → converted | expired
//	converted → won | lost
//	declined → appealed
//	appealed → approved | declined
//	any active status → withdrawn
//
// Staying in the same status is not a transition and is always allowed.
func CheckTransition(from, to Status, reason string) error {
	if from == to {
		return nil
	}
	if !to.Valid() {
		return fmt.Errorf("%w: unknown status %q", ErrTransition, to)
	}
	if to == StatusWithdrawn && from.Active() {
		return nil
	}
	for _, t := range transitions[from] {
		if t != to {
			continue
		}
		if from == StatusApproved && to == StatusDeclined && reason != ReasonConflictLost {
			return fmt.Errorf("%w: approved → declined only as %s, not %q", ErrTransition, ReasonConflictLost, reason)
		}
		return nil
	}
	if from == StatusNone {
		return fmt.Errorf("%w: a new registration starts as submitted, not %q", ErrTransition, to)
	}
	return fmt.Errorf("%w: %s → %s", ErrTransition, from, to)
}
