// Package channels runs regsync's no-portal intake inside the daemon: it
// builds every channel of a configuration (e-mail, web form, Slack, CSV
// drop, HubSpot forms, status pages) over one registrar, mounts their
// routes, runs the pollers (IMAP mailbox, HubSpot forms) and rebuilds the
// set at a configuration reload.
//
// The routes are mounted once and always; each looks up the channel set in
// force, so a reload can turn a channel on or off or change its settings
// (a route whose channel is off answers 404). Keys regsync makes up when
// the configuration names none (the web form's nonce key; the status-link
// key, in Links) are made once per process, so a reload does not revoke
// what was handed out.
package channels

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/csvdrop"
	"github.com/regsync/regsync/intake/email"
	"github.com/regsync/regsync/intake/hubspotform"
	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/intake/statuspage"
	"github.com/regsync/regsync/intake/webform"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/state"
	"github.com/regsync/regsync/worker"
)

// OutboxPath is where the sandbox shows the e-mails partners would get
// (regmail.OutboxViewer): only with crm.kind sandbox and mail going to the
// outbox; 404 otherwise.
const OutboxPath = "/sandbox/outbox"

const (
	HubSpotFormPrefix  = "hubspot_form/"  // + form guid: the form poller's cursor in the state file
	csvRequestDeadline = 30 * time.Minute // an upload is imported while its request is open
)

// Options are what the channels are built over.
type Options struct {
	Config    *config.Config // the configuration at start
	PublicURL string
	Registrar intake.Registrar
	Partners  *intake.Directory
	Links     *Links
	Mail      *Mail
	State     *state.DB
	Origins   islack.OriginStore
	// CRM is the connector; HubSpot forms are polled only through a
	// HubSpot one.
	CRM    connectors.CRM
	Logger *slog.Logger
	Now    func() time.Time
}

// Set is the intake in force.
type Set struct {
	o        Options
	log      *slog.Logger  // the channels' ("component", "intake")
	nonceKey secret.Secret // random, when intake.webform.nonce_key is unset
	linkKey  secret.Secret // kept in <state.path>.link-key, when intake.webform.link_key is unset

	mu        sync.Mutex // reloads and the pollers' start and stop
	cur       atomic.Pointer[built]
	retired   []*islack.Handler // replaced Slack handlers that may still be answering
	loops     context.Context   // Run's context
	stopPolls context.CancelFunc
	polls     sync.WaitGroup
	stopped   bool
}

// built is the intake built from one configuration.
type built struct {
	cfg     *config.Config
	email   *email.Channel // nil when off
	webform *webform.Handler
	slack   *islack.Handler
	csv     *csvdrop.Handler
	status  *statuspage.Handler
	imap    *email.Poller
	forms   *hubspotform.Poller
}

// New builds the channels of o.Config.
func New(o Options) *Set {
	s := &Set{o: o, log: o.Logger.With("component", "intake")}
	if !o.Config.Intake.StatusPage.Key.IsSet() {
		o.Logger.Warn("intake.status_page.key is not set: status links are signed with a random key and stop working when regsync restarts (set REGSYNC_INTAKE_STATUS_PAGE_KEY)")
	}
	var k [32]byte
	_, _ = rand.Read(k[:])
	s.nonceKey = secret.New(base64.RawURLEncoding.EncodeToString(k[:]))
	s.cur.Store(s.build(o.Config))
	return s
}

