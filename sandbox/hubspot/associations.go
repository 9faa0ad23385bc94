package hubspot

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// assocType is one association type (a direction of a pair of object
// types, optionally labelled), as associations v4 knows it.
type assocType struct {
	id       int
	category string // HUBSPOT_DEFINED, USER_DEFINED
	label    string // "" = unlabeled
	name     string // "deal_to_company", "deal_to_company_unlabeled"
	from, to string // type ids
	inverse  int
	created  time.Time
}

// linkKey names one record.
type linkKey struct {
	typ string
	id  string
}

// builtinAssociations defines HubSpot's association types between the
// standard objects, with HubSpot's type ids.
func (s *Server) builtinAssociations() {
	pair := func(from, to string, id, inv int, label, name, invName string) {
		s.addAssocType(&assocType{id: id, category: "HUBSPOT_DEFINED", label: label, name: name, from: from, to: to, inverse: inv})
		s.addAssocType(&assocType{id: inv, category: "HUBSPOT_DEFINED", label: label, name: invName, from: to, to: from, inverse: id})
	}
	// Unlabeled (default) types first: the first type of a pair is its default.
	pair(typeContact, typeCompany, 279, 280, "", "contact_to_company_unlabeled", "company_to_contact_unlabeled")
	pair(typeContact, typeCompany, 1, 2, "Primary", "contact_to_company", "company_to_contact")
	pair(typeDeal, typeContact, 3, 4, "", "deal_to_contact", "contact_to_deal")
	pair(typeDeal, typeCompany, 341, 342, "", "deal_to_company_unlabeled", "company_to_deal_unlabeled")
	pair(typeDeal, typeCompany, 5, 6, "Primary", "deal_to_company", "company_to_deal")
	pair(typeTask, typeContact, 204, 203, "", "task_to_contact", "contact_to_task")
	pair(typeTask, typeCompany, 192, 191, "", "task_to_company", "company_to_task")
	pair(typeTask, typeDeal, 216, 215, "", "task_to_deal", "deal_to_task")
	pair(typeNote, typeContact, 202, 201, "", "note_to_contact", "contact_to_note")
	pair(typeNote, typeCompany, 190, 189, "", "note_to_company", "company_to_note")
	pair(typeNote, typeDeal, 214, 213, "", "note_to_deal", "deal_to_note")
}

func (s *Server) addAssocType(a *assocType) {
	if a.created.IsZero() {
		a.created = s.now()
	}
	key := [2]string{a.from, a.to}
	s.assocTypes[key] = append(s.assocTypes[key], a)
}

// defineAssociation creates an association type between two object types
// and its inverse, and returns the from→to one. Callers hold s.mu.
func (s *Server) defineAssociation(from, to, category, label string) *assocType {
	ft, tt := s.types[from], s.types[to]
	s.nextAssocDef += 2
	id := s.nextAssocDef
	name := ft.singular + "_to_" + tt.singular
	invName := tt.singular + "_to_" + ft.singular
	if label != "" {
		slug := strings.ToLower(strings.ReplaceAll(label, " ", "_"))
		name, invName = name+"_"+slug, invName+"_"+slug
	}
	a := &assocType{id: id, category: category, label: label, name: name, from: from, to: to, inverse: id + 1}
	s.addAssocType(a)
	s.addAssocType(&assocType{id: id + 1, category: category, label: label, name: invName, from: to, to: from, inverse: id})
	return a
}

// defaultAssoc is the unlabeled type of a pair, or nil. Callers hold s.mu.
func (s *Server) defaultAssoc(from, to string) *assocType {
	for _, a := range s.assocTypes[[2]string{from, to}] {
		if a.label == "" {
			return a
		}
	}
	return nil
}

// assocByID finds a type of the pair by id. Callers hold s.mu.
func (s *Server) assocByID(from, to string, id int) *assocType {
	for _, a := range s.assocTypes[[2]string{from, to}] {
		if a.id == id {
			return a
		}
	}
	return nil
}

