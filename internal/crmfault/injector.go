package crmfault

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultMaxLatency bounds the Latency kind's delay unless Options say
// otherwise: delays are drawn between a twelfth of it and it (0.5 s to 6 s).
const DefaultMaxLatency = 6 * time.Second

// Options tune an Injector.
type Options struct {
	// MaxLatency bounds the Latency kind's delay, drawn uniformly between
	// MaxLatency/12 and MaxLatency; default DefaultMaxLatency. Tests use
	// small values.
	MaxLatency time.Duration
	// Auth lets faults hit the CRM's token endpoint too (a real login can
	// fail); by default only API requests fault.
	Auth bool
	// Only, when set, limits the faults to the requests it accepts (a test
	// that loses the answers of one endpoint); the others pass untouched
	// and draw nothing.
	Only func(*http.Request) bool
}

// Injector draws faults from a Spec with a seeded source: for one seed and
// one order of requests it draws the same faults. It is safe for
// concurrent use, and counts the faults its Handlers inject.
type Injector struct {
	spec   Spec
	seed   uint64
	opts   Options
	shares [numKinds]float64

	mu       sync.Mutex
	rnd      *rand.Rand
	seen     int
	injected [numKinds]int
}

// New builds an Injector for spec seeded with seed.
func New(spec Spec, seed uint64, o Options) *Injector {
	if o.MaxLatency <= 0 {
		o.MaxLatency = DefaultMaxLatency
	}
	return &Injector{spec: spec, seed: seed, opts: o, shares: spec.shares(),
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Spec is the injector's spec.
func (in *Injector) Spec() Spec { return in.spec }

// Seed is the injector's seed.
func (in *Injector) Seed() uint64 { return in.seed }

// Auth reports whether the token endpoint may fault (Options.Auth).
func (in *Injector) Auth() bool { return in.opts.Auth }

// Fault is one drawn fault.
type Fault struct {
	Kind Kind
	// Pick is a random number a CRM's Shapes choose a variant with (which
	// 5xx, say), so that the variant follows the seed too.
	Pick uint64
	// Delay is the Latency kind's delay.
	Delay time.Duration
	// keep is the share of the body Truncate keeps, in [0, 1).
	keep float64
	// short makes Truncate declare the whole body's length and drop the
	// connection after the part it sends; otherwise the answer is complete
	// but shorter.
	short bool
}

// draw decides the fault of one request; ok is false for none.
func (in *Injector) draw() (f Fault, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seen++
	if in.rnd.Float64() >= in.spec.Rate {
		return Fault{}, false
	}
	u := in.rnd.Float64()
	f.Kind = numKinds - 1
	acc := 0.0
	for k, sh := range in.shares {
		acc += sh
		if sh > 0 && u < acc {
			f.Kind = Kind(k)
			break
		}
	}
	for f.Kind > 0 && in.shares[f.Kind] == 0 { // rounding at the top end
		f.Kind--
	}
	f.Pick = in.rnd.Uint64()
	lo := in.opts.MaxLatency / 12
	f.Delay = lo + time.Duration(in.rnd.Int64N(int64(in.opts.MaxLatency-lo)+1))
	f.keep = in.rnd.Float64()
	f.short = in.rnd.IntN(2) == 0
	return f, true
}

func (in *Injector) record(k Kind) {
	in.mu.Lock()
	in.injected[k]++
	in.mu.Unlock()
}

// Seen is the number of requests the injector drew for (faulted or not).
func (in *Injector) Seen() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.seen
}

// Injected is the number of faults injected so far, by kind (kinds with
// none included). A drawn fault that could not apply — a truncation of an
// empty body, a 429 where the CRM would not rate-limit — is served as
// usual and not counted.
func (in *Injector) Injected() map[Kind]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := make(map[Kind]int, numKinds)
	for k, n := range in.injected {
		m[Kind(k)] = n
	}
	return m
}

// Total is the number of faults injected so far.
func (in *Injector) Total() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, c := range in.injected {
		n += c
	}
	return n
}

// Summary reports the faults injected by kind in one line:
// "12 faults in 60 requests: 429=2 5xx_before=3 …".
func (in *Injector) Summary() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var parts []string
	n := 0
	for k, c := range in.injected {
		parts = append(parts, fmt.Sprintf("%s=%d", Kind(k), c))
		n += c
	}
	return fmt.Sprintf("%d faults in %d requests: %s", n, in.seen, strings.Join(parts, " "))
}

// Counts is Injected keyed by kind names, for JSON.
func (in *Injector) Counts() map[string]int {
	m := map[string]int{}
	for k, n := range in.Injected() {
		m[k.String()] = n
	}
	return m
}
