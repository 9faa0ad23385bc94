package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regsync/regsync/config"
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
	"github.com/regsync/regsync/worker"
)

// intakeSide is the daemon's no-portal intake: the channels, the status
// pages, the mail sender and the pollers of mailboxes and HubSpot forms.
//
// The routes are mounted once and always; each looks up the channel set in
// force, so a configuration reload can turn a channel on or off or change
// its settings (a route whose channel is off answers 404). The partner
// directory is one, updated in place. Keys regsync makes up when the
// configuration names none (the status-link key, the web form's nonce key)
// are made once per process, so a reload does not revoke what was handed
// out.
type intakeSide struct {
	mu        sync.Mutex // builds, reloads and the pollers' start and stop
	dir       *intake.Directory
	signer    *statuspage.Signer // random, when intake.status_page.key is unset
	nonceKey  secret.Secret      // random, when intake.webform.nonce_key is unset
	linkKey   secret.Secret      // kept in <state.path>.link-key, when intake.webform.link_key is unset (set at mount)
	registrar *worker.Registrar  // set at mount; nil in Offline
	cur       atomic.Pointer[channels]
	retired   []*islack.Handler // replaced Slack handlers that may still be answering

	loops      context.Context // the daemon's work context (startIntakeLoops)
	stopPolls  context.CancelFunc
	polls      sync.WaitGroup
	stopped    bool
	warnedKey  bool
	noMailOnce sync.Once
}

// channels is the intake built from one configuration.
type channels struct {
	cfg   *config.Config
	links *statuspage.Links
	// mail sends replies and notifications: SMTP, or an outbox directory
	// (notify.outbox; the sandbox's default); nil when neither is set.
	mail      regmail.Sender
	mailKind  string // "smtp", "outbox" or ""
	outboxDir string // the outbox directory, when mailKind is "outbox"
	freeMail  *registration.FreeMail

	email   *email.Channel // nil when off
	webform *webform.Handler
	slack   *islack.Handler
	csv     *csvdrop.Handler
	status  *statuspage.Handler
	imap    *email.Poller
	forms   *hubspotform.Poller
}

// Keys in the state file's cursors.
const (
	hubspotFormPrefix  = "hubspot_form/"  // + form guid: the form poller's cursor
	intakeOutboxSubdir = "outbox"         // the sandbox's default outbox, beside the state file
	csvRequestDeadline = 30 * time.Minute // an upload is imported while its request is open
)

