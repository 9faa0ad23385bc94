package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regsync/regsync/state"
)

// checkEffects is "nothing lost, nothing doubled" on what each decision
// leaves behind, from the final CRM state, the audit log, the outbox and
// the inbox:
//
//   - notes_twice / notes_missing: every decision regsync audited has
//     exactly one audit note on its registration (an AE's status outside
//     the transition table, manual_override, is audited locally only);
//   - tasks_twice / tasks_missing: exactly one AE task for each decision
//     that calls for one (to in_review, appealed or approved);
//   - email_twice: no partner e-mail sent twice (one Message-ID, one file)
//     but across a SIGKILL, which may resend what was handed over just
//     before it (with the same Message-ID);
//   - wrong_actor: an audit entry by anyone but regsync is an AE's change
//     the driver made (approve, decline) — regsync's own write coming back
//     is never audited as a human's;
//   - dead_letter: no inbox item ended in the dead letters.
func (tr *tortureRun) checkEffects(final []regView, entries []state.AuditEntry, dead []state.Item) []violation {
	var out []violation
	byID := map[string]*regView{}
	for i := range final {
		byID[final[i].ID] = &final[i]
	}
	audits := map[string][]state.AuditEntry{}
	for _, e := range entries {
		// An AE's status outside the transition table is kept and audited
		// here only: it is no decision of regsync's, so no note or task.
		if byID[e.RecordID] != nil && e.Reason != "manual_override" {
			audits[e.RecordID] = append(audits[e.RecordID], e)
		}
	}
	tr.mu.Lock()
	aeTo := map[string]map[string]bool{} // record id → statuses an AE set
	for _, a := range tr.aeLog {
		if aeTo[a.id] == nil {
			aeTo[a.id] = map[string]bool{}
		}
		aeTo[a.id][a.to] = true
	}
	tr.mu.Unlock()
	for _, r := range final {
		es := audits[r.ID]
		wantTasks := 0
		for _, e := range es {
			switch e.To {
			case "in_review", "appealed", "approved":
				wantTasks++
			}
			if !isRegsync(e.Actor) && !aeTo[r.ID][e.To] {
				out = append(out, violation{Kind: "wrong_actor", Where: "audit", At: e.At, Domain: r.Domain, IDs: []string{r.ID},
					Detail: fmt.Sprintf("%s: entry #%d %s → %s %s audited as %q, but no AE set %s", r.Case, e.Seq, e.From, e.To, e.Reason, e.Actor, e.To)})
			}
		}
		count := func(kind string, have, want int) {
			switch {
			case have > want:
				out = append(out, violation{Kind: kind + "_twice", Where: "final", Domain: r.Domain, IDs: []string{r.ID},
					Detail: fmt.Sprintf("%s: %d %s for %d audited decisions, want %d", r.Case, have, kind, len(es), want)})
			case have < want:
				out = append(out, violation{Kind: kind + "_missing", Where: "final", Domain: r.Domain, IDs: []string{r.ID},
					Detail: fmt.Sprintf("%s: %d %s for %d audited decisions, want %d", r.Case, have, kind, len(es), want)})
			}
		}
		count("notes", len(tr.crm.Linked(tr.t, r.ID, "notes")), len(es))
		count("tasks", len(tr.crm.Linked(tr.t, r.ID, "tasks")), wantTasks)
	}
	files, _ := filepath.Glob(filepath.Join(tr.dir, "outbox", "*.eml"))
	seen := map[string]string{}
	for _, f := range files {
		id := messageIDOf(f)
		if id == "" {
			continue
		}
		if prev, ok := seen[id]; ok {
			// An e-mail handed to the mailer just before a SIGKILL, whose
			// step was not recorded yet, is sent again on restart: SMTP has
			// no idempotency, so this is the one duplicate there can be,
			// with the same Message-ID for receivers to fold
			// (docs/reliability.md). Within one process it is a bug.
			a, b := outboxTime(prev), outboxTime(f)
			if a.IsZero() || b.IsZero() || !tr.proc.killedBetween(a, b) {
				out = append(out, violation{Kind: "email_twice", Where: "final",
					Detail: fmt.Sprintf("Message-ID %s in %s and %s, with no restart between", id, filepath.Base(prev), filepath.Base(f))})
			}
		}
		seen[id] = f
	}
	for _, it := range dead {
		out = append(out, violation{Kind: "dead_letter", Where: "final", IDs: []string{it.RecordID},
			Detail: fmt.Sprintf("inbox item %s in the dead letters: %s", it.Key, it.LastError)})
	}
	return out
}

// outboxTime is the instant in an outbox file's name (zero if none).
func outboxTime(path string) time.Time {
	stamp, _, _ := strings.Cut(filepath.Base(path), "-")
	t, err := time.Parse("20060102T150405.000000000Z", stamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

// messageIDOf is the Message-ID header of an .eml file.
func messageIDOf(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
