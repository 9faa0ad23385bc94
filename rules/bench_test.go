package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/regsync/regsync/registration"
)

// benchPolicy has 100 territories of 3 countries each (generated two-letter
// codes) and three partners; the registration under test routes to the
// last territory, so the territory check does its full work.
func benchPolicy(b *testing.B) *Policy {
	b.Helper()
	r := DefaultRules()
	r.Caps.ActivePerPartner = 50
	r.Blocked.Domains = []string{"initech.example", "umbrella.example"}
	for i := range 100 {
		var cs []string
		for j := range 3 {
			n := i*3 + j
			cs = append(cs, string([]byte{byte('A' + n/26%26), byte('A' + n%26)}))
		}
		r.Territories = append(r.Territories, Territory{
			Name: fmt.Sprintf("t%03d", i), Countries: cs, Regions: []string{fmt.Sprintf("region-%d", i)}, Owner: fmt.Sprintf("ae-%d", i),
		})
	}
	p, err := NewPolicy(testPartners, r)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchRivals are 1,000 other registrations on the same registrable domain
// or the same company name, as a connector would gather them: a realistic
// mix of history (expired, declined, withdrawn, won, lost), other partners'
// approvals whose windows have passed, and later pending registrations —
// nothing that stops the registration, so every check runs and every rival
// is examined.
func benchRivals(now time.Time) []registration.Record {
	out := make([]registration.Record, 1000)
	partners := []string{"fabrikam", "contoso", "northwind"}
	for i := range out {
		r := registration.Record{
			CaseNumber:  fmt.Sprintf("R-%d", 1000+i),
			PartnerID:   partners[i%3],
			CompanyName: "Globex Corporation",
			SubmittedAt: now.Add(-time.Duration(1000-i) * time.Hour),
			Segment:     "smb",
		}
		if i%2 == 0 {
			r.CompanyDomain = fmt.Sprintf("https://dept%d.globex.example/", i)
		} else {
			r.CompanyDomain = fmt.Sprintf("globex-%d.example", i)
		}
		switch i % 7 {
		case 0:
			r.Status = registration.StatusExpired
		case 1:
			r.Status = registration.StatusDeclined
		case 2:
			r.Status = registration.StatusWithdrawn
		case 3:
			r.Status = registration.StatusLost
		case 4:
			r.Status = registration.StatusWon
		case 5: // another partner's approval whose window has passed
			r.Status, r.PartnerID = registration.StatusApproved, "fabrikam"
			r.HoldUntil = now.Add(-time.Hour)
			r.CompanyDomain = fmt.Sprintf("sales%d.globex.example", i)
		case 6: // pending, but submitted after the registration under test
			r.Status, r.PartnerID = registration.StatusSubmitted, "contoso"
			r.SubmittedAt = now.Add(time.Duration(i) * time.Second)
		}
		r.Index()
		out[i] = r
	}
	return out
}

// BenchmarkDecide measures one decision for a registration against 1,000
// other registrations and 100 territories. Compare runs with benchstat.
func BenchmarkDecide(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.Country = p.Rules.Territories[99].Countries[2]
	rec.SubmittedAt = now.Add(-time.Minute)
	facts := Facts{Registrations: benchRivals(now), PartnerActive: 12, OpenDeals: []Deal{{ID: "d-1", PartnerID: "northwind"}}}
	d := Decide(p, &rec, facts, now)
	if d.Status != registration.StatusApproved || d.Territory != "t099" {
		b.Fatalf("benchmark registration must pass every check: %s %s %s", d.Status, d.Reason, d.Territory)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d = Decide(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	_ = d
}

// BenchmarkDecideUnindexed is the same decision when the rivals arrive
// without their match keys (Decide then normalises each one itself): the
// cost Index saves.
func BenchmarkDecideUnindexed(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.SubmittedAt = now.Add(-time.Minute)
	rivals := benchRivals(now)
	for i := range rivals {
		rivals[i].DomainKey, rivals[i].NameKey = "", ""
	}
	facts := Facts{Registrations: rivals}
	b.ReportAllocs()
	for b.Loop() {
		Decide(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkSweep is the cron's per-registration cost.
func BenchmarkSweep(b *testing.B) {
	p := benchPolicy(b)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.Status, rec.StatusReason = registration.StatusApproved, ReasonApproved
	rec.HoldUntil, rec.MeetingDue = now.Add(48*time.Hour), now.Add(24*time.Hour)
	facts := Facts{Registrations: benchRivals(now)}
	b.ReportAllocs()
	for b.Loop() {
		Sweep(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sweeps/s")
}

// BenchmarkDecideFirstMeetingWins is BenchmarkDecide under the
// first_meeting_wins policy, where approvals may race for the first meeting.
func BenchmarkDecideFirstMeetingWins(b *testing.B) {
	p := benchPolicy(b)
	r := p.Rules
	r.Conflict.Policy = FirstMeetingWins
	p, err := NewPolicy(testPartners, r)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	rec := clean()
	rec.Country = p.Rules.Territories[99].Countries[2]
	rec.SubmittedAt = now.Add(-time.Minute)
	facts := Facts{Registrations: benchRivals(now), PartnerActive: 12, OpenDeals: []Deal{{ID: "d-1", PartnerID: "northwind"}}}
	if d := Decide(p, &rec, facts, now); d.Status != registration.StatusApproved {
		b.Fatalf("benchmark registration must pass every check: %s %s", d.Status, d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(p, &rec, facts, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// scanReference is scan as it was before the sieve and the cached status
// codes, kept verbatim as the specification the fast scan must match.
func scanReference(x *decider, key, name string) scanResult {
	var s scanResult
	r, p, now := x.r, x.p, x.now
	me := r.Place()
	if me.At.IsZero() {
		me.At = now
	}
	earlier := func(o *registration.Record) bool { return o.Place().Before(me) }
	meetingWins := p.conflict == conflictFirstMeeting
	split := p.conflict == conflictSplit
	splitOn := p.Rules.Conflict.SplitOn
	regs := x.f.Registrations
	for i := range regs {
		o := &regs[i]
		c := classify(o.Status)
		if c == clsClosed {
			continue // expired, declined, withdrawn, won and lost never conflict
		}
		if c == clsPending && o.Status == registration.StatusAppealed && !AppealHoldsLine(o) {
			continue
		}
		ok := o.DomainKey
		if ok == "" && o.CompanyDomain != "" {
			ok = domainKey(o.CompanyDomain)
		}
		samePartner := o.PartnerID == r.PartnerID
		if key == "" || ok != key {
			// Another domain: only a possible duplicate by name, from
			// another partner's active registration.
			if samePartner || c == clsConverted || s.sameName != nil || name == "" {
				continue
			}
			on := o.NameKey
			if on == "" {
				on = registration.CompanyKey(o.CompanyName)
			}
			if on == name && !x.self(o) && (protects(c, o, false, now) || earlier(o)) {
				s.sameName = o
			}
			continue
		}
		if samePartner {
			if s.duplicate == nil && !x.self(o) && (protects(c, o, false, now) || earlier(o)) {
				s.duplicate = o
			}
			continue
		}
		if split {
			a, b := splitValue(r, splitOn), splitValue(o, splitOn)
			if a != "" && b != "" && !strings.EqualFold(a, b) {
				continue
			}
		}
		switch {
		case c == clsPending:
			if earlier(o) && !x.self(o) && (s.pending == nil || o.Place().Before(s.pending.Place())) {
				s.pending = o
			}
		case protects(c, o, meetingWins, now):
			if s.protector == nil && !x.self(o) {
				s.protector = o
			}
		case meetingWins && c == clsApproved && open(o.HoldUntil, now) && open(o.MeetingDue, now):
			if o.CaseNumber != "" && !x.self(o) {
				s.racing = append(s.racing, o.CaseNumber)
			}
		}
	}
	return s
}

// The status class scan reads through StatusCode is classify's, for every
// status and any other text, whether the record was indexed or not, and
// after Status changed (to another value, or to an equal string elsewhere
// in memory).
func TestStatusClassMatchesClassify(t *testing.T) {
	for i, s := range registration.Statuses {
		if got := s.Code(); got != uint8(i+1) {
			t.Errorf("%q.Code() = %d, want %d (its position in Statuses plus one)", s, got, i+1)
		}
	}
	statuses := append([]registration.Status{"", "Approved", "APPROVED", " approved", "approved ", "approve", "approvedx",
		"submitted\x00", "meeting-booked", "in review", "converted!"}, registration.Statuses...)
	check := func(t *rapid.T, r *registration.Record, what string) {
		if got, want := classByCode[r.StatusCode()], classify(r.Status); got != want {
			t.Fatalf("%s: class of %q through StatusCode = %d, classify = %d", what, r.Status, got, want)
		}
		if !r.Status.Valid() && r.Status.Code() != 0 {
			t.Fatalf("%q.Code() = %d, want 0 for a string that is not a status", r.Status, r.Status.Code())
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.OneOf(rapid.SampledFrom(statuses), rapid.Map(rapid.String(), func(s string) registration.Status { return registration.Status(s) }))
		r := registration.Record{Status: gen.Draw(t, "status"), CompanyDomain: "globex.example", CompanyName: "Globex"}
		check(t, &r, "not indexed")
		r.Index()
		check(t, &r, "indexed")
		cp := r
		check(t, &cp, "copy of an indexed record")
		r.Status = gen.Draw(t, "new status")
		check(t, &r, "status changed after Index")
		r.Status = registration.Status(strings.Clone(string(r.Status)))
		check(t, &r, "equal status assigned after Index")
		if err := r.Set("status", strings.ToUpper(string(gen.Draw(t, "set status")))); err != nil {
			t.Fatal(err)
		}
		check(t, &r, "status Set after Index")
	})
}

// CompanyHost is NormalizeDomain(CompanyDomain), indexed or not, and after
// CompanyDomain changed.
func TestCompanyHostMatchesNormalizeDomain(t *testing.T) {
	domains := []string{"", "globex.example", "https://EU.Globex.example/x", "www.globex.co.uk", "jane@Bücher.example",
		"localhost", "1.2.3.4", "javascript:alert(1)", "globex .example", "co.uk", " globex.example "}
	check := func(t *rapid.T, r *registration.Record, what string) {
		host, err := r.CompanyHost()
		want, wantErr := registration.NormalizeDomain(r.CompanyDomain)
		if host != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%s: CompanyHost(%q) = %q, %v; NormalizeDomain = %q, %v", what, r.CompanyDomain, host, err, want, wantErr)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.OneOf(rapid.SampledFrom(domains), rapid.String())
		r := registration.Record{CompanyDomain: gen.Draw(t, "domain")}
		check(t, &r, "not indexed")
		r.Index()
		check(t, &r, "indexed")
		r.CompanyDomain = gen.Draw(t, "new domain")
		check(t, &r, "domain changed after Index")
		r.CompanyDomain = strings.Clone(r.CompanyDomain)
		check(t, &r, "equal domain assigned after Index")
	})
}

func TestZeroUnix(t *testing.T) {
	if got := (time.Time{}).Unix(); got != zeroUnix {
		t.Fatalf("time.Time{}.Unix() = %d, zeroUnix = %d", got, zeroUnix)
	}
}

// scan with its sieve finds exactly what scanReference finds, whatever the
// rivals: statuses (indexed, changed since, or not statuses at all),
// partners, keys present or not, instants tied to the second or the
// nanosecond, zero, or carrying a monotonic clock reading; under every
// conflict policy.
func TestScanMatchesReference(t *testing.T) {
	base := time.Date(2026, 3, 2, 15, 0, 0, 500, time.UTC)
	mono := time.Now() // carries a monotonic reading
	instants := func(t *rapid.T, label string, around time.Time) time.Time {
		return rapid.SampledFrom([]time.Time{
			{}, around, around.Add(time.Nanosecond), around.Add(-time.Nanosecond), around.Add(time.Second),
			around.Add(-time.Second), around.Add(-time.Second + time.Nanosecond), around.Add(time.Second - time.Nanosecond),
			around.Add(72 * time.Hour), around.Add(-72 * time.Hour), mono, mono.Add(time.Second), mono.Add(-time.Second),
			mono.Round(0), base, base.Truncate(time.Second), base.Truncate(time.Second).Add(time.Second),
			time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
			time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), // before the zero time
			around.In(time.FixedZone("X", 3600)),
		}).Draw(t, label)
	}
	statuses := append([]registration.Status{"", "Approved", "bogus"}, registration.Statuses...)
	rapid.Check(t, func(t *rapid.T) {
		rules := DefaultRules()
		rules.Conflict.Policy = rapid.SampledFrom([]string{FirstApprovedWins, FirstMeetingWins, SplitBySegment}).Draw(t, "policy")
		rules.Conflict.SplitOn = rapid.SampledFrom([]string{"segment", "product_interest"}).Draw(t, "split_on")
		p, err := NewPolicy(testPartners, rules)
		if err != nil {
			t.Fatal(err)
		}
		now := rapid.SampledFrom([]time.Time{base, base.Truncate(time.Second), mono}).Draw(t, "now")
		now = now.UTC() // as Decide does
		r := registration.Record{
			CaseNumber: rapid.SampledFrom([]string{"R-100", "", "R-7"}).Draw(t, "case"),
			ID:         rapid.SampledFrom([]string{"", "id-1"}).Draw(t, "id"),
			PartnerID:  "northwind", Status: registration.StatusSubmitted,
			CompanyDomain: rapid.SampledFrom([]string{"globex.example", "sales.globex.example", "not a domain", ""}).Draw(t, "domain"),
			CompanyName:   rapid.SampledFrom([]string{"Globex Corporation", "Globex", ""}).Draw(t, "name"),
			SubmittedAt:   instants(t, "mine", now),
			Segment:       rapid.SampledFrom([]string{"", "smb", "SMB ", "enterprise"}).Draw(t, "segment"),
		}
		r.Index()
		n := rapid.IntRange(0, 30).Draw(t, "rivals")
		regs := make([]registration.Record, n)
		for i := range regs {
			o := registration.Record{
				Status:          rapid.SampledFrom(statuses).Draw(t, "status"),
				CaseNumber:      rapid.SampledFrom([]string{"R-100", "R-99", "R-101", "R-1000", "", "X-1"}).Draw(t, "rival case"),
				ID:              rapid.SampledFrom([]string{"", "id-1", "id-2"}).Draw(t, "rival id"),
				PartnerID:       rapid.SampledFrom([]string{"northwind", "fabrikam", "contoso", "", "northwinds"}).Draw(t, "partner"),
				CompanyDomain:   rapid.SampledFrom([]string{"globex.example", "eu.globex.example", "https://globex.example/", "initech.example", "", "bad domain"}).Draw(t, "rival domain"),
				CompanyName:     rapid.SampledFrom([]string{"Globex Corporation", "The Globex Corp.", "Initech", ""}).Draw(t, "rival name"),
				SubmittedAt:     instants(t, "submitted", r.SubmittedAt),
				HoldUntil:       instants(t, "hold", now),
				MeetingDue:      instants(t, "meeting_due", now),
				FirstMeetingAt:  instants(t, "first_meeting", now),
				Segment:         rapid.SampledFrom([]string{"", "smb", "Smb", "enterprise"}).Draw(t, "rival segment"),
				ProductInterest: rapid.SampledFrom([]string{"", "crm", "erp"}).Draw(t, "product"),
			}
			switch rapid.IntRange(0, 3).Draw(t, "indexing") {
			case 0: // not indexed
			case 1:
				o.Index()
			case 2: // indexed, then the status changed
				o.Index()
				o.Status = rapid.SampledFrom(statuses).Draw(t, "status after index")
			case 3: // indexed, then the domain changed (DomainKey is stale)
				o.Index()
				o.CompanyDomain = "initech.example"
			}
			regs[i] = o
		}
		x := &decider{p: p, r: &r, f: Facts{Registrations: regs}, now: now}
		key := r.DomainKey
		if rapid.Bool().Draw(t, "unindexed registration") {
			key = domainKey(r.CompanyDomain)
		}
		got, want := x.scan(key, r.NameKey), scanReference(x, key, r.NameKey)
		name := func(o *registration.Record) string {
			if o == nil {
				return "none"
			}
			for i := range regs {
				if o == &regs[i] {
					return fmt.Sprintf("rival %d", i)
				}
			}
			return "a record that is not a rival"
		}
		for _, f := range []struct {
			what      string
			got, want *registration.Record
		}{
			{"duplicate", got.duplicate, want.duplicate},
			{"protector", got.protector, want.protector},
			{"pending", got.pending, want.pending},
			{"same name", got.sameName, want.sameName},
		} {
			if f.got != f.want {
				t.Fatalf("%s: scan found %s, the reference %s", f.what, name(f.got), name(f.want))
			}
		}
		if !slices.Equal(got.racing, want.racing) {
			t.Fatalf("racing: scan found %q, the reference %q", got.racing, want.racing)
		}
	})
}

// The sieve leaves later pending rivals to scan when the registration's
// submission carries a monotonic clock reading: time.Time.Compare may then
// use the monotonic clocks, which disagree with the wall clocks once the
// wall clock was stepped between the two readings.
func TestSieveMonotonicSubmission(t *testing.T) {
	mine := time.Now()
	later := []registration.Record{{Status: registration.StatusSubmitted, SubmittedAt: mine.Add(time.Hour)}}
	later[0].Index()
	sv := newSieve("globex.example", "northwind", t0, mine, false)
	if !sv.mineMono || sv.next(later, 0) != 0 {
		t.Errorf("monotonic submission: mineMono = %v, next = %d; want true, 0", sv.mineMono, sv.next(later, 0))
	}
	sv = newSieve("globex.example", "northwind", t0, mine.Round(0), false)
	if sv.mineMono || sv.next(later, 0) != 1 {
		t.Errorf("wall-clock submission: mineMono = %v, next = %d; want false, 1", sv.mineMono, sv.next(later, 0))
	}
}

// A trace longer than decide's stack buffer keeps every detail whole.
func TestDecideLongTrace(t *testing.T) {
	p := mustPolicy(t, testPartners, func(r *Rules) {
		r.Territories = []Territory{{Name: "na", Countries: []string{"US"}, Owner: "ae-na"}}
	})
	rec := clean()
	rec.CompanyName = strings.Repeat("Globex Holdings ", 100)
	rec.Country, rec.Region = "ZZ", strings.Repeat("north ", 100)
	rec.Index()
	d := Decide(p, &rec, Facts{}, t0)
	if d.Reason != ReasonNoTerritory {
		t.Fatalf("reason = %s", d.Reason)
	}
	want := map[string]string{
		"required":           "8 required fields present",
		"partner":            "northwind is an active partner",
		"blocked":            "globex.example is not blocked",
		"possible_duplicate": `no other partner's active registration named "` + rec.NameKey + `"`,
		"cap":                "no cap configured",
		"territory":          `no territory matches country "ZZ" / region "` + rec.Region + `"`,
	}
	for _, c := range d.Trace {
		if w, ok := want[c.Name]; ok && c.Detail != w {
			t.Errorf("%s detail = %q\nwant %q", c.Name, c.Detail, w)
		}
		delete(want, c.Name)
	}
	if len(want) > 0 {
		t.Errorf("checks missing from the trace: %v", want)
	}
}
