package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/regsync/regsync/report/reporttest"
)

// chromium finds a Chromium binary: $REGSYNC_CHROMIUM, else the usual
// names on PATH.
func chromium() string {
	if p := os.Getenv("REGSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts a headless Chromium with a fresh profile and no network
// of its own, closed by t.Cleanup and bounded by a watchdog.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium binary: install it (apt-get install -y chromium) or set REGSYNC_CHROMIUM")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(alloc)
	watchdog := time.AfterFunc(2*time.Minute, cancel) // nothing here takes that long
	t.Cleanup(func() {
		watchdog.Stop()
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx
}

// console collects what the page writes to the console and the browser log.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *console {
	c := &console{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *console) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			out = append(out, m.String())
		}
	}
	return out
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDashboardInChromium loads the dashboard of a daemon whose CRM holds
// the report fixture in headless Chromium, on a laptop and on a phone: it
// loads without a console error or warning (the page's Content-Security-
// Policy forbids scripts and outside resources, so a violation would show
// here), shows the fixture's queue oldest first with the overdue rows in
// red, the decisions chart with its bars and the rates, and fits a phone's
// width. With REGSYNC_UPDATE_SCREENSHOT=1 it writes docs/dashboard.png.
func TestDashboardInChromium(t *testing.T) {
	ctx := browser(t)
	h := seedFixture(t)
	url := h.d.public + "/dashboard"
	con := watchConsole(ctx)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + dashToken}}); err != nil {
		t.Fatal(err)
	}

	// A laptop.
	run(t, ctx, chromedp.Steps(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#queue table"))))
	if title := run(t, ctx, chromedp.Title()); title != "Partner program · dashboard" {
		t.Errorf("title %q", title)
	}
	cases := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#queue tbody tr')).map(r => r.cells[0].textContent)`))
	var want []string
	for _, id := range []string{"18", "7", "10", "11", "9", "8"} {
		want = append(want, reporttest.CaseNumber(id))
	}
	if !slices.Equal(cases, want) {
		t.Errorf("queue %v, want %v (oldest first)", cases, want)
	}
	overdue := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#queue tbody tr.overdue')).map(r => r.cells[0].textContent)`))
	if len(overdue) != 4 || slices.Contains(overdue, reporttest.CaseNumber("8")) {
		t.Errorf("overdue rows %v, want R-18, R-7, R-10, R-9", overdue)
	}
	if red := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#queue tr.overdue td.left')).color`)); red != "rgb(198, 40, 40)" {
		t.Errorf("an overdue row's SLA cell is %s, not red", red)
	}
	bars := run(t, ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#decisions svg.wide rect')).filter(r => r.getBoundingClientRect().height > 0).length`))
	if bars < 4 {
		t.Errorf("the decisions chart shows %d bars", bars)
	}
	rings := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#rates .rate .t')).map(e => e.textContent)`))
	if !slices.Equal(rings, []string{"Meeting rate", "Win rate", "Approval rate"}) {
		t.Errorf("rates %v", rings)
	}
	expiring := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#expiring tbody tr')).map(r => r.cells[0].textContent)`))
	if !slices.Equal(expiring, []string{reporttest.CaseNumber("1"), reporttest.CaseNumber("15")}) {
		t.Errorf("expiring windows %v, want R-1 then R-15", expiring)
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	if len(png) < 10000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot of %d bytes", len(png))
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("REGSYNC_UPDATE_SCREENSHOT") == "1" {
		out = filepath.Join("..", "docs", "dashboard.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	// A phone: the compact chart replaces the wide one and nothing is
	// wider than the screen (tables scroll inside their sections).
	run(t, ctx, chromedp.Steps(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#queue table"))))
	shown := run(t, ctx, chromedp.Evaluate[[]string](`['wide','narrow'].map(c => getComputedStyle(document.querySelector('#decisions svg.'+c)).display)`))
	if !slices.Equal(shown, []string{"none", "block"}) {
		t.Errorf("on a phone the charts display %v, want the narrow one only", shown)
	}
	if w := run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("the page is %d px wide on a 390 px phone", w)
	}

	time.Sleep(200 * time.Millisecond) // let the last log entries arrive
	if p := con.problems(); len(p) > 0 {
		t.Errorf("console errors or warnings:\n%s", strings.Join(p, "\n"))
	}
	// The watch itself works: an error written now is seen.
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`console.error("probe of the console watch")`))
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(con.problems(), func(s string) bool { return strings.Contains(s, "probe of the console watch") }) {
		if time.Now().After(deadline) {
			t.Fatal("the console watch missed an error: the check above proves nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
