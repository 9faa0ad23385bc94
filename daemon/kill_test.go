package daemon

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/state"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// regsyncBinary builds cmd/regsync once per test run.
func regsyncBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "regsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "regsync")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/regsync/regsync/cmd/regsync").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free loopback ports (held open together
// while they are chosen).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// TestKillNineLosesNothing runs the built binary as a subprocess while 500
// registrations flow in, kills it with SIGKILL at random points, restarts
// it, and checks that every registration was decided exactly once, none
// was lost, and each got one audit note and one status e-mail (resent, if
// at all, with the same Message-ID).
func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it several times (about a minute)")
	}
	bin := regsyncBinary(t)
	forEachCRM(t, func(t *testing.T, c crm) {
		const n = 500
		o := harnessOpts{webhooks: true, realClock: true, pollInterval: time.Second}
		f := c.start(t, o)
		t.Cleanup(f.Close)
		dir := t.TempDir()
		ports := freePorts(t, 2) // fixed: the daemon restarts on them after each kill
		port, adminPort := ports[0], ports[1]
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		adminBase := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
		const adminToken = "kill-nine-admin-token-0123456789"
		cfgPath := filepath.Join(dir, "regsync.yaml")
		yaml := fmt.Sprintf(`
server: {addr: "127.0.0.1:%d", shutdown_timeout: 20s}
state: {path: %q}
crm: {kind: %s}
%s
admin: {token: %s, addr: "127.0.0.1:%d"}
schedule: {sweep: "off", reconcile: "off"}
worker: {recheck_after: 1s}
notify: {enabled: true, outbox: %q}
%s`, port, filepath.Join(dir, "regsync.db"), f.Kind(), f.ConfigYAML(o), adminToken, adminPort, filepath.Join(dir, "outbox"), testPolicy)
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer logFile.Close()
		f.Subscribe(t, base)
		f.Push(true)

		var cmd *exec.Cmd
		start := func() {
			cmd = exec.Command(bin, "serve", "--config", cfgPath, "--log-format", "json", "--log-level", "debug")
			cmd.Stdout, cmd.Stderr = logFile, logFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		kill := func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_, _ = cmd.Process.Wait()
		}
		t.Cleanup(func() {
			if cmd != nil && cmd.ProcessState == nil {
				kill()
			}
			if t.Failed() {
				if b, err := os.ReadFile(logFile.Name()); err == nil && len(b) > 0 {
					if p := os.Getenv("REGSYNC_TEST_LOGS"); p != "" {
						_ = os.WriteFile(p, b, 0o600)
					}
					if len(b) > 15000 {
						b = b[len(b)-15000:]
					}
					t.Logf("daemon log (tail):\n%s", b)
				}
			}
		})

		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 42))
		t.Logf("random seed %d", seed)
		start()
		ids := make([]string, 0, n)
		kills := 0
		for len(ids) < n {
			for range 50 {
				ids = append(ids, f.Register(t, withStatus(clean(len(ids), fmt.Sprintf("kill%d-nine.example", len(ids))))))
			}
			time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
			if kills < 5 && rng.IntN(3) != 0 {
				kill()
				kills++
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
				start()
			}
		}
		for kills < 3 { // at least three kills, even on an unlucky draw
			time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
			kill()
			kills++
			start()
		}
		t.Logf("%d registrations, %d kills", n, kills)

		// Everything is decided, and the daemon becomes idle.
		deadline := time.Now().Add(4 * time.Minute)
		for _, id := range ids {
			for f.Get(t, id)["status"] == "submitted" || f.Get(t, id)["status"] == "" {
				if time.Now().After(deadline) {
					t.Fatalf("registration %s never decided", id)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		waitIdle(t, adminBase, adminToken, time.Minute)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the daemon did not stop cleanly: %v", err)
		}

		db, err := state.Open(filepath.Join(dir, "regsync.db"), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		plans, _ := db.AllPlans()
		dead, _ := db.Dead()
		if len(plans) != 0 || len(dead) != 0 {
			t.Fatalf("left behind: %d plans, %d dead letters", len(plans), len(dead))
		}
		ids4case := outboxMessageIDs(t, filepath.Join(dir, "outbox")) // case → its status e-mails' distinct Message-IDs
		for _, id := range ids {
			p := f.Get(t, id)
			if p["status"] != "approved" || p["status_reason"] != "approved" {
				t.Errorf("%s: %s/%s, want approved", p["case_number"], p["status"], p["status_reason"])
			}
			entries, err := db.AuditFor(state.ItemKey(f.Kind(), f.Object(), id), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("%s decided %d times", p["case_number"], len(entries))
			}
			if w := f.WriteCount(id); w < 1 || w > 3 {
				t.Errorf("%s: %d API writes, want its decision (and at most two writes of its match keys, across a restart)", p["case_number"], w)
			}
			// A note is keyed: a kill between the note and its record in
			// the plan finds it on the resume instead of adding another.
			if notes := len(f.Linked(t, id, "notes")); notes != 1 {
				t.Errorf("%s: %d audit notes, want 1", p["case_number"], notes)
			}
			// One status change, one message: a kill between the outbox's
			// write and the plan's record resends it with the same id.
			if n := len(ids4case[p["case_number"]]); n != 1 {
				t.Errorf("%s: %d distinct status e-mails, want 1", p["case_number"], n)
			}
		}
	})
}

// outboxMessageIDs reads the outbox's status e-mails: case number (from
// the subject, "[R-…] …") → the distinct Message-IDs sent for it.
func outboxMessageIDs(t *testing.T, dir string) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var id, cn string
		for _, line := range strings.Split(string(b), "\r\n") {
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(line, "Subject: ["); ok {
				cn, _, _ = strings.Cut(v, "]")
			}
		}
		if !strings.Contains(id, ".status-") || cn == "" {
			continue
		}
		if out[cn] == nil {
			out[cn] = map[string]bool{}
		}
		out[cn][id] = true
	}
	return out
}

func withStatus(m map[string]string) map[string]string {
	m["status"] = "submitted"
	return m
}

// waitIdle polls the daemon's admin inbox endpoint (at adminBase, the
// admin listener) until nothing is pending.
func waitIdle(t *testing.T, adminBase, token string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("GET", adminBase+"/-/inbox", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var l struct {
				Stats state.InboxStats `json:"stats"`
			}
			err = json.NewDecoder(resp.Body).Decode(&l)
			resp.Body.Close()
			if err == nil && l.Stats.Pending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not become idle within %s (%v)", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
