package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/internal/secret"
	hubspotsandbox "github.com/regsync/regsync/sandbox/hubspot"
)

const importPolicy = `
partners:
  - {id: northwind, name: Northwind Consulting, tier: gold, email_domains: [northwind.example]}
  - {id: fabrikam, name: Fabrikam Partners, tier: silver, email_domains: [fabrikam.example]}
rules:
  blocked: {domains: [initech.example]}
  territories:
    - {name: na, countries: [US, CA], owner: ae-na}
  unassigned: review
`

// impPortal starts a fake HubSpot portal with the partner_registration
// object set up, its call counters reset.
func impPortal(t testing.TB, opts hubspottest.Options) *hubspottest.Server {
	t.Helper()
	hs, err := hubspottest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Close)
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token, cfg.PerTenSeconds = hs.URL(), secret.New("sandbox-token"), 100
	c, err := hubspot.New(cfg, hubspot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Setup(ctx, io.Discard); err != nil {
		t.Fatalf("setup: %v", err)
	}
	hs.ResetCalls()
	return hs
}

// impConfig writes a configuration with crm.kind hubspot pointing at base.
func impConfig(t testing.TB, dir, base, limits string) string {
	t.Helper()
	if limits == "" {
		limits = "per_10s: 100"
	}
	yml := fmt.Sprintf("crm: {kind: hubspot}\nstate: {path: %q}\nhubspot: {base_url: %q, token: sandbox-token, %s}\n%s",
		filepath.Join(dir, "regsync.db"), base, limits, importPolicy)
	path := filepath.Join(dir, "regsync.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const importFile = "Company,Website,Contact,Email,Problem,Consent,Country,Partner email\r\n" +
	"Globex,globex.example,Hank Scorpio,hank@globex.example,Stock by hand,yes,US,sam@northwind.example\r\n" +
	"Umbrella,umbrella.example,Alice,,Compliance reports,yes,US,sam@northwind.example\r\n" +
	"Initech,initech.example,Bill,bill@initech.example,TPS reports,yes,US,sam@northwind.example\r\n" +
	"\"=cmd|' /C calc'!A0\",evil.example,Mallory,m@evil.example,x,yes,US,sam@northwind.example\r\n" +
	"Globex EU,eu.globex.example,Maria,maria@globex.example,Second office,yes,US,sam@northwind.example\r\n" +
	"Stark,stark.example,Pepper,pepper@stark.example,Armour,yes,US,tony@unknown.example\r\n" +
	"Wayne,wayne.example,Bruce,bruce@wayne.example,+SUM(A1:A9),yes,US,sam@northwind.example\r\n" +
	"Hooli,hooli.example,Gavin,gavin@hooli.example,Search costs,yes,US,jo@fabrikam.example\r\n"

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("result CSV: %v\n%s", err, b)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "row,case_number,status,reason,message" {
		t.Fatalf("header %v", rows)
	}
	for i, row := range rows {
		for j, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("result row %d column %d starts a formula: %q", i, j, c)
			}
		}
	}
	return rows[1:]
}

