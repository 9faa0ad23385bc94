package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The bound tests drive a state file through simulated months of a
// realistic load, through the public API, with the file's clock moved by
// hand and the maintenance run every few simulated hours (the daemon runs
// it hourly; the steady state differs by those hours' entries). fsync is
// off (NoSync): it costs time, not space.

// load is the simulated traffic.
type load struct {
	regsPerDay    float64 // new registrations a day
	partners      int     // partners sent a summary every week
	maintainEvery int     // hours between maintenance runs
}

// sim is a state file under load.
type sim struct {
	tb    testing.TB
	db    *DB
	clock *fakeClock
	rng   *rand.Rand
	load  load

	nextID int
	due    map[int][]step // hour number → steps due then
	hour   int            // hours simulated
	events int            // state operations made
}

// step is a registration's next status change.
type step struct {
	id     int
	status string
	slack  bool
}

func newSim(tb testing.TB, l load) *sim {
	tb.Helper()
	clock := newClock()
	db, err := Open(filepath.Join(tb.TempDir(), "regsync.db"), Options{Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	db.bdb.NoSync = true
	db.bdb.MaxBatchDelay = 0 // one caller at a time: no batch to wait for
	tb.Cleanup(func() { _ = db.Close() })
	return &sim{tb: tb, db: db, clock: clock, rng: rand.New(rand.NewPCG(1, 2)), load: l, due: map[int][]step{}}
}

func (s *sim) must(err error) {
	if err != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
}

// runDays simulates n more days.
func (s *sim) runDays(n int) {
	for range n * 24 {
		s.runHour()
	}
}

func (s *sim) runHour() {
	now := t0.Add(time.Duration(s.hour) * time.Hour)
	s.clock.Advance(now.Sub(s.clock.Now()))
	// New registrations, spread over the day.
	for f := s.load.regsPerDay / 24; f > 0; f-- {
		if f < 1 && s.rng.Float64() >= f {
			break
		}
		s.intake(now)
	}
	for _, st := range s.due[s.hour] {
		s.process(st, now)
	}
	delete(s.due, s.hour)
	// Weekly summaries, Monday 08:00.
	if now.Weekday() == time.Monday && now.Hour() == 8 {
		y, w := now.ISOWeek()
		for p := range s.load.partners {
			key := fmt.Sprintf("summary/partner-%03d/%d-W%02d", p, y, w)
			_, sent, err := s.db.Summaries().Get(key)
			s.must(err)
			if !sent {
				_, _, err := s.db.Remember(key, `{"subject":"Your registrations this week","text":"`+strings.Repeat("x", 600)+`"}`, 21*24*time.Hour)
				s.must(err)
				s.must(s.db.Summaries().Put(key, strconv.FormatInt(now.Unix(), 10)))
				s.events += 2
			}
			s.events++
		}
	}
	if s.hour%s.load.maintainEvery == 0 {
		s.must(s.db.maintain(Maintenance{}).Err)
	}
	s.hour++
}

// intake is a new registration: a held web-form submission confirmed an
// hour later, or one made in Slack, or by another channel.
func (s *sim) intake(now time.Time) {
	s.nextID++
	id := s.nextID
	st := step{id: id, status: "submitted"}
	switch r := s.rng.Float64(); {
	case r < 0.4:
		key := fmt.Sprintf("webform/%d", id)
		for _, ttl := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} { // held, then confirmed (kept as a marker)
			_, err := s.db.ChangeHold(key, now, func(*Hold) (*Hold, error) {
				return &Hold{Key: key, Data: []byte(`{"email":"jo@northwind.example","fields":{"company_domain":"acme.example"}}`), ExpiresAt: now.Add(ttl)}, nil
			})
			s.must(err)
			s.events++
		}
	case r < 0.65:
		st.slack = true
		s.must(s.db.SlackOrigins().Put(strconv.Itoa(id), `{"team_id":"T012AB3C4","channel_id":"C0123456","thread_ts":"1741000000.000100"}`))
		s.events++
	}
	s.process(st, now)
}

// process is one decision on a registration, as the worker makes it: the
// webhook enqueued (and its delivery remembered), the item leased, the
// plan written, the record's fingerprint, the audit entry with the plan's
// step, the item acked; then the next status is scheduled.
func (s *sim) process(st step, now time.Time) {
	it := hs(strconv.Itoa(st.id), "webhook")
	key := hsKey(it.RecordID)
	_, _, err := s.db.Remember(fmt.Sprintf("hubspot/delivery/%d-%s", st.id, st.status), key, 24*time.Hour)
	s.must(err)
	s.must(s.db.Enqueue(it))
	items, err := s.db.Lease(10, time.Minute)
	s.must(err)
	s.must(s.db.PutPlans(Plan{Key: key, Expect: st.status + "|reason|0123456789abcdef0123456789abcdef", Steps: []string{"note", "audit"},
		Data: []byte(`{"from":"submitted","to":"` + st.status + `","trace":[{"name":"required","result":"pass"},{"name":"conflict","result":"pass"}]}`)}))
	s.must(s.db.SetFingerprints(map[string]string{key: st.status + "|reason|0123456789abcdef0123456789abcdef|acme.example|2025-03-03T09:00:00Z"}))
	s.must(s.db.FinishSteps([]string{key}, "note"))
	s.must(s.db.AppendFinishing([]string{key}, "audit", AuditEntry{CRM: "hubspot", Object: "partner_registration", RecordID: it.RecordID,
		CaseNumber: fmt.Sprintf("RS-%06d", st.id), From: "submitted", To: st.status, Reason: "approved", Actor: "regsync",
		Trace: []byte(`[{"name":"required","result":"pass"},{"name":"conflict","result":"pass","detail":"no rival"}]`)}))
	lost, err := s.db.AckAll(items)
	s.must(err)
	if len(lost) > 0 {
		s.tb.Fatalf("lost leases %v", lost)
	}
	s.events += 8
	if st.slack && st.status != "submitted" {
		s.must(s.db.SlackOrigins().Put(it.RecordID, `{"team_id":"T012AB3C4","channel_id":"C0123456","thread_ts":"1741000000.000100","posted":"`+st.status+`"}`))
		s.events++
	}
	next, after := "", 0
	switch st.status {
	case "submitted":
		next, after = "approved", 24+s.rng.IntN(72)
		if s.rng.Float64() < 0.05 { // missed its SLA: escalated, then asked about by sweeps
			esc := "escalated/" + key + "/" + now.Add(48*time.Hour).Format(time.RFC3339)
			ok, err := s.db.Escalations().Keep(esc)
			s.must(err)
			if !ok {
				s.must(s.db.Escalations().Put(esc, now.Add(48*time.Hour).Format(time.RFC3339)))
			}
			s.events += 2
		}
	case "approved":
		next, after = "meeting_booked", 24*(7+s.rng.IntN(30))
	case "meeting_booked":
		next, after = "won", 24*(30+s.rng.IntN(90))
	}
	if next != "" {
		h := s.hour + after
		s.due[h] = append(s.due[h], step{id: st.id, status: next, slack: st.slack})
	}
}

// size is the state file's measure at one moment.
type size struct {
	file  int64          // on disk (grown in steps, never shrunk)
	used  int64          // bbolt's high-water mark: pages ever allocated, free ones included
	free  int            // free pages in it, for reuse
	fpB   int64          // bytes of the pages the fingerprints bucket uses
	count map[string]int // entries per bucket
}

func (s *sim) size() size {
	var z size
	fi, err := os.Stat(s.db.path)
	s.must(err)
	z.file = fi.Size()
	z.free = s.db.bdb.Stats().FreePageN
	z.count = map[string]int{}
	s.must(s.db.bdb.View(func(tx *bolt.Tx) error {
		z.used = tx.Size()
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			z.count[string(name)] = st.KeyN
			if string(name) == string(bucketFingerprints) {
				z.fpB = int64(st.LeafPageN+st.BranchPageN+st.LeafOverflowN+st.BranchOverflowN) * int64(tx.DB().Info().PageSize)
			}
			return nil
		})
	}))
	return z
}

