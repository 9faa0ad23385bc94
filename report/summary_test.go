package report

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/yamlx"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

func summaryPolicy(t *testing.T) *rules.Policy {
	t.Helper()
	off := false
	p, err := rules.NewPolicy([]rules.Partner{
		{ID: "northwind", Name: "Northwind Consulting", EmailDomains: []string{"northwind.example"}, Manager: "pm@vendor.example"},
		{ID: "fabrikam", Name: "Fabrikam Partners", EmailDomains: []string{"fabrikam.example"}},
		{ID: "contoso", Name: "Contoso SI", EmailDomains: []string{"contoso.example"}},
		{ID: "initech", Name: "Initech", EmailDomains: []string{"initech.example"}, Active: &off},
		{ID: "globex", Name: "Globex", EmailDomains: []string{"globex.example"}},
	}, rules.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Now: Monday 30 March 2026 08:00 UTC. Expiring: by 13 April 08:00. Recent: since 23 March 08:00.
var sumNow = ts("2026-03-30T08:00")

func sumRecs() []registration.Record {
	r := func(id, partner, email, company string, st registration.Status) registration.Record {
		return registration.Record{ID: id, CaseNumber: "R-" + id, PartnerID: partner, PartnerEmail: email,
			CompanyName: company, Status: st, SubmittedAt: ts("2026-03-20T10:00")}
	}
	var out []registration.Record
	add := func(x registration.Record, mod func(*registration.Record)) {
		if mod != nil {
			mod(&x)
		}
		out = append(out, x)
	}
	// northwind
	add(r("1", "northwind", "jo@northwind.example", "Acme", sApproved), func(x *registration.Record) {
		x.MeetingDue, x.HoldUntil = ts("2026-04-03T10:00"), ts("2026-05-19T10:00") // meeting due in 4 days: attention
		x.StatusMessage = "Approved. This company is registered to you until 19 May 2026."
	})
	add(r("2", "northwind", "ann@eu.northwind.example", "Beta GmbH", sMeeting), func(x *registration.Record) {
		x.HoldUntil = ts("2026-04-10T00:00") // ends in 11 days: attention
	})
	add(r("10", "northwind", "jo@northwind.example", "Gamma", sMeeting), func(x *registration.Record) {
		x.HoldUntil = ts("2026-06-01T00:00") // open
	})
	add(r("3", "northwind", "jo@northwind.example", "Delta", sNeedsInfo), func(x *registration.Record) {
		x.StatusMessage = "We need a few more details: contact e-mail."
	})
	add(r("4", "northwind", "jo@northwind.example", "Epsilon", registration.StatusSubmitted), nil) // SLA due Tue 24 Mar 10:00: past → "shortly"
	add(r("5", "northwind", "jo@northwind.example", "Zeta", sInReview), func(x *registration.Record) {
		x.SLADue = ts("2026-03-31T15:00")
	})
	add(r("6", "northwind", "jo@northwind.example", "Eta", sDeclined), func(x *registration.Record) {
		x.DecidedAt = ts("2026-03-25T09:00") // recent
		x.StatusMessage = "This company is already protected by another registration, so we cannot accept yours."
	})
	add(r("7", "northwind", "jo@northwind.example", "Theta", sDeclined), func(x *registration.Record) {
		x.SubmittedAt, x.DecidedAt = ts("2026-03-01T10:00"), ts("2026-03-02T09:00") // old: not listed
	})
	add(r("8", "northwind", "mallory@evil.example", "Iota", sDeclined), func(x *registration.Record) {
		x.DecidedAt, x.StatusReason = ts("2026-03-29T09:00"), "submitter_not_partner" // an outsider's: not listed
	})
	add(r("9", "northwind", "jo@northwind.example", "Kappa", sConverted), nil)
	add(r("11", "northwind", "jo@northwind.example", "Lambda", sExpired), func(x *registration.Record) {
		x.SubmittedAt, x.ApprovedAt, x.MeetingDue = ts("2026-02-01T10:00"), ts("2026-03-10T10:00"), ts("2026-03-24T10:00") // expired 24 Mar: recent
	})
	// fabrikam: configured recipients; one hostile company name.
	add(r("20", "fabrikam", "sam@fabrikam.example", `<script>alert("x")</script> & "Co"`, sApproved), func(x *registration.Record) {
		x.HoldUntil, x.MeetingDue = ts("2026-05-30T00:00"), ts("2026-04-20T00:00")
	})
	// contoso: unsubscribed. initech: inactive. globex: nothing. unknown: not a partner.
	add(r("30", "contoso", "c@contoso.example", "Nu", sApproved), nil)
	add(r("40", "initech", "i@initech.example", "Xi", sApproved), nil)
	add(r("50", "unknown", "u@unknown.example", "Omicron", sApproved), nil)
	add(r("51", "globex", "g@globex.example", "Pi", sDeclined), func(x *registration.Record) {
		x.SubmittedAt, x.DecidedAt = ts("2026-01-01T00:00"), ts("2026-01-02T00:00")
	})
	return out
}

func sumOpts() SummaryOptions {
	cfg := DefaultSummaryConfig()
	cfg.Unsubscribed = []string{"contoso"}
	cfg.Recipients = map[string][]string{"fabrikam": {"Alliances <alliances@fabrikam.example>", "ops@fabrikam.example"}}
	cfg.Program = "Acme partner program"
	return SummaryOptions{Config: cfg, StatusLink: func(c string) string { return "https://regsync.example/r/" + c }}
}

func cases(items []SummaryItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.CaseNumber)
	}
	return out
}

