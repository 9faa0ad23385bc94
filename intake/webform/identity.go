package webform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// How the form knows who submits. An address typed into the open form
// proves nothing; these do:
//
//   - a personal partner link (regsync partner-link): the partner and the
//     address, signed under intake.webform.link_key, with an expiry;
//   - a remembered browser: a signed cookie set when that browser confirmed
//     an address (opened the link e-mailed to it), valid for
//     intake.webform.remember_confirmed, for that address only;
//   - the confirmation link itself (hold.go), which only the mailbox of the
//     address receives.
//
// Rotating link_key revokes every personal link and remembered browser.

// MinKeyLen is the shortest link key accepted.
const MinKeyLen = 16

// Labels keep one kind of signed claim from passing for another.
const (
	labelLink    = "regsync partner link v1"
	labelBrowser = "regsync confirmed browser v1"
)

// maxClaim bounds a signed claim read from a URL or a cookie.
const maxClaim = 1024

// signer signs and opens the form's claims: base64url(JSON) "." a 128-bit
// HMAC-SHA256 tag over the label and the encoded payload.
type signer struct{ key []byte }

func (s signer) tag(label, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

func (s signer) sign(label string, v any) string {
	b, _ := json.Marshal(v)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.tag(label, p))
}

// open verifies a claim and decodes it into v.
func (s signer) open(label, token string, v any) bool {
	if len(token) > maxClaim {
		return false
	}
	p, t, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	tag, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || !hmac.Equal(tag, s.tag(label, p)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && json.Unmarshal(b, v) == nil
}

// linkClaims are what a personal partner link says.
type linkClaims struct {
	Partner string `json:"p"`
	Email   string `json:"e"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"x"`
}

// LinkParam is the query parameter (and form field) of a personal link.
const LinkParam = "link"

// PartnerLink makes the personal link of a partner's address: the form's
// URL under base with the signed claims (partner, address, expiry) in its
// query. The address must be at one of the partner's email_domains and the
// partner active. Submissions through the link are registered at once —
// no confirmation e-mail — as that partner and address, whatever else is
// posted.
func PartnerLink(key secret.Secret, base string, partners *intake.Directory, partnerID, email string, now time.Time, valid time.Duration) (string, time.Time, error) {
	if len(key.Reveal()) < MinKeyLen {
		return "", time.Time{}, fmt.Errorf("the link key must be %d characters or more", MinKeyLen)
	}
	if valid <= 0 {
		return "", time.Time{}, fmt.Errorf("the link must be valid for a positive time, not %s", valid)
	}
	pt, ok := partners.ByID(partnerID)
	if !ok {
		return "", time.Time{}, fmt.Errorf("no partner with id %q", partnerID)
	}
	if !pt.IsActive() {
		return "", time.Time{}, fmt.Errorf("partner %s is inactive (active: false): its registrations would be declined", pt.ID)
	}
	addr, err := registration.ParseEmail(email)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%q is not an e-mail address", email)
	}
	if owner, err := partners.ForEmail("email", addr); err != nil || owner.ID != pt.ID {
		return "", time.Time{}, fmt.Errorf("%s is not at one of %s's email_domains (%s)", registration.MaskEmail(addr), pt.ID, strings.Join(pt.EmailDomains, ", "))
	}
	exp := now.Add(valid).UTC().Truncate(time.Second)
	tok := signer{key: []byte(key.Reveal())}.sign(labelLink, linkClaims{Partner: pt.ID, Email: addrKey(addr), Issued: now.Unix(), Expires: exp.Unix()})
	return strings.TrimRight(base, "/") + Path + "?" + LinkParam + "=" + tok, exp, nil
}

// Why a personal link does not hold.
var (
	errLinkInvalid = errors.New("personal link not valid")
	errLinkExpired = errors.New("personal link expired")
	errLinkPartner = errors.New("personal link's address no longer belongs to its partner")
)

// readLink verifies a personal link: signed under the link key, not
// expired, its address still at its partner's email_domains.
func (h *Handler) readLink(tok string) (linkClaims, error) {
	var c linkClaims
	if !h.sign.open(labelLink, tok, &c) || c.Partner == "" || c.Email == "" {
		return linkClaims{}, errLinkInvalid
	}
	if !h.o.Now().Before(time.Unix(c.Expires, 0)) {
		return c, errLinkExpired
	}
	if pt, err := h.o.Partners.ForEmail(registration.FieldPartnerEmail, c.Email); err != nil || pt.ID != c.Partner {
		return c, errLinkPartner
	}
	return c, nil
}

// CookieName is the remembered browser's cookie.
const CookieName = "regsync_partner"

type browserClaims struct {
	Email   string `json:"e"`
	Expires int64  `json:"x"`
}

// remembered is the address this browser confirmed, if it is still
// remembered ("" else).
func (h *Handler) remembered(r *http.Request) string {
	if h.o.Config.RememberConfirmed <= 0 {
		return ""
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	var c browserClaims
	if !h.sign.open(labelBrowser, ck.Value, &c) || !h.o.Now().Before(time.Unix(c.Expires, 0)) {
		return ""
	}
	return c.Email
}

// remember sets the cookie that remembers this browser confirmed addr.
func (h *Handler) remember(w http.ResponseWriter, addr string) {
	ttl := h.o.Config.RememberConfirmed
	if ttl <= 0 {
		return
	}
	exp := h.o.Now().Add(ttl)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: h.sign.sign(labelBrowser, browserClaims{Email: addrKey(addr), Expires: exp.Unix()}),
		Path: Path, MaxAge: int(ttl.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(h.o.PublicURL, "https://"),
	})
}

// addrKey is an address as the form compares and counts it: parsed, and
// lower-cased whole (mail systems treat local parts case-blind too).
func addrKey(a string) string {
	if p, err := registration.ParseEmail(a); err == nil {
		a = p
	}
	return strings.ToLower(strings.TrimSpace(a))
}
