package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// flexID is an id HubSpot sends as a string or as a number (associations
// v4 answers toObjectId as a number, though its spec says string).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n.String())
	return nil
}

type objectID struct {
	ID flexID `json:"id"`
}

type assocSpec struct {
	Category string `json:"category"`
	TypeID   int    `json:"typeId"`
	Label    string `json:"label"`
}

type assocReadAnswer struct {
	Results []struct {
		From objectID `json:"from"`
		To   []struct {
			ToObjectID       flexID      `json:"toObjectId"`
			AssociationTypes []assocSpec `json:"associationTypes"`
		} `json:"to"`
		Paging paging `json:"paging"`
	} `json:"results"`
	Errors []batchError `json:"errors"`
}

type assocReadInput struct {
	ID    string `json:"id"`
	After string `json:"after,omitempty"`
}

// assocTo is one associated record.
type assocTo struct {
	ID    string
	Types []int
}

// assocRead reads the associations of ids to another object type with the
// v4 batch read (1,000 ids a call), following each record's own paging.
// Records without associations are absent from the answer.
func (c *Client) assocRead(ctx context.Context, from, to string, ids []string) (map[string][]assocTo, error) {
	out := map[string][]assocTo{}
	var queue []assocReadInput
	for _, id := range dedupe(ids) {
		queue = append(queue, assocReadInput{ID: id})
	}
	for len(queue) > 0 {
		n := min(len(queue), assocReadBatch)
		batch := queue[:n]
		queue = queue[n:]
		var ans assocReadAnswer
		_, err := c.post(ctx, "associations read", "/crm/v4/associations/"+from+"/"+to+"/batch/read",
			map[string]any{"inputs": batch}, &ans)
		if err != nil {
			return nil, fmt.Errorf("hubspot: read %s→%s associations of %d records: %w", from, to, n, err)
		}
		for _, r := range ans.Results {
			f := string(r.From.ID)
			for _, t := range r.To {
				a := assocTo{ID: string(t.ToObjectID)}
				for _, s := range t.AssociationTypes {
					a.Types = append(a.Types, s.TypeID)
				}
				if !slices.ContainsFunc(out[f], func(x assocTo) bool { return x.ID == a.ID }) {
					out[f] = append(out[f], a)
				}
			}
			if after := r.Paging.Next.After; after != "" {
				queue = append(queue, assocReadInput{ID: f, After: after})
			}
		}
	}
	return out, nil
}

type pairInput struct {
	From objectID `json:"from"`
	To   objectID `json:"to"`
}

// pair is one association to create.
type pair struct{ from, to string }

// associate creates default associations from → to, 100 a call. It
// returns the pairs HubSpot refused (by index) and whole-call failures.
func (c *Client) associate(ctx context.Context, from, to string, pairs []pair) (map[int]error, error) {
	failed := map[int]error{}
	var errs []error
	for _, ch := range chunks(len(pairs), batchSize) {
		var in []pairInput
		for _, p := range pairs[ch[0]:ch[1]] {
			in = append(in, pairInput{From: objectID{flexID(p.from)}, To: objectID{flexID(p.to)}})
		}
		var ans struct {
			Errors []batchError `json:"errors"`
		}
		_, err := c.post(ctx, "associations create", "/crm/v4/associations/"+from+"/"+to+"/batch/associate/default",
			map[string]any{"inputs": in}, &ans)
		if err != nil {
			for i := ch[0]; i < ch[1]; i++ {
				failed[i] = err
			}
			errs = append(errs, fmt.Errorf("hubspot: associate %d %s with %s: %w", ch[1]-ch[0], from, to, err))
			continue
		}
		for _, be := range ans.Errors {
			e := c.batchErr("associations create", be)
			matched := false
			for _, vals := range be.Context {
				for i := ch[0]; i < ch[1]; i++ {
					if slices.Contains(vals, pairs[i].from) || slices.Contains(vals, pairs[i].to) {
						failed[i], matched = e, true
					}
				}
			}
			if !matched {
				errs = append(errs, fmt.Errorf("hubspot: associate %s with %s: %w", from, to, e))
			}
		}
	}
	return failed, errors.Join(errs...)
}

