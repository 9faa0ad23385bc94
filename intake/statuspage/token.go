// Package statuspage is the login-free status page of a registration:
// GET /r/{token}, where the token is an HMAC-signed, unguessable reference
// to one case, and the partner's forms on it (supply missing fields,
// withdraw, appeal a decline).
package statuspage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// Signer makes and checks status tokens. A token is the ten characters of
// the case number after "R-" and a 128-bit HMAC-SHA256 tag of the case
// number under the key, base64url: 32 URL-safe characters. Without the key
// nobody can make a token (nothing to enumerate or guess), and rotating the
// key revokes every link given out.
type Signer struct {
	key []byte
}

// MinKeyLen is the shortest key accepted.
const MinKeyLen = 16

// tokenLen is the length of a token.
const tokenLen = 10 + 22

// NewSigner returns a signer with the configured key.
func NewSigner(key secret.Secret) (*Signer, error) {
	if len(key.Reveal()) < MinKeyLen {
		return nil, errors.New("statuspage: the key must be 16 characters or more")
	}
	return &Signer{key: []byte(key.Reveal())}, nil
}

// RandomSigner returns a signer with a random key: links it makes stop
// working when the process restarts.
func RandomSigner() *Signer {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &Signer{key: k}
}

func (s *Signer) tag(caseNumber string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("regsync status link v1\x00"))
	m.Write([]byte(caseNumber))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Token returns the token of a case number ("" for an invalid one).
func (s *Signer) Token(caseNumber string) string {
	if !registration.ValidCaseNumber(caseNumber) {
		return ""
	}
	return caseNumber[2:] + s.tag(caseNumber)
}

// Verify returns the case number a token refers to, or false for a token
// this signer did not make.
func (s *Signer) Verify(token string) (string, bool) {
	if len(token) != tokenLen {
		return "", false
	}
	cn := "R-" + token[:10]
	if !registration.ValidCaseNumber(cn) {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(s.tag(cn)), []byte(token[10:])) != 1 {
		return "", false
	}
	return cn, true
}

// Links makes status URLs under a public base URL.
type Links struct {
	base string
	s    *Signer
}

// NewLinks returns the link maker for base (such as
// https://partners.example.com).
func NewLinks(base string, s *Signer) *Links {
	return &Links{base: strings.TrimRight(base, "/"), s: s}
}

// URL is the status link of a case number: base + "/r/" + token. The
// daemon's Registrar.StatusURL is this function.
func (l *Links) URL(caseNumber string) string {
	t := l.s.Token(caseNumber)
	if t == "" {
		return ""
	}
	return l.base + "/r/" + t
}
