// Package email is the e-mail channel: POST /intake/email takes a raw
// RFC 5322 message from an inbound-mail service (or a poller reads a
// mailbox over IMAP), the sender is authenticated (a partner's e-mail
// domain, DKIM/SPF/DMARC results when the service supplies them), the
// forgiving "Field: value" form in the body becomes a registration, and the
// partner gets a threaded reply with the case number, the status link and —
// for needs_info — the missing fields as lines to fill in. A reply whose
// subject carries the case number supplies fields to the same registration.
package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/csvdrop"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Options configure the channel.
type Options struct {
	Config    intake.EmailConfig
	Registrar intake.Registrar
	Partners  *intake.Directory
	// Mail sends the replies; nil sends none (each is logged as skipped).
	Mail regmail.Sender
	// ProgramName signs the replies ("The Acme partner program").
	ProgramName string
	// FreeMail says which domains are free-mail providers (a forwarded
	// prospect's address there gives no company domain). Default: the
	// embedded list.
	FreeMail *registration.FreeMail
	// Tokens checks the status-link tokens a message holds (the status
	// page's signer); nil: no token authorises an amendment.
	Tokens StatusTokens
	Logger *slog.Logger
	Now    func() time.Time
}

// StatusTokens checks status-link tokens (*statuspage.Signer).
type StatusTokens interface {
	// Verify returns the case number a token was made for.
	Verify(token string) (caseNumber string, ok bool)
}

// Channel turns e-mail into registrations.
type Channel struct {
	o Options
}

// New returns the channel.
func New(o Options) *Channel {
	o.Logger = intake.QuietIfNil(o.Logger)
	o.Now = intake.ClockOr(o.Now)
	if o.ProgramName == "" {
		o.ProgramName = "The partner program"
	}
	return &Channel{o: o}
}

// funnel is the way the channel's registrations go (built from the
// options each time: tests swap the Registrar).
func (c *Channel) funnel() *intake.Funnel {
	return &intake.Funnel{Registrar: c.o.Registrar, Partners: c.o.Partners, FreeMail: c.o.FreeMail}
}

// What a message asks for.
const (
	ActionRegister = "register" // a new registration
	ActionAmend    = "amend"    // fields, a withdrawal or an appeal for a case
	ActionCSV      = "csv"      // a .csv attachment for the CSV channel
	ActionHelp     = "help"     // nothing readable: answer with the form
	ActionIgnore   = "ignore"   // automatic mail: never answered
)

// Plan is what a message asks for, decided before any CRM call.
type Plan struct {
	Action  string
	In      *Inbound
	Partner rules.Partner
	Verdict Verdict
	// Submission is the registration (ActionRegister).
	Submission intake.Submission
	// CaseNumber and Amendment are the change (ActionAmend).
	CaseNumber string
	Amendment  intake.Amendment
	// Problems are values that could not be read; the reply names them.
	Problems []*intake.FieldError
	// Reason says why a message is ignored or answered with help.
	Reason string
	// Unproven is set for an amendment whose sender is not proven (see
	// EmailAuthConfig.RequireForAmendments): it is answered with how to
	// make it, and not made.
	Unproven bool
}

var (
	reWithdraw = regexp.MustCompile(`(?im)^\s*(withdraw|cancel)(\s+(it|this|registration|the registration))?\s*[.!]?\s*$|^\s*(withdraw|cancel)\s*:\s*(yes|y|true)\s*$`)
	reAppeal   = regexp.MustCompile(`(?is)^\s*appeal\s*:\s*(.+)$`)
)

