package channels

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/intake/statuspage"
	regmail "github.com/regsync/regsync/internal/mail"
)

// The leaves the channels, the engine and the notifier share: the status
// links and the mail sender. Each is built from the configuration at
// start and rebuilt by Set at a reload; readers see one or the other,
// never half of both.

// Links makes registrations' login-free status links, signed with
// intake.status_page.key or, unset, with a random key made once per
// process (so a reload does not revoke the links handed out).
type Links struct {
	public string
	log    *slog.Logger
	random *statuspage.Signer
	cur    atomic.Pointer[linkSet]
}

type linkSet struct {
	signer *statuspage.Signer
	links  *statuspage.Links
}

// NewLinks builds the status links of cfg under the public URL.
func NewLinks(cfg *config.Config, public string, log *slog.Logger) *Links {
	l := &Links{public: public, log: log, random: statuspage.RandomSigner()}
	l.Set(cfg)
	return l
}

// Set signs with the key of a new configuration.
func (l *Links) Set(cfg *config.Config) {
	signer := l.random
	if k := cfg.Intake.StatusPage.Key; k.IsSet() {
		s, err := statuspage.NewSigner(k)
		if err != nil {
			l.log.With("component", "intake").Error("intake.status_page.key cannot sign status links; using a random key", "err", err)
		} else {
			signer = s
		}
	}
	l.cur.Store(&linkSet{signer: signer, links: statuspage.NewLinks(l.public, signer)})
}

// URL is a registration's status link.
func (l *Links) URL(caseNumber string) string { return l.cur.Load().links.URL(caseNumber) }

func (l *Links) signer() *statuspage.Signer { return l.cur.Load().signer }

// outboxSubdir is the sandbox's default outbox, beside the state file.
const outboxSubdir = "outbox"

// Mail is the mail sender in force: SMTP (mail.host), or an outbox
// directory (notify.outbox; the sandbox's default when no mail server is
// set), or none.
type Mail struct {
	log *slog.Logger
	now func() time.Time
	cur atomic.Pointer[mailSet]
}

type mailSet struct {
	sender    regmail.Sender // nil: no mail can be sent
	kind      string         // "smtp", "outbox" or ""
	outboxDir string         // when kind is "outbox"
	sandbox   bool           // crm.kind sandbox: the outbox is shown at OutboxPath
}

// NewMail builds the mail sender of cfg; log is the intake's.
func NewMail(cfg *config.Config, log *slog.Logger, now func() time.Time) *Mail {
	m := &Mail{log: log, now: now}
	m.Set(cfg)
	return m
}

// Set builds the sender of a new configuration. It cannot fail: what
// cannot work is logged and left off.
func (m *Mail) Set(cfg *config.Config) {
	ms := &mailSet{sandbox: cfg.CRM.Kind == config.KindSandbox}
	outbox := cfg.Notify.Outbox
	if outbox == "" && !cfg.Mail.Enabled() && ms.sandbox {
		outbox = filepath.Join(filepath.Dir(cfg.State.Path), outboxSubdir)
	}
	s, err := regmail.New(cfg.Mail, outbox, regmail.Options{Logger: m.log.With("component", "mail"), Now: m.now})
	switch {
	case errors.Is(err, regmail.ErrNotConfigured):
	case err != nil:
		m.log.Error("mail cannot be sent", "err", err)
	default:
		ms.sender, ms.kind = s, "smtp"
		if outbox != "" {
			ms.kind, ms.outboxDir = "outbox", outbox
		}
	}
	m.cur.Store(ms)
}

// Sender is the sender in force (nil when no mail can be sent) and the
// metric label of its kind.
func (m *Mail) Sender() (regmail.Sender, string) {
	ms := m.cur.Load()
	return ms.sender, ms.kind
}

// sandboxOutbox is the outbox directory shown at OutboxPath: the sandbox
// CRM, with mail going to the outbox; "" otherwise.
func (m *Mail) sandboxOutbox() string {
	if ms := m.cur.Load(); ms.sandbox && ms.kind == "outbox" {
		return ms.outboxDir
	}
	return ""
}
