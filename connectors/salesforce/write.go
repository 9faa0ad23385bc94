package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
	"github.com/regsync/regsync/registration"
)

// maxCollection is the number of records of one sObject Collections call.
const maxCollection = 200

// saveResult is one entry of a collection answer.
type saveResult struct {
	ID      string    `json:"id"`
	Success bool      `json:"success"`
	Created *bool     `json:"created"`
	Errors  []sfError `json:"errors"`
	// exists marks a create that found its case number held (create).
	exists bool
}

// sfRecord is a record in a collection request.
type sfRecord map[string]any

func newRecord(object string) sfRecord {
	return sfRecord{"attributes": map[string]string{"type": object}}
}

// collection sends records (≤ 200) with allOrNone=false and returns one
// result per record, or the error of the whole request.
func (c *Client) collection(ctx context.Context, op, method, path string, recs []sfRecord) ([]saveResult, error) {
	var res []saveResult
	if _, err := c.do(ctx, call{op: op, method: method, path: path, write: true,
		body: map[string]any{"allOrNone": false, "records": recs}}, &res); err != nil {
		return nil, err
	}
	if len(res) != len(recs) {
		// Salesforce answered 2xx but not for every record: which were
		// saved is not known.
		c.usage.Fail("bad_response")
		return nil, connectors.NewError(op, 0, connectors.ClassUnknown, "bad_response", fmt.Errorf("%d results for %d records", len(res), len(recs)))
	}
	return res, nil
}

// batches applies a collection call to recs in batches of 200 and returns
// the per-record outcome (an error for the failed ones, request errors
// included).
func (c *Client) batches(ctx context.Context, op, method, path string, recs []sfRecord) ([]saveResult, []error) {
	results := make([]saveResult, len(recs))
	errs := make([]error, len(recs))
	for start := 0; start < len(recs); start += maxCollection {
		end := min(start+maxCollection, len(recs))
		res, err := c.collection(ctx, op, method, path, recs[start:end])
		for i := start; i < end; i++ {
			if err != nil {
				errs[i] = err
				continue
			}
			results[i] = res[i-start]
			if !results[i].Success {
				e := c.recordError(op, results[i].Errors)
				c.usage.Fail(e.Reason)
				errs[i] = e
			}
		}
	}
	return results, errs
}

// value converts canonical text to the JSON value of a field.
func value(f registration.Field, text string) (any, error) {
	s := strings.TrimSpace(text)
	switch f.Kind {
	case registration.KindBool:
		if s == "" {
			return false, nil
		}
		b, ok := registration.ParseBool(s)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not a yes/no value", f.Name, text)
		}
		return b, nil
	case registration.KindNumber:
		if s == "" {
			return nil, nil
		}
		var r registration.Record
		if err := f.Set(&r, s); err != nil {
			return nil, err
		}
		n, _ := strconv.ParseFloat(f.Get(&r), 64)
		return n, nil
	case registration.KindTime:
		t, err := registration.ParseTime(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if t.IsZero() {
			return nil, nil
		}
		// Salesforce keeps whole seconds: send what will be read back.
		return DateTime(t.Truncate(time.Second)), nil
	}
	if f.Name == "status" {
		if s == "" {
			return nil, nil
		}
		st := registration.Status(strings.ToLower(s))
		if !st.Valid() {
			return nil, fmt.Errorf("status: unknown status %q", text)
		}
		return string(st), nil
	}
	if text == "" {
		return nil, nil
	}
	return text, nil
}

