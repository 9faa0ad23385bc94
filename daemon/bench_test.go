package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkDecidedPerMinute measures end-to-end throughput: 1,000
// registrations are already in the HubSpot fake, limited to 100 calls per
// 10 s and 4 searches per second as a Free/Starter portal; one poll queues
// them and the daemon decides and writes them all back (decision, company
// links, AE tasks, audit notes). It reports registrations decided per
// minute, the API calls each needs, and the share of what the limits allow
// at that cost (the ceiling is set by whichever limit binds: the 10-second
// window for ordinary calls, the search limit for searches).
func BenchmarkDecidedPerMinute(b *testing.B) {
	const n = 1000
	var perMin, ceiling, perReg float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := startHarness(b, crms[0], harnessOpts{perTen: 100})
		for j := range n {
			h.crm.Register(b, withStatus(clean(j, fmt.Sprintf("bench%d-e2e.example", j))))
		}
		h.crm.Advance(time.Second)
		hf := h.crm.(*hubspotFake)
		hf.hs.ResetCalls()
		b.StartTimer()
		start := time.Now()
		if _, err := h.d.worker.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
		h.settle(10 * time.Minute)
		took := time.Since(start)
		b.StopTimer()

		var window, searches int
		for k, v := range hf.hs.Calls() {
			if strings.HasSuffix(k, "/search") {
				searches += v
			} else {
				window += v
			}
		}
		perMin = n / took.Minutes()
		perReg = float64(window+searches) / n
		// What the limits allow at this cost per registration.
		byWindow := 100.0 * 6 / (float64(window) / n)
		bySearch := 4.0 * 60 / (float64(searches) / n)
		ceiling = min(byWindow, bySearch)
		b.Logf("%d decided in %s: %d window calls, %d searches; ceiling %.0f/min (window %.0f, search %.0f)",
			n, took.Round(time.Millisecond), window, searches, ceiling, byWindow, bySearch)
		h.stop()
	}
	b.ReportMetric(perMin, "decided/min")
	b.ReportMetric(perReg*100, "calls/100regs")
	b.ReportMetric(100*perMin/ceiling, "%ofceiling")
}
