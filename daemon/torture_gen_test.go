package daemon

// The torture test's generator: from a seed, the parameters of one run
// and its plan — companies, registrations (who, which company, by which
// path, eligible or not, when), AE actions and kills — all drawn from one
// random source, so a seed names the same plan every time.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// torturePolicies are the conflict policies the runs take in turn.
var torturePolicies = []string{rules.FirstApprovedWins, rules.SplitBySegment, rules.FirstMeetingWins}

// tPartner is a partner of the torture policy.
type tPartner struct {
	id, name, domain string
	active           bool
}

var torturePartners = []tPartner{
	{"northwind", "Northwind Consulting", "northwind.example", true},
	{"fabrikam", "Fabrikam Partners", "fabrikam.example", true},
	{"contoso", "Contoso SI", "contoso.example", true},
	{"litware", "Litware Resellers", "litware.example", true},
	{"oldco", "Old Co", "oldco.example", false},
}

// torturePolicyYAML is the partners and rules of a run: every partner in
// the list with its e-mail domain, territories that leave some countries
// unassigned — approved all the same, so that every channel (the web form
// has no country) can win a company.
func torturePolicyYAML(policy string) string {
	var b strings.Builder
	b.WriteString("partners:\n")
	for _, p := range torturePartners {
		fmt.Fprintf(&b, "  - {id: %s, name: %s, email_domains: [%s], active: %t}\n", p.id, p.name, p.domain, p.active)
	}
	fmt.Fprintf(&b, `rules:
  conflict: {policy: %s, split_on: segment}
  territories:
    - {name: na, countries: [US, CA], owner: ae-na}
    - {name: emea, countries: [DE, FR, GB, NL], owner: ae-emea}
  unassigned: approve
  hold_window: {days: 60, meeting_within_days: 14, extend_on_meeting_days: 30, max_days: 180}
`, policy)
	return b.String()
}

// Paths a registration arrives by.
const (
	pathCRM     = "crm"     // created in the CRM as a HubSpot form or an AE would: no case number, no submitted_at
	pathWebForm = "webform" // POST /register
	pathEmail   = "email"   // POST /intake/email
	pathImport  = "import"  // a row of a CSV given to `regsync import`
)

// tortureParams are the knobs of one run, drawn from its seed.
type tortureParams struct {
	policy      string
	webhooks    bool
	batchSize   int
	concurrency int
	searchLag   time.Duration // HubSpot only
	faults      string        // crmfault spec of the fake in front of the daemon ("": none)
	pollSettle  time.Duration // HubSpot only
	// searchPerSec is the HubSpot connector's client-side search limit,
	// lifted from HubSpot's 4 a second (which would make a run of a few
	// hundred registrations take minutes) to a few tens.
	searchPerSec int
}

func (p tortureParams) String() string {
	s := fmt.Sprintf("policy %s, webhooks %t, batch_size %d, concurrency %d", p.policy, p.webhooks, p.batchSize, p.concurrency)
	if p.pollSettle > 0 {
		s += fmt.Sprintf(", search lag %s (poll_settle %s), %d searches/s", p.searchLag, p.pollSettle, p.searchPerSec)
	}
	if p.faults != "" {
		s += fmt.Sprintf(", faults %s", p.faults)
	}
	return s
}

// tCompany is a prospect: a registrable domain and the hosts partners
// write for it (eu.acme.example ~ acme.example).
type tCompany struct {
	name   string
	domain string
	hosts  []string
}

// tReg is one registration the generator plans.
type tReg struct {
	n       int // its number in the run; its problem text carries "Torture g<n>:"
	path    string
	kind    string
	partner tPartner
	company int
	host    string // the company_domain written
	segment string
	country string
	at      time.Duration // when it arrives, from the run's start
}

// The actions of AEs in the CRM.
const (
	aeApprove = "approve" // an in_review registration approved by hand
	aeDecline = "decline" // an active registration declined by hand
	aeMeeting = "meeting" // first_meeting_at logged on an approved one
)

type tAE struct {
	at     time.Duration
	action string
}

// tImport is one run of `regsync import`: a few rows at once.
type tImport struct {
	at   time.Duration
	regs []int // indexes into tPlan.regs
}