// fields converts an update's canonical fields to a record's field values,
// with the derived keys and lookups.
func (c *Client) fields(ctx context.Context, rec sfRecord, in map[string]string) error {
	info := c.objectFields(ctx, c.cfg.Object)
	for name, text := range in {
		if name == "id" {
			continue
		}
		f, ok := registration.LookupField(name)
		if !ok {
			return fmt.Errorf("unknown field %q", name)
		}
		v, err := value(f, text)
		if err != nil {
			return err
		}
		api := c.cfg.FieldName(name)
		if s, ok := v.(string); ok {
			v = info.clip(api, s)
		}
		rec[api] = v
		switch name {
		case "company_domain":
			var r registration.Record
			r.CompanyDomain = text
			r.Index()
			rec[FieldDomainKey] = nilIfEmpty(r.DomainKey)
		case "company_name":
			rec[FieldNameKey] = nilIfEmpty(info.clip(FieldNameKey, registration.CompanyKey(text)))
		case "company_id":
			if id := strings.TrimSpace(text); id == "" || validID(id) {
				rec[FieldAccount] = nilIfEmpty(id)
			}
		case "deal_id":
			if id := strings.TrimSpace(text); id == "" || validID(id) {
				rec[FieldOpportunity] = nilIfEmpty(id)
			}
		}
	}
	return nil
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// lookups is what a registration's Account__c and Opportunity__c hold
// (18-character ids, "" when empty), as this client last read or wrote
// them.
type lookups struct{ account, opportunity string }

// maxLookups bounds the lookups remembered.
const maxLookups = 20000

// noteLookups remembers a registration's lookups as read.
func (c *Client) noteLookups(id string, l lookups) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.lookups == nil || len(c.lookups) >= maxLookups {
		c.lookups = map[string]lookups{}
	}
	c.lookups[fullID(id)] = l
}

// wroteLookups updates the remembered lookups of a registration after a
// successful write of rec (only those rec sets; only for a registration
// read before, whose other lookup is known).
func (c *Client) wroteLookups(id string, rec sfRecord) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	cur, ok := c.lookups[fullID(id)]
	if !ok {
		return
	}
	if v, ok := rec[FieldAccount]; ok {
		cur.account = fullID(str(v))
	}
	if v, ok := rec[FieldOpportunity]; ok {
		cur.opportunity = fullID(str(v))
	}
	c.lookups[fullID(id)] = cur
}

// linked reports whether a registration's lookups already hold what l
// asks for, as last read or written: the worker writes company_id (hence
// Account__c) with a decision and links the same Account right after, and
// a second write of the same values would cost a call, a write on the
// record and an outbound message for nothing.
func (c *Client) linked(l connectors.Link) bool {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	cur, ok := c.lookups[fullID(l.RegistrationID)]
	return ok && (l.CompanyID == "" || cur.account == fullID(l.CompanyID)) &&
		(l.DealID == "" || cur.opportunity == fullID(l.DealID))
}

