// Package registration holds the canonical Partner Registration record: its
// fields (named as in the CRM field mapping), its statuses and the transitions
// between them, and the normalisation of domains, e-mail addresses and company
// names used to match registrations against each other and against the CRM.
package registration

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unique"
	"unsafe"
)

// Record is one Partner Registration. Every exported field with a `field` tag
// is a CRM field; the tag is its canonical name (the default HubSpot property
// name, and the name used in YAML rule tests and field mappings).
//
// The fields that matching reads for every one of thousands of other
// registrations come first, so that they share a few cache lines; Fields
// lists them in the canonical order of ARCHITECTURE.md.
type Record struct {
	Status Status `field:"status"`
	// ixStatus and ixCode are what Index read of Status: the string and
	// its Code (see StatusCode). Not CRM fields.
	ixStatus Status
	ixCode   uint8
	// DomainKey is the registrable domain of CompanyDomain ("globex.example"
	// for "https://eu.globex.example/x"); empty when the domain is blank or
	// invalid. Set by Index; not a CRM field.
	DomainKey string `yaml:"-" json:"-"`
	PartnerID string `field:"partner_id"`
	// NameKey is CompanyName normalised for matching (see CompanyKey). Set by
	// Index; not a CRM field.
	NameKey        string    `yaml:"-" json:"-"`
	HoldUntil      time.Time `field:"hold_until"`
	SubmittedAt    time.Time `field:"submitted_at"`
	FirstMeetingAt time.Time `field:"first_meeting_at"`
	MeetingDue     time.Time `field:"meeting_due"`
	CaseNumber     string    `field:"case_number"`
	// ID is the CRM's own object id (HubSpot hs_object_id, Salesforce Id).
	ID              string `field:"id"`
	Segment         string `field:"segment"`
	ProductInterest string `field:"product_interest"`

	SubmissionKey string `field:"submission_key"`
	StatusReason  string `field:"status_reason"`
	StatusMessage string `field:"status_message"`
	Source        string `field:"source"`

	PartnerName  string `field:"partner_name"`
	PartnerEmail string `field:"partner_email"`
	PartnerType  string `field:"partner_type"`

	CompanyName      string  `field:"company_name"`
	CompanyDomain    string  `field:"company_domain"`
	ContactName      string  `field:"contact_name"`
	ContactEmail     string  `field:"contact_email"`
	ContactRole      string  `field:"contact_role"`
	Problem          string  `field:"problem"`
	SolutionFit      string  `field:"solution_fit"`
	ServicesNeeded   string  `field:"services_needed"`
	StageGuess       string  `field:"stage_guess"`
	Consent          bool    `field:"consent"`
	Region           string  `field:"region"`
	Country          string  `field:"country"`
	TargetRevenue    float64 `field:"target_revenue"`
	CompetingVendors string  `field:"competing_vendors"`

	FirstResponseAt time.Time `field:"first_response_at"`
	DecidedAt       time.Time `field:"decided_at"`
	ApprovedAt      time.Time `field:"approved_at"`
	SLADue          time.Time `field:"sla_due"`
	AttributedAt    time.Time `field:"attributed_at"`

	OwnerID      string `field:"owner_id"`
	CompanyID    string `field:"company_id"`
	DealID       string `field:"deal_id"`
	ConflictWith string `field:"conflict_with"`

	// SubmissionSeq is regsync's own acceptance order of the submissions of
	// its intake channels (microseconds since the Unix epoch, strictly
	// increasing per process): it breaks ties between registrations
	// submitted within the CRM's time precision. Zero for records created
	// in the CRM by anything else.
	SubmissionSeq float64 `field:"submission_seq"`
	// AppealCount is how many times the partner appealed a decline.
	AppealCount float64 `field:"appeal_count"`
	// DeclinedReason is the reason code of the last decline, kept when
	// the partner appeals it (status_reason then reads appealed).
	DeclinedReason string `field:"declined_reason"`

	// CreatedAt and ModifiedAt are the CRM's own timestamps of the record
	// (HubSpot createdAt / hs_lastmodifieddate, Salesforce CreatedDate /
	// SystemModstamp), set by the connectors. Not CRM fields regsync
	// writes.
	CreatedAt  time.Time `yaml:"-" json:"-"`
	ModifiedAt time.Time `yaml:"-" json:"-"`
	// KeysStale is set by a connector's read when the match keys the CRM
	// stores on the record for its searches differ from DomainKey and
	// NameKey (the record was created or edited outside regsync): the
	// worker writes them with its next write of the record
	// (connectors.Update.Keys). Not a CRM field.
	KeysStale bool `yaml:"-" json:"-"`

	// ixDomain and ixHost are what Index read of CompanyDomain: the string
	// and, when it is valid, its NormalizeDomain (see CompanyHost). Not CRM
	// fields.
	ixDomain, ixHost string
}

