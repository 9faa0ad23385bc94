package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/state"
)

// TestSweepAndInboxBesideAndWithoutADaemon: `regsync sweep` and `regsync
// inbox` ask a running daemon through its admin endpoints (the token file
// it wrote beside the state file), and open the state file themselves when
// no daemon holds it.
func TestSweepAndInboxBesideAndWithoutADaemon(t *testing.T) {
	hs := impPortal(t, hubspottest.Options{})
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "regsync.yaml")
	yaml := fmt.Sprintf(`server: {addr: %q}
admin: {addr: "127.0.0.1:0"}
state: {path: %q}
crm: {kind: hubspot}
hubspot: {base_url: %q, token: sandbox-token, poll_settle: 0s}
schedule: {sweep: "off", reconcile: "off"}
notify: {enabled: true, outbox: %q}
%s`, addr, filepath.Join(dir, "regsync.db"), hs.URL(), filepath.Join(dir, "outbox"), importPolicy)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	// No daemon: the commands open the state file.
	code, out, errOut := runCLI(t, "sweep", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, `sweep: {"looked":0`) {
		t.Fatalf("sweep without a daemon: exit %d\n%s%s", code, out, errOut)
	}
	db, err := state.Open(filepath.Join(dir, "regsync.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(state.Item{Key: "hubspot/partner_registration/77", Reason: "poll"}); err != nil {
		t.Fatal(err)
	}
	items, _ := db.Lease(1, time.Minute)
	if err := db.Bury(items[0], fmt.Errorf("VALIDATION_ERROR: bad value")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ = runCLI(t, "inbox", "list", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "dead letters 1") || !strings.Contains(out, "hubspot/partner_registration/77") ||
		!strings.Contains(out, "CLASS") || !regexp.MustCompile(`permanent +VALIDATION_ERROR: bad value`).MatchString(out) {
		t.Fatalf("inbox list without a daemon: exit %d\n%s", code, out)
	}
	// The JSON listing (the admin API's shape) carries the class.
	code, out, _ = runCLI(t, "inbox", "list", "--dead", "--json", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, `"last_class": "permanent"`) {
		t.Fatalf("inbox list --json: exit %d\n%s", code, out)
	}

	// A daemon holds the state file: the commands go through it.
	cfg, err := config.LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	code, out, errOut = runCLI(t, "inbox", "list", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "hubspot/partner_registration/77") {
		t.Fatalf("inbox list beside a daemon: exit %d\n%s%s", code, out, errOut)
	}
	// Through the admin API (GET /-/inbox) the dead letter keeps its class.
	code, out, errOut = runCLI(t, "inbox", "list", "--dead", "--json", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, `"last_class": "permanent"`) || !strings.Contains(out, "VALIDATION_ERROR: bad value") {
		t.Fatalf("inbox list --json beside a daemon: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "inbox", "retry", "hubspot/partner_registration/77", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("inbox retry beside a daemon: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "sweep", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "by the running daemon") {
		t.Fatalf("sweep beside a daemon: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "inbox", "drop", "hubspot/partner_registration/nope", "--config", cfgPath)
	if code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("dropping an unknown dead letter: exit %d\n%s%s", code, out, errOut)
	}
}
