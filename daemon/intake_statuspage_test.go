package daemon

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// registerByEmail registers through the e-mail channel and returns the
// case number and the status link.
func (r *rig) registerByEmail(id, body string) (string, string, map[string]any) {
	r.t.Helper()
	raw := crlf(fmt.Sprintf("From: Sam Carter <sam@northwind.example>\nTo: %s\nSubject: Registration\nMessage-ID: <%s@northwind.example>\n"+
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n%s\n", rigIntakeAddr, id, body))
	code, out := r.postEmail(raw)
	if code != 200 || out["case_number"] == nil {
		r.t.Fatalf("register: %d %v", code, out)
	}
	return out["case_number"].(string), strings.TrimPrefix(out["status_url"].(string), r.base), out
}

// The status page: view it, supply the missing fields (needs_info →
// decided), withdraw, and appeal a decline (an AE gets a task).
func TestIntakeStatusPage(t *testing.T) {
	r := startRig(t, rigOpts{})
	cn, link, _ := r.registerByEmail("sp-1", "Company: Soylent Corp\nWebsite: soylent.example\nContact: Sol Roth\nCountry: US\nConsent: yes")
	token := strings.TrimPrefix(link, "/r/")
	resp, page := r.do("GET", link, "", nil, nil)
	p := string(page)
	if resp.StatusCode != 200 || !strings.Contains(p, cn) || !strings.Contains(p, "Needs info") ||
		!strings.Contains(p, `name="contact_email"`) || !strings.Contains(p, `name="problem"`) || strings.Contains(p, `name="company_name"`) {
		t.Fatalf("needs-info page: %d\n%s", resp.StatusCode, p)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	before := r.records()

	// Incomplete: the page says what is missing; nothing changes.
	resp2, p2 := r.postForm(link+"/supply", url.Values{"token": {token}, "contact_email": {"sol@soylent.example"}})
	if resp2.StatusCode != 422 || !strings.Contains(p2, "required") || r.byCase(cn)["status"] != "needs_info" {
		t.Errorf("incomplete supply: %d", resp2.StatusCode)
	}
	// A forged cross-site post is refused.
	resp3, _ := r.do("POST", link+"/supply", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"token": {token}, "contact_email": {"x@soylent.example"}, "problem": {"x"}}.Encode()),
		map[string]string{"Origin": "https://evil.example"})
	if resp3.StatusCode != 403 {
		t.Errorf("cross-site: %d", resp3.StatusCode)
	}
	// Complete: decided again at once.
	resp4, _ := r.postForm(link+"/supply", url.Values{"token": {token}, "contact_email": {"sol@soylent.example"}, "problem": {"Food supply planning in spreadsheets."}})
	if resp4.StatusCode != 303 || resp4.Header.Get("Location") != link+"?done=supply" {
		t.Fatalf("supply: %d %s", resp4.StatusCode, resp4.Header.Get("Location"))
	}
	rec := r.waitCase(cn, 5*time.Second, "approved")
	if rec["contact_email"] != "sol@soylent.example" || r.records() != before {
		t.Errorf("after supplying: %v (%d → %d records)", rec, before, r.records())
	}
	_, page = r.do("GET", link+"?done=supply", "", nil, nil)
	if p := string(page); !strings.Contains(p, "Approved") || !strings.Contains(p, "Log a first meeting") {
		t.Errorf("approved page:\n%s", p)
	}

	// Withdraw.
	resp5, _ := r.postForm(link+"/withdraw", url.Values{"token": {token}, "confirm": {"yes"}})
	if resp5.StatusCode != 303 {
		t.Fatalf("withdraw: %d", resp5.StatusCode)
	}
	r.waitCase(cn, 5*time.Second, "withdrawn")

	// Appeal a decline: the AE decides, with a task.
	dcn, dlink, out := r.registerByEmail("sp-2", "Company: Initech\nWebsite: initech.example\nContact: Bill\nEmail: bill@initech.example\nProblem: TPS\nCountry: US\nConsent: yes")
	if out["status"] != "declined" {
		t.Fatalf("initech: %v", out)
	}
	_, page = r.do("GET", dlink, "", nil, nil)
	if !strings.Contains(string(page), `action="`+dlink+`/appeal"`) {
		t.Fatalf("no appeal form on a declined registration:\n%s", page)
	}
	drec := r.byCase(dcn)
	tasks := len(r.crm.Linked(t, drec["id"], "tasks"))
	resp6, _ := r.postForm(dlink+"/appeal", url.Values{"token": {strings.TrimPrefix(dlink, "/r/")}, "appeal": {"We met Bill before Initech was blocked."}})
	if resp6.StatusCode != 303 {
		t.Fatalf("appeal: %d", resp6.StatusCode)
	}
	drec = r.waitCase(dcn, 5*time.Second, "appealed")
	r.settle(5 * time.Second)
	if n := len(r.crm.Linked(t, drec["id"], "tasks")); n != tasks+1 {
		t.Errorf("%d AE tasks after the appeal, want %d", n, tasks+1)
	}
	var noted bool
	for _, id := range r.crm.Linked(t, drec["id"], "notes") {
		if n, ok := r.fake.hs.GetRecord("notes", id); ok && strings.Contains(n.Properties["hs_note_body"], "We met Bill") {
			noted = true
		}
	}
	if !noted {
		t.Error("the appeal's reason is not in a note on the record")
	}
	// The partner is told the appeal was received.
	r.mailTo("sam@northwind.example", dcn+"] Initech: appealed", 5*time.Second)

	// A made-up or tampered link shows nothing.
	for _, bad := range []string{"/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", link[:len(link)-1] + "x", "/r/" + strings.ToLower(token)} {
		resp, page := r.do("GET", bad, "", nil, nil)
		if resp.StatusCode != 404 || strings.Contains(string(page), cn) {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}