// canonicalOrder is the order of ARCHITECTURE.md ("CRM objects and field
// names"), preceded by the CRM object id.
var canonicalOrder = []string{
	"id", "case_number", "submission_key", "status", "status_reason", "status_message", "source",
	"partner_id", "partner_name", "partner_email", "partner_type", "company_name", "company_domain",
	"contact_name", "contact_email", "contact_role", "problem", "solution_fit", "services_needed",
	"stage_guess", "consent", "region", "country", "segment", "product_interest", "target_revenue",
	"competing_vendors", "submitted_at", "first_response_at", "decided_at", "approved_at", "hold_until",
	"meeting_due", "sla_due", "first_meeting_at", "attributed_at", "owner_id", "company_id", "deal_id",
	"conflict_with", "submission_seq", "appeal_count", "declined_reason",
}

// Index computes the derived match keys DomainKey and NameKey from the
// record's company domain and name. Code that builds records (connectors,
// intake channels, rule tests) calls it once, so that matching a record
// against thousands of others never normalises the same value twice.
//
// The keys are interned (package unique): the many records that share a key
// share its storage, so comparing them is a pointer check.
//
// Index also keeps, in unexported fields, the status code (StatusCode) and
// the normalised company host (CompanyHost) it computed on the way. Those are
// tied to the very strings Index read: once Status or CompanyDomain is
// assigned again, even an equal value, they are computed afresh, so they can
// never be stale.
func (r *Record) Index() {
	r.DomainKey, r.ixDomain, r.ixHost = "", "", ""
	if d, err := NormalizeDomain(r.CompanyDomain); err == nil {
		r.ixDomain, r.ixHost = r.CompanyDomain, d
		if reg, err := RegistrableDomain(d); err == nil {
			r.DomainKey = unique.Make(reg).Value()
		}
	}
	r.NameKey = unique.Make(CompanyKey(r.CompanyName)).Value()
	r.ixStatus, r.ixCode = r.Status, r.Status.Code()
}

// StatusCode is r.Status.Code(), taken from Index while Status is the string
// Index read. Matching calls it for each of thousands of other registrations
// per decision: it saves reading each one's status text.
func (r *Record) StatusCode() uint8 {
	// identical(r.Status, r.ixStatus), written out: this method must stay
	// within the compiler's inlining budget to pay off in a loop.
	if len(r.Status) == len(r.ixStatus) && unsafe.StringData(string(r.Status)) == unsafe.StringData(string(r.ixStatus)) {
		return r.ixCode
	}
	return r.Status.Code()
}

// CompanyHost is NormalizeDomain(r.CompanyDomain), taken from Index while
// CompanyDomain is the string Index read and was valid.
func (r *Record) CompanyHost() (string, error) {
	if r.ixHost != "" && identical(r.CompanyDomain, r.ixDomain) {
		return r.ixHost, nil
	}
	return NormalizeDomain(r.CompanyDomain)
}

// identical reports whether a and b are the same string in memory: the same
// length at the same address. Strings are immutable and the field that keeps
// a cached string keeps its bytes alive, so identical strings are equal.
// Equal strings need not be identical (a value read again from the CRM or
// assigned anew): then a cache is not used. The check is two integer
// compares, where a == b reads both strings.
func identical(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// FieldKind is the type of a record field's value.
type FieldKind int

// Field kinds.
const (
	KindString FieldKind = iota
	KindBool
	KindNumber
	KindTime
)

func (k FieldKind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindNumber:
		return "number"
	case KindTime:
		return "time"
	default:
		return "string"
	}
}

// Field describes one CRM field of Record.
type Field struct {
	Name  string
	Kind  FieldKind
	index int
}

var (
	fields      []Field
	fieldByName map[string]Field
	timeType    = reflect.TypeFor[time.Time]()
	statusType  = reflect.TypeFor[Status]()
)

