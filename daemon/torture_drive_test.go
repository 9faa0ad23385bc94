package daemon

// The torture test's driver: the built binary as a subprocess (started,
// killed with SIGKILL, restarted, stopped with SIGTERM), registrations sent
// along every path at their planned instants, AEs acting in the fake CRM,
// and a sampler that checks every snapshot of the CRM while it all runs.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/webform"
	"github.com/regsync/regsync/internal/crmfault"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

const (
	tortureAdminToken = "torture-admin-token-0123456789abc"
	tortureEmailToken = "torture-inbound-mail-token"
	tortureNonceKey   = "torture-webform-nonce-key-0123456789"
	tortureLinkKey    = "torture-webform-link-key-0123456789"
	tortureStatusKey  = "torture-status-page-key-0123456789"
)

// tortureLister lists every registration in a fake at one instant, in
// canonical form with its "id": the sampler's view of the CRM.
type tortureLister interface {
	allRegistrations() []map[string]string
}

func (f *hubspotFake) allRegistrations() []map[string]string {
	recs := f.hs.Records(f.typeID)
	out := make([]map[string]string, 0, len(recs))
	for _, r := range recs {
		m := canonical(func(name string) (string, bool) { v, ok := r.Properties[name]; return v, ok })
		m["id"] = r.ID
		out = append(out, m)
	}
	return out
}

func (f *salesforceFake) allRegistrations() []map[string]string {
	recs := f.sf.Records(salesforcetest.RegistrationObject)
	out := make([]map[string]string, 0, len(recs))
	for _, vals := range recs {
		m := canonical(func(name string) (string, bool) {
			switch v := vals[salesforce.DefaultFieldName(name)].(type) {
			case string:
				return v, true
			case bool:
				return strconv.FormatBool(v), true
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64), true
			case time.Time:
				return v.UTC().Format(time.RFC3339Nano), true
			}
			return "", false
		})
		m["id"], _ = vals["Id"].(string)
		out = append(out, m)
	}
	return out
}

// canonical reads a record's fields by canonical name, times as RFC 3339.
func canonical(get func(name string) (string, bool)) map[string]string {
	var rec registration.Record
	out := map[string]string{}
	for _, fl := range registration.Fields() {
		if fl.Name == "id" {
			continue
		}
		v, ok := get(fl.Name)
		if !ok || v == "" {
			continue
		}
		if err := fl.Set(&rec, v); err != nil {
			out[fl.Name] = v
			continue
		}
		out[fl.Name] = fl.Get(&rec)
	}
	return out
}

// view turns a canonical record into the checker's view, with what the
// generator planned for it.
func (tr *tortureRun) view(m map[string]string) regView {
	t := func(name string) time.Time {
		v, _ := time.Parse(time.RFC3339Nano, m[name])
		return v
	}
	v := regView{ID: m["id"], Case: m["case_number"], Partner: m["partner_id"], Status: m["status"], Reason: m["status_reason"],
		Message: m["status_message"], ConflictWith: m["conflict_with"], Segment: m["segment"], Domain: tortureDomainKey(m["company_domain"]),
		SubmittedAt: t("submitted_at"), HoldUntil: t("hold_until"), Gen: genIndex(m["problem"])}
	v.Seq, _ = strconv.ParseFloat(m["submission_seq"], 64)
	if v.Gen >= 0 && v.Gen < len(tr.plan.regs) {
		g := &tr.plan.regs[v.Gen]
		v.Path, v.Kind = g.path, g.kind
	}
	return v
}

// daemonProc is the built binary running as a subprocess.
type daemonProc struct {
	bin, cfg string
	log      *os.File
	cmd      *exec.Cmd
	starts   int
	mu       sync.Mutex
	kills    []time.Time // when each SIGKILL was sent
}

func (p *daemonProc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, "serve", "--config", p.cfg, "--log-format", "json", "--log-level", "debug")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.starts++
}

func (p *daemonProc) kill() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	p.mu.Lock()
	p.kills = append(p.kills, time.Now())
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
}

// killedBetween reports whether a SIGKILL was sent between a and b.
func (p *daemonProc) killedBetween(a, b time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.kills {
		if !k.Before(a) && !k.After(b) {
			return true
		}
	}
	return false
}