func TestImportAgainstHubSpot(t *testing.T) {
	hs := impPortal(t, hubspottest.Options{})
	dir := t.TempDir()
	cfgPath := impConfig(t, dir, hs.URL(), "")
	in := filepath.Join(dir, "registrations.csv")
	if err := os.WriteFile(in, []byte(importFile), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.csv")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--config", cfgPath, in, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, b)
	got := ""
	for _, r := range rows {
		got += fmt.Sprintf("%s:%s/%s ", r[0], r[2], r[3])
	}
	want := "1:approved/approved 2:needs_info/missing_fields 3:declined/blocked_account 4:rejected/invalid_row " +
		"5:rejected/duplicate_row 6:rejected/invalid_row 7:approved/approved 8:approved/approved "
	if got != want {
		t.Errorf("got  %s\nwant %s\n%s", got, want, b)
	}
	typeID, _ := hs.TypeID("partner_registration")
	recs := hs.Records(typeID)
	// Row 4's company name is a formula (refused); row 7's formula is in
	// the free-text problem, which keeps its content (the result CSV
	// quotes it, the CRM name fields are clean).
	if len(recs) != 5 {
		t.Errorf("%d registrations in the CRM, want 5", len(recs))
	}
	for _, r := range []int{0, 7} {
		rec, ok := hs.FindRecord(typeID, "case_number", rows[r][1])
		if !ok || rec.Properties["status"] != "approved" || rec.Properties["source"] != "csv" || rec.Properties["hold_until"] == "" {
			t.Errorf("row %d: %v", r+1, rec.Properties)
		}
	}
	if !strings.Contains(stderr.String(), "8 rows") || !strings.Contains(stderr.String(), "3 rejected (2 invalid_row, 1 duplicate_row)") {
		t.Errorf("summary: %s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout with --out: %q", stdout.String())
	}
	calls := hs.TotalCalls()

	// Again, to standard output: the same case numbers, nothing new.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"import", "--config", cfgPath, in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	again := readCSV(t, stdout.Bytes())
	for i := range rows {
		if again[i][1] != rows[i][1] || again[i][2] != rows[i][2] {
			t.Errorf("row %d: %v then %v", i+1, rows[i], again[i])
		}
	}
	if n := len(hs.Records(typeID)); n != 5 {
		t.Errorf("%d registrations after importing again", n)
	}
	if !strings.Contains(stderr.String(), "5 of them registered before") {
		t.Errorf("summary: %s", stderr.String())
	}
	t.Logf("first import: %d API calls; again: %d", calls, hs.TotalCalls()-calls)

	// From standard input.
	stdout.Reset()
	stderr.Reset()
	if code := runStdin(t, strings.NewReader(importFile), []string{"import", "--config", cfgPath, "-"}, &stdout, &stderr); code != 0 || len(readCSV(t, stdout.Bytes())) != 8 {
		t.Errorf("stdin: exit %d %s", code, stderr.String())
	}
}

// runStdin runs the CLI with stdin replaced.
func runStdin(t *testing.T, in io.Reader, args []string, stdout, stderr io.Writer) int {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old; f.Close() }()
	return run(args, stdout, stderr)
}

func TestImportRefusals(t *testing.T) {
	hs := impPortal(t, hubspottest.Options{})
	dir := t.TempDir()
	cfgPath := impConfig(t, dir, hs.URL(), "")
	typeID, _ := hs.TypeID("partner_registration")
	for _, tc := range []struct {
		name, file string
		args       []string
		code       int
		want       string
	}{
		{"no company column", "Name,Phone\nAnn,+1 555 0100\n", nil, 1, "file: no company column"},
		{"no partner column", "Company,Website\nAcme,acme.example\n", nil, 1, "file: no partner column"},
		{"binary junk", "\x00\x01\x02\x03\xff\xfe\x00garbage\x00\n\x89PNG\r\n", nil, 1, ""},
		{"unknown partner", "Company,Website\nAcme,acme.example\n", []string{"--partner", "ghost"}, 2, `--partner "ghost": no partner`},
		{"missing file", "", []string{"--out", "x"}, 1, "no such file"},
	} {
		in := filepath.Join(dir, "in.csv")
		if tc.file != "" {
			if err := os.WriteFile(in, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			in = filepath.Join(dir, "missing.csv")
		}
		out := filepath.Join(dir, tc.name+".csv")
		var stdout, stderr bytes.Buffer
		args := append([]string{"import", "--config", cfgPath, in, "--out", out}, tc.args...)
		code := run(args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d: %s", tc.name, code, stderr.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: an output file was written for a refused file", tc.name)
		}
	}
	if n := len(hs.Records(typeID)); n != 0 {
		t.Errorf("refused files made %d registrations", n)
	}
	if n := hs.TotalCalls(); n != 0 {
		t.Errorf("refused files cost %d API calls", n)
	}
	// A partner's file without a partner column, with --partner.
	in := filepath.Join(dir, "partner.csv")
	_ = os.WriteFile(in, []byte("Company;Website;Contact;Email;Problem;Consent;Country\nAcme;acme.example;Wile;wile@acme.example;Speed;ja;US\n"), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--config", cfgPath, in, "--partner", "fabrikam", "--submitter", "jo@fabrikam.example"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--partner: exit %d %s", code, stderr.String())
	}
	rows := readCSV(t, stdout.Bytes())
	if rec, ok := hs.FindRecord(typeID, "case_number", rows[0][1]); !ok || rec.Properties["partner_id"] != "fabrikam" || rec.Properties["partner_email"] != "jo@fabrikam.example" || rows[0][2] != "approved" {
		t.Errorf("--partner: %v %v", rows, rec.Properties)
	}
}