// Plan parses and authenticates a raw message and decides what it asks
// for. It calls neither the Registrar nor the mail server. Refusals are
// *intake.FieldError values: "message" for input that is not an e-mail,
// "from" for a sender that is not a partner's or fails authentication.
func (c *Channel) Plan(raw []byte, hints Hints) (*Plan, error) {
	if max := int64(c.o.Config.MaxBytes); max > 0 && int64(len(raw)) > max {
		return nil, intake.Refuse("message", "larger than "+intake.ByteSize(max).String())
	}
	in, err := ParseMessage(raw)
	if err != nil {
		return nil, err
	}
	p := &Plan{In: in}
	if in.Auto != "" {
		p.Action, p.Reason = ActionIgnore, "automatic mail ("+in.Auto+")"
		return p, nil
	}
	if own := c.o.Config.Address; own != "" && strings.EqualFold(registration.EmailDomain(own), registration.EmailDomain(in.From)) &&
		strings.EqualFold(strings.Split(own, "@")[0], strings.Split(in.From, "@")[0]) {
		p.Action, p.Reason = ActionIgnore, "mail from the intake address itself"
		return p, nil
	}
	if c.o.Partners == nil {
		return nil, intake.Refuse("from", "no partners are configured")
	}
	partner, err := c.o.Partners.ForEmail("from", in.From)
	if err != nil {
		return nil, err
	}
	p.Partner = partner
	p.Verdict = Authenticate(in.Header, registration.EmailDomain(in.From), c.o.Config.Authentication, hints)
	switch {
	case p.Verdict.Fail:
		return nil, intake.Refuse("from", "sender authentication failed: "+p.Verdict.Reason+" ("+p.Verdict.Source+")")
	case c.o.Config.Authentication.Require && !p.Verdict.Pass:
		src := p.Verdict.Source
		if src == "" {
			src = "no authentication results"
		}
		return nil, intake.Refuse("from", "sender not authenticated: no DKIM, SPF or DMARC pass for "+registration.EmailDomain(in.From)+" ("+src+")")
	}
	own := in.Parts.Own

	if cn := in.CaseNumber(); cn != "" {
		p.Action, p.CaseNumber = ActionAmend, cn
		p.Unproven = c.o.Config.Authentication.RequireForAmendments && !p.Verdict.Aligned && !c.holdsStatusLink(in, cn)
		switch {
		case reWithdraw.MatchString(own):
			p.Amendment = intake.Amendment{Action: intake.ActionWithdraw}
			return p, nil
		case reAppeal.MatchString(own):
			note := strings.TrimSpace(reAppeal.FindStringSubmatch(own)[1])
			if len(note) > intake.MaxValueLen {
				note = note[:intake.MaxValueLen]
			}
			p.Amendment = intake.Amendment{Action: intake.ActionAppeal, Note: note}
			return p, nil
		}
		form := ParseForm(own)
		fields := map[string]string{}
		var scratch registration.Record
		for _, f := range form.Order {
			if !intake.IsProspectField(f) {
				continue
			}
			v := form.Fields[f]
			if f == registration.FieldConsent {
				v = normalizeConsent(v)
			}
			if err := intake.SetField(&scratch, f, v); err != nil {
				p.Problems = append(p.Problems, err.(*intake.FieldError))
				continue
			}
			fields[f], _ = scratch.Get(f)
		}
		if len(fields) == 0 {
			p.Action, p.Reason, p.Unproven = ActionHelp, "a reply about "+cn+" without fields to supply", false
			return p, nil
		}
		p.Amendment = intake.Amendment{Action: intake.ActionSupply, Fields: fields}
		return p, nil
	}

	if len(in.CSV) > 0 {
		p.Action = ActionCSV
		return p, nil
	}

	form := ParseForm(own)
	if len(form.Fields) == 0 && in.Parts.Forwarded != nil && in.Parts.Forwarded.FromAddress == "" {
		form = ParseForm(in.Parts.Forwarded.Body)
	}
	rec := registration.Record{
		Source:    intake.ChannelEmail,
		PartnerID: partner.ID, PartnerName: partner.Name, PartnerType: partner.Type, PartnerEmail: in.From,
	}
	given := 0
	for _, f := range form.Order {
		if !intake.IsProspectField(f) {
			continue // partner_* come from the authenticated sender
		}
		v := form.Fields[f]
		if f == registration.FieldConsent {
			v = normalizeConsent(v)
		}
		if err := intake.SetField(&rec, f, v); err != nil {
			p.Problems = append(p.Problems, err.(*intake.FieldError))
			continue
		}
		given++
	}
	// The checks every channel shares, before a forwarded message fills
	// what they refused: a contact at the partner's own company is the
	// partner's signature, not the prospect; a free-mail website names no
	// company. The reply names them; the registration goes ahead without.
	f := c.funnel()
	p.Problems = append(p.Problems, f.Check(&rec)...)
	if fw := in.Parts.Forwarded; fw != nil && fw.FromAddress != "" {
		given += c.inferFromForward(&rec, fw, partner)
	}
	if given == 0 {
		p.Action, p.Reason = ActionHelp, "no registration fields found"
		return p, nil
	}
	sub, problems := f.Submission(intake.ChannelEmail, rec, in.keyMaterial()...)
	p.Action, p.Submission, p.Problems = ActionRegister, sub, append(p.Problems, problems...)
	return p, nil
}

