package daemon

// The torture test's checker: pure functions over what the CRM held at a
// moment (a snapshot of every registration) and over the state file's audit
// log, each returning the violations of the first-come-first-served
// invariant it finds. torture_check_unit_test.go feeds them hand-made
// histories with known violations.

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// Kinds of registration the generator makes, which tells the checker
// whether one is eligible (would be approved with no rival in sight).
const (
	kindComplete = "complete" // every field, an active partner: eligible
	kindMissing  = "missing"  // no contact e-mail: needs_info, which is active (a pending rival)
	kindInactive = "inactive" // the inactive partner's: declined partner_inactive, never a rival
	kindForeign  = "foreign"  // a submitter outside the partner: declined submitter_not_partner, never a rival
)

// regView is one registration as the checker sees it: the CRM's fields
// and what the generator knows of it.
type regView struct {
	ID, Case, Partner     string
	Status, Reason        string
	Message, ConflictWith string
	Segment, Domain       string // Domain is the registrable domain (the record's DomainKey)
	SubmittedAt           time.Time
	Seq                   float64 // submission_seq: regsync's acceptance order within an instant
	HoldUntil             time.Time
	// From the generator (Gen < 0 when the record is not one of its).
	Gen  int
	Path string // crm, webform, email, import
	Kind string
}

// violation is one breach of the invariant.
type violation struct {
	Kind   string    // e.g. double_protection; see the check functions
	Where  string    // "final", "sample", "audit"
	At     time.Time // the sample's or audit entry's instant (zero for final)
	Domain string
	IDs    []string // the records involved (CRM ids)
	Detail string
}

func (v violation) key() string {
	ids := append([]string(nil), v.IDs...)
	sort.Strings(ids)
	return v.Kind + "|" + v.Domain + "|" + strings.Join(ids, ",")
}

// checkEnv is what the checks need besides the registrations.
type checkEnv struct {
	policy   string // rules.conflict.policy
	partners []tPartner
	// aeTouched holds the domains on which an AE acted in the CRM: the
	// winner check (3) skips them.
	aeTouched map[string]bool
	// aeGranted holds the records an AE approved by hand, and when: a
	// protection an AE granted is theirs, not regsync's.
	aeGranted map[string]time.Time
	// aeEnded holds the records an AE declined by hand, and when: from
	// then on their protection is over in the CRM, whenever regsync
	// reads (and audits) the change.
	aeEnded map[string]time.Time
	// grace is how long after an AE's approval regsync may still grant a
	// rival protection without being at fault (it cannot have seen it yet).
	grace time.Duration
	// readLag is how long after a decision's instant its facts may still
	// be read (the instant is taken when the reads start): an AE's decline
	// that lands within it may be what the decision saw.
	readLag time.Duration
}

// protects reports whether a registration protects its company at an
// instant: approved or meeting_booked with the hold window open, or
// converted.
func protects(status string, hold, at time.Time) bool {
	switch registration.Status(status) {
	case registration.StatusApproved, registration.StatusMeetingBooked:
		return hold.IsZero() || hold.After(at)
	case registration.StatusConverted:
		return true
	}
	return false
}

// rivals reports whether two registrations of a domain compete: different
// partners, and under split_by_segment the same segment or a blank one.
func (env *checkEnv) rivals(a, b *regView) bool {
	if a.Partner == b.Partner {
		return false
	}
	if env.policy != rules.SplitBySegment {
		return true
	}
	return a.Segment == "" || b.Segment == "" || strings.EqualFold(a.Segment, b.Segment)
}

// byDomain groups registrations by registrable domain, each group in
// submission order (see before).
func byDomain(recs []regView) map[string][]*regView {
	out := map[string][]*regView{}
	for i := range recs {
		if r := &recs[i]; r.Domain != "" {
			out[r.Domain] = append(out[r.Domain], r)
		}
	}
	for _, g := range out {
		sort.SliceStable(g, func(i, j int) bool { return before(g[i], g[j]) })
	}
	return out
}

// before is first come, first served: the earlier submitted_at (none
// counts as earliest), then the CRM record id, then the case number.
func before(a, b *regView) bool {
	pa := registration.Place{At: a.SubmittedAt, Seq: a.Seq, ID: a.ID, Case: a.Case}
	pb := registration.Place{At: b.SubmittedAt, Seq: b.Seq, ID: b.ID, Case: b.Case}
	return pa.Before(pb)
}

