package email

import (
	"bufio"
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"net/textproto"
	"strings"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"

	"github.com/regsync/regsync/intake"
)

// Limits of one message. The MIME structure is read here, in linear time,
// before the MIME library (enmime) sees any of the message: enmime only
// ever decodes single, bounded parts (a text or HTML body, cut at
// MaxBodyBytes). A message over a limit is refused naming it; see
// docs/email-limits.md for the measured cost of the worst messages.
const (
	// MaxHeaderBytes bounds one header block: the message's own, a MIME
	// part's or an attached message's.
	MaxHeaderBytes = 256 << 10
	// MaxHeaderBytesTotal bounds all the header blocks of a message.
	MaxHeaderBytesTotal = 1 << 20
	// MaxParts bounds the MIME parts of a message, the parts of the
	// forwarded message it attaches included.
	MaxParts = 500
	// MaxDepth bounds how deep parts nest (in multiparts and in the
	// attached forwarded message).
	MaxDepth = 16
	// MaxBodyBytes is how much of a text or HTML body is read (before
	// transfer decoding); the rest is ignored.
	MaxBodyBytes = 512 << 10
	// MaxTextBytes is how much of the message's text is read for the form
	// and the quote and forward markers; the rest is ignored.
	MaxTextBytes = 256 << 10

	// maxFalseDelimiters bounds the lines that start like a delimiter of
	// an enclosing multipart without being one (a boundary that extends
	// another, or text made to look like one): each costs a search.
	maxFalseDelimiters = 10_000
	// maxParamValue bounds a Content-Type or Content-Disposition value:
	// enmime's forgiving media-type parser is quadratic in its parameters.
	maxParamValue = 4 << 10
	// maxTextParts bounds the text parts joined into the body.
	maxTextParts = 50
	// maxReferences is how many message ids of References are kept (the
	// newest); maxIDLen bounds one message id (RFC 5322's line length).
	maxReferences = 50
	maxIDLen      = 998
)

// entity is one MIME entity: the message, one of its parts, or the message
// a message/rfc822 part holds.
type entity struct {
	header      textproto.MIMEHeader
	ctype       string // the Content-Type value as written ("" when absent)
	mtype       string // media type, lower case; text/plain when absent
	params      map[string]string
	disposition string // lower case
	filename    string
	encoding    string // Content-Transfer-Encoding, lower case
	body        []byte // as sent (transfer encoded)
	parts       []*entity
	depth       int
}

// attachment reports whether the entity is marked as an attachment.
func (e *entity) attachment() bool { return e.disposition == "attachment" }

func (e *entity) multipart() bool { return strings.HasPrefix(e.mtype, "multipart/") }

// budget reads entities within the limits of one message.
type budget struct {
	parts, headerBytes, falseDelimiters int
}

func tooLarge(what string) error { return intake.Refuse("message", what) }

// read reads an entity (header and body) and, for a multipart, its parts.
// A message/rfc822 part is read only when asked for (attached).
func (b *budget) read(data []byte, depth int) (*entity, error) {
	if depth > MaxDepth {
		return nil, tooLarge(fmt.Sprintf("MIME parts nested deeper than %d", MaxDepth))
	}
	hdr, body, err := splitHeader(data)
	if err != nil {
		return nil, err
	}
	b.headerBytes += len(hdr)
	if b.headerBytes > MaxHeaderBytesTotal {
		return nil, tooLarge(fmt.Sprintf("headers larger than %s in all", intake.ByteSize(MaxHeaderBytesTotal)))
	}
	h, err := enmime.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)), discard{})
	if err != nil {
		return nil, intake.Refuse("message", "not a readable e-mail message")
	}
	e := &entity{header: h, body: body, depth: depth, mtype: "text/plain", params: map[string]string{}}
	e.encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if ct := strings.TrimSpace(h.Get("Content-Type")); ct != "" {
		if len(ct) > maxParamValue {
			return nil, tooLarge(fmt.Sprintf("a Content-Type header longer than %s", intake.ByteSize(maxParamValue)))
		}
		e.ctype = ct
		mt, params, _, err := mediatype.Parse(ct)
		switch {
		case err != nil || mt == "":
			e.mtype = "application/octet-stream" // unreadable: never a body
		default:
			e.mtype, e.params = strings.ToLower(mt), params
		}
	}
	if cd := strings.TrimSpace(h.Get("Content-Disposition")); cd != "" {
		if len(cd) > maxParamValue {
			return nil, tooLarge(fmt.Sprintf("a Content-Disposition header longer than %s", intake.ByteSize(maxParamValue)))
		}
		if d, params, _, err := mediatype.Parse(cd); err == nil {
			e.disposition = strings.ToLower(d)
			e.filename = enmime.DecodeRFC2047(params["filename"])
		}
	}
	if e.filename == "" {
		e.filename = enmime.DecodeRFC2047(e.params["name"])
	}
	if boundary := e.params["boundary"]; e.multipart() && boundary != "" {
		if depth == MaxDepth {
			return nil, tooLarge(fmt.Sprintf("MIME parts nested deeper than %d", MaxDepth))
		}
		bodies, err := b.split(body, boundary)
		if err != nil {
			return nil, err
		}
		for _, pb := range bodies {
			p, err := b.read(pb, depth+1)
			if err != nil {
				return nil, err
			}
			e.parts = append(e.parts, p)
		}
	}
	return e, nil
}