func TestSummaries(t *testing.T) {
	b := NewSummaryBuilder(summaryPolicy(t), sumNow, sumOpts())
	recs := sumRecs()
	_ = b.Add(recs[:5])
	_ = b.Add(append(recs[5:], recs[0])) // R-1 again: listed once
	sums, skips := b.Result()

	wantSkips := []Skip{{"contoso", "unsubscribed"}, {"globex", "nothing_to_report"}, {"initech", "inactive"}, {"unknown", "unknown_partner"}}
	if !slices.Equal(skips, wantSkips) {
		t.Errorf("skips = %v, want %v", skips, wantSkips)
	}
	if len(sums) != 2 || sums[0].PartnerID != "fabrikam" || sums[1].PartnerID != "northwind" {
		t.Fatalf("summaries for %v", sums)
	}
	nw := sums[1]
	// Recipients: the submitters at northwind.example (sub-domains too), never mallory@evil.example.
	if want := []string{"ann@eu.northwind.example", "jo@northwind.example"}; !slices.Equal(nw.To, want) {
		t.Errorf("northwind To = %v, want %v", nw.To, want)
	}
	if want := []string{"alliances@fabrikam.example", "ops@fabrikam.example"}; !slices.Equal(sums[0].To, want) {
		t.Errorf("fabrikam To = %v, want %v", sums[0].To, want)
	}
	// Attention, soonest deadline first: R-1 meeting due 3 Apr, R-2 window ends 10 Apr, R-3 needs info (no date).
	if got, want := cases(nw.Attention), []string{"R-1", "R-2", "R-3"}; !slices.Equal(got, want) {
		t.Errorf("attention = %v, want %v", got, want)
	}
	// Open: R-5 (answer by 31 Mar), R-10 (ends 1 Jun), then without a date.
	if got, want := cases(nw.Open), []string{"R-5", "R-10", "R-4", "R-9"}; !slices.Equal(got, want) {
		t.Errorf("open = %v, want %v", got, want)
	}
	// Closed in the last 7 days: R-6 (25 Mar), R-11 (expired 24 Mar); R-7 is older, and R-8 was sent
	// by an outsider under northwind's id: neither its company nor its sender is northwind's business.
	if got, want := cases(nw.Closed), []string{"R-6", "R-11"}; !slices.Equal(got, want) {
		t.Errorf("closed = %v, want %v", got, want)
	}
	if want := "Acme partner program: your registrations — 3 need your attention, 7 open, 2 closed this week (week of 30 March 2026)"; nw.Subject != want {
		t.Errorf("subject = %q\nwant      %q", nw.Subject, want)
	}
	if nw.Headers["Auto-Submitted"] != "auto-generated" {
		t.Errorf("headers = %v", nw.Headers)
	}
	for _, want := range []string{
		"Hello Northwind Consulting,\n\nHere is where your registrations stand on 30 March 2026.\n",
		"\nNeeds your attention (3)\n",
		"* R-1 — Acme: approved\n  Next: Keep the protection: log a first meeting with the prospect by 3 April 2026.\n  Status: https://regsync.example/r/R-1\n",
		"* R-2 — Beta GmbH: meeting booked\n  Next: Work the opportunity with your account executive; the protection ends 10 April 2026.\n",
		"* R-3 — Delta: needs info\n  Next: Send us the missing details so we can decide it.\n  We need a few more details: contact e-mail.\n",
		"* R-5 — Zeta: in review\n  Next: An account executive is reviewing it and will answer by 31 March 2026 15:00 UTC.\n",
		"* R-4 — Epsilon: submitted\n  Next: We are checking it and will answer shortly.\n",
		"* R-9 — Kappa: converted\n  Next: A deal is open; we will tell you when it closes.\n",
		"\nClosed in the last 7 days (2)\n",
		"* R-6 — Eta: declined\n  Next: If you think this is wrong, you can appeal from the status page.\n  This company is already protected",
		"* R-11 — Lambda: expired\n  Next: You may register the company again if the opportunity comes back.\n",
		"To stop it, ask your partner manager (pm@vendor.example).",
	} {
		if !strings.Contains(nw.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, nw.Text)
		}
	}
	if strings.Contains(nw.Text, "Iota") || strings.Contains(nw.HTML, "Iota") {
		t.Error("an outsider's registration is in northwind's summary")
	}
	for _, want := range []string{"<strong>R-1</strong> — Acme", `href="https://regsync.example/r/R-1"`, "Needs your attention (3)", "<strong>3 April 2026</strong>"} {
		if !strings.Contains(nw.HTML, want) {
			t.Errorf("html lacks %q", want)
		}
	}
}

