package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Batch limit of the objects API.
const maxBatch = 100

// Change sources, as webhook events name them.
const (
	srcAPI  = "INTEGRATION"
	srcUI   = "CRM_UI"
	srcForm = "FORM"
	srcSeed = "" // seed loading: no events
)

// propMap is a properties object of a request. HubSpot (Jackson) coerces
// JSON numbers and booleans to strings; null clears like "".
type propMap map[string]string

func (m *propMap) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(propMap, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0 || string(v) == "null":
			out[k] = ""
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out[k] = s
		case v[0] == '{' || v[0] == '[':
			return &json.UnmarshalTypeError{Value: "object or array", Type: nil, Field: "properties." + k}
		default:
			out[k] = string(v) // number or boolean literal
		}
	}
	*m = out
	return nil
}

// propChange is one property a write changed.
type propChange struct {
	name, value string
}

// systemNames are the properties every record answer carries.
func (t *objectType) systemNames() []string {
	return []string{t.createdDate, t.modifiedDate, "hs_object_id"}
}

func (t *objectType) upper() string { return strings.ToUpper(t.singular) }

// checkProps validates and normalises the property values of a write.
// Callers hold s.mu.
func (s *Server) checkProps(t *objectType, props propMap, src string) (map[string]string, []valueError) {
	out := make(map[string]string, len(props))
	var errs []valueError
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := props[k]
		p := t.props[k]
		if p == nil || p.Archived {
			errs = append(errs, unknownPropertyError(k))
			continue
		}
		if p.ModificationMetadata.ReadOnlyValue && src != srcSeed {
			errs = append(errs, valueError{Name: k, Code: "READ_ONLY_VALUE", Message: fmt.Sprintf("%q is a read only property; its value cannot be set.", k)})
			continue
		}
		nv, ve := normalize(p, v)
		if ve != nil {
			errs = append(errs, *ve)
			continue
		}
		if nv != "" && p.ReferencedObjectType == "OWNER" && !s.ownerExists(nv) {
			errs = append(errs, valueError{Name: k, Code: "INVALID_OWNER_ID", Message: fmt.Sprintf("%s is not a valid owner id", nv)})
			continue
		}
		if k == "email" && t.id == typeContact {
			nv = strings.ToLower(strings.TrimSpace(nv))
		}
		out[k] = nv
	}
	return out, errs
}

// conflict reports a unique value another live record holds. Callers hold s.mu.
func (s *Server) conflict(t *objectType, self string, vals map[string]string) *httpError {
	for name, idx := range t.unique {
		v, ok := vals[name]
		if !ok || v == "" {
			continue
		}
		if other := idx[v]; other != "" && other != self && t.live(other) != nil {
			if t.id == typeContact {
				return newHTTPError(http.StatusConflict, "CONFLICT", fmt.Sprintf("Contact already exists. Existing ID: %s", other))
			}
			return newHTTPError(http.StatusConflict, "CONFLICT",
				fmt.Sprintf("A %s with the unique value %q for property %q already exists. Existing ID: %s", t.singular, v, name, other))
		}
	}
	return nil
}

// missingRequired lists the required properties a create lacks.
func missingRequired(t *objectType, vals map[string]string) []valueError {
	var req []string
	if t.schema != nil {
		req = t.schema.requiredProperties
	} else {
		req = requiredOnCreate[t.id]
	}
	var errs []valueError
	for _, n := range req {
		if vals[n] == "" {
			errs = append(errs, valueError{Name: n, Code: "REQUIRED_PROPERTY", Message: fmt.Sprintf("Required property %q is missing", n)})
		}
	}
	return errs
}

