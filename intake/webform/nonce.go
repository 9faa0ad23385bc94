package webform

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// nonces issues and checks the form's one-time nonce: 16 random bytes and
// the time the form was served, signed (HMAC-SHA256, 128-bit tag). The
// random part is the submission key, so submitting the same served form
// twice (a double click, a reload, a retry) registers once.
type nonces struct {
	key []byte
}

const nonceRaw = 16 + 8 + 16

func (n nonces) tag(b []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("regsync webform nonce v1\x00"))
	m.Write(b)
	return m.Sum(nil)[:16]
}

// issue returns a fresh nonce for a form served at t.
func (n nonces) issue(t time.Time) string {
	b := make([]byte, nonceRaw)
	_, _ = rand.Read(b[:16])
	binary.BigEndian.PutUint64(b[16:24], uint64(t.Unix()))
	copy(b[24:], n.tag(b[:24]))
	return base64.RawURLEncoding.EncodeToString(b)
}

// check verifies a nonce and returns its id (the submission key's part)
// and when its form was served.
func (n nonces) check(s string) (id string, served time.Time, ok bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(nonceRaw) {
		return "", time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != nonceRaw {
		return "", time.Time{}, false
	}
	if subtle.ConstantTimeCompare(n.tag(b[:24]), b[24:]) != 1 {
		return "", time.Time{}, false
	}
	return hex.EncodeToString(b[:16]), time.Unix(int64(binary.BigEndian.Uint64(b[16:24])), 0), true
}