type tPlan struct {
	params    tortureParams
	companies []tCompany
	regs      []tReg
	imports   []tImport
	aes       []tAE
	kills     []time.Duration
	window    time.Duration // arrivals happen within it
}

var tortureNames = []string{"Quasar", "Umber", "Vantage", "Willow", "Xylo", "Yarrow", "Zenith", "Argon", "Basalt", "Cobalt", "Dunmore", "Ember"}

// genCompanies makes m companies; every fifth one shares its normalised
// name with the one before, on another domain ("Umber 3" ~ "Umber 3, Inc.").
func genCompanies(rng *rand.Rand, m int) []tCompany {
	cs := make([]tCompany, m)
	for i := range cs {
		name := fmt.Sprintf("%s %d Systems", tortureNames[rng.IntN(len(tortureNames))], i)
		if i%5 == 4 {
			name = cs[i-1].name + ", Inc."
		}
		dom := fmt.Sprintf("co%d-%s.example", i, strings.ToLower(tortureNames[i%len(tortureNames)]))
		cs[i] = tCompany{name: name, domain: dom, hosts: []string{dom, "eu." + dom, "www." + dom, "https://shop." + dom + "/"}}
	}
	return cs
}

// genParams draws a run's parameters.
func genParams(rng *rand.Rand, policy, crmKind string) tortureParams {
	p := tortureParams{policy: policy, webhooks: rng.IntN(2) == 0, batchSize: 1 + rng.IntN(100), concurrency: 1 + rng.IntN(4)}
	if rng.IntN(3) == 0 {
		p.batchSize = 1 + rng.IntN(5) // small batches: more of them in flight at once
	}
	if crmKind == "hubspot" {
		p.pollSettle = time.Second
		p.searchLag = time.Duration(rng.Int64N(int64(p.pollSettle) + 1)).Round(time.Millisecond)
		p.searchPerSec = []int{10, 20, 50}[rng.IntN(3)]
	}
	return p
}

// genPlan draws the plan of a run of n registrations.
func genPlan(rng *rand.Rand, params tortureParams, n int) tPlan {
	pl := tPlan{params: params, window: time.Duration(n) * 80 * time.Millisecond}
	pl.window = max(pl.window, 6*time.Second)
	m := max(30, n/4)
	pl.companies = genCompanies(rng, m)
	bursts := make([]time.Duration, 1+int(pl.window/time.Second))
	for i := range bursts {
		bursts[i] = randDur(rng, pl.window)
	}
	for i := range n {
		r := genReg(rng, params, i, m, bursts, pl.window)
		hosts := pl.companies[r.company].hosts
		r.host = hosts[rng.IntN(len(hosts))]
		pl.regs = append(pl.regs, r)
	}
	pl.imports = groupImports(rng, pl.regs, pl.companies)
	for range max(3, n/10) {
		a := tAE{at: pl.window/4 + randDur(rng, pl.window), action: aeApprove}
		switch x := rng.IntN(100); {
		case params.policy == rules.FirstMeetingWins && x < 60, x < 40:
			a.action = aeMeeting
		case x < 75:
			a.action = aeApprove
		default:
			a.action = aeDecline
		}
		pl.aes = append(pl.aes, a)
	}
	for range 2 + rng.IntN(3) + n/500 {
		pl.kills = append(pl.kills, pl.window/10+randDur(rng, pl.window))
	}
	slices.Sort(pl.kills)
	return pl
}

func randDur(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d))).Round(time.Millisecond)
}