// createLocked stores a new record with checked values; at is the write
// time. It returns the changes for webhook events. Callers hold s.mu.
func (s *Server) createLocked(t *objectType, vals map[string]string, src string, at time.Time) *record {
	s.nextID++
	id := strconv.FormatInt(s.nextID, 10)
	r := &record{id: id, props: make(map[string]string, len(vals)+4), created: at, updated: at}
	if v := vals[t.createdDate]; v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && src == srcSeed {
			r.created = time.UnixMilli(n).UTC()
		}
	}
	var changes []propChange
	for _, k := range sortedKeys(vals) {
		if v := vals[k]; v != "" {
			r.props[k] = v
			changes = append(changes, propChange{k, v})
		}
	}
	if t.id == typeDeal {
		if r.props["pipeline"] == "" {
			r.props["pipeline"] = "default"
		}
		if r.props["dealstage"] == "" {
			r.props["dealstage"] = DealStages[0]
		}
	}
	r.props["hs_object_id"] = id
	if r.props[t.createdDate] == "" {
		r.props[t.createdDate] = ms(r.created)
	}
	r.props[t.modifiedDate] = ms(r.updated)
	s.derive(t, r)
	t.records[id] = r
	t.ids = append(t.ids, id)
	s.wrote(t, r, src)
	for name, idx := range t.unique {
		if v := r.props[name]; v != "" {
			idx[v] = id
		}
	}
	if src != srcSeed {
		s.hooks.emit(t, id, true, changes, src, at)
	}
	return r
}

// updateLocked applies checked values to a record; it touches
// hs_lastmodifieddate only when something changed. Callers hold s.mu.
func (s *Server) updateLocked(t *objectType, r *record, vals map[string]string, src string, at time.Time) []propChange {
	// The new version gets a map of its own: search may still show the
	// old one (see version).
	prev := r.props
	r.props = maps.Clone(prev)
	var changes []propChange
	for _, k := range sortedKeys(vals) {
		v := vals[k]
		old, had := r.props[k]
		if old == v || (!had && v == "") {
			continue
		}
		if idx := t.unique[k]; idx != nil {
			if had && idx[old] == r.id {
				delete(idx, old)
			}
			if v != "" {
				idx[v] = r.id
			}
		}
		if v == "" {
			delete(r.props, k)
		} else {
			r.props[k] = v
		}
		changes = append(changes, propChange{k, v})
	}
	if len(changes) == 0 {
		r.props = prev
		return nil
	}
	r.supersede(prev)
	before := map[string]string{"hs_is_closed": r.props["hs_is_closed"], "hs_is_closed_won": r.props["hs_is_closed_won"]}
	s.derive(t, r)
	for _, k := range []string{"hs_is_closed", "hs_is_closed_won"} {
		if t.id == typeDeal && before[k] != r.props[k] {
			changes = append(changes, propChange{k, r.props[k]})
		}
	}
	r.updated = at
	r.props[t.modifiedDate] = ms(at)
	s.wrote(t, r, src)
	if src != srcSeed {
		s.hooks.emit(t, r.id, false, changes, src, at)
	}
	return changes
}

// derive maintains calculated properties.
func (s *Server) derive(t *objectType, r *record) {
	if t.id != typeDeal {
		return
	}
	stage := r.props["dealstage"]
	r.props["hs_is_closed"] = strconv.FormatBool(stage == "closedwon" || stage == "closedlost")
	r.props["hs_is_closed_won"] = strconv.FormatBool(stage == "closedwon")
}

func (s *Server) archiveLocked(t *objectType, r *record, at time.Time) {
	if r.archived {
		return
	}
	r.supersede(r.props)
	r.archived = true
	r.archivedAt = at
	s.wrote(t, r, srcAPI)
	for name, idx := range t.unique {
		if v := r.props[name]; v != "" && idx[v] == r.id {
			delete(idx, v)
		}
	}
}