// Write applies updates: by id through sObject Collections update, and
// without an id as a create only (see create) of the submission key's case
// number, so the same submission twice never makes two records nor writes
// over the first. Batches of more than bulk_threshold creates go through
// Bulk API 2.0. The result is parallel to updates.
func (c *Client) Write(ctx context.Context, updates []connectors.Update) ([]connectors.Result, error) {
	results := make([]connectors.Result, len(updates))
	if len(updates) == 0 {
		return results, nil
	}
	caseField := c.cfg.FieldName("case_number")
	keyField := c.cfg.FieldName("submission_key")
	type group struct {
		rec     sfRecord
		members []int
	}
	var updIdx, upsIdx []*group
	// The record name shows in list views: "Globex (R-…)", when the
	// object's Name is a writable text field (not an auto-number).
	nf := c.objectFields(ctx, c.cfg.Object).field("Name")
	nameOK := nf != nil && nf.Createable && nf.Updateable && nf.Type == "string"
	byID := map[string]*group{}
	byCase := map[string]*group{}
	for i, u := range updates {
		fail := func(err error) {
			results[i].Err = connectors.NewError("write", 0, connectors.ClassPermanent, "invalid", err)
			c.usage.Fail("invalid")
		}
		// Convert first: an update with one bad value is refused whole and
		// never merged into another's record.
		vals := sfRecord{}
		if err := c.fields(ctx, vals, u.Fields); err != nil {
			fail(err)
			continue
		}
		id := strings.TrimSpace(u.ID)
		switch {
		case id != "":
			if !validID(id) {
				fail(fmt.Errorf("%q is not a Salesforce id", crmhttp.Clip(id, 40)))
				continue
			}
			g := byID[id]
			if g == nil {
				g = &group{rec: newRecord(c.cfg.Object)}
				g.rec["Id"] = id
				byID[id] = g
				updIdx = append(updIdx, g)
			}
			if _, set := g.rec[FieldDomainKey]; u.Keys != nil && !set {
				// Keys derived from a domain or name an update writes (in
				// vals) win.
				name := u.Keys.Name
				if info := c.objectFields(ctx, c.cfg.Object); info != nil {
					name = info.clip(FieldNameKey, name)
				}
				g.rec[FieldDomainKey], g.rec[FieldNameKey] = nilIfEmpty(u.Keys.Domain), nilIfEmpty(name)
			}
			for k, v := range vals {
				g.rec[k] = v
			}
			g.members = append(g.members, i)
		case strings.TrimSpace(u.SubmissionKey) != "":
			cn := strings.TrimSpace(u.Fields["case_number"])
			if cn == "" {
				cn = registration.CaseNumberFor(u.SubmissionKey)
			}
			g := byCase[cn]
			if g == nil {
				g = &group{rec: newRecord(c.cfg.Object)}
				byCase[cn] = g
				upsIdx = append(upsIdx, g)
			}
			for k, v := range vals {
				g.rec[k] = v
			}
			g.rec[caseField] = cn
			g.rec[keyField] = u.SubmissionKey
			if nameOK {
				if name := strings.TrimSpace(u.Fields["company_name"]); name != "" {
					g.rec["Name"] = clipRunes(name, 80-len(cn)-3) + " (" + cn + ")"
				} else if _, ok := g.rec["Name"]; !ok {
					g.rec["Name"] = cn
				}
			}
			g.members = append(g.members, i)
		default:
			fail(errors.New("an update needs the record's id or a submission key"))
		}
	}
	set := func(g *group, r saveResult, err error) {
		for _, i := range g.members {
			results[i] = connectors.Result{ID: r.ID, Created: r.Created != nil && *r.Created, Err: err}
		}
		// Only the first member of a merged group reports the creation.
		for k, i := range g.members {
			if k > 0 {
				results[i].Created = false
			}
		}
	}
	if len(updIdx) > 0 {
		recs := make([]sfRecord, len(updIdx))
		for i, g := range updIdx {
			recs[i] = g.rec
		}
		res, errs := c.batches(ctx, "write", http.MethodPatch, "/composite/sobjects", recs)
		for i, g := range updIdx {
			if errs[i] == nil {
				res[i].ID = g.rec["Id"].(string)
				c.wroteLookups(res[i].ID, g.rec)
			}
			set(g, res[i], errs[i])
		}
	}
	if len(upsIdx) > 0 {
		recs := make([]sfRecord, len(upsIdx))
		for i, g := range upsIdx {
			recs[i] = g.rec
		}
		res, errs := c.create(ctx, caseField, recs)
		for i, g := range upsIdx {
			set(g, res[i], errs[i])
			if res[i].exists {
				for _, m := range g.members {
					results[m] = connectors.Result{ID: res[i].ID, Exists: true}
				}
			}
		}
	}
	return results, nil
}

// Link associates registrations with Accounts and Opportunities: it sets
// the Account__c and Opportunity__c lookups (and the company_id and
// deal_id fields) in sObject Collections updates, one record per
// registration. A registration whose lookups already hold these ids, as
// this client last read or wrote them, is left alone.
func (c *Client) Link(ctx context.Context, links []connectors.Link) error {
	byReg := map[string]sfRecord{}
	var order []string
	var bad []string
	for _, l := range links {
		if !validID(l.RegistrationID) || l.CompanyID != "" && !validID(l.CompanyID) || l.DealID != "" && !validID(l.DealID) {
			bad = append(bad, fmt.Sprintf("%q→%q/%q", crmhttp.Clip(l.RegistrationID, 20), crmhttp.Clip(l.CompanyID, 20), crmhttp.Clip(l.DealID, 20)))
			continue
		}
		if c.linked(l) {
			continue
		}
		rec := byReg[l.RegistrationID]
		if rec == nil {
			rec = newRecord(c.cfg.Object)
			rec["Id"] = l.RegistrationID
			byReg[l.RegistrationID] = rec
			order = append(order, l.RegistrationID)
		}
		if l.CompanyID != "" {
			rec[FieldAccount], rec[c.cfg.FieldName("company_id")] = l.CompanyID, l.CompanyID
		}
		if l.DealID != "" {
			rec[FieldOpportunity], rec[c.cfg.FieldName("deal_id")] = l.DealID, l.DealID
		}
	}
	var errs []error
	if len(bad) > 0 {
		c.usage.Fail("invalid")
		errs = append(errs, &connectors.Error{Op: "link", Reason: "invalid", Err: fmt.Errorf("not Salesforce ids: %s", strings.Join(bad, ", "))})
	}
	recs := make([]sfRecord, len(order))
	for i, id := range order {
		recs[i] = byReg[id]
	}
	_, rerrs := c.batches(ctx, "link", http.MethodPatch, "/composite/sobjects", recs)
	for i, err := range rerrs {
		if err == nil {
			c.wroteLookups(order[i], recs[i])
		}
	}
	return joinRecordErrors("link", order, append(errs, rerrs...))
}