// ensure builds the channel set once (without handlers until the
// registrar exists), for the notifier and status links made before mount.
func (in *intakeSide) ensure(d *Daemon, cfg *config.Config) *channels {
	if c := in.cur.Load(); c != nil {
		return c
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if c := in.cur.Load(); c != nil {
		return c
	}
	c := in.build(d, cfg)
	in.cur.Store(c)
	return c
}

// build makes the channel set of a configuration. It cannot fail: the
// configuration was validated; what cannot work (no mail server, a form
// poller without a HubSpot connector) is logged and left off.
func (in *intakeSide) build(d *Daemon, cfg *config.Config) *channels {
	log := d.log.With("component", "intake")
	ic := cfg.Intake
	if in.dir == nil {
		in.dir = intake.NewDirectory(cfg.Partners)
		in.signer = statuspage.RandomSigner()
		var k [32]byte
		_, _ = rand.Read(k[:])
		in.nonceKey = secret.New(base64.RawURLEncoding.EncodeToString(k[:]))
	}
	in.dir.Set(cfg.Partners)

	c := &channels{cfg: cfg}
	signer := in.signer
	if ic.StatusPage.Key.IsSet() {
		s, err := statuspage.NewSigner(ic.StatusPage.Key)
		if err != nil {
			log.Error("intake.status_page.key cannot sign status links; using a random key", "err", err)
		} else {
			signer = s
		}
	}
	c.links = statuspage.NewLinks(d.public, signer)

	outbox := cfg.Notify.Outbox
	if outbox == "" && !cfg.Mail.Enabled() && cfg.CRM.Kind == config.KindSandbox {
		outbox = filepath.Join(filepath.Dir(cfg.State.Path), intakeOutboxSubdir)
	}
	m, err := regmail.New(cfg.Mail, outbox, regmail.Options{Logger: log.With("component", "mail"), Now: d.now})
	switch {
	case errors.Is(err, regmail.ErrNotConfigured):
	case err != nil:
		log.Error("mail cannot be sent", "err", err)
	default:
		c.mail, c.mailKind = m, "smtp"
		if outbox != "" {
			c.mailKind, c.outboxDir = "outbox", outbox
		}
	}
	var extra, allow []string
	if cfg.Policy != nil {
		extra, allow = cfg.Policy.Rules.FreeEmailDomains.Extra, cfg.Policy.Rules.FreeEmailDomains.Allow
	}
	c.freeMail = registration.NewFreeMail(extra, allow)

	if in.registrar == nil {
		return c // before mount, or without a daemon: links and mail only
	}
	program := programName(cfg)
	reg := in.registrar
	required := []string(nil)
	if cfg.Policy != nil {
		required = cfg.Policy.Rules.Required
	}
	policy := cfg.Policy
	appealNote := func(r *registration.Record) string {
		if policy == nil {
			return ""
		}
		return worker.AppealNote(policy, r, d.now())
	}
	c.status = statuspage.New(statuspage.Options{Signer: signer, Registrar: reg, PublicURL: d.public, ProgramName: program, AppealNote: appealNote,
		Required: required, Logger: log.With("channel", "status_page")})

	if ic.Email.Enabled {
		c.email = email.New(email.Options{Config: ic.Email, Registrar: reg, Partners: in.dir, Mail: c.mail, ProgramName: program,
			FreeMail: c.freeMail, Tokens: signer, Logger: log.With("channel", intake.ChannelEmail), Now: d.now})
		if ic.Email.IMAP.Enabled {
			c.imap = email.NewPoller(c.email, ic.Email.IMAP, email.PollerOptions{Logger: log.With("channel", intake.ChannelEmail, "poller", "imap")})
		}
	}
	if ic.WebForm.Enabled {
		wc := ic.WebForm
		if !wc.NonceKey.IsSet() {
			wc.NonceKey = in.nonceKey
		}
		if !wc.LinkKey.IsSet() {
			wc.LinkKey = in.keptLinkKey(d, cfg)
		}
		var store webform.Store
		if d.db != nil {
			store = d.db
		}
		outboxURL := ""
		if c.sandboxOutbox() {
			outboxURL = sandboxOutboxPath
		}
		if wc.ConfirmEmail && c.mail == nil {
			log.Error("intake.webform.confirm_email is on but no mail can be sent (mail.host, notify.outbox): the web form registers only through personal partner links and browsers that confirmed before")
		}
		c.webform = webform.New(webform.Options{Config: wc, Registrar: reg, Partners: in.dir, PublicURL: d.public, ProgramName: program,
			FreeMail: c.freeMail, Store: store, Mail: c.mail, OutboxURL: outboxURL,
			Logger: log.With("channel", intake.ChannelWebForm), Now: d.now})
	}
	if ic.Slack.Enabled {
		c.slack = islack.New(islack.Options{Config: ic.Slack, Registrar: reg, Partners: in.dir, Origins: origins{d},
			Logger: log.With("channel", intake.ChannelSlack), Now: d.now})
	}
	if ic.CSV.Enabled {
		c.csv = csvdrop.NewHandler(csvdrop.HandlerOptions{Config: ic.CSV, Registrar: reg, Partners: in.dir,
			Logger: log.With("channel", intake.ChannelCSV), Now: d.now, RequestDeadline: csvRequestDeadline})
	}
	if ic.HubSpotForm.Enabled {
		src, ok := d.crm.(hubspotform.Source)
		if !ok {
			log.Error("intake.hubspot_form is enabled but the CRM is not HubSpot: HubSpot forms are not polled", "crm", d.crm.Name())
		} else {
			c.forms = hubspotform.NewPoller(hubspotform.Options{Config: ic.HubSpotForm, Source: src, Cursors: formCursors{d},
				Registrar: reg, FreeMail: c.freeMail, Logger: log.With("channel", intake.ChannelHubSpotForm)})
		}
	}
	return c
}

// programName is how replies and pages name the program: the display
// name of mail.from ("Acme partner program <partners@acme.example>").
func programName(cfg *config.Config) string {
	if a, err := regmail.ParseAddress(cfg.Mail.From); err == nil {
		return a.Name
	}
	return ""
}

// statusLink is a registration's login-free status link.
func statusLink(d *Daemon, caseNumber string) string {
	c := d.in.cur.Load()
	if c == nil {
		c = d.in.ensure(d, d.cfg.Load())
	}
	return c.links.URL(caseNumber)
}

// mountIntake builds the channels over the engine and mounts the intake
// routes and the status pages.
func mountIntake(d *Daemon, mux *http.ServeMux) {
	in := &d.in
	in.mu.Lock()
	in.registrar = worker.NewRegistrar(d.engine, d.worker)
	cfg := d.cfg.Load()
	c := in.build(d, cfg)
	in.cur.Store(c)
	in.warnAboutKeys(d, cfg)
	in.mu.Unlock()

	mux.Handle(email.Path, in.route("the e-mail channel (intake.email)", true, func(c *channels) http.Handler {
		if c.email == nil {
			return nil
		}
		return c.email
	}))
	form := in.route("the web form (intake.webform)", false, func(c *channels) http.Handler {
		if c.webform == nil {
			return nil
		}
		return c.webform
	})
	mux.Handle(webform.Path, form)
	mux.Handle(webform.ConfirmPrefix, form)
	outbox := in.route("the sandbox outbox (crm.kind sandbox, with mail going to the outbox)", false, func(c *channels) http.Handler {
		if !c.sandboxOutbox() {
			return nil
		}
		return sandboxOutbox{dir: c.outboxDir, public: d.public}
	})
	mux.Handle(sandboxOutboxPath, outbox)
	mux.Handle(sandboxOutboxPath+"/", outbox)
	mux.Handle(statuspage.Prefix, in.route("status pages", false, func(c *channels) http.Handler {
		if c.status == nil {
			return nil
		}
		return c.status
	}))
	mux.Handle(islack.CommandsPath, in.route("the Slack channel (intake.slack)", true, func(c *channels) http.Handler {
		if c.slack == nil {
			return nil
		}
		return c.slack.Commands()
	}))
	mux.Handle(islack.InteractionsPath, in.route("the Slack channel (intake.slack)", true, func(c *channels) http.Handler {
		if c.slack == nil {
			return nil
		}
		return c.slack.Interactions()
	}))
	mux.Handle(csvdrop.Path, in.route("the CSV drop (intake.csv)", true, func(c *channels) http.Handler {
		if c.csv == nil {
			return nil
		}
		return c.csv
	}))
}

// route serves a path with the handler of the channel set in force, or
// 404 while the channel is off.
func (in *intakeSide) route(what string, api bool, pick func(*channels) http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h http.Handler
		if c := in.cur.Load(); c != nil {
			h = pick(c)
		}
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

// keptLinkKey is the web form's link key when intake.webform.link_key is
// unset: the one kept in <state.path>.link-key (made there the first
// time), so personal links and remembered browsers survive a restart and
// regsync partner-link signs with the same key. When it cannot be kept, a
// random one, said so.
func (in *intakeSide) keptLinkKey(d *Daemon, cfg *config.Config) secret.Secret {
	if in.linkKey.IsSet() {
		return in.linkKey
	}
	k, err := ensureLinkKey(cfg.State.Path)
	if err != nil {
		d.log.Error("intake.webform.link_key is not set and none can be kept beside the state file: personal partner links and remembered browsers last until a restart", "err", err)
		var b [32]byte
		_, _ = rand.Read(b[:])
		k = secret.New(base64.RawURLEncoding.EncodeToString(b[:]))
	}
	in.linkKey = k
	return k
}

// sandboxOutbox reports whether the e-mails partners would get are
// readable at /sandbox/outbox: the sandbox CRM, with mail going to the
// outbox.
func (c *channels) sandboxOutbox() bool {
	return c.cfg.CRM.Kind == config.KindSandbox && c.mailKind == "outbox" && c.outboxDir != ""
}

// warnAboutKeys says once what a missing key means.
func (in *intakeSide) warnAboutKeys(d *Daemon, cfg *config.Config) {
	if in.warnedKey || cfg.Intake.StatusPage.Key.IsSet() {
		return
	}
	in.warnedKey = true
	d.log.Warn("intake.status_page.key is not set: status links are signed with a random key and stop working when regsync restarts (set REGSYNC_INTAKE_STATUS_PAGE_KEY)")
}

// startIntakeLoops starts the pollers (IMAP mailbox, HubSpot forms); when
// ctx ends it stops them and waits — up to server.shutdown_timeout — for
// Slack answers still being sent. It calls wg.Done then.
func startIntakeLoops(d *Daemon, ctx context.Context, wg *sync.WaitGroup) {
	in := &d.in
	in.mu.Lock()
	in.loops = ctx
	in.startPollsLocked(d, in.cur.Load())
	in.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		in.mu.Lock()
		in.stopped = true
		in.stopPollsLocked()
		handlers := append([]*islack.Handler(nil), in.retired...)
		if c := in.cur.Load(); c != nil && c.slack != nil {
			handlers = append(handlers, c.slack)
		}
		in.mu.Unlock()
		done := make(chan struct{})
		go func() {
			for _, h := range handlers {
				h.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(d.cfg.Load().Server.ShutdownTimeout):
			d.log.Warn("slack answers still being sent at shutdown were abandoned")
		}
	}()
}

// startPollsLocked starts the pollers of a channel set.
func (in *intakeSide) startPollsLocked(d *Daemon, c *channels) {
	if in.loops == nil || in.stopped || c == nil {
		return
	}
	ctx, cancel := context.WithCancel(in.loops)
	in.stopPolls = cancel
	if c.imap != nil {
		in.polls.Add(1)
		go func() {
			defer in.polls.Done()
			d.log.Info("polling the intake mailbox", "addr", c.cfg.Intake.Email.IMAP.Addr, "mailbox", c.cfg.Intake.Email.IMAP.Mailbox,
				"every", c.cfg.Intake.Email.IMAP.PollInterval)
			_ = c.imap.Run(ctx)
		}()
	}
	if c.forms != nil {
		in.polls.Add(1)
		go func() {
			defer in.polls.Done()
			d.log.Info("polling HubSpot forms", "forms", len(c.cfg.Intake.HubSpotForm.Forms), "every", c.cfg.Intake.HubSpotForm.PollInterval)
			_ = c.forms.Run(ctx)
		}()
	}
}

func (in *intakeSide) stopPollsLocked() {
	if in.stopPolls != nil {
		in.stopPolls()
		in.stopPolls = nil
	}
	in.polls.Wait()
}

// reloadIntake rebuilds the channels from a new configuration and restarts
// the pollers with it.
func reloadIntake(d *Daemon, cfg *config.Config) {
	in := &d.in
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.registrar == nil {
		return
	}
	old := in.cur.Load()
	c := in.build(d, cfg)
	in.cur.Store(c)
	if old != nil && old.slack != nil {
		in.retired = append(in.retired, old.slack)
	}
	in.stopPollsLocked()
	in.startPollsLocked(d, c)
}

// slackOrigin is what the state file holds about a Slack registration:
// where it came from, the last status posted there and the last status
// whose link was sent to the submitter (so a retried notification is not
// posted twice).
type slackOrigin struct {
	islack.Origin
	Posted string `json:"posted,omitempty"`
	Linked string `json:"linked,omitempty"`
}

// origins keeps Slack origins in the state file (state.DB.SlackOrigins).
type origins struct{ d *Daemon }

func (o origins) get(caseNumber string) (slackOrigin, bool, error) {
	raw, _, err := o.d.db.SlackOrigins().Get(caseNumber)
	if err != nil || raw == "" {
		return slackOrigin{}, false, err
	}
	var so slackOrigin
	if err := json.Unmarshal([]byte(raw), &so); err != nil {
		return slackOrigin{}, false, fmt.Errorf("slack origin of %s: %w", caseNumber, err)
	}
	return so, true, nil
}

func (o origins) put(caseNumber string, so slackOrigin) error {
	b, err := json.Marshal(so)
	if err != nil {
		return err
	}
	return o.d.db.SlackOrigins().Put(caseNumber, string(b))
}

// Remember stores where a registration came from. A repeat (Slack
// retrying the same command) keeps the thread already started.
func (o origins) Remember(_ context.Context, caseNumber string, or islack.Origin) error {
	if o.d.db == nil {
		return nil
	}
	prev, ok, err := o.get(caseNumber)
	if err != nil {
		return err
	}
	if ok && prev.ChannelID == or.ChannelID && prev.TeamID == or.TeamID {
		return nil
	}
	return o.put(caseNumber, slackOrigin{Origin: or})
}

// formCursors keeps the HubSpot form poller's cursors in the state file.
type formCursors struct{ d *Daemon }

func (f formCursors) Cursor(_ context.Context, guid string) (string, error) {
	return f.d.db.Cursor(hubspotFormPrefix + guid)
}

func (f formCursors) SetCursor(_ context.Context, guid, cursor string) error {
	return f.d.db.SetCursor(hubspotFormPrefix+guid, cursor)
}
