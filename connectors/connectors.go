// Package connectors is what regsync needs from a CRM, as role-sized,
// batch-first interfaces (CRM is their union), and the types that cross
// them. One package per CRM implements them all (hubspot, salesforce), each
// with a protocol-faithful fake beside it; their shared HTTP layer is
// connectors/internal/crmhttp.
//
// Connectors know nothing of the rules: they read and write records, gather
// facts, and say whether a failure is worth retrying.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/regsync/regsync/registration"
)

// CRM is everything regsync asks of a CRM: the union of the role-sized
// interfaces below, each what one kind of consumer uses. Every connector
// (hubspot, salesforce) implements all of them, and only the code that
// builds a connector holds it as a CRM; everything else takes the role it
// plays. Every method is batch-first: callers pass as many records as they
// have and the connector splits them into the CRM's batch sizes.
type CRM interface {
	Records
	FactFinder
	Writer
	SideEffects
	Feed
	Attributor
	WebhookVerifier
	ReportSource
	Health
}

// Named is the connector's name, for logs, metric labels and the keys of
// regsync's state ("hubspot", "salesforce"). Every role includes it.
type Named interface {
	Name() string
}

// Records reads registrations, for whoever decides or shows them: the
// worker reads by id before every decision (the current record, whatever
// a search says); intake and status pages look up by case number.
type Records interface {
	Named

	// Registrations reads registrations by CRM id; ids not found are
	// omitted. Each record is Indexed, and says whether its stored match
	// keys are stale (registration.Record.KeysStale).
	Registrations(ctx context.Context, ids []string) ([]registration.Record, error)

	// Lookup reads registrations by case number (search with IN, chunked),
	// for intake replies and status pages; case numbers not found are
	// omitted. Each record is Indexed.
	Lookup(ctx context.Context, caseNumbers []string) ([]registration.Record, error)
}

// FactFinder gathers what the rules need to decide: for the worker's
// decisions and intake's direct creation.
type FactFinder interface {
	// Facts gathers, for each record, what the rules need: the company
	// matched by registrable domain, its open deals, the other registrations
	// on the same registrable domain or with the same normalised company
	// name, and the partner's count of other active registrations. The
	// result is parallel to records.
	Facts(ctx context.Context, records []registration.Record) ([]registration.Facts, error)
}

// Writer writes registrations: the worker's decisions and the match keys
// it keeps current (Update.Keys), intake's creates, partners' amendments.
type Writer interface {
	// Write applies updates (and creates, for intake). The result is
	// parallel to updates; a failed update carries its own error, so one bad
	// record never blocks the others.
	Write(ctx context.Context, updates []Update) ([]Result, error)
}

// SideEffects are what a decision owes besides its write: links, AE tasks,
// audit notes. Each is idempotent by its Key (see Task).
type SideEffects interface {
	// Link associates registrations with companies and deals.
	Link(ctx context.Context, links []Link) error

	// Task opens tasks for AEs on registrations.
	Task(ctx context.Context, tasks []Task) error

	// Note records audit notes on registrations.
	Note(ctx context.Context, notes []Note) error
}

// Feed is how the worker finds work besides webhooks: the change feed it
// polls and the searches of its sweeps.
type Feed interface {
	Named

	// Changed lists the registrations modified since cursor (empty: since
	// the beginning), in modification order, and the cursor to pass next
	// time. Records sharing a modification instant are never skipped nor
	// returned forever.
	Changed(ctx context.Context, cursor string) (ids []string, next string, err error)

	// Find returns every registration whose status is one of statuses, found
	// by the CRM's search or query (never by listing every record): the
	// sweeps' candidates. Each record is Indexed.
	Find(ctx context.Context, statuses []registration.Status) ([]registration.Record, error)
}

// Attributor follows deals, so that registrations convert, win and lose
// with them and the partner is credited on the deal.
type Attributor interface {
	Named

	// Deals reads deals by CRM id, each with its company, amount, stage
	// outcome and associated registrations; ids not found are omitted.
	Deals(ctx context.Context, ids []string) ([]registration.Deal, error)

	// ChangedDeals lists the deals created or modified since cursor, like
	// Changed: attribution follows deals as AEs create and move them.
	ChangedDeals(ctx context.Context, cursor string) (ids []string, next string, err error)

	// CompanyRegistrations finds, for each company (account) id, the
	// registrations of that company whose status is one of statuses: those
	// linked to it (association or lookup, or company_id) and those on its
	// registrable domain. Attribution uses it to find the registration a
	// deal on the company credits. Keyed by company id; each record is
	// Indexed. Batch-first: a few calls for up to 100 companies.
	CompanyRegistrations(ctx context.Context, companyIDs []string, statuses []registration.Status) (map[string][]registration.Record, error)

	// Attribute stamps the partner on deals (the deal's partner property)
	// and associates each deal with its registration, so commissions are
	// paid from the CRM. The result is parallel to attributions.
	Attribute(ctx context.Context, attributions []Attribution) ([]Result, error)
}