func TestSummaryEscapesCRMText(t *testing.T) {
	opts := sumOpts()
	opts.StatusLink = func(c string) string { return "javascript:alert(1)//" + c }
	recs := []registration.Record{{ID: "1", CaseNumber: "R-1", PartnerID: "fabrikam", Status: sApproved,
		CompanyName: "<img src=x onerror=alert(1)>\nInjected: line", StatusMessage: `"><script>x</script>`,
		HoldUntil: ts("2026-06-01T00:00")}}
	sums := Summaries(summaryPolicy(t), recs, sumNow, opts)
	if len(sums) != 1 {
		t.Fatalf("summaries: %v", sums)
	}
	h := sums[0].HTML
	for _, bad := range []string{"<img", "<script>", "javascript:"} {
		if strings.Contains(h, bad) {
			t.Errorf("html contains %q:\n%s", bad, h)
		}
	}
	if !strings.Contains(h, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("company not escaped:\n%s", h)
	}
	if strings.Contains(sums[0].Text, "\nInjected: line") {
		t.Errorf("a newline in a company name starts a line of the text body:\n%s", sums[0].Text)
	}
	if strings.ContainsAny(sums[0].Subject, "\r\n") {
		t.Errorf("subject has a line break: %q", sums[0].Subject)
	}
}

func TestSummaryConfigValidate(t *testing.T) {
	partners := []rules.Partner{{ID: "northwind"}, {ID: "fabrikam"}}
	good := DefaultSummaryConfig()
	good.Unsubscribed = []string{"northwind"}
	good.Recipients = map[string][]string{"fabrikam": {"Ops <ops@fabrikam.example>"}}
	if err := good.Validate(partners); err != nil {
		t.Errorf("valid config: %v", err)
	}
	bad := SummaryConfig{
		Unsubscribed:       []string{"northwnd", "northwind", "northwind"},
		Recipients:         map[string][]string{"fabrikam": {"not an address"}, "zeta": {}},
		ExpiringWithinDays: 0, RecentDays: 60, Program: "a\nb",
	}
	err := bad.Validate(partners)
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *yamlx.PathError
		if !errors.As(e, &pe) {
			t.Errorf("%v is not a PathError", e)
		}
		got = append(got, e.Error())
	}
	want := []string{
		`summaries.unsubscribed.0: unknown partner "northwnd"`,
		`summaries.unsubscribed.2: partner "northwind" listed twice`,
		`summaries.recipients.fabrikam.0: "not an address" is not an e-mail address`,
		`summaries.recipients.zeta: unknown partner "zeta"`,
		`summaries.recipients.zeta: list at least one address, or remove the entry`,
		`summaries.expiring_within_days: must be 1 to 90 days, not 0`,
		`summaries.recent_days: must be 1 to 31 days, not 60`,
		`summaries.program: must be one line`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSummaryWithoutRecipient(t *testing.T) {
	p, _ := rules.NewPolicy([]rules.Partner{{ID: "solo", Name: "Solo"}}, rules.DefaultRules()) // no email_domains
	b := NewSummaryBuilder(p, sumNow, SummaryOptions{})
	_ = b.Add([]registration.Record{{ID: "1", CaseNumber: "R-1", PartnerID: "solo", PartnerEmail: "a@solo.example", Status: sConverted}})
	sums, skips := b.Result()
	if len(sums) != 0 || !slices.Equal(skips, []Skip{{"solo", "no_recipient"}}) {
		t.Errorf("sums %v skips %v", sums, skips)
	}
}
