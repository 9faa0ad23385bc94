package salesforce

import (
	"context"
	"fmt"

	"github.com/regsync/regsync/registration"
)

// Deals reads Opportunities by id, with the registrations that look them
// up (Opportunity__c); ids not found are omitted.
func (c *Client) Deals(ctx context.Context, ids []string) ([]registration.Deal, error) {
	var valid []string
	for _, id := range ids {
		if validID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	soqls, err := c.inQueries("SELECT "+c.dealFields()+" FROM Opportunity WHERE Id IN ", valid, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: read deals: %w", err)
	}
	regs, err := c.inQueries("SELECT Id, "+FieldOpportunity+" FROM "+c.cfg.Object+" WHERE "+FieldOpportunity+" IN ", valid, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: read deals: %w", err)
	}
	var deals []registration.Deal
	links := map[string][]string{}
	seen := map[string]bool{}
	err = c.queries(ctx, "read deals", append(soqls, regs...), func(i int, page []map[string]any) error {
		for _, m := range page {
			if i < len(soqls) {
				d := c.toDeal(m)
				if d.ID != "" && !seen[d.ID] {
					seen[d.ID] = true
					deals = append(deals, d)
				}
				continue
			}
			lk := lowerKeys(m)
			opp := str(lk[lowerName(FieldOpportunity)])
			links[opp] = append(links[opp], str(lk["id"]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range deals {
		deals[i].RegistrationIDs = links[deals[i].ID]
	}
	return deals, nil
}

// ChangedDeals lists the Opportunities created or modified since cursor.
func (c *Client) ChangedDeals(ctx context.Context, cursor string) ([]string, string, error) {
	return c.changed(ctx, "poll deals", "Opportunity", cursor)
}

// AllDeals streams every Opportunity to fn, a page at a time, each with
// its registrations (one more query per page).
func (c *Client) AllDeals(ctx context.Context, fn func([]registration.Deal) error) error {
	var fnErr error
	err := c.query(ctx, "list deals", "SELECT "+c.dealFields()+" FROM Opportunity", func(page []map[string]any) error {
		deals := make([]registration.Deal, 0, len(page))
		var ids []string
		for _, m := range page {
			d := c.toDeal(m)
			deals = append(deals, d)
			ids = append(ids, d.ID)
		}
		if len(deals) == 0 {
			return nil
		}
		regs, err := c.inQueries("SELECT Id, "+FieldOpportunity+" FROM "+c.cfg.Object+" WHERE "+FieldOpportunity+" IN ", ids, "")
		if err != nil {
			return err
		}
		links := map[string][]string{}
		if err := c.queries(ctx, "list deals", regs, func(_ int, recs []map[string]any) error {
			for _, m := range recs {
				lk := lowerKeys(m)
				opp := str(lk[lowerName(FieldOpportunity)])
				links[opp] = append(links[opp], str(lk["id"]))
			}
			return nil
		}); err != nil {
			return err
		}
		for i := range deals {
			deals[i].RegistrationIDs = links[deals[i].ID]
		}
		if err := fn(deals); err != nil {
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

func lowerName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
