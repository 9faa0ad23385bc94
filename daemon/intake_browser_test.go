package daemon

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The web form and the status page in a real browser: headless Chromium
// driven over the DevTools protocol (chromedp). The tests skip, saying
// why, where no Chromium is installed (REGSYNC_CHROMIUM names a binary;
// otherwise chromium, chromium-browser or google-chrome on the PATH, or
// /usr/bin/chromium). Every step is bounded.

func intakeChromium() string {
	if p := os.Getenv("REGSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// intakeBrowser starts a headless Chromium with a fresh profile and no
// network beyond what the page asks for, it lives until
// the test ends, a minute and a half at most.
func intakeBrowser(t *testing.T) context.Context {
	t.Helper()
	path := intakeChromium()
	if path == "" {
		t.Skip("no Chromium: install it (Debian: apt-get install -y chromium) or set REGSYNC_CHROMIUM to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return bctx
}

// bdo runs browser steps, 20 s at most.
func bdo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// bget runs one browser action that returns a value, 20 s at most.
func bget[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

type css = chromedp.CSS

// Fill in the form on a phone-sized screen, submit, be told to check the
// e-mail; open the link from it, confirm, see the case number; open the
// status link from the confirmation page. The same browser registers its
// next prospect at once: it confirmed the address.
func TestBrowserWebForm(t *testing.T) {
	ctx := intakeBrowser(t)
	r := startRig(t, rigOpts{})
	bdo(t, ctx, "open the form", chromedp.EmulateViewport(390, 844), chromedp.Navigate(r.base+"/register"), chromedp.WaitVisible(css("#f-company_name")))
	if title := bget(t, ctx, "title", chromedp.Title()); !strings.Contains(title, "Register a prospect") {
		t.Errorf("title %q", title)
	}
	// Submitting it empty: the server's own check answers (the form has
	// novalidate), with an error summary.
	if w := bget(t, ctx, "width", chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > 390 {
		t.Errorf("the form is %dpx wide on a 390px screen", w)
	}
	bdo(t, ctx, "submit empty", chromedp.Click(css("button[type=submit]")), chromedp.WaitVisible(css(".summary")))
	if summary := bget(t, ctx, "summary", chromedp.Text(css(".summary"))); !strings.Contains(summary, "enter company name") ||
		!strings.Contains(summary, "confirm that the prospect agreed") {
		t.Errorf("error summary %q", summary)
	}
	before := r.records()
	bdo(t, ctx, "fill in and submit",
		chromedp.SendKeys(css("#f-company_name"), "Pied Piper"),
		chromedp.SendKeys(css("#f-company_domain"), "piedpiper.example"),
		chromedp.SendKeys(css("#f-contact_name"), "Richard Hendricks"),
		chromedp.SendKeys(css("#f-contact_email"), "richard@piedpiper.example"),
		chromedp.SendKeys(css("#f-problem"), "Compression at scale without the cloud bill."),
		chromedp.SendKeys(css("#f-partner_email"), "sam@northwind.example"),
		chromedp.Click(css("#f-consent")),
		chromedp.Click(css("button[type=submit]")),
		chromedp.WaitVisible(css(".card[role=status]")))
	if h := bget(t, ctx, "heading", chromedp.Text(css("h1"))); h != "Check your e-mail" {
		t.Errorf("after submitting: %q", h)
	}
	if card := bget(t, ctx, "card", chromedp.Text(css(".card"))); !strings.Contains(card, "we sent a link to sam@northwind.example; your registration of Pied Piper counts from when you open it") {
		t.Errorf("check-your-e-mail page: %q", card)
	}
	if r.records() != before {
		t.Fatal("registered before the address was confirmed")
	}
	link := r.confirmLink("sam@northwind.example", "Pied Piper")
	bdo(t, ctx, "open the link from the e-mail", chromedp.Navigate(r.base+link), chromedp.WaitVisible(css("button[type=submit]")))
	if dl := bget(t, ctx, "what waits", chromedp.Text(css(".card"))); !strings.Contains(dl, "Pied Piper") || r.records() != before {
		t.Errorf("confirm page %q, %d registrations", dl, r.records()-before)
	}
	bdo(t, ctx, "confirm", chromedp.Click(css("button[type=submit]")), chromedp.WaitVisible(css(".case")))
	caseNumber := bget(t, ctx, "case number", chromedp.Text(css(".case")))
	badge := bget(t, ctx, "badge", chromedp.Text(css(".badge")))
	statusLink := bget(t, ctx, "status link", chromedp.AttributeValue(css(`a[href*="/r/"]`), "href")).Value
	rec := r.byCase(caseNumber)
	if rec == nil || rec["source"] != "webform" || rec["company_name"] != "Pied Piper" || rec["partner_id"] != "northwind" {
		t.Fatalf("case %q: record %v", caseNumber, rec)
	}
	if !strings.EqualFold(badge, "pending") || !strings.HasPrefix(statusLink, r.base+"/r/") {
		t.Errorf("badge %q link %q", badge, statusLink)
	}
	bdo(t, ctx, "open the status link", chromedp.Navigate(statusLink), chromedp.WaitVisible(css("h1 .case")))
	heading := bget(t, ctx, "heading", chromedp.Text(css("h1")))
	status := bget(t, ctx, "status", chromedp.Text(css(".card h2")))
	if !strings.Contains(heading, caseNumber) || !strings.EqualFold(status, "In review") {
		t.Errorf("status page: %q / %q", heading, status)
	}
	// Both pages fit a phone: nothing wider than its screen.
	if w := bget(t, ctx, "width", chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > 390 {
		t.Errorf("the status page is %dpx wide on a 390px screen", w)
	}
	// The next prospect from this browser: the address is filled in and
	// the registration counts at once.
	bdo(t, ctx, "register another", chromedp.Navigate(r.base+"/register"), chromedp.WaitVisible(css("#f-company_name")))
	if v := bget(t, ctx, "remembered address", chromedp.Value(css("#f-partner_email"))); v != "sam@northwind.example" {
		t.Errorf("partner e-mail on the form: %q", v)
	}
	bdo(t, ctx, "fill in and submit the second",
		chromedp.SendKeys(css("#f-company_name"), "Hooli XYZ"),
		chromedp.SendKeys(css("#f-company_domain"), "hoolixyz.example"),
		chromedp.SendKeys(css("#f-contact_name"), "Gavin Belson"),
		chromedp.SendKeys(css("#f-contact_email"), "gavin@hoolixyz.example"),
		chromedp.SendKeys(css("#f-problem"), "Needs a box."),
		chromedp.Click(css("#f-consent")),
		chromedp.Click(css("button[type=submit]")),
		chromedp.WaitVisible(css(".case")))
	if second := bget(t, ctx, "second case", chromedp.Text(css(".case"))); r.byCase(second) == nil || second == caseNumber {
		t.Errorf("second registration %q not in the CRM", second)
	}
}

// Open the status link of a needs-info registration and supply the missing
// fields: the registration is decided again and the page says so.
func TestBrowserStatusPageSupply(t *testing.T) {
	ctx := intakeBrowser(t)
	r := startRig(t, rigOpts{})
	cn, link, _ := r.registerByEmail("browser-1", "Company: Aviato\nWebsite: aviato.example\nContact: Erlich Bachman\nCountry: US\nConsent: yes")
	bdo(t, ctx, "open the status link", chromedp.Navigate(r.base+link), chromedp.WaitVisible(css("#f-contact_email")))
	if badge := bget(t, ctx, "badge", chromedp.Text(css(".badge"))); !strings.EqualFold(badge, "needs info") {
		t.Errorf("badge %q", badge)
	}
	bdo(t, ctx, "supply the missing fields",
		chromedp.SendKeys(css("#f-contact_email"), "erlich@aviato.example"),
		chromedp.SendKeys(css("#f-problem"), "Their app needs a backend."),
		chromedp.Submit(css("#f-problem")),
		chromedp.WaitVisible(css(".notice")))
	notice := bget(t, ctx, "notice", chromedp.Text(css(".notice")))
	status := bget(t, ctx, "status", chromedp.Text(css(".card h2")))
	rec := r.byCase(cn)
	if rec["contact_email"] != "erlich@aviato.example" || rec["status"] != "approved" {
		t.Errorf("record after supplying: %v", rec)
	}
	if !strings.EqualFold(status, "Approved") || notice == "" {
		t.Errorf("page after supplying: %q / %q", status, notice)
	}
}
