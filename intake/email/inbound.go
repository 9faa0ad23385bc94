package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"path"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// Inbound is a received message, parsed.
type Inbound struct {
	// MessageID is the Message-ID without angle brackets ("" when absent).
	MessageID string
	// From is the sender's bare address (ParseEmail form); FromName is the
	// display name, kept only to greet the sender — never to identify.
	From     string
	FromName string
	Subject  string
	Date     time.Time
	// InReplyTo and References are message ids without angle brackets.
	InReplyTo  string
	References []string
	// Auto is set for automatic mail (auto-replies, bounces, bulk), with
	// the reason; such mail is never answered.
	Auto string
	// Text is the body as plain text (the text part, or the HTML part
	// converted when there is none); Parts splits it.
	Text  string
	Parts Parts
	// CSV holds the .csv attachments.
	CSV []Attachment
	// Header is the top-level header.
	Header textproto.MIMEHeader
}

// Attachment is an attached file.
type Attachment struct {
	Name string
	Data []byte
}

var parser = enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MaxStoredPartErrors(20))

// ParseMessage parses a raw RFC 5322 message with enmime (multipart,
// quoted-printable and base64, charsets converted to UTF-8). It fails with
// a *intake.FieldError on "message" for input that is not a mail message
// and on "from" when the message does not have exactly one sender address.
func ParseMessage(raw []byte) (*Inbound, error) {
	if err := looksLikeMessage(raw); err != nil {
		return nil, err
	}
	env, err := parser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return nil, intake.Refuse("message", "not a readable e-mail message")
	}
	in := &Inbound{Header: env.Root.Header}
	from, err := env.AddressList("From")
	if err != nil || len(from) != 1 {
		return nil, intake.Refuse("from", "the message must have exactly one sender address in From")
	}
	a, err := registration.ParseEmail(from[0].Address)
	if err != nil {
		return nil, intake.Refuse("from", "the sender address is not a valid e-mail address")
	}
	in.From, in.FromName = a, strings.TrimSpace(from[0].Name)
	in.Subject = strings.TrimSpace(env.GetHeader("Subject"))
	if d, err := env.Date(); err == nil {
		in.Date = d
	}
	in.MessageID = firstID(env.GetHeader("Message-ID"))
	in.InReplyTo = firstID(env.GetHeader("In-Reply-To"))
	in.References = ids(env.GetHeader("References"))
	in.Auto = autoReason(env, in.From)

	if env.Root.BreadthMatchFirst(isTextBody) != nil {
		in.Text = env.Text
	} else if env.HTML != "" {
		in.Text = htmlToText(env.HTML)
	}
	in.Parts = Split(in.Text, IsForwardSubject(in.Subject))
	for _, p := range append(append([]*enmime.Part{}, env.Attachments...), env.Inlines...) {
		switch {
		case isCSV(p):
			in.CSV = append(in.CSV, Attachment{Name: p.FileName, Data: p.Content})
		case p.ContentType == "message/rfc822" && in.Parts.Forwarded == nil:
			in.Parts.Forwarded = attachedMessage(p.Content)
		}
	}
	if in.Parts.Forwarded == nil {
		if p := env.Root.BreadthMatchFirst(func(p *enmime.Part) bool { return p.ContentType == "message/rfc822" }); p != nil {
			in.Parts.Forwarded = attachedMessage(p.Content)
		}
	}
	return in, nil
}

// looksLikeMessage refuses binary junk before MIME parsing: the header
// must be text with a From field.
func looksLikeMessage(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return intake.Refuse("message", "empty")
	}
	end := bytes.Index(raw, []byte("\n\n"))
	if e := bytes.Index(raw, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	if end < 0 {
		end = len(raw)
	}
	head := raw[:end]
	if bytes.IndexByte(head, 0) >= 0 || !isMostlyText(head) {
		return intake.Refuse("message", "binary data, not an RFC 5322 e-mail message")
	}
	if !bytes.HasPrefix(bytes.ToLower(head), []byte("from:")) && !bytes.Contains(bytes.ToLower(head), []byte("\nfrom:")) {
		return intake.Refuse("message", "no From header: not an RFC 5322 e-mail message")
	}
	return nil
}

func isMostlyText(b []byte) bool {
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' {
			bad++
		}
	}
	return bad == 0
}

func isTextBody(p *enmime.Part) bool {
	return p.ContentType == "text/plain" && p.Disposition != "attachment"
}

