package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
)

// HubSpot's documented batch sizes.
const (
	batchSize      = 100  // batch read/create/update/upsert, association creates
	assocReadBatch = 1000 // associations v4 batch read
)

// object is a CRM record as HubSpot's object APIs answer it.
type object struct {
	ID                 string             `json:"id"`
	Properties         map[string]*string `json:"properties"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	Archived           bool               `json:"archived"`
	New                bool               `json:"new"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId"`
	Associations       map[string]struct {
		Results []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"results"`
		Paging paging `json:"paging"`
	} `json:"associations"`
}

// paging is the cursor of a HubSpot list, search or association answer:
// pass Next.After back for the next page ("" at the end).
type paging struct {
	Next struct {
		After string `json:"after"`
	} `json:"next"`
}

func (o *object) prop(name string) string {
	if v := o.Properties[name]; v != nil {
		return *v
	}
	return ""
}

// batchError is one failed input of a batch answer (207).
type batchError struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context"`
	Errors   []struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"errors"`
}

// batchAnswer is the answer of a batch endpoint (200, 201 or 207).
type batchAnswer struct {
	Status    string       `json:"status"`
	Results   []object     `json:"results"`
	NumErrors int          `json:"numErrors"`
	Errors    []batchError `json:"errors"`
}

// schemaCache remembers the registration object's type id.
type schemaCache struct {
	mu     sync.Mutex
	typeID string
	fqn    string
}

func (s *schemaCache) known() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typeID != ""
}

func (s *schemaCache) set(id, fqn string) {
	s.mu.Lock()
	s.typeID, s.fqn = id, fqn
	s.mu.Unlock()
}

// assocCache remembers default association types by "from/to".
type assocCache struct {
	mu sync.Mutex
	m  map[string]assocType
}

func (a *assocCache) get(key string) (assocType, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.m[key]
	return at, ok
}

func (a *assocCache) set(key string, at assocType) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]assocType{}
	}
	a.m[key] = at
}

// ErrNotSetUp means the partner_registration object does not exist in the
// portal: run regsync setup.
var ErrNotSetUp = errors.New("the partner_registration custom object does not exist in this HubSpot portal: run `regsync setup`")

type schemaList struct {
	Results []schemaInfo `json:"results"`
}

type schemaInfo struct {
	ID                 string        `json:"id"`
	ObjectTypeID       string        `json:"objectTypeId"`
	Name               string        `json:"name"`
	FullyQualifiedName string        `json:"fullyQualifiedName"`
	Archived           bool          `json:"archived"`
	Associations       []assocDef    `json:"associations"`
	Properties         []propertyDef `json:"properties"`
}

// assocDef is an association definition of a custom object schema.
type assocDef struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	FromObjectTypeID string `json:"fromObjectTypeId"`
	ToObjectTypeID   string `json:"toObjectTypeId"`
}

// regType returns the object type to use in paths for registrations: the
// custom object's type id ("2-…", looked up once) or "deals".
func (c *Client) regType(ctx context.Context) (string, error) {
	if c.cfg.Object == ObjectDeals {
		return "deals", nil
	}
	c.schema.mu.Lock()
	id := c.schema.typeID
	c.schema.mu.Unlock()
	if id != "" {
		return id, nil
	}
	s, err := c.findSchema(ctx)
	if err != nil {
		return "", err
	}
	if s == nil {
		return "", fmt.Errorf("hubspot: %w", connectors.NewError("schemas", http.StatusNotFound, connectors.ClassPermanent, "not_set_up", ErrNotSetUp))
	}
	return s.ObjectTypeID, nil
}

// findSchema reads the portal's custom object schemas and returns the
// registration object's, or nil when it does not exist.
func (c *Client) findSchema(ctx context.Context) (*schemaInfo, error) {
	var list schemaList
	if err := c.get(ctx, "schemas", "/crm-object-schemas/v3/schemas", nil, &list); err != nil {
		return nil, fmt.Errorf("hubspot: read custom object schemas: %w", err)
	}
	for i := range list.Results {
		s := &list.Results[i]
		if s.Name == ObjectRegistration && !s.Archived {
			if s.ObjectTypeID == "" {
				s.ObjectTypeID = s.ID
			}
			c.schema.set(s.ObjectTypeID, s.FullyQualifiedName)
			return s, nil
		}
	}
	return nil, nil
}

// objectName maps a HubSpot object type id to the object name regsync uses
// in events ("" when unknown and not resolvable).
func (c *Client) objectName(typeID string) string {
	switch typeID {
	case "0-1":
		return "contacts"
	case "0-2":
		return "companies"
	case "0-3":
		return "deals"
	case "0-5":
		return "tickets"
	}
	c.schema.mu.Lock()
	id := c.schema.typeID
	c.schema.mu.Unlock()
	if id != "" && id == typeID {
		return ObjectRegistration
	}
	return typeID
}

// --- field mapping -------------------------------------------------------------

// regProps lists the properties read for a registration.
func (c *Client) regProps() []string {
	props := []string{"hs_object_id", "hs_lastmodifieddate", PropDomainKey, PropNameKey}
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		props = append(props, c.cfg.property(f.Name))
	}
	return props
}

// isRegistration reports whether a record of the registration object type
// is a registration: always for the custom object; for deals, when it
// carries a case number or a submission key.
func (c *Client) isRegistration(o *object) bool {
	if c.cfg.Object != ObjectDeals {
		return true
	}
	return o.prop(c.cfg.property("case_number")) != "" || o.prop(c.cfg.property("submission_key")) != ""
}

// toRecord decodes a registration. A record whose stored match keys
// differ from what its company domain and name give (created or edited
// outside regsync) is marked KeysStale: the worker writes the keys with
// its next write of it (connectors.Update.Keys).
func (c *Client) toRecord(o *object) registration.Record {
	var r registration.Record
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		v := o.Properties[c.cfg.property(f.Name)]
		if v == nil || *v == "" {
			continue
		}
		if err := f.Set(&r, *v); err != nil {
			c.log.Warn("hubspot: ignoring a property value regsync cannot read", "record", o.ID,
				"field", f.Name, "property", c.cfg.property(f.Name), "kind", f.Kind.String())
		}
	}
	r.ID = o.ID
	// The CRM's own timestamps: a registration created outside regsync
	// has no submitted_at, and its place in line is its creation time.
	if t, err := registration.ParseTime(o.CreatedAt); err == nil {
		r.CreatedAt = t
	}
	if t, err := registration.ParseTime(o.prop("hs_lastmodifieddate")); err == nil && !t.IsZero() {
		r.ModifiedAt = t
	} else if t, err := registration.ParseTime(o.UpdatedAt); err == nil {
		r.ModifiedAt = t
	}
	r.Index()
	r.KeysStale = o.prop(PropDomainKey) != r.DomainKey || o.prop(PropNameKey) != r.NameKey
	return r
}

// encodeFields maps canonical fields to HubSpot properties, validating
// values so that one bad value fails its own record, never a batch. It
// adds the derived match keys when the company domain or name is written.
func (c *Client) encodeFields(fields map[string]string) (map[string]string, error) {
	props := make(map[string]string, len(fields)+2)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		v := fields[name]
		f, ok := registration.LookupField(name)
		if !ok || name == "id" {
			errs = append(errs, fmt.Errorf("%s: not a registration field", name))
			continue
		}
		s, err := encodeValue(f, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		props[c.cfg.property(name)] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var probe registration.Record
	if d, ok := fields["company_domain"]; ok {
		probe.CompanyDomain = d
		probe.Index()
		props[PropDomainKey] = probe.DomainKey
	}
	if n, ok := fields["company_name"]; ok {
		probe.CompanyName = n
		probe.Index()
		props[PropNameKey] = probe.NameKey
	}
	return props, nil
}

// encodeValue renders a field value as HubSpot wants it: datetimes as epoch
// milliseconds, booleans as true/false, numbers plainly, statuses exactly.
func encodeValue(f registration.Field, v string) (string, error) {
	s := strings.TrimSpace(v)
	switch f.Kind {
	case registration.KindTime:
		t, err := registration.ParseTime(s)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.Name, err)
		}
		if t.IsZero() {
			return "", nil
		}
		return strconv.FormatInt(t.UnixMilli(), 10), nil
	case registration.KindBool:
		b, ok := registration.ParseBool(s)
		if !ok {
			return "", fmt.Errorf("%s: %q is not a yes/no value", f.Name, v)
		}
		return strconv.FormatBool(b), nil
	case registration.KindNumber:
		if s == "" {
			return "", nil
		}
		var r registration.Record
		if err := f.Set(&r, s); err != nil {
			return "", err
		}
		n, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		return strconv.FormatFloat(n, 'f', -1, 64), nil
	}
	if f.Name == "status" && s != "" && !registration.Status(strings.ToLower(s)).Valid() {
		return "", fmt.Errorf("status: %q is not a registration status", v)
	}
	if f.Name == "status" {
		return strings.ToLower(s), nil
	}
	if len(v) > 65536 {
		return "", fmt.Errorf("%s: %d characters, HubSpot stores at most 65536", f.Name, len(v))
	}
	return v, nil
}

// --- reads -----------------------------------------------------------------------

type batchReadInput struct {
	ID string `json:"id"`
}

type batchReadRequest struct {
	Properties []string         `json:"properties"`
	IDProperty string           `json:"idProperty,omitempty"`
	Inputs     []batchReadInput `json:"inputs"`
}

// batchRead reads records by id (≤ 100 per call); ids not found are
// omitted. The answer is keyed by id.
func (c *Client) batchRead(ctx context.Context, objType string, ids []string, props []string) (map[string]*object, error) {
	return c.batchReadBy(ctx, objType, "", ids, props)
}

// batchReadBy is batchRead by the values of a unique property (idProperty;
// "" for the record id). The answer is still keyed by record id.
func (c *Client) batchReadBy(ctx context.Context, objType, idProperty string, ids []string, props []string) (map[string]*object, error) {
	ids = dedupe(ids)
	out := make(map[string]*object, len(ids))
	for _, ch := range chunks(len(ids), batchSize) {
		req := batchReadRequest{Properties: props, IDProperty: idProperty}
		for _, id := range ids[ch[0]:ch[1]] {
			req.Inputs = append(req.Inputs, batchReadInput{ID: id})
		}
		var ans batchAnswer
		_, err := c.do(ctx, call{op: "batch read", method: http.MethodPost,
			path: "/crm/v3/objects/" + objType + "/batch/read", query: url.Values{"archived": {"false"}},
			body: req, out: &ans})
		if err != nil {
			return nil, fmt.Errorf("hubspot: batch read %d %s: %w", ch[1]-ch[0], objType, err)
		}
		for i := range ans.Results {
			o := &ans.Results[i]
			if !o.Archived {
				out[o.ID] = o
			}
		}
	}
	return out, nil
}

// Registrations reads registrations by id, 100 per call; ids not found
// (or, in deals mode, deals that are not registrations) are omitted.
func (c *Client) Registrations(ctx context.Context, ids []string) ([]registration.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := c.batchRead(ctx, t, ids, c.regProps())
	if err != nil {
		return nil, err
	}
	recs := make([]registration.Record, 0, len(objs))
	for _, id := range dedupe(ids) {
		if o := objs[id]; o != nil && c.isRegistration(o) {
			recs = append(recs, c.toRecord(o))
		}
	}
	return recs, nil
}

// Lookup reads registrations by case number: a batch read with
// idProperty case_number (a unique property, created so by setup), 100 a
// call. Reads by id see a write at once, where search lags it by seconds
// (HubSpot's search guide): a partner who opens a status link the moment
// the decision e-mail arrives, or a submission repeated within seconds,
// finds the registration. Case numbers not found are omitted. Should the
// portal refuse the read by case number (a case_number property that is
// not unique), it falls back to IN searches.
func (c *Client) Lookup(ctx context.Context, caseNumbers []string) ([]registration.Record, error) {
	var vals, exact []string
	for _, cn := range dedupe(caseNumbers) {
		if s := strings.TrimSpace(cn); s != "" {
			vals = append(vals, strings.ToLower(s))
			exact = append(exact, s)
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}
	prop := c.cfg.property("case_number")
	var recs []registration.Record
	objs, err := c.batchReadBy(ctx, t, prop, exact, c.regProps())
	if err == nil {
		byCase := make(map[string]*object, len(objs))
		for _, o := range objs {
			byCase[o.prop(prop)] = o
		}
		for _, cn := range exact {
			if o := byCase[cn]; o != nil && c.isRegistration(o) {
				recs = append(recs, c.toRecord(o))
			}
		}
		return recs, nil
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		return nil, fmt.Errorf("hubspot: look up %d case numbers: %w", len(vals), err)
	}
	c.log.Warn("hubspot: the portal does not read registrations by case number (is case_number a unique property? run regsync setup); searching instead", "err", err)
	err = c.searchIn(ctx, t, prop, vals, nil, c.regProps(), func(o *object) error {
		if c.isRegistration(o) {
			recs = append(recs, c.toRecord(o))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hubspot: look up %d case numbers: %w", len(vals), err)
	}
	return recs, nil
}

// Find returns every registration in one of statuses, by search.
func (c *Client) Find(ctx context.Context, statuses []registration.Status) ([]registration.Record, error) {
	var vals []string
	for _, s := range statuses {
		if s != "" && !slices.Contains(vals, string(s)) {
			vals = append(vals, string(s))
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}
	var recs []registration.Record
	err = c.searchIn(ctx, t, c.cfg.property("status"), vals, nil, c.regProps(), func(o *object) error {
		if c.isRegistration(o) {
			recs = append(recs, c.toRecord(o))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hubspot: find registrations by status: %w", err)
	}
	return recs, nil
}

type listAnswer struct {
	Results []object `json:"results"`
	Paging  paging   `json:"paging"`
}

// list pages through every record of a type with the list endpoint.
func (c *Client) list(ctx context.Context, objType string, props, assocs []string, fn func([]object) error) error {
	after := ""
	for {
		q := url.Values{"limit": {"100"}, "archived": {"false"}, "properties": {strings.Join(props, ",")}}
		if len(assocs) > 0 {
			q.Set("associations", strings.Join(assocs, ","))
		}
		if after != "" {
			q.Set("after", after)
		}
		var ans listAnswer
		if err := c.get(ctx, "list", "/crm/v3/objects/"+objType, q, &ans); err != nil {
			return fmt.Errorf("hubspot: list %s: %w", objType, err)
		}
		if len(ans.Results) > 0 {
			if err := fn(ans.Results); err != nil {
				return err
			}
		}
		next := ans.Paging.Next.After
		if next == "" || next == after {
			return nil
		}
		after = next
	}
}

// listType names the registrations' object type in list paths: its type
// id once known, else HubSpot's p_<name> shorthand for the custom object,
// which spares a one-shot reader (regsync report) the schema lookup.
func (c *Client) listType() string {
	if c.cfg.Object == ObjectDeals {
		return "deals"
	}
	c.schema.mu.Lock()
	defer c.schema.mu.Unlock()
	if c.schema.typeID != "" {
		return c.schema.typeID
	}
	return "p_" + ObjectRegistration
}

// All streams every registration to fn, a page (100) at a time, with the
// list endpoint: one call per 100 registrations.
//
// A portal that does not know the shorthand (or has no partner_registration
// object) refuses the first page: the type id is then looked up, which says
// "run regsync setup" when the object is missing.
func (c *Client) All(ctx context.Context, fn func([]registration.Record) error) error {
	t := c.listType()
	pages := 0
	err := c.all(ctx, t, func(recs []registration.Record) error {
		pages++
		return fn(recs)
	})
	var ce *connectors.Error
	if err != nil && pages == 0 && t == "p_"+ObjectRegistration && errors.As(err, &ce) &&
		(ce.Status == http.StatusBadRequest || ce.Status == http.StatusNotFound) {
		id, rerr := c.regType(ctx)
		if rerr != nil {
			return rerr
		}
		return c.all(ctx, id, fn)
	}
	return err
}

func (c *Client) all(ctx context.Context, t string, fn func([]registration.Record) error) error {
	return c.list(ctx, t, c.regProps(), nil, func(objs []object) error {
		recs := make([]registration.Record, 0, len(objs))
		for i := range objs {
			if c.isRegistration(&objs[i]) {
				recs = append(recs, c.toRecord(&objs[i]))
			}
		}
		if len(recs) == 0 {
			return nil
		}
		return fn(recs)
	})
}

// --- writes ----------------------------------------------------------------------

type writeInput struct {
	ID                 string            `json:"id,omitempty"`
	IDProperty         string            `json:"idProperty,omitempty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
	Properties         map[string]string `json:"properties"`
	Associations       []assocInput      `json:"associations,omitempty"`
}

type batchWriteRequest struct {
	Inputs []writeInput `json:"inputs"`
}

// Write applies updates (by id) and creates (on submission_key when ID is
// empty, create only: see createConflict), 100 per call. The result is parallel to updates. A
// record HubSpot rejects carries its own error; when HubSpot rejects a
// whole batch for one bad value, the batch is split until the bad record
// is alone, so it never blocks the others. Failures that hit whole batches
// (network, 5xx after retries, 401, the daily limit) are set on each of
// their records and also returned, joined.
func (c *Client) Write(ctx context.Context, updates []connectors.Update) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(updates))
	if len(updates) == 0 {
		return res, nil
	}
	t, err := c.regType(ctx)
	if err != nil {
		for i := range res {
			res[i].Err = err
		}
		return res, err
	}
	keyProp := c.cfg.property("submission_key")
	caseProp := c.cfg.property("case_number")
	var ups, upd []pending
	for i, u := range updates {
		props, err := c.encodeFields(u.Fields)
		if err != nil {
			res[i].Err = c.recordError("write", http.StatusBadRequest, connectors.ClassPermanent, "invalid", err)
			continue
		}
		switch {
		case u.ID != "":
			if u.Keys != nil {
				if _, set := props[PropDomainKey]; !set {
					props[PropDomainKey] = u.Keys.Domain
				}
				if _, set := props[PropNameKey]; !set {
					props[PropNameKey] = u.Keys.Name
				}
			}
			upd = append(upd, pending{i: i, key: u.ID, in: writeInput{ID: u.ID, Properties: props}})
		case strings.TrimSpace(u.SubmissionKey) != "":
			key := u.SubmissionKey
			props[keyProp] = key
			if props[caseProp] == "" {
				props[caseProp] = registration.CaseNumberFor(key)
			}
			if c.cfg.Object == ObjectDeals {
				// A registration kept as a deal needs what every deal needs.
				if props["dealname"] == "" {
					props["dealname"] = dealName(u.Fields, props[caseProp])
				}
				if props["pipeline"] == "" {
					props["pipeline"] = c.cfg.DealPipeline
				}
				if props["dealstage"] == "" {
					props["dealstage"] = c.cfg.DealStage
				}
			}
			ups = append(ups, pending{i: i, key: key, in: writeInput{Properties: props}})
		default:
			res[i].Err = c.recordError("write", http.StatusBadRequest, connectors.ClassPermanent, "invalid",
				errors.New("an update needs the record's id or, to create it, a submission key"))
		}
	}
	var errs []error
	for _, round := range rounds(ups) {
		if err := c.writeBatches(ctx, t, "create", round, res); err != nil {
			errs = append(errs, err)
		}
	}
	for _, round := range rounds(upd) {
		if err := c.writeBatches(ctx, t, "update", round, res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// dealName names a registration kept as a deal.
func dealName(fields map[string]string, caseNumber string) string {
	name := strings.TrimSpace(fields["company_name"])
	if name == "" {
		name = strings.TrimSpace(fields["company_domain"])
	}
	if name == "" {
		return "Partner registration " + caseNumber
	}
	return name + " (partner registration " + caseNumber + ")"
}

// pending is one write waiting for its batch.
type pending struct {
	i   int    // index in the caller's slice
	key string // id or submission key: unique within a batch
	in  writeInput
}

// rounds splits writes so that no batch names the same record twice
// (HubSpot refuses such a batch); later writes of a record go to later
// rounds, so they apply in the caller's order.
func rounds(ps []pending) [][]pending {
	var out [][]pending
	seen := []map[string]bool{}
	for _, p := range ps {
		r := 0
		for r < len(out) && seen[r][p.key] {
			r++
		}
		if r == len(out) {
			out = append(out, nil)
			seen = append(seen, map[string]bool{})
		}
		out[r] = append(out[r], p)
		seen[r][p.key] = true
	}
	return out
}

// writeBatches sends writes in batches of 100, splitting a batch HubSpot
// refuses as a whole (400) until the bad record is alone.
func (c *Client) writeBatches(ctx context.Context, objType, kind string, ps []pending, res []connectors.Result) error {
	var errs []error
	for _, ch := range chunks(len(ps), batchSize) {
		if err := c.writeBatch(ctx, objType, kind, ps[ch[0]:ch[1]], res); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Client) writeBatch(ctx context.Context, objType, kind string, ps []pending, res []connectors.Result) error {
	return c.writeBatchN(ctx, objType, kind, ps, res, 0)
}

// writeBatchN is writeBatch on its conflicts-th try after a create conflict.
func (c *Client) writeBatchN(ctx context.Context, objType, kind string, ps []pending, res []connectors.Result, conflicts int) error {
	op := "batch " + kind
	req := batchWriteRequest{Inputs: make([]writeInput, len(ps))}
	for j, p := range ps {
		in := p.in
		in.ObjectWriteTraceID = strconv.Itoa(j)
		req.Inputs[j] = in
	}
	var ans batchAnswer
	_, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/crm/v3/objects/" + objType + "/batch/" + kind,
		body: req, out: &ans})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == http.StatusBadRequest && len(ps) > 1 {
			// One bad value fails the whole batch: split it.
			half := len(ps) / 2
			return errors.Join(c.writeBatchN(ctx, objType, kind, ps[:half], res, conflicts),
				c.writeBatchN(ctx, objType, kind, ps[half:], res, conflicts))
		}
		if ce != nil && ce.Status == http.StatusConflict && kind == "create" {
			return c.createConflict(ctx, objType, ps, res, ce, conflicts)
		}
		for _, p := range ps {
			res[p.i].Err = err
		}
		if ce != nil && ce.Status == http.StatusBadRequest {
			return nil // a record's own problem, carried in its result
		}
		return fmt.Errorf("hubspot: %s %d records: %w", op, len(ps), err)
	}
	c.applyBatch(op, kind, ps, &ans, res)
	return nil
}