// build makes the channel set of a configuration. It cannot fail: the
// configuration was validated; what cannot work (no mail server, a form
// poller without a HubSpot connector) is logged and left off.
func (s *Set) build(cfg *config.Config) *built {
	log, o, ic := s.log, s.o, cfg.Intake
	o.Partners.Set(cfg.Partners)
	c := &built{cfg: cfg}
	mail, _ := o.Mail.Sender()
	var extra, allow []string
	if cfg.Policy != nil {
		extra, allow = cfg.Policy.Rules.FreeEmailDomains.Extra, cfg.Policy.Rules.FreeEmailDomains.Allow
	}
	freeMail := registration.NewFreeMail(extra, allow)
	program := ProgramName(cfg)
	signer := o.Links.signer()
	required := []string(nil)
	if cfg.Policy != nil {
		required = cfg.Policy.Rules.Required
	}
	policy := cfg.Policy
	appealNote := func(r *registration.Record) string {
		if policy == nil {
			return ""
		}
		return worker.AppealNote(policy, r, o.Now())
	}
	c.status = statuspage.New(statuspage.Options{Signer: signer, Registrar: o.Registrar, PublicURL: o.PublicURL, ProgramName: program,
		AppealNote: appealNote, Required: required, Logger: log.With("channel", "status_page")})

	if ic.Email.Enabled {
		c.email = email.New(email.Options{Config: ic.Email, Registrar: o.Registrar, Partners: o.Partners, Mail: mail, ProgramName: program,
			FreeMail: freeMail, Tokens: signer, Logger: log.With("channel", intake.ChannelEmail), Now: o.Now})
		if ic.Email.IMAP.Enabled {
			c.imap = email.NewPoller(c.email, ic.Email.IMAP, email.PollerOptions{Logger: log.With("channel", intake.ChannelEmail, "poller", "imap")})
		}
	}
	if ic.WebForm.Enabled {
		wc := ic.WebForm
		if !wc.NonceKey.IsSet() {
			wc.NonceKey = s.nonceKey
		}
		if !wc.LinkKey.IsSet() {
			wc.LinkKey = s.keptLinkKey(cfg)
		}
		outboxURL := ""
		if o.Mail.sandboxOutbox() != "" {
			outboxURL = OutboxPath
		}
		if wc.ConfirmEmail && mail == nil {
			log.Error("intake.webform.confirm_email is on but no mail can be sent (mail.host, notify.outbox): the web form registers only through personal partner links and browsers that confirmed before")
		}
		c.webform = webform.New(webform.Options{Config: wc, Registrar: o.Registrar, Partners: o.Partners, PublicURL: o.PublicURL, ProgramName: program,
			FreeMail: freeMail, Store: o.State, Mail: mail, OutboxURL: outboxURL,
			Logger: log.With("channel", intake.ChannelWebForm), Now: o.Now})
	}
	if ic.Slack.Enabled {
		c.slack = islack.New(islack.Options{Config: ic.Slack, Registrar: o.Registrar, Partners: o.Partners, FreeMail: freeMail, Origins: o.Origins,
			Logger: log.With("channel", intake.ChannelSlack), Now: o.Now})
	}
	if ic.CSV.Enabled {
		c.csv = csvdrop.NewHandler(csvdrop.HandlerOptions{Config: ic.CSV, Registrar: o.Registrar, Partners: o.Partners, FreeMail: freeMail,
			Logger: log.With("channel", intake.ChannelCSV), Now: o.Now, RequestDeadline: csvRequestDeadline})
	}
	if ic.HubSpotForm.Enabled {
		src, ok := o.CRM.(hubspotform.Source)
		if !ok {
			log.Error("intake.hubspot_form is enabled but the CRM is not HubSpot: HubSpot forms are not polled", "crm", o.CRM.Name())
		} else {
			c.forms = hubspotform.NewPoller(hubspotform.Options{Config: ic.HubSpotForm, Source: src, Cursors: formCursors{o.State},
				Registrar: o.Registrar, Partners: o.Partners, FreeMail: freeMail, Logger: log.With("channel", intake.ChannelHubSpotForm)})
		}
	}
	return c
}

// ProgramName is how replies and pages name the program: the display
// name of mail.from ("Acme partner program <partners@acme.example>").
func ProgramName(cfg *config.Config) string {
	if a, err := regmail.ParseAddress(cfg.Mail.From); err == nil {
		return a.Name
	}
	return ""
}

// keptLinkKey is the web form's link key when intake.webform.link_key is
// unset: the one kept in <state.path>.link-key (made there the first
// time), so personal links and remembered browsers survive a restart and
// regsync partner-link signs with the same key. When it cannot be kept, a
// random one, said so.
func (s *Set) keptLinkKey(cfg *config.Config) secret.Secret {
	if s.linkKey.IsSet() {
		return s.linkKey
	}
	k, err := ensureLinkKey(cfg.State.Path)
	if err != nil {
		s.o.Logger.Error("intake.webform.link_key is not set and none can be kept beside the state file: personal partner links and remembered browsers last until a restart", "err", err)
		var b [32]byte
		_, _ = rand.Read(b[:])
		k = secret.New(base64.RawURLEncoding.EncodeToString(b[:]))
	}
	s.linkKey = k
	return k
}

// Slack is the Slack channel in force (nil while it is off), for the
// notifier's thread posts.
func (s *Set) Slack() *islack.Handler { return s.cur.Load().slack }

