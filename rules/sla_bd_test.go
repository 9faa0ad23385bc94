package rules

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func slaPolicy(t testing.TB, calendar, tz string, days int) *Policy {
	t.Helper()
	return mustPolicy(t, nil, func(r *Rules) {
		r.SLA.Calendar, r.SLA.Timezone = calendar, tz
		if days > 0 {
			r.SLA.RespondWithinBusinessDays = days
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestBusinessDays(t *testing.T) {
	us := slaPolicy(t, "US", "UTC", 0)
	ny := slaPolicy(t, "US", "America/New_York", 0)
	none := slaPolicy(t, "none", "UTC", 0)
	nyc, _ := time.LoadLocation("America/New_York")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	local := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, nyc) }
	for _, c := range []struct {
		name     string
		p        *Policy
		from, to time.Time
		want     float64
	}{
		{"same instant", us, at("2026-03-02T10:00:00Z"), at("2026-03-02T10:00:00Z"), 0},
		{"six hours on a Monday", us, at("2026-03-02T10:00:00Z"), at("2026-03-02T16:00:00Z"), 0.25},
		{"Monday to Wednesday same clock", us, at("2026-03-02T10:00:00Z"), at("2026-03-04T10:00:00Z"), 2},
		// Fri 10:00 → 14/24 of Friday, nothing on the weekend, 10/24 of Monday.
		{"over a weekend", us, at("2026-03-06T10:00:00Z"), at("2026-03-09T10:00:00Z"), 1},
		{"inside a weekend", us, at("2026-03-07T08:00:00Z"), at("2026-03-08T20:00:00Z"), 0},
		// Sat 10:00 → Mon 12:00: only Monday's first half counts.
		{"from a Saturday", us, at("2026-03-07T10:00:00Z"), at("2026-03-09T12:00:00Z"), 0.5},
		// 2025-07-04 (Friday) is Independence Day: Thu 12:00 → Mon 12:00 = 0.5 + 0 + 0 + 0 + 0.5.
		{"over a holiday", us, at("2025-07-03T12:00:00Z"), at("2025-07-07T12:00:00Z"), 1},
		{"holiday calendar none", none, at("2025-07-03T12:00:00Z"), at("2025-07-07T12:00:00Z"), 2},
		// 2026-01-01 (Thu) New Year; 2025-12-25 (Thu) Christmas. 2025-12-22 Mon 00:00 → 2026-01-05 Mon 00:00:
		// 10 weekdays less 2 holidays.
		{"two weeks over the holidays", us, at("2025-12-22T00:00:00Z"), at("2026-01-05T00:00:00Z"), 8},
		// A year: 2025-01-06 (Mon) → 2026-01-05 (Mon) has 52 weeks = 260 weekdays; US federal
		// holidays observed on weekdays in that span: MLK, Presidents, Memorial, Juneteenth, July 4,
		// Labor, Columbus, Veterans (Tue 11 Nov), Thanksgiving, Christmas, New Year 2026 = 11.
		{"a year", us, at("2025-01-06T00:00:00Z"), at("2026-01-05T00:00:00Z"), 260 - 11},
		{"backwards is negative", us, at("2026-03-04T10:00:00Z"), at("2026-03-02T10:00:00Z"), -2},
		// Daylight saving starts Sunday 2026-03-08 in New York: wall clocks count, not elapsed hours.
		{"over a DST change", ny, local(2026, 3, 6, 10), local(2026, 3, 9, 10), 1},
		// 12:00 UTC is 07:00 in New York (EST) on 2 March 2026.
		{"in the SLA time zone", ny, at("2026-03-02T12:00:00Z"), at("2026-03-02T18:00:00Z"), 0.25},
	} {
		if got := c.p.BusinessDays(c.from, c.to); !near(got, c.want) {
			t.Errorf("%s: BusinessDays(%s, %s) = %v, want %v", c.name, c.from, c.to, got, c.want)
		}
	}
}

func TestIsBusinessDay(t *testing.T) {
	us := slaPolicy(t, "US", "America/New_York", 0)
	for _, c := range []struct {
		at   string
		want bool
	}{
		{"2026-03-02T15:00:00Z", true},  // Monday
		{"2026-03-07T15:00:00Z", false}, // Saturday
		{"2025-07-04T15:00:00Z", false}, // Independence Day
		{"2026-03-03T03:00:00Z", true},  // 22:00 Monday in New York, Tuesday in UTC
		{"2026-03-07T03:00:00Z", true},  // 22:00 Friday in New York, Saturday in UTC
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		if got := us.IsBusinessDay(at); got != c.want {
			t.Errorf("IsBusinessDay(%s) = %v, want %v", c.at, got, c.want)
		}
	}
	if got := us.SLALocation().String(); got != "America/New_York" {
		t.Errorf("SLALocation = %s", got)
	}
}

// naiveBusinessDays walks the dates one by one.
func naiveBusinessDays(p *Policy, from, to time.Time) float64 {
	a, b := from.In(p.sla.loc), to.In(p.sla.loc)
	total := 0.0
	for d := time.Date(a.Year(), a.Month(), a.Day(), 12, 0, 0, 0, time.UTC); ; d = d.AddDate(0, 0, 1) {
		y, m, dd := d.Date()
		if y > b.Year() || (y == b.Year() && (m > b.Month() || (m == b.Month() && dd > b.Day()))) {
			break
		}
		if !p.sla.businessDay(y, m, dd) {
			continue
		}
		lo, hi := 0.0, 1.0
		if y == a.Year() && m == a.Month() && dd == a.Day() {
			lo = clockShare(a)
		}
		if y == b.Year() && m == b.Month() && dd == b.Day() {
			hi = clockShare(b)
		}
		total += max(0, hi-lo)
	}
	return total
}

func TestBusinessDaysMatchesDayByDay(t *testing.T) {
	policies := []*Policy{slaPolicy(t, "US", "UTC", 0), slaPolicy(t, "DE", "Europe/Berlin", 0), slaPolicy(t, "GB", "Europe/London", 0)}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(rt *rapid.T) {
		p := policies[rapid.IntRange(0, len(policies)-1).Draw(rt, "policy")]
		from := base.Add(time.Duration(rapid.Int64Range(0, 3*365*24*3600).Draw(rt, "from")) * time.Second)
		to := from.Add(time.Duration(rapid.Int64Range(0, 900*24*3600).Draw(rt, "span")) * time.Second)
		got, want := p.BusinessDays(from, to), naiveBusinessDays(p, from, to)
		if !near(got, want) {
			rt.Fatalf("BusinessDays(%s, %s) = %v, day by day %v", from, to, got, want)
		}
		if back := p.BusinessDays(to, from); !near(back, -got) {
			rt.Fatalf("BusinessDays backwards = %v, want %v", back, -got)
		}
	})
}

// An answer exactly at the SLA deadline took exactly the SLA's business days
// when the clock started on a business day.
func TestBusinessDaysToSLADue(t *testing.T) {
	policies := map[int]*Policy{}
	for _, n := range []int{1, 2, 5, 10} {
		policies[n] = slaPolicy(t, "US", "America/New_York", n)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.SampledFrom([]int{1, 2, 5, 10}).Draw(rt, "days")
		p := policies[n]
		from := base.Add(time.Duration(rapid.Int64Range(0, 2*365*24*3600).Draw(rt, "from")) * time.Second)
		if !p.IsBusinessDay(from) {
			rt.Skip("not a business day")
		}
		due := p.SLADue(from)
		if from.In(p.sla.loc).Hour() != due.In(p.sla.loc).Hour() {
			rt.Skip("the clock time does not exist on the due date (DST gap)")
		}
		if got := p.BusinessDays(from, due); !near(got, float64(n)) {
			rt.Fatalf("BusinessDays(%s, SLADue = %s) = %v, want %d", from, due, got, n)
		}
	})
}

func BenchmarkBusinessDays(b *testing.B) {
	p := slaPolicy(b, "US", "America/New_York", 0)
	from := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	to := from.Add(9*24*time.Hour + 5*time.Hour)
	for b.Loop() {
		p.BusinessDays(from, to)
	}
}