// attached reads the message a message/rfc822 part holds, within the
// same budget.
func (b *budget) attached(e *entity) (*entity, error) {
	return b.read(transferDecode(e), e.depth+1)
}

// splitHeader splits an entity at the first empty line; an entity without
// one is all header.
func splitHeader(data []byte) (hdr, body []byte, err error) {
	window := data[:min(len(data), MaxHeaderBytes+2)]
	for pos := 0; pos < len(window); {
		line := window[pos:]
		next := len(window)
		if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
			line, next = line[:nl], pos+nl+1
		} else if len(window) < len(data) {
			break // the line goes on past the limit
		}
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return data[:pos], data[next:], nil
		}
		pos = next
	}
	if len(data) > MaxHeaderBytes {
		return nil, nil, tooLarge(fmt.Sprintf("a header larger than %s", intake.ByteSize(MaxHeaderBytes)))
	}
	return data, nil, nil
}

// split returns the bodies of the parts of a multipart body: the text
// between delimiter lines ("--" boundary, then white space or the line's
// end), up to the close delimiter ("--" boundary "--") or the end. The
// line break before a delimiter belongs to it. Counting parts as they are
// found, it stops at the first part over the limit.
func (b *budget) split(body []byte, boundary string) ([][]byte, error) {
	nlDelim := []byte("\n--" + boundary)
	delim := nlDelim[1:]
	var parts [][]byte
	start := -1 // where the current part's text begins
	for from, first := 0, true; ; first = false {
		i := -1
		if first && bytes.HasPrefix(body, delim) {
			i = 0
		} else if j := bytes.Index(body[from:], nlDelim); j >= 0 {
			i = from + j + 1
		}
		if i < 0 {
			break
		}
		rest := body[i+len(delim):]
		closing := bytes.HasPrefix(rest, []byte("--"))
		if !closing && len(rest) > 0 && !isSpace(rest[0]) {
			// A longer boundary, or text that starts like one.
			b.falseDelimiters++
			if b.falseDelimiters > maxFalseDelimiters {
				return nil, tooLarge(fmt.Sprintf("more than %d lines that start like a MIME boundary without being one", maxFalseDelimiters))
			}
			from = i
			continue
		}
		if start >= 0 {
			parts = append(parts, body[start:max(start, lineStart(body, i))])
		}
		if closing {
			return parts, nil
		}
		b.parts++
		if b.parts > MaxParts {
			return nil, tooLarge(fmt.Sprintf("more than %d MIME parts", MaxParts))
		}
		start = len(body)
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			start = i + len(delim) + nl + 1
		}
		from = start - 1
	}
	if start >= 0 {
		parts = append(parts, body[start:]) // no close delimiter: the rest
	}
	return parts, nil
}

// lineStart is where the line break before body[i] begins.
func lineStart(body []byte, i int) int {
	if i > 0 && body[i-1] == '\n' {
		i--
		if i > 0 && body[i-1] == '\r' {
			i--
		}
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// transferDecode undoes an entity's base64 or quoted-printable transfer
// encoding (leniently: characters outside base64's alphabet are skipped,
// a bad quoted-printable sequence ends the text); other bodies are
// returned as they are.
func transferDecode(e *entity) []byte {
	switch e.encoding {
	case "base64":
		return decodeBase64(e.body)
	case "quoted-printable":
		var out bytes.Buffer
		out.Grow(len(e.body))
		_, _ = out.ReadFrom(quotedprintable.NewReader(bytes.NewReader(e.body)))
		return out.Bytes()
	}
	return e.body
}

// decodeBase64 decodes base64 in one allocation, skipping line breaks and
// any other character outside the alphabet, and stopping at padding.
func decodeBase64(in []byte) []byte {
	out := make([]byte, 0, len(in)/4*3+3)
	var acc uint32
	n := 0
	for _, c := range in {
		var v byte
		switch {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 26
		case '0' <= c && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			goto done
		default:
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
done:
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}

// cut returns at most n bytes of b, ending at a line break when there is
// one (so that base64 and quoted-printable stay decodable).
func cut(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	if i := bytes.LastIndexByte(b[:n], '\n'); i > 0 {
		return b[:i+1]
	}
	n -= n % 4
	if i := bytes.LastIndexByte(b[max(0, n-2):n], '='); i >= 0 {
		n = max(0, n-2) + i
	}
	return b[:n]
}

// discard drops enmime's notes about malformed header lines.
type discard struct{}

func (discard) AddError(string, string, ...any)   {}
func (discard) AddWarning(string, string, ...any) {}
