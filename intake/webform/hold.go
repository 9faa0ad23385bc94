package webform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/intake"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/state"
)

// A submission from an address nobody has confirmed is held: stored
// durably (Store, fsynced before the page answers) with its expiry, and a
// link is e-mailed to that address — to it only. Nothing about it reaches
// the CRM, so it counts toward no cap, conflict or duplicate and e-mails
// nobody else. When the link is opened and confirmed, the submission is
// registered through the Registrar like any other, and its place in line
// starts then.

// Store keeps held submissions durably: the daemon's state file
// (*state.DB). ChangeHold must have stored (and fsynced) what change
// returns before it returns.
type Store interface {
	ChangeHold(key string, now time.Time, change func(cur *state.Hold) (*state.Hold, error)) (*state.Hold, error)
	GetHold(key string, now time.Time) (*state.Hold, error)
}

// ConfirmPrefix is where confirmation links point: GET shows what is
// waiting and a button, POST confirms it.
const ConfirmPrefix = Path + "/confirm/"

// confirmedKeep is how long a confirmed hold is kept as a marker, so its
// link opened again shows the registration it made.
const confirmedKeep = 30 * 24 * time.Hour

// held is a hold's data (state.Hold.Data).
type held struct {
	// Form is what was typed: the form's fields and consent (cleared
	// once confirmed: the registration is in the CRM then).
	Form url.Values `json:"form,omitempty"`
	// Email is the address that has to confirm; Partner its partner.
	Email   string `json:"email"`
	Partner string `json:"partner"`
	// Secret is the hex SHA-256 of the link's secret: the link is in the
	// e-mail only, never stored.
	Secret string `json:"secret"`
	// Expires is when the link expires (a confirmed hold's marker lasts
	// longer: state.Hold.ExpiresAt).
	Expires     time.Time `json:"expires"`
	MailedAt    time.Time `json:"mailed_at,omitzero"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	CaseNumber  string    `json:"case_number,omitempty"`
}

func (d *held) confirmed() bool { return d.CaseNumber != "" }

func decodeHeld(h *state.Hold) (*held, error) {
	if h == nil {
		return nil, nil
	}
	var d held
	if err := json.Unmarshal(h.Data, &d); err != nil {
		return nil, fmt.Errorf("hold %s: %w", h.Key, err)
	}
	return &d, nil
}

func encodeHeld(key string, d *held, expires time.Time) (*state.Hold, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &state.Hold{Key: key, Data: b, ExpiresAt: expires}, nil
}

// holdKey is the hold's key (and its submission's): "webform:" + the
// form's nonce id (intake.SubmissionKey).
func holdKey(id string) string { return intake.SubmissionKey(intake.ChannelWebForm, id) }

// A confirmation token is the hold's id (16 bytes), a secret (16 random
// bytes) and the link's expiry (8 bytes; read only to say "expired" once
// the hold is gone), base64url: 54 characters.
const tokenRaw = 16 + 16 + 8

func newSecret() ([]byte, string) {
	s := make([]byte, 16)
	_, _ = rand.Read(s)
	sum := sha256.Sum256(s)
	return s, hex.EncodeToString(sum[:])
}

func makeToken(id string, secret []byte, exp time.Time) string {
	b := make([]byte, 0, tokenRaw)
	raw, _ := hex.DecodeString(id)
	b = append(b, raw...)
	b = append(b, secret...)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Unix()))
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(s string) (id string, secret []byte, exp time.Time, ok bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenRaw) {
		return "", nil, time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenRaw {
		return "", nil, time.Time{}, false
	}
	return hex.EncodeToString(b[:16]), b[16:32], time.Unix(int64(binary.BigEndian.Uint64(b[32:])), 0), true
}

// matches reports whether secret is the hold's.
func (d *held) matches(secret []byte) bool {
	sum := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(d.Secret)) == 1
}

// keyLocks serialises the work on one hold (a double click, a link opened
// in two tabs), so one link is mailed and one registration made.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	n int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.n++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.n--; l.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// heldForm keeps what a held submission needs again at confirmation.
func heldForm(form url.Values) url.Values {
	out := url.Values{}
	for _, f := range formFields {
		if v := strings.TrimSpace(form.Get(f.name)); v != "" {
			out.Set(f.name, v)
		}
	}
	if form.Get(registration.FieldConsent) == "yes" {
		out.Set(registration.FieldConsent, "yes")
	}
	return out
}

// holdOutcome is what storing a submission for confirmation came to.
type holdOutcome struct {
	data *held
	// mail is the link to e-mail now ("" when the one sent before still
	// holds: the same form sent again).
	mail string
	// already is the case number of a hold confirmed before.
	already string
}

var errNoStore = errors.New("webform: no store for held submissions")

// hold stores a submission for confirmation. The same form sent again
// (its nonce) is the same hold: while it waits, its fields are replaced
// by the latest ones, and a new link is mailed only when the address
// changed or the first e-mail was not sent; once confirmed, it stays what
// it was.
func (h *Handler) hold(key, email, partner string, form url.Values) (holdOutcome, error) {
	if h.o.Store == nil {
		return holdOutcome{}, errNoStore
	}
	now := h.o.Now()
	var out holdOutcome
	_, err := h.o.Store.ChangeHold(key, now, func(cur *state.Hold) (*state.Hold, error) {
		out = holdOutcome{}
		old, err := decodeHeld(cur)
		if err != nil {
			return nil, err
		}
		if old != nil && old.confirmed() {
			out.already, out.data = old.CaseNumber, old
			return cur, nil
		}
		d := &held{Form: heldForm(form), Email: email, Partner: partner}
		if old != nil && addrKey(old.Email) == addrKey(email) && !old.MailedAt.IsZero() {
			d.Secret, d.Expires, d.MailedAt = old.Secret, old.Expires, old.MailedAt
		} else {
			secret, sum := newSecret()
			d.Secret, d.Expires = sum, now.Add(h.o.Config.ConfirmTTL).UTC().Truncate(time.Second)
			out.mail = h.confirmURL(makeToken(strings.TrimPrefix(key, "webform:"), secret, d.Expires))
		}
		out.data = d
		return encodeHeld(key, d, d.Expires)
	})
	return out, err
}

// mailed records that the link went out.
func (h *Handler) mailed(key string) error {
	now := h.o.Now()
	_, err := h.o.Store.ChangeHold(key, now, func(cur *state.Hold) (*state.Hold, error) {
		d, err := decodeHeld(cur)
		if err != nil || d == nil || d.confirmed() {
			return cur, err
		}
		d.MailedAt = now
		return encodeHeld(key, d, cur.ExpiresAt)
	})
	return err
}

// markConfirmed turns a hold into the marker of the registration it made:
// the form's fields are dropped (they are in the CRM now), the case number
// kept until confirmedKeep has passed.
func (h *Handler) markConfirmed(key, caseNumber string) error {
	if caseNumber == "" {
		// A hold marked with no case would read as unconfirmed and lose
		// its form: refuse rather than forget the submission.
		return errors.New("webform: mark a hold confirmed without its case number")
	}
	now := h.o.Now()
	_, err := h.o.Store.ChangeHold(key, now, func(cur *state.Hold) (*state.Hold, error) {
		d, err := decodeHeld(cur)
		if err != nil {
			return nil, err
		}
		if d == nil {
			d = &held{}
		}
		d.Form, d.ConfirmedAt, d.CaseNumber = nil, now, caseNumber
		exp := now.Add(confirmedKeep)
		if cur != nil && cur.ExpiresAt.After(exp) {
			exp = cur.ExpiresAt
		}
		return encodeHeld(key, d, exp)
	})
	return err
}

func (h *Handler) confirmURL(token string) string {
	return strings.TrimRight(h.o.PublicURL, "/") + ConfirmPrefix + token
}

// sendLink e-mails the confirmation link to the address that has to
// confirm — to it only (no Cc, no Bcc, no Reply-To). It names the company,
// its website (as the form read it: a domain) and the contact, so the
// partner knows what it is about, and nothing longer that a stranger
// typed; plain text only.
func (h *Handler) sendLink(ctx context.Context, d *held, rec registration.Record, link string) error {
	if h.o.Mail == nil {
		return errors.New("webform: no mail sender")
	}
	company := clip(rec.CompanyName, 80)
	var b strings.Builder
	fmt.Fprintf(&b, "Someone (we hope you) registered a prospect with the %s using this address, %s:\n\n", h.o.ProgramName, d.Email)
	fmt.Fprintf(&b, "  Company: %s\n", company)
	if rec.CompanyDomain != "" {
		fmt.Fprintf(&b, "  Website: %s\n", clip(rec.CompanyDomain, 80))
	}
	if rec.ContactName != "" {
		fmt.Fprintf(&b, "  Contact: %s\n", clip(rec.ContactName, 80))
	}
	fmt.Fprintf(&b, "\nNothing is registered yet. To register it, open this link and confirm:\n\n%s\n\n", link)
	fmt.Fprintf(&b, "Your registration counts from when you confirm it: its place in line starts then.\n")
	fmt.Fprintf(&b, "The link works once and expires on %s.\n\n", when(d.Expires))
	fmt.Fprintf(&b, "If this was not you, ignore this e-mail: nothing will be registered, and nobody sees it.\n")
	m := &regmail.Message{
		To:      []mail.Address{{Address: d.Email}},
		Subject: "Confirm your registration: " + company,
		Text:    b.String(),
		Header:  map[string]string{"Auto-Submitted": "auto-generated"},
	}
	return h.o.Mail.Send(ctx, m)
}

// clip shortens s to n runes on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// when is how pages and mails name an instant.
func when(t time.Time) string { return t.UTC().Format("2 January 2006 at 15:04 UTC") }
