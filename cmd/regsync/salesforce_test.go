package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/salesforce"
	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runContext is run with a context: a long-running command stops when ctx
// ends, as it does on SIGINT or SIGTERM.
func runContext(ctx context.Context, stdout, stderr io.Writer, args ...string) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "regsync: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

// sandboxRun is a `regsync sandbox --crm salesforce` running in the test.
type sandboxRun struct {
	base, org string
	out       *lockedBuffer
	stop      func() int // stops the command and returns its exit code
}

var sandboxLine = regexp.MustCompile(`Salesforce sandbox at (http://127\.0\.0\.1:\d+) .*\n(?s:.*)organization id: (\w+)\n`)

func startSandbox(t *testing.T, args ...string) *sandboxRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- runContext(ctx, out, errOut, append([]string{"sandbox", "--crm", "salesforce", "--addr", "127.0.0.1:0"}, args...)...)
	}()
	s := &sandboxRun{out: out}
	var once sync.Once
	exit := -1
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case exit = <-code:
			case <-time.After(10 * time.Second):
				t.Error("the sandbox did not stop within 10s of SIGINT")
			}
		})
		return exit
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := sandboxLine.FindStringSubmatch(out.String()); m != nil {
			s.base, s.org = m[1], m[2]
			return s
		}
		select {
		case c := <-code:
			t.Fatalf("sandbox exited %d: %s%s", c, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox printed no address within 10s: %q %q", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sfClient(t *testing.T, base, org, id, secretText string) *salesforce.Client {
	t.Helper()
	cfg := salesforce.DefaultConfig()
	cfg.Domain, cfg.ClientID, cfg.ClientSecret, cfg.OrganizationID = base, id, secret.New(secretText), org
	cfg.WebhookSecret = secret.New(salesforcetest.DefaultWebhookSecret)
	cfg.Timeout, cfg.MaxRetries = 5*time.Second, 0
	c, err := salesforce.New(cfg, salesforce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The Salesforce sandbox serves a seeded org with Partner_Registration__c
// in place to the real connector (go-salesforce underneath), prints the
// configuration that reaches it, sends outbound messages with
// --webhook-url, and stops cleanly on SIGINT/SIGTERM.
func TestSandboxSalesforce(t *testing.T) {
	// An endpoint for outbound messages, acknowledging each.
	type delivery struct {
		body []byte
		at   time.Time
	}
	deliveries := make(chan delivery, 100)
	queries := make(chan string, 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		queries <- r.URL.RawQuery
		deliveries <- delivery{b, time.Now()}
		(&salesforce.Client{}).WriteWebhookAck(w)
	})}
	go func() { _ = hook.Serve(ln) }()
	t.Cleanup(func() { _ = hook.Close() })

	sb := startSandbox(t, "--webhook-url", "http://"+ln.Addr().String()+"/webhooks/salesforce")
	out := sb.out.String()
	for _, want := range []string{"client credentials: client_id sandbox, client_secret sandbox-secret",
		"with the Partner_Registration__c object", "crm: {kind: salesforce}",
		fmt.Sprintf(`salesforce: {domain: %q, client_id: "sandbox", client_secret: "sandbox-secret", organization_id: %s, webhook_secret: "sandbox-outbound-secret"}`, sb.base, sb.org),
		"outbound messages: http://" + ln.Addr().String() + "/webhooks/salesforce?secret=sandbox-outbound-secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if sb.org != salesforcetest.DefaultOrganizationID {
		t.Errorf("organization id %s, want %s", sb.org, salesforcetest.DefaultOrganizationID)
	}

	ctx := ctxFor(t)
	c := sfClient(t, sb.base, sb.org, "sandbox", "sandbox-secret")
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping with the printed credentials: %v", err)
	}
	var report bytes.Buffer
	if ready, err := c.Setup(ctx, &report); err != nil || !ready {
		t.Fatalf("setup against the sandbox: ready %v, %v\n%s", ready, err, report.String())
	}
	// The seed has Accounts with websites: a registration on one matches it.
	res, err := c.Write(ctx, []connectors.Update{{SubmissionKey: "sandbox-test-1", Fields: map[string]string{
		"status": "submitted", "company_name": "Globex", "company_domain": "globex.example", "partner_id": "northwind"}}})
	if err != nil || res[0].Err != nil || !res[0].Created {
		t.Fatalf("create a registration: %+v %v", res, err)
	}
	recs, err := c.Registrations(ctx, []string{res[0].ID})
	if err != nil || len(recs) != 1 || recs[0].CaseNumber == "" {
		t.Fatalf("read it back: %+v %v", recs, err)
	}
	facts, err := c.Facts(ctx, recs)
	if err != nil || facts[0].Company == nil || facts[0].Company.Name != "Globex Corporation" {
		t.Fatalf("facts against the seed: %+v %v", facts, err)
	}

	// Its creation went out as an outbound message the connector accepts.
	select {
	case d := <-deliveries:
		if q := <-queries; q != "secret=sandbox-outbound-secret" {
			t.Errorf("outbound message sent to ?%s", q)
		}
		evs, err := c.VerifyWebhook(httptestRequest(), d.body)
		if err != nil || len(evs) != 1 || evs[0].RecordID != res[0].ID || evs[0].Object != salesforce.EventRegistration {
			t.Fatalf("outbound message: %+v %v\n%s", evs, err, d.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no outbound message within 10s of the create")
	}

	// /sandbox/calls counts what it answered.
	resp, err := http.Get(sb.base + "/sandbox/calls")
	if err != nil {
		t.Fatal(err)
	}
	var calls struct {
		Total int            `json:"total"`
		Calls map[string]int `json:"calls"`
	}
	err = json.NewDecoder(resp.Body).Decode(&calls)
	resp.Body.Close()
	if err != nil || calls.Total < 5 || calls.Calls["POST composite/sobjects"] != 1 {
		t.Errorf("/sandbox/calls: %+v %v", calls, err)
	}

	if code := sb.stop(); code != 0 {
		t.Fatalf("exit %d on SIGINT", code)
	}
	if _, err := http.Get(sb.base + "/sandbox/calls"); err == nil {
		t.Error("the sandbox still answers after it stopped")
	}
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/webhooks/salesforce?secret="+salesforcetest.DefaultWebhookSecret, nil)
	return r
}

// --client-id and --client-secret replace the default credentials; --seed
// loads sObject tree files; bad flags are usage errors.
func TestSandboxSalesforceFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Account.json"), []byte(`{"records": [
  {"attributes": {"type": "Account", "referenceId": "AccountRef1"}, "Name": "Vandelay Industries", "Website": "https://www.vandelay.example/",
   "Opportunities": {"records": [{"attributes": {"type": "Opportunity", "referenceId": "OppRef1"},
     "Name": "Vandelay import", "StageName": "Prospecting", "CloseDate": "2026-09-30"}]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, "--client-id", "my-app", "--client-secret", "s3cret-value", "--seed", dir)
	if out := sb.out.String(); !strings.Contains(out, "client_id my-app, client_secret s3cret-value") || !strings.Contains(out, "seeded from "+dir) {
		t.Errorf("output:\n%s", out)
	}
	ctx := ctxFor(t)
	if err := sfClient(t, sb.base, sb.org, "sandbox", "sandbox-secret").Ping(ctx); connectors.Reason(err) != "unauthorized" {
		t.Errorf("the default credentials with --client-id/--client-secret set: %v", err)
	}
	c := sfClient(t, sb.base, sb.org, "my-app", "s3cret-value")
	facts, err := c.Facts(ctx, recordsOn("vandelay.example"))
	if err != nil || facts[0].Company == nil || facts[0].Company.Name != "Vandelay Industries" || len(facts[0].OpenDeals) != 1 {
		t.Fatalf("facts against the seed directory: %+v %v", facts, err)
	}
	if f, err := c.Facts(ctx, recordsOn("globex.example")); err != nil || f[0].Company != nil {
		t.Errorf("the generated seed is replaced by --seed: %+v %v", f[0].Company, err)
	}
	sb.stop()

	bad := filepath.Join(t.TempDir(), "Account.json")
	if err := os.WriteFile(bad, []byte(`{"records": [{"attributes": {"type": "Widget__c"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--seed", filepath.Join(dir, "nope")}, 2, "--seed"},
		{[]string{"--seed", filepath.Join(dir, "Account.json")}, 2, "not a directory"},
		{[]string{"--seed", filepath.Dir(bad)}, 1, "no object Widget__c"},
		{[]string{"--webhook-url", "ftp://x"}, 2, "--webhook-url"},
		{[]string{"--addr", "256.0.0.1:1"}, 1, "listen"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"sandbox", "--crm", "salesforce", "--addr", "127.0.0.1:0"}, tc.args...)
		if code := runContext(ctxFor(t), &out, &errOut, args...); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q", tc.args, code, tc.code, errOut.String())
		}
	}
}

// `regsync setup` on Salesforce: an org without the package exits 1 with
// what is missing and the deploy command; once deployed, exit 0; a field
// hidden from the integration user is named; refused credentials exit 1.
func TestSetupSalesforce(t *testing.T) {
	sf, err := salesforcetest.Start(salesforcetest.Options{Bare: true, Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sf.Close)
	config := func(secretText string) string {
		return writeFile(t, "regsync.yaml", fmt.Sprintf("crm: {kind: salesforce}\nsalesforce:\n  domain: %q\n  client_id: %s\n  client_secret: %s\n  organization_id: %s\n  webhook_secret: %s\n",
			sf.URL(), salesforcetest.DefaultClientID, secretText, sf.OrganizationID(), salesforcetest.DefaultWebhookSecret))
	}
	cfg := config(salesforcetest.DefaultClientSecret)

	code, out, errOut := runCLI(t, "setup", "--config", cfg)
	if code != 1 {
		t.Fatalf("bare org: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"missing  object Partner_Registration__c: not deployed",
		"missing  Opportunity.Partner_Id__c", "ok       organization " + sf.OrganizationID()} {
		if !strings.Contains(out, want) {
			t.Errorf("bare org report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, salesforce.DeployCommand) {
		t.Errorf("stderr lacks the deploy command: %q", errOut)
	}

	sf.AddRegistrationObject() // the admin deployed deploy/salesforce
	code, out, errOut = runCLI(t, "setup", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ready (") || strings.Contains(out, "missing") {
		t.Fatalf("deployed org: exit %d\n%s%s", code, out, errOut)
	}

	if err := sf.SetFieldAccess(salesforcetest.RegistrationObject, "Hold_Until__c", true, false); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "setup", "--config", cfg)
	if code != 1 || !strings.Contains(out, "Partner_Registration__c.Hold_Until__c: no such field, or hidden from the integration user") {
		t.Errorf("hidden field: exit %d\n%s", code, out)
	}
	if err := sf.SetFieldAccess(salesforcetest.RegistrationObject, "Hold_Until__c", false, true); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "setup", "--config", cfg)
	if code != 1 || !strings.Contains(out, "Partner_Registration__c.Hold_Until__c is read-only for the integration user") {
		t.Errorf("read-only field: exit %d\n%s", code, out)
	}

	code, _, errOut = runCLI(t, "setup", "--config", config("wrong-secret"))
	if code != 1 || !strings.Contains(errOut, "refused") || strings.Contains(errOut, "wrong-secret") {
		t.Errorf("refused credentials: exit %d, stderr %q", code, errOut)
	}
}

func recordsOn(domain string) []registration.Record {
	r := registration.Record{CompanyDomain: domain}
	r.Index()
	return []registration.Record{r}
}
