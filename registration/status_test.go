package registration

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// allowedTransitions is the table in CheckTransition's doc comment, written
// out independently of the implementation. approved → declined is listed
// here and needs ReasonConflictLost.
var allowedTransitions = map[Status][]Status{
	StatusNone:          {StatusSubmitted},
	StatusSubmitted:     {StatusApproved, StatusNeedsInfo, StatusDeclined, StatusInReview, StatusWithdrawn},
	StatusInReview:      {StatusApproved, StatusDeclined, StatusNeedsInfo, StatusWithdrawn},
	StatusNeedsInfo:     {StatusSubmitted, StatusExpired, StatusWithdrawn},
	StatusApproved:      {StatusMeetingBooked, StatusConverted, StatusExpired, StatusDeclined, StatusWithdrawn},
	StatusMeetingBooked: {StatusConverted, StatusExpired, StatusWithdrawn},
	StatusConverted:     {StatusWon, StatusLost},
	StatusDeclined:      {StatusAppealed},
	StatusAppealed:      {StatusApproved, StatusDeclined, StatusWithdrawn},
}

func TestStatusesList(t *testing.T) {
	want := []Status{"submitted", "in_review", "needs_info", "approved", "meeting_booked", "converted",
		"expired", "declined", "appealed", "won", "lost", "withdrawn"}
	if !slices.Equal(Statuses, want) {
		t.Errorf("Statuses = %q; want %q", Statuses, want)
	}
}

func TestAllowedTransitions(t *testing.T) {
	for from, tos := range allowedTransitions {
		for _, to := range tos {
			reason := ""
			if from == StatusApproved && to == StatusDeclined {
				reason = ReasonConflictLost
			}
			if err := CheckTransition(from, to, reason); err != nil {
				t.Errorf("CheckTransition(%q, %q, %q) = %v; want nil", from, to, reason, err)
			}
		}
	}
}

// TestTransitionMatrix checks every pair of statuses, with and without a
// reason, against the table.
func TestTransitionMatrix(t *testing.T) {
	froms := append([]Status{StatusNone}, Statuses...)
	for _, from := range froms {
		for _, to := range Statuses {
			for _, reason := range []string{"", ReasonConflictLost, "duplicate", "CONFLICT_LOST"} {
				want := from == to || slices.Contains(allowedTransitions[from], to)
				if from == StatusApproved && to == StatusDeclined && reason != ReasonConflictLost {
					want = false
				}
				err := CheckTransition(from, to, reason)
				if want && err != nil {
					t.Errorf("CheckTransition(%q, %q, %q) = %v; want nil", from, to, reason, err)
				}
				if !want && !errors.Is(err, ErrTransition) {
					t.Errorf("CheckTransition(%q, %q, %q) = %v; want ErrTransition", from, to, reason, err)
				}
			}
		}
	}
}

