package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash tests re-run this test binary as a child process
// (TestHelperProcess) that writes to the state file and dies without
// Close. The child prints "ok <key>" only after Enqueue returned nil, so
// every such line is a promise the parent checks after reopening.

const (
	helperEnv = "REGSYNC_STATE_HELPER"
	pathEnv   = "REGSYNC_STATE_PATH"
	countEnv  = "REGSYNC_STATE_COUNT"
	prefixEnv = "REGSYNC_STATE_PREFIX"
)

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("child process of the crash tests")
	}
	db, err := Open(os.Getenv(pathEnv), Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(3)
	}
	n, _ := strconv.Atoi(os.Getenv(countEnv))
	prefix := os.Getenv(prefixEnv)
	say := func(s string) { _, _ = os.Stdout.WriteString(s + "\n") } // one write(2) per line

	switch mode {
	case "enqueue-then-exit":
		for i := range n {
			it := hs(fmt.Sprintf("%s-%04d", prefix, i), "webhook")
			if err := db.Enqueue(it); err != nil {
				fmt.Fprintln(os.Stderr, "helper enqueue:", err)
				os.Exit(4)
			}
			say("ok " + it.RecordID)
		}
		os.Exit(1) // no Close

	case "enqueue-until-killed":
		// Concurrent writers, so the kill lands inside batched commits;
		// every tenth enqueue also re-enqueues a shared record.
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					it := hs(fmt.Sprintf("%s-w%d-%05d", prefix, w, i), "webhook")
					items := []Item{it}
					if i%10 == 0 {
						items = append(items, hs(prefix+"-shared", "poll"))
					}
					if err := db.Enqueue(items...); err != nil {
						fmt.Fprintln(os.Stderr, "helper enqueue:", err)
						os.Exit(4)
					}
					say("ok " + it.RecordID)
				}
			}()
		}
		time.AfterFunc(time.Minute, func() { os.Exit(5) }) // never outlive a broken parent
		wg.Wait()

	case "hold":
		say("open")
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
		_ = db.Close()
		os.Exit(0)
	}
	os.Exit(2)
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startChild(t *testing.T, mode, path, prefix string, n int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, pathEnv+"="+path, prefixEnv+"="+prefix, countEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 1<<16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

// acked collects the record ids the child acknowledged until its stdout
// closes.
func (c *child) acked() []string {
	var ids []string
	for line := range c.lines {
		if id, ok := strings.CutPrefix(line, "ok "); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -100
	}
	return 0
}

func TestCrashAfterAckedEnqueues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	const n = 40
	c := startChild(t, "enqueue-then-exit", path, "exit", n)
	ids := c.acked()
	if code := exitCode(c.cmd.Wait()); code != 1 {
		t.Fatalf("child exit code %d, want 1", code)
	}
	if len(ids) != n {
		t.Fatalf("child acknowledged %d enqueues, want %d", len(ids), n)
	}

	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	mustCheck(t, db)
	pending := mustPending(t, db)
	if len(pending) != n {
		t.Fatalf("%d items after crash, want %d", len(pending), n)
	}
	for i, it := range pending {
		if want := fmt.Sprintf("exit-%04d", i); it.RecordID != want || it.Gen != 1 || it.Reason != "webhook" {
			t.Fatalf("item %d = %+v, want record %s", i, it, want)
		}
	}
}

func TestCrashSIGKILLMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	var all []string
	for round := range 3 {
		prefix := fmt.Sprintf("kill%d", round)
		c := startChild(t, "enqueue-until-killed", path, prefix, 0)
		var ids []string
		for line := range c.lines {
			if id, ok := strings.CutPrefix(line, "ok "); ok {
				ids = append(ids, id)
			}
			if len(ids) == 150 {
				if err := c.cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				break
			}
		}
		ids = append(ids, c.acked()...) // lines already written before death
		err := c.cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" {
			t.Fatalf("round %d: child ended with %v, want killed", round, err)
		}
		if len(ids) < 150 {
			t.Fatalf("round %d: only %d acknowledged enqueues before the kill", round, len(ids))
		}
		all = append(all, ids...)

		db, err := Open(path, Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		mustCheck(t, db)
		have := map[string]bool{}
		for _, it := range mustPending(t, db) {
			have[it.RecordID] = true
		}
		for _, id := range all {
			if !have[id] {
				t.Fatalf("round %d: acknowledged item %s lost", round, id)
			}
		}
		if !have[prefix+"-shared"] {
			t.Fatalf("round %d: shared item lost", round)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged, %d in file", round, len(ids), len(have))
	}
}

func TestOpenInUseByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsync.db")
	c := startChild(t, "hold", path, "", 0)
	if line, ok := <-c.lines; !ok || line != "open" {
		t.Fatalf("child said %q (%v), want open", line, ok)
	}
	start := time.Now()
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	checkInUse(t, err, path, "100ms", time.Since(start))

	_ = c.stdin.Close() // the child closes the file and exits
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	db, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	_ = db.Close()
}
