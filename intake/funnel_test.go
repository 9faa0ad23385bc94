package intake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// The submission keys are a contract stored in the CRMs: each channel's
// key for the same input, and the case number derived from it, are what
// they were before the funnel made them.
func TestFunnelKeepsEveryChannelsKeyFormat(t *testing.T) {
	for _, tc := range []struct {
		channel  string
		material []string
		key      string
		cn       string
	}{
		{ChannelWebForm, []string{"00112233445566778899aabbccddeeff"}, "webform:00112233445566778899aabbccddeeff", "R-WFBRHJTTXH"},
		{ChannelSlack, []string{"T1", "1337.42"}, "slack:T1:1337.42", "R-AS2S7BP7GQ"},
		{ChannelSlack, []string{"T1", "V123"}, "slack:T1:V123", "R-RCSCCCEQ7W"},
		{ChannelCSV, []string{"northwind", "0123456789abcdef0123456789abcdef", "3"}, "csv:northwind:0123456789abcdef0123456789abcdef:3", "R-H7BFK8VFQD"},
		{ChannelHubSpotForm, []string{"guid-1", "conv-9"}, "hubspot_form:guid-1:conv-9", "R-KX9P995722"},
		{ChannelEmail, []string{"v2", "0123456789abcdef0123456789abcdef"}, "email:v2:0123456789abcdef0123456789abcdef", ""},
		{ChannelEmail, []string{"<a@b>"}, "email:<a@b>", ""}, // the legacy key
	} {
		if got := SubmissionKey(tc.channel, tc.material...); got != tc.key {
			t.Errorf("SubmissionKey(%s, %q) = %q, want %q", tc.channel, tc.material, got, tc.key)
		}
		sub, errs := testFunnel().Submission(tc.channel, registration.Record{CompanyName: "Globex"}, tc.material...)
		if len(errs) > 0 || sub.Key != tc.key || sub.Record.SubmissionKey != tc.key || sub.Channel != tc.channel || sub.Record.Source != tc.channel {
			t.Errorf("%s: submission %+v, %v", tc.key, sub, errs)
		}
		if want := registration.CaseNumberFor(tc.key); sub.Record.CaseNumber != want || (tc.cn != "" && want != tc.cn) {
			t.Errorf("%s: case %q, want %q (%q)", tc.key, sub.Record.CaseNumber, want, tc.cn)
		}
	}
}

func testFunnel() *Funnel {
	return NewFunnel(nil, NewDirectory([]rules.Partner{
		{ID: "northwind", Name: "Northwind Consulting", Type: "reseller", EmailDomains: []string{"northwind.example"}},
		{ID: "fabrikam", Name: "Fabrikam", EmailDomains: []string{"fabrikam.example"}},
	}), registration.NewFreeMail([]string{"mail.example"}, nil))
}

// The shared checks: each refusal names its field and why, and the value
// refused is left out of the submission.
func TestFunnelChecks(t *testing.T) {
	base := func() registration.Record {
		return registration.Record{PartnerID: "northwind", CompanyName: "Globex", CompanyDomain: "globex.example", ContactEmail: "hank@globex.example"}
	}
	for _, tc := range []struct {
		name  string
		mod   func(*registration.Record)
		field string
		want  string
	}{
		{"clean", nil, "", ""},
		{"free-mail website", func(r *registration.Record) { r.CompanyDomain = "gmail.com" }, "company_domain", "gmail.com is a free e-mail provider: enter the company's own website"},
		{"free-mail website from the config", func(r *registration.Record) { r.CompanyDomain = "mail.example" }, "company_domain", "mail.example is a free e-mail provider: enter the company's own website"},
		{"contact at the partner's own company", func(r *registration.Record) { r.ContactEmail = "bob@eu.northwind.example" }, "contact_email", "that is an address at your own company; give the prospect's address"},
		{"contact at another partner", func(r *registration.Record) { r.ContactEmail = "bob@fabrikam.example" }, "", ""},
		{"no partner yet", func(r *registration.Record) { r.PartnerID, r.ContactEmail = "", "bob@northwind.example" }, "", ""},
	} {
		rec := base()
		if tc.mod != nil {
			tc.mod(&rec)
		}
		sub, errs := testFunnel().Submission(ChannelCSV, rec, "x")
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%s: refused %v", tc.name, errs)
		case tc.field != "" && (len(errs) != 1 || errs[0].Field != tc.field || errs[0].Reason != tc.want):
			t.Errorf("%s: %v, want %s: %s", tc.name, errs, tc.field, tc.want)
		case tc.field != "":
			if v, _ := sub.Record.Get(tc.field); v != "" {
				t.Errorf("%s: refused value %q kept", tc.name, v)
			}
		}
	}
}

// The funnel names the partner as the partner list does, whatever the
// input said.
func TestFunnelNamesThePartner(t *testing.T) {
	sub, _ := testFunnel().Submission(ChannelHubSpotForm, registration.Record{PartnerID: "northwind", PartnerName: "Evil Twin Ltd"}, "g", "c")
	if sub.Record.PartnerName != "Northwind Consulting" || sub.Record.PartnerType != "reseller" {
		t.Errorf("partner %q/%q", sub.Record.PartnerName, sub.Record.PartnerType)
	}
}

type countingRegistrar struct {
	Registrar
	rcs []Receipt
	err error
}

func (c countingRegistrar) Register(context.Context, []Submission) ([]Receipt, error) {
	return c.rcs, c.err
}

// A Registrar that answers for fewer submissions than it was given, or
// without a case number, is an error, never a receipt.
func TestFunnelRegisterChecksTheRegistrarsAnswer(t *testing.T) {
	sub, _ := testFunnel().Submission(ChannelSlack, registration.Record{CompanyName: "Globex"}, "T", "1")
	for _, tc := range []struct {
		reg  countingRegistrar
		want string
	}{
		{countingRegistrar{}, "registrar returned 0 receipts for 1 submissions"},
		{countingRegistrar{rcs: []Receipt{{Status: registration.StatusSubmitted}}}, "registrar returned a receipt without a case number"},
		{countingRegistrar{rcs: []Receipt{{CaseNumber: "R-X", Err: errors.New("crm said no")}}}, "crm said no"},
		{countingRegistrar{err: errors.New("down")}, "down"},
	} {
		f := testFunnel()
		f.Registrar = tc.reg
		if _, err := f.RegisterOne(context.Background(), sub); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
	f := testFunnel()
	f.Registrar = countingRegistrar{rcs: []Receipt{{CaseNumber: sub.Record.CaseNumber}}}
	if rc, err := f.RegisterOne(context.Background(), sub); err != nil || rc.CaseNumber != sub.Record.CaseNumber {
		t.Errorf("%+v %v", rc, err)
	}
}