// peakRSS is the process's peak resident set, from /proc (0 elsewhere).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

const month = 30 // days

// TestStateFileStaysBounded is the short version of BenchmarkStateTwoYears:
// a lighter load for 21 months. Once the longest lifetime has passed (a
// Slack origin's 400 days after its registration's last status, which
// comes up to 160 days after its submission), every bucket that expires
// holds about as many entries two months later, and the file grows no
// more than the fingerprints do (one per registration ever written, never
// expired: doc.go).
func TestStateFileStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 21 months")
	}
	s := newSim(t, load{regsPerDay: 2, partners: 10, maintainEvery: 6})
	s.runDays(19 * month)
	a := s.size()
	s.runDays(2 * month)
	b := s.size()
	t.Logf("%d events; month 19: %+v; month 21: %+v", s.events, a, b)
	for _, name := range []string{"audit.v1", "audit_by_record.v1", "idempotency.v1", "holds.v1", "escalations.v1", "summaries.v1", "slack_origins.v1"} {
		if ca, cb := a.count[name], b.count[name]; cb > ca+ca/10+30 { // a plateau, give or take a day of traffic
			t.Errorf("%s grew from %d to %d entries after its lifetime", name, ca, cb)
		}
	}
	for _, name := range []string{"inbox.v1", "plans.v1", "dead.v1"} {
		if b.count[name] != 0 {
			t.Errorf("%s holds %d entries with no work left", name, b.count[name])
		}
	}
	if grew, fp := b.used-a.used, b.fpB-a.fpB; grew > fp+a.used/20 {
		t.Errorf("the file grew %d bytes in two months past the retention; the fingerprints account for %d", grew, fp)
	}
	mustCheck(t, s.db)
}

