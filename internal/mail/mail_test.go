package mail_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime/v2"

	"github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/mail/mailtest"
	"github.com/regsync/regsync/internal/secret"
)

var fixed = time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)

func msg() *mail.Message {
	return &mail.Message{
		To:         []netmail.Address{{Name: "Jane Müller", Address: "jane@partner.example"}},
		Cc:         []netmail.Address{{Address: "ops@partner.example"}},
		Bcc:        []netmail.Address{{Address: "audit@vendor.example"}},
		Subject:    "Re: Registration R-ABCDEFGHJK — needs info",
		Text:       "Hello Jane,\nwe need one more thing: the company's website.\nLine with = sign and a very long line that goes on and on and on and on and on beyond seventy-six characters for sure.",
		HTML:       "<p>Hello Jane,</p><p>we need the company's website.</p>",
		InReplyTo:  "orig-1@mail.partner.example",
		References: []string{"first@mail.partner.example", "orig-1@mail.partner.example"},
		Header:     map[string]string{"Auto-Submitted": "auto-replied"},
	}
}

func TestRenderParsesBack(t *testing.T) {
	m := msg()
	data, err := m.Render(netmail.Address{Name: "Partner Program", Address: "partners@vendor.example"}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID == "" || !strings.HasSuffix(m.MessageID, "@vendor.example") {
		t.Errorf("message id %q not generated under the From domain", m.MessageID)
	}
	if bytes.Contains(data, []byte("audit@vendor.example")) {
		t.Error("Bcc recipient appears in the rendered message")
	}
	for _, line := range bytes.Split(data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line longer than 998 octets")
		}
		if bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("bare LF in %q", line)
		}
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := env.GetHeader("Subject"); got != m.Subject {
		t.Errorf("subject %q, want %q", got, m.Subject)
	}
	if got := env.GetHeader("In-Reply-To"); got != "<orig-1@mail.partner.example>" {
		t.Errorf("In-Reply-To %q", got)
	}
	if got := env.GetHeader("References"); got != "<first@mail.partner.example> <orig-1@mail.partner.example>" {
		t.Errorf("References %q", got)
	}
	if got := env.GetHeader("Message-ID"); got != "<"+m.MessageID+">" {
		t.Errorf("Message-ID %q", got)
	}
	if got := env.GetHeader("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if got := env.GetHeader("Date"); got != "Tue, 04 Mar 2025 10:30:00 +0000" {
		t.Errorf("Date %q", got)
	}
	to, _ := env.AddressList("To")
	if len(to) != 1 || to[0].Name != "Jane Müller" || to[0].Address != "jane@partner.example" {
		t.Errorf("To %v", to)
	}
	if strings.ReplaceAll(strings.TrimSpace(env.Text), "\r\n", "\n") != m.Text {
		t.Errorf("text body %q, want %q", env.Text, m.Text)
	}
	if !strings.Contains(env.HTML, "company's website") {
		t.Errorf("html body %q", env.HTML)
	}
}

func TestRenderTextOnlyAndHTMLOnly(t *testing.T) {
	from := netmail.Address{Address: "a@vendor.example"}
	for _, m := range []*mail.Message{
		{To: []netmail.Address{{Address: "b@x.example"}}, Subject: "s", Text: "only text"},
		{To: []netmail.Address{{Address: "b@x.example"}}, Subject: "s", HTML: "<b>only html</b>"},
	} {
		data, err := m.Render(from, fixed)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("multipart")) {
			t.Errorf("single body rendered as multipart:\n%s", data)
		}
		env, err := enmime.ReadEnvelope(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(env.Text, "only") {
			t.Errorf("body lost: %q", env.Text)
		}
	}
}

func TestRenderRefusesHeaderInjection(t *testing.T) {
	from := netmail.Address{Address: "a@vendor.example"}
	cases := map[string]func(m *mail.Message){
		"subject":     func(m *mail.Message) { m.Subject = "hi\r\nBcc: victim@x.example" },
		"header":      func(m *mail.Message) { m.Header = map[string]string{"X-A": "1\nBcc: v@x.example"} },
		"header name": func(m *mail.Message) { m.Header = map[string]string{"X A": "1"} },
		"reserved":    func(m *mail.Message) { m.Header = map[string]string{"bcc": "v@x.example"} },
		"message id":  func(m *mail.Message) { m.InReplyTo = "<a@b>" },
		"no rcpt":     func(m *mail.Message) { m.To, m.Cc, m.Bcc = nil, nil, nil },
		"no body":     func(m *mail.Message) { m.Text, m.HTML = "", "" },
		"bad rcpt":    func(m *mail.Message) { m.To = []netmail.Address{{Address: "x@y>\r\nRCPT"}} },
		"name crlf":   func(m *mail.Message) { m.To = []netmail.Address{{Name: "a\r\nb", Address: "a@b.example"}} },
	}
	for name, mod := range cases {
		m := msg()
		mod(m)
		if _, err := m.Render(from, fixed); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
		if !mail.IsPermanent(mail.ErrInvalid) {
			t.Error("an invalid message is not permanent")
		}
	}
}

