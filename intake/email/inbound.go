package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/textproto"
	"path"
	"strings"
	"time"
	"unicode/utf8"

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
	// converted when there is none), at most MaxTextBytes; Parts splits
	// it. HTML is the HTML part as sent (at most MaxBodyBytes of it).
	Text  string
	HTML  string
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

// parser decodes single parts (a text or HTML body, at most MaxBodyBytes
// of it): transfer encodings, and charsets converted to UTF-8.
var parser = enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MaxStoredPartErrors(20), enmime.DisableTextConversion(true))

// ParseMessage parses a raw RFC 5322 message: its MIME structure within
// the limits (MaxHeaderBytes, MaxParts, MaxDepth …, read in linear time
// before enmime sees anything), then the parts it needs with enmime
// (quoted-printable and base64, charsets converted to UTF-8). It fails
// with a *intake.FieldError on "message" for input that is not a mail
// message or breaks a limit (the reason names it), and on "from" when the
// message does not have exactly one sender address.
func ParseMessage(raw []byte) (*Inbound, error) {
	if err := looksLikeMessage(raw); err != nil {
		return nil, err
	}
	var b budget
	root, err := b.read(raw, 0)
	if err != nil {
		return nil, err
	}
	hv := headerView(root.header)
	in := &Inbound{Header: root.header}
	from, err := hv.AddressList("From")
	if err != nil || len(from) != 1 {
		return nil, intake.Refuse("from", "the message must have exactly one sender address in From")
	}
	a, err := registration.ParseEmail(from[0].Address)
	if err != nil {
		return nil, intake.Refuse("from", "the sender address is not a valid e-mail address")
	}
	in.From, in.FromName = a, strings.TrimSpace(from[0].Name)
	in.Subject = strings.TrimSpace(hv.GetHeader("Subject"))
	if d, err := hv.Date(); err == nil {
		in.Date = d
	}
	in.MessageID = firstID(root.header.Get("Message-ID"))
	in.InReplyTo = firstID(root.header.Get("In-Reply-To"))
	in.References = ids(root.header.Get("References"))
	in.Auto = autoReason(hv, root.mtype, in.From)

	in.Text, in.HTML = bodyText(root)
	in.Parts = Split(in.Text, IsForwardSubject(in.Subject))
	var rfc822 *entity
	walk(root, func(p *entity) {
		switch {
		case isCSV(p) && len(in.CSV) == 0:
			in.CSV = append(in.CSV, Attachment{Name: p.filename, Data: transferDecode(p)})
		case p.mtype == "message/rfc822" && rfc822 == nil:
			rfc822 = p
		}
	})
	if rfc822 != nil && in.Parts.Forwarded == nil {
		fw, err := attachedMessage(&b, rfc822)
		if err != nil {
			return nil, err
		}
		in.Parts.Forwarded = fw
	}
	return in, nil
}

// bodyText is the message's text as enmime's envelope reads it: in a
// multipart/alternative the first text/plain part, elsewhere every
// text/plain part that is not an attachment, in order; without one, the
// first HTML part converted. At most maxTextParts parts and MaxBodyBytes
// of each are read, and MaxTextBytes of the text is kept. html is the
// HTML part read (for the status token).
func bodyText(root *entity) (text, html string) {
	var texts []*entity
	var htmlPart *entity
	walk(root, func(p *entity) {
		switch {
		case p.attachment() || isCSV(p):
		case p.mtype == "text/plain" && len(texts) < maxTextParts && (len(texts) == 0 || root.mtype != "multipart/alternative"):
			texts = append(texts, p)
		case p.mtype == "text/html" && htmlPart == nil:
			htmlPart = p
		}
	})
	if htmlPart != nil {
		html = decodeBody(htmlPart, MaxBodyBytes)
	}
	if len(texts) == 0 {
		if html == "" {
			return "", ""
		}
		return clip(htmlToText(html), MaxTextBytes), html
	}
	var b strings.Builder
	left := MaxBodyBytes
	for i, p := range texts {
		if left <= 0 || b.Len() >= MaxTextBytes {
			break
		}
		if i > 0 {
			b.WriteString("\n--\n")
		}
		body := cut(p.body, left)
		left -= len(body)
		b.WriteString(decodeBody(&entity{ctype: p.ctype, encoding: p.encoding, body: body}, len(body)))
	}
	return clip(b.String(), MaxTextBytes), html
}

// walk calls f for every part of the tree in depth-first order, the root
// first; it does not enter attached messages (message/rfc822 parts).
func walk(e *entity, f func(*entity)) {
	f(e)
	for _, p := range e.parts {
		walk(p, f)
	}
}

