package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
)

// primaryCompany is HubSpot's "primary company" deal → company association type.
const primaryCompany = 5

// dealProps lists the deal properties regsync reads.
func (c *Client) dealProps() []string {
	props := []string{"dealname", "dealstage", "pipeline", "amount", "closedate", "createdate",
		"hs_lastmodifieddate", "hs_is_closed_won", "hs_object_id", c.cfg.DealPartnerProperty}
	if c.cfg.Object == ObjectDeals {
		for _, f := range []string{"case_number", "submission_key", "deal_id"} {
			if p := c.cfg.property(f); !slices.Contains(props, p) {
				props = append(props, p)
			}
		}
	}
	return props
}

// toDeal decodes a deal (without its associations).
func (c *Client) toDeal(o *object) registration.Deal {
	d := registration.Deal{ID: o.ID, Name: o.prop("dealname"), Stage: o.prop("dealstage"),
		PartnerID: o.prop(c.cfg.DealPartnerProperty)}
	if s := strings.TrimSpace(o.prop("amount")); s != "" {
		if n, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64); err == nil {
			d.Amount = n
		}
	}
	if t, err := registration.ParseTime(o.prop("closedate")); err == nil {
		d.CloseDate = t
	}
	created := o.prop("createdate")
	if created == "" {
		created = o.CreatedAt
	}
	if t, err := registration.ParseTime(created); err == nil {
		d.CreatedAt = t
	}
	modified := o.prop("hs_lastmodifieddate")
	if modified == "" {
		modified = o.UpdatedAt
	}
	if t, err := registration.ParseTime(modified); err == nil {
		d.ModifiedAt = t
	}
	d.Closed = slices.Contains(c.cfg.ClosedStages, d.Stage)
	d.Won = d.Closed && (slices.Contains(c.cfg.WonStages, d.Stage) || o.prop("hs_is_closed_won") == "true")
	if c.cfg.Object == ObjectDeals && c.isRegistration(o) {
		d.RegistrationIDs = []string{o.ID}
	}
	return d
}

// openDeals returns the open deals of companies, keyed by company id. In
// deals mode, deals that are registrations are left out.
func (c *Client) openDeals(ctx context.Context, companyIDs []string) (map[string][]registration.Deal, error) {
	out := map[string][]registration.Deal{}
	if len(companyIDs) == 0 {
		return out, nil
	}
	assoc, err := c.assocRead(ctx, "companies", "deals", companyIDs)
	if err != nil {
		return nil, err
	}
	var dealIDs []string
	for _, to := range assoc {
		for _, a := range to {
			dealIDs = append(dealIDs, a.ID)
		}
	}
	if len(dealIDs) == 0 {
		return out, nil
	}
	objs, err := c.batchRead(ctx, "deals", dealIDs, c.dealProps())
	if err != nil {
		return nil, err
	}
	for _, co := range companyIDs {
		for _, a := range assoc[co] {
			o := objs[a.ID]
			if o == nil || (c.cfg.Object == ObjectDeals && c.isRegistration(o)) {
				continue
			}
			d := c.toDeal(o)
			if d.Closed {
				continue
			}
			d.CompanyID = co
			out[co] = append(out[co], d)
		}
	}
	return out, nil
}

