package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/crmfault"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
	"github.com/regsync/regsync/state"
)

// The worker-level tests of the decision path: a Worker and its Engine
// over the real HubSpot connector, talking over loopback to the HubSpot
// fake (hubspottest), faults injected on the wire (crmfault). Each asserts
// what became of the registration: its status in the CRM, the audit log,
// the notes and tasks in the CRM, the partner's notifications, the inbox
// and its dead letters.

// settle is the fake portal's poll_settle: how long an approval waits for
// earlier rivals to show in the CRM's search.
const settle = 10 * time.Second

// flowRig is one worker over one fake portal.
type flowRig struct {
	t      *testing.T
	hs     *hubspottest.Server
	clock  *hubspottest.Clock // the CRM's and the engine's clock
	inbox  *hubspottest.Clock // the inbox's clock (real time in the daemon)
	typeID string
	crm    *hubspot.Client
	db     *state.DB
	e      *Engine
	w      *Worker
	sent   *sentLog
}

func newFlowRig(t *testing.T) *flowRig {
	t.Helper()
	clock := hubspottest.NewClock(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	hs, err := hubspottest.Start(hubspottest.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Close)
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token = hs.URL(), secret.New("sandbox-token")
	cfg.PollSettle = settle
	cfg.MaxRetries = 0 // the worker's retries are under test, not the client's
	crm, err := hubspot.New(cfg, hubspot.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crm.Setup(t.Context(), io.Discard); err != nil {
		t.Fatalf("setup: %v", err)
	}
	typeID, err := hs.TypeID("partner_registration")
	if err != nil {
		t.Fatal(err)
	}
	// The inbox runs on the real clock in the daemon (the engine defers on
	// it); here it starts at the real now and moves only when told.
	inbox := hubspottest.NewClock(time.Now())
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: inbox.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rs := rules.DefaultRules()
	rs.Territories = []rules.Territory{{Name: "na", Countries: []string{"US", "CA"}, Owner: "ae-na"}}
	p, err := rules.NewPolicy([]rules.Partner{{ID: "northwind", Name: "Northwind Consulting", Tier: "gold",
		EmailDomains: []string{"northwind.example"}}}, rs)
	if err != nil {
		t.Fatal(err)
	}
	sent := &sentLog{}
	e, err := NewEngine(EngineOptions{CRM: crm, Object: "partner_registration", DealObject: "deals",
		Policy: func() *rules.Policy { return p }, State: db, Notifier: sent, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Engine: e, State: db, Now: inbox.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &flowRig{t: t, hs: hs, clock: clock, inbox: inbox, typeID: typeID, crm: crm, db: db, e: e, w: w, sent: sent}
}

// sentLog records the notifications handed over (the notifiers are tested
// in their own packages; here only what the worker asks to send counts).
type sentLog struct {
	mu sync.Mutex
	ns []Notification
}

func (s *sentLog) Notify(_ context.Context, ns []Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns = append(s.ns, ns...)
	return nil
}

// to lists the statuses the partner was told of for a case.
func (s *sentLog) to(caseNumber string) []registration.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []registration.Status
	for _, n := range s.ns {
		if n.CaseNumber == caseNumber {
			out = append(out, n.Status)
		}
	}
	return out
}

// register creates a registration in the CRM as a partner's channel would,
// submitted at `at` (the CRM's clock), and returns its id and case number.
func (r *flowRig) register(n int, domain string, at time.Time) (id, caseNumber string) {
	r.t.Helper()
	caseNumber = fmt.Sprintf("R-%d", 1000+n)
	id, err := r.hs.CreateRecord(r.typeID, map[string]string{
		"partner_id": "northwind", "partner_email": "jo@northwind.example", "company_name": fmt.Sprintf("Prospect %d", n),
		"company_domain": domain, "contact_name": "Ann Lee", "contact_email": fmt.Sprintf("ann%d@prospect.example", n),
		"problem": "Spreadsheets everywhere.", "consent": "true", "country": "US",
		"submitted_at": at.UTC().Format(time.RFC3339), "case_number": caseNumber,
	})
	if err != nil {
		r.t.Fatalf("create registration: %v", err)
	}
	return id, caseNumber
}

// aeSets is an AE's change in the CRM (no webhook: the test delivers it).
func (r *flowRig) aeSets(id string, fields map[string]string) {
	r.t.Helper()
	r.clock.Advance(time.Second)
	if err := r.hs.UpdateRecord(r.typeID, id, fields); err != nil {
		r.t.Fatalf("update registration: %v", err)
	}
}

// deliver queues the records as a webhook does and drains the inbox; it
// returns how many items were handled.
func (r *flowRig) deliver(ids ...string) int {
	r.t.Helper()
	if err := r.w.Enqueue("partner_registration", ids, "webhook"); err != nil {
		r.t.Fatal(err)
	}
	return r.drain()
}

// process runs the engine on one record, as the worker's batch does, and
// returns its outcome.
func (r *flowRig) process(id string) Outcome {
	r.t.Helper()
	outs, err := r.e.ProcessSweeping(r.t.Context(), []string{id}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return outs[0]
}

func (r *flowRig) drain() int {
	r.t.Helper()
	n, err := r.w.Drain(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *flowRig) get(id string) registration.Record {
	r.t.Helper()
	recs, err := r.crm.Registrations(r.t.Context(), []string{id})
	if err != nil || len(recs) != 1 {
		r.t.Fatalf("read %s: %v (%d records)", id, err, len(recs))
	}
	return recs[0]
}

// audit lists a record's audit entries as "from>to reason by actor".
func (r *flowRig) audit(id string) []string {
	r.t.Helper()
	entries, err := r.db.Audit(0, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.RecordID == id {
			out = append(out, e.From+">"+e.To+" "+e.Reason+" by "+e.Actor)
		}
	}
	return out
}

// sideEffects counts the audit notes and AE tasks on a record in the CRM.
func (r *flowRig) sideEffects(id string) (notes, tasks int) {
	return len(r.hs.Associations(r.typeID, id, "notes")), len(r.hs.Associations(r.typeID, id, "tasks"))
}

// want checks a record's status and reason in the CRM.
func (r *flowRig) want(id string, status registration.Status, reason string) registration.Record {
	r.t.Helper()
	rec := r.get(id)
	if rec.Status != status || rec.StatusReason != reason {
		r.t.Fatalf("record %s is %s (%s), want %s (%s)", id, rec.Status, rec.StatusReason, status, reason)
	}
	return rec
}

func (r *flowRig) wantEffects(id string, notes, tasks int) {
	r.t.Helper()
	if n, k := r.sideEffects(id); n != notes || k != tasks {
		r.t.Fatalf("record %s has %d notes and %d tasks, want %d and %d", id, n, k, notes, tasks)
	}
}

func (r *flowRig) wantAudit(id string, want ...string) {
	r.t.Helper()
	if got := r.audit(id); !slices.Equal(got, want) {
		r.t.Fatalf("audit of %s:\n got %q\nwant %q", id, got, want)
	}
}

// wantTold checks the statuses the partner of a case was told of.
func (r *flowRig) wantTold(caseNumber string, want ...registration.Status) {
	r.t.Helper()
	if got := r.sent.to(caseNumber); !slices.Equal(got, want) {
		r.t.Fatalf("partner of %s told %v, want %v", caseNumber, got, want)
	}
}

// wantApprovedOnce checks that a registration is approved in the CRM with
// its side effects each done once: one note, one task, one audit entry by
// regsync, one e-mail.
func (r *flowRig) wantApprovedOnce(id, caseNumber string) {
	r.t.Helper()
	r.want(id, registration.StatusApproved, rules.ReasonApproved)
	r.wantEffects(id, 1, 1)
	r.wantAudit(id, "submitted>approved approved by regsync")
	r.wantTold(caseNumber, registration.StatusApproved)
}

func (r *flowRig) key(id string) string { return state.ItemKey("hubspot", "partner_registration", id) }

// faults injects crmfault's kind into the requests only accepts.
func (r *flowRig) faults(kind crmfault.Kind, only func(*http.Request) bool) {
	r.hs.SetInjector(crmfault.New(crmfault.Spec{Rate: 1, Weights: map[crmfault.Kind]float64{kind: 1}}, 1,
		crmfault.Options{Only: only}))
}

// loseDecisionAnswer makes the CRM apply the decision's write but lose its
// answer (the connection resets after the request was applied), and lose
// every read after it too, until the injector is cleared.
func (r *flowRig) loseDecisionAnswer() {
	var wrote atomic.Bool
	r.faults(crmfault.ResetAfter, func(req *http.Request) bool {
		if isDecision(req) {
			wrote.Store(true)
			return true
		}
		return wrote.Load() && isRead(req)
	})
}

func isUpdate(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch/update")
}

// isDecision tells the write of a decision (the approval) from the
// connector's own maintenance writes of match keys during reads.
func isDecision(r *http.Request) bool {
	if !isUpdate(r) {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return bytes.Contains(body, []byte(`"approved"`))
}

func isRead(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch/read")
}

// Postpone: an approval on a CRM whose search lags waits until every
// earlier rival can show in it (submitted_at + poll_settle). The record is
// left as it is — nothing written, nothing audited, no task, no note, no
// e-mail — and comes back from the inbox when the wait ends, not before;
// then it is approved, with its side effects, once.
func TestPostponedApprovalIsDecidedAfterTheSettleTime(t *testing.T) {
	r := newFlowRig(t)
	submitted := r.clock.Now().Truncate(time.Second)
	id, cn := r.register(1, "postpone.example", submitted)

	if o := r.process(id); o.Result != ResultWaiting || !o.Until.Equal(submitted.Add(settle)) {
		t.Fatalf("outcome %s until %s, want waiting until %s (err %v)", o.Result, o.Until, submitted.Add(settle), o.Err)
	}
	if rec := r.get(id); rec.Status != registration.StatusNone && rec.Status != registration.StatusSubmitted {
		t.Fatalf("a waiting approval wrote %s", rec.Status)
	}
	r.wantEffects(id, 0, 0)
	r.wantAudit(id)
	it, err := r.db.Item(r.key(id))
	if err != nil {
		t.Fatalf("the waiting registration is not in the inbox: %v", err)
	}
	if !slices.Contains(it.Reasons(), "settle") || !it.NotBefore.After(r.inbox.Now()) {
		t.Fatalf("inbox item %+v: want reason settle, due after now", it)
	}
	if n := r.drain(); n != 0 {
		t.Fatalf("drained %d items before the wait ended", n)
	}

	r.clock.Advance(settle)
	r.inbox.Advance(settle + time.Second)
	if n := r.drain(); n != 1 {
		t.Fatalf("drained %d items after the wait, want 1", n)
	}
	r.wantApprovedOnce(id, cn)
	if _, err := r.db.Item(r.key(id)); err == nil {
		t.Fatal("the decided registration is still in the inbox")
	}
}

// Bury: a definite refusal by the CRM (the registration object lost a
// property the decision writes: HubSpot answers 400) cannot be mended by
// retrying. The item goes to the dead letters at once with the class and
// the CRM's reason; the plan is dropped (nothing was written); no side
// effect ran.
func TestPermanentRefusalIsBuriedWithItsReason(t *testing.T) {
	r := newFlowRig(t)
	id, cn := r.register(2, "bury.example", r.clock.Now().Add(-time.Minute))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete,
		r.hs.URL()+"/crm/v3/properties/"+r.typeID+"/status_message", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sandbox-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete property: HTTP %d", resp.StatusCode)
	}

	if n := r.deliver(id); n != 1 {
		t.Fatalf("drained %d", n)
	}
	if _, err := r.db.Item(r.key(id)); err == nil {
		t.Fatal("a refused record is still pending")
	}
	dead, err := r.db.Dead()
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	d := dead[0]
	if d.RecordID != id || d.LastClass != "permanent" || !strings.HasPrefix(d.Failure(), "permanent: ") ||
		!strings.Contains(d.Failure(), "status_message") {
		t.Fatalf("dead letter %s says %q (class %q)", d.RecordID, d.Failure(), d.LastClass)
	}
	t.Logf("dead letter: %s", d.Failure())
	if rec := r.get(id); rec.Status == registration.StatusApproved {
		t.Fatal("the refused decision is in the CRM")
	}
	if plans, err := r.db.Plans(r.key(id)); err != nil || len(plans) != 0 {
		t.Fatalf("plans left after a refused write: %v, %v", plans, err)
	}
	r.wantEffects(id, 0, 0)
	r.wantAudit(id)
	if got := r.sent.to(cn); len(got) != 0 {
		t.Fatalf("partner told %v of a refused decision", got)
	}
}

// Retry: the CRM fails the decision's write once (a 502, in fact before
// applying it). A 5xx to a write leaves its outcome unknown, so the engine
// reads the record back: the decision is not there, the plan is void, and
// the item stays in the inbox with the failure counted and a backoff;
// nothing else happened. Tried again, the decision is written and its side
// effects run exactly once.
func TestTransientWriteFailureIsRetriedOnce(t *testing.T) {
	r := newFlowRig(t)
	id, cn := r.register(3, "retry.example", r.clock.Now().Add(-time.Minute))
	var failed atomic.Int32
	r.faults(crmfault.ServerErrorBefore, func(req *http.Request) bool {
		return isDecision(req) && failed.Add(1) == 1
	})

	if n := r.deliver(id); n != 1 {
		t.Fatalf("drained %d", n)
	}
	it, err := r.db.Item(r.key(id))
	if err != nil {
		t.Fatalf("the failed record left the inbox: %v", err)
	}
	if it.Attempts != 1 || it.LastClass != "unknown" || !it.NotBefore.After(r.inbox.Now()) {
		t.Fatalf("inbox item after a 502: attempts %d, class %q, due %s (now %s)", it.Attempts, it.LastClass, it.NotBefore, r.inbox.Now())
	}
	if dead, _ := r.db.Dead(); len(dead) != 0 {
		t.Fatalf("a transient failure was buried: %+v", dead)
	}
	if rec := r.get(id); rec.Status == registration.StatusApproved {
		t.Fatal("the failed write is in the CRM")
	}
	if plans, err := r.db.Plans(r.key(id)); err != nil || len(plans) != 0 {
		t.Fatalf("the plan of a write that did not land is kept: %v, %v", plans, err)
	}
	r.wantEffects(id, 0, 0)
	r.wantAudit(id)

	r.inbox.Advance(it.NotBefore.Sub(r.inbox.Now()))
	if n := r.drain(); n != 1 {
		t.Fatalf("drained %d on the retry, want 1", n)
	}
	r.wantApprovedOnce(id, cn)
	if _, err := r.db.Item(r.key(id)); err == nil {
		t.Fatal("the decided registration is still in the inbox")
	}
	if failed.Load() < 2 {
		t.Fatalf("%d decision writes seen, want the failed one and the retry", failed.Load())
	}
}

// Reconcile of a lost answer: the CRM applies the decision but its answer
// is lost, and so is the read-back. regsync keeps the plan and retries
// the item; when the CRM answers again the record is recognised as its own
// write — not decided again, not a human's change — and the plan is
// finished: one note, one task, one audit entry by regsync, one e-mail. A
// later delivery of the same record is an echo.
func TestLostAnswerIsRecognisedAsOwnWrite(t *testing.T) {
	r := newFlowRig(t)
	id, cn := r.register(4, "lost.example", r.clock.Now().Add(-time.Minute))
	r.loseDecisionAnswer()

	if o := r.process(id); o.Result != ResultUnknown || o.Err == nil || Permanent(o.Err) {
		t.Fatalf("outcome %s (%v), want unknown with the write's error", o.Result, o.Err)
	}
	r.hs.SetInjector(nil) // the CRM answers again
	if rec := r.get(id); rec.Status != registration.StatusApproved {
		t.Fatalf("the decision did not reach the CRM: %s", rec.Status)
	}
	if plans, err := r.db.Plans(r.key(id)); err != nil || len(plans) != 1 {
		t.Fatalf("the plan of an unheard write: %v, %v", plans, err)
	}
	r.wantEffects(id, 0, 0)
	r.wantAudit(id)

	if o := r.process(id); o.Result != ResultResumed || o.Err != nil {
		t.Fatalf("outcome %s (%v), want resumed", o.Result, o.Err)
	}
	r.wantApprovedOnce(id, cn)
	if plans, err := r.db.Plans(r.key(id)); err != nil || len(plans) != 0 {
		t.Fatalf("a finished plan is left: %v, %v", plans, err)
	}

	if o := r.process(id); o.Result != ResultEcho {
		t.Fatalf("the next read is %s, want echo", o.Result)
	}
	r.wantEffects(id, 1, 1)
	r.wantAudit(id, "submitted>approved approved by regsync")
}

// manual_override: an AE sets a status the transition table forbids
// (approved → declined for another reason than conflict_lost). regsync
// keeps it — never reverts it, never decides again — and audits it once
// as manual_override by the CRM; no task, note or e-mail follows. The
// next read of the record is no change.
func TestManualOverrideIsAuditedAndKept(t *testing.T) {
	r := newFlowRig(t)
	id, cn := r.register(5, "override.example", r.clock.Now().Add(-time.Minute))
	if n := r.deliver(id); n != 1 {
		t.Fatalf("drained %d", n)
	}
	r.want(id, registration.StatusApproved, rules.ReasonApproved)

	r.aeSets(id, map[string]string{"status": "declined", "status_reason": "duplicate"})
	if o := r.process(id); o.Result != ResultObserved || o.Err != nil {
		t.Fatalf("outcome %s (%v), want observed", o.Result, o.Err)
	}
	r.want(id, registration.StatusDeclined, "duplicate")
	r.wantEffects(id, 1, 1) // the approval's, no more
	r.wantAudit(id, "submitted>approved approved by regsync", "approved>declined manual_override by crm")
	r.wantTold(cn, registration.StatusApproved)

	if n := r.deliver(id); n != 1 {
		t.Fatalf("drained %d", n)
	}
	r.want(id, registration.StatusDeclined, "duplicate")
	r.wantAudit(id, "submitted>approved approved by regsync", "approved>declined manual_override by crm")
	if dead, _ := r.db.Dead(); len(dead) != 0 {
		t.Fatalf("dead letters %+v", dead)
	}
}

// Reconcile sweep: a change that neither a webhook nor the poll delivered
// (an AE books the meeting on one of two approved registrations) is found
// by comparing every active registration with what regsync last wrote or
// saw. Only the changed one is queued; drained, it is followed through as
// the AE's decision (audited by the CRM, the partner told).
func TestReconcileQueuesOnlyWhatChanged(t *testing.T) {
	r := newFlowRig(t)
	a, caseA := r.register(6, "reconcile-a.example", r.clock.Now().Add(-time.Minute))
	b, caseB := r.register(7, "reconcile-b.example", r.clock.Now().Add(-time.Minute))
	if n := r.deliver(a, b); n != 2 {
		t.Fatalf("drained %d", n)
	}
	r.want(a, registration.StatusApproved, rules.ReasonApproved)
	r.want(b, registration.StatusApproved, rules.ReasonApproved)
	if n, err := r.w.Reconcile(t.Context()); err != nil || n != 0 {
		t.Fatalf("reconcile after regsync's own writes queued %d (%v), want 0", n, err)
	}

	r.aeSets(b, map[string]string{"status": "meeting_booked"})
	n, err := r.w.Reconcile(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("reconcile queued %d (%v), want 1", n, err)
	}
	it, err := r.db.Item(r.key(b))
	if err != nil || !slices.Contains(it.Reasons(), "reconcile") {
		t.Fatalf("the changed registration is not queued by reconcile: %+v, %v", it, err)
	}
	if _, err := r.db.Item(r.key(a)); err == nil {
		t.Fatal("reconcile queued the unchanged registration")
	}
	if n := r.drain(); n != 1 {
		t.Fatalf("drained %d", n)
	}
	r.want(b, registration.StatusMeetingBooked, rules.ReasonMeetingLogged)
	r.wantAudit(b, "submitted>approved approved by regsync", "approved>meeting_booked meeting_logged by crm")
	r.wantAudit(a, "submitted>approved approved by regsync")
	r.wantTold(caseB, registration.StatusApproved, registration.StatusMeetingBooked)
	if got := r.sent.to(caseA); len(got) != 1 {
		t.Fatalf("partner of %s told %v", caseA, got)
	}
	if n, err := r.w.Reconcile(t.Context()); err != nil || n != 0 {
		t.Fatalf("reconcile after the follow-through queued %d (%v), want 0", n, err)
	}
}

// The two change feeds are one abstraction: each queues what changed since
// its cursor under its own object, moves its own cursor, and the next
// poll brings nothing new.
func TestFeedsQueueAndMoveTheirCursors(t *testing.T) {
	r := newFlowRig(t)
	id, _ := r.register(8, "feed.example", r.clock.Now().Add(-time.Minute))
	deal, err := r.hs.CreateRecord("deals", map[string]string{"dealname": "Direct deal", "dealstage": "qualifiedtobuy"})
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2 * settle) // past poll_settle: the feeds may read them
	for _, f := range []struct {
		poll   func(context.Context) (int, error)
		cursor string
		object string
		id     string
	}{
		{r.w.Poll, r.w.PollCursor(), "partner_registration", id},
		{r.w.PollDeals, r.w.DealCursor(), "deals", deal},
	} {
		if n, err := f.poll(t.Context()); err != nil || n != 1 {
			t.Fatalf("%s: first poll queued %d (%v), want 1", f.object, n, err)
		}
		if cur, err := r.db.Cursor(f.cursor); err != nil || cur == "" {
			t.Fatalf("%s: cursor %q (%v) did not move", f.cursor, cur, err)
		}
		it, err := r.db.Item(state.ItemKey("hubspot", f.object, f.id))
		if err != nil || !slices.Contains(it.Reasons(), "poll") {
			t.Fatalf("%s %s not queued by the poll: %+v, %v", f.object, f.id, it, err)
		}
		if n, err := f.poll(t.Context()); err != nil || n != 0 {
			t.Fatalf("%s: second poll queued %d (%v), want 0", f.object, n, err)
		}
	}
	if r.w.PollCursor() == r.w.DealCursor() {
		t.Fatalf("the feeds share the cursor %q", r.w.PollCursor())
	}
}

// Postpone behind an earlier plan: regsync's approval landed but its
// answer was lost, then an AE booked the meeting before regsync read the
// record back. The earlier decision's side effects come first; while they
// cannot be finished (the CRM fails the note), the AE's change waits —
// the item is retried, not decided on top of an unfinished plan. Once the
// CRM answers, the approval is finished (its note, audit entry, e-mail)
// and then the AE's change is followed through, each audited once.
func TestChangeWaitsForTheEarlierPlan(t *testing.T) {
	r := newFlowRig(t)
	id, cn := r.register(9, "earlier.example", r.clock.Now().Add(-time.Minute))
	r.loseDecisionAnswer()
	if o := r.process(id); o.Result != ResultUnknown {
		t.Fatalf("outcome %+v: want unknown", o)
	}
	r.aeSets(id, map[string]string{"status": "meeting_booked"})
	isNote := func(req *http.Request) bool {
		return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/notes/batch/create")
	}
	r.faults(crmfault.ServerErrorBefore, isNote)

	if n := r.deliver(id); n != 1 {
		t.Fatalf("drained %d", n)
	}
	it, err := r.db.Item(r.key(id))
	if err != nil {
		t.Fatalf("the change left the inbox with its earlier decision unfinished: %v", err)
	}
	if it.Attempts != 1 || !strings.Contains(it.LastError, "finish the earlier decision first") {
		t.Fatalf("inbox item: attempts %d, last error %q", it.Attempts, it.LastError)
	}
	r.want(id, registration.StatusMeetingBooked, rules.ReasonApproved) // the AE's change, untouched
	r.wantEffects(id, 0, 1)                                            // the approval's task; its note failed
	r.wantAudit(id)
	if dead, _ := r.db.Dead(); len(dead) != 0 {
		t.Fatalf("dead letters %+v", dead)
	}

	r.hs.SetInjector(nil)
	r.inbox.Advance(it.NotBefore.Sub(r.inbox.Now()))
	if n := r.drain(); n != 1 {
		t.Fatalf("drained %d on the retry", n)
	}
	r.want(id, registration.StatusMeetingBooked, rules.ReasonMeetingLogged)
	r.wantEffects(id, 2, 1) // the approval's note and task, the meeting's note
	r.wantAudit(id, "submitted>approved approved by regsync", "approved>meeting_booked meeting_logged by crm")
	r.wantTold(cn, registration.StatusApproved, registration.StatusMeetingBooked)
	if plans, err := r.db.Plans(r.key(id)); err != nil || len(plans) != 0 {
		t.Fatalf("plans left: %v, %v", plans, err)
	}
}
