package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// Funnel is the one way every channel's submission becomes a registration.
// A channel reads its input, identifies the partner and fills the record;
// the funnel then, the same way for every channel:
//
//   - derives the submission key from the channel and the channel's key
//     material (SubmissionKey) and the case number from the key;
//   - names the partner as the partner list does (partner_name, and
//     partner_type when the list gives one), whatever the input said;
//   - applies the business checks (Check): a company website at a
//     free-mail provider is refused, so is a contact at the partner's own
//     company;
//   - registers through the Registrar (Register, RegisterOne), checking that
//     the Registrar answered for every submission.
//
// What a channel does with a refused field is its own way of answering
// bad input, the same as for a value SetField refuses: the web form and
// Slack show the error and register nothing, a CSV row is rejected, an
// e-mail and a HubSpot form are registered without the value (the rules
// then ask for it) and the e-mail's reply names the problem.
type Funnel struct {
	Registrar Registrar
	// Partners names the partner of a record (and its e-mail domains);
	// nil skips both the naming and the own-company check.
	Partners *Directory
	// FreeMail tells free-mail domains; nil (as for every
	// *registration.FreeMail) is the embedded list.
	FreeMail *registration.FreeMail
}

// NewFunnel returns a funnel; freeMail nil is the embedded list.
func NewFunnel(reg Registrar, partners *Directory, freeMail *registration.FreeMail) *Funnel {
	return &Funnel{Registrar: reg, Partners: partners, FreeMail: freeMail}
}

// SubmissionKey is the submission key of a channel's input: the channel
// and the key material, joined by ":" ("webform:" + the form's nonce id,
// "email:v2:" + digest, "slack:" + team + ":" + trigger or view id,
// "csv:" + partner + ":" + file digest + ":" + row, "hubspot_form:" + form
// guid + ":" + conversion id). The keys are a contract stored in the CRMs
// (the submission_key field every channel upserts on, and the case number
// derived from it): the same input must always give the same key.
func SubmissionKey(channel string, material ...string) string {
	return channel + ":" + strings.Join(material, ":")
}

// Refusals of the business checks, in the words the partner reads.
const (
	reasonOwnCompany = "that is an address at your own company; give the prospect's address"
	reasonFreeMail   = " is a free e-mail provider: enter the company's own website"
)

// Check applies the business checks every channel shares to a record whose
// partner_id the channel has set, clears each refused value and returns
// the refusals (field and reason):
//
//   - company_domain at a free-mail provider ("gmail.com is a free e-mail
//     provider: …"): a free-mail domain names no company, and it would
//     match every other registration there;
//   - contact_email at the partner's own company (one of its
//     email_domains): that is the partner's signature, not the prospect.
func (f *Funnel) Check(rec *registration.Record) []*FieldError {
	var errs []*FieldError
	if rec.CompanyDomain != "" && f.FreeMail.IsFreeHost(rec.CompanyDomain) {
		errs = append(errs, Refuse(registration.FieldCompanyDomain, rec.CompanyDomain+reasonFreeMail))
		rec.CompanyDomain = ""
	}
	if rec.ContactEmail != "" && rec.PartnerID != "" && f.Partners != nil {
		if p, ok := f.Partners.ForDomain(registration.EmailDomain(rec.ContactEmail)); ok && p.ID == rec.PartnerID {
			errs = append(errs, Refuse(registration.FieldContactEmail, reasonOwnCompany))
			rec.ContactEmail = ""
		}
	}
	return errs
}

// Submission makes a channel's record a submission: its source (the
// channel, unless set), its submission key (SubmissionKey of the channel
// and material) and case number, the partner's name (and type, when it
// has one) from the partner list, its match keys (Record.Index), after Check. The refusals
// are Check's; the submission holds the record without the refused values.
func (f *Funnel) Submission(channel string, rec registration.Record, material ...string) (Submission, []*FieldError) {
	key := SubmissionKey(channel, material...)
	if rec.Source == "" {
		rec.Source = channel
	}
	if f.Partners != nil {
		if p, ok := f.Partners.ByID(rec.PartnerID); ok {
			rec.PartnerName = p.Name
			if p.Type != "" {
				rec.PartnerType = p.Type
			}
		}
	}
	errs := f.Check(&rec)
	rec.SubmissionKey, rec.CaseNumber = key, registration.CaseNumberFor(key)
	rec.Index()
	return Submission{Key: key, Channel: channel, Record: rec}, errs
}

// Register hands submissions to the Registrar and makes sure it answered
// with one receipt for each.
func (f *Funnel) Register(ctx context.Context, subs []Submission) ([]Receipt, error) {
	if f.Registrar == nil {
		return nil, errors.New("no registrar to register submissions with")
	}
	rcs, err := f.Registrar.Register(ctx, subs)
	if err == nil && len(rcs) != len(subs) {
		err = fmt.Errorf("registrar returned %d receipts for %d submissions", len(rcs), len(subs))
	}
	return rcs, err
}

// RegisterOne registers one submission: the receipt, or the error of the
// call or of the submission (Receipt.Err). A receipt without a case
// number is an error too: it would tell the partner nothing.
func (f *Funnel) RegisterOne(ctx context.Context, sub Submission) (Receipt, error) {
	rcs, err := f.Register(ctx, []Submission{sub})
	switch {
	case err != nil:
		return Receipt{}, err
	case rcs[0].Err != nil:
		return Receipt{}, rcs[0].Err
	case rcs[0].CaseNumber == "":
		return Receipt{}, errors.New("registrar returned a receipt without a case number")
	}
	return rcs[0], nil
}

// QuietIfNil is l, or a logger that discards everything when l is nil
// (the channels' options default).
func QuietIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// ClockOr is now, or time.Now when now is nil (the channels' options
// default).
func ClockOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
