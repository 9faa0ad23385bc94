package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	regmail "github.com/regsync/regsync/internal/mail"
)

// The embedded sandbox runs the fake with crm.sandbox.search_lag (2s by
// default) and gives the daemon's client poll_settle search_lag + 1s,
// unless hubspot.poll_settle is set.
func TestSandboxSearchLagAndPollSettle(t *testing.T) {
	for _, tc := range []struct {
		name, yaml  string
		lag, settle time.Duration
	}{
		{"defaults", "", 2 * time.Second, 3 * time.Second},
		{"no lag", "crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\", search_lag: 0s}}\n", 0, time.Second},
		{"poll_settle set", "hubspot: {poll_settle: 10s}\n", 2 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := tc.yaml
			if !strings.Contains(yml, "crm:") {
				yml += "crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\"}}\n"
			}
			cfg, err := config.Parse("c.yaml", []byte(yml), false)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sb, hcfg, err := startSandbox(context.Background(), cfg, "http://127.0.0.1:9", slog.New(slog.DiscardHandler), time.Now, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer sb.close()
			if got := sb.hs.SearchLag(); got != tc.lag {
				t.Errorf("the sandbox's search lag is %s, want %s", got, tc.lag)
			}
			if hcfg.PollSettle != tc.settle {
				t.Errorf("poll_settle %s, want %s", hcfg.PollSettle, tc.settle)
			}
			if !strings.Contains(out.String(), "search lags writes by "+tc.lag.String()) {
				t.Errorf("startup text:\n%s", out.String())
			}
		})
	}
}

// crm.sandbox.faults switches faults on in the embedded sandbox once it is
// set up (setup itself never faults), seeded with crm.sandbox.faults_seed,
// and the startup text says them and the seed.
func TestSandboxFaults(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte("crm: {kind: sandbox, sandbox: {addr: \"127.0.0.1:0\", faults: \"1,5xx_before=1\", faults_seed: 9}}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sb, hcfg, err := startSandbox(context.Background(), cfg, "http://127.0.0.1:9", slog.New(slog.DiscardHandler), time.Now, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.close()
	if sb.hs.Injector() != nil {
		t.Fatal("faults on before setup")
	}
	hcfg.MaxRetries = 0
	c, err := hubspot.New(hcfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sb.setup(ctx, c, &out); err != nil {
		t.Fatal(err)
	}
	in := sb.hs.Injector()
	if in == nil || in.Seed() != 9 || in.Spec().String() != "1,5xx_before=1" {
		t.Fatalf("after setup the injector is %+v", in)
	}
	for _, want := range []string{
		`sandbox CRM: faults 100% of requests: 5xx_before 100% (crm.sandbox.faults "1,5xx_before=1") once set up; seed 9 (crm.sandbox.faults_seed: 9 draws them again)`,
		"sandbox CRM: faults on",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("startup text lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := c.Setup(ctx, io.Discard); err == nil || in.Total() == 0 {
		t.Errorf("a call after setup: %v, %s", err, in.Summary())
	}
}

// /sandbox/outbox lists the e-mails the sandbox wrote instead of sending
// them, newest first, and shows one: everything HTML-escaped, links to
// this site (a confirmation link) clickable, any other link plain text;
// only outbox files can be named.
func TestSandboxOutboxPages(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	ob, err := regmail.NewOutbox(dir, "Partner program <partners@vendor.example>", regmail.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	send := func(subject, text string) {
		t.Helper()
		if err := ob.Send(context.Background(), &regmail.Message{To: []mail.Address{{Address: "sam@northwind.example"}}, Subject: subject, Text: text}); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Minute)
	}
	send("First", "hello")
	send(`Confirm your registration: <script>alert(1)</script>`, "Open http://127.0.0.1:9/register/confirm/abc_DEF-1 to confirm.\n"+
		"Not this one: https://evil.example/phish <b>bold</b>")
	h := sandboxOutbox{dir: dir, public: "http://127.0.0.1:9"}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	code, page := get(sandboxOutboxPath)
	if code != 200 || strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		strings.Index(page, "Confirm your registration") > strings.Index(page, "First") {
		t.Fatalf("list: %d\n%s", code, page)
	}
	m := regexp.MustCompile(`href="(/sandbox/outbox/[^"]+\.eml)"`).FindAllStringSubmatch(page, -1)
	if len(m) != 2 {
		t.Fatalf("links in the list: %v", m)
	}
	code, page = get(m[0][1])
	if code != 200 || !strings.Contains(page, `<a href="http://127.0.0.1:9/register/confirm/abc_DEF-1">http://127.0.0.1:9/register/confirm/abc_DEF-1</a>`) ||
		strings.Contains(page, `href="https://evil.example`) || !strings.Contains(page, "&lt;b&gt;bold&lt;/b&gt;") ||
		!strings.Contains(page, "sam@northwind.example") || strings.Contains(page, "<script>") {
		t.Errorf("message: %d\n%s", code, page)
	}
	for _, bad := range []string{"/sandbox/outbox/../outbox.eml", "/sandbox/outbox/.tmp-1.eml", "/sandbox/outbox/nope.eml", "/sandbox/outbox/x.txt"} {
		if code, _ := get(bad); code != 404 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}
