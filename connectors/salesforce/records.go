package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/registration"
)

// sfTime is how the REST API writes datetimes: 2026-03-02T15:00:00.000+0000.
const sfTime = "2006-01-02T15:04:05.000-0700"

func parseSFTime(s string) (time.Time, bool) {
	for _, l := range []string{sfTime, time.RFC3339Nano} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// regFields is the SELECT list of a registration.
func (c *Client) regFields() string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if !seen[strings.ToLower(f)] {
			seen[strings.ToLower(f)] = true
			out = append(out, f)
		}
	}
	add("Id")
	add("CreatedDate")
	add("SystemModstamp")
	for _, f := range registration.FieldNames() {
		if f != "id" {
			add(c.cfg.FieldName(f))
		}
	}
	for _, f := range []string{FieldDomainKey, FieldNameKey, FieldAccount, FieldOpportunity} {
		add(f)
	}
	return strings.Join(out, ", ")
}

// lowerKeys indexes a query record by lower-case field name (Salesforce
// answers with each field's own casing, the mapping may use another).
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// fieldValue is a query record's text value of a field, whatever the
// casing Salesforce answered it with.
func fieldValue(m map[string]any, name string) string {
	if v, ok := m[name]; ok {
		return str(v)
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return str(v)
		}
	}
	return ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// toText renders a JSON value as registration.Field.Set text.
func toText(kind registration.FieldKind, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if kind == registration.KindTime {
			if t, ok := parseSFTime(x); ok {
				return t.Format(time.RFC3339Nano)
			}
		}
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// toRecord converts a query record to an Indexed registration. It is
// marked KeysStale when the stored match keys differ from the ones its
// company domain and name give (created or edited in the UI): the worker
// writes them with its next write of it (connectors.Update.Keys).
func (c *Client) toRecord(m map[string]any) registration.Record {
	var r registration.Record
	lk := lowerKeys(m)
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			r.ID = str(lk["id"])
			continue
		}
		v, ok := lk[strings.ToLower(c.cfg.FieldName(f.Name))]
		if !ok {
			continue
		}
		if err := f.Set(&r, toText(f.Kind, v)); err != nil {
			c.log.Debug("salesforce: unreadable field value skipped", "field", f.Name, "id", r.ID, "err", err)
		}
	}
	// The CRM's own timestamps: a registration created outside regsync
	// has no submitted_at, and its place in line is its creation time.
	if t, ok := parseSFTime(str(lk["createddate"])); ok {
		r.CreatedAt = t
	}
	if t, ok := parseSFTime(str(lk["systemmodstamp"])); ok {
		r.ModifiedAt = t
	}
	if id := str(lk[strings.ToLower(FieldAccount)]); id != "" {
		r.CompanyID = id
	}
	if id := str(lk[strings.ToLower(FieldOpportunity)]); id != "" {
		r.DealID = id
	}
	r.Index()
	// The name key as it is stored: clipped to the field's length, so that
	// a long one never reads as stale (and is never written again) forever.
	nameKey := r.NameKey
	c.cmu.Lock()
	if oi := c.describe[c.cfg.Object]; oi != nil {
		nameKey = oi.clip(FieldNameKey, nameKey)
	}
	c.cmu.Unlock()
	r.KeysStale = str(lk[strings.ToLower(FieldDomainKey)]) != r.DomainKey || str(lk[strings.ToLower(FieldNameKey)]) != nameKey
	return r
}