// inferFromForward fills the contact (and the company domain) from a
// forwarded prospect's message when the partner did not give them. It
// returns how many fields it filled.
func (c *Channel) inferFromForward(rec *registration.Record, fw *Forwarded, partner rules.Partner) int {
	dom := registration.EmailDomain(fw.FromAddress)
	if pt, ok := c.o.Partners.ForDomain(dom); ok && pt.ID == partner.ID {
		return 0 // the partner forwarding their own colleague's mail
	}
	n := 0
	// What the forwarded message says is input like the rest: the same
	// checks (a display name "=HYPERLINK(…)" is not a contact name), and
	// a value they refuse is left out rather than refusing the message.
	if rec.ContactEmail == "" && intake.SetField(rec, registration.FieldContactEmail, fw.FromAddress) == nil && rec.ContactEmail != "" {
		n++
		if rec.ContactName == "" && fw.FromName != "" && intake.SetField(rec, registration.FieldContactName, fw.FromName) == nil {
			n++
		}
	}
	if rec.CompanyDomain == "" && registration.EmailDomain(rec.ContactEmail) == dom && !c.o.FreeMail.IsFreeHost(dom) {
		rec.CompanyDomain = dom
		n++
	}
	return n
}

// Outcome is what processing a message did.
type Outcome struct {
	Action     string           `json:"action"`
	CaseNumber string           `json:"case_number,omitempty"`
	Status     string           `json:"status,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	StatusURL  string           `json:"status_url,omitempty"`
	Missing    []string         `json:"missing,omitempty"`
	Created    bool             `json:"created,omitempty"`
	CSV        *csvdrop.Summary `json:"csv,omitempty"`
	Replied    bool             `json:"replied"`
}

// Process plans a message and carries it out: registers or amends through
// the Registrar, hands a CSV attachment to the CSV channel, and replies.
// A refusal is a *intake.FieldError (nothing was registered, no reply was
// sent: replying to an unknown or forged sender would be backscatter);
// any other error is worth retrying (the submission key makes a retry
// upsert the same record).
func (c *Channel) Process(ctx context.Context, raw []byte, hints Hints) (Outcome, error) {
	p, err := c.Plan(raw, hints)
	if err != nil {
		return Outcome{}, err
	}
	return c.Execute(ctx, p)
}

// Execute carries out a plan.
func (c *Channel) Execute(ctx context.Context, p *Plan) (Outcome, error) {
	out := Outcome{Action: p.Action, CaseNumber: p.CaseNumber}
	log := c.o.Logger.With("channel", intake.ChannelEmail, "from", registration.MaskEmail(p.In.From), "partner", p.Partner.ID)
	switch p.Action {
	case ActionIgnore:
		out.Reason = p.Reason
		log.Info("email ignored", "reason", p.Reason)
		return out, nil
	case ActionHelp:
		out.Reason = p.Reason
		log.Info("email without a registration: answering with the form", "reason", p.Reason)
		return c.reply(ctx, log, p, out, c.helpReply(p))
	case ActionRegister:
		if err := c.useLegacyKey(ctx, p); err != nil {
			return out, err
		}
		rc, err := c.funnel().RegisterOne(ctx, p.Submission)
		if err != nil {
			return out, fmt.Errorf("email: register %s: %w", p.Submission.Record.CaseNumber, err)
		}
		if !rc.Created {
			// Already registered: only ever the partner's own registration
			// is told (the key names the sender; this holds whatever the
			// Registrar).
			rec, err := c.o.Registrar.Lookup(ctx, rc.CaseNumber)
			if err != nil && !errors.Is(err, intake.ErrNotFound) {
				return out, fmt.Errorf("email: look up %s: %w", rc.CaseNumber, err)
			}
			if err != nil || rec.PartnerID != p.Partner.ID {
				out.Reason = "message id in use"
				log.Warn("email registration's key belongs to another partner's registration: nothing told", "case", rc.CaseNumber)
				return c.reply(ctx, log, p, out, c.keyInUseReply(p))
			}
		}
		out.fill(rc)
		log.Info("email registered", "case", rc.CaseNumber, "status", rc.Status, "created", rc.Created)
		return c.reply(ctx, log, p, out, c.receiptReply(p, rc))
	case ActionAmend:
		if p.Unproven {
			// Before any lookup: the answer is the same whether the case
			// exists, and whoever's it is.
			out.Reason = "sender not authenticated"
			log.Info("email amendment refused: the sender is not proven", "case", p.CaseNumber, "action", p.Amendment.Action, "auth", p.Verdict.Source)
			return c.reply(ctx, log, p, out, c.unprovenReply(p))
		}
		rec, err := c.o.Registrar.Lookup(ctx, p.CaseNumber)
		if errors.Is(err, intake.ErrNotFound) || (err == nil && rec.PartnerID != p.Partner.ID) {
			// Another partner's case is answered exactly like a missing one.
			out.Reason = "not found"
			log.Info("email amendment for an unknown case", "case", p.CaseNumber)
			return c.reply(ctx, log, p, out, c.notFoundReply(p))
		}
		if err != nil {
			return out, fmt.Errorf("email: look up %s: %w", p.CaseNumber, err)
		}
		rc, err := c.o.Registrar.Amend(ctx, p.CaseNumber, p.Amendment)
		if errors.Is(err, intake.ErrNotAllowed) {
			out.fill(rc)
			out.Reason = "not allowed"
			log.Info("email amendment not allowed", "case", p.CaseNumber, "action", p.Amendment.Action, "status", rc.Status)
			return c.reply(ctx, log, p, out, c.notAllowedReply(p, rc))
		}
		if err != nil {
			return out, fmt.Errorf("email: %s %s: %w", p.Amendment.Action, p.CaseNumber, err)
		}
		out.fill(rc)
		log.Info("email amendment", "case", p.CaseNumber, "action", p.Amendment.Action, "status", rc.Status)
		return c.reply(ctx, log, p, out, c.receiptReply(p, rc))
	case ActionCSV:
		var results bytes.Buffer
		a := p.In.CSV[0]
		sum, err := csvdrop.Import(ctx, bytes.NewReader(a.Data), &results, c.o.Registrar, csvdrop.Options{
			PartnerID: p.Partner.ID, Submitter: p.In.From, Partners: c.o.Partners, FreeMail: c.o.FreeMail, Now: c.o.Now, Logger: c.o.Logger,
		})
		var fe *intake.FieldError
		if errors.As(err, &fe) {
			out.Reason = fe.Error()
			return c.reply(ctx, log, p, out, c.csvRefusedReply(p, a.Name, fe))
		}
		if err != nil {
			return out, fmt.Errorf("email: csv attachment %q: %w", a.Name, err)
		}
		out.CSV = &sum
		log.Info("email csv attachment", "file", a.Name, "rows", sum.Rows, "submitted", sum.Submitted)
		return c.reply(ctx, log, p, out, c.csvReply(p, a.Name, sum, results.Bytes()))
	}
	return out, fmt.Errorf("email: unknown action %q", p.Action)
}

// useLegacyKey turns the submission into a repeat of a registration made
// under the message's legacy key (before keys named the sender) when that
// registration is this sender's: the same message again is answered with
// it and makes no second one. Anyone else's is never looked at further.
func (c *Channel) useLegacyKey(ctx context.Context, p *Plan) error {
	key := p.In.LegacySubmissionKey()
	if key == "" {
		return nil
	}
	cn := registration.CaseNumberFor(key)
	rec, err := c.o.Registrar.Lookup(ctx, cn)
	switch {
	case errors.Is(err, intake.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("email: look up %s (legacy key): %w", cn, err)
	case rec.SubmissionKey != key || rec.PartnerID != p.Partner.ID || !strings.EqualFold(rec.PartnerEmail, p.In.From):
		return nil
	}
	p.Submission.Key = key
	p.Submission.Record.SubmissionKey, p.Submission.Record.CaseNumber = key, cn
	return nil
}

func (o *Outcome) fill(rc intake.Receipt) {
	o.CaseNumber, o.Status, o.Reason, o.StatusURL = rc.CaseNumber, string(rc.Status), rc.Reason, rc.StatusURL
	o.Missing, o.Created = rc.Missing, rc.Created
}

func (c *Channel) reply(ctx context.Context, log *slog.Logger, p *Plan, out Outcome, m *regmail.Message) (Outcome, error) {
	if c.o.Mail == nil {
		log.Warn("email reply skipped: no mail sender configured", "case", out.CaseNumber)
		return out, nil
	}
	if err := c.o.Mail.Send(ctx, m); err != nil {
		if regmail.IsPermanent(err) {
			log.Warn("email reply refused for good", "case", out.CaseNumber, "err", err)
			return out, nil
		}
		return out, fmt.Errorf("email: reply: %w", err)
	}
	out.Replied = true
	return out, nil
}

// replyTo addresses a reply to the authenticated sender (never to a
// Reply-To, which the sender could point anywhere), threaded under the
// message.
func (c *Channel) replyTo(p *Plan, caseNumber, subject string) *regmail.Message {
	in := p.In
	m := &regmail.Message{
		To:      []mail.Address{{Name: in.FromName, Address: in.From}},
		Subject: subject,
		Header:  map[string]string{"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
	}
	if in.MessageID != "" {
		m.InReplyTo = in.MessageID
		m.References = append(append([]string(nil), in.References...), in.MessageID)
		if len(m.References) > 20 {
			m.References = m.References[len(m.References)-20:]
		}
	}
	dom := registration.EmailDomain(c.o.Config.Address)
	if dom == "" {
		dom = "regsync.invalid"
	}
	m.MessageID = regmail.NewMessageID(caseNumber, dom)
	return m
}