// decodeBody decodes at most n bytes of a text or HTML part with enmime
// (transfer encoding, charset to UTF-8), as a one-part message made of
// the part's Content-Type and Content-Transfer-Encoding.
func decodeBody(e *entity, n int) string {
	var b bytes.Buffer
	ct := e.ctype
	if ct == "" {
		ct = "text/plain"
	}
	b.WriteString("Content-Type: " + ct + "\r\n")
	if e.encoding != "" {
		b.WriteString("Content-Transfer-Encoding: " + e.encoding + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(cut(e.body, n))
	p, err := parser.ReadParts(&b)
	if err != nil {
		return ""
	}
	return string(p.Content)
}

// clip cuts s to at most n bytes, at a line break when there is one in
// its second half, else at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if i := strings.LastIndexByte(s[:n], '\n'); i > n/2 {
		return s[:i]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// headerView gives enmime's header accessors (RFC 2047 decoding, address
// lists, dates) over a header: an envelope of an empty part with the
// header, without its Content-Type (so nothing is parsed).
func headerView(h textproto.MIMEHeader) *enmime.Envelope {
	hc := maps.Clone(h)
	delete(hc, "Content-Type")
	p := enmime.NewPart("text/plain")
	p.Header = hc
	env, err := enmime.EnvelopeFromPart(p)
	if err != nil {
		return &enmime.Envelope{Root: p}
	}
	return env
}

// looksLikeMessage refuses binary junk before MIME parsing: the header
// must be text with a From field.
func looksLikeMessage(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return intake.Refuse("message", "empty")
	}
	head := raw[:min(len(raw), MaxHeaderBytes)]
	end := bytes.Index(head, []byte("\n\n"))
	if e := bytes.Index(head, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	if end >= 0 {
		head = head[:end]
	}
	if bytes.IndexByte(head, 0) >= 0 || !isMostlyText(head) {
		return intake.Refuse("message", "binary data, not an RFC 5322 e-mail message")
	}
	if !hasFromField(head) {
		return intake.Refuse("message", "no From header: not an RFC 5322 e-mail message")
	}
	return nil
}

// hasFromField reports whether a header block has a line starting with
// "From:" (any case).
func hasFromField(head []byte) bool {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if len(line) >= 5 && bytes.EqualFold(line[:5], []byte("from:")) {
			return true
		}
	}
	return false
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

func isCSV(p *entity) bool {
	return strings.EqualFold(path.Ext(p.filename), ".csv") || (p.mtype == "text/csv" && p.filename != "")
}

// attachedMessage reads a forwarded message attached as message/rfc822.
func attachedMessage(b *budget, p *entity) (*Forwarded, error) {
	e, err := b.attached(p)
	if err != nil {
		var fe *intake.FieldError
		if errors.As(err, &fe) {
			return nil, intake.Refuse("message", "the attached message: "+fe.Reason)
		}
		return nil, err
	}
	hv := headerView(e.header)
	fw := &Forwarded{Subject: hv.GetHeader("Subject")}
	if l, err := hv.AddressList("From"); err == nil && len(l) == 1 {
		fw.FromName = l[0].Name
		if a, err := registration.ParseEmail(l[0].Address); err == nil {
			fw.FromAddress = a
		}
	}
	fw.Body, _ = bodyText(e)
	return fw, nil
}

// autoReason says why a message is automatic ("" for a person's mail):
// RFC 3834 Auto-Submitted, Precedence bulk/junk/list/auto_reply, the
// X-Autoreply family, delivery reports and mailer-daemon senders.
func autoReason(env *enmime.Envelope, rootType, from string) string {
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
	if strings.HasPrefix(rootType, "multipart/report") {
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
	first := ""
	eachID(v, func(id string) bool { first = id; return false })
	return first
}

// ids reads "<a@b> <c@d>" (and ids without brackets) into bare ids, the
// newest maxReferences of them.
func ids(v string) []string {
	var out []string
	eachID(v, func(id string) bool {
		if len(out) == 2*maxReferences {
			out = append(out[:0], out[maxReferences:]...)
		}
		out = append(out, id)
		return true
	})
	if len(out) > maxReferences {
		out = out[len(out)-maxReferences:]
	}
	return out
}

// eachID calls f with each message id of a header value in order, until
// f returns false, in one pass: "<id>" (an id with white space inside is
// skipped), or a word with an "@" (brackets and commas trimmed). Ids
// longer than maxIDLen are skipped.
func eachID(v string, f func(string) bool) {
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '<':
			end := strings.IndexByte(v[i+1:], '>')
			if end < 0 {
				return
			}
			id := strings.TrimSpace(v[i+1 : i+1+end])
			i += end + 2
			if id != "" && len(id) <= maxIDLen && !strings.ContainsAny(id, " \t<") && !f(id) {
				return
			}
		default:
			j := i
			for j < len(v) && v[j] != ' ' && v[j] != '\t' && v[j] != '\r' && v[j] != '\n' {
				j++
			}
			id := strings.Trim(v[i:j], "<>,")
			i = j
			if strings.Contains(id, "@") && len(id) <= maxIDLen && !f(id) {
				return
			}
		}
	}
}

// SubmissionKey is the message's submission key. With a Message-ID it is
// "email:v2:" and 32 hex digits of a SHA-256 of the sender and the
// Message-ID: a fixed length that fits every CRM field (Salesforce's
// Submission_Key__c is Text 255), and another sender reusing the
// Message-ID gets another key — never the first sender's registration.
// Without a Message-ID it is "email:sha256:" and a digest of the sender,
// date, subject and text, so the same message delivered twice still has
// one key.
func (in *Inbound) SubmissionKey() string {
	return intake.SubmissionKey(intake.ChannelEmail, in.keyMaterial()...)
}

// keyMaterial is what the submission key is made of after "email:".
func (in *Inbound) keyMaterial() []string {
	h := sha256.New()
	if in.MessageID != "" {
		fmt.Fprintf(h, "regsync email submission key v2\x00%s\x00%s", strings.ToLower(in.From), in.MessageID)
		return []string{"v2", hex.EncodeToString(h.Sum(nil)[:16])}
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", strings.ToLower(in.From), in.Header.Get("Date"), in.Subject, strings.TrimSpace(in.Text))
	return []string{"sha256", hex.EncodeToString(h.Sum(nil)[:16])}
}

// LegacySubmissionKey is the key earlier versions gave a message with a
// Message-ID: "email:" and the Message-ID ("" without one). Registrations
// made under it are still found (see Channel.Execute), for their sender
// only.
func (in *Inbound) LegacySubmissionKey() string {
	if in.MessageID == "" {
		return ""
	}
	return intake.SubmissionKey(intake.ChannelEmail, in.MessageID)
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
