package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// ErrNotConfigured is returned by New when no SMTP host is configured.
var ErrNotConfigured = errors.New("mail: not configured (set mail.host)")

// Options are what a Sender takes beside its Config.
type Options struct {
	Logger *slog.Logger
	// TLSConfig overrides the TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New returns the Sender for a configuration: an Outbox writing into
// outbox when it is set (the sandbox), else SMTP to c.Host.
func New(c Config, outbox string, o Options) (Sender, error) {
	switch {
	case outbox != "":
		return NewOutbox(outbox, c.From, o)
	case c.Host != "":
		return NewSMTP(c, o)
	}
	return nil, ErrNotConfigured
}

// SMTP sends each message over a new SMTP connection to the configured
// submission server.
type SMTP struct {
	cfg  Config
	from mail.Address
	helo string
	tls  *tls.Config
	log  *slog.Logger
	now  func() time.Time
}

// NewSMTP returns an SMTP sender.
func NewSMTP(c Config, o Options) (*SMTP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Host == "" {
		return nil, ErrNotConfigured
	}
	from, err := ParseAddress(c.From)
	if err != nil {
		return nil, err
	}
	s := &SMTP{cfg: c, from: from, helo: c.Helo, log: o.Logger, now: o.Now}
	if s.helo == "" {
		s.helo = Domain(from.Address)
	}
	if o.TLSConfig != nil {
		s.tls = o.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = c.Host
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Send delivers m. The error says whether the server refused it for good
// (IsPermanent) or the failure may pass (a 4xx reply, a timeout, a
// connection error).
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	data, err := m.Render(s.from, s.now())
	if err != nil {
		return err
	}
	from := s.from.Address
	if m.From != nil {
		from = m.From.Address
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.deliver(ctx, from, m.recipients(), data); err != nil {
		if ctx.Err() != nil && !IsPermanent(err) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("mail: send to %s via %s: %w", maskList(m.recipients()), s.cfg.addr(), err)
	}
	s.log.Debug("mail sent", "to", maskList(m.recipients()), "message_id", m.MessageID)
	return nil
}

func (s *SMTP) deliver(ctx context.Context, from string, rcpts []string, data []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	// The end of ctx (its deadline or a cancel) interrupts any blocked
	// read or write; ctx.Err() is set by then.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(s.helo); err != nil {
		return err
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS (set mail.tls to tls or none)")
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password.Reveal(), s.cfg.Host)); err != nil {
			return fmt.Errorf("auth as %s: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", maskAddr(r), err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// IsPermanent reports whether err is a permanent SMTP refusal (a 5xx
// reply) or an invalid message: sending it again will not help.
func IsPermanent(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500
	}
	return errors.Is(err, ErrInvalid)
}

// maskAddr hides an address's local part for logs and errors.
func maskAddr(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i <= 0 {
		return "***"
	}
	return a[:1] + "***" + a[i:]
}

func maskList(l []string) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = maskAddr(a)
	}
	return strings.Join(s, ",")
}
