package hubspot

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
)

// Record is a CRM record as the Go helpers show it: stored values, with
// dates and datetimes as epoch milliseconds, as webhooks carry them.
type Record struct {
	ID         string
	TypeID     string
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
}

// lookup resolves a type for the helpers, which also accept the plain name
// of a custom object. Callers hold s.mu.
func (s *Server) lookup(name string) (*objectType, error) {
	if t := s.resolve(name); t != nil {
		return t, nil
	}
	for _, id := range s.typeOrder {
		if t := s.types[id]; t.custom && !t.schema.archived && t.name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("hubspot sandbox: unknown object type %q", name)
}

// lookupPair looks up the two types of an association.
func (s *Server) lookupPair(fromType, toType string) (from, to *objectType, err error) {
	if from, err = s.lookup(fromType); err != nil {
		return nil, nil, err
	}
	if to, err = s.lookup(toType); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// TypeID returns the object type id of a type name ("deals" → "0-3",
// "partner_registration" → "2-…").
func (s *Server) TypeID(name string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(name)
	if err != nil {
		return "", err
	}
	return t.id, nil
}

func uiError(errs []valueError) error {
	var parts []string
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("%s: %s", e.Name, e.Message))
	}
	return fmt.Errorf("hubspot sandbox: %s", strings.Join(parts, "; "))
}

// CreateRecord creates a record as a user in HubSpot's UI would
// (changeSource CRM_UI in webhooks). It is neither counted as an API call
// nor rate-limited. It returns the record id.
func (s *Server) CreateRecord(objectType string, props map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return "", err
	}
	vals, errs := s.checkProps(t, props, srcUI)
	errs = append(errs, missingRequired(t, vals)...)
	if len(errs) > 0 {
		return "", uiError(errs)
	}
	if e := s.conflict(t, "", vals); e != nil {
		return "", fmt.Errorf("hubspot sandbox: %s", e.body.Message)
	}
	return s.createLocked(t, vals, srcUI, s.now()).id, nil
}

// lookupLive looks up a type and one of its live records.
func (s *Server) lookupLive(objectType, id string) (*objectType, *record, error) {
	t, err := s.lookup(objectType)
	if err != nil {
		return nil, nil, err
	}
	r := t.live(id)
	if r == nil {
		return nil, nil, fmt.Errorf("hubspot sandbox: no %s with id %s", t.singular, id)
	}
	return t, r, nil
}

// UpdateRecord changes properties of a record as a user in HubSpot's UI
// would (changeSource CRM_UI); "" clears a value.
func (s *Server) UpdateRecord(objectType, id string, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, r, err := s.lookupLive(objectType, id)
	if err != nil {
		return err
	}
	vals, errs := s.checkProps(t, props, srcUI)
	if len(errs) > 0 {
		return uiError(errs)
	}
	if e := s.conflict(t, id, vals); e != nil {
		return fmt.Errorf("hubspot sandbox: %s", e.body.Message)
	}
	s.updateLocked(t, r, vals, srcUI, s.now())
	return nil
}

// ArchiveRecord deletes (archives) a record as a user in the UI would.
func (s *Server) ArchiveRecord(objectType, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, r, err := s.lookupLive(objectType, id)
	if err != nil {
		return err
	}
	s.archiveLocked(t, r, s.now())
	return nil
}

func recordOf(t *objectType, r *record) Record {
	return Record{ID: r.id, TypeID: t.id, Properties: maps.Clone(r.props), CreatedAt: r.created, UpdatedAt: r.updated, Archived: r.archived}
}

// GetRecord returns a record (archived ones too), or false.
func (s *Server) GetRecord(objectType, id string) (Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return Record{}, false
	}
	r := t.records[id]
	if r == nil {
		return Record{}, false
	}
	return recordOf(t, r), true
}

// FindRecord returns the live record whose property has value (the first
// by id), or false.
func (s *Server) FindRecord(objectType, property, value string) (Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return Record{}, false
	}
	for _, id := range t.ids {
		if r := t.records[id]; !r.archived && r.props[property] == value {
			return recordOf(t, r), true
		}
	}
	return Record{}, false
}

// Records returns the live records of a type in id order.
func (s *Server) Records(objectType string) []Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return nil
	}
	out := make([]Record, 0, len(t.ids))
	for _, id := range t.ids {
		if r := t.records[id]; !r.archived {
			out = append(out, recordOf(t, r))
		}
	}
	return out
}

// Associate associates two records with the default (unlabeled) type, as
// a user in the UI would.
func (s *Server) Associate(fromType, fromID, toType, toID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, err := s.lookupPair(fromType, toType)
	if err != nil {
		return err
	}
	if e := s.bothExist(from, fromID, to, toID); e != nil {
		return fmt.Errorf("hubspot sandbox: %s", e.body.Message)
	}
	a := s.defaultAssoc(from.id, to.id)
	if a == nil {
		return fmt.Errorf("hubspot sandbox: no association type between %s and %s", from.name, to.name)
	}
	s.link(a, fromID, toID)
	return nil
}

// Associations returns the ids of the live toType records associated with
// a record, in id order.
func (s *Server) Associations(fromType, fromID, toType string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from, to, err := s.lookupPair(fromType, toType)
	if err != nil {
		return nil
	}
	var ids []string
	for _, tg := range s.linked(linkKey{from.id, fromID}, to.id) {
		ids = append(ids, tg.id)
	}
	return ids
}

// AssociationLabels returns the labels ("" for unlabeled) of the
// association types between two records.
func (s *Server) AssociationLabels(fromType, fromID, toType, toID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from, to, err := s.lookupPair(fromType, toType)
	if err != nil {
		return nil
	}
	var out []string
	for _, id := range s.linkTypes(linkKey{from.id, fromID}, linkKey{to.id, toID}) {
		if a := s.assocByID(from.id, to.id, id); a != nil {
			out = append(out, a.label)
		}
	}
	sort.Strings(out)
	return out
}

// WriteCount is the number of API writes (create, update, upsert, archive
// — including writes that changed nothing) made to one record.
func (s *Server) WriteCount(objectType, id string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return 0
	}
	if r := t.records[id]; r != nil {
		return r.writes
	}
	return 0
}

// MaxWriteCount returns the record of a type with the most API writes and
// their number (loop detection: it must stay bounded).
func (s *Server) MaxWriteCount(objectType string) (id string, n int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.lookup(objectType)
	if err != nil {
		return "", 0
	}
	for _, rid := range t.ids {
		if w := t.records[rid].writes; w > n {
			id, n = rid, w
		}
	}
	return id, n
}

// Advance moves Options.Clock forward; it fails when the server runs on
// another clock.
func (s *Server) Advance(d time.Duration) error {
	if s.opts.Clock == nil {
		return fmt.Errorf("hubspot sandbox: Advance needs Options.Clock")
	}
	s.opts.Clock.Advance(d)
	return nil
}

// SetNow sets Options.Clock; it fails when the server runs on another clock.
func (s *Server) SetNow(t time.Time) error {
	if s.opts.Clock == nil {
		return fmt.Errorf("hubspot sandbox: SetNow needs Options.Clock")
	}
	s.opts.Clock.Set(t)
	return nil
}