// WebhookVerifier is what the HTTP server needs of a connector to take its
// webhooks (connectors that want a particular answer also implement
// WebhookAcker).
type WebhookVerifier interface {
	Named

	// VerifyWebhook checks a webhook request's signature and freshness and
	// parses its events. An error means the request must be refused (401)
	// and changes nothing.
	VerifyWebhook(r *http.Request, body []byte) ([]Event, error)
}

// ReportSource is what reports, summaries and the dashboard read: every
// registration and every deal, with the list or bulk endpoints.
type ReportSource interface {
	Named

	// All streams every registration to fn, a page at a time, with the
	// CRM's list or bulk-query endpoints (never search): for reports, which
	// read everything. Each record is Indexed. An error from fn stops it.
	All(ctx context.Context, fn func([]registration.Record) error) error

	// AllDeals streams every deal to fn, a page at a time (list or bulk
	// endpoints, never search), for reports.
	AllDeals(ctx context.Context, fn func([]registration.Deal) error) error
}

// Health is what readiness, /metrics and the dashboard's budget ask.
type Health interface {
	Named

	// Ping checks that the CRM answers and accepts the credentials, for
	// /readyz. It costs at most one cheap API call.
	Ping(ctx context.Context) error

	// Usage reports the connector's API consumption, for /metrics and the
	// dashboard. It makes no call.
	Usage() Usage
}

// WebhookAcker is implemented by connectors whose webhook sender expects a
// particular success answer (Salesforce outbound messages want a SOAP Ack).
// The server calls it only after the events are durably in the inbox;
// connectors without it get 204 No Content.
type WebhookAcker interface {
	WriteWebhookAck(w http.ResponseWriter)
}

// TimePrecision is implemented by connectors whose CRM keeps instants more
// coarsely than milliseconds (Salesforce DateTime fields: whole seconds).
// The worker truncates every instant it writes to it, so that what it reads
// back equals what it wrote and its echo is recognised.
type TimePrecision interface {
	TimePrecision() time.Duration
}

// SearchSettle is implemented by connectors whose CRM's search lags behind
// its writes (HubSpot indexes a write for search seconds after it landed).
// The worker grants protection (an approval) only once this long has
// passed since the registration's submission, so that every earlier rival
// is visible to the search that decides it. Connectors without it have no
// lag (Salesforce's queries read committed data at once).
type SearchSettle interface {
	SearchSettle() time.Duration
}

// Usage is what a connector has spent of the CRM's API allowance.
type Usage struct {
	// Calls counts HTTP requests sent, retries included, by operation
	// ("batch read", "search", …).
	Calls map[string]int64
	// RateLimited counts answers that said a limit was reached (HubSpot 429,
	// Salesforce REQUEST_LIMIT_EXCEEDED).
	RateLimited int64
	// Failures counts failed operations by Error.Reason.
	Failures map[string]int64
	// DailyUsed and DailyLimit are the CRM's own count of the day's calls,
	// as it last reported them; zero when unknown.
	DailyUsed, DailyLimit int64
	// PausedUntil is set while writes are stopped because the daily
	// allocation ran out; they resume by themselves after it.
	PausedUntil time.Time
}

// Update writes fields of one registration. Fields are keyed by canonical
// field name (see registration.Fields) with values in registration.Field.Get
// form; the connector maps names to the CRM's properties.
type Update struct {
	// ID is the CRM id of the record to update. Empty with SubmissionKey
	// set: create the registration on that submission key, create only —
	// when a record already holds the key (the same submission again, or a
	// create whose answer was lost and that is sent again) it is left as
	// it is, never written over (it may have been decided since), and
	// reported with Result.Exists. So the same submission twice never
	// makes two records nor undoes a decision.
	ID            string
	SubmissionKey string
	Fields        map[string]string
	// Keys, when set on an update by ID, are written as the record's
	// stored match keys with it: the worker sets them for a record it read
	// with stale keys (registration.Record.KeysStale), so that the CRM's
	// searches for rivals find it by them. An update by ID with no Fields
	// and Keys set writes the keys alone. Keys derived from a company_domain
	// or company_name the update writes take precedence; a create always
	// stores the keys of what it creates.
	Keys *MatchKeys
}

