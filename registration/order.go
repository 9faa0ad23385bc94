package registration

import (
	"strings"
	"time"
)

// Place is a registration's place in line for its company: the order of
// first come, first served.
//
// Registrations are ordered by the instant the partner's claim began
// (submitted_at: for regsync's own channels the instant regsync accepted the
// submission, for records created in the CRM by anything else the CRM's
// creation time); a registration without one predates regsync and comes
// first. Ties within the CRM's time precision (Salesforce keeps whole
// seconds) go by regsync's own acceptance order (submission_seq; records
// created outside regsync have none and come before regsync's at the same
// instant), then by the CRM record id (shorter numeric ids first), then by
// case number (R-9 before R-10). The order is total: no two registrations
// are ever "earlier" than each other.
type Place struct {
	At   time.Time
	Seq  float64
	ID   string
	Case string
}

// Place is r's place in line.
func (r *Record) Place() Place {
	return Place{At: r.SubmittedAt, Seq: r.SubmissionSeq, ID: r.ID, Case: r.CaseNumber}
}

// Before reports whether p comes before q in line.
func (p Place) Before(q Place) bool {
	if !p.At.Equal(q.At) {
		if p.At.IsZero() {
			return true
		}
		if q.At.IsZero() {
			return false
		}
		return p.At.Before(q.At)
	}
	if p.Seq != q.Seq {
		return p.Seq < q.Seq
	}
	if p.ID != q.ID {
		// A registration not yet in the CRM (no id) comes after those that
		// are: it was created later.
		if p.ID == "" || q.ID == "" {
			return q.ID == ""
		}
		return naturalLess(p.ID, q.ID)
	}
	return naturalLess(p.Case, q.Case)
}

// naturalLess orders strings by their text with a trailing run of digits
// compared as a number: "R-9" before "R-10", CRM id "99" before "100". It
// is a total order: strings with the same natural key fall
// back to their bytes.
func naturalLess(a, b string) bool {
	ka, kb := naturalKey(a), naturalKey(b)
	if ka != kb {
		return ka < kb
	}
	return a < b
}

// naturalKey is s with its trailing digits (up to 20) zero-padded to 20,
// after a NUL that sorts before any other character.
func naturalKey(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	digits := strings.TrimLeft(s[i:], "0")
	if i == len(s) || len(digits) > 20 {
		return s + "\x01"
	}
	return s[:i] + "\x00" + strings.Repeat("0", 20-len(digits)) + digits
}
