package hubspot

import (
	"context"
	"fmt"
	"slices"

	"github.com/regsync/regsync/registration"
)

// CompanyRegistrations finds, for each company id, the registrations of the
// company whose status is one of statuses: those associated with it, those
// naming it in company_id, and those on its registrable domain (domain_key)
// — so a registration approved before an AE created the company is found
// too. Batch-first, whatever the number of companies (up to 100): one
// batch read of the companies, one associations read, one search packing
// both IN conditions, one batch read of the associated registrations the
// search did not return. The result is keyed by company id; each record is
// Indexed.
func (c *Client) CompanyRegistrations(ctx context.Context, companyIDs []string, statuses []registration.Status) (map[string][]registration.Record, error) {
	out := map[string][]registration.Record{}
	ids := dedupe(companyIDs)
	if len(ids) == 0 || len(statuses) == 0 {
		return out, nil
	}
	want := make([]string, len(statuses))
	for i, s := range statuses {
		want[i] = string(s)
	}
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}

	cos, err := c.batchRead(ctx, "companies", ids, []string{"name", "domain", "hs_object_id"})
	if err != nil {
		return nil, fmt.Errorf("hubspot: read %d companies: %w", len(ids), err)
	}
	keyOf := map[string]string{} // company id → registrable domain
	var keys []string
	for _, id := range ids {
		o := cos[id]
		if o == nil {
			continue
		}
		h, err := registration.NormalizeDomain(o.prop("domain"))
		if err != nil {
			continue
		}
		k, err := registration.RegistrableDomain(h)
		if err != nil {
			continue
		}
		keyOf[id] = k
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	assoc, err := c.assocRead(ctx, "companies", t, ids)
	if err != nil {
		return nil, err
	}

	regs := map[string]registration.Record{}
	statusProp := c.cfg.property("status")
	extra := []filter{{PropertyName: statusProp, Operator: "IN", Values: want}}
	if c.cfg.Object == ObjectDeals {
		extra = append(extra, filter{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"})
	}
	conds := []cond{{prop: c.cfg.property("company_id"), values: ids}}
	if len(keys) > 0 {
		conds = append(conds, cond{prop: PropDomainKey, values: keys})
	}
	err = c.searchAny(ctx, t, conds, extra, c.regProps(), func(o *object) error {
		if c.isRegistration(o) {
			regs[o.ID] = c.toRecord(o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hubspot: find the registrations of %d companies: %w", len(ids), err)
	}
	var missing []string
	for _, to := range assoc {
		for _, a := range to {
			if _, ok := regs[a.ID]; !ok && !slices.Contains(missing, a.ID) {
				missing = append(missing, a.ID)
			}
		}
	}
	if len(missing) > 0 {
		objs, err := c.batchRead(ctx, t, missing, c.regProps())
		if err != nil {
			return nil, fmt.Errorf("hubspot: read %d registrations of companies: %w", len(missing), err)
		}
		for id, o := range objs {
			if !c.isRegistration(o) {
				continue
			}
			r := c.toRecord(o)
			if slices.Contains(statuses, r.Status) {
				regs[id] = r
			}
		}
	}

	for _, co := range ids {
		var list []registration.Record
		add := func(r registration.Record) {
			if !slices.ContainsFunc(list, func(x registration.Record) bool { return x.ID == r.ID }) {
				list = append(list, r)
			}
		}
		for _, a := range assoc[co] {
			if r, ok := regs[a.ID]; ok {
				add(r)
			}
		}
		k := keyOf[co]
		for _, r := range regs {
			if r.CompanyID == co || (k != "" && r.DomainKey == k) {
				add(r)
			}
		}
		slices.SortFunc(list, func(a, b registration.Record) int {
			switch {
			case idLess(a.ID, b.ID):
				return -1
			case idLess(b.ID, a.ID):
				return 1
			}
			return 0
		})
		if len(list) > 0 {
			out[co] = list
		}
	}
	return out, nil
}
