package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// capPolicy is testPolicy with Northwind (and every partner) capped at n
// active registrations.
func capPolicy(n int) string {
	return strings.Replace(testPolicy, "rules:\n", fmt.Sprintf("rules:\n  caps: {active_per_partner: %d}\n", n), 1)
}

// The attack of the security issue, replayed over loopback: a script posts
// the web form 25 times in a few seconds with
// partner_email=someone@northwind.example, from several client addresses
// (behind the trusted proxy: IPv4 addresses, IPv6 addresses in one /64 and
// in others). It used to create 25 Northwind registrations, fill
// Northwind's cap, get the real partner's next registration declined
// partner_cap_reached, and hand the status links to the attacker. Now
// nothing reaches the CRM, nobody but the typed address gets mail, the
// pages carry no status link, and Northwind's rep registers as if nothing
// had happened.
func TestIntakeWebFormAttackReplay(t *testing.T) {
	r := startRig(t, rigOpts{policy: capPolicy(3), webform: "rate_limit: {per_hour: 20, burst: 5}, trusted_proxies: [127.0.0.1]"})
	before := r.records()
	clients := []string{"198.51.100.7", "198.51.100.8", "203.0.113.50", "2001:db8:1:2::10", "2001:db8:1:2::11",
		"2001:db8:1:3::10", "2001:db8:7::1", "192.0.2.99"}
	codes := map[int]int{}
	for i := range 25 {
		form := webForm(r.formNonce())
		form.Set("partner_email", "someone@northwind.example")
		form.Set("company_name", fmt.Sprintf("Fake %d", i))
		form.Set("company_domain", fmt.Sprintf("fake%d.example", i))
		form.Set("contact_email", fmt.Sprintf("ceo@fake%d.example", i))
		resp, page := r.do("POST", "/register", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
			map[string]string{"Origin": r.base, "X-Forwarded-For": clients[i%len(clients)]})
		codes[resp.StatusCode]++
		if strings.Contains(string(page), r.base+"/r/") || strings.Contains(string(page), `href="/r/`) {
			t.Errorf("post %d: the attacker got a status link", i)
		}
		if strings.Contains(string(page), "/register/confirm/") {
			t.Errorf("post %d: the attacker got the confirmation link", i)
		}
	}
	t.Logf("answers to the 25 posts: %v", codes)
	r.settle(10 * time.Second)
	if n := r.records() - before; n != 0 {
		t.Errorf("the attack created %d registrations in the CRM; want none until the address is confirmed", n)
	}
	// At most per_address_burst (3) e-mails reach the typed address.
	if n := len(r.smtp.Messages()); n > 3 {
		t.Errorf("the attack had regsync send %d e-mails; the per-address limit allows 3", n)
	}
	for _, m := range r.smtp.Messages() {
		for _, to := range m.To {
			if !strings.EqualFold(to, "someone@northwind.example") {
				t.Errorf("the attack made regsync e-mail %s (%q): only the typed address may get mail", to, m.Header("Subject"))
			}
		}
	}
	// Northwind's rep registers three prospects by e-mail (an
	// authenticated channel): the cap is theirs, every one approved.
	for i := range 3 {
		cn, _, _ := r.registerByEmail(fmt.Sprintf("after-attack-%d", i), fmt.Sprintf(
			"Company: Real %d\nWebsite: real%d.example\nContact: Ann Lee\nEmail: ann@real%d.example\nProblem: Spreadsheets everywhere.\nCountry: US\nConsent: yes", i, i, i))
		if rec := r.waitCase(cn, 15*time.Second, "approved", "declined", "in_review", "needs_info"); rec["status"] != "approved" {
			t.Errorf("Northwind's registration %d after the attack: %s %s (want approved)", i, rec["status"], rec["status_reason"])
		}
	}
}
