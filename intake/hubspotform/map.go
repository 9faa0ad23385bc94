// Package hubspotform is the HubSpot-form channel: partners put a HubSpot
// form with hidden fields (partner_id, partner_program, optionally
// partner_email) on their pages; the poller reads the form's submissions
// through the HubSpot client (GET /form-integrations/v1/submissions/forms/
// {formGuid}), maps each to a registration and registers them in batches,
// keyed by the conversion id so a submission is never registered twice.
package hubspotform

import (
	"errors"
	"strings"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// builtin maps HubSpot's standard contact properties (the names a form's
// fields carry) to canonical fields. Other names go through
// intake.FieldForLabel; a form's configured fields win over both.
var builtin = map[string]string{
	"email": registration.FieldContactEmail, "company": registration.FieldCompanyName, "website": registration.FieldCompanyDomain, "domain": registration.FieldCompanyDomain,
	"company_domain": registration.FieldCompanyDomain, "jobtitle": registration.FieldContactRole, "job_title": registration.FieldContactRole, "message": registration.FieldProblem,
	"country": registration.FieldCountry, "state": registration.FieldRegion, "partner_id": registration.FieldPartnerID, "partner_program": registration.FieldPartnerType,
	"partner_email": registration.FieldPartnerEmail, "partner_name": registration.FieldPartnerName,
}

// Mapped is a form submission turned into a registration.
type Mapped struct {
	Submission intake.Submission
	// Problems are values that could not be used (left blank, so the rules
	// ask for them).
	Problems []*intake.FieldError
}

// Map turns one submission of a configured form into a registration.
//
//   - The key is "hubspot_form:" + form guid + ":" + conversion id.
//   - The partner is the form's configured partner_id, else the hidden
//     partner_id field (a configured form refuses a hidden field naming
//     another partner: a visitor can edit hidden fields). partner_program
//     becomes partner_type. partner_email is the hidden field, else the
//     form's configured partner_email (a visitor can edit it too: the
//     worker mails only addresses at the partner's email_domains). A
//     hidden partner_name is read but never kept: the worker names the
//     partner as the policy does.
//   - firstname and lastname (or a name field) make contact_name; email,
//     company, website, jobtitle and message are the contact's and the
//     company's; a consent checkbox ("consent", HubSpot's LEGAL_CONSENT.*
//     fields) ticked means consent; without a website, the contact's
//     e-mail domain is the company domain unless it is a free-mail one.
//
// It fails with a *intake.FieldError when the submission cannot be a
// registration: no conversion id, no partner.
//
// The submission goes through f (the poller's knows the partners: it names
// them and refuses a contact at the partner's own company); nil is a
// funnel with the embedded free-mail list and no partners.
func Map(form intake.HubSpotForm, s hubspot.FormSubmission, f *intake.Funnel) (Mapped, error) {
	if f == nil {
		f = intake.NewFunnel(nil, nil, nil)
	}
	var m Mapped
	if strings.TrimSpace(s.ConversionID) == "" {
		return m, intake.Refuse("conversion_id", "the submission has no conversion id")
	}
	freeMail := f.FreeMail
	rec := registration.Record{Source: intake.ChannelHubSpotForm, SubmittedAt: s.SubmittedAt.UTC()}
	values := map[string]string{}
	var first, last string
	consent, consentSeen := false, false
	for name, v := range s.Values {
		v = strings.TrimSpace(v)
		lname := strings.ToLower(name)
		switch {
		case lname == "firstname":
			first = v
			continue
		case lname == "lastname":
			last = v
			continue
		case strings.HasPrefix(lname, "legal_consent.") || lname == "consent" || lname == "hs_legal_basis_consent":
			consentSeen = true
			for part := range strings.SplitSeq(v, ";") {
				if b, ok := registration.ParseBool(part); ok && b {
					consent = true
				}
			}
			continue
		}
		field := form.Fields[name]
		if field == "" {
			field = builtin[lname]
		}
		if field == "" {
			f, ok := intake.FieldForLabel(name)
			if !ok {
				continue
			}
			field = f
		}
		if v != "" {
			if _, dup := values[field]; !dup {
				values[field] = v
			}
		}
	}
	if _, ok := values[registration.FieldContactName]; !ok {
		if n := strings.TrimSpace(first + " " + last); n != "" {
			values[registration.FieldContactName] = n
		}
	}
	// The partner.
	hidden := values[registration.FieldPartnerID]
	partner := form.PartnerID
	switch {
	case partner != "" && hidden != "" && hidden != partner:
		return m, intake.Refuse(registration.FieldPartnerID, "the hidden field names "+clip(hidden)+", but this form belongs to partner "+partner)
	case partner == "":
		partner = hidden
	}
	if partner == "" {
		return m, intake.Refuse(registration.FieldPartnerID, "the form has no partner_id hidden field and no partner is configured for it")
	}
	if intake.CheckValue(partner) != nil || intake.CheckFormula(partner) != nil || len(partner) > 100 {
		return m, intake.Refuse(registration.FieldPartnerID, "not a partner id")
	}
	rec.PartnerID = partner
	if values[registration.FieldPartnerEmail] == "" && form.PartnerEmail != "" {
		values[registration.FieldPartnerEmail] = form.PartnerEmail
	}
	delete(values, registration.FieldPartnerID)
	for _, f := range registration.FieldNames() {
		v, ok := values[f]
		if !ok {
			continue
		}
		if err := intake.SetField(&rec, f, v); err != nil {
			var fe *intake.FieldError
			errors.As(err, &fe)
			m.Problems = append(m.Problems, fe)
		}
	}
	if consentSeen {
		rec.Consent = consent
	}
	if rec.CompanyDomain == "" && rec.ContactEmail != "" {
		if d := registration.EmailDomain(rec.ContactEmail); d != "" && !freeMail.IsFreeHost(d) {
			rec.CompanyDomain = d
		}
	}
	sub, problems := f.Submission(intake.ChannelHubSpotForm, rec, form.GUID, s.ConversionID)
	m.Submission, m.Problems = sub, append(m.Problems, problems...)
	return m, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
