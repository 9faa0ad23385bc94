package registration

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPlaceBefore(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		a, b Place
		want bool
	}{
		{"earlier instant", Place{At: t0}, Place{At: t0.Add(time.Millisecond)}, true},
		{"later instant", Place{At: t0.Add(time.Second)}, Place{At: t0}, false},
		{"no submitted_at predates", Place{}, Place{At: t0}, true},
		{"after one without", Place{At: t0}, Place{}, false},
		{"same instant: regsync's acceptance order", Place{At: t0, Seq: 5, ID: "9"}, Place{At: t0, Seq: 6, ID: "1"}, true},
		{"same instant: CRM-created before regsync's", Place{At: t0, ID: "900"}, Place{At: t0, Seq: 1, ID: "1"}, true},
		{"same instant and seq: numeric ids", Place{At: t0, ID: "99"}, Place{At: t0, ID: "100"}, true},
		{"same instant and seq: Salesforce ids", Place{At: t0, ID: "a0B000000000002AAA"}, Place{At: t0, ID: "a0B000000000010AAA"}, true},
		{"no ids: case numbers naturally", Place{At: t0, Case: "R-9"}, Place{At: t0, Case: "R-10"}, true},
		{"same registration", Place{At: t0, ID: "1", Case: "R-1"}, Place{At: t0, ID: "1", Case: "R-1"}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Before(tt.b); got != tt.want {
			t.Errorf("%s: %+v.Before(%+v) = %v; want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPlaceIsATotalOrder: for random places, Before is irreflexive,
// asymmetric and transitive, and sorting by it is the same whatever the
// input order — two registrations are never earlier than each other.
func TestPlaceIsATotalOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	var ps []Place
	for i := range 60 {
		p := Place{Case: "R-" + string(rune('A'+rng.IntN(3))) + itoa(rng.IntN(12))}
		if rng.IntN(5) > 0 {
			p.At = t0.Add(time.Duration(rng.IntN(3)) * time.Second)
		}
		if rng.IntN(2) == 0 {
			p.Seq = float64(rng.IntN(4))
		}
		if rng.IntN(4) > 0 {
			p.ID = itoa(rng.IntN(15) * (1 + 9*rng.IntN(2)))
		}
		_ = i
		ps = append(ps, p)
	}
	for _, a := range ps {
		if a.Before(a) {
			t.Fatalf("seed %d: %+v before itself", seed, a)
		}
		for _, b := range ps {
			if a != b && a.Before(b) && b.Before(a) {
				t.Fatalf("seed %d: %+v and %+v are each before the other", seed, a, b)
			}
			for _, c := range ps {
				if a.Before(b) && b.Before(c) && !a.Before(c) && a != c {
					t.Fatalf("seed %d: not transitive: %+v < %+v < %+v", seed, a, b, c)
				}
			}
		}
	}
	sorted := func(in []Place) []Place {
		out := slices.Clone(in)
		slices.SortStableFunc(out, func(x, y Place) int {
			switch {
			case x.Before(y):
				return -1
			case y.Before(x):
				return 1
			}
			return 0
		})
		return out
	}
	want := sorted(ps)
	for range 5 {
		sh := slices.Clone(ps)
		rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		got := sorted(sh)
		for i := range got {
			if !got[i].At.Equal(want[i].At) || got[i].Seq != want[i].Seq || got[i].ID != want[i].ID || got[i].Case != want[i].Case {
				t.Fatalf("seed %d: sorting depends on the input order at %d: %+v vs %+v", seed, i, got[i], want[i])
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestNaturalLess(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"R-9", "R-10", true}, {"R-10", "R-9", false}, {"R-10", "R-10", false},
		{"A-1", "B-0", true}, {"", "R-1", true}, {"R-x", "R-1", false},
		{"99", "100", true}, {"100", "99", false}, {"R-09", "R-9", true}, {"R-9", "R-09", false},
	} {
		if got := naturalLess(tt.a, tt.b); got != tt.want {
			t.Errorf("naturalLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