// assocFrom finds a type starting at from by id, whatever its target.
func (s *Server) assocFrom(from string, id int) *assocType {
	for _, key := range s.assocPairs() {
		if key[0] != from {
			continue
		}
		if a := s.assocByID(key[0], key[1], id); a != nil {
			return a
		}
	}
	return nil
}

func (s *Server) assocPairs() [][2]string {
	keys := make([][2]string, 0, len(s.assocTypes))
	for k := range s.assocTypes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}

// link associates two records with a type and its inverse; a labelled type
// brings the pair's unlabeled one along, and a Primary label moves off any
// other record. Callers hold s.mu.
func (s *Server) link(a *assocType, fromID, toID string) {
	from, to := linkKey{a.from, fromID}, linkKey{a.to, toID}
	if a.label == "Primary" && a.category == "HUBSPOT_DEFINED" {
		for other, types := range s.links[from] {
			if other.typ == a.to && other != to && types[a.id] {
				s.unlinkType(a, fromID, other.id)
			}
		}
	}
	s.setLink(from, to, a.id)
	s.setLink(to, from, a.inverse)
	if a.label != "" {
		if d := s.defaultAssoc(a.from, a.to); d != nil {
			s.setLink(from, to, d.id)
			s.setLink(to, from, d.inverse)
		}
	}
}

func (s *Server) setLink(from, to linkKey, typeID int) {
	m := s.links[from]
	if m == nil {
		m = map[linkKey]map[int]bool{}
		s.links[from] = m
	}
	set := m[to]
	if set == nil {
		set = map[int]bool{}
		m[to] = set
	}
	set[typeID] = true
}

func (s *Server) clearLink(from, to linkKey, typeID int) {
	set := s.links[from][to]
	delete(set, typeID)
	if len(set) == 0 {
		delete(s.links[from], to)
	}
}

// unlinkType removes one type (and its inverse); removing the unlabeled
// type removes every type between the two records. Callers hold s.mu.
func (s *Server) unlinkType(a *assocType, fromID, toID string) {
	from, to := linkKey{a.from, fromID}, linkKey{a.to, toID}
	if a.label == "" {
		s.unlinkAll(from, to)
		return
	}
	s.clearLink(from, to, a.id)
	s.clearLink(to, from, a.inverse)
}

// unlinkAll removes every association between two records.
func (s *Server) unlinkAll(from, to linkKey) {
	delete(s.links[from], to)
	delete(s.links[to], from)
}

// linked lists the live records of type toType associated with a record,
// in id order, with the type ids of each. Callers hold s.mu.
func (s *Server) linked(from linkKey, toType string) []assocTarget {
	tt := s.types[toType]
	var out []assocTarget
	for to, set := range s.links[from] {
		if to.typ != toType || len(set) == 0 || tt == nil || tt.live(to.id) == nil {
			continue
		}
		ids := make([]int, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		out = append(out, assocTarget{id: to.id, types: ids})
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].id, out[j].id) })
	return out
}

type assocTarget struct {
	id    string
	types []int
}

// idLess orders numeric ids numerically.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func num(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// --- associations v4 endpoints ------------------------------------------------------

type objectID struct {
	ID string `json:"id"`
}

type assocSpecJSON struct {
	AssociationCategory string `json:"associationCategory"`
	AssociationTypeID   int    `json:"associationTypeId"`
}

type assocSpecWithLabel struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

type labelsBetween struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     int64    `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       int64    `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

type defaultAssociation struct {
	From            objectID      `json:"from"`
	To              objectID      `json:"to"`
	AssociationSpec assocSpecJSON `json:"associationSpec"`
}

type multiAssociated struct {
	ToObjectID       int64                `json:"toObjectId"`
	AssociationTypes []assocSpecWithLabel `json:"associationTypes"`
}

// assocPairTypes resolves the {fromObjectType} and {toObjectType} of a v4 path.
func (s *Server) assocPairTypes(r *http.Request) (from, to *objectType, e *httpError) {
	fromName, toName := r.PathValue("fromObjectType"), r.PathValue("toObjectType")
	if from = s.resolve(fromName); from == nil {
		return nil, nil, unknownType(fromName)
	}
	if to = s.resolve(toName); to == nil {
		return nil, nil, unknownType(toName)
	}
	return from, to, nil
}

