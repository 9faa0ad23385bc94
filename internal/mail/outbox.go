package mail

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Outbox writes each message as an .eml file into a directory instead of
// sending it. Files are named by time and message id, written to a
// temporary name, synced and renamed, so a reader never sees half a file.
type Outbox struct {
	dir  string
	from mail.Address
	log  *slog.Logger
	now  func() time.Time
}

// DefaultOutboxFrom is the sender of outbox messages when none is
// configured.
const DefaultOutboxFrom = "regsync <regsync@localhost.invalid>"

// partialPattern names messages being written: never *.eml, so what
// picks up the outbox's .eml files never reads half a message.
const partialPattern = ".tmp-*.partial"

// NewOutbox returns an outbox writing into dir (created if missing), with
// from as the sender (DefaultOutboxFrom when empty).
func NewOutbox(dir, from string, o Options) (*Outbox, error) {
	if from == "" {
		from = DefaultOutboxFrom
	}
	addr, err := ParseAddress(from)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("mail: outbox: no directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	// A message being written is a hidden .partial file until it is
	// complete and renamed; one a crash left behind was never sent.
	if stale, err := filepath.Glob(filepath.Join(dir, partialPattern)); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	ob := &Outbox{dir: dir, from: addr, log: o.Logger, now: o.Now}
	if ob.log == nil {
		ob.log = slog.New(slog.DiscardHandler)
	}
	if ob.now == nil {
		ob.now = time.Now
	}
	return ob, nil
}

// Dir is the outbox directory.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m to the outbox. The envelope recipients (Bcc included) are
// recorded in an X-Envelope-To header line at the top of the file.
func (o *Outbox) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.now()
	data, err := m.Render(o.from, now)
	if err != nil {
		return err
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + fileSafe(m.MessageID) + ".eml"
	tmp, err := os.CreateTemp(o.dir, partialPattern)
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	env := "X-Envelope-To: " + strings.Join(m.recipients(), ", ") + "\r\n"
	if _, err = tmp.WriteString(env); err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(o.dir, name))
	}
	if err != nil {
		return fmt.Errorf("mail: outbox: write %s: %w", name, err)
	}
	o.log.Info("mail written to outbox", "file", name, "to", maskList(m.recipients()))
	return nil
}

func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}
