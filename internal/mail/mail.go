// Package mail sends e-mail: a Message type that renders as RFC 5322
// (plain text and HTML alternatives, threading headers), and two Senders —
// SMTP (STARTTLS, implicit TLS or plain, with AUTH PLAIN) and Outbox, which
// writes each message as a .eml file into a directory instead (the sandbox
// uses it, so a newcomer can read what would have been sent).
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one e-mail to send.
type Message struct {
	// From overrides the sender's configured From address when set.
	From    *mail.Address
	To      []mail.Address
	Cc      []mail.Address
	Bcc     []mail.Address
	ReplyTo []mail.Address
	Subject string
	// Text is the plain-text body; HTML, when set, is sent as its
	// alternative (multipart/alternative). At least one is required.
	Text string
	HTML string
	// MessageID is the id without angle brackets; Send generates one when
	// it is empty (see NewMessageID) and writes it back.
	MessageID string
	// InReplyTo and References thread the message under earlier ones (ids
	// without angle brackets).
	InReplyTo  string
	References []string
	// Date defaults to the time of sending.
	Date time.Time
	// Attachments are sent after the body (multipart/mixed).
	Attachments []Attachment
	// Header holds further headers (Auto-Submitted, List-Unsubscribe…).
	// The headers above cannot be set through it.
	Header map[string]string
}

// Attachment is a file sent with a message.
type Attachment struct {
	// Filename is the name shown; ContentType defaults to
	// application/octet-stream.
	Filename    string
	ContentType string
	Data        []byte
}

// Sender sends messages.
type Sender interface {
	// Send delivers m, setting m.MessageID when it was empty.
	Send(ctx context.Context, m *Message) error
}

// ErrInvalid is returned (wrapped) for a message that cannot be sent as
// it is: no recipient, no body, a header value with a line break.
var ErrInvalid = errors.New("mail: invalid message")

// NewMessageID returns a fresh, globally unique message id (without angle
// brackets) under domain: "<prefix>.<random>@domain". The prefix, when not
// empty, lets a later reply's In-Reply-To be traced back (regsync puts the
// case number there).
func NewMessageID(prefix, domain string) string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	r := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	if domain == "" {
		domain = "regsync.invalid"
	}
	if prefix != "" {
		r = prefix + "." + r
	}
	return r + "@" + domain
}

// recipients lists the envelope recipients: To, Cc and Bcc, once each.
func (m *Message) recipients() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			k := strings.ToLower(a.Address)
			if !seen[k] {
				seen[k] = true
				out = append(out, a.Address)
			}
		}
	}
	return out
}

func (m *Message) validate(from *mail.Address) error {
	if from == nil || !validAddr(from.Address) {
		return fmt.Errorf("%w: no valid From address", ErrInvalid)
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalid)
	}
	for _, l := range [][]mail.Address{m.To, m.Cc, m.Bcc, m.ReplyTo} {
		for _, a := range l {
			if !validAddr(a.Address) || strings.ContainsAny(a.Name, "\r\n") {
				return fmt.Errorf("%w: bad recipient address", ErrInvalid)
			}
		}
	}
	if m.Text == "" && m.HTML == "" {
		return fmt.Errorf("%w: no body", ErrInvalid)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || !utf8.ValidString(m.Subject) {
		return fmt.Errorf("%w: body or subject is not UTF-8", ErrInvalid)
	}
	for _, id := range append([]string{m.MessageID, m.InReplyTo}, m.References...) {
		if strings.ContainsAny(id, "<>\r\n \t") {
			return fmt.Errorf("%w: message id %q must be bare (no angle brackets or spaces)", ErrInvalid, id)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: subject contains a line break", ErrInvalid)
	}
	for _, a := range m.Attachments {
		if a.Filename == "" || strings.ContainsAny(a.Filename, "\r\n\"\\/") || strings.ContainsAny(a.ContentType, "\r\n") {
			return fmt.Errorf("%w: attachment name %q", ErrInvalid, a.Filename)
		}
	}
	for k, v := range m.Header {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%w: header %q", ErrInvalid, k)
		}
		switch strings.ToLower(k) {
		case "from", "to", "cc", "bcc", "reply-to", "subject", "message-id", "in-reply-to", "references",
			"date", "mime-version", "content-type", "content-transfer-encoding":
			return fmt.Errorf("%w: header %s is set through its own field", ErrInvalid, k)
		}
	}
	return nil
}