func (s *Server) specWithLabel(from, to string, id int) assocSpecWithLabel {
	a := s.assocByID(from, to, id)
	if a == nil {
		return assocSpecWithLabel{Category: "HUBSPOT_DEFINED", TypeID: id}
	}
	v := assocSpecWithLabel{Category: a.category, TypeID: a.id}
	if a.label != "" {
		l := a.label
		v.Label = &l
	}
	return v
}

func (s *Server) labelsOf(from, to string, ids []int) []string {
	out := []string{}
	for _, id := range ids {
		if a := s.assocByID(from, to, id); a != nil && a.label != "" {
			out = append(out, a.label)
		}
	}
	return out
}

// checkSpecs validates association specs for a pair of types.
func (s *Server) checkSpecs(from, to *objectType, specs []assocSpecJSON) ([]*assocType, string) {
	if len(specs) == 0 {
		return nil, "at least one association type is required"
	}
	var out []*assocType
	for _, sp := range specs {
		a := s.assocByID(from.id, to.id, sp.AssociationTypeID)
		if a == nil {
			return nil, fmt.Sprintf("%d is not a valid association type id between %s and %s", sp.AssociationTypeID, from.name, to.name)
		}
		if sp.AssociationCategory != a.category {
			return nil, fmt.Sprintf("association type %d is %s, not %s", a.id, a.category, sp.AssociationCategory)
		}
		out = append(out, a)
	}
	return out, ""
}

func (s *Server) handleAssocDefault(w http.ResponseWriter, r *http.Request) {
	from, to, unlock, ok := s.lockPair(w, r, forWriting, nil)
	if !ok {
		return
	}
	defer unlock()
	fromID, toID := r.PathValue("fromObjectId"), r.PathValue("toObjectId")
	if e := s.bothExist(from, fromID, to, toID); e != nil {
		writeHTTPError(w, e)
		return
	}
	a := s.defaultAssoc(from.id, to.id)
	if a == nil {
		writeHTTPError(w, badRequest("There is no association type between %s and %s", from.name, to.name))
		return
	}
	started := s.now()
	s.link(a, fromID, toID)
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "COMPLETE", "startedAt": iso(started), "completedAt": iso(s.now()),
		"results": []defaultAssociation{
			{From: objectID{fromID}, To: objectID{toID}, AssociationSpec: assocSpecJSON{a.category, a.id}},
			{From: objectID{toID}, To: objectID{fromID}, AssociationSpec: assocSpecJSON{a.category, a.inverse}},
		}})
}

func (s *Server) bothExist(from *objectType, fromID string, to *objectType, toID string) *httpError {
	var missing []string
	if from.live(fromID) == nil {
		missing = append(missing, fmt.Sprintf("%s %s", from.singular, fromID))
	}
	if to.live(toID) == nil {
		missing = append(missing, fmt.Sprintf("%s %s", to.singular, toID))
	}
	if len(missing) > 0 {
		return badRequest("One or more of the objects you are trying to associate do not exist: %s", strings.Join(missing, ", "))
	}
	return nil
}

func (s *Server) handleAssocLabelled(w http.ResponseWriter, r *http.Request) {
	var specs []assocSpecJSON
	from, to, unlock, ok := s.lockPair(w, r, forWriting, &specs)
	if !ok {
		return
	}
	defer unlock()
	fromID, toID := r.PathValue("fromObjectId"), r.PathValue("toObjectId")
	if e := s.bothExist(from, fromID, to, toID); e != nil {
		writeHTTPError(w, e)
		return
	}
	types, msg := s.checkSpecs(from, to, specs)
	if msg != "" {
		writeHTTPError(w, badRequest("%s", msg))
		return
	}
	for _, a := range types {
		s.link(a, fromID, toID)
	}
	ids := s.linkTypes(linkKey{from.id, fromID}, linkKey{to.id, toID})
	writeJSON(w, http.StatusCreated, labelsBetween{FromObjectTypeID: from.id, FromObjectID: num(fromID),
		ToObjectTypeID: to.id, ToObjectID: num(toID), Labels: s.labelsOf(from.id, to.id, ids)})
}

