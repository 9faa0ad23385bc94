package statuspage

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

const cn = "R-7QK2M9XBHD"

func signer(t *testing.T, key string) *Signer {
	t.Helper()
	s, err := NewSigner(secret.New(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokens(t *testing.T) {
	s := signer(t, "status-key-0123456789")
	tok := s.Token(cn)
	if len(tok) != 32 || !strings.HasPrefix(tok, "7QK2M9XBHD") || strings.ContainsAny(tok, "/+=") {
		t.Fatalf("token %q", tok)
	}
	if got, ok := s.Verify(tok); !ok || got != cn {
		t.Errorf("Verify(own token) = %q, %v", got, ok)
	}
	if s.Token(cn) != tok {
		t.Error("tokens are not stable")
	}
	// Every single-character change is refused.
	alphabet := "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghijklmnopqrstuvwxyz-_"
	for i := range tok {
		for _, c := range alphabet {
			if byte(c) == tok[i] {
				continue
			}
			forged := tok[:i] + string(c) + tok[i+1:]
			if _, ok := s.Verify(forged); ok {
				t.Fatalf("forged token %q accepted", forged)
			}
		}
	}
	// Rotating the key revokes.
	if _, ok := signer(t, "status-key-rotated-999").Verify(tok); ok {
		t.Error("a token survived key rotation")
	}
	for _, bad := range []string{"", "short", tok + "x", "R-7QK2M9XBHD" + tok[10:30]} {
		if _, ok := s.Verify(bad); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	if s.Token("R-NOTVALID!!") != "" || s.Token("") != "" {
		t.Error("token for an invalid case number")
	}
	if _, err := NewSigner(secret.New("short")); err == nil {
		t.Error("short key accepted")
	}
	l := NewLinks("https://partners.example.com/", s)
	if got := l.URL(cn); got != "https://partners.example.com/r/"+tok {
		t.Errorf("URL %q", got)
	}
	if RandomSigner().Token(cn) == tok {
		t.Error("random signer made the configured key's token")
	}
}

func handler(t *testing.T) (*Handler, string) {
	s := signer(t, "status-key-0123456789")
	return New(Options{Signer: s, PublicURL: "https://partners.example.com", ProgramName: "Vendor partner program"}), s.Token(cn)
}

// The Registrar is nil in these tests: every refusal must come before it.
func TestRefusalsComeBeforeTheRegistrar(t *testing.T) {
	h, tok := handler(t)
	form := url.Values{"token": {tok}, "confirm": {"yes"}}.Encode()
	cases := []struct {
		name, method, path, origin, fetchSite, body string
		code                                        int
		want                                        string
	}{
		{"forged token", "GET", "/r/" + strings.Repeat("A", 32), "", "", "", 404, "This status link is not valid"},
		{"no token", "GET", "/r/", "", "", "", 404, ""},
		{"case number as token", "GET", "/r/" + cn, "", "", "", 404, "not valid"},
		{"forged token post", "POST", "/r/" + strings.Repeat("A", 32) + "/withdraw", "https://partners.example.com", "", form, 404, "not valid"},
		{"cross-site origin", "POST", "/r/" + tok + "/withdraw", "https://evil.example", "", form, 403, "not sent from our status page"},
		{"null origin", "POST", "/r/" + tok + "/withdraw", "null", "", form, 403, "not sent from our status page"},
		{"cross-site fetch", "POST", "/r/" + tok + "/withdraw", "", "cross-site", form, 403, "not sent from our status page"},
		{"token missing from form", "POST", "/r/" + tok + "/withdraw", "https://partners.example.com", "", "confirm=yes", 403, "not sent from our status page"},
		{"unknown action", "POST", "/r/" + tok + "/approve", "https://partners.example.com", "", form, 404, "not valid"},
		{"get on action", "GET", "/r/" + tok + "/withdraw", "", "", "", 405, ""},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, "https://partners.example.com"+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %d, want %d …%s…\n%s", c.name, rec.Code, c.code, c.want, rec.Body.String())
		}
		if c.code == 404 && c.method == "GET" && c.want != "" {
			if rec.Header().Get("Cache-Control") != "no-store" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s: security headers %v", c.name, rec.Header())
			}
		}
	}
}

func render(t *testing.T, h *Handler, rec registration.Record) string {
	t.Helper()
	rec.CaseNumber = cn
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "layout", h.build(&rec, h.o.Signer.Token(cn))); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var day = func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }

func TestPageNeedsInfo(t *testing.T) {
	h, tok := handler(t)
	out := render(t, h, registration.Record{
		Status: registration.StatusNeedsInfo, StatusReason: rules.ReasonFreeEmailDomain,
		StatusMessage: "The company domain is a free e-mail provider.",
		CompanyName:   "Initech", CompanyDomain: "gmail.com", ContactName: "Jane Doe", ContactEmail: "jane@gmail.com",
		Problem: "x", PartnerID: "northwind", PartnerEmail: "sam@northwind.example", SubmittedAt: day("2025-03-04"),
	})
	for _, want := range []string{
		`<span class="badge badge-needs-info">needs info</span>`,
		`action="/r/` + tok + `/supply"`, `<input type="hidden" name="token" value="` + tok + `">`,
		`<label for="f-company_domain">Company website</label>`, `id="f-company_domain" name="company_domain" value=""`,
		`aria-describedby="h-company_domain"`,
		`<input type="checkbox" id="f-consent" name="consent" value="yes" required>`, `<label for="f-consent">The prospect agreed to be contacted</label>`,
		"Send the missing details", "<dt>Submitted</dt><dd>Tue 4 Mar 2025</dd>", `/r/` + tok + `/withdraw`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(out, `/appeal"`) || strings.Contains(out, "<script") || strings.Contains(out, "https://") {
		t.Error("needs_info page offers an appeal, runs a script or loads something external")
	}
}

func TestPageNeverShowsOtherPartiesAndEscapes(t *testing.T) {
	h, _ := handler(t)
	out := render(t, h, registration.Record{
		Status: registration.StatusDeclined, StatusReason: rules.ReasonConflictProtected,
		StatusMessage: "This company is already protected by another registration, so we cannot accept yours.", // rules' message for conflict_protected
		CompanyName:   `Globex <script>alert(1)</script>`, CompanyDomain: "globex.example",
		ConflictWith: "R-RIVALCASE1", OwnerID: "owner-42", DealID: "deal-9", PartnerID: "northwind", SubmittedAt: day("2025-03-04"), DecidedAt: day("2025-03-05"),
	})
	for _, never := range []string{"R-RIVALCASE1", "owner-42", "deal-9", "<script>alert"} {
		if strings.Contains(out, never) {
			t.Errorf("page shows %q", never)
		}
	}
	for _, want := range []string{"Globex &lt;script&gt;", "already protected by another registration", `/appeal"`, "Why should we look again?", "<dt>Decided</dt><dd>Wed 5 Mar 2025</dd>"} {
		if !strings.Contains(out, want) {
			t.Errorf("declined page lacks %s", want)
		}
	}
	if strings.Contains(out, "/withdraw") {
		t.Error("a declined registration offers withdraw")
	}
}

func TestPageApproved(t *testing.T) {
	h, _ := handler(t)
	out := render(t, h, registration.Record{
		Status: registration.StatusApproved, CompanyName: "Globex", HoldUntil: day("2025-05-03"), MeetingDue: day("2025-03-18"), SubmittedAt: day("2025-03-04"),
	})
	for _, want := range []string{"badge-approved", "The company is registered to you until Sat 3 May 2025. Log a first meeting with the prospect by Tue 18 Mar 2025",
		"<dt>Protected until</dt><dd>Sat 3 May 2025</dd>", "<dt>First meeting due</dt><dd>Tue 18 Mar 2025</dd>", "Withdraw registration"} {
		if !strings.Contains(out, want) {
			t.Errorf("approved page lacks %s", want)
		}
	}
	out = render(t, h, registration.Record{Status: registration.StatusSubmitted, SLADue: day("2025-03-06")})
	if !strings.Contains(out, "badge-pending") || !strings.Contains(out, "Received — checking for earlier registrations of this company") || !strings.Contains(out, "<dt>Answer due</dt>") {
		t.Errorf("submitted page:\n%s", out)
	}
}

func TestMissingFields(t *testing.T) {
	m := missingFields(rules.DefaultRequired)
	got := m(&registration.Record{CompanyName: "A", CompanyDomain: "not a domain", ContactEmail: "bad", PartnerID: "p", PartnerEmail: "s@p.example"})
	if strings.Join(got, ",") != "company_domain,contact_name,contact_email,problem,consent" {
		t.Errorf("missing %v", got)
	}
}