// wrote notes that r's current version was written just now (seed
// records count as indexed long since), and drops the versions search no
// longer needs, of r and — every time the records keeping versions have
// doubled — of the type's other records. Callers hold s.mu.
func (s *Server) wrote(t *objectType, r *record, src string) {
	now, lag := s.limNow(), s.SearchLag()
	r.written = now
	if src == srcSeed {
		r.written = time.Time{}
	}
	r.trim(now, lag)
	if len(r.past) == 0 {
		delete(t.lagging, r)
		return
	}
	if t.lagging == nil {
		t.lagging = map[*record]struct{}{}
	}
	t.lagging[r] = struct{}{}
	if len(t.lagging) < max(64, 2*t.swept) {
		return
	}
	for x := range t.lagging {
		if x.trim(now, lag); len(x.past) == 0 {
			delete(t.lagging, x)
		}
	}
	t.swept = len(t.lagging)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- rendering ------------------------------------------------------------------

type valueWithTimestamp struct {
	Value      string `json:"value"`
	Timestamp  string `json:"timestamp"`
	SourceType string `json:"sourceType"`
}

// recordJSON is a SimplePublicObject (with associations, or an upsert result).
type recordJSON struct {
	ID                    string                          `json:"id"`
	Properties            map[string]*string              `json:"properties"`
	PropertiesWithHistory map[string][]valueWithTimestamp `json:"propertiesWithHistory,omitempty"`
	CreatedAt             string                          `json:"createdAt"`
	UpdatedAt             string                          `json:"updatedAt"`
	Archived              bool                            `json:"archived"`
	ArchivedAt            string                          `json:"archivedAt,omitempty"`
	New                   *bool                           `json:"new,omitempty"`
	ObjectWriteTraceID    string                          `json:"objectWriteTraceId,omitempty"`
	Associations          map[string]any                  `json:"associations,omitempty"`
}

// view renders a record with the named properties (unknown names are
// ignored, known ones without a value are null) and the system ones.
// Callers hold s.mu.
func (s *Server) view(t *objectType, r *record, names []string) recordJSON {
	v := recordJSON{ID: r.id, Properties: make(map[string]*string, len(names)+3),
		CreatedAt: iso(r.created), UpdatedAt: iso(r.updated), Archived: r.archived}
	if r.archived {
		v.ArchivedAt = iso(r.archivedAt)
	}
	add := func(n string) {
		p := t.props[n]
		if p == nil {
			return
		}
		if val, ok := r.props[n]; ok {
			rv := render(p, val)
			v.Properties[n] = &rv
		} else {
			v.Properties[n] = nil
		}
	}
	for _, n := range t.systemNames() {
		add(n)
	}
	for _, n := range names {
		add(n)
	}
	return v
}

func (s *Server) withHistory(t *objectType, r *record, v *recordJSON, names []string) {
	if len(names) == 0 {
		return
	}
	v.PropertiesWithHistory = map[string][]valueWithTimestamp{}
	for _, n := range names {
		p := t.props[n]
		if p == nil {
			continue
		}
		h := []valueWithTimestamp{}
		if val, ok := r.props[n]; ok {
			h = append(h, valueWithTimestamp{Value: render(p, val), Timestamp: iso(r.updated), SourceType: "API"})
		}
		v.PropertiesWithHistory[n] = h
	}
}

// listParam reads a comma-separated, possibly repeated, query parameter.
func listParam(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// objectType resolves the {objectType} path value. Callers hold s.mu.
func (s *Server) pathType(r *http.Request) (*objectType, *httpError) {
	name := r.PathValue("objectType")
	t := s.resolve(name)
	if t == nil {
		return nil, unknownType(name)
	}
	return t, nil
}

// Lock modes of lockType.
const (
	forReading = false
	forWriting = true
)

// lockType decodes the request's JSON body into in (unless in is nil),
// then locks the portal (for writing, or only for reading) and resolves the
// request's {objectType}: the body is read outside the lock, and a bad
// body is answered before an unknown type, as the fake always has. When it
// has answered, ok is false and nothing stays locked; otherwise the caller
// releases the lock with unlock.
func (s *Server) lockType(w http.ResponseWriter, r *http.Request, write bool, in any) (t *objectType, unlock func(), ok bool) {
	unlock, ok = s.lockResolved(w, r, write, in, func() (e *httpError) {
		t, e = s.pathType(r)
		return e
	})
	return t, unlock, ok
}

// lockPair is lockType for the pair {fromObjectType}, {toObjectType} of
// an associations path.
func (s *Server) lockPair(w http.ResponseWriter, r *http.Request, write bool, in any) (from, to *objectType, unlock func(), ok bool) {
	unlock, ok = s.lockResolved(w, r, write, in, func() (e *httpError) {
		from, to, e = s.assocPairTypes(r)
		return e
	})
	return from, to, unlock, ok
}

// lockSchema is lockType for the custom object {objectType} of a schema
// path.
func (s *Server) lockSchema(w http.ResponseWriter, r *http.Request, write bool, in any) (t *objectType, unlock func(), ok bool) {
	unlock, ok = s.lockResolved(w, r, write, in, func() (e *httpError) {
		t, e = s.customType(r.PathValue("objectType"))
		return e
	})
	return t, unlock, ok
}

// lockResolved decodes in (unless nil), locks, and resolves the path's
// types with resolve, answering its error unlocked.
func (s *Server) lockResolved(w http.ResponseWriter, r *http.Request, write bool, in any, resolve func() *httpError) (unlock func(), ok bool) {
	if in != nil && !readJSON(w, r, in) {
		return nil, false
	}
	unlock = s.mu.RUnlock
	if write {
		unlock = s.mu.Unlock
		s.mu.Lock()
	} else {
		s.mu.RLock()
	}
	if e := resolve(); e != nil {
		unlock()
		writeHTTPError(w, e)
		return nil, false
	}
	return unlock, true
}

// findByID finds a live record by id or by a unique property.
func (s *Server) findByID(t *objectType, id, idProperty string) (*record, *httpError) {
	if idProperty != "" && idProperty != "hs_object_id" {
		p := t.props[idProperty]
		if p == nil {
			return nil, badRequest("Property %q does not exist on %s", idProperty, t.name)
		}
		if !p.HasUniqueValue {
			return nil, badRequest("Property %q is not a unique identifier property for %s", idProperty, t.name)
		}
		key := id
		if idProperty == "email" && t.id == typeContact {
			key = strings.ToLower(id)
		}
		return t.byUnique(idProperty, key), nil
	}
	return t.live(id), nil
}

func objectNotFound(t *objectType, id string) *httpError {
	msg := "Object not found.  objectId are usually numeric."
	if _, err := strconv.ParseInt(id, 10, 64); err == nil {
		msg = fmt.Sprintf("Object not found: no %s with id %s", t.singular, id)
	}
	return notFound("%s", msg)
}

// --- single-record endpoints ---------------------------------------------------------

type createInput struct {
	Properties         propMap             `json:"properties"`
	Associations       []createAssociation `json:"associations"`
	ObjectWriteTraceID string              `json:"objectWriteTraceId"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in createInput
	if !readJSON(w, r, &in) {
		return
	}
	s.mu.Lock()
	v, e := s.createOne(r, in)
	s.mu.Unlock()
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) createOne(r *http.Request, in createInput) (recordJSON, *httpError) {
	t, e := s.pathType(r)
	if e != nil {
		return recordJSON{}, e
	}
	if in.Properties == nil {
		return recordJSON{}, badRequest("properties is required")
	}
	vals, errs := s.checkProps(t, in.Properties, srcAPI)
	errs = append(errs, missingRequired(t, vals)...)
	if len(errs) > 0 {
		return recordJSON{}, s.valueErrors(errs)
	}
	if e := s.conflict(t, "", vals); e != nil {
		return recordJSON{}, e
	}
	links, e := s.resolveCreateAssociations(t, in.Associations)
	if e != nil {
		return recordJSON{}, e
	}
	rec := s.createLocked(t, vals, srcAPI, s.now())
	rec.writes++
	for _, l := range links {
		s.link(l.a, rec.id, l.to)
	}
	return s.view(t, rec, sortedKeys(vals)), nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, t *objectType) {
	archived := boolParam(r, "archived", false)
	id := r.PathValue("objectId")
	var rec *record
	if archived {
		if x := t.records[id]; x != nil && x.archived {
			rec = x
		}
	} else {
		var e *httpError
		if rec, e = s.findByID(t, id, r.URL.Query().Get("idProperty")); e != nil {
			writeHTTPError(w, e)
			return
		}
	}
	if rec == nil {
		writeHTTPError(w, objectNotFound(t, id))
		return
	}
	names := listParam(r, "properties")
	if len(names) == 0 {
		names = t.defaults
	}
	v := s.view(t, rec, names)
	s.withHistory(t, rec, &v, listParam(r, "propertiesWithHistory"))
	v.Associations = s.v3Associations(t, rec.id, listParam(r, "associations"))
	writeJSON(w, http.StatusOK, v)
}

// patchInput is the body of a single-record update.
type patchInput struct {
	Properties propMap `json:"properties"`
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, t *objectType, in patchInput) {
	id := r.PathValue("objectId")
	rec, e := s.findByID(t, id, r.URL.Query().Get("idProperty"))
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	if rec == nil {
		writeHTTPError(w, objectNotFound(t, id))
		return
	}
	if in.Properties == nil {
		writeHTTPError(w, badRequest("properties is required"))
		return
	}
	vals, errs := s.checkProps(t, in.Properties, srcAPI)
	if len(errs) > 0 {
		writeHTTPError(w, s.valueErrors(errs))
		return
	}
	if e := s.conflict(t, rec.id, vals); e != nil {
		writeHTTPError(w, e)
		return
	}
	rec.writes++
	s.updateLocked(t, rec, vals, srcAPI, s.now())
	writeJSON(w, http.StatusOK, s.view(t, rec, sortedKeys(vals)))
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, t *objectType) {
	if rec := t.live(r.PathValue("objectId")); rec != nil {
		rec.writes++
		s.archiveLocked(t, rec, s.now())
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, t *objectType) {
	limit := 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBatch {
			writeHTTPError(w, badRequest("limit must be between 1 and %d, not %q", maxBatch, v))
			return
		}
		limit = n
	}
	archived := boolParam(r, "archived", false)
	after := r.URL.Query().Get("after")
	names := listParam(r, "properties")
	if len(names) == 0 {
		names = t.defaults
	}
	assocs := listParam(r, "associations")
	hist := listParam(r, "propertiesWithHistory")
	start := 0
	if after != "" {
		start = sort.Search(len(t.ids), func(i int) bool { return !idLess(t.ids[i], after) })
	}
	results := []recordJSON{}
	next := ""
	for i := start; i < len(t.ids); i++ {
		rec := t.records[t.ids[i]]
		if rec.archived != archived {
			continue
		}
		if len(results) == limit {
			next = rec.id
			break
		}
		v := s.view(t, rec, names)
		s.withHistory(t, rec, &v, hist)
		v.Associations = s.v3Associations(t, rec.id, assocs)
		results = append(results, v)
	}
	body := map[string]any{"results": results}
	if next != "" {
		q := r.URL.Query()
		q.Set("after", next)
		body["paging"] = map[string]any{"next": map[string]string{"after": next, "link": s.absLink(r, q.Encode())}}
	}
	writeJSON(w, http.StatusOK, body)
}

// absLink is the absolute link to the same path with another query.
func (s *Server) absLink(r *http.Request, query string) string {
	base := s.url
	if base == "" {
		base = "http://" + r.Host
	}
	return base + r.URL.Path + "?" + query
}

// --- batch endpoints -------------------------------------------------------------

type batchReadInput struct {
	Inputs                []objectID `json:"inputs"`
	Properties            []string   `json:"properties"`
	PropertiesWithHistory []string   `json:"propertiesWithHistory"`
	IDProperty            string     `json:"idProperty"`
}

// writeBatchFound answers a batch read or update: the results, and one
// OBJECT_NOT_FOUND error (207) naming the ids that matched no record.
func (s *Server) writeBatchFound(w http.ResponseWriter, t *objectType, started time.Time, results []recordJSON, missing []string) {
	var errs []standardError
	if len(missing) > 0 {
		errs = append(errs, newStandardError("OBJECT_NOT_FOUND",
			fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", t.upper()),
			map[string][]string{"ids": missing}))
	}
	writeJSON(w, batchStatus(errs, http.StatusOK), batchBody(started, s.now(), results, errs))
}

// on serves h on a path of one object type: it locks the portal (for
// writing, or only for reading) and resolves {objectType} (lockType), and
// h runs under the lock.
func (s *Server) on(write bool, h func(http.ResponseWriter, *http.Request, *objectType)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, unlock, ok := s.lockType(w, r, write, nil)
		if ok {
			defer unlock()
			h(w, r, t)
		}
	}
}

// onJSON is on for a handler of a JSON body, which it decodes into an In
// outside the lock.
func onJSON[In any](s *Server, write bool, h func(http.ResponseWriter, *http.Request, *objectType, In)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if t, unlock, ok := s.lockType(w, r, write, &in); ok {
			defer unlock()
			h(w, r, t, in)
		}
	}
}

// onBatch is on for a handler of a batch body of at most maxBatch inputs
// (lockBatch).
func onBatch[In any](s *Server, write bool, h func(http.ResponseWriter, *http.Request, *objectType, []In)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if inputs, t, unlock, ok := lockBatch[In](s, w, r, write); ok {
			defer unlock()
			h(w, r, t, inputs)
		}
	}
}

// lockBatch reads a batch body of at most maxBatch inputs (readInputs),
// then locks the portal and resolves {objectType} (lockType).
func lockBatch[T any](s *Server, w http.ResponseWriter, r *http.Request, write bool) (inputs []T, t *objectType, unlock func(), ok bool) {
	if inputs, ok = readInputs[T](w, r, maxBatch); !ok {
		return nil, nil, nil, false
	}
	t, unlock, ok = s.lockType(w, r, write, nil)
	return inputs, t, unlock, ok
}

// readInputs decodes a batch body, {"inputs": [...]}, of at most max
// inputs, answering as HubSpot does when it cannot; ok says whether to go
// on.
func readInputs[T any](w http.ResponseWriter, r *http.Request, max int) (inputs []T, ok bool) {
	var in struct {
		Inputs []T `json:"inputs"`
	}
	if !readJSON(w, r, &in) {
		return nil, false
	}
	if len(in.Inputs) > max {
		writeHTTPError(w, tooMany(len(in.Inputs), max))
		return nil, false
	}
	return in.Inputs, true
}

func (s *Server) handleBatchRead(w http.ResponseWriter, r *http.Request) {
	var in batchReadInput
	if !readJSON(w, r, &in) {
		return
	}
	if len(in.Inputs) > maxBatch {
		writeHTTPError(w, tooMany(len(in.Inputs), maxBatch))
		return
	}
	archived := boolParam(r, "archived", false)
	t, unlock, ok := s.lockType(w, r, forReading, nil)
	if !ok {
		return
	}
	defer unlock()
	started := s.now()
	names := in.Properties
	if len(names) == 0 {
		names = t.defaults
	}
	results := make([]recordJSON, 0, len(in.Inputs))
	var missing []string
	seen := make(map[string]bool, len(in.Inputs))
	for _, x := range in.Inputs {
		var rec *record
		if archived {
			if c := t.records[x.ID]; c != nil && c.archived {
				rec = c
			}
		} else {
			var e *httpError
			if rec, e = s.findByID(t, x.ID, in.IDProperty); e != nil {
				writeHTTPError(w, e)
				return
			}
		}
		if rec == nil {
			missing = append(missing, x.ID)
			continue
		}
		if seen[rec.id] {
			continue
		}
		seen[rec.id] = true
		v := s.view(t, rec, names)
		s.withHistory(t, rec, &v, in.PropertiesWithHistory)
		results = append(results, v)
	}
	s.writeBatchFound(w, t, started, results, missing)
}

func (s *Server) handleBatchCreate(w http.ResponseWriter, r *http.Request, t *objectType, inputs []createInput) {
	started := s.now()
	// Validate everything first: a batch create is all or nothing.
	vals := make([]map[string]string, len(inputs))
	links := make([][]pendingLink, len(inputs))
	var errs []valueError
	for i, x := range inputs {
		if x.Properties == nil {
			writeHTTPError(w, badRequest("inputs[%d].properties is required", i))
			return
		}
		v, ve := s.checkProps(t, x.Properties, srcAPI)
		errs = append(errs, ve...)
		errs = append(errs, missingRequired(t, v)...)
		vals[i] = v
	}
	if len(errs) > 0 {
		writeHTTPError(w, s.valueErrors(errs))
		return
	}
	for i := range inputs {
		if e := s.conflict(t, "", vals[i]); e != nil {
			writeHTTPError(w, e)
			return
		}
		if e := dupUnique(t, vals, i); e != nil {
			writeHTTPError(w, e)
			return
		}
		var e *httpError
		if links[i], e = s.resolveCreateAssociations(t, inputs[i].Associations); e != nil {
			writeHTTPError(w, e)
			return
		}
	}
	now := s.now()
	results := make([]recordJSON, 0, len(inputs))
	for i, x := range inputs {
		rec := s.createLocked(t, vals[i], srcAPI, now)
		rec.writes++
		for _, l := range links[i] {
			s.link(l.a, rec.id, l.to)
		}
		v := s.view(t, rec, sortedKeys(vals[i]))
		v.ObjectWriteTraceID = x.ObjectWriteTraceID
		results = append(results, v)
	}
	writeJSON(w, http.StatusCreated, batchBody(started, s.now(), results, nil))
}

// dupUnique reports a unique value repeated within one batch.
func dupUnique(t *objectType, vals []map[string]string, i int) *httpError {
	for name := range t.unique {
		v := vals[i][name]
		if v == "" {
			continue
		}
		for j := 0; j < i; j++ {
			if vals[j][name] == v {
				return newHTTPError(http.StatusConflict, "CONFLICT",
					fmt.Sprintf("Duplicate unique value %q for property %q in inputs %d and %d", v, name, j, i))
			}
		}
	}
	return nil
}

type updateInput struct {
	ID                 string  `json:"id"`
	IDProperty         string  `json:"idProperty"`
	Properties         propMap `json:"properties"`
	ObjectWriteTraceID string  `json:"objectWriteTraceId"`
}

func (s *Server) handleBatchUpdate(w http.ResponseWriter, r *http.Request, t *objectType, inputs []updateInput) {
	started := s.now()
	seen := map[string]bool{}
	var dups []string
	for _, x := range inputs {
		k := x.IDProperty + "\x00" + x.ID
		if seen[k] {
			dups = append(dups, x.ID)
		}
		seen[k] = true
	}
	if len(dups) > 0 {
		writeHTTPError(w, badRequest("Duplicate IDs found in batch input: [%s]. IDs must be unique", strings.Join(dups, ", ")))
		return
	}
	recs := make([]*record, len(inputs))
	vals := make([]map[string]string, len(inputs))
	var verrs []valueError
	var missing []string
	for i, x := range inputs {
		if x.Properties == nil {
			writeHTTPError(w, badRequest("inputs[%d].properties is required", i))
			return
		}
		rec, e := s.findByID(t, x.ID, x.IDProperty)
		if e != nil {
			writeHTTPError(w, e)
			return
		}
		if rec == nil {
			missing = append(missing, x.ID)
			continue
		}
		recs[i] = rec
		v, ve := s.checkProps(t, x.Properties, srcAPI)
		verrs = append(verrs, ve...)
		vals[i] = v
	}
	if len(verrs) > 0 {
		writeHTTPError(w, s.valueErrors(verrs))
		return
	}
	for i, rec := range recs {
		if rec == nil {
			continue
		}
		if e := s.conflict(t, rec.id, vals[i]); e != nil {
			writeHTTPError(w, e)
			return
		}
	}
	now := s.now()
	results := make([]recordJSON, 0, len(inputs))
	for i, rec := range recs {
		if rec == nil {
			continue
		}
		rec.writes++
		s.updateLocked(t, rec, vals[i], srcAPI, now)
		v := s.view(t, rec, sortedKeys(vals[i]))
		v.ObjectWriteTraceID = inputs[i].ObjectWriteTraceID
		results = append(results, v)
	}
	s.writeBatchFound(w, t, started, results, missing)
}

func (s *Server) handleBatchUpsert(w http.ResponseWriter, r *http.Request, t *objectType, inputs []updateInput) {
	started := s.now()
	type plan struct {
		rec  *record
		vals map[string]string
	}
	plans := make([]plan, len(inputs))
	seen := map[string]bool{}
	var verrs []valueError
	for i, x := range inputs {
		if x.IDProperty == "" || x.IDProperty == "hs_object_id" {
			writeHTTPError(w, badRequest("inputs[%d].idProperty is required: upsert matches records on a unique value property", i))
			return
		}
		p := t.props[x.IDProperty]
		if p == nil {
			writeHTTPError(w, badRequest("Property %q does not exist on %s", x.IDProperty, t.name))
			return
		}
		if !p.HasUniqueValue {
			writeHTTPError(w, badRequest("Property %q is not a unique identifier property for %s", x.IDProperty, t.name))
			return
		}
		if x.ID == "" {
			writeHTTPError(w, badRequest("inputs[%d].id is required", i))
			return
		}
		if x.Properties == nil {
			writeHTTPError(w, badRequest("inputs[%d].properties is required", i))
			return
		}
		if seen[x.IDProperty+"\x00"+x.ID] {
			writeHTTPError(w, badRequest("Duplicate IDs found in batch input: [%s]. IDs must be unique", x.ID))
			return
		}
		seen[x.IDProperty+"\x00"+x.ID] = true
		props := make(propMap, len(x.Properties)+1)
		for k, v := range x.Properties {
			props[k] = v
		}
		props[x.IDProperty] = x.ID
		v, ve := s.checkProps(t, props, srcAPI)
		verrs = append(verrs, ve...)
		rec, _ := s.findByID(t, x.ID, x.IDProperty)
		if rec == nil {
			verrs = append(verrs, missingRequired(t, v)...)
		}
		plans[i] = plan{rec: rec, vals: v}
	}
	if len(verrs) > 0 {
		writeHTTPError(w, s.valueErrors(verrs))
		return
	}
	for i, p := range plans {
		self := ""
		if p.rec != nil {
			self = p.rec.id
		}
		if e := s.conflict(t, self, p.vals); e != nil {
			writeHTTPError(w, e)
			return
		}
		if p.rec == nil {
			all := make([]map[string]string, len(plans))
			for j := range plans {
				if plans[j].rec == nil {
					all[j] = plans[j].vals
				}
			}
			if e := dupUnique(t, all, i); e != nil {
				writeHTTPError(w, e)
				return
			}
		}
	}
	now := s.now()
	results := make([]recordJSON, 0, len(plans))
	for i, p := range plans {
		created := p.rec == nil
		rec := p.rec
		if created {
			rec = s.createLocked(t, p.vals, srcAPI, now)
		} else {
			s.updateLocked(t, rec, p.vals, srcAPI, now)
		}
		rec.writes++
		v := s.view(t, rec, sortedKeys(p.vals))
		v.New = &created
		v.ObjectWriteTraceID = inputs[i].ObjectWriteTraceID
		results = append(results, v)
	}
	writeJSON(w, http.StatusOK, batchBody(started, s.now(), results, nil))
}

func (s *Server) handleBatchArchive(w http.ResponseWriter, r *http.Request, t *objectType, inputs []objectID) {
	now := s.now()
	for _, x := range inputs {
		if rec := t.live(x.ID); rec != nil {
			rec.writes++
			s.archiveLocked(t, rec, now)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
