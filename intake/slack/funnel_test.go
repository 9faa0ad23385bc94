package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// Both Slack paths refuse, with the field and why, what every channel
// refuses: a free-mail company website and a contact at the partner's own
// company (the user U1 is at northwind.example). Before the funnel only
// the web form did; Slack registered them and let the rules decide.
func TestSlackRefusesWhatEveryChannelRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, domain, email, field, reason string
	}{
		{"free-mail website", "gmail.com", "hank@globex.example", "company_domain", "gmail.com is a free e-mail provider: enter the company's own website"},
		{"own-company contact", "globex.example", "bob@northwind.example", "contact_email", "that is an address at your own company; give the prospect's address"},
	} {
		h, api, _ := setup(t)
		reg := &slowRegistrar{}
		h.o.Registrar = reg
		text := `company=Globex domain=` + tc.domain + ` contact=Hank email=` + tc.email + ` problem=x consent=yes`
		got := ephemeralText(t, serve(h.Commands(), signed(CommandsPath, command(api, "U1", text), time.Now(), signing)))
		if !strings.Contains(got, ":warning: "+tc.field+": "+tc.reason) {
			t.Errorf("command, %s: %q", tc.name, got)
		}
		values := map[string]string{"company_name": "Globex", "company_domain": tc.domain, "contact_name": "Hank", "contact_email": tc.email, "problem": "x"}
		rec := serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U1", values, true)), time.Now(), signing))
		var resp slack.ViewSubmissionResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.ResponseAction != slack.RAErrors ||
			len(resp.Errors) != 1 || resp.Errors[tc.field] != strings.ToUpper(tc.reason[:1])+tc.reason[1:] {
			t.Errorf("modal, %s: %s", tc.name, rec.Body.String())
		}
		if len(reg.subs) != 0 {
			t.Errorf("%s: registered %d", tc.name, len(reg.subs))
		}
	}
}

// The keys Slack registrations are upserted on are what they were: the
// team and the command's trigger id, or the modal's view id.
func TestSlackSubmissionKeysAreUnchanged(t *testing.T) {
	h, api, _ := setup(t)
	reg := &slowRegistrar{}
	h.o.Registrar = reg
	text := `company=Globex domain=globex.example contact=Hank email=hank@globex.example problem=x consent=yes`
	serve(h.Commands(), signed(CommandsPath, command(api, "U1", text), time.Now(), signing))
	values := map[string]string{"company_name": "Globex", "company_domain": "globex.example", "contact_name": "Hank", "contact_email": "hank@globex.example", "problem": "x"}
	serve(h.Interactions(), signed(InteractionsPath, interaction(t, submission("U1", values, true)), time.Now(), signing))
	h.Wait()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	want := []struct{ key, cn string }{{"slack:T1:13345224609.738474920.8088930838d88f008e0", "R-J8NYM3WPBX"}, {"slack:T1:V123", "R-RCSCCCEQ7W"}}
	if len(reg.subs) != len(want) {
		t.Fatalf("registered %d", len(reg.subs))
	}
	for i, w := range want {
		s := reg.subs[i]
		if s.Key != w.key || s.Record.SubmissionKey != w.key || s.Record.CaseNumber != w.cn || s.Channel != "slack" || s.Record.Source != "slack" {
			t.Errorf("submission %d: key %q case %q channel %q source %q, want %s %s", i, s.Key, s.Record.CaseNumber, s.Channel, s.Record.Source, w.key, w.cn)
		}
		if s.Record.PartnerID != "northwind" || s.Record.PartnerEmail != "sam@northwind.example" {
			t.Errorf("submission %d: partner %q %q", i, s.Record.PartnerID, s.Record.PartnerEmail)
		}
	}
}