// stop ends the daemon with SIGTERM and waits for a clean exit.
func (p *daemonProc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(45 * time.Second):
		p.kill()
		return errors.New("did not stop within 45s of SIGTERM")
	}
}

// aeDone is an AE's action as the driver made it.
type aeDone struct {
	at       time.Time
	action   string
	id, cn   string
	from, to string
}

// tortureRun is one run: a fake CRM, a daemon subprocess and a plan.
type tortureRun struct {
	t       *testing.T
	seed    uint64
	name    string
	plan    tPlan
	crm     fakeCRM
	list    tortureLister
	dir     string
	cfgPath string
	base    string // the public listener
	// adminBase is the admin API's listener (admin.addr).
	adminBase string
	proc      *daemonProc
	client    *http.Client
	aeRand    *rand.Rand // the AEs' choices among the records they find
	started   time.Time

	mu        sync.Mutex
	aeLog     []aeDone
	aeGranted map[string]time.Time // record id → when an AE approved it
	aeEnded   map[string]time.Time // record id → when an AE declined it
	aeTouched map[string]bool      // domains on which an AE approved or declined by hand
	sent      map[int]string       // generator number → case number the channel answered ("" for the CRM path)
	rejected  map[int]string       // generator number → why a channel refused it
	errs      []string             // what went wrong in the driver
	imported  map[string]importRow // case number → the import's result row

	faults *crmfault.Injector // nil: no faults

	sampled   int
	sampleVio map[string]violation
	sampleCnt map[string]int

	formLinked, formConfirmed int // web-form registrations answered through a personal link, after a confirmation
}

type importRow struct{ status, reason string }

// tortureConfig is the daemon's (and the import's) configuration.
func (tr *tortureRun) tortureConfig(port, adminPort int, o harnessOpts) string {
	p := tr.plan.params
	crmYAML := tr.crm.ConfigYAML(o)
	sweep := "@every 2s"
	if p.faults != "" {
		sweep = "@every 15s" // the daemon must converge without leaning on the sweep
	}
	if p.searchPerSec > 0 { // the hubspot: section ends the CRM's YAML
		crmYAML += fmt.Sprintf("\n  per_10s: 1000\n  search_per_second: %d", p.searchPerSec)
	}
	return fmt.Sprintf(`
server: {addr: "127.0.0.1:%d", shutdown_timeout: 20s}
state: {path: %q}
crm: {kind: %s}
%s
admin: {token: %s, addr: "127.0.0.1:%d"}
schedule: {sweep: %q, reconcile: "off", summaries: "off"}
worker: {batch_size: %d, concurrency: %d, recheck_after: 1s}
notify: {enabled: true, outbox: %q}
intake:
  status_page: {key: %q}
  email: {enabled: true, token: %q, address: partners@vendor.example}
  webform: {enabled: true, nonce_key: %q, link_key: %q, rate_limit: {per_hour: 0, per_address_per_hour: 0, per_partner_per_hour: 0}}
%s`, port, filepath.Join(tr.dir, "regsync.db"), tr.crm.Kind(), crmYAML, tortureAdminToken, adminPort, sweep,
		p.batchSize, p.concurrency, filepath.Join(tr.dir, "outbox"), tortureStatusKey, tortureEmailToken, tortureNonceKey,
		tortureLinkKey, torturePolicyYAML(p.policy))
}