func TestForbiddenTransitions(t *testing.T) {
	tests := []struct {
		from, to Status
		reason   string
		msg      string // part of the error message
	}{
		{StatusApproved, StatusDeclined, "", "approved → declined only as conflict_lost"},
		{StatusApproved, StatusDeclined, "duplicate", `not "duplicate"`},
		{StatusApproved, StatusDeclined, "Conflict_Lost", "only as conflict_lost"},
		{StatusApproved, StatusDeclined, " conflict_lost", "only as conflict_lost"},
		{StatusDeclined, StatusApproved, "", "declined → approved"},
		{StatusDeclined, StatusSubmitted, "", "declined → submitted"},
		{StatusDeclined, StatusWithdrawn, "", "declined → withdrawn"},
		{StatusAppealed, StatusAppealed + "x", "", "unknown status"},
		{StatusWon, StatusLost, "", "won → lost"},
		{StatusWon, StatusConverted, "", "won → converted"},
		{StatusWon, StatusWithdrawn, "", "won → withdrawn"},
		{StatusLost, StatusWon, "", "lost → won"},
		{StatusWithdrawn, StatusSubmitted, "", "withdrawn → submitted"},
		{StatusExpired, StatusApproved, "", "expired → approved"},
		{StatusExpired, StatusWithdrawn, "", "expired → withdrawn"},
		{StatusConverted, StatusWithdrawn, "", "converted → withdrawn"},
		{StatusConverted, StatusExpired, "", "converted → expired"},
		{StatusMeetingBooked, StatusDeclined, ReasonConflictLost, "meeting_booked → declined"},
		{StatusMeetingBooked, StatusApproved, "", "meeting_booked → approved"},
		{StatusNeedsInfo, StatusApproved, "", "needs_info → approved"},
		{StatusNeedsInfo, StatusInReview, "", "needs_info → in_review"},
		{StatusInReview, StatusSubmitted, "", "in_review → submitted"},
		{StatusSubmitted, StatusConverted, "", "submitted → converted"},
		{StatusSubmitted, StatusAppealed, "", "submitted → appealed"},
		{StatusAppealed, StatusSubmitted, "", "appealed → submitted"},
		{StatusNone, StatusApproved, "", `starts as submitted, not "approved"`},
		{StatusNone, StatusWithdrawn, "", `starts as submitted, not "withdrawn"`},
		{StatusNone, StatusDeclined, "", `starts as submitted, not "declined"`},
		{StatusSubmitted, "bogus", "", `unknown status "bogus"`},
		{StatusSubmitted, StatusNone, "", `unknown status ""`},
		{StatusSubmitted, "APPROVED", "", `unknown status "APPROVED"`},
		{"bogus", StatusApproved, "", "bogus → approved"},
		{"bogus", StatusWithdrawn, "", "bogus → withdrawn"},
	}
	for _, tt := range tests {
		err := CheckTransition(tt.from, tt.to, tt.reason)
		if err == nil {
			t.Errorf("CheckTransition(%q, %q, %q) = nil; want an error", tt.from, tt.to, tt.reason)
			continue
		}
		if !errors.Is(err, ErrTransition) {
			t.Errorf("CheckTransition(%q, %q, %q) = %v; not ErrTransition", tt.from, tt.to, tt.reason, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("CheckTransition(%q, %q, %q) = %q; want it to mention %q", tt.from, tt.to, tt.reason, err, tt.msg)
		}
	}
}

func TestSameStatusIsNoTransition(t *testing.T) {
	for _, s := range append([]Status{StatusNone, "bogus"}, Statuses...) {
		if err := CheckTransition(s, s, "anything"); err != nil {
			t.Errorf("CheckTransition(%q, %q) = %v; want nil", s, s, err)
		}
	}
}

func TestWithdrawnFromActiveOnly(t *testing.T) {
	for _, s := range append([]Status{StatusNone}, Statuses...) {
		err := CheckTransition(s, StatusWithdrawn, "")
		if s.Active() != (err == nil) && s != StatusWithdrawn {
			t.Errorf("CheckTransition(%q, withdrawn) = %v; Active() = %v", s, err, s.Active())
		}
	}
}

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		s                                          Status
		valid, active, pending, waiting, protected bool
	}{
		{StatusNone, false, false, false, false, false},
		{"bogus", false, false, false, false, false},
		{"Approved", false, false, false, false, false},
		{StatusSubmitted, true, true, true, true, false},
		{StatusInReview, true, true, true, true, false},
		{StatusNeedsInfo, true, true, true, false, false},
		{StatusApproved, true, true, false, false, true},
		{StatusMeetingBooked, true, true, false, false, true},
		{StatusConverted, true, false, false, false, false},
		{StatusExpired, true, false, false, false, false},
		{StatusDeclined, true, false, false, false, false},
		{StatusAppealed, true, true, true, true, false},
		{StatusWon, true, false, false, false, false},
		{StatusLost, true, false, false, false, false},
		{StatusWithdrawn, true, false, false, false, false},
	}
	for _, tt := range tests {
		got := [5]bool{tt.s.Valid(), tt.s.Active(), tt.s.Pending(), tt.s.Waiting(), tt.s.Protected()}
		want := [5]bool{tt.valid, tt.active, tt.pending, tt.waiting, tt.protected}
		if got != want {
			t.Errorf("%q: Valid, Active, Pending, Waiting, Protected = %v; want %v", tt.s, got, want)
		}
	}
}