func init() {
	t := reflect.TypeFor[Record]()
	fieldByName = make(map[string]Field, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("field")
		if name == "" {
			continue
		}
		var k FieldKind
		switch {
		case sf.Type == timeType:
			k = KindTime
		case sf.Type.Kind() == reflect.Bool:
			k = KindBool
		case sf.Type.Kind() == reflect.Float64:
			k = KindNumber
		case sf.Type.Kind() == reflect.String:
			k = KindString
		default:
			panic("registration: unsupported field type " + sf.Type.String())
		}
		fieldByName[name] = Field{Name: name, Kind: k, index: i}
	}
	if len(canonicalOrder) != len(fieldByName) {
		panic("registration: canonicalOrder does not list every field")
	}
	for _, name := range canonicalOrder {
		f, ok := fieldByName[name]
		if !ok {
			panic("registration: canonicalOrder names unknown field " + name)
		}
		fields = append(fields, f)
	}
}

// Fields lists the record's CRM fields in their canonical order (the order of
// ARCHITECTURE.md, preceded by the CRM object id).
func Fields() []Field { return append([]Field(nil), fields...) }

// LookupField returns the field with the given canonical name.
func LookupField(name string) (Field, bool) {
	f, ok := fieldByName[name]
	return f, ok
}

// FieldNames lists every canonical field name.
func FieldNames() []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return names
}

// IsZero reports whether the field is blank on r: an empty or all-space
// string, false, zero, or the zero time.
func (f Field) IsZero(r *Record) bool {
	v := reflect.ValueOf(r).Elem().Field(f.index)
	switch f.Kind {
	case KindString:
		return strings.TrimSpace(v.String()) == ""
	case KindTime:
		return v.Interface().(time.Time).IsZero()
	default:
		return v.IsZero()
	}
}

// Get returns the field's value on r as text: times as RFC 3339 in UTC (empty
// when zero), booleans as true/false, numbers in their shortest form (empty
// when zero).
func (f Field) Get(r *Record) string {
	v := reflect.ValueOf(r).Elem().Field(f.index)
	switch f.Kind {
	case KindTime:
		t := v.Interface().(time.Time)
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindNumber:
		if v.Float() == 0 {
			return ""
		}
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	default:
		return v.String()
	}
}

// Set parses text into the field on r. Blank text clears the field. Times are
// RFC 3339 (a date alone, 2006-01-02, means midnight UTC) or Unix epoch
// milliseconds, as HubSpot sends them; booleans accept true/false, yes/no,
// on/off and 1/0; numbers may carry thousands separators ("1,234.5") but
// not NaN or infinities.
func (f Field) Set(r *Record, text string) error {
	v := reflect.ValueOf(r).Elem().Field(f.index)
	s := strings.TrimSpace(text)
	switch f.Kind {
	case KindString:
		if v.Type() == statusType {
			v.SetString(strings.ToLower(s))
			return nil
		}
		v.SetString(text)
	case KindBool:
		if s == "" {
			v.SetBool(false)
			return nil
		}
		b, ok := ParseBool(s)
		if !ok {
			return fmt.Errorf("%s: %q is not a yes/no value", f.Name, text)
		}
		v.SetBool(b)
	case KindNumber:
		if s == "" {
			v.SetFloat(0)
			return nil
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("%s: %q is not a number", f.Name, text)
		}
		v.SetFloat(n)
	case KindTime:
		t, err := ParseTime(s)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		v.Set(reflect.ValueOf(t))
	}
	return nil
}

// Get returns the named field's value as text (see Field.Get).
func (r *Record) Get(name string) (string, error) {
	f, ok := fieldByName[name]
	if !ok {
		return "", fmt.Errorf("unknown field %q", name)
	}
	return f.Get(r), nil
}

// Set parses text into the named field (see Field.Set).
func (r *Record) Set(name, text string) error {
	f, ok := fieldByName[name]
	if !ok {
		return fmt.Errorf("unknown field %q", name)
	}
	return f.Set(r, text)
}

// ParseBool reads the ways people write yes and no in forms and CRMs.
func ParseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "on", "1", "checked", "x":
		return true, true
	case "false", "no", "n", "off", "0", "":
		return false, true
	}
	return false, false
}

// ParseTime reads an instant: RFC 3339 (with or without fractional seconds),
// a bare date (midnight UTC), or Unix epoch milliseconds. Blank text is the
// zero time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && len(s) >= 10 && n >= 0 {
		// Epoch milliseconds (HubSpot), or epoch seconds for values too
		// small to be milliseconds after 1973 (ten digits: 2001 onwards).
		if n < 1e11 {
			return time.Unix(n, 0).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
}