func (s *Server) linkTypes(from, to linkKey) []int {
	var ids []int
	for id := range s.links[from][to] {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (s *Server) handleAssocDelete(w http.ResponseWriter, r *http.Request) {
	from, to, unlock, ok := s.lockPair(w, r, forWriting, nil)
	if !ok {
		return
	}
	defer unlock()
	s.unlinkAll(linkKey{from.id, r.PathValue("fromObjectId")}, linkKey{to.id, r.PathValue("toObjectId")})
	w.WriteHeader(http.StatusNoContent)
}

// pageTargets cuts a page of associated records after an id.
func pageTargets(all []assocTarget, after string, limit int) (page []assocTarget, next string) {
	i := 0
	if after != "" {
		i = sort.Search(len(all), func(k int) bool { return !idLess(all[k].id, after) })
	}
	all = all[i:]
	if len(all) > limit {
		return all[:limit], all[limit].id
	}
	return all, ""
}

func (s *Server) assocResults(from, to *objectType, targets []assocTarget) []multiAssociated {
	out := make([]multiAssociated, 0, len(targets))
	for _, tg := range targets {
		m := multiAssociated{ToObjectID: num(tg.id), AssociationTypes: make([]assocSpecWithLabel, 0, len(tg.types))}
		for _, id := range tg.types {
			m.AssociationTypes = append(m.AssociationTypes, s.specWithLabel(from.id, to.id, id))
		}
		out = append(out, m)
	}
	return out
}

func (s *Server) handleAssocList(w http.ResponseWriter, r *http.Request) {
	limit := 500
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeHTTPError(w, badRequest("limit must be between 1 and 500, not %q", v))
			return
		}
		limit = n
	}
	from, to, unlock, ok := s.lockPair(w, r, forReading, nil)
	if !ok {
		return
	}
	defer unlock()
	id := r.PathValue("fromObjectId")
	if from.live(id) == nil {
		writeHTTPError(w, notFound("No %s with id %s exists", from.singular, id))
		return
	}
	page, next := pageTargets(s.linked(linkKey{from.id, id}, to.id), r.URL.Query().Get("after"), limit)
	body := map[string]any{"results": s.assocResults(from, to, page)}
	if next != "" {
		body["paging"] = map[string]any{"next": map[string]string{"after": next,
			"link": fmt.Sprintf("%s?after=%s", r.URL.Path, next)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleAssocLabels(w http.ResponseWriter, r *http.Request) {
	from, to, unlock, ok := s.lockPair(w, r, forReading, nil)
	if !ok {
		return
	}
	defer unlock()
	res := []assocSpecWithLabel{}
	for _, a := range s.assocTypes[[2]string{from.id, to.id}] {
		res = append(res, s.specWithLabel(from.id, to.id, a.id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

// Batch limits of associations v4.
const (
	maxAssocRead  = 1000
	maxAssocWrite = 2000
)

type batchAssocInput struct {
	From  objectID        `json:"from"`
	To    objectID        `json:"to"`
	Types []assocSpecJSON `json:"types"`
}

func batchStatus(errs []standardError, ok int) int {
	if len(errs) > 0 {
		return http.StatusMultiStatus
	}
	return ok
}

func batchBody(started, completed time.Time, results any, errs []standardError) map[string]any {
	body := map[string]any{"status": "COMPLETE", "results": results, "startedAt": iso(started), "completedAt": iso(completed)}
	if len(errs) > 0 {
		body["numErrors"] = len(errs)
		body["errors"] = errs
	}
	return body
}

func (s *Server) missingRecordError(from, to *objectType, fromID, toID string) *standardError {
	ctx := map[string][]string{}
	var parts []string
	if from.live(fromID) == nil {
		ctx["fromObjectId"] = []string{fromID}
		parts = append(parts, fmt.Sprintf("%s %s", from.singular, fromID))
	}
	if to != nil && toID != "" && to.live(toID) == nil {
		ctx["toObjectId"] = []string{toID}
		parts = append(parts, fmt.Sprintf("%s %s", to.singular, toID))
	}
	if len(parts) == 0 {
		return nil
	}
	e := newStandardError("VALIDATION_ERROR", "One or more of the objects you are trying to associate do not exist: "+strings.Join(parts, ", "), ctx)
	return &e
}

func (s *Server) handleAssocBatchCreate(w http.ResponseWriter, r *http.Request) {
	inputs, from, to, unlock, ok := assocWrite[batchAssocInput](s, w, r)
	if !ok {
		return
	}
	defer unlock()
	started := s.now()
	results := []labelsBetween{}
	var errs []standardError
	for _, in := range inputs {
		if se := s.missingRecordError(from, to, in.From.ID, in.To.ID); se != nil {
			errs = append(errs, *se)
			continue
		}
		types, msg := s.checkSpecs(from, to, in.Types)
		if msg != "" {
			errs = append(errs, newStandardError("VALIDATION_ERROR", msg, map[string][]string{"fromObjectId": {in.From.ID}}))
			continue
		}
		for _, a := range types {
			s.link(a, in.From.ID, in.To.ID)
		}
		ids := s.linkTypes(linkKey{from.id, in.From.ID}, linkKey{to.id, in.To.ID})
		results = append(results, labelsBetween{FromObjectTypeID: from.id, FromObjectID: num(in.From.ID),
			ToObjectTypeID: to.id, ToObjectID: num(in.To.ID), Labels: s.labelsOf(from.id, to.id, ids)})
	}
	writeJSON(w, batchStatus(errs, http.StatusCreated), batchBody(started, s.now(), results, errs))
}

func (s *Server) handleAssocBatchDefault(w http.ResponseWriter, r *http.Request) {
	inputs, from, to, unlock, ok := assocWrite[batchAssocInput](s, w, r)
	if !ok {
		return
	}
	defer unlock()
	a := s.defaultAssoc(from.id, to.id)
	if a == nil {
		writeHTTPError(w, badRequest("There is no association type between %s and %s", from.name, to.name))
		return
	}
	started := s.now()
	results := []defaultAssociation{}
	var errs []standardError
	for _, in := range inputs {
		if se := s.missingRecordError(from, to, in.From.ID, in.To.ID); se != nil {
			errs = append(errs, *se)
			continue
		}
		s.link(a, in.From.ID, in.To.ID)
		results = append(results,
			defaultAssociation{From: objectID{in.From.ID}, To: objectID{in.To.ID}, AssociationSpec: assocSpecJSON{a.category, a.id}},
			defaultAssociation{From: objectID{in.To.ID}, To: objectID{in.From.ID}, AssociationSpec: assocSpecJSON{a.category, a.inverse}})
	}
	writeJSON(w, batchStatus(errs, http.StatusOK), batchBody(started, s.now(), results, errs))
}

// assocReadInput is one input of a batch association read.
type assocReadInput struct {
	ID    string `json:"id"`
	After string `json:"after"`
}

func (s *Server) handleAssocBatchRead(w http.ResponseWriter, r *http.Request) {
	inputs, ok := readInputs[assocReadInput](w, r, maxAssocRead)
	if !ok {
		return
	}
	from, to, unlock, ok := s.lockPair(w, r, forReading, nil)
	if !ok {
		return
	}
	defer unlock()
	started := s.now()
	type result struct {
		From   objectID          `json:"from"`
		To     []multiAssociated `json:"to"`
		Paging map[string]any    `json:"paging,omitempty"`
	}
	results := []result{}
	var errs []standardError
	seen := map[string]bool{}
	for _, in := range inputs {
		if seen[in.ID+"\x00"+in.After] {
			continue
		}
		seen[in.ID+"\x00"+in.After] = true
		targets := s.linked(linkKey{from.id, in.ID}, to.id)
		if from.live(in.ID) == nil || len(targets) == 0 {
			e := newStandardError("OBJECT_NOT_FOUND", fmt.Sprintf("No %s is associated with %s %s.", to.singular, from.singular, in.ID),
				map[string][]string{"fromObjectId": {in.ID}})
			e.SubCategory = "crm.associations.NO_ASSOCIATIONS_FOUND"
			errs = append(errs, e)
			continue
		}
		page, next := pageTargets(targets, in.After, 500)
		res := result{From: objectID{in.ID}, To: s.assocResults(from, to, page)}
		if next != "" {
			res.Paging = map[string]any{"next": map[string]string{"after": next}}
		}
		results = append(results, res)
	}
	writeJSON(w, batchStatus(errs, http.StatusOK), batchBody(started, s.now(), results, errs))
}

func (s *Server) handleAssocBatchArchive(w http.ResponseWriter, r *http.Request) {
	inputs, from, to, unlock, ok := assocWrite[archiveInput](s, w, r)
	if !ok {
		return
	}
	defer unlock()
	for _, in := range inputs {
		for _, t := range in.To {
			s.unlinkAll(linkKey{from.id, in.From.ID}, linkKey{to.id, t.ID})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAssocBatchLabelsArchive(w http.ResponseWriter, r *http.Request) {
	inputs, from, to, unlock, ok := assocWrite[batchAssocInput](s, w, r)
	if !ok {
		return
	}
	defer unlock()
	for _, in := range inputs {
		types, msg := s.checkSpecs(from, to, in.Types)
		if msg != "" {
			writeHTTPError(w, badRequest("%s", msg))
			return
		}
		for _, a := range types {
			s.unlinkType(a, in.From.ID, in.To.ID)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// v3Associations renders the associations of a record for ?associations=
// on the objects API: requested type name → {results:[{id, type}]}.
func (s *Server) v3Associations(t *objectType, id string, names []string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		to := s.resolve(n)
		if to == nil {
			continue
		}
		var res []map[string]string
		for _, tg := range s.linked(linkKey{t.id, id}, to.id) {
			for _, tid := range tg.types {
				a := s.assocByID(t.id, to.id, tid)
				if a == nil {
					continue
				}
				res = append(res, map[string]string{"id": tg.id, "type": a.name})
			}
		}
		if len(res) > 0 {
			out[n] = map[string]any{"results": res}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// createAssociations is the associations[] of a v3 create body.
type createAssociation struct {
	To    objectID        `json:"to"`
	Types []assocSpecJSON `json:"types"`
}

// resolveCreateAssociations checks the associations of a create body
// before the record exists. Callers hold s.mu.
func (s *Server) resolveCreateAssociations(t *objectType, in []createAssociation) ([]pendingLink, *httpError) {
	var out []pendingLink
	for i, a := range in {
		if len(a.Types) == 0 {
			return nil, badRequest("associations[%d].types is required", i)
		}
		for _, sp := range a.Types {
			at := s.assocFrom(t.id, sp.AssociationTypeID)
			if at == nil {
				return nil, badRequest("associations[%d]: %d is not a valid association type id from %s", i, sp.AssociationTypeID, t.name)
			}
			if at.category != sp.AssociationCategory {
				return nil, badRequest("associations[%d]: association type %d is %s, not %s", i, at.id, at.category, sp.AssociationCategory)
			}
			if s.types[at.to].live(a.To.ID) == nil {
				return nil, badRequest("associations[%d]: %s %s does not exist", i, s.types[at.to].singular, a.To.ID)
			}
			out = append(out, pendingLink{a: at, to: a.To.ID})
		}
	}
	return out, nil
}

type pendingLink struct {
	a  *assocType
	to string
}

// archiveInput is one input of a batch association archive.
type archiveInput struct {
	From objectID   `json:"from"`
	To   []objectID `json:"to"`
}

// assocWrite reads a batch association write of at most maxAssocWrite
// inputs, takes the write lock and resolves the pair of object types in
// the path. When ok is false the answer was written and nothing stays
// locked; otherwise the caller releases the lock with unlock.
func assocWrite[T any](s *Server, w http.ResponseWriter, r *http.Request) (inputs []T, from, to *objectType, unlock func(), ok bool) {
	if inputs, ok = readInputs[T](w, r, maxAssocWrite); !ok {
		return nil, nil, nil, nil, false
	}
	from, to, unlock, ok = s.lockPair(w, r, forWriting, nil)
	return inputs, from, to, unlock, ok
}