func validAddr(a string) bool {
	if a == "" || strings.ContainsAny(a, "\r\n<> \t,") {
		return false
	}
	i := strings.LastIndexByte(a, '@')
	return i > 0 && i < len(a)-1
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// Render writes m as an RFC 5322 message from the given sender, with CRLF
// line endings. It fills in MessageID (under the From domain) and Date
// when they are empty.
func (m *Message) Render(from mail.Address, now time.Time) ([]byte, error) {
	if m.From != nil {
		from = *m.From
	}
	if err := m.validate(&from); err != nil {
		return nil, err
	}
	if m.MessageID == "" {
		m.MessageID = NewMessageID("", from.Address[strings.LastIndexByte(from.Address, '@')+1:])
	}
	if m.Date.IsZero() {
		m.Date = now
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", formatAddress(from))
	if len(m.To) > 0 {
		h("To", formatList(m.To))
	}
	if len(m.Cc) > 0 {
		h("Cc", formatList(m.Cc))
	}
	if len(m.ReplyTo) > 0 {
		h("Reply-To", formatList(m.ReplyTo))
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	if m.InReplyTo != "" {
		h("In-Reply-To", "<"+m.InReplyTo+">")
	}
	if len(m.References) > 0 {
		refs := make([]string, len(m.References))
		for i, r := range m.References {
			refs[i] = "<" + r + ">"
		}
		h("References", strings.Join(refs, "\r\n "))
	}
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h(k, mime.QEncoding.Encode("utf-8", m.Header[k]))
	}
	h("MIME-Version", "1.0")
	// Boundaries start with "=_", which quoted-printable and base64 bodies
	// never hold; neither is a prefix of the other.
	id := strings.ReplaceAll(strings.SplitN(m.MessageID, "@", 2)[0], ".", "_")
	alt := "=_alt_" + id
	if len(m.Attachments) == 0 {
		m.writeBody(&b, alt)
		return b.Bytes(), nil
	}
	mixed := "=_mixed_" + id
	h("Content-Type", `multipart/mixed; boundary="`+mixed+`"`)
	b.WriteString("\r\n--" + mixed + "\r\n")
	m.writeBody(&b, alt)
	for _, a := range m.Attachments {
		b.WriteString("\r\n--" + mixed + "\r\n")
		ct, params, err := mime.ParseMediaType(a.ContentType)
		if err != nil {
			ct, params = "application/octet-stream", map[string]string{}
		}
		params["name"] = a.Filename
		b.WriteString("Content-Type: " + mime.FormatMediaType(ct, params) + "\r\n")
		b.WriteString("Content-Disposition: " + mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename}) + "\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("\r\n--" + mixed + "--\r\n")
	return b.Bytes(), nil
}

// writeBody writes the body's Content-Type header, a blank line and the
// body: one part, or both as multipart/alternative.
func (m *Message) writeBody(b *bytes.Buffer, boundary string) {
	switch {
	case m.HTML == "":
		writePart(b, "text/plain; charset=utf-8", m.Text)
	case m.Text == "":
		writePart(b, "text/html; charset=utf-8", m.HTML)
	default:
		b.WriteString(`Content-Type: multipart/alternative; boundary="` + boundary + `"` + "\r\n\r\n")
		b.WriteString("--" + boundary + "\r\n")
		writePart(b, "text/plain; charset=utf-8", m.Text)
		b.WriteString("\r\n--" + boundary + "\r\n")
		writePart(b, "text/html; charset=utf-8", m.HTML)
		b.WriteString("\r\n--" + boundary + "--\r\n")
	}
}

// writePart writes a Content-Type header, a quoted-printable encoding
// header, a blank line and the body with CRLF line endings.
func writePart(b *bytes.Buffer, ctype, body string) {
	b.WriteString("Content-Type: " + ctype + "\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(body))
	_ = w.Close()
}

func formatAddress(a mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

func formatList(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = formatAddress(a)
	}
	return strings.Join(s, ", ")
}

// ParseAddress reads one address, with or without a display name.
func ParseAddress(s string) (mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return mail.Address{}, fmt.Errorf("mail: %q is not an e-mail address", s)
	}
	return *a, nil
}

// Domain returns the domain of an address ("" when it has none).
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}