// joinRecordErrors combines per-record errors into one classified error:
// the most cautious class of them (connectors.ClassOf: transient when any
// is, since redoing the whole batch is idempotent), with the first error's
// reason.
func joinRecordErrors(op string, ids []string, errs []error) error {
	var first *connectors.Error
	var msgs []string
	n := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		n++
		var ce *connectors.Error
		if errors.As(err, &ce) {
			if first == nil {
				first = ce
			}
		}
		if len(msgs) < 5 {
			id := ""
			if i < len(ids) {
				id = ids[i] + ": "
			}
			msgs = append(msgs, id+err.Error())
		}
	}
	if n == 0 {
		return nil
	}
	e := connectors.NewError(op, 0, connectors.ClassOf(errors.Join(errs...)), "error", fmt.Errorf("%d failed: %s", n, strings.Join(msgs, "; ")))
	if first != nil {
		e.Reason, e.Status, e.After = first.Reason, first.Status, first.After
	}
	return e
}

// validOnly splits side effects into those on a valid registration id and
// the refusals of the others (their ids and errors, for joinRecordErrors).
func validOnly[T any](op string, items []T, regID func(T) string) (valid []T, ids []string, errs []error) {
	for _, it := range items {
		id := regID(it)
		if !validID(id) {
			errs = append(errs, &connectors.Error{Op: op, Reason: "invalid", Err: fmt.Errorf("%q is not a Salesforce id", crmhttp.Clip(id, 40))})
			ids = append(ids, id)
			continue
		}
		valid = append(valid, it)
	}
	return valid, ids, errs
}

// Task opens Salesforce Tasks on registrations for their AEs. Owners are
// user ids or e-mail addresses/usernames (resolved once and cached); an
// unknown owner leaves the task with the integration user. A keyed task is
// opened once per key (sidefx.go). A task without a key whose
// registration already has an open task with the same subject is not
// created again, so a retried batch never doubles tasks.
func (c *Client) Task(ctx context.Context, tasks []connectors.Task) error {
	valid, ids, errs := validOnly("task", tasks, func(t connectors.Task) string { return t.RegistrationID })
	if len(valid) == 0 {
		return joinRecordErrors("task", ids, errs)
	}
	owners, err := c.resolveOwners(ctx, valid)
	if err != nil {
		return err
	}
	var keyed []connectors.Task
	var keyedRecs []sfRecord
	unkeyed := valid[:0:0]
	for _, t := range valid {
		if t.Key != "" {
			keyed = append(keyed, t)
			keyedRecs = append(keyedRecs, taskRecord(t, owners))
		} else {
			unkeyed = append(unkeyed, t)
		}
	}
	if len(keyed) > 0 {
		kids, kerrs := c.keyedTasks(ctx, keyed, keyedRecs)
		ids, errs = append(ids, kids...), append(errs, kerrs...)
	}
	if valid = unkeyed; len(valid) == 0 {
		return joinRecordErrors("task", ids, errs)
	}
	parents := make([]string, len(valid))
	for i, t := range valid {
		parents[i] = t.RegistrationID
	}
	open := map[[2]string]bool{}
	soqls, err := c.inQueries("SELECT WhatId, Subject FROM Task WHERE IsClosed = false AND WhatId IN ", parents, "")
	if err != nil {
		return fmt.Errorf("salesforce: task: %w", err)
	}
	if err := c.queries(ctx, "task", soqls, func(_ int, page []map[string]any) error {
		for _, m := range page {
			open[[2]string{fullID(str(m["WhatId"])), str(m["Subject"])}] = true
		}
		return nil
	}); err != nil {
		return err
	}
	var recs []sfRecord
	for _, t := range valid {
		rec := taskRecord(t, owners)
		key := [2]string{fullID(t.RegistrationID), rec["Subject"].(string)}
		if open[key] {
			continue
		}
		open[key] = true
		recs = append(recs, rec)
		ids = append(ids, t.RegistrationID)
	}
	_, rerrs := c.batches(ctx, "task", http.MethodPost, "/composite/sobjects", recs)
	return joinRecordErrors("task", ids, append(errs, rerrs...))
}

