package intake

import (
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// StatusLabel is how a status reads to a partner.
func StatusLabel(s registration.Status) string {
	switch s {
	case registration.StatusSubmitted:
		return "Received"
	case registration.StatusInReview:
		return "In review"
	case registration.StatusNeedsInfo:
		return "Needs info"
	case registration.StatusApproved:
		return "Approved"
	case registration.StatusMeetingBooked:
		return "Meeting booked"
	case registration.StatusConverted:
		return "Converted to a deal"
	case registration.StatusExpired:
		return "Expired"
	case registration.StatusDeclined:
		return "Declined"
	case registration.StatusAppealed:
		return "Appeal in review"
	case registration.StatusWon:
		return "Won"
	case registration.StatusLost:
		return "Lost"
	case registration.StatusWithdrawn:
		return "Withdrawn"
	}
	return "Pending"
}

// Badge is the short badge of a status: "pending" while regsync or an AE
// is deciding (submitted, in review, appealed, or not yet known), else the
// status label in lower case.
func Badge(s registration.Status) string {
	switch s {
	case registration.StatusNone, registration.StatusSubmitted, registration.StatusInReview, registration.StatusAppealed:
		return "pending"
	}
	return strings.ToLower(StatusLabel(s))
}

// FormatDate writes a date as partners read it: "Mon 2 Jun 2025".
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Mon 2 Jan 2006")
}

// NextSteps says what happens next and by when, in one or two sentences.
// slaDue is when the program owes an answer (zero when unknown).
func NextSteps(s registration.Status, holdUntil, meetingDue, slaDue time.Time) string {
	by := func(prefix string) string {
		if slaDue.IsZero() {
			return prefix + "."
		}
		return prefix + " by " + FormatDate(slaDue) + "."
	}
	switch s {
	case registration.StatusNone, registration.StatusSubmitted:
		return "Received — checking for earlier registrations of this company. The decision follows within moments, on the status page and by e-mail."
	case registration.StatusInReview:
		return by("An account executive is reviewing your registration and will decide")
	case registration.StatusNeedsInfo:
		return "Send the missing details and we will check your registration again right away."
	case registration.StatusApproved:
		out := "The company is registered to you"
		if !holdUntil.IsZero() {
			out += " until " + FormatDate(holdUntil)
		}
		out += "."
		if !meetingDue.IsZero() {
			out += " Log a first meeting with the prospect by " + FormatDate(meetingDue) + " to keep the protection."
		}
		return out
	case registration.StatusMeetingBooked:
		if holdUntil.IsZero() {
			return "Your first meeting is logged; the company stays registered to you."
		}
		return "Your first meeting is logged; the company stays registered to you until " + FormatDate(holdUntil) + "."
	case registration.StatusConverted:
		return "A deal has been opened from your registration."
	case registration.StatusDeclined:
		return "If you think this is wrong, you can appeal: an account executive will look at it again."
	case registration.StatusAppealed:
		return by("An account executive is reviewing your appeal and will decide")
	case registration.StatusExpired:
		return "The protection has ended. You can register the company again."
	case registration.StatusWon:
		return "The deal was won. Thank you!"
	case registration.StatusLost:
		return "The deal was lost."
	case registration.StatusWithdrawn:
		return "You withdrew this registration."
	}
	return ""
}

// MissingList is the partner-friendly list of missing fields:
// "company website domain; contact e-mail".
func MissingList(fields []string) string {
	labels := make([]string, len(fields))
	for i, f := range fields {
		labels[i] = Label(f)
	}
	return strings.Join(labels, "; ")
}