// Link associates registrations with companies and deals, 100 pairs a call
// per object pair. In deals mode a registration is a deal: its link to a
// company is the deal's own company association, and its link to another
// deal is written to its deal_id property.
func (c *Client) Link(ctx context.Context, links []connectors.Link) error {
	t, err := c.regType(ctx)
	if err != nil {
		return err
	}
	var toCompany, toDeal []pair
	seen := map[pair]bool{}
	var dealIDs []connectors.Update
	for _, l := range links {
		if l.RegistrationID == "" {
			continue
		}
		if l.CompanyID != "" {
			p := pair{l.RegistrationID, "c" + l.CompanyID}
			if !seen[p] {
				seen[p] = true
				toCompany = append(toCompany, pair{l.RegistrationID, l.CompanyID})
			}
		}
		if l.DealID != "" {
			p := pair{l.RegistrationID, "d" + l.DealID}
			if seen[p] {
				continue
			}
			seen[p] = true
			if c.cfg.Object == ObjectDeals {
				if l.DealID != l.RegistrationID {
					dealIDs = append(dealIDs, connectors.Update{ID: l.RegistrationID, Fields: map[string]string{"deal_id": l.DealID}})
				}
				continue
			}
			toDeal = append(toDeal, pair{l.RegistrationID, l.DealID})
		}
	}
	var errs []error
	if len(toCompany) > 0 {
		failed, err := c.associate(ctx, t, "companies", toCompany)
		errs = append(errs, err)
		for i, e := range failed {
			errs = append(errs, fmt.Errorf("registration %s ↔ company %s: %w", toCompany[i].from, toCompany[i].to, e))
		}
	}
	if len(toDeal) > 0 {
		failed, err := c.associate(ctx, t, "deals", toDeal)
		errs = append(errs, err)
		for i, e := range failed {
			errs = append(errs, fmt.Errorf("registration %s ↔ deal %s: %w", toDeal[i].from, toDeal[i].to, e))
		}
	}
	if len(dealIDs) > 0 {
		res, err := c.Write(ctx, dealIDs)
		errs = append(errs, err)
		for i, r := range res {
			if r.Err != nil && err == nil {
				errs = append(errs, fmt.Errorf("registration %s deal_id: %w", dealIDs[i].ID, r.Err))
			}
		}
	}
	return errors.Join(errs...)
}

// assocType is an association type usable in create bodies.
type assocType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

type assocInput struct {
	To    objectID    `json:"to"`
	Types []assocType `json:"types"`
}

// Known HubSpot-defined default association types, used when the labels
// endpoint cannot say (HubSpot's association type table).
var knownAssoc = map[string]int{
	"tasks/deals": 216, "tasks/companies": 192, "tasks/contacts": 204,
	"notes/deals": 214, "notes/companies": 190, "notes/contacts": 202,
}

// defaultAssocType returns the unlabelled association type from → to,
// from the v4 labels endpoint, cached; ok is false when it cannot be
// known (callers then create first and associate after).
func (c *Client) defaultAssocType(ctx context.Context, from, to string) (assocType, bool) {
	key := from + "/" + to
	at, ok := c.assoc.get(key)
	if ok {
		return at, at.TypeID != 0
	}
	var ans struct {
		Results []struct {
			Category string  `json:"category"`
			TypeID   int     `json:"typeId"`
			Label    *string `json:"label"`
		} `json:"results"`
	}
	err := c.get(ctx, "association labels", "/crm/v4/associations/"+from+"/"+to+"/labels", nil, &ans)
	if err == nil {
		for _, want := range []string{"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"} {
			for _, r := range ans.Results {
				if r.Category == want && (r.Label == nil || *r.Label == "") {
					at = assocType{Category: r.Category, TypeID: r.TypeID}
					break
				}
			}
			if at.TypeID != 0 {
				break
			}
		}
	}
	if at.TypeID == 0 {
		if id, ok := knownAssoc[key]; ok {
			at = assocType{Category: "HUBSPOT_DEFINED", TypeID: id}
		}
	}
	var ce *connectors.Error
	if at.TypeID != 0 || err == nil || (errors.As(err, &ce) && !ce.Retry) {
		c.assoc.set(key, at) // remember a definite answer, even "unknown"
	}
	return at, at.TypeID != 0
}

// activity is a task or note to create on a registration; key, when set,
// makes its creation idempotent (sidefx.go).
type activity struct {
	regID string
	props map[string]string
	key   string
	fresh bool
}