// Mount mounts the intake routes, the status pages and the sandbox
// outbox.
func (s *Set) Mount(mux *http.ServeMux) {
	mux.Handle(email.Path, s.route("the e-mail channel (intake.email)", true, func(c *built) http.Handler {
		if c.email == nil {
			return nil
		}
		return c.email
	}))
	form := s.route("the web form (intake.webform)", false, func(c *built) http.Handler {
		if c.webform == nil {
			return nil
		}
		return c.webform
	})
	mux.Handle(webform.Path, form)
	mux.Handle(webform.ConfirmPrefix, form)
	outbox := s.route("the sandbox outbox (crm.kind sandbox, with mail going to the outbox)", false, func(*built) http.Handler {
		dir := s.o.Mail.sandboxOutbox()
		if dir == "" {
			return nil
		}
		return regmail.OutboxViewer{Dir: dir, Path: OutboxPath, Public: s.o.PublicURL}
	})
	mux.Handle(OutboxPath, outbox)
	mux.Handle(OutboxPath+"/", outbox)
	mux.Handle(statuspage.Prefix, s.route("status pages", false, func(c *built) http.Handler {
		return c.status
	}))
	mux.Handle(islack.CommandsPath, s.route("the Slack channel (intake.slack)", true, func(c *built) http.Handler {
		if c.slack == nil {
			return nil
		}
		return c.slack.Commands()
	}))
	mux.Handle(islack.InteractionsPath, s.route("the Slack channel (intake.slack)", true, func(c *built) http.Handler {
		if c.slack == nil {
			return nil
		}
		return c.slack.Interactions()
	}))
	mux.Handle(csvdrop.Path, s.route("the CSV drop (intake.csv)", true, func(c *built) http.Handler {
		if c.csv == nil {
			return nil
		}
		return c.csv
	}))
}

// route serves a path with the handler of the channel set in force, or
// 404 while the channel is off.
func (s *Set) route(what string, api bool, pick func(*built) http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := pick(s.cur.Load())
		if h == nil {
			if api {
				intake.WriteError(w, http.StatusNotFound, intake.Refuse("path", what+" is not enabled"))
			} else {
				http.Error(w, "Not found: "+what+" is not enabled here.", http.StatusNotFound)
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Reload rebuilds the channels from a new configuration and restarts the
// pollers with it. The leaves they are built over (Links, Mail) are set
// to the new configuration first.
func (s *Set) Reload(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	c := s.build(cfg)
	s.cur.Store(c)
	if old.slack != nil {
		s.retired = append(s.retired, old.slack)
	}
	s.stopPollsLocked()
	s.startPollsLocked(c)
}

// Run runs the pollers (IMAP mailbox, HubSpot forms) until ctx ends (the
// web form's expired holds are purged by the state file's maintenance,
// state.DB.Maintain); then it stops them and waits — up to
// server.shutdown_timeout — for Slack answers still being sent.
func (s *Set) Run(ctx context.Context) {
	s.mu.Lock()
	s.loops = ctx
	s.startPollsLocked(s.cur.Load())
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true
	s.stopPollsLocked()
	c := s.cur.Load()
	handlers := append([]*islack.Handler(nil), s.retired...)
	if c.slack != nil {
		handlers = append(handlers, c.slack)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for _, h := range handlers {
			h.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(c.cfg.Server.ShutdownTimeout):
		s.o.Logger.Warn("slack answers still being sent at shutdown were abandoned")
	}
}

// startPollsLocked starts the pollers of a channel set.
func (s *Set) startPollsLocked(c *built) {
	if s.loops == nil || s.stopped {
		return
	}
	ctx, cancel := context.WithCancel(s.loops)
	s.stopPolls = cancel
	if c.imap != nil {
		s.polls.Add(1)
		go func() {
			defer s.polls.Done()
			s.o.Logger.Info("polling the intake mailbox", "addr", c.cfg.Intake.Email.IMAP.Addr, "mailbox", c.cfg.Intake.Email.IMAP.Mailbox,
				"every", c.cfg.Intake.Email.IMAP.PollInterval)
			_ = c.imap.Run(ctx)
		}()
	}
	if c.forms != nil {
		s.polls.Add(1)
		go func() {
			defer s.polls.Done()
			s.o.Logger.Info("polling HubSpot forms", "forms", len(c.cfg.Intake.HubSpotForm.Forms), "every", c.cfg.Intake.HubSpotForm.PollInterval)
			_ = c.forms.Run(ctx)
		}()
	}
}

func (s *Set) stopPollsLocked() {
	if s.stopPolls != nil {
		s.stopPolls()
		s.stopPolls = nil
	}
	s.polls.Wait()
}

// formCursors keeps the HubSpot form poller's cursors in the state file.
type formCursors struct{ db *state.DB }

func (f formCursors) Cursor(_ context.Context, guid string) (string, error) {
	return f.db.Cursor(HubSpotFormPrefix + guid)
}

func (f formCursors) SetCursor(_ context.Context, guid, cursor string) error {
	return f.db.SetCursor(HubSpotFormPrefix+guid, cursor)
}