// Deals reads deals by id (100 a call) with their company (the primary
// one, else the first) and associated registrations (associations v4, 1,000
// a call); ids not found are omitted.
func (c *Client) Deals(ctx context.Context, ids []string) ([]registration.Deal, error) {
	ids = dedupe(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	objs, err := c.batchRead(ctx, "deals", ids, c.dealProps())
	if err != nil {
		return nil, err
	}
	var found []string
	for _, id := range ids {
		if objs[id] != nil {
			found = append(found, id)
		}
	}
	deals, err := c.withAssociations(ctx, found, objs)
	if err != nil {
		return nil, err
	}
	return deals, nil
}

// withAssociations decodes deals and adds their company and registrations.
func (c *Client) withAssociations(ctx context.Context, ids []string, objs map[string]*object) ([]registration.Deal, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	companies, err := c.assocRead(ctx, "deals", "companies", ids)
	if err != nil {
		return nil, err
	}
	regs := map[string][]string{}
	if c.cfg.Object == ObjectDeals {
		// A registration kept as a deal points at the deal it became with
		// its deal_id property.
		vals := make([]string, len(ids))
		copy(vals, ids)
		err := c.searchIn(ctx, "deals", c.cfg.property("deal_id"), vals,
			[]filter{{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"}},
			[]string{"hs_object_id", c.cfg.property("deal_id")}, func(o *object) error {
				d := o.prop(c.cfg.property("deal_id"))
				regs[d] = append(regs[d], o.ID)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("hubspot: find registrations of %d deals: %w", len(ids), err)
		}
	} else {
		t, err := c.regType(ctx)
		if err != nil {
			return nil, err
		}
		a, err := c.assocRead(ctx, "deals", t, ids)
		if err != nil {
			return nil, err
		}
		for id, to := range a {
			for _, x := range to {
				regs[id] = append(regs[id], x.ID)
			}
		}
	}
	deals := make([]registration.Deal, 0, len(ids))
	for _, id := range ids {
		d := c.toDeal(objs[id])
		cs := companies[id]
		for _, a := range cs {
			if slices.Contains(a.Types, primaryCompany) {
				d.CompanyID = a.ID
				break
			}
		}
		if d.CompanyID == "" && len(cs) > 0 {
			d.CompanyID = cs[0].ID
		}
		for _, r := range regs[id] {
			if !slices.Contains(d.RegistrationIDs, r) {
				d.RegistrationIDs = append(d.RegistrationIDs, r)
			}
		}
		deals = append(deals, d)
	}
	return deals, nil
}

// AllDeals streams every deal to fn with the list endpoint, a page (100)
// at a time, each deal with its company and registrations from the
// associations the list answer carries inline: one call per 100 deals. A
// deal whose inline associations are cut short (HubSpot pages them) has
// them read again with the associations batch read. In deals mode the
// registrations of deals are found as Deals finds them.
func (c *Client) AllDeals(ctx context.Context, fn func([]registration.Deal) error) error {
	if c.cfg.Object == ObjectDeals {
		return c.allDealsBatched(ctx, fn)
	}
	regs := c.listType()
	return c.list(ctx, "deals", c.dealProps(), []string{"companies", regs}, func(page []object) error {
		deals := make([]registration.Deal, 0, len(page))
		var cut []string
		objs := map[string]*object{}
		for i := range page {
			o := &page[i]
			d := c.toDeal(o)
			primary := false
			for kind, as := range o.Associations {
				if as.Paging.Next.After != "" {
					cut = append(cut, o.ID)
					objs[o.ID] = o
				}
				for _, a := range as.Results {
					switch {
					case kind == "companies" || kind == "company" || kind == "0-2":
						// The primary company, else the first.
						if p := a.Type == "deal_to_company"; d.CompanyID == "" || (p && !primary) {
							d.CompanyID, primary = a.ID, p
						}
					case !slices.Contains(d.RegistrationIDs, a.ID):
						d.RegistrationIDs = append(d.RegistrationIDs, a.ID)
					}
				}
			}
			deals = append(deals, d)
		}
		if len(cut) > 0 {
			full, err := c.withAssociations(ctx, dedupe(cut), objs)
			if err != nil {
				return err
			}
			for _, f := range full {
				for i := range deals {
					if deals[i].ID == f.ID {
						deals[i] = f
					}
				}
			}
		}
		return fn(deals)
	})
}

// allDealsBatched streams every deal to fn with the list endpoint, up to
// 1,000 deals a time (ten list pages, then the associations read for all
// of them).
func (c *Client) allDealsBatched(ctx context.Context, fn func([]registration.Deal) error) error {
	var ids []string
	objs := map[string]*object{}
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		deals, err := c.withAssociations(ctx, ids, objs)
		if err != nil {
			return err
		}
		ids, objs = nil, map[string]*object{}
		return fn(deals)
	}
	err := c.list(ctx, "deals", c.dealProps(), nil, func(page []object) error {
		for i := range page {
			o := page[i]
			if objs[o.ID] == nil {
				ids = append(ids, o.ID)
				objs[o.ID] = &o
			}
		}
		if len(ids) >= assocReadBatch-batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// Attribute stamps the partner on deals (deal_partner_property, 100 deals a
// call) and associates each deal with its registration (100 pairs a call).
// In deals mode the registration, itself a deal, gets the deal's id in its
// deal_id property instead. The result is parallel to attributions.
func (c *Client) Attribute(ctx context.Context, attributions []connectors.Attribution) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(attributions))
	var ps []pending
	for i, a := range attributions {
		res[i].ID = a.DealID
		switch {
		case a.DealID == "":
			res[i].Err = c.recordError("attribute", http.StatusBadRequest, connectors.ClassPermanent, "invalid", errors.New("no deal id"))
		case strings.TrimSpace(a.PartnerID) == "":
			res[i].Err = c.recordError("attribute", http.StatusBadRequest, connectors.ClassPermanent, "invalid", errors.New("no partner id"))
		default:
			ps = append(ps, pending{i: i, key: a.DealID, in: writeInput{ID: a.DealID,
				Properties: map[string]string{c.cfg.DealPartnerProperty: a.PartnerID}}})
		}
	}
	var errs []error
	for _, round := range rounds(ps) {
		if err := c.writeBatches(ctx, "deals", "update", round, res); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range res {
		res[i].ID = attributions[i].DealID
	}
	// Associations for the deals stamped.
	var pairs []pair
	var idx []int
	var dealIDs []connectors.Update
	var dealIdx []int
	for i, a := range attributions {
		if res[i].Err != nil || a.RegistrationID == "" {
			continue
		}
		if c.cfg.Object == ObjectDeals {
			if a.RegistrationID != a.DealID {
				dealIDs = append(dealIDs, connectors.Update{ID: a.RegistrationID, Fields: map[string]string{"deal_id": a.DealID}})
				dealIdx = append(dealIdx, i)
			}
			continue
		}
		pairs = append(pairs, pair{a.DealID, a.RegistrationID})
		idx = append(idx, i)
	}
	if len(pairs) > 0 {
		t, err := c.regType(ctx)
		if err != nil {
			for _, i := range idx {
				res[i].Err = err
			}
			return res, errors.Join(append(errs, err)...)
		}
		failed, err := c.associate(ctx, "deals", t, pairs)
		if err != nil {
			errs = append(errs, err)
		}
		for j, e := range failed {
			res[idx[j]].Err = e
		}
	}
	if len(dealIDs) > 0 {
		wr, err := c.Write(ctx, dealIDs)
		if err != nil {
			errs = append(errs, err)
		}
		for j, r := range wr {
			if r.Err != nil {
				res[dealIdx[j]].Err = r.Err
			}
		}
	}
	return res, errors.Join(errs...)
}
