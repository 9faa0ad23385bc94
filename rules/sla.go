package rules

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/ar"
	"github.com/rickar/cal/v2/at"
	"github.com/rickar/cal/v2/au"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/bg"
	"github.com/rickar/cal/v2/br"
	"github.com/rickar/cal/v2/ca"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/cz"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/dk"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/gr"
	"github.com/rickar/cal/v2/hr"
	"github.com/rickar/cal/v2/ie"
	"github.com/rickar/cal/v2/it"
	"github.com/rickar/cal/v2/jp"
	"github.com/rickar/cal/v2/lt"
	"github.com/rickar/cal/v2/lv"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/no"
	"github.com/rickar/cal/v2/nz"
	"github.com/rickar/cal/v2/pl"
	"github.com/rickar/cal/v2/ro"
	"github.com/rickar/cal/v2/ru"
	"github.com/rickar/cal/v2/se"
	"github.com/rickar/cal/v2/si"
	"github.com/rickar/cal/v2/sk"
	"github.com/rickar/cal/v2/ua"
	"github.com/rickar/cal/v2/us"
	"github.com/rickar/cal/v2/za"
)

// calendars maps an ISO 3166 alpha-2 code to the national public holidays of
// github.com/rickar/cal/v2. Australia has no national list there; its
// nation-wide holidays are listed here.
var calendars = map[string][]*cal.Holiday{
	"AR": ar.Holidays, "AT": at.Holidays, "BE": be.Holidays, "BG": bg.Holidays, "BR": br.Holidays,
	"CA": ca.Holidays, "CH": ch.Holidays, "CZ": cz.Holidays, "DE": de.Holidays, "DK": dk.Holidays,
	"ES": es.Holidays, "FR": fr.Holidays, "GB": gb.Holidays, "GR": gr.Holidays, "HR": hr.Holidays,
	"IE": ie.Holidays, "IT": it.Holidays, "JP": jp.Holidays, "LT": lt.Holidays, "LV": lv.Holidays,
	"NL": nl.Holidays, "NO": no.Holidays, "NZ": nz.Holidays, "PL": pl.Holidays, "RO": ro.Holidays,
	"RU": ru.Holidays, "SE": se.Holidays, "SI": si.Holidays, "SK": sk.Holidays, "UA": ua.Holidays,
	"US": us.Holidays, "ZA": za.Holidays,
	"AU": {au.NewYear, au.AustraliaDay, au.GoodFriday, au.EasterMonday, au.AnzacDay, au.ChristmasDay, au.BoxingDay},
}

// Calendars lists the holiday calendars sla.calendar accepts (besides none).
func Calendars() []string {
	out := sortedKeys(calendars)
	slices.Sort(out)
	return out
}

func holidays(code string) ([]*cal.Holiday, bool) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "NONE" {
		return nil, true
	}
	if c == "UK" {
		c = "GB"
	}
	h, ok := calendars[c]
	return h, ok
}

// slaCalendar counts business days on local dates in one time zone, skipping
// weekends and observed public holidays. Holiday dates are computed once per
// year and cached.
type slaCalendar struct {
	loc      *time.Location
	holidays []*cal.Holiday
	days     int

	mu    sync.RWMutex
	years map[int]map[int]bool // year → set of yday that are holidays
}

func newSLACalendar(loc *time.Location, h []*cal.Holiday, days int) *slaCalendar {
	return &slaCalendar{loc: loc, holidays: h, days: days, years: map[int]map[int]bool{}}
}

func (c *slaCalendar) year(y int) map[int]bool {
	c.mu.RLock()
	set, ok := c.years[y]
	c.mu.RUnlock()
	if ok {
		return set
	}
	set = map[int]bool{}
	// A holiday observed in a neighbouring year (New Year's Day on a
	// Saturday observed on 31 December) belongs to the year it falls in.
	for _, yy := range []int{y - 1, y, y + 1} {
		for _, h := range c.holidays {
			if h.Type != cal.ObservancePublic && h.Type != cal.ObservanceBank {
				continue
			}
			actual, observed := h.Calc(yy)
			for _, d := range []time.Time{actual, observed} {
				if !d.IsZero() && d.Year() == y {
					set[d.YearDay()] = true
				}
			}
		}
	}
	c.mu.Lock()
	c.years[y] = set
	c.mu.Unlock()
	return set
}

func (c *slaCalendar) businessDay(y int, m time.Month, d int) bool {
	t := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return !c.year(y)[t.YearDay()]
}

