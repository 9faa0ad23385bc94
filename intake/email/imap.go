package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/regsync/regsync/intake"
)

// Poller reads a mailbox over IMAP and hands each new message to the
// channel, as if the inbound-mail service had posted it. A message is
// marked processed (the configured keyword and \Seen) once it was
// registered, answered, ignored or refused; a message whose processing
// failed in a way that may pass (the CRM or the mail server was down) is
// left as it is and tried again at the next poll.
type Poller struct {
	ch   *Channel
	cfg  intake.IMAPConfig
	max  int64
	tls  *tls.Config
	log  *slog.Logger
	wait func(ctx context.Context, d time.Duration) error
}

// PollerOptions configure a poller.
type PollerOptions struct {
	// TLSConfig overrides the TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

// NewPoller returns a poller of the mailbox cfg names, feeding ch.
func NewPoller(ch *Channel, cfg intake.IMAPConfig, o PollerOptions) *Poller {
	p := &Poller{ch: ch, cfg: cfg, max: int64(ch.o.Config.MaxBytes), tls: o.TLSConfig, log: o.Logger}
	if p.log == nil {
		p.log = ch.o.Logger
	}
	if p.max <= 0 {
		p.max = int64(intake.DefaultConfig().Email.MaxBytes)
	}
	if p.cfg.Timeout <= 0 {
		p.cfg.Timeout = 30 * time.Second
	}
	p.wait = func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	return p
}

// PollResult counts what one poll did.
type PollResult struct {
	Found     int // messages without the processed keyword
	Processed int // registered, amended or answered
	Ignored   int // automatic mail
	Refused   int // not a partner, failed authentication, too large …
	Failed    int // left for the next poll
}

// Run polls every poll_interval until ctx ends. A failed poll is logged
// and retried at the next interval.
func (p *Poller) Run(ctx context.Context) error {
	for {
		res, err := p.PollOnce(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("imap poll failed", "addr", p.cfg.Addr, "mailbox", p.cfg.Mailbox, "err", err)
		} else if res.Found > 0 {
			p.log.Info("imap poll", "found", res.Found, "processed", res.Processed, "ignored", res.Ignored, "refused", res.Refused, "failed", res.Failed)
		}
		if err := p.wait(ctx, p.cfg.PollInterval); err != nil {
			return nil
		}
	}
}

// PollOnce connects, processes every message of the mailbox that does not
// carry the processed keyword, and logs out.
func (p *Poller) PollOnce(ctx context.Context) (PollResult, error) {
	var res PollResult
	c, err := p.dial(ctx)
	if err != nil {
		return res, fmt.Errorf("imap: connect %s: %w", p.cfg.Addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	if err := c.Login(p.cfg.Username, p.cfg.Password.Reveal()).Wait(); err != nil {
		return res, fmt.Errorf("imap: login as %s: %w", p.cfg.Username, err)
	}
	if _, err := c.Select(p.cfg.Mailbox, nil).Wait(); err != nil {
		return res, fmt.Errorf("imap: select %s: %w", p.cfg.Mailbox, err)
	}
	keyword := imap.Flag(p.cfg.Keyword)
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{keyword, imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return res, fmt.Errorf("imap: search: %w", err)
	}
	uids := data.AllUIDs()
	res.Found = len(uids)
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		outcome, err := p.one(ctx, c, uid)
		var fe *intake.FieldError
		switch {
		case errors.As(err, &fe):
			res.Refused++
			p.log.Info("imap message refused", "uid", uid, "field", fe.Field, "reason", fe.Reason)
		case err != nil:
			res.Failed++
			p.log.Warn("imap message failed; will retry", "uid", uid, "err", err)
			continue
		case outcome.Action == ActionIgnore:
			res.Ignored++
		default:
			res.Processed++
		}
		flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{keyword, imap.FlagSeen}}
		if err := c.Store(imap.UIDSetNum(uid), flags, nil).Close(); err != nil {
			return res, fmt.Errorf("imap: mark message %d processed: %w", uid, err)
		}
	}
	if err := c.Logout().Wait(); err != nil && ctx.Err() == nil {
		p.log.Debug("imap logout", "err", err)
	}
	return res, nil
}

// one fetches and processes one message.
func (p *Poller) one(ctx context.Context, c *imapclient.Client, uid imap.UID) (Outcome, error) {
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return Outcome{}, fmt.Errorf("imap: fetch size of %d: %w", uid, err)
	}
	if len(msgs) != 1 {
		return Outcome{}, fmt.Errorf("imap: message %d vanished", uid)
	}
	if msgs[0].RFC822Size > p.max {
		return Outcome{}, intake.Refuse("message", fmt.Sprintf("larger than %s", intake.ByteSize(p.max)))
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err = c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return Outcome{}, fmt.Errorf("imap: fetch %d: %w", uid, err)
	}
	if len(msgs) != 1 {
		return Outcome{}, fmt.Errorf("imap: message %d vanished", uid)
	}
	raw := msgs[0].FindBodySection(section)
	ctx, cancel := context.WithTimeout(ctx, p.ch.timeout())
	defer cancel()
	return p.ch.processWithin(ctx, raw, Hints{})
}

func (p *Poller) dial(ctx context.Context) (*imapclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(p.cfg.Addr)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.tls != nil {
		tc = p.tls.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return nil, err
	}
	// Bound the greeting and the TLS handshake; commands have the client's
	// own read timeouts.
	_ = conn.SetDeadline(time.Now().Add(p.cfg.Timeout))
	opts := &imapclient.Options{TLSConfig: tc}
	var c *imapclient.Client
	switch p.cfg.TLS {
	case intake.TLSImplicit:
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		c = imapclient.New(t, opts)
	case intake.TLSStartTLS:
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return nil, err
		}
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}
