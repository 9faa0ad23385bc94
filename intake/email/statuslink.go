package email

import "strings"

// maxLinkCandidates bounds the "/r/" a message is searched for: each
// costs an HMAC.
const maxLinkCandidates = 100

// holdsStatusLink reports whether the message holds the status link of
// case cn — "/r/" and the case's signed token — in its subject, text or
// HTML. regsync sends the link only to the registration's partner, in
// its replies and status e-mails, and a reply that keeps regsync's e-mail
// below it holds it; without the status page's key nobody can make one.
func (c *Channel) holdsStatusLink(in *Inbound, cn string) bool {
	if c.o.Tokens == nil {
		return false
	}
	n := 0
	for _, s := range []string{in.Subject, in.Text, in.HTML} {
		for i := 0; ; {
			j := strings.Index(s[i:], "/r/")
			if j < 0 {
				break
			}
			if n++; n > maxLinkCandidates {
				return false
			}
			start := i + j + len("/r/")
			end := start
			for end < len(s) && end-start <= 64 && isTokenByte(s[end]) {
				end++
			}
			i = end
			if got, ok := c.o.Tokens.Verify(s[start:end]); ok && got == cn {
				return true
			}
		}
	}
	return false
}

// isTokenByte reports whether c can be part of a status token (base64url).
func isTokenByte(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
