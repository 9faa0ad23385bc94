package email

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// The attacks on the parser. Each builder makes the message the attack
// sends; the tests, the fuzz seeds and the benchmarks share them.

const attackFrom = "From: Sam Carter <sam@northwind.example>\r\nTo: partners@vendor.example\r\nSubject: Registration\r\nMessage-ID: <attack@northwind.example>\r\nDate: Tue, 4 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"

// longReferences is a message whose References header holds n bytes of
// message ids written without angle brackets (as broken mailers do).
func longReferences(n int) []byte {
	var b strings.Builder
	b.WriteString(attackFrom + "References:")
	for b.Len() < n {
		b.WriteString(" a@b")
	}
	b.WriteString("\r\nContent-Type: text/plain\r\n\r\nCompany: Globex\r\nWebsite: globex.example\r\n")
	return []byte(b.String())
}

// manyParts is a multipart/mixed message of n tiny text parts, padded to
// size bytes (0: no padding).
func manyParts(n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(attackFrom + "Content-Type: multipart/mixed; boundary=B\r\n\r\n")
	for range n {
		b.WriteString("--B\r\n\r\nx\r\n")
	}
	b.WriteString("--B--\r\n")
	pad(&b, size)
	return b.Bytes()
}

// deepNesting is a message of depth nested multipart/mixed parts around a
// text part, padded to size bytes inside the innermost part.
func deepNesting(depth, size int) []byte {
	var b bytes.Buffer
	b.WriteString(attackFrom + "Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\nCompany: Globex\r\n", depth-1)
	pad(&b, size-depth*12)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "\r\n--b%d--\r\n", i)
	}
	return b.Bytes()
}

// bigHeader is a message whose header is n bytes.
func bigHeader(n int) []byte {
	var b strings.Builder
	b.WriteString(attackFrom)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "Received: from relay%d.example by mx.vendor.example; Tue, 4 Mar 2025 10:00:00 +0000\r\n", i)
	}
	b.WriteString("\r\nCompany: Globex\r\n")
	return []byte(b.String())
}

