package daemon

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// The torture test's checker is trusted only if it finds exactly the
// violations of hand-made histories: none in a clean one, each kind in one
// made to hold it.

var tc0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

func tcEnv(policy string) *checkEnv {
	return &checkEnv{policy: policy, partners: torturePartners, aeTouched: map[string]bool{}, aeGranted: map[string]time.Time{}, aeEnded: map[string]time.Time{}, grace: 5 * time.Second}
}

// tcReg is a registration on acme.example, submitted sec seconds after tc0.
func tcReg(id, partner string, sec int, status, reason, conflictWith string) regView {
	return regView{ID: id, Case: "R-" + id, Partner: partner, Status: status, Reason: reason, ConflictWith: conflictWith,
		Domain: "acme.example", SubmittedAt: tc0.Add(time.Duration(sec) * time.Second), HoldUntil: tc0.Add(60 * 24 * time.Hour),
		Message: "A generic message.", Kind: kindComplete, Gen: -1}
}

func tcEntry(seq uint64, id string, sec int, from, to, reason, actor string) state.AuditEntry {
	return state.AuditEntry{Seq: seq, At: tc0.Add(time.Duration(sec) * time.Second), RecordID: id, CaseNumber: "R-" + id,
		From: from, To: to, Reason: reason, Actor: actor}
}

func kinds(vs []violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	sort.Strings(out)
	return out
}

func byIDs(recs []regView) map[string]*regView {
	m := map[string]*regView{}
	for i := range recs {
		m[recs[i].ID] = &recs[i]
	}
	return m
}

// checkAll runs every check on a final state and its audit log.
func checkAll(env *checkEnv, recs []regView, entries []state.AuditEntry) []violation {
	at := tc0.Add(time.Hour)
	var vs []violation
	vs = append(vs, checkProtection(env, at, recs, "final")...)
	vs = append(vs, checkLosers(env, at, recs, "final")...)
	vs = append(vs, checkWinners(env, at, recs)...)
	vs = append(vs, checkAudit(env, byIDs(recs), entries)...)
	return vs
}

func TestTortureCheckerClean(t *testing.T) {
	recs := []regView{
		tcReg("1", "northwind", 1, "approved", "approved", ""),
		tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "R-1"),
		tcReg("3", "northwind", 3, "declined", rules.ReasonDuplicate, "R-1"),
		tcReg("4", "contoso", 0, "declined", rules.ReasonPartnerInactive, ""), // earlier, but never a rival
	}
	recs[2].Message = "You registered this company before as R-1." // the partner's own case may be named
	recs[3].Kind = kindInactive
	entries := []state.AuditEntry{
		tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
		tcEntry(2, "2", 2, "submitted", "in_review", rules.ReasonConflictPending, "regsync"),
		tcEntry(3, "2", 4, "in_review", "declined", rules.ReasonConflictProtected, "regsync"),
		tcEntry(4, "3", 3, "submitted", "declined", rules.ReasonDuplicate, "regsync"),
		tcEntry(5, "4", 0, "submitted", "declined", rules.ReasonPartnerInactive, "regsync"),
	}
	for _, p := range torturePolicies {
		if vs := checkAll(tcEnv(p), recs, entries); len(vs) != 0 {
			t.Errorf("%s: a clean history has violations: %+v", p, vs)
		}
	}
}