// MatchKeys are the derived keys a connector stores on a registration for
// its searches (registration.Record's DomainKey and NameKey).
type MatchKeys struct {
	Domain, Name string
}

// Result is the outcome of one Update.
type Result struct {
	ID      string // the record's CRM id (new for a create)
	Created bool
	// Exists reports a create (SubmissionKey) that found a record holding
	// its submission key: ID is that record's, which was not written.
	Exists bool
	// Err is nil on success; otherwise this record's own failure, with its
	// own class (ClassOf): within one batch a record may be permanent
	// (invalid) while another is retry (a lock) or unknown (absent from
	// the answer).
	Err error
}

// Link associates a registration with a company or a deal.
type Link struct {
	RegistrationID string
	CompanyID      string
	DealID         string
}

// Attribution credits a deal to the partner of an approved registration.
type Attribution struct {
	DealID         string
	RegistrationID string
	PartnerID      string
}

// Task is a to-do for an AE on a registration.
type Task struct {
	RegistrationID string
	OwnerID        string // CRM user reference; empty: unassigned
	Subject        string
	Body           string
	Due            time.Time
	// Key identifies this one task: the same on every attempt to open it
	// (a retry after an unknown outcome, a resume after a crash) and
	// different for every other task (regsync uses "<plan key>/<decision
	// instant>/task"). With a Key, a connector opens at most one task per
	// Key however often it is asked, finding the one an earlier attempt
	// created when that attempt's answer was lost. Without one, connectors
	// only avoid obvious repeats (see each connector). See MarkKey.
	Key string
	// Fresh says that no earlier attempt with this Key can have reached the
	// CRM (the Key was made for this very call), so the connector need not
	// look for one: a first attempt costs no extra call. It describes one
	// call and is never stored.
	Fresh bool `json:"-"`
}

// Note is an audit note on a registration.
type Note struct {
	RegistrationID string
	Body           string
	At             time.Time
	// Key and Fresh are as for Task: at most one note per Key.
	Key   string
	Fresh bool `json:"-"`
}

// Event is one change a CRM reported by webhook or poll.
type Event struct {
	Object     string // the CRM object type, e.g. partner_registration
	RecordID   string
	Property   string // empty for a creation
	Value      string
	Source     string // the CRM's change source (CRM_UI, INTEGRATION, API…)
	EventID    string
	OccurredAt time.Time
}

// Webhook refusals. VerifyWebhook wraps one of them so that the server
// answers with the right code; anything else is treated as a bad
// signature.
var (
	// ErrWebhookSignature: the signature, timestamp or sender is not valid
	// (401).
	ErrWebhookSignature = errors.New("webhook signature not valid")
	// ErrWebhookPayload: the request is authentic but its body cannot be
	// parsed (400).
	ErrWebhookPayload = errors.New("webhook payload not valid")
)

// Class is what a failure means for the record it concerns, and so what
// regsync does next. Both connectors classify every failure, reads and
// writes, into one of four classes; docs/errors.md has the table with each
// CRM's own status codes and error codes.
//
// The question a class answers is whether the CRM applied the request:
// retry and postpone say it did not, unknown says it may have, permanent
// says it refused. A batch call gives each record its own class
// (Result.Err): one record's validation error is permanent while its
// neighbour's lock is retry.
type Class string

const (
	// ClassRetry is a transient fault after which nothing was applied: the
	// request never left (connection refused, DNS, TLS), or the CRM
	// refused it before acting (a row lock, a 5xx or a cut-short answer to
	// a read, a record rolled back inside a batch). Retry soon, with a
	// backoff that grows with the attempts.
	ClassRetry Class = "retry"
	// ClassPostpone is a limit: the CRM refused the request for now and
	// said, or implies, when to come back (HubSpot's 429 with its policy,
	// 477 with Retry-After; Salesforce's REQUEST_LIMIT_EXCEEDED). Nothing
	// was applied and the record is not at fault: retry not before
	// Error.After, without counting an attempt against the record.
	ClassPostpone Class = "postpone"
	// ClassUnknown is an outcome regsync did not hear: a write that timed
	// out or lost its connection after the request was sent, a 5xx on a
	// write, or a 2xx answer cut short or unparsable. The CRM may have
	// applied it. That is not a failure: whoever planned the write keeps
	// its plan, reads the record again before deciding anything, and
	// retries with backoff.
	ClassUnknown Class = "unknown"
	// ClassPermanent is a definite refusal that sending the same request
	// again cannot mend: invalid values, validation rules, a record not
	// found or deleted, credentials refused after a refresh, a missing
	// scope or field permission. The record goes to the dead letters with
	// the class and the CRM's reason; an operator fixes the cause and
	// retries it (news about the record brings it back by itself).
	ClassPermanent Class = "permanent"
)