// genReg draws one registration: a hot company more often than not, a
// kind (mostly eligible), a path that can carry that kind, a time (often
// in a burst with others).
func genReg(rng *rand.Rand, params tortureParams, i, m int, bursts []time.Duration, window time.Duration) tReg {
	r := tReg{n: i, kind: kindComplete, country: []string{"US", "DE", "JP", "GB"}[rng.IntN(4)]}
	if rng.IntN(10) < 4 {
		r.company = rng.IntN(max(1, m/3))
	} else {
		r.company = rng.IntN(m)
	}
	switch x := rng.IntN(100); {
	case x < 10:
		r.kind = kindMissing
	case x < 18:
		r.kind = kindInactive
	case x < 24:
		r.kind = kindForeign
	}
	active := torturePartners[:len(torturePartners)-1]
	r.partner = active[rng.IntN(len(active))]
	if r.kind == kindInactive {
		r.partner = torturePartners[len(torturePartners)-1]
	}
	switch x := rng.IntN(100); {
	case x < 35:
		r.path = pathCRM
	case x < 60:
		r.path = pathWebForm
	case x < 80:
		r.path = pathEmail
	default:
		r.path = pathImport
	}
	// Not every path can carry every kind: the web form refuses an
	// incomplete form before it reaches the CRM, and the channels name the
	// partner from the sender's address, so only the CRM holds a foreign
	// submitter.
	switch {
	case r.kind == kindForeign:
		r.path = pathCRM
	case r.kind == kindInactive && (r.path == pathWebForm || r.path == pathEmail):
		r.path = pathCRM
	case r.kind == kindMissing && r.path == pathWebForm:
		r.path = pathEmail
	}
	if params.policy == rules.SplitBySegment || rng.IntN(4) == 0 {
		r.segment = []string{"", "smb", "enterprise", "SMB"}[rng.IntN(4)]
	}
	if r.path == pathWebForm {
		r.segment = "" // the form has no segment field
	}
	r.at = randDur(rng, window)
	if rng.IntN(10) < 4 {
		r.at = bursts[rng.IntN(len(bursts))] + time.Duration(rng.IntN(20))*time.Millisecond
	}
	return r
}

// groupImports puts the import rows into CSV files of up to five rows, in
// the order they arrive; a file never holds the same partner twice on a
// domain (the import would reject the second row as duplicate_row), so
// such a row goes into the CRM directly instead.
func groupImports(rng *rand.Rand, regs []tReg, cs []tCompany) []tImport {
	var idx []int
	for i := range regs {
		if regs[i].path == pathImport {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return regs[idx[a]].at < regs[idx[b]].at })
	var out []tImport
	var curr *tImport
	seen := map[string]bool{}
	for _, i := range idx {
		if curr == nil || len(curr.regs) >= 2+rng.IntN(4) {
			out = append(out, tImport{at: regs[i].at})
			curr = &out[len(out)-1]
			seen = map[string]bool{}
		}
		key := cs[regs[i].company].domain + "/" + regs[i].partner.id
		if seen[key] {
			regs[i].path = pathCRM
			continue
		}
		seen[key] = true
		regs[i].at = curr.at
		curr.regs = append(curr.regs, i)
	}
	return out
}

// fields is the registration as its canonical record fields (for the CRM
// path; the channels carry the same values in their own forms).
func (r *tReg) fields(cs []tCompany) map[string]string {
	c := cs[r.company]
	f := map[string]string{
		"partner_id": r.partner.id, "partner_email": "rep@" + r.partner.domain,
		"company_name": c.name, "company_domain": r.host,
		"contact_name": "Dana Torres", "contact_email": fmt.Sprintf("dana.g%d@%s", r.n, c.domain),
		"problem": r.problem(), "consent": "true", "country": r.country,
	}
	if r.segment != "" {
		f["segment"] = r.segment
	}
	switch r.kind {
	case kindMissing:
		delete(f, "contact_email")
	case kindForeign:
		f["partner_email"] = fmt.Sprintf("someone.g%d@gmail.com", r.n)
	}
	return f
}

func (r *tReg) problem() string {
	return fmt.Sprintf("Torture g%d: stock is reconciled by hand every week.", r.n)
}

// genIndex finds the generator's number in a record's problem text (-1
// when it has none).
func genIndex(problem string) int {
	var n int
	if _, err := fmt.Sscanf(problem, "Torture g%d:", &n); err != nil {
		return -1
	}
	return n
}

// domainKey is the registrable domain of what a registration wrote.
func tortureDomainKey(host string) string {
	d, err := registration.NormalizeDomain(host)
	if err != nil {
		return ""
	}
	k, err := registration.RegistrableDomain(d)
	if err != nil {
		return ""
	}
	return k
}