func TestTortureCheckerFindsEachViolation(t *testing.T) {
	fa := rules.FirstApprovedWins
	for _, tc := range []struct {
		name    string
		policy  string
		recs    []regView
		entries []state.AuditEntry
		env     func(*checkEnv)
		want    []string
	}{
		{
			name:   "double protection granted by regsync",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "approved", "approved", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "2", 2, "submitted", "approved", "approved", "regsync"),
			},
			// Both protect; the later one won over the earlier; and regsync
			// granted it while the other protected.
			want: []string{"double_protection", "granted_while_protected", "winner_not_first"},
		},
		{
			name:   "a second protection an AE granted is theirs",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "approved", "manual", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "2", 2, "submitted", "in_review", rules.ReasonConflictPending, "regsync"),
				tcEntry(3, "2", 9, "in_review", "approved", "manual", "crm"),
			},
			env:  func(e *checkEnv) { e.aeGranted["2"] = tc0.Add(8 * time.Second); e.aeTouched["acme.example"] = true },
			want: nil,
		},
		{
			name:   "regsync grants while an AE's approval has long stood",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "manual", ""), tcReg("2", "fabrikam", 2, "approved", "approved", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "in_review", rules.ReasonNoTerritory, "regsync"),
				tcEntry(2, "1", 2, "in_review", "approved", "manual", "crm"),
				tcEntry(3, "2", 30, "submitted", "approved", "approved", "regsync"),
			},
			env:  func(e *checkEnv) { e.aeGranted["1"] = tc0.Add(2 * time.Second); e.aeTouched["acme.example"] = true },
			want: []string{"granted_while_protected"},
		},
		{
			name:   "split_by_segment: other segments do not conflict, a blank one does",
			policy: rules.SplitBySegment,
			recs: func() []regView {
				a, b, c := tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "approved", "approved", ""),
					tcReg("3", "contoso", 3, "approved", "approved", "")
				a.Segment, b.Segment = "smb", "enterprise" // c is blank: it conflicts with both
				return []regView{a, b, c}
			}(),
			want: []string{"double_protection", "double_protection", "winner_not_first", "winner_not_first"},
		},
		{
			name:   "loser without conflict_with",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "")},
			want:   []string{"loser_without_winner"},
		},
		{
			name:   "loser naming a registration of its own partner",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "northwind", 2, "declined", rules.ReasonConflictProtected, "R-1")},
			want:   []string{"loser_without_winner"},
		},
		{
			name:   "loser of a winner that no longer protects",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "needs_info", rules.ReasonMissingFields, ""), tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "R-1")},
			want:   []string{"winner_not_protecting"},
		},
		{
			name:   "message naming a rival's case",
			policy: fa,
			recs: func() []regView {
				a, b := tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "R-1")
				b.Message = "R-1 protects this company."
				return []regView{a, b}
			}(),
			want: []string{"message_names_rival"},
		},
		{
			name:   "message naming a rival partner",
			policy: fa,
			recs: func() []regView {
				a, b := tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "R-1")
				b.Message = "Northwind Consulting registered it first."
				return []regView{a, b}
			}(),
			want: []string{"message_names_rival"},
		},
		{
			name:   "protection taken back",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "declined", rules.ReasonConflictProtected, "R-2"), tcReg("2", "fabrikam", 2, "approved", "approved", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "2", 2, "submitted", "in_review", rules.ReasonConflictPending, "regsync"),
				tcEntry(3, "1", 3, "approved", "declined", rules.ReasonConflictProtected, "regsync"),
				tcEntry(4, "2", 4, "in_review", "approved", "approved", "regsync"),
			},
			// The earlier one lost to the later one, too.
			want: []string{"protection_taken_back", "winner_not_first"},
		},
		{
			name:   "first_meeting_wins: the race lost is no protection taken back",
			policy: rules.FirstMeetingWins,
			recs: func() []regView {
				a, b := tcReg("1", "northwind", 1, "declined", rules.ReasonConflictLost, "R-2"), tcReg("2", "fabrikam", 2, "meeting_booked", "meeting_logged", "R-1")
				return []regView{a, b}
			}(),
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "2", 2, "submitted", "approved", "approved", "regsync"),
				tcEntry(3, "2", 5, "approved", "meeting_booked", "meeting_logged", "regsync"),
				tcEntry(4, "1", 7, "approved", "declined", rules.ReasonConflictLost, "regsync"),
			},
			want: nil,
		},
		{
			name:   "first_meeting_wins: two meetings booked",
			policy: rules.FirstMeetingWins,
			recs:   []regView{tcReg("1", "northwind", 1, "meeting_booked", "meeting_logged", ""), tcReg("2", "fabrikam", 2, "meeting_booked", "meeting_logged", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "2", 2, "submitted", "approved", "approved", "regsync"),
				tcEntry(3, "2", 5, "approved", "meeting_booked", "meeting_logged", "regsync"),
				tcEntry(4, "1", 7, "approved", "meeting_booked", "meeting_logged", "regsync"),
			},
			want: []string{"double_meeting", "granted_while_protected"},
		},
		{
			name:   "first_meeting_wins: the racer left approved",
			policy: rules.FirstMeetingWins,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", "R-2"), tcReg("2", "fabrikam", 2, "meeting_booked", "meeting_logged", "R-1")},
			want:   []string{"racer_not_declined"},
		},
		{
			name:   "decided twice",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "approved", "approved", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "1", 2, "submitted", "approved", "approved", "regsync"),
			},
			want: []string{"decided_twice"},
		},
		{
			name:   "decided from a stale status",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "in_review", rules.ReasonNoTerritory, "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "approved", "approved", "regsync"),
				tcEntry(2, "1", 2, "submitted", "in_review", rules.ReasonNoTerritory, "regsync"),
			},
			want: []string{"chain_break"},
		},
		{
			name:   "a transition the table forbids",
			policy: fa,
			recs:   []regView{tcReg("1", "northwind", 1, "submitted", "", "")},
			entries: []state.AuditEntry{
				tcEntry(1, "1", 1, "submitted", "needs_info", rules.ReasonMissingFields, "regsync"),
				tcEntry(2, "1", 2, "needs_info", "approved", "approved", "regsync"),
			},
			want: []string{"bad_transition"},
		},
		{
			name:   "an earlier ineligible rival does not make the winner wrong",
			policy: fa,
			recs: func() []regView {
				a, b := tcReg("1", "northwind", 1, "needs_info", rules.ReasonMissingFields, ""), tcReg("2", "fabrikam", 2, "approved", "approved", "")
				a.Kind = kindMissing
				return []regView{a, b}
			}(),
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tcEnv(tc.policy)
			if tc.env != nil {
				tc.env(env)
			}
			got := kinds(checkAll(env, tc.recs, tc.entries))
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("found %v, want %v", got, want)
			}
		})
	}
}

// A sample with a loser whose winner is not in sight (or on another
// domain) is a violation; the winner being elsewhere in the CRM is not.
func TestTortureCheckerLosersOnSamples(t *testing.T) {
	env := tcEnv(rules.FirstApprovedWins)
	w, l := tcReg("1", "northwind", 1, "approved", "approved", ""), tcReg("2", "fabrikam", 2, "declined", rules.ReasonConflictProtected, "R-1")
	if vs := checkLosers(env, tc0, []regView{w, l}, "sample"); len(vs) != 0 {
		t.Errorf("%+v", vs)
	}
	w.Domain = "other.example"
	if got := fmt.Sprint(kinds(checkLosers(env, tc0, []regView{w, l}, "sample"))); got != "[loser_without_winner]" {
		t.Errorf("found %s", got)
	}
}