// --dry-run judges the file without the CRM.
func TestImportDryRun(t *testing.T) {
	dir := t.TempDir()
	cfgPath := impConfig(t, dir, "http://127.0.0.1:1", "")
	in := filepath.Join(dir, "in.csv")
	_ = os.WriteFile(in, []byte(importFile), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--config", cfgPath, "--dry-run", in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d %s", code, stderr.String())
	}
	rows := readCSV(t, stdout.Bytes())
	got := ""
	for _, r := range rows {
		got += r[2] + " "
	}
	if got != "valid valid valid rejected rejected rejected valid valid " {
		t.Errorf("dry run: %s", got)
	}
}

// With crm.kind sandbox, import registers in the sandbox CRM of a running
// daemon — through the daemon's admin endpoint, so its worker decides the
// rows like every other registration: each row is created once and
// decided once. Without a daemon it says so.
func TestImportBesideRunningSandboxDaemon(t *testing.T) {
	dir := t.TempDir()
	sandboxAddr := freeAddr(t)
	yml := fmt.Sprintf("server: {addr: \"127.0.0.1:0\", shutdown_timeout: 10s}\nadmin: {addr: \"127.0.0.1:0\"}\nstate: {path: %q}\ncrm: {kind: sandbox, sandbox: {addr: %q}}\n"+
		"schedule: {sweep: \"off\", reconcile: \"off\"}\nnotify: {enabled: false}\n%s",
		filepath.Join(dir, "regsync.db"), sandboxAddr, importPolicy)
	cfgPath := filepath.Join(dir, "regsync.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.csv")
	_ = os.WriteFile(in, []byte(importFile), 0o600)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--config", cfgPath, in}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "start `regsync serve`") {
		t.Errorf("no daemon: exit %d %s", code, stderr.String())
	}

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var hs *hubspotsandbox.Server
	d, err := daemon.New(ctx, cfg, daemon.Options{Sandbox: func(s *hubspotsandbox.Server) { hs = s }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"import", "--config", cfgPath, in}, &stdout, &stderr); code != 0 {
		t.Fatalf("beside the daemon: exit %d %s", code, stderr.String())
	}
	rows := readCSV(t, stdout.Bytes())
	typeID, _ := hs.TypeID("partner_registration")
	rec, ok := hs.FindRecord(typeID, "case_number", rows[0][1])
	if !ok || rec.Properties["status"] != "approved" {
		t.Fatalf("row 1 in the sandbox: %v", rec.Properties)
	}
	// The daemon hears of the new records (webhooks) too, and writes
	// nothing more: the create and the decision.
	time.Sleep(time.Second)
	for _, r := range []int{0, 1, 2, 7} {
		rec, _ := hs.FindRecord(typeID, "case_number", rows[r][1])
		if n := hs.WriteCount(typeID, rec.ID); n != 2 {
			t.Errorf("row %d: %d writes, want 2 (the create and the decision)", r+1, n)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
