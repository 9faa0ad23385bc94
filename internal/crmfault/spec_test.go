package crmfault

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, canon, describe string
	}{
		{"0.2", "0.2", "20% of requests: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency, equally likely"},
		{" 1 ", "1", "100% of requests: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency, equally likely"},
		{"0", "0", "none (rate 0)"},
		{"0.1,reset_after=1,429=2", "0.1,429=2,reset_after=1", "10% of requests: 429 67%, reset_after 33%"},
		{"0.5, truncate = 1 , latency=0", "0.5,truncate=1,latency=0", "50% of requests: truncate 100%"},
	} {
		sp, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := sp.String(); got != tc.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.canon)
		}
		if got := sp.Describe(); got != tc.describe {
			t.Errorf("Parse(%q).Describe() = %q, want %q", tc.in, got, tc.describe)
		}
		again, err := Parse(sp.String())
		if err != nil || again.String() != sp.String() {
			t.Errorf("round trip of %q: %v %v", tc.in, again, err)
		}
	}
}

// Bad specs are refused with an error that names what is wrong.
func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "empty fault spec (want RATE[,KIND=WEIGHT...], e.g. 0.2 or 0.1,429=2,reset_after=1)",
		"often":               `fault rate "often" is not a number`,
		"NaN":                 `fault rate "NaN" is not a number`,
		"1.5":                 "fault rate 1.5 is not between 0 and 1",
		"-0.1":                "fault rate -0.1 is not between 0 and 1",
		"0.2,429":             `"429" is not KIND=WEIGHT`,
		"0.2,":                `"" is not KIND=WEIGHT`,
		"0.2,=1":              `"=1" is not KIND=WEIGHT`,
		"0.2,timeout=1":       `unknown fault kind "timeout" (kinds: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency)`,
		"0.2,5XX_BEFORE=1":    `unknown fault kind "5XX_BEFORE" (kinds: 429, 5xx_before, 5xx_after, reset_before, reset_after, truncate, latency)`,
		"0.2,429=x":           `429=x: weight "x" is not a number`,
		"0.2,429=Inf":         `429=Inf: weight "Inf" is not a number`,
		"0.2,429=-1":          "429=-1: weight is negative",
		"0.2,429=1,429=2":     "fault kind 429 named twice",
		"0.2,429=0,latency=0": "every fault kind named has weight 0",
	} {
		_, err := Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", in, err, want)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	if Kind(99).String() != "Kind(99)" {
		t.Errorf("Kind(99) = %s", Kind(99))
	}
	applied := map[Kind]bool{ServerErrorAfter: true, ResetAfter: true, Truncate: true, Latency: true}
	for _, k := range Kinds() {
		if k.Applied() != applied[k] {
			t.Errorf("%s.Applied() = %v", k, k.Applied())
		}
	}
}

// One seed draws the same faults in the same order; another seed others.
func TestDrawIsDeterministic(t *testing.T) {
	sp, err := Parse("0.3")
	if err != nil {
		t.Fatal(err)
	}
	seq := func(seed uint64) []Fault {
		in := New(sp, seed, Options{MaxLatency: time.Second})
		var out []Fault
		for range 500 {
			f, ok := in.draw()
			if !ok {
				f = Fault{Kind: -1}
			}
			out = append(out, f)
		}
		return out
	}
	a, b, c := seq(42), seq(42), seq(43)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 42 drew %+v then %+v at request %d", a[i], b[i], i)
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("seeds 42 and 43 drew the same faults")
	}
}

// The rate and the weights are honoured over many requests, within bounds
// a correct source misses with negligible probability.
func TestDrawHonoursRateAndWeights(t *testing.T) {
	const n = 20000
	count := func(spec string) (faults int, by map[Kind]int) {
		sp, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		in := New(sp, 7, Options{MaxLatency: 600 * time.Millisecond})
		by = map[Kind]int{}
		for range n {
			if f, ok := in.draw(); ok {
				faults++
				by[f.Kind]++
				if f.Delay < 50*time.Millisecond || f.Delay > 600*time.Millisecond {
					t.Fatalf("delay %s outside [50ms, 600ms]", f.Delay)
				}
				if f.keep < 0 || f.keep >= 1 {
					t.Fatalf("keep %v", f.keep)
				}
			}
		}
		if in.Seen() != n {
			t.Errorf("Seen %d, want %d", in.Seen(), n)
		}
		return faults, by
	}
	faults, by := count("0.2")
	if faults < 3700 || faults > 4300 { // 4000 ± 5 σ
		t.Errorf("rate 0.2: %d faults in %d", faults, n)
	}
	for _, k := range Kinds() {
		if by[k] < 450 || by[k] > 700 { // 571 each
			t.Errorf("rate 0.2, kinds equally likely: %s %d times", k, by[k])
		}
	}
	faults, by = count("0.5,429=3,reset_after=1")
	if faults < 9700 || faults > 10300 {
		t.Errorf("rate 0.5: %d faults", faults)
	}
	if by[RateLimit]+by[ResetAfter] != faults || by[RateLimit] < 7200 || by[RateLimit] > 7800 {
		t.Errorf("429=3,reset_after=1: %v", by)
	}
	if faults, _ = count("0"); faults != 0 {
		t.Errorf("rate 0: %d faults", faults)
	}
	if faults, by = count("1,latency=1"); faults != n || by[Latency] != n {
		t.Errorf("rate 1, latency only: %d %v", faults, by)
	}
}

func TestSummary(t *testing.T) {
	in := New(Spec{Rate: 1}, 1, Options{})
	in.draw()
	in.record(RateLimit)
	in.record(Truncate)
	in.record(Truncate)
	if got, want := in.Summary(), "3 faults in 1 requests: 429=1 5xx_before=0 5xx_after=0 reset_before=0 reset_after=0 truncate=2 latency=0"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if c := in.Counts(); c["truncate"] != 2 || len(c) != 7 || in.Total() != 3 {
		t.Errorf("Counts() = %v, Total() = %d", c, in.Total())
	}
}