func isCSV(p *enmime.Part) bool {
	return strings.EqualFold(path.Ext(p.FileName), ".csv") || (p.ContentType == "text/csv" && p.FileName != "")
}

// attachedMessage reads a forwarded message attached as message/rfc822.
func attachedMessage(raw []byte) *Forwarded {
	env, err := parser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	fw := &Forwarded{Subject: env.GetHeader("Subject")}
	if l, err := env.AddressList("From"); err == nil && len(l) == 1 {
		fw.FromName = l[0].Name
		if a, err := registration.ParseEmail(l[0].Address); err == nil {
			fw.FromAddress = a
		}
	}
	fw.Body = env.Text
	if env.Root.BreadthMatchFirst(isTextBody) == nil && env.HTML != "" {
		fw.Body = htmlToText(env.HTML)
	}
	return fw
}

// autoReason says why a message is automatic ("" for a person's mail):
// RFC 3834 Auto-Submitted, Precedence bulk/junk/list/auto_reply, the
// X-Autoreply family, delivery reports and mailer-daemon senders.
func autoReason(env *enmime.Envelope, from string) string {
	if v := strings.ToLower(strings.TrimSpace(env.GetHeader("Auto-Submitted"))); v != "" && v != "no" {
		return "Auto-Submitted: " + v
	}
	switch v := strings.ToLower(strings.TrimSpace(env.GetHeader("Precedence"))); v {
	case "bulk", "junk", "list", "auto_reply":
		return "Precedence: " + v
	}
	for _, h := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"} {
		if env.GetHeader(h) != "" {
			return h
		}
	}
	if strings.EqualFold(env.GetHeader("X-Auto-Response-Suppress"), "all") && strings.Contains(strings.ToLower(env.GetHeader("Content-Class")), "report") {
		return "delivery report"
	}
	if strings.HasPrefix(strings.ToLower(env.Root.ContentType), "multipart/report") {
		return "delivery report"
	}
	if rp := strings.TrimSpace(env.GetHeader("Return-Path")); rp == "<>" {
		return "bounce (empty Return-Path)"
	}
	local := strings.ToLower(from[:max(strings.LastIndexByte(from, '@'), 0)])
	switch local {
	case "mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply":
		return "sender " + local
	}
	return ""
}

// firstID returns the first message id of a header, without brackets.
func firstID(v string) string {
	l := ids(v)
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

// ids reads "<a@b> <c@d>" (and ids without brackets) into bare ids.
func ids(v string) []string {
	var out []string
	v = strings.TrimSpace(v)
	for v != "" {
		if v[0] == '<' {
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			if id := strings.TrimSpace(v[1:end]); id != "" && !strings.ContainsAny(id, " \t<") {
				out = append(out, id)
			}
			v = strings.TrimSpace(v[end+1:])
			continue
		}
		f := strings.Fields(v)
		if id := strings.Trim(f[0], "<>,"); strings.Contains(id, "@") {
			out = append(out, id)
		}
		v = strings.TrimSpace(strings.TrimPrefix(v, f[0]))
	}
	if len(out) > 50 {
		out = out[len(out)-50:]
	}
	return out
}

// SubmissionKey is the message's submission key: "email:" and its
// Message-ID, or — for a message without one — a digest of its sender,
// date, subject and text, so the same message delivered twice still has
// one key.
func (in *Inbound) SubmissionKey() string {
	if in.MessageID != "" {
		return "email:" + in.MessageID
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", strings.ToLower(in.From), in.Header.Get("Date"), in.Subject, strings.TrimSpace(in.Text))
	return "email:sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// CaseNumber finds the case number a message refers to: in its subject
// ("Re: Registration R-ABCDEFGHJK"), or in the id of a regsync reply it
// answers (In-Reply-To, then References, newest first).
func (in *Inbound) CaseNumber() string {
	if c := findCase(in.Subject); c != "" {
		return c
	}
	refs := append([]string{in.InReplyTo}, reverse(in.References)...)
	for _, id := range refs {
		if i := strings.IndexByte(id, '.'); i > 0 && registration.ValidCaseNumber(id[:i]) {
			return id[:i]
		}
	}
	return ""
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// findCase returns the first valid case number in s.
func findCase(s string) string {
	for i := 0; i+12 <= len(s); i++ {
		if s[i] != 'R' || s[i+1] != '-' {
			continue
		}
		if i > 0 && isWordByte(s[i-1]) {
			continue
		}
		c := s[i : i+12]
		if registration.ValidCaseNumber(c) && (i+12 == len(s) || !isWordByte(s[i+12])) {
			return c
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