// Transient reports whether c is worth retrying: retry, postpone and
// unknown are; permanent (and the empty class of no failure) are not.
func (c Class) Transient() bool {
	return c == ClassRetry || c == ClassPostpone || c == ClassUnknown
}

// Valid reports whether c is one of the four classes.
func (c Class) Valid() bool { return c.Transient() || c == ClassPermanent }

func (c Class) String() string { return string(c) }

// rank orders classes for a failure made of several (a joined error): the
// most cautious wins. Unknown first (something may have been applied),
// then postpone (retrying before the CRM's time only meets the limit
// again), then retry; permanent only when every part is.
func (c Class) rank() int {
	switch c {
	case ClassUnknown:
		return 4
	case ClassPostpone:
		return 3
	case ClassRetry:
		return 2
	case ClassPermanent:
		return 1
	}
	return 0
}

// Error is a failure the connector classified: its class, a short reason
// that becomes a metric label, and how long the CRM asked to wait.
//
// Build one with NewError, or set Class and Retry together: Retry is kept,
// equal to Class.Transient(), for callers that read it; new code asks
// ClassOf.
type Error struct {
	Op     string // e.g. "batch update"
	Status int    // HTTP status, 0 for network failures and per-record errors
	Reason string // e.g. rate_limited, server_error, invalid, unauthorized, daily_limit
	// Class is what the failure means (see Class). An Error without one is
	// read by its Retry: unknown when true, permanent when false.
	Class Class
	// Retry is Class.Transient(), kept for the callers that predate Class.
	Retry bool
	// After is how long to wait before retrying, when the CRM said.
	After time.Duration
	Err   error
}

// NewError returns a classified error with Retry set from class.
func NewError(op string, status int, class Class, reason string, err error) *Error {
	return &Error{Op: op, Status: status, Reason: reason, Class: class, Retry: class.Transient(), Err: err}
}

// SetClass sets e's class and, with it, Retry; it returns e.
func (e *Error) SetClass(c Class) *Error {
	e.Class, e.Retry = c, c.Transient()
	return e
}

func (e *Error) class() Class {
	switch {
	case e.Class.Valid():
		return e.Class
	case e.Retry:
		return ClassUnknown
	}
	return ClassPermanent
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (HTTP %d): %v", e.Op, e.Reason, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Op, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err, for deciding what becomes of the record
// it concerns: "" for nil; else the class of the *Error err is or wraps.
//
// An error made of several (errors.Join, fmt.Errorf with several %w, a
// batch that failed in different ways) takes the most cautious class of its
// parts: unknown over postpone over retry over permanent, so it is
// permanent only when every part is.
//
// An error no connector classified is ClassUnknown, and so is a context
// cancellation or deadline (also for a read, where retry would do): the
// caller cannot tell whether a write it interrupted reached the CRM, and
// unknown is the one class whose handling is right whatever happened — it
// is retried like retry, the plan is kept in case the write landed, and it
// never dead-letters a record for a fault that may pass. The price of a
// permanent fault taken for unknown is retries at the capped backoff, in
// sight in the inbox with their last error.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	best := Class("")
	walk(err, func(c Class, _ *Error) {
		if c.rank() > best.rank() {
			best = c
		}
	})
	return best
}

// walk calls fn for every part of err: each *Error found (its own class;
// what it wraps is not looked into) and each unclassified leaf (unknown).
func walk(err error, fn func(Class, *Error)) {
	switch e := err.(type) {
	case nil:
		return
	case *Error:
		fn(e.class(), e)
		return
	case interface{ Unwrap() []error }:
		for _, p := range e.Unwrap() {
			walk(p, fn)
		}
		return
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			walk(inner, fn)
			return
		}
	}
	fn(ClassUnknown, nil)
}

// After returns how long the CRM asked to wait before err's request is
// tried again: the longest Error.After among its parts (zero when none
// said).
func After(err error) time.Duration {
	var d time.Duration
	walk(err, func(_ Class, e *Error) {
		if e != nil && e.After > d {
			d = e.After
		}
	})
	return d
}

// Reason returns the metric label of a classified error ("error" otherwise).
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return "error"
}
