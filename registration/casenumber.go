package registration

import (
	"crypto/sha256"
	"strings"
)

// caseAlphabet is Crockford's base32 without I, L, O and U: case numbers
// are read aloud and typed by partners, so no 0/O or 1/I/L confusion.
const caseAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// CaseNumberFor derives a registration's case number from its submission
// key: "R-" and ten base32 characters of the key's SHA-256 (50 bits).
//
// The same submission always gets the same case number, so an intake
// channel that retries a create (after a crash, a timeout, a duplicate
// webhook) upserts the same record under the same case number without
// keeping any local state. An empty key has no case number.
func CaseNumberFor(submissionKey string) string {
	if strings.TrimSpace(submissionKey) == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(submissionKey))
	var b [12]byte
	b[0], b[1] = 'R', '-'
	// 10 characters × 5 bits from the first 7 bytes (56 bits).
	var v uint64
	for _, c := range sum[:7] {
		v = v<<8 | uint64(c)
	}
	for i := 11; i >= 2; i-- {
		b[i] = caseAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// ValidCaseNumber reports whether s has the form CaseNumberFor produces.
// Channels use it to find a case number in free text (a reply's subject).
func ValidCaseNumber(s string) bool {
	if len(s) != 12 || s[0] != 'R' || s[1] != '-' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if strings.IndexByte(caseAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