// nestedQuotes is an HTML-only message: depth nested <blockquote>s around
// n bytes of lines (each nested quote used to copy everything inside it).
func nestedQuotes(depth, n int) []byte {
	var b strings.Builder
	b.WriteString(attackFrom + "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Company: Globex</p>")
	b.WriteString(strings.Repeat("<blockquote>", depth))
	for line := "quoted line<br>\r\n"; b.Len()+len(line) <= n; {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// htmlOf is an HTML-only message of the element repeated to n bytes.
func htmlOf(element string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(attackFrom + "Content-Type: text/html\r\n\r\n<p>Company: Globex</p>")
	for b.Len()+len(element) <= n {
		b.WriteString(element)
	}
	return b.Bytes()
}

// bigCSV is a message with a base64 .csv attachment of about n bytes.
func bigCSV(n int) []byte {
	var csv bytes.Buffer
	csv.WriteString("Company,Website,Contact,Email,Consent\r\n")
	for i := 0; csv.Len() < n/100*72; i++ {
		fmt.Fprintf(&csv, "Company %d,c%d.example,Jane Doe,jane@c%d.example,yes\r\n", i, i, i)
	}
	enc := base64.StdEncoding.EncodeToString(csv.Bytes())
	var b strings.Builder
	b.WriteString(attackFrom + "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n")
	b.WriteString("--B\r\nContent-Type: text/csv; name=regs.csv\r\nContent-Disposition: attachment; filename=regs.csv\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; i < len(enc); i += 76 {
		b.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	b.WriteString("--B--\r\n")
	return []byte(b.String())
}

// bigText is a one-part text message of n bytes of short lines.
func bigText(n int) []byte {
	var b bytes.Buffer
	b.WriteString(attackFrom + "Content-Type: text/plain\r\n\r\nCompany: Globex\r\n")
	for b.Len()+3 <= n {
		b.WriteString("a\r\n")
	}
	return b.Bytes()
}

func pad(b *bytes.Buffer, size int) {
	line := strings.Repeat("p", 76) + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
}

// allocated reports the bytes f allocates (the whole process's, so no
// test here runs in parallel).
// allocBound is an allocation bound, doubled under the race detector,
// whose bookkeeping allocates beside the code measured.
func allocBound(n uint64) uint64 {
	if raceBuild {
		return 2 * n
	}
	return n
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 100 KB References header used to take ~16 s: ids were read by
// splitting the rest of the header again for every id.
func TestLongReferencesParseInLinearWork(t *testing.T) {
	raw := longReferences(100 << 10)
	var in *Inbound
	var err error
	n := allocated(func() { in, err = ParseMessage(raw) })
	if err != nil {
		t.Fatal(err)
	}
	if len(in.References) != maxReferences || in.References[maxReferences-1] != "a@b" {
		t.Errorf("%d references, last %q", len(in.References), in.References[len(in.References)-1])
	}
	if n > allocBound(8<<20) {
		t.Errorf("parsing a 100 KB References header allocated %d MiB", n>>20)
	}
}

// 200,000 tiny parts (10.9 MB) took 1,071 CPU-seconds and ~1 GB: refused
// before the MIME library reads them.
func TestHandlerRefusesTooManyMIMEParts(t *testing.T) {
	srv := loopback(t, channel(t, func(o *Options) { o.Registrar = newFakeRegistrar() }))
	code, body := send(t, srv, "message/rfc822", manyParts(200_000, 0), 60*time.Second)
	want := fmt.Sprintf("more than %d MIME parts", MaxParts)
	if code != 422 || !strings.Contains(body, want) || !strings.Contains(body, `"field":"message"`) {
		t.Errorf("%d %s, want 422 …%s…", code, body, want)
	}
}

func TestHandlerRefusesDeepNesting(t *testing.T) {
	srv := loopback(t, channel(t, func(o *Options) { o.Registrar = newFakeRegistrar() }))
	code, body := send(t, srv, "message/rfc822", deepNesting(1000, 1<<20), 60*time.Second)
	want := fmt.Sprintf("MIME parts nested deeper than %d", MaxDepth)
	if code != 422 || !strings.Contains(body, want) {
		t.Errorf("%d %s, want 422 …%s…", code, body, want)
	}
}

func TestHandlerRefusesAnOversizedHeader(t *testing.T) {
	srv := loopback(t, channel(t, func(o *Options) { o.Registrar = newFakeRegistrar() }))
	code, body := send(t, srv, "message/rfc822", bigHeader(MaxHeaderBytes+1024), 60*time.Second)
	if code != 422 || !strings.Contains(body, "header larger than 256KiB") {
		t.Errorf("%d %s, want 422 …header larger than 256KiB…", code, body)
	}
}

// Nested <blockquote>s made the HTML-to-text conversion copy the text once
// per level: 100 levels over 1 MB took 20 s and 14 GB.
func TestNestedHTMLQuotesConvertInLinearWork(t *testing.T) {
	raw := nestedQuotes(100, 100<<10)
	var in *Inbound
	var err error
	n := allocated(func() { in, err = ParseMessage(raw) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.Text, "Company: Globex\n> > > ") {
		t.Errorf("text %.80q", in.Text)
	}
	if n > allocBound(32<<20) {
		t.Errorf("converting 100 nested quotes over 100 KB allocated %d MiB", n>>20)
	}
}

// Random messages built from the attacks' pieces parse within the
// bounds, whatever they hold (seeded: a failure reproduces).
func TestRandomMessagesStayWithinBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(20250304, 1))
	pieces := []string{
		"--B\r\n", "--B--\r\n", "--C\r\n", "\r\n", "Content-Type: multipart/mixed; boundary=C\r\n",
		"Content-Type: multipart/alternative; boundary=B\r\n", "Content-Type: text/html\r\n", "Content-Type: message/rfc822\r\n",
		"Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n", "<blockquote>", "<td>",
		"Q29tcGFueTogR2xvYmV4\r\n", "=C3=A9=\r\n", "Company: Globex\r\n", "References: a@b c@d <e@f>\r\n", "From: x@y\r\n",
		"Content-Disposition: attachment; filename=a.csv\r\n", "a,b\r\n1,2\r\n",
	}
	for i := range 300 {
		var b bytes.Buffer
		b.WriteString(attackFrom + "Content-Type: multipart/mixed; boundary=B\r\n\r\n")
		for range rng.IntN(400) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		msg := b.Bytes()
		n := allocated(func() { _, _ = ParseMessage(msg) })
		if n > allocBound(16<<20) {
			t.Fatalf("message %d (%d bytes) allocated %d MiB:\n%q", i, len(msg), n>>20, msg)
		}
	}
}

// FuzzParseMessage: whatever the bytes, ParseMessage answers without a
// panic — a message, or a refusal naming the field — and a message it
// reads keeps within its limits and reads the same twice. The seeds (run
// by go test) are the real messages of testdata and small versions of
// the attacks.
func FuzzParseMessage(f *testing.F) {
	for _, name := range testdataMessages(f) {
		f.Add(name)
	}
	for _, m := range [][]byte{
		longReferences(2 << 10), manyParts(MaxParts+1, 0), manyParts(3, 0), deepNesting(MaxDepth+2, 2<<10), deepNesting(3, 1<<10),
		bigHeader(4 << 10), nestedQuotes(20, 2<<10), bigCSV(2 << 10), bigText(2 << 10),
		[]byte(attackFrom + "Content-Type: message/rfc822\r\n\r\nFrom: jane@initech.example\r\nSubject: hi\r\n\r\nhello\r\n"),
		[]byte(attackFrom + "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n"),
		[]byte(attackFrom + "Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSoci=E9t=E9: x=\r\n--a--"),
		[]byte("From: a@b\r\n\r\n"), []byte("From: a@b"), []byte("\x00"), []byte(""),
	} {
		f.Add(string(m))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := ParseMessage([]byte(raw))
		if err != nil {
			var fe *intake.FieldError
			if !errors.As(err, &fe) || (fe.Field != "message" && fe.Field != "from") || fe.Reason == "" {
				t.Fatalf("error %v is not a refusal on message or from", err)
			}
			return
		}
		if len(a.Text) > MaxTextBytes || len(a.HTML) > MaxBodyBytes*4 || len(a.References) > maxReferences || len(a.MessageID) > maxIDLen || len(a.CSV) > 1 {
			t.Fatalf("over a limit: text %d html %d refs %d id %d csv %d", len(a.Text), len(a.HTML), len(a.References), len(a.MessageID), len(a.CSV))
		}
		if _, err := registration.ParseEmail(a.From); err != nil {
			t.Fatalf("sender %q: %v", a.From, err)
		}
		b, _ := ParseMessage([]byte(raw))
		if a.Text != b.Text || a.Subject != b.Subject || a.MessageID != b.MessageID || a.SubmissionKey() != b.SubmissionKey() {
			t.Fatal("not deterministic")
		}
	})
}

func testdataMessages(f *testing.F) []string {
	names, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(names) == 0 {
		f.Fatalf("testdata: %v", err)
	}
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// BenchmarkParseWorstCases plans (parses, authenticates and reads the
// form of) the worst messages up to the default size limit, 25 MiB. B/op
// is all the memory a message makes the channel allocate; the figures
// are in docs/email-limits.md.
func BenchmarkParseWorstCases(b *testing.B) {
	limit := int(intake.DefaultConfig().Email.MaxBytes)
	c := New(Options{Config: intake.DefaultConfig().Email, Partners: intake.NewDirectory(partners)})
	cases := []struct {
		name string
		raw  []byte
	}{
		{"references_100KB", longReferences(100 << 10)},
		{"parts_200000_10.9MB", manyParts(200_000, 0)},
		{"parts_200000_at_limit", manyParts(200_000, limit)},
		{"parts_500_at_limit", manyParts(MaxParts, limit)},
		{"nesting_1000_at_limit", deepNesting(1000, limit)},
		{"nesting_16_at_limit", deepNesting(MaxDepth, limit)},
		{"nesting_16_prefix_boundaries_at_limit", prefixBoundaries(MaxDepth, limit)},
		{"header_256KiB", bigHeader(MaxHeaderBytes - 512)},
		{"html_quotes_100_at_limit", nestedQuotes(100, limit)},
		{"html_line_breaks_at_limit", htmlOf("<br>", limit)},
		{"html_paragraphs_at_limit", htmlOf("<p>", limit)},
		{"text_at_limit", bigText(limit)},
		{"csv_base64_at_limit", bigCSV(limit)},
	}
	for _, tc := range cases {
		if len(tc.raw) > limit {
			b.Fatalf("%s: %d bytes, over the limit", tc.name, len(tc.raw))
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.raw)))
			for b.Loop() {
				_, _ = c.Plan(tc.raw, Hints{})
			}
		})
	}
}

// prefixBoundaries nests depth multiparts whose boundaries are prefixes of
// each other (b, bb, bbb …) around lines that start like every one of
// them: each level's search for its delimiter meets every line.
func prefixBoundaries(depth, size int) []byte {
	var b bytes.Buffer
	bnd := func(i int) string { return strings.Repeat("b", i+1) }
	b.WriteString(attackFrom + "Content-Type: multipart/mixed; boundary=" + bnd(0) + "\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", bnd(i-1), bnd(i))
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain\r\n\r\nCompany: Globex\r\n", bnd(depth-1))
	line := "--" + bnd(depth) + "X\r\n"
	for b.Len()+len(line)+depth*(depth+8) < size {
		b.WriteString(line)
	}
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "\r\n--%s--\r\n", bnd(i))
	}
	return b.Bytes()
}