// createConflict follows a batch create HubSpot refused because a unique
// value of an input is already held by a record: 409 CONFLICT for the
// whole batch, whose message names only the first such record
// (https://developers.hubspot.com/docs/api-reference/error-handling; the
// property's hasUniqueValue, https://developers.hubspot.com/docs/guides/api/crm/properties#create-unique-identifier-properties).
// That is a submission sent again, or a create whose answer was lost and
// that the client sent again. The batch's submission keys are read (a
// batch read by idProperty sees writes at once, where search lags): the
// records found are reported as existing, untouched — they may have been
// decided since — and the rest are created again. A conflict that names
// no submission key of the batch (another unique value) is each record's
// own error.
func (c *Client) createConflict(ctx context.Context, objType string, ps []pending, res []connectors.Result, cause *connectors.Error, conflicts int) error {
	keyProp := c.cfg.property("submission_key")
	keys := make([]string, len(ps))
	for j, p := range ps {
		keys[j] = p.key
	}
	objs, err := c.batchReadBy(ctx, objType, keyProp, keys, []string{keyProp})
	if err != nil {
		// Nothing of this batch was written (HubSpot refused it whole):
		// whatever the read's trouble, a later create finds out again.
		class := connectors.ClassOf(err)
		if class == connectors.ClassUnknown {
			class = connectors.ClassRetry
		}
		for _, p := range ps {
			res[p.i].Err = connectors.NewError("batch create", 0, class, connectors.Reason(err), err)
		}
		return fmt.Errorf("hubspot: batch create %d records: read their submission keys after a conflict: %w", len(ps), err)
	}
	held := make(map[string]string, len(objs))
	for id, o := range objs {
		held[strings.ToLower(o.prop(keyProp))] = id
	}
	var rest []pending
	for _, p := range ps {
		if id, ok := held[strings.ToLower(p.key)]; ok {
			res[p.i] = connectors.Result{ID: id, Exists: true}
			continue
		}
		rest = append(rest, p)
	}
	if len(rest) == 0 {
		return nil
	}
	if len(rest) == len(ps) || conflicts >= 3 {
		for _, p := range rest {
			res[p.i].Err = cause
		}
		return nil
	}
	return c.writeBatchN(ctx, objType, "create", rest, res, conflicts+1)
}