// idLess orders CRM ids: numerically when both are numbers (HubSpot),
// else as text (Salesforce's ids grow in creation order).
func idLess(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// regsyncProtects reports whether r protects its company at an instant by
// regsync's own decision (not by an AE's manual approval).
func (env *checkEnv) regsyncProtects(r *regView, at time.Time) bool {
	if !protects(r.Status, r.HoldUntil, at) {
		return false
	}
	_, byAE := env.aeGranted[r.ID]
	return !byAE
}

// checkProtection is invariants 1 and 2 on one snapshot: under
// first_approved_wins and split_by_segment at most one rival protects a
// company (double_protection); under first_meeting_wins at most one holds
// meeting_booked (double_meeting). Protections an AE granted by hand are
// not counted.
func checkProtection(env *checkEnv, at time.Time, recs []regView, where string) []violation {
	var out []violation
	for dom, g := range byDomain(recs) {
		for i, a := range g {
			for _, b := range g[i+1:] {
				if !env.rivals(a, b) {
					continue
				}
				if env.policy == rules.FirstMeetingWins {
					if a.Status == string(registration.StatusMeetingBooked) && b.Status == a.Status &&
						env.regsyncProtects(a, at) && env.regsyncProtects(b, at) {
						out = append(out, violation{Kind: "double_meeting", Where: where, At: at, Domain: dom, IDs: []string{a.ID, b.ID},
							Detail: fmt.Sprintf("%s and %s both hold meeting_booked", a.Case, b.Case)})
					}
					continue
				}
				if env.regsyncProtects(a, at) && env.regsyncProtects(b, at) {
					out = append(out, violation{Kind: "double_protection", Where: where, At: at, Domain: dom, IDs: []string{a.ID, b.ID},
						Detail: fmt.Sprintf("%s (%s, %s) and %s (%s, %s) both protect the company", a.Case, a.Partner, a.Status, b.Case, b.Partner, b.Status)})
				}
			}
		}
	}
	return out
}

// checkLosers is invariant 4 on one snapshot: a loser (declined
// conflict_protected or conflict_lost) names in conflict_with a rival's
// case on its domain (loser_without_winner); on the final state that rival
// protects, unless an AE acted on the domain (winner_not_protecting). And
// no registration's partner-facing message names a rival: another
// partner's case number, id or name (message_names_rival).
func checkLosers(env *checkEnv, at time.Time, recs []regView, where string) []violation {
	var out []violation
	byCase := map[string]*regView{}
	partnerOf := map[string]string{}
	for i := range recs {
		if recs[i].Case != "" {
			byCase[recs[i].Case] = &recs[i]
			partnerOf[recs[i].Case] = recs[i].Partner
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.Status == string(registration.StatusDeclined) &&
			(r.Reason == rules.ReasonConflictProtected || r.Reason == rules.ReasonConflictLost) {
			w := byCase[r.ConflictWith]
			switch {
			case w == nil || w.Domain != r.Domain || w.Partner == r.Partner:
				out = append(out, violation{Kind: "loser_without_winner", Where: where, At: at, Domain: r.Domain, IDs: []string{r.ID},
					Detail: fmt.Sprintf("%s is %s/%s with conflict_with %q, which names no rival on %s", r.Case, r.Status, r.Reason, r.ConflictWith, r.Domain)})
			case where == "final" && !env.aeTouched[r.Domain] && !protects(w.Status, w.HoldUntil, at):
				out = append(out, violation{Kind: "winner_not_protecting", Where: where, At: at, Domain: r.Domain, IDs: []string{r.ID, w.ID},
					Detail: fmt.Sprintf("%s lost to %s, which ends %s/%s", r.Case, w.Case, w.Status, w.Reason)})
			}
		}
		if named := rivalNamed(env, r, partnerOf); named != "" {
			out = append(out, violation{Kind: "message_names_rival", Where: where, At: at, Domain: r.Domain, IDs: []string{r.ID},
				Detail: fmt.Sprintf("%s's status_message names %s: %q", r.Case, named, r.Message)})
		}
	}
	return out
}

// rivalNamed is what in r's message names another partner or another
// partner's registration ("" when nothing does).
func rivalNamed(env *checkEnv, r *regView, partnerOf map[string]string) string {
	if r.Message == "" {
		return ""
	}
	msg := strings.ToLower(r.Message)
	for _, p := range env.partners {
		if p.id == r.Partner {
			continue
		}
		for _, s := range []string{p.id, p.name} {
			if s != "" && strings.Contains(msg, strings.ToLower(s)) {
				return "partner " + s
			}
		}
	}
	for _, cn := range reCaseNumber.FindAllString(r.Message, -1) {
		if p, ok := partnerOf[cn]; ok && p != r.Partner {
			return "case " + cn + " of " + p
		}
	}
	return ""
}

// reCaseNumber finds what may be case numbers in a message.
var reCaseNumber = regexp.MustCompile(`R-[0-9A-Z]+`)

// checkWinners is invariant 3 on the final state of the domains no AE
// touched (first_approved_wins, split_by_segment): the registration that
// protects a company is the eligible one submitted first. A protector P
// is wrong when an earlier eligible rival R is still active (it protects,
// or waits, and P should have waited behind it) or lost to P
// (winner_not_first). An earlier rival that was not eligible (needs_info)
// does not count, though the rules make a later one wait for it: the
// invariant is about who wins. Under first_meeting_wins, an approved rival of a
// meeting_booked registration must have been declined conflict_lost by
// the sweep (racer_not_declined).
func checkWinners(env *checkEnv, at time.Time, recs []regView) []violation {
	var out []violation
	for dom, g := range byDomain(recs) {
		if env.aeTouched[dom] {
			continue
		}
		for _, p := range g {
			if !env.regsyncProtects(p, at) {
				continue
			}
			if env.policy == rules.FirstMeetingWins {
				if p.Status != string(registration.StatusMeetingBooked) {
					continue
				}
				for _, r := range g {
					if r != p && env.rivals(p, r) && r.Status == string(registration.StatusApproved) {
						out = append(out, violation{Kind: "racer_not_declined", Where: "final", Domain: dom, IDs: []string{p.ID, r.ID},
							Detail: fmt.Sprintf("%s holds meeting_booked while rival %s is still approved (the sweep declines it conflict_lost)", p.Case, r.Case)})
					}
				}
				continue
			}
			for _, r := range g {
				if r == p {
					break // g is in submission order: only earlier ones
				}
				if !env.rivals(p, r) || r.Kind != kindComplete {
					continue
				}
				lostToP := r.Status == string(registration.StatusDeclined) && r.ConflictWith == p.Case
				if registration.Status(r.Status).Active() || lostToP {
					out = append(out, violation{Kind: "winner_not_first", Where: "final", Domain: dom, IDs: []string{p.ID, r.ID},
						Detail: fmt.Sprintf("%s (%s, submitted %s) protects, but %s (%s, %s, submitted %s) came first and ends %s/%s",
							p.Case, p.Partner, fmtT(p.SubmittedAt), r.Case, r.Partner, r.Kind, fmtT(r.SubmittedAt), r.Status, r.Reason)})
				}
			}
		}
	}
	return out
}

// isRegsync reports whether an audit entry's actor is regsync (the daemon,
// or `regsync import` beside it) rather than an AE in the CRM.
func isRegsync(actor string) bool { return strings.HasPrefix(actor, "regsync") }

// checkAudit is invariant 5 and the over-time part of 1 and 2, from the
// audit log (entries in any order; each record's are ordered by At, then
// Seq). Per record: no decision repeated (decided_twice), each entry
// leaving the status the previous one reached (chain_break), regsync's
// transitions allowed by the table (bad_transition), no protection
// regsync granted taken back by regsync (protection_taken_back; under
// first_meeting_wins approved → declined conflict_lost is the race being
// lost). Across records: regsync never grants protection while a rival
// protects the company (granted_while_protected), counting an AE's manual
// approval only once grace has passed; under first_meeting_wins regsync
// never books a meeting, or approves, while a rival holds meeting_booked.
func checkAudit(env *checkEnv, recs map[string]*regView, entries []state.AuditEntry) []violation {
	es := append([]state.AuditEntry(nil), entries...)
	sort.SliceStable(es, func(i, j int) bool {
		if !es[i].At.Equal(es[j].At) {
			return es[i].At.Before(es[j].At)
		}
		return es[i].Seq < es[j].Seq
	})
	var out []violation
	now := map[string]*auditCur{}
	for _, e := range es {
		r := recs[e.RecordID]
		if r == nil {
			continue // not a registration of this run (or no longer in the CRM)
		}
		c := now[e.RecordID]
		if c == nil {
			c = &auditCur{seen: map[string]bool{}}
			now[e.RecordID] = c
		}
		bad := func(kind, detail string) {
			out = append(out, violation{Kind: kind, Where: "audit", At: e.At, Domain: r.Domain, IDs: []string{r.ID},
				Detail: fmt.Sprintf("%s: %s (entry #%d %s → %s %s by %s)", r.Case, detail, e.Seq, e.From, e.To, e.Reason, e.Actor)})
		}
		reg := isRegsync(e.Actor)
		pair := e.From + ">" + e.To
		switch {
		case reg && c.seen[pair]:
			bad("decided_twice", "the same decision again")
		case c.started && e.From != c.status:
			bad("chain_break", fmt.Sprintf("leaves %s, but the previous entry left it %s", e.From, c.status))
		}
		if reg {
			c.seen[pair] = true
			from, to := registration.Status(e.From), registration.Status(e.To)
			lostRace := env.policy == rules.FirstMeetingWins && from == registration.StatusApproved && e.Reason == rules.ReasonConflictLost
			switch {
			case from.Protected() && !to.Protected() && !lostRace && !endsNaturally(to):
				bad("protection_taken_back", "regsync took back a protection")
			case registration.CheckTransition(from, to, e.Reason) != nil:
				bad("bad_transition", "a transition the table forbids")
			}
			grant := !from.Protected() && to.Protected()
			booked := env.policy == rules.FirstMeetingWins && from == registration.StatusApproved && to == registration.StatusMeetingBooked
			if grant || booked {
				out = append(out, grantedWhileProtected(env, recs, now, e, r)...)
			}
		}
		if registration.Status(e.To).Protected() && !registration.Status(c.status).Protected() {
			c.since, c.byAE = e.At, !reg
		}
		c.status, c.started = e.To, true
	}
	return out
}

// auditCur is a record's status as the audit log replays it.
type auditCur struct {
	status  string
	since   time.Time // when it last became protected
	byAE    bool      // and whether an AE made it so
	seen    map[string]bool
	started bool
}

// grantedWhileProtected lists the rivals of r that protected the company
// when regsync granted r protection in entry e.
func grantedWhileProtected(env *checkEnv, recs map[string]*regView, now map[string]*auditCur, e state.AuditEntry, r *regView) []violation {
	var out []violation
	for id, o := range now {
		or := recs[id]
		if id == e.RecordID || or == nil || or.Domain != r.Domain || !env.rivals(r, or) || !protects(o.status, time.Time{}, e.At) {
			continue
		}
		if env.policy == rules.FirstMeetingWins && o.status != string(registration.StatusMeetingBooked) {
			continue // approved rivals race for the first meeting
		}
		// An AE had declined it in the CRM; the audit log learns of it
		// later. Audit instants are kept to the CRM's precision (whole
		// seconds on Salesforce), and a decision is stamped when its
		// facts start to be read, which on a faulty CRM (latency,
		// retries) takes seconds: a grant stamped up to readLag before
		// the decline may have been made on facts read after it.
		if ended, ok := env.aeEnded[id]; ok && ended.Before(e.At.Add(time.Second+env.readLag)) {
			continue
		}
		if o.byAE && e.At.Sub(o.since) < env.grace {
			continue // regsync cannot have seen the AE's approval yet
		}
		out = append(out, violation{Kind: "granted_while_protected", Where: "audit", At: e.At, Domain: r.Domain, IDs: []string{r.ID, or.ID},
			Detail: fmt.Sprintf("regsync made %s (%s) %s at %s while %s (%s) was %s since %s",
				r.Case, r.Partner, e.To, fmtT(e.At), or.Case, or.Partner, o.status, fmtT(o.since))})
	}
	return out
}

// endsNaturally reports the statuses a protection may end in by itself:
// its window or meeting deadline passing, a deal, a partner's withdrawal.
func endsNaturally(s registration.Status) bool {
	switch s {
	case registration.StatusExpired, registration.StatusConverted, registration.StatusWon, registration.StatusLost, registration.StatusWithdrawn:
		return true
	}
	return false
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05.000")
}

// dedupe keeps the first violation of each kind, domain and records.
func dedupe(vs []violation) []violation {
	seen := map[string]bool{}
	var out []violation
	for _, v := range vs {
		if k := v.key(); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}