func TestNewMessageIDIsUniqueAndCarriesPrefix(t *testing.T) {
	a, b := mail.NewMessageID("R-ABCDEFGHJK", "vendor.example"), mail.NewMessageID("R-ABCDEFGHJK", "vendor.example")
	if a == b || !strings.HasPrefix(a, "R-ABCDEFGHJK.") || !strings.HasSuffix(a, "@vendor.example") {
		t.Errorf("ids %q %q", a, b)
	}
}

func TestSMTPModes(t *testing.T) {
	for _, mode := range []string{mailtest.TLSNone, mailtest.TLSStartTLS, mailtest.TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{TLS: mode, Username: "regsync", Password: "s3cret-pass"})
			c := mail.DefaultConfig()
			c.Host, c.Port, c.TLS = srv.Host(), srv.Port(), mode
			c.Username, c.Password = "regsync", secret.New("s3cret-pass")
			c.From = "Partner Program <partners@vendor.example>"
			c.Timeout = 10 * time.Second
			s, err := mail.New(c, "", mail.Options{TLSConfig: srv.TLSConfig(), Now: func() time.Time { return fixed }})
			if err != nil {
				t.Fatal(err)
			}
			m := msg()
			if err := s.Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages captured", len(got))
			}
			g := got[0]
			if g.From != "partners@vendor.example" || g.AuthUser != "regsync" || g.TLS != (mode != mailtest.TLSNone) {
				t.Errorf("envelope from %q, auth %q, tls %v", g.From, g.AuthUser, g.TLS)
			}
			if strings.Join(g.To, ",") != "jane@partner.example,ops@partner.example,audit@vendor.example" {
				t.Errorf("recipients %v", g.To)
			}
			if g.Header("Message-ID") != "<"+m.MessageID+">" || g.Header("In-Reply-To") != "<orig-1@mail.partner.example>" {
				t.Errorf("threading headers: %q %q", g.Header("Message-ID"), g.Header("In-Reply-To"))
			}
		})
	}
}

func TestSMTPWrongPasswordNeverShowsIt(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{TLS: mailtest.TLSStartTLS, Username: "regsync", Password: "right"})
	c := mail.DefaultConfig()
	c.Host, c.Port, c.From = srv.Host(), srv.Port(), "partners@vendor.example"
	c.Username, c.Password = "regsync", secret.New("wrong-password-xyz")
	s, err := mail.NewSMTP(c, mail.Options{TLSConfig: srv.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), msg())
	if err == nil {
		t.Fatal("sent with a wrong password")
	}
	if strings.Contains(err.Error(), "wrong-password-xyz") || strings.Contains(err.Error(), "jane@") {
		t.Errorf("error leaks a secret or an address: %v", err)
	}
	if !mail.IsPermanent(err) {
		t.Errorf("535 not permanent: %v", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("message delivered")
	}
}

func TestSMTPPermanentAndTemporaryRefusals(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Reject: func(rcpt string) error {
		if strings.HasPrefix(rcpt, "gone") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}})
	c := mail.DefaultConfig()
	c.Host, c.Port, c.TLS, c.From = srv.Host(), srv.Port(), mail.TLSNone, "partners@vendor.example"
	s, err := mail.NewSMTP(c, mail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &mail.Message{To: []netmail.Address{{Address: "gone@partner.example"}}, Subject: "x", Text: "x"}
	if err := s.Send(t.Context(), m); err == nil || !mail.IsPermanent(err) {
		t.Errorf("550: err = %v, permanent = %v", err, mail.IsPermanent(err))
	} else if strings.Contains(err.Error(), "gone@") {
		t.Errorf("error repeats the address: %v", err)
	}
	m = &mail.Message{To: []netmail.Address{{Address: "busy@partner.example"}}, Subject: "x", Text: "x"}
	if err := s.Send(t.Context(), m); err == nil || mail.IsPermanent(err) {
		t.Errorf("451: err = %v, permanent = %v", err, mail.IsPermanent(err))
	}
}

func TestSMTPRequiresStartTLSWhenAsked(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{}) // no TLS offered
	c := mail.DefaultConfig()
	c.Host, c.Port, c.TLS, c.From = srv.Host(), srv.Port(), mail.TLSStartTLS, "partners@vendor.example"
	s, _ := mail.NewSMTP(c, mail.Options{})
	err := s.Send(t.Context(), msg())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("err = %v, want a STARTTLS refusal", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("sent in clear text")
	}
}

func TestSMTPHonoursContextAgainstASilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // accept, never greet
		}
	}()
	c := mail.DefaultConfig()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	c.Host, c.TLS, c.From = host, mail.TLSNone, "partners@vendor.example"
	c.Port = atoi(port)
	c.Timeout = time.Minute
	s, _ := mail.NewSMTP(c, mail.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, msg())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Error("Send ignored its context")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestOutboxWritesReadableFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	c := mail.DefaultConfig()
	c.From = "Partner Program <partners@vendor.example>"
	s, err := mail.New(c, dir, mail.Options{Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	m := msg()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if !strings.HasPrefix(filepath.Base(files[0]), "20250304T103000") {
		t.Errorf("name %s", files[0])
	}
	data, _ := os.ReadFile(files[0])
	if !bytes.HasPrefix(data, []byte("X-Envelope-To: jane@partner.example, ops@partner.example, audit@vendor.example\r\n")) {
		t.Errorf("envelope line missing:\n%s", data[:80])
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if env.GetHeader("Subject") != m.Subject || !strings.Contains(env.Text, "website") {
		t.Errorf("outbox file does not read back: %q", env.GetHeader("Subject"))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestNewWithoutHostOrOutbox(t *testing.T) {
	if _, err := mail.New(mail.DefaultConfig(), "", mail.Options{}); !errors.Is(err, mail.ErrNotConfigured) {
		t.Errorf("err = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := mail.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	c.Host, c.TLS, c.Port, c.Timeout = "smtp.example.com", "ssl", 0, 0
	c.Password = secret.New("x")
	err := c.Validate()
	want := []string{
		"mail.port: must be 1 to 65535, not 0",
		`mail.tls: must be starttls, tls or none, not "ssl"`,
		"mail.from: required to send mail",
		"mail.username: required with a password",
		"mail.timeout: must be positive, not 0s",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	c = mail.DefaultConfig()
	c.Host, c.TLS, c.From, c.Username, c.Password = "smtp.example.com", mail.TLSNone, "a@b.example", "u", secret.New("p")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "clear text") {
		t.Errorf("password in clear text accepted: %v", err)
	}
	c.Host = "127.0.0.1"
	if err := c.Validate(); err != nil {
		t.Errorf("loopback relay without TLS refused: %v", err)
	}
}

func TestRenderWithAttachment(t *testing.T) {
	m := msg()
	m.Attachments = []mail.Attachment{{Filename: "results.csv", ContentType: "text/csv; charset=utf-8", Data: bytes.Repeat([]byte("row,case_number\n1,R-ABCDEFGHJK\n"), 20)}}
	data, err := m.Render(netmail.Address{Address: "partners@vendor.example"}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Attachments) != 1 || env.Attachments[0].FileName != "results.csv" || !bytes.Equal(env.Attachments[0].Content, m.Attachments[0].Data) {
		t.Fatalf("attachments %+v", env.Attachments)
	}
	if !strings.Contains(env.Text, "website") || !strings.Contains(env.HTML, "website") {
		t.Errorf("bodies lost beside the attachment: %q %q", env.Text, env.HTML)
	}
	m.Attachments[0].Filename = "a\r\nb.csv"
	if _, err := m.Render(netmail.Address{Address: "partners@vendor.example"}, fixed); !errors.Is(err, mail.ErrInvalid) {
		t.Errorf("bad attachment name: %v", err)
	}
}

// TestOutboxPartialsAreNotMessages: a message being written is never an
// .eml file, and one a crash left half-written is removed at start.
func TestOutboxPartialsAreNotMessages(t *testing.T) {
	dir := t.TempDir()
	left := filepath.Join(dir, ".tmp-123.partial")
	if err := os.WriteFile(left, []byte("X-Envelope-To: a@b.example\r\nSubj"), 0o600); err != nil {
		t.Fatal(err)
	}
	ob, err := mail.NewOutbox(dir, "", mail.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("a partial message a crash left behind is still there: %v", err)
	}
	if err := ob.Send(context.Background(), &mail.Message{To: []netmail.Address{{Address: "p@partner.example"}}, Subject: "s", Text: "t", MessageID: "x@regsync.invalid"}); err != nil {
		t.Fatal(err)
	}
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	all, _ := filepath.Glob(filepath.Join(dir, "*"))
	hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(emls) != 1 || len(all) != 1 || len(hidden) != 0 {
		t.Errorf("outbox holds %v and %v, want one .eml", all, hidden)
	}
}