// applyBatch maps a batch answer's results and errors back to the inputs:
// by objectWriteTraceId, else by id (updates) or submission key (upserts),
// else, for errors, by the ids in their context.
func (c *Client) applyBatch(op, kind string, ps []pending, ans *batchAnswer, res []connectors.Result) {
	done := make([]bool, len(ps))
	byKey := make(map[string]int, len(ps))
	for j, p := range ps {
		byKey[strings.ToLower(p.key)] = j
	}
	keyProp := c.cfg.property("submission_key")
	for k := range ans.Results {
		o := &ans.Results[k]
		j := -1
		if n, err := strconv.Atoi(o.ObjectWriteTraceID); err == nil && o.ObjectWriteTraceID != "" && n >= 0 && n < len(ps) {
			j = n
		} else if kind == "upsert" {
			if v, ok := byKey[strings.ToLower(o.prop(keyProp))]; ok {
				j = v
			}
		} else if v, ok := byKey[strings.ToLower(o.ID)]; ok {
			j = v
		}
		if j < 0 && len(ans.Results) == len(ps) && len(ans.Errors) == 0 {
			j = k // HubSpot answers in input order when all succeed
		}
		if j < 0 || done[j] {
			continue
		}
		done[j] = true
		res[ps[j].i] = connectors.Result{ID: o.ID, Created: kind == "create" || (kind == "upsert" && o.New)}
	}
	for _, be := range ans.Errors {
		err := c.batchErr(op, be)
		matched := false
		for _, ids := range be.Context {
			for _, id := range ids {
				if j, ok := byKey[strings.ToLower(id)]; ok && !done[j] {
					done[j], matched = true, true
					res[ps[j].i] = connectors.Result{Err: err}
				}
			}
		}
		if !matched && len(ans.Errors) == 1 {
			for j := range ps {
				if !done[j] {
					done[j] = true
					res[ps[j].i] = connectors.Result{Err: err}
				}
			}
		}
	}
	for j := range ps {
		if !done[j] {
			// HubSpot answered 2xx for the batch but not for this record:
			// whether it was applied is not known.
			res[ps[j].i].Err = c.recordError(op, 0, connectors.ClassUnknown, "bad_response",
				errors.New("HubSpot's batch answer names neither a result nor an error for this record"))
		}
	}
}

