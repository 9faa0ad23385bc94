package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
)

// BenchmarkImport runs the built regsync binary — `regsync import` as a
// user runs it, in its own process — over generated files of 10,000 and
// 100,000 rows against the HubSpot fake, and reports rows per second, API
// calls per 100 rows (all of them; the upserts that create registrations;
// the creates of their notes and tasks; the searches), the import
// process's own CPU time, and its peak RSS (VmHWM), which stays flat from
// one size to the other.
//
// The fake's rate limits are lifted (per-10-s, search and daily limits off,
// and the client's own pacing raised) so that the run measures regsync,
// not HubSpot's throttle: at HubSpot's real 100 calls per 10 s and 4
// searches per second, the calls counted here are what sets the time.
//
//	go test -run '^$' -bench Import -benchtime 1x ./cmd/regsync/
func BenchmarkImport(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "regsync")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("go build: %v", err)
	}
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			file := filepath.Join(dir, "registrations.csv")
			writeImportFile(b, file, n)
			for range b.N {
				benchImportOnce(b, bin, dir, file, n)
			}
		})
	}
}

func benchImportOnce(b *testing.B, bin, dir, file string, n int) {
	b.StopTimer()
	hs := impPortal(b, hubspottest.Options{PerTenSeconds: -1, SearchPerSecond: -1, Daily: -1})
	cfg := impConfig(b, dir, hs.URL(), "per_10s: 1000000, search_per_second: 100000")
	out := filepath.Join(dir, "results.csv")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "import", "--config", cfg, file, "--out", out)
	cmd.Stderr = &stderr
	b.StartTimer()
	start := time.Now()
	err := cmd.Start()
	var peak int64
	if err == nil {
		done := make(chan struct{})
		go func() { peak = watchHWM(cmd.Process.Pid, done) }()
		err = cmd.Wait()
		close(done)
	}
	took := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("regsync import: %v\n%s", err, stderr.String())
	}
	lines, statuses := countResults(b, out)
	if lines != n {
		b.Fatalf("%d result rows for %d rows", lines, n)
	}
	calls := hs.Calls()
	var upserts, creates, searches int
	for k, v := range calls {
		switch {
		case strings.HasSuffix(k, "/batch/upsert"):
			upserts += v // the registrations, created on their submission key
		case strings.HasSuffix(k, "/batch/create"):
			creates += v // the side effects: audit notes and AE tasks
		case strings.HasSuffix(k, "/search"):
			searches += v // case numbers already registered, companies, deals, rival registrations
		}
	}
	typeID, _ := hs.TypeID("partner_registration")
	registered := len(hs.Records(typeID))
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	rss := peak // KiB
	b.ReportMetric(float64(n)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(n)/cpu.Seconds(), "rows/import-cpu-s")
	b.ReportMetric(float64(hs.TotalCalls())*100/float64(n), "calls/100rows")
	b.ReportMetric(float64(upserts)*100/float64(registered), "upserts/100regs")
	b.ReportMetric(float64(creates)*100/float64(registered), "note+task-creates/100regs")
	b.ReportMetric(float64(searches)*100/float64(n), "searches/100rows")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	b.Logf("%d rows in %s (import CPU %s): %d registered, outcomes %v; %d API calls %v; peak RSS %.1f MiB",
		n, took.Round(time.Millisecond), cpu.Round(time.Millisecond), registered, statuses, hs.TotalCalls(), calls, float64(rss)/1024)
}

// writeImportFile writes n rows: most clean and approved, every 10th
// without a contact address (needs info), every 50th a formula (rejected),
// every 40th repeating the previous row's domain (duplicate), every 25th
// with no country (in review), spread over two partners.
func writeImportFile(b testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, "\ufeffCompany;Website;Contact;Email;Problem;Consent;Country;Partner email\r\n")
	for i := 1; i <= n; i++ {
		company, domain, email, country := fmt.Sprintf("Prospect %d Ltd", i), fmt.Sprintf("prospect-%d.example", i), fmt.Sprintf("ceo@prospect-%d.example", i), "US"
		partner := "sam@northwind.example"
		if i%2 == 0 {
			partner = "jo@fabrikam.example"
		}
		switch {
		case i%50 == 0:
			company = "=HYPERLINK(\"http://x.example\")"
		case i%40 == 0:
			domain = fmt.Sprintf("www.prospect-%d.example", i-2) // the same partner's earlier row
		case i%25 == 0:
			country = ""
		case i%10 == 0:
			email = ""
		}
		fmt.Fprintf(w, "\"%s\";%s;Contact %d;%s;\"Needs better reporting; row %d\";yes;%s;%s\r\n",
			strings.ReplaceAll(company, `"`, `""`), domain, i, email, i, country, partner)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// watchHWM samples the process's peak resident set (VmHWM, KiB) until
// done, and returns the last sample: the peak is monotone, and it is the
// process's own — unlike getrusage's maxrss of a child, which counts the
// parent's memory it was forked from.
func watchHWM(pid int, done <-chan struct{}) int64 {
	var last int64
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb int64
					if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err == nil && kb > last {
						last = kb
					}
				}
			}
		}
		select {
		case <-done:
			return last
		case <-t.C:
		}
	}
}

func countResults(b *testing.B, path string) (int, map[string]int) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	statuses := map[string]int{}
	lines := -1
	for sc.Scan() {
		lines++
		if lines == 0 {
			continue
		}
		parts := strings.SplitN(sc.Text(), ",", 4)
		if len(parts) >= 3 {
			statuses[parts[2]]++
		}
	}
	return lines, statuses
}