// due adds the configured number of business days to from, counted on local
// dates, keeping the local clock time: Saturday 10:00 + 2 → Tuesday 10:00.
func (c *slaCalendar) due(from time.Time) time.Time {
	local := from.In(c.loc)
	y, m, d := local.Date()
	for n := 0; n < c.days; {
		d++
		t := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
		y, m, d = t.Date()
		if c.businessDay(y, m, d) {
			n++
		}
	}
	h, mi, s := local.Clock()
	return time.Date(y, m, d, h, mi, s, local.Nanosecond(), c.loc).UTC()
}

// SLADue is the instant an answer is owed for a registration that entered a
// waiting status at from: sla.respond_within_business_days business days
// later, in sla.timezone, skipping weekends and the holidays of sla.calendar.
func (p *Policy) SLADue(from time.Time) time.Time {
	return p.sla.due(from)
}

// dayNumber is the number of days from 1970-01-01 to the civil date y-m-d.
func dayNumber(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Unix() / 86400
}

// weekdaysIn counts Monday–Friday days among the day numbers lo..hi
// (inclusive); 0 when hi < lo. Day 0 (1970-01-01) was a Thursday.
func weekdaysIn(lo, hi int64) int64 {
	if hi < lo {
		return 0
	}
	n := hi - lo + 1
	count := n / 7 * 5
	for i := lo + n/7*7; i <= hi; i++ {
		if wd := ((i % 7) + 7 + 4) % 7; wd != 0 && wd != 6 {
			count++
		}
	}
	return count
}

// businessDaysIn counts the business days among the local dates lo..hi
// (day numbers, inclusive): weekdays, less the holidays that fall on one.
func (c *slaCalendar) businessDaysIn(lo, hi int64) int64 {
	if hi < lo {
		return 0
	}
	n := weekdaysIn(lo, hi)
	ylo := time.Unix(lo*86400, 0).UTC().Year()
	yhi := time.Unix(hi*86400, 0).UTC().Year()
	for y := ylo; y <= yhi; y++ {
		for yday := range c.year(y) {
			dn := dayNumber(y, time.January, yday)
			if dn < lo || dn > hi {
				continue
			}
			if wd := ((dn % 7) + 7 + 4) % 7; wd != 0 && wd != 6 {
				n--
			}
		}
	}
	return n
}

// clockShare is how far into its local day t is, by the wall clock, as a
// share of 24 hours: 06:00 is 0.25 whatever daylight saving did that day.
func clockShare(t time.Time) float64 {
	h, m, s := t.Clock()
	return (float64(h*3600+m*60+s) + float64(t.Nanosecond())/1e9) / 86400
}

// between is BusinessDays on this calendar.
func (c *slaCalendar) between(from, to time.Time) float64 {
	if to.Before(from) {
		return -c.between(to, from)
	}
	a, b := from.In(c.loc), to.In(c.loc)
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	if ay == by && am == bm && ad == bd {
		if !c.businessDay(ay, am, ad) {
			return 0
		}
		return max(0, clockShare(b)-clockShare(a))
	}
	var total float64
	if c.businessDay(ay, am, ad) {
		total += 1 - clockShare(a)
	}
	if c.businessDay(by, bm, bd) {
		total += clockShare(b)
	}
	total += float64(c.businessDaysIn(dayNumber(ay, am, ad)+1, dayNumber(by, bm, bd)-1))
	return total
}

// BusinessDays is the time from one instant to another in business days of
// the SLA calendar, fractional: local dates in sla.timezone that are neither
// a Saturday, a Sunday nor a public holiday of sla.calendar each count the
// share of their 24 wall-clock hours that lies between the two instants;
// other dates count nothing. Monday 10:00 → Monday 16:00 is 0.25; Friday
// 10:00 → Monday 10:00 is 1; Saturday → Sunday is 0. It is negative when to
// is before from. For an instant on a business day, BusinessDays(t,
// SLADue(t)) is exactly sla.respond_within_business_days.
func (p *Policy) BusinessDays(from, to time.Time) float64 {
	return p.sla.between(from, to)
}

// IsBusinessDay reports whether t falls, in sla.timezone, on a business day
// of the SLA calendar.
func (p *Policy) IsBusinessDay(t time.Time) bool {
	y, m, d := t.In(p.sla.loc).Date()
	return p.sla.businessDay(y, m, d)
}

// SLALocation is the time zone business days are counted in (sla.timezone).
func (p *Policy) SLALocation() *time.Location { return p.sla.loc }
