package email

import (
	"strings"
	"testing"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// An e-mail registration has the problems every channel refuses, with the
// field and why: a free-mail company website (new: before the funnel it
// was registered and the rules asked for another) and a contact at the
// partner's own company. The registration goes ahead without the value,
// under the message's key, and the reply names the problem.
func TestEmailRefusesWhatEveryChannelRefuses(t *testing.T) {
	c := channel(t, nil)
	p, err := c.Plan(raw("Sam <sam@northwind.example>", "New", "", "Company: Globex\nWebsite: gmail.com\nEmail: hank@globex.example\nConsent: yes"), Hints{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Problems) != 1 || p.Problems[0].Field != "company_domain" || p.Problems[0].Reason != "gmail.com is a free e-mail provider: enter the company's own website" {
		t.Errorf("problems %v", p.Problems)
	}
	r := p.Submission.Record
	if p.Action != ActionRegister || r.CompanyDomain != "" || r.ContactEmail != "hank@globex.example" {
		t.Errorf("action %s domain %q contact %q", p.Action, r.CompanyDomain, r.ContactEmail)
	}
	if key := v2Key("sam@northwind.example", "m1@x.example"); p.Submission.Key != key || r.SubmissionKey != key || len(key) != 41 || !strings.HasPrefix(key, "email:v2:") {
		t.Errorf("key %q, want %q", p.Submission.Key, key)
	}
	m := c.receiptReply(p, intake.Receipt{CaseNumber: r.CaseNumber, Status: registration.StatusNeedsInfo, Missing: []string{"company_domain"}})
	if got := m.Text; !strings.Contains(got, "gmail.com is a free e-mail provider") {
		t.Errorf("the reply does not name the problem:\n%s", got)
	}
}