// taskRecord is the Task record of t.
func taskRecord(t connectors.Task, owners map[string]string) sfRecord {
	subject := crmhttp.Clip(strings.TrimSpace(t.Subject), 255)
	if subject == "" {
		subject = "Partner registration"
	}
	rec := newRecord("Task")
	rec["WhatId"], rec["Subject"] = t.RegistrationID, subject
	if t.Body != "" {
		rec["Description"] = crmhttp.Clip(t.Body, 32000)
	}
	if !t.Due.IsZero() {
		rec["ActivityDate"] = Date(t.Due)
	}
	rec["Status"], rec["Priority"] = "Not Started", "Normal"
	if id := owners[strings.ToLower(strings.TrimSpace(t.OwnerID))]; id != "" {
		rec["OwnerId"] = id
	}
	return rec
}

// resolveOwners maps task owners (user ids, e-mail addresses or
// usernames, as RevOps writes them) to user ids.
func (c *Client) resolveOwners(ctx context.Context, tasks []connectors.Task) (map[string]string, error) {
	out := map[string]string{}
	var lookup []string
	c.cmu.Lock()
	for _, t := range tasks {
		o := strings.ToLower(strings.TrimSpace(t.OwnerID))
		switch {
		case o == "":
		case validID(t.OwnerID) && strings.HasPrefix(t.OwnerID, "005"):
			out[o] = strings.TrimSpace(t.OwnerID)
		case strings.Contains(o, "@"):
			if id, ok := c.users[o]; ok {
				out[o] = id
			} else {
				lookup = append(lookup, o)
			}
		}
	}
	c.cmu.Unlock()
	if len(lookup) == 0 {
		return out, nil
	}
	soqls, err := c.inQueries("SELECT Id, Email, Username FROM User WHERE IsActive = true AND Email IN ", lookup, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: task owners: %w", err)
	}
	more, err := c.inQueries("SELECT Id, Email, Username FROM User WHERE IsActive = true AND Username IN ", lookup, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: task owners: %w", err)
	}
	found := map[string]string{}
	if err := c.queries(ctx, "task owners", append(soqls, more...), func(_ int, page []map[string]any) error {
		for _, m := range page {
			id := str(m["Id"])
			if u := strings.ToLower(str(m["Username"])); u != "" {
				found[u] = id
			}
			if e := strings.ToLower(str(m["Email"])); e != "" {
				if _, ok := found[e]; !ok {
					found[e] = id
				}
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	c.cmu.Lock()
	for _, o := range lookup {
		c.users[o] = found[o] // "" when unknown: not asked again
		out[o] = found[o]
		if found[o] == "" {
			c.log.Warn("salesforce: task owner is no active user: the task stays with the integration user", "owner", registration.MaskEmail(o))
		}
	}
	c.cmu.Unlock()
	return out, nil
}

// Note records audit notes: a Chatter post (FeedItem) on the
// registration's feed, or a classic Note. Each body starts with the time
// of the event. A keyed note is posted once per key, the key on its last
// line (sidefx.go); a note without a key already on the record (same
// text) is not posted again.
func (c *Client) Note(ctx context.Context, notes []connectors.Note) error {
	valid, ids, errs := validOnly("note", notes, func(n connectors.Note) string { return n.RegistrationID })
	if len(valid) == 0 {
		return joinRecordErrors("note", ids, errs)
	}
	limit := 10000
	if c.cfg.NoteObject == NoteClassic {
		limit = 32000
	}
	text := func(n connectors.Note) string {
		b := strings.TrimSpace(n.Body)
		if !n.At.IsZero() {
			b = "[" + n.At.UTC().Format("2006-01-02 15:04 UTC") + "] " + b
		}
		if n.Key != "" {
			return connectors.MarkKey(crmhttp.Clip(b, limit-4-len(connectors.KeyLine(n.Key))), n.Key)
		}
		return crmhttp.Clip(b, limit-1)
	}
	// Read the records' notes, unless every note is keyed and a first
	// attempt: what is there (same text; same key) is not posted again.
	var parents []string
	for _, n := range valid {
		if n.Key == "" || !n.Fresh {
			parents = append(parents, n.RegistrationID)
		}
	}
	existing := map[[2]string]bool{}
	if len(parents) > 0 {
		soqls, err := c.inQueries("SELECT ParentId, Body FROM "+c.cfg.NoteObject+" WHERE ParentId IN ", dedupe(parents), "")
		if err != nil {
			return fmt.Errorf("salesforce: note: %w", err)
		}
		if err := c.queries(ctx, "note", soqls, func(_ int, page []map[string]any) error {
			for _, m := range page {
				parent := fullID(str(m["ParentId"]))
				existing[[2]string{parent, str(m["Body"])}] = true
				for _, k := range connectors.MarkedKeys(str(m["Body"])) {
					existing[[2]string{parent, "key " + k}] = true
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	var recs []sfRecord
	for _, n := range valid {
		body := text(n)
		key := [2]string{fullID(n.RegistrationID), body}
		if n.Key != "" {
			key[1] = "key " + connectors.StoredKey(n.Key)
		}
		if existing[key] {
			continue
		}
		existing[key] = true
		rec := newRecord(c.cfg.NoteObject)
		rec["ParentId"], rec["Body"] = n.RegistrationID, body
		if c.cfg.NoteObject == NoteClassic {
			title := body
			if i := strings.IndexByte(title, '\n'); i >= 0 {
				title = title[:i]
			}
			rec["Title"] = crmhttp.Clip(title, 79)
		} else {
			rec["Type"] = "TextPost"
		}
		recs = append(recs, rec)
		ids = append(ids, n.RegistrationID)
	}
	_, rerrs := c.batches(crmhttp.WithoutResend(ctx), "note", http.MethodPost, "/composite/sobjects", recs)
	return joinRecordErrors("note", ids, append(errs, rerrs...))
}

// Attribute stamps the partner on Opportunities and links each to its
// registration, both in one sObject Collections update (two records per
// attribution, 100 attributions per call). The result is parallel to
// attributions.
func (c *Client) Attribute(ctx context.Context, attributions []connectors.Attribution) ([]connectors.Result, error) {
	results := make([]connectors.Result, len(attributions))
	var recs []sfRecord
	var owner []int // attribution index of each record
	for i, a := range attributions {
		if !validID(a.DealID) || a.RegistrationID != "" && !validID(a.RegistrationID) || strings.TrimSpace(a.PartnerID) == "" {
			results[i].Err = connectors.NewError("attribute", 0, connectors.ClassPermanent, "invalid", errors.New("an attribution needs a deal id, a partner id and a valid registration id"))
			c.usage.Fail("invalid")
			continue
		}
		results[i].ID = a.DealID
		opp := newRecord("Opportunity")
		opp["Id"], opp[c.cfg.OpportunityPartnerField] = a.DealID, a.PartnerID
		recs = append(recs, opp)
		owner = append(owner, i)
		if a.RegistrationID != "" {
			reg := newRecord(c.cfg.Object)
			reg["Id"], reg[FieldOpportunity], reg[c.cfg.FieldName("deal_id")] = a.RegistrationID, a.DealID, a.DealID
			recs = append(recs, reg)
			owner = append(owner, i)
		}
	}
	_, errs := c.batches(ctx, "attribute", http.MethodPatch, "/composite/sobjects", recs)
	for k, err := range errs {
		if err != nil && results[owner[k]].Err == nil {
			results[owner[k]].Err = err
		}
		if err == nil && recs[k]["attributes"].(map[string]string)["type"] == c.cfg.Object {
			c.wroteLookups(recs[k]["Id"].(string), recs[k])
		}
	}
	return results, nil
}

// create inserts new registrations — sObject Collections create (POST
// /composite/sobjects, allOrNone false), or a Bulk API 2.0 insert job for
// more than bulk_threshold — and never writes over an existing one: the
// case number is a unique External ID, so a record that already holds it
// (the same submission again, or an insert whose answer was lost and that
// was sent again) is refused with DUPLICATE_VALUE ("duplicate value found:
// <field> duplicates value on record with id: <id>",
// https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode).
// Those are looked up by case number (SOQL sees a write at once) and
// reported as existing, untouched — they may have been decided since. An
// upsert would have written the submission over them.
func (c *Client) create(ctx context.Context, caseField string, recs []sfRecord) ([]saveResult, []error) {
	var res []saveResult
	var errs []error
	if len(recs) > c.cfg.BulkThreshold {
		res, errs = c.bulkInsert(ctx, caseField, recs)
	} else {
		res, errs = c.batches(ctx, "write", http.MethodPost, "/composite/sobjects", recs)
		created := true // a create's answer has no "created": every success is one
		for i := range res {
			if errs[i] == nil && res[i].Success {
				res[i].Created = &created
			}
		}
	}
	var dup []int
	var cases []string
	for i, err := range errs {
		if connectors.Reason(err) == "duplicate_value" {
			dup = append(dup, i)
			cases = append(cases, str(recs[i][caseField]))
		}
	}
	if len(dup) == 0 {
		return res, errs
	}
	found, err := c.Lookup(ctx, cases)
	if err != nil {
		// Salesforce refused these inserts: nothing was written, and a
		// later create finds out again.
		class := connectors.ClassOf(err)
		if class == connectors.ClassUnknown {
			class = connectors.ClassRetry
		}
		for _, i := range dup {
			errs[i] = connectors.NewError("write", 0, class, connectors.Reason(err),
				fmt.Errorf("look up the registration holding case number %s: %w", crmhttp.Clip(cases[0], 40), err))
		}
		return res, errs
	}
	held := make(map[string]string, len(found))
	for _, r := range found {
		held[strings.ToUpper(r.CaseNumber)] = r.ID
	}
	for k, i := range dup {
		if id, ok := held[strings.ToUpper(cases[k])]; ok {
			res[i], errs[i] = saveResult{ID: id, Success: true, exists: true}, nil
		}
	}
	return res, errs
}

// bulkInsert inserts records through a Bulk API 2.0 ingest job and maps
// the job's results back to the records by the value of keyField, which
// each record holds (unique). Every record gets a result: records missing
// from both result files have an unknown outcome. A job that failed does
// not take back the results of the jobs before it.
func (c *Client) bulkInsert(ctx context.Context, keyField string, recs []sfRecord) ([]saveResult, []error) {
	res := make([]saveResult, len(recs))
	errs := make([]error, len(recs))
	failAll := func(err error) ([]saveResult, []error) {
		for i := range errs {
			if errs[i] == nil && !res[i].Success {
				errs[i] = err
			}
		}
		return res, errs
	}
	jobs, jerr := c.bulkJobs(ctx, keyField, recs)
	index := map[string]int{}
	for i, r := range recs {
		index[strings.ToUpper(fmt.Sprint(r[keyField]))] = i
	}
	for _, j := range jobs {
		for _, row := range j.success {
			if i, ok := index[strings.ToUpper(row[keyField])]; ok {
				created := true
				res[i] = saveResult{ID: row["sf__Id"], Success: true, Created: &created}
			}
		}
		for _, row := range j.failed {
			if i, ok := index[strings.ToUpper(row[keyField])]; ok {
				e := c.recordError("bulk import", []sfError{parseBulkError(row["sf__Error"])})
				c.usage.Fail(e.Reason)
				res[i], errs[i] = saveResult{ID: row["sf__Id"]}, e
			}
		}
	}
	if jerr != nil {
		return failAll(jerr)
	}
	missing := connectors.NewError("bulk import", 0, connectors.ClassUnknown, "server_error",
		errors.New("the bulk job reported no result for this record"))
	missing.After = time.Minute
	return failAll(missing)
}

// parseBulkError reads "CODE:message:fields --".
func parseBulkError(s string) sfError {
	s = strings.TrimSuffix(strings.TrimSpace(s), "--")
	code, rest, _ := strings.Cut(s, ":")
	msg := rest
	var fields []string
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		msg = rest[:i]
		for _, f := range strings.Split(strings.TrimSpace(rest[i+1:]), ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	}
	return sfError{ErrorCode: strings.TrimSpace(code), Message: strings.TrimSpace(msg), Fields: fields}
}