// createActivities batch-creates tasks or notes associated with their
// registrations: in one call per 100 when the association type is known,
// else create and then associate. A batch HubSpot refuses as a whole (400:
// an owner it does not know, an association type it will not take) is
// tried once more without owners and associated afterwards, so the AE's
// to-do is not lost over its assignment. Keyed activities an earlier
// attempt created are not created again (withoutExisting).
func (c *Client) createActivities(ctx context.Context, kind string, acts []activity) error {
	t, err := c.regType(ctx)
	if err != nil {
		return err
	}
	if acts, err = c.withoutExisting(ctx, kind, t, acts); err != nil || len(acts) == 0 {
		return err
	}
	at, known := c.defaultAssocType(ctx, kind, t)
	var errs []error
	for _, ch := range chunks(len(acts), batchSize) {
		part := acts[ch[0]:ch[1]]
		err := c.createChunk(ctx, kind, t, part, at, known, false)
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == 400 {
			c.log.Warn("hubspot: HubSpot refused a batch of "+kind+"; creating it again without owners", "err", err)
			err = c.createChunk(ctx, kind, t, part, at, false, true)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Client) createChunk(ctx context.Context, kind, regType string, part []activity, at assocType, inline, noOwner bool) error {
	op := "batch create " + kind
	req := batchWriteRequest{}
	for j, a := range part {
		props := a.props
		if noOwner {
			props = make(map[string]string, len(a.props))
			for k, v := range a.props {
				if k != "hubspot_owner_id" {
					props[k] = v
				}
			}
		}
		in := writeInput{Properties: props, ObjectWriteTraceID: strconv.Itoa(j)}
		if inline {
			in.Associations = []assocInput{{To: objectID{flexID(a.regID)}, Types: []assocType{at}}}
		}
		req.Inputs = append(req.Inputs, in)
	}
	var ans batchAnswer
	if _, err := c.post(crmhttp.WithoutResend(ctx), op, "/crm/v3/objects/"+kind+"/batch/create", req, &ans); err != nil {
		return fmt.Errorf("hubspot: create %d %s: %w", len(part), kind, err)
	}
	var errs []error
	for _, be := range ans.Errors {
		errs = append(errs, fmt.Errorf("hubspot: create %s: %w", kind, c.batchErr(op, be)))
	}
	if inline {
		return errors.Join(errs...)
	}
	var pairs []pair
	for k, o := range ans.Results {
		j, err := strconv.Atoi(o.ObjectWriteTraceID)
		if err != nil || j < 0 || j >= len(part) {
			if len(ans.Results) != len(part) {
				continue
			}
			j = k
		}
		pairs = append(pairs, pair{o.ID, part[j].regID})
	}
	failed, err := c.associate(ctx, kind, regType, pairs)
	if err != nil {
		errs = append(errs, err)
	}
	// A retry finds what was created through its association: archive
	// what is left without one, so the retry does not make a second copy.
	var orphans []string
	for i := range failed {
		orphans = append(orphans, pairs[i].from)
	}
	if len(orphans) > 0 {
		if aerr := c.archive(ctx, kind, orphans); aerr != nil {
			c.log.Warn("hubspot: "+kind+" created without their association could not be archived; a retry may duplicate them",
				"count", len(orphans), "err", aerr)
			errs = append(errs, aerr)
		}
	}
	return errors.Join(errs...)
}

// Task opens AE tasks on registrations, 100 a call. A task's OwnerID is a
// HubSpot owner id (digits) or an owner's e-mail address, resolved through
// the owners API (cached); anything else leaves the task unassigned, with
// a warning. A keyed task is opened once per key (sidefx.go).
func (c *Client) Task(ctx context.Context, tasks []connectors.Task) error {
	var acts []activity
	for _, tk := range tasks {
		if tk.RegistrationID == "" {
			continue
		}
		due := tk.Due
		if due.IsZero() {
			due = c.now().Add(24 * time.Hour)
		}
		props := map[string]string{
			"hs_task_subject":  clip(tk.Subject, 255),
			"hs_task_body":     markedBody(tk.Body, tk.Key),
			"hs_timestamp":     msString(due),
			"hs_task_status":   "NOT_STARTED",
			"hs_task_priority": "MEDIUM",
			"hs_task_type":     "TODO",
		}
		if owner := c.ownerID(ctx, tk.OwnerID); owner != "" {
			props["hubspot_owner_id"] = owner
		}
		acts = append(acts, activity{regID: tk.RegistrationID, props: props, key: tk.Key, fresh: tk.Fresh})
	}
	if len(acts) == 0 {
		return nil
	}
	return c.createActivities(ctx, "tasks", acts)
}

// Note records audit notes on registrations, 100 a call; a keyed note is
// recorded once per key (sidefx.go).
func (c *Client) Note(ctx context.Context, notes []connectors.Note) error {
	var acts []activity
	for _, n := range notes {
		if n.RegistrationID == "" || strings.TrimSpace(n.Body) == "" {
			continue
		}
		at := n.At
		if at.IsZero() {
			at = c.now()
		}
		acts = append(acts, activity{regID: n.RegistrationID, key: n.Key, fresh: n.Fresh, props: map[string]string{
			"hs_note_body": markedBody(n.Body, n.Key),
			"hs_timestamp": msString(at),
		}})
	}
	if len(acts) == 0 {
		return nil
	}
	return c.createActivities(ctx, "notes", acts)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