// batchErr turns one error of a 207 answer into a *connectors.Error. A
// record's own error is a definite answer for it (the batch was applied
// record by record), so its class is never unknown: RATE_LIMITS postpones,
// LOCKED retries, and the rest (VALIDATION_ERROR, OBJECT_NOT_FOUND,
// CONFLICT, …) are permanent. Batch answers: 200 when every input
// succeeded, 207 with errors[] otherwise
// (https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis,
// https://developers.hubspot.com/docs/api-reference/error-handling#multi-status-errors).
func (c *Client) batchErr(op string, be batchError) *connectors.Error {
	status, reason, class := http.StatusBadRequest, "invalid", connectors.ClassPermanent
	var after time.Duration
	switch strings.ToUpper(be.Category) {
	case "OBJECT_NOT_FOUND":
		status, reason = http.StatusNotFound, "not_found"
	case "CONFLICT", "OBJECT_ALREADY_EXISTS":
		status, reason = http.StatusConflict, "conflict"
	case "RATE_LIMITS":
		status, reason, class, after = http.StatusTooManyRequests, "rate_limited", connectors.ClassPostpone, waitWindow
	case "LOCKED":
		status, reason, class, after = http.StatusLocked, "rate_limited", connectors.ClassRetry, waitLocked
	}
	msg := be.Message
	for i, d := range be.Errors {
		if i == 3 {
			break
		}
		if d.Message != "" && d.Message != msg {
			msg += "; " + d.Message
		}
	}
	e := connectors.NewError(op, status, class, reason, errors.New(c.scrub.String(msg)))
	e.After = after
	c.usage.Fail(reason)
	return e
}

// recordError is a per-record failure found before or after a call.
func (c *Client) recordError(op string, status int, class connectors.Class, reason string, err error) *connectors.Error {
	c.usage.Fail(reason)
	return connectors.NewError(op, status, class, reason, errors.New(c.scrub.String(err.Error())))
}

// dedupe returns ids without blanks and repeats, in first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// msString renders an instant as HubSpot's search wants it.
func msString(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
