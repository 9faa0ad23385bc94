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
)

// Record is one Partner Registration. Every exported field with a `field` tag
// is a CRM field; the tag is its canonical name (the default HubSpot property
// name, and the name used in YAML rule tests and field mappings). The fields
// are grouped by meaning; Fields lists them in the canonical order of
// ARCHITECTURE.md.
type Record struct {
	// ID is the CRM's own object id (HubSpot hs_object_id, Salesforce Id).
	ID            string `field:"id"`
	CaseNumber    string `field:"case_number"`
	SubmissionKey string `field:"submission_key"`
	Source        string `field:"source"`

	// The decision.
	Status        Status `field:"status"`
	StatusReason  string `field:"status_reason"`
	StatusMessage string `field:"status_message"`
	// DeclinedReason is the reason code of the last decline, kept when
	// the partner appeals it (status_reason then reads appealed).
	DeclinedReason string `field:"declined_reason"`
	// AppealCount is how many times the partner appealed a decline.
	AppealCount float64 `field:"appeal_count"`

	// The partner who registers.
	PartnerID    string `field:"partner_id"`
	PartnerName  string `field:"partner_name"`
	PartnerEmail string `field:"partner_email"`
	PartnerType  string `field:"partner_type"`

	// The prospect and what the partner says about it.
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
	Segment          string  `field:"segment"`
	ProductInterest  string  `field:"product_interest"`
	TargetRevenue    float64 `field:"target_revenue"`
	CompetingVendors string  `field:"competing_vendors"`

	// The registration's clock: when it came, was answered and decided,
	// and the deadlines of its protection.
	SubmittedAt     time.Time `field:"submitted_at"`
	FirstResponseAt time.Time `field:"first_response_at"`
	DecidedAt       time.Time `field:"decided_at"`
	ApprovedAt      time.Time `field:"approved_at"`
	HoldUntil       time.Time `field:"hold_until"`
	MeetingDue      time.Time `field:"meeting_due"`
	SLADue          time.Time `field:"sla_due"`
	FirstMeetingAt  time.Time `field:"first_meeting_at"`
	AttributedAt    time.Time `field:"attributed_at"`

	// Links to the CRM's other objects.
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

	// DomainKey is the registrable domain of CompanyDomain ("globex.example"
	// for "https://eu.globex.example/x"); empty when the domain is blank or
	// invalid. NameKey is CompanyName normalised for matching (see
	// CompanyKey). Both are set by Index; not CRM fields.
	DomainKey string `yaml:"-" json:"-"`
	NameKey   string `yaml:"-" json:"-"`
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
// against thousands of others never normalises the same value twice. A
// record whose domain or name changes afterwards must be indexed again.
func (r *Record) Index() {
	r.DomainKey = ""
	if d, err := NormalizeDomain(r.CompanyDomain); err == nil {
		if reg, err := RegistrableDomain(d); err == nil {
			r.DomainKey = reg
		}
	}
	r.NameKey = CompanyKey(r.CompanyName)
}

// StatusCode is r.Status.Code(): what matching switches on for each of the
// other registrations.
func (r *Record) StatusCode() uint8 { return r.Status.Code() }

// CompanyHost is NormalizeDomain(r.CompanyDomain).
func (r *Record) CompanyHost() (string, error) { return NormalizeDomain(r.CompanyDomain) }

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