// BenchmarkStateTwoYears: 1,000,000 state operations over two simulated
// years with the default lifetimes (docs/state.md has the figures):
//
//	go test ./state/ -run '^$' -bench StateTwoYears -benchtime 1x -timeout 30m
func BenchmarkStateTwoYears(b *testing.B) {
	for range b.N {
		s := newSim(b, load{regsPerDay: 41, partners: 100, maintainEvery: 6})
		var sizes []size
		for m := 1; m <= 24; m++ {
			s.runDays(month + map[bool]int{true: 1}[m%2 == 0]) // 365 days a year
			z := s.size()
			sizes = append(sizes, z)
			b.Logf("month %2d: %8d events, file %6.1f MB, used %6.1f MB (%d pages free), fingerprints %5.1f MB, audit %d, slack origins %d, escalations %d",
				m, s.events, mb(z.file), mb(z.used), z.free, mb(z.fpB), z.count["audit.v1"], z.count["slack_origins.v1"], z.count["escalations.v1"])
		}
		last := sizes[len(sizes)-1]
		b.ReportMetric(float64(s.events), "events")
		b.ReportMetric(mb(last.file), "file-MB")
		b.ReportMetric(mb(last.used), "used-MB")
		b.ReportMetric(mb(last.fpB), "fingerprints-MB")
		// From month 18 on every lifetime has passed: what the file
		// still grows by a month, and how much of it is fingerprints.
		m18 := sizes[17]
		b.ReportMetric(mb(last.used-m18.used)/6, "growth-after-m18-MB/month")
		b.ReportMetric(mb(last.fpB-m18.fpB)/6, "fingerprints-growth-MB/month")
		b.ReportMetric(mb(peakRSS()), "peak-RSS-MB")
		if err := s.db.Check(); err != nil {
			b.Fatal(errors.Join(err))
		}
	}
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