// readRegistrations runs statements over the registration object and
// returns the records, de-duplicated by id, in the order found.
func (c *Client) readRegistrations(ctx context.Context, op string, soqls []string) ([]registration.Record, error) {
	var out []registration.Record
	seen := map[string]bool{}
	err := c.queries(ctx, op, soqls, func(_ int, recs []map[string]any) error {
		for _, m := range recs {
			r := c.toRecord(m)
			if r.ID == "" || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			out = append(out, r)
			c.noteLookups(r.ID, lookups{account: fullID(fieldValue(m, FieldAccount)), opportunity: fullID(fieldValue(m, FieldOpportunity))})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Registrations reads registrations by id; ids not found (or not ids) are
// omitted.
func (c *Client) Registrations(ctx context.Context, ids []string) ([]registration.Record, error) {
	var valid []string
	for _, id := range ids {
		if validID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	soqls, err := c.inQueries("SELECT "+c.regFields()+" FROM "+c.cfg.Object+" WHERE Id IN ", valid, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: read registrations: %w", err)
	}
	return c.readRegistrations(ctx, "read registrations", soqls)
}

// Lookup reads registrations by case number.
func (c *Client) Lookup(ctx context.Context, caseNumbers []string) ([]registration.Record, error) {
	soqls, err := c.inQueries("SELECT "+c.regFields()+" FROM "+c.cfg.Object+" WHERE "+c.cfg.FieldName("case_number")+" IN ", caseNumbers, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: lookup: %w", err)
	}
	return c.readRegistrations(ctx, "lookup", soqls)
}

// Find returns every registration in one of statuses (a SOQL IN filter on
// the status field, paged).
func (c *Client) Find(ctx context.Context, statuses []registration.Status) ([]registration.Record, error) {
	var vals []string
	for _, s := range statuses {
		if !s.Valid() {
			return nil, fmt.Errorf("salesforce: find: unknown status %q", s)
		}
		vals = append(vals, string(s))
	}
	if len(vals) == 0 {
		return nil, nil
	}
	soqls, err := c.inQueries("SELECT "+c.regFields()+" FROM "+c.cfg.Object+" WHERE "+c.cfg.FieldName("status")+" IN ", vals, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: find: %w", err)
	}
	return c.readRegistrations(ctx, "find", soqls)
}

// All streams every registration to fn, a query page (up to 2,000) at a
// time.
func (c *Client) All(ctx context.Context, fn func([]registration.Record) error) error {
	var fnErr error
	err := c.query(ctx, "list registrations", "SELECT "+c.regFields()+" FROM "+c.cfg.Object, func(recs []map[string]any) error {
		page := make([]registration.Record, 0, len(recs))
		for _, m := range recs {
			page = append(page, c.toRecord(m))
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			fnErr = err
			return errStop
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Changes are polled on SystemModstamp, which Salesforce keeps at second
// precision, so many records share one instant. The cursor remembers a low
// bound and, for every record seen at or after it, the stamp it was
// returned with: a poll reads everything from the low bound (ordered by
// SystemModstamp, Id), returns what it has not returned at that stamp, and
// moves the low bound to the newest stamp minus PollOverlap, so a
// transaction that commits late with an earlier stamp is still seen.
// Records stamped in the very second the server answered are returned but
// not remembered (they may change again within that second without a new
// stamp), so they come once more in the next poll; nothing else is returned
// twice for the same change, and nothing forever.

const (
	cursorVersion = "sfc1"
	// maxChanged bounds the ids one poll returns.
	maxChanged = 10000
	// maxSeen bounds the records the cursor remembers.
	maxSeen = 20000
)

type changeCursor struct {
	lo   time.Time
	seen map[string]time.Time
}

func (cc changeCursor) String() string {
	ids := make([]string, 0, len(cc.seen))
	for id := range cc.seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString(cursorVersion)
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(cc.lo.UnixMilli(), 10))
	b.WriteByte('|')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(cc.seen[id].UnixMilli(), 36))
		b.WriteByte(':')
		b.WriteString(id)
	}
	return b.String()
}

func parseCursor(s string) (changeCursor, error) {
	cc := changeCursor{seen: map[string]time.Time{}}
	if s == "" {
		return cc, nil
	}
	parts := strings.Split(s, "|")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return cc, fmt.Errorf("not a Salesforce change cursor: %q", crmhttp.Clip(s, 40))
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cc, fmt.Errorf("bad cursor time %q", parts[1])
	}
	cc.lo = time.UnixMilli(ms).UTC()
	if parts[2] == "" {
		return cc, nil
	}
	for _, e := range strings.Split(parts[2], ",") {
		st, id, ok := strings.Cut(e, ":")
		n, err := strconv.ParseInt(st, 36, 64)
		if !ok || err != nil || !validID(id) {
			return cc, fmt.Errorf("bad cursor entry %q", crmhttp.Clip(e, 40))
		}
		cc.seen[id] = time.UnixMilli(n).UTC()
	}
	return cc, nil
}

// changed polls object for records modified since cursor.
func (c *Client) changed(ctx context.Context, op, object, cursor string) ([]string, string, error) {
	cc, err := parseCursor(cursor)
	if err != nil {
		// The cursor is not one regsync wrote: asking again cannot help.
		return nil, cursor, connectors.NewError(op, 0, connectors.ClassPermanent, "invalid", err)
	}
	soql := "SELECT Id, SystemModstamp FROM " + object
	if !cc.lo.IsZero() {
		soql += " WHERE SystemModstamp >= " + DateTime(cc.lo)
	}
	soql += " ORDER BY SystemModstamp, Id"
	var ids []string
	newest := cc.lo
	for _, t := range cc.seen {
		if t.After(newest) {
			newest = t
		}
	}
	var page queryPage
	var serverNow time.Time
	if _, err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/query?q=" + url.QueryEscape(soql), date: &serverNow}, &page); err != nil {
		return nil, cursor, err
	}
	// A record stamped in the second the server answered may change again
	// within that second, keeping its stamp: it is returned but not
	// remembered, so the next poll returns it once more.
	final := serverNow.Truncate(time.Second)
	err = c.follow(ctx, op, page, func(recs []map[string]any) error {
		for _, m := range recs {
			id := str(m["Id"])
			st, ok := parseSFTime(str(m["SystemModstamp"]))
			if id == "" || !ok {
				continue
			}
			if prev, ok := cc.seen[id]; ok && prev.Equal(st) {
				continue
			}
			ids = append(ids, id)
			if !serverNow.IsZero() && !st.Before(final) {
				delete(cc.seen, id)
			} else {
				cc.seen[id] = st
			}
			if st.After(newest) {
				newest = st
			}
			if len(ids) >= maxChanged {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, cursor, err
	}
	lo := newest.Add(-c.cfg.PollOverlap)
	if lo.Before(cc.lo) {
		lo = cc.lo
	}
	if len(cc.seen) > maxSeen {
		stamps := make([]time.Time, 0, len(cc.seen))
		for _, t := range cc.seen {
			stamps = append(stamps, t)
		}
		sort.Slice(stamps, func(i, j int) bool { return stamps[i].Before(stamps[j]) })
		if t := stamps[len(stamps)-maxSeen]; t.After(lo) {
			lo = t
		}
	}
	for id, t := range cc.seen {
		if t.Before(lo) {
			delete(cc.seen, id)
		}
	}
	cc.lo = lo
	return ids, cc.String(), nil
}

// Changed lists the registrations modified since cursor.
func (c *Client) Changed(ctx context.Context, cursor string) ([]string, string, error) {
	return c.changed(ctx, "poll registrations", c.cfg.Object, cursor)
}