// startTortureRun starts the fake CRM and the daemon of a run.
func startTortureRun(t *testing.T, c crm, bin string, seed uint64, name string, plan tPlan) *tortureRun {
	p := plan.params
	o := harnessOpts{webhooks: p.webhooks, realClock: true, pollInterval: time.Second, perTen: -1, searchPerSec: -1,
		searchLag: p.searchLag, pollSettle: p.pollSettle}
	f := c.start(t, o)
	t.Cleanup(f.Close)
	tr := &tortureRun{t: t, seed: seed, name: name, plan: plan, crm: f, list: f.(tortureLister), dir: t.TempDir(),
		client: &http.Client{Timeout: 20 * time.Second}, aeRand: rand.New(rand.NewPCG(seed, 7)),
		aeGranted: map[string]time.Time{}, aeEnded: map[string]time.Time{}, aeTouched: map[string]bool{}, sent: map[int]string{}, rejected: map[int]string{},
		imported: map[string]importRow{}, sampleVio: map[string]violation{}, sampleCnt: map[string]int{}}
	ports := freePorts(t, 2) // fixed: the daemon restarts on them after each kill
	port, adminPort := ports[0], ports[1]
	tr.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	tr.adminBase = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	tr.cfgPath = filepath.Join(tr.dir, "regsync.yaml")
	if err := os.WriteFile(tr.cfgPath, []byte(tr.tortureConfig(port, adminPort, o)), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(tr.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	f.Subscribe(t, tr.base)
	f.Push(p.webhooks)
	tr.proc = &daemonProc{bin: bin, cfg: tr.cfgPath, log: logFile}
	t.Cleanup(func() {
		tr.proc.kill()
		if t.Failed() {
			tr.dumpLog()
		}
	})
	if p.faults != "" {
		// Faults begin once the fake is set up: they are on the daemon's
		// way to the CRM only (the driver and the AEs use the fake's Go
		// API). Latency up to 1.5 s, so a run stays short.
		spec, err := crmfault.Parse(p.faults)
		if err != nil {
			t.Fatal(err)
		}
		tr.faults = crmfault.New(spec, seed^0x5eed, crmfault.Options{MaxLatency: 1500 * time.Millisecond})
		switch ff := f.(type) {
		case *hubspotFake:
			ff.hs.SetInjector(tr.faults)
		case *salesforceFake:
			ff.sf.SetInjector(tr.faults)
		}
	}
	tr.proc.start(t)
	if err := tr.waitUp(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	return tr
}

// writes is the number of requests that may have changed the fake (what
// is not a read), for a kill right after one.
func (tr *tortureRun) writes() int {
	var calls map[string]int
	switch ff := tr.crm.(type) {
	case *hubspotFake:
		calls = ff.hs.Calls()
	case *salesforceFake:
		calls = ff.sf.Calls()
	}
	n := 0
	for k, v := range calls {
		if strings.HasPrefix(k, "GET ") || strings.Contains(k, "search") || strings.Contains(k, "batch/read") || strings.Contains(k, "query") {
			continue
		}
		n += v
	}
	return n
}

// killAfterWrite kills the daemon the moment a write reaches the CRM (or
// after two seconds without one), and starts it again.
func (tr *tortureRun) killAfterWrite() {
	before := tr.writes()
	for deadline := time.Now().Add(2 * time.Second); tr.writes() == before && time.Now().Before(deadline); {
		time.Sleep(500 * time.Microsecond)
	}
	tr.killAndRestart()
}

func (tr *tortureRun) dumpLog() {
	b, err := os.ReadFile(tr.proc.log.Name())
	if err != nil || len(b) == 0 {
		return
	}
	if p := os.Getenv("REGSYNC_TEST_LOGS"); p != "" {
		_ = os.WriteFile(p, b, 0o600)
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	tr.t.Logf("daemon log (tail):\n%s", b)
}

// waitUp waits until the daemon answers /healthz.
func (tr *tortureRun) waitUp(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := tr.client.Get(tr.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon did not answer /healthz within %s: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tr *tortureRun) fail(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
}

// event is one planned action at its instant.
type event struct {
	at time.Duration
	do func()
}

// drive runs the plan: every event at its instant, the sampler meanwhile.
// It returns when every submission has been answered.
func (tr *tortureRun) drive() {
	t := tr.t
	var evs []event
	var wg sync.WaitGroup
	async := func(f func()) func() {
		return func() { wg.Add(1); go func() { defer wg.Done(); f() }() }
	}
	for i := range tr.plan.regs {
		r := &tr.plan.regs[i]
		switch r.path {
		case pathCRM:
			evs = append(evs, event{r.at, func() { tr.registerInCRM(r) }})
		case pathWebForm:
			evs = append(evs, event{r.at, async(func() { tr.submitWebForm(r) })})
		case pathEmail:
			evs = append(evs, event{r.at, async(func() { tr.submitEmail(r) })})
		}
	}
	for i, im := range tr.plan.imports {
		evs = append(evs, event{im.at, async(func() { tr.runImport(i, im) })})
	}
	for _, a := range tr.plan.aes {
		evs = append(evs, event{a.at, func() { tr.actAsAE(a.action) }})
	}
	for i, k := range tr.plan.kills {
		kill := tr.killAndRestart
		if tr.faults != nil && i%2 == 1 {
			kill = tr.killAfterWrite
		}
		evs = append(evs, event{k, kill})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })

	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { defer close(sampled); tr.sample(stop) }()
	tr.started = time.Now()
	for _, e := range evs {
		if d := time.Until(tr.started.Add(e.at)); d > 0 {
			time.Sleep(d)
		}
		e.do()
	}
	dispatched := time.Since(tr.started)
	wg.Wait()
	answered := time.Since(tr.started)
	tr.settle()
	t.Logf("%d events sent in %s, answered by %s, settled by %s (%d daemon starts; web form: %d through personal links, %d confirmed by e-mail)",
		len(evs), dispatched.Round(time.Millisecond), answered.Round(time.Millisecond), time.Since(tr.started).Round(time.Millisecond), tr.proc.starts,
		tr.formLinked, tr.formConfirmed)
	close(stop)
	<-sampled
}

// killAndRestart kills the daemon with SIGKILL and starts it again.
func (tr *tortureRun) killAndRestart() {
	tr.proc.kill()
	time.Sleep(time.Duration(tr.aeRand.IntN(300)) * time.Millisecond)
	tr.proc.start(tr.t)
}

// registerInCRM creates the registration in the fake as a HubSpot form or
// an AE would: status submitted, no case number, no submitted_at.
func (tr *tortureRun) registerInCRM(r *tReg) {
	f := r.fields(tr.plan.companies)
	f["status"] = "submitted"
	tr.crm.Register(tr.t, f)
	tr.mu.Lock()
	tr.sent[r.n] = ""
	tr.mu.Unlock()
}

// patience is how long a partner keeps trying: a minute, and four when
// the CRM is faulty — under 20 % faults HubSpot's client pauses for every
// 429 (the whole client, as it must), so a channel's answer or an import
// beside the daemon can take minutes; what the test proves is that it
// arrives, once.
func (tr *tortureRun) patience() time.Duration {
	if tr.faults != nil {
		return 4 * time.Minute
	}
	return time.Minute
}

// retry calls f until it reports done, or gives up after patience: the
// daemon may be down (killed) when a partner sends.
func (tr *tortureRun) retry(r *tReg, f func() (done bool, err error)) {
	start := time.Now()
	deadline := start.Add(tr.patience())
	var last error
	for tries := 1; ; tries++ {
		done, err := f()
		if done {
			if took := time.Since(start); took > 5*time.Second {
				tr.t.Logf("g%d (%s): answered after %s and %d tries (last error: %v)", r.n, r.path, took.Round(time.Millisecond), tries, last)
			}
			return
		}
		last = err
		if time.Now().After(deadline) {
			tr.fail("g%d (%s): gave up after %s: %v", r.n, r.path, tr.patience(), err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answered records the case number a channel answered with.
func (tr *tortureRun) answered(r *tReg, cn string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.sent[r.n] = cn
}

func (tr *tortureRun) refused(r *tReg, why string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.rejected[r.n] = why
}

// submitWebForm fills the web form as a partner would: GET the page for
// its nonce, POST it from the page's origin; a retry after a kill sends
// the same nonce (the submission key), so it registers once. Even-numbered
// registrations come through the partner's personal link and count when
// posted; odd-numbered ones type the partner's address, are held, and are
// confirmed through the link e-mailed to it (read from the outbox), so
// their place in line starts at the confirmation — across kills too: the
// hold is in the state file.
func (tr *tortureRun) submitWebForm(r *tReg) {
	var nonce, confirm string
	byMail := r.n%2 == 1
	tr.retry(r, func() (bool, error) {
		if nonce == "" {
			resp, err := tr.client.Get(tr.base + "/register")
			if err != nil {
				return false, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := reNonce.FindStringSubmatch(string(b))
			if m == nil {
				return false, fmt.Errorf("GET /register: %d without a nonce", resp.StatusCode)
			}
			nonce = m[1]
		}
		path, form := "/register", url.Values{}
		if confirm != "" {
			path = confirm // the hold's link: confirm it
		} else {
			c := tr.plan.companies[r.company]
			form = url.Values{"nonce": {nonce}, "company_name": {c.name}, "company_domain": {r.host}, "contact_name": {"Dana Torres"},
				"contact_email": {fmt.Sprintf("dana.g%d@%s", r.n, c.domain)}, "contact_role": {"COO"}, "problem": {r.problem()},
				"partner_email": {"rep@" + r.partner.domain}, "consent": {"yes"}}
			if !byMail {
				form.Set(webform.LinkParam, tr.personalLink(r.partner))
			}
		}
		req, _ := http.NewRequest("POST", tr.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tr.base)
		resp, err := tr.client.Do(req)
		if err != nil {
			return false, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch m := reCase.FindStringSubmatch(string(b)); {
		case resp.StatusCode == 200 && m != nil:
			tr.answered(r, m[1])
			tr.mu.Lock()
			if byMail {
				tr.formConfirmed++
			} else {
				tr.formLinked++
			}
			tr.mu.Unlock()
			return true, nil
		case resp.StatusCode == http.StatusAccepted && byMail && confirm == "":
			if confirm, err = tr.confirmationLink(nonce); err != nil {
				return false, err
			}
			return false, nil
		case resp.StatusCode >= 500:
			return false, fmt.Errorf("POST %s: %d", path, resp.StatusCode)
		default:
			tr.fail("g%d: the web form answered %d to POST %s:\n%.600s", r.n, resp.StatusCode, path, b)
			return true, nil
		}
	})
}

// personalLink is the token of a partner's personal web-form link (as
// regsync partner-link makes it, with the run's link key).
func (tr *tortureRun) personalLink(p tPartner) string {
	var ps []rules.Partner
	for _, tp := range torturePartners {
		ps = append(ps, rules.Partner{ID: tp.id, Name: tp.name, EmailDomains: []string{tp.domain}})
	}
	link, _, err := webform.PartnerLink(secret.New(tortureLinkKey), tr.base, intake.NewDirectory(ps), p.id, "rep@"+p.domain, time.Now(), time.Hour)
	if err != nil {
		tr.fail("personal link of %s: %v", p.id, err)
		return ""
	}
	u, _ := url.Parse(link)
	return u.Query().Get(webform.LinkParam)
}

var reTortureConfirm = regexp.MustCompile(`/register/confirm/([A-Za-z0-9_-]{54})`)

// confirmationLink finds, in the outbox, the latest confirmation link of
// the form served with nonce: a link's token starts with the hold's id,
// which is the nonce's.
func (tr *tortureRun) confirmationLink(nonce string) (string, error) {
	nb, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(nb) < 16 {
		return "", fmt.Errorf("nonce %q", nonce)
	}
	dir := filepath.Join(tr.dir, "outbox")
	des, _ := os.ReadDir(dir)
	ob := regmail.OutboxViewer{Dir: dir}
	for i := len(des) - 1; i >= 0; i-- { // names start with the instant: newest first
		if !regmail.IsOutboxFile(des[i].Name()) {
			continue
		}
		env, _, err := ob.Read(des[i].Name())
		if err != nil || !strings.HasPrefix(env.GetHeader("Subject"), "Confirm your registration") {
			continue
		}
		if m := reTortureConfirm.FindStringSubmatch(env.Text); m != nil {
			if tb, err := base64.RawURLEncoding.DecodeString(m[1]); err == nil && bytes.Equal(tb[:16], nb[:16]) {
				return m[0], nil
			}
		}
	}
	return "", fmt.Errorf("no confirmation link in %s for the form", dir)
}

// submitEmail posts the partner's e-mail to the inbound endpoint as an
// inbound-mail service does, retrying the same message (its Message-ID
// is the submission key).
func (tr *tortureRun) submitEmail(r *tReg) {
	c := tr.plan.companies[r.company]
	var body strings.Builder
	fmt.Fprintf(&body, "Company: %s\nWebsite: %s\nContact: Dana Torres\n", c.name, r.host)
	if r.kind != kindMissing {
		fmt.Fprintf(&body, "Email: dana.g%d@%s\n", r.n, c.domain)
	}
	fmt.Fprintf(&body, "Problem: %s\nCountry: %s\n", r.problem(), r.country)
	if r.segment != "" {
		fmt.Fprintf(&body, "Segment: %s\n", r.segment)
	}
	body.WriteString("Consent: yes\n\nRegards,\nRep\n")
	raw := crlf(fmt.Sprintf(`
From: Rep <rep@%s>
To: partners@vendor.example
Subject: New registration: %s
Message-ID: <torture-%d-g%d@%s>
Date: %s
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

%s`, r.partner.domain, c.name, tr.seed, r.n, r.partner.domain, time.Now().UTC().Format(time.RFC1123Z), body.String()))
	tr.retry(r, func() (bool, error) {
		req, _ := http.NewRequest("POST", tr.base+"/intake/email", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+tortureEmailToken)
		resp, err := tr.client.Do(req)
		if err != nil {
			return false, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			CaseNumber string `json:"case_number"`
		}
		_ = json.Unmarshal(b, &out)
		switch {
		case resp.StatusCode == 200 && out.CaseNumber != "":
			tr.answered(r, out.CaseNumber)
			return true, nil
		case resp.StatusCode >= 500:
			return false, fmt.Errorf("POST /intake/email: %d %s", resp.StatusCode, b)
		case resp.StatusCode == 422:
			tr.refused(r, string(b))
			return true, nil
		default:
			tr.fail("g%d: the e-mail endpoint answered %d: %.400s", r.n, resp.StatusCode, b)
			return true, nil
		}
	})
}

// runImport writes a few rows to a CSV file and runs `regsync import` on
// it beside the daemon, with the daemon's configuration.
func (tr *tortureRun) runImport(k int, im tImport) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"Company", "Website", "Contact", "Email", "Problem", "Consent", "Country", "Segment", "Partner", "Partner email"})
	for _, i := range im.regs {
		f := tr.plan.regs[i].fields(tr.plan.companies)
		_ = w.Write([]string{f["company_name"], f["company_domain"], f["contact_name"], f["contact_email"], f["problem"], "yes",
			f["country"], f["segment"], f["partner_id"], f["partner_email"]})
	}
	w.Flush()
	in := filepath.Join(tr.dir, fmt.Sprintf("import-%d.csv", k))
	out := filepath.Join(tr.dir, fmt.Sprintf("import-%d-result.csv", k))
	if err := os.WriteFile(in, b.Bytes(), 0o600); err != nil {
		tr.fail("import %d: %v", k, err)
		return
	}
	first := &tr.plan.regs[im.regs[0]]
	tr.retry(first, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), tr.patience())
		defer cancel()
		cmd := exec.CommandContext(ctx, tr.proc.bin, "import", "--config", tr.cfgPath, in, "--out", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return false, fmt.Errorf("regsync import: %v: %s", err, stderr.Bytes())
		}
		res, err := os.ReadFile(out)
		if err != nil {
			return false, err
		}
		rows, err := csv.NewReader(bytes.NewReader(res)).ReadAll()
		if err != nil || len(rows) != len(im.regs)+1 {
			tr.fail("import %d: %d result rows for %d (%v):\n%s", k, len(rows)-1, len(im.regs), err, res)
			return true, nil
		}
		for j, row := range rows[1:] { // row,case_number,status,reason,message
			r := &tr.plan.regs[im.regs[j]]
			if row[2] == "rejected" {
				tr.refused(r, "import: "+row[3])
				continue
			}
			tr.answered(r, row[1])
			tr.mu.Lock()
			tr.imported[row[1]] = importRow{status: row[2], reason: row[3]}
			tr.mu.Unlock()
		}
		return true, nil
	})
}

// actAsAE does an AE's action on a registration the AE finds in the CRM
// in the right status, if any: approve one in review, decline an active
// one, log the first meeting of an approved one.
func (tr *tortureRun) actAsAE(action string) {
	var want []string
	switch action {
	case aeApprove:
		want = []string{"in_review"}
	case aeDecline:
		want = []string{"in_review", "needs_info", "approved"}
	case aeMeeting:
		want = []string{"approved"}
	}
	var cands []map[string]string
	for _, m := range tr.list.allRegistrations() {
		if m["case_number"] != "" && slices.Contains(want, m["status"]) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return idLess(cands[i]["id"], cands[j]["id"]) })
	m := cands[tr.aeRand.IntN(len(cands))]
	now := time.Now()
	done := aeDone{at: now, action: action, id: m["id"], cn: m["case_number"], from: m["status"]}
	fields := map[string]string{}
	switch action {
	case aeApprove:
		fields["status"], done.to = "approved", "approved"
	case aeDecline:
		fields["status"], done.to = "declined", "declined"
	case aeMeeting:
		fields["first_meeting_at"], done.to = now.UTC().Format(time.RFC3339), "approved (meeting logged)"
	}
	tr.mu.Lock()
	tr.aeLog = append(tr.aeLog, done)
	switch action {
	case aeApprove:
		tr.aeGranted[m["id"]] = now
		tr.aeTouched[tortureDomainKey(m["company_domain"])] = true
	case aeDecline:
		if _, ok := tr.aeEnded[m["id"]]; !ok {
			tr.aeEnded[m["id"]] = now
		}
		tr.aeTouched[tortureDomainKey(m["company_domain"])] = true
	}
	// A meeting logged is the AE's ordinary work and changes nobody's
	// claim under first_approved_wins or split_by_segment; under
	// first_meeting_wins it is what the race is decided by.
	tr.mu.Unlock()
	tr.crm.Update(tr.t, m["id"], fields)
}

// env is the checker's environment as the driver knows it now.
func (tr *tortureRun) env() *checkEnv {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	e := &checkEnv{policy: tr.plan.params.policy, partners: torturePartners, aeTouched: map[string]bool{},
		aeGranted: map[string]time.Time{}, aeEnded: map[string]time.Time{}, grace: 5 * time.Second}
	if tr.faults != nil {
		e.readLag = 5 * time.Second // a faulty CRM's facts reads: latency, retries
	}
	for k, v := range tr.aeEnded {
		e.aeEnded[k] = v
	}
	for k, v := range tr.aeTouched {
		e.aeTouched[k] = v
	}
	for k, v := range tr.aeGranted {
		e.aeGranted[k] = v
	}
	return e
}

// snapshot is every registration in the CRM now, as the checker sees it.
func (tr *tortureRun) snapshot() []regView {
	all := tr.list.allRegistrations()
	out := make([]regView, len(all))
	for i, m := range all {
		out[i] = tr.view(m)
	}
	return out
}

// sample checks a snapshot of the CRM every 100 ms until stop.
func (tr *tortureRun) sample(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		at := time.Now()
		recs := tr.snapshot()
		// After the snapshot: an AE's action is logged before it reaches
		// the CRM, so every one the snapshot shows is known.
		env := tr.env()
		vs := append(checkProtection(env, at, recs, "sample"), checkLosers(env, at, recs, "sample")...)
		tr.mu.Lock()
		tr.sampled++
		for _, v := range vs {
			k := v.key()
			if _, ok := tr.sampleVio[k]; !ok {
				tr.sampleVio[k] = v
			}
			tr.sampleCnt[k]++
		}
		tr.mu.Unlock()
	}
}

// settle waits until everything is decided and stays so: nothing left in
// the daemon's inbox, no registration submitted, the statuses unchanged
// across two sweeps.
func (tr *tortureRun) settle() {
	deadline := time.Now().Add(90*time.Second + time.Duration(len(tr.plan.regs))*30*time.Millisecond)
	prev, stable := "", 0
	for {
		if tr.faults == nil {
			tr.admin("POST", "/-/sweep")
		} // with faults: converged by the daemon alone (its own schedule)
		pending := tr.inboxPending()
		var b strings.Builder
		undecided := 0
		recs := tr.snapshot()
		sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
		for _, r := range recs {
			if r.Status == "" || r.Status == "submitted" {
				undecided++
			}
			fmt.Fprintf(&b, "%s=%s/%s;", r.ID, r.Status, r.Reason)
		}
		if pending == 0 && undecided == 0 && b.String() == prev {
			if stable++; stable >= 2 {
				return
			}
		} else {
			stable = 0
		}
		prev = b.String()
		if time.Now().After(deadline) {
			tr.fail("not settled at the deadline: %d inbox items pending, %d registrations undecided", pending, undecided)
			return
		}
		time.Sleep(700 * time.Millisecond)
	}
}

// admin calls an operator endpoint on the admin listener, ignoring
// failures (the caller looks at the outcome).
func (tr *tortureRun) admin(method, path string) []byte {
	req, _ := http.NewRequest(method, tr.adminBase+path, nil)
	req.Header.Set("Authorization", "Bearer "+tortureAdminToken)
	resp, err := tr.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// inboxPending is the daemon's inbox depth (-1 when it does not answer).
func (tr *tortureRun) inboxPending() int {
	var l struct {
		Stats struct {
			Pending int `json:"pending"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(tr.admin("GET", "/-/inbox?dead=only"), &l); err != nil {
		return -1
	}
	return l.Stats.Pending
}
