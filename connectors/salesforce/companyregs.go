package salesforce

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/regsync/regsync/registration"
)

// CompanyRegistrations finds, for each Account id, the registrations of
// the Account whose status is one of statuses: those looking it up
// (Account__c), those naming it in company_id, and those on its registrable
// domain (Domain_Key__c, from the Account's website) — so a registration
// approved before an AE created the Account is found too. Two composite
// rounds whatever the number of Accounts: the Accounts with the
// registrations that name them, then the registrations on their domains.
// The result is keyed by Account id (as given); each record is Indexed.
func (c *Client) CompanyRegistrations(ctx context.Context, companyIDs []string, statuses []registration.Status) (map[string][]registration.Record, error) {
	out := map[string][]registration.Record{}
	var ids []string
	given := map[string]string{} // 18-character id → the id as given
	for _, id := range companyIDs {
		if validID(id) && given[fullID(id)] == "" {
			given[fullID(id)] = id
			ids = append(ids, fullID(id))
		}
	}
	if len(ids) == 0 || len(statuses) == 0 {
		return out, nil
	}
	want := make([]string, len(statuses))
	for i, s := range statuses {
		want[i] = string(s)
	}
	status := " AND " + c.cfg.FieldName("status") + " IN " + inList(want)
	sel := "SELECT " + c.regFields() + " FROM " + c.cfg.Object + " WHERE "

	accounts, err := c.inQueries("SELECT Id, "+c.cfg.AccountDomainField+" FROM Account WHERE Id IN ", ids, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: company registrations: %w", err)
	}
	byLookup, err := c.inQueries(sel+FieldAccount+" IN ", ids, status)
	if err != nil {
		return nil, fmt.Errorf("salesforce: company registrations: %w", err)
	}
	byField, err := c.inQueries(sel+c.cfg.FieldName("company_id")+" IN ", ids, status)
	if err != nil {
		return nil, fmt.Errorf("salesforce: company registrations: %w", err)
	}
	regs := map[string]registration.Record{}
	keyOf := map[string]string{} // account id → registrable domain
	var keys []string
	domainField := strings.ToLower(c.cfg.AccountDomainField)
	err = c.queries(ctx, "company registrations", slices.Concat(accounts, byLookup, byField), func(i int, page []map[string]any) error {
		for _, m := range page {
			if i >= len(accounts) {
				if r := c.toRecord(m); r.ID != "" {
					regs[fullID(r.ID)] = r
				}
				continue
			}
			lk := lowerKeys(m)
			h, err := registration.NormalizeDomain(str(lk[domainField]))
			if err != nil {
				continue
			}
			k, err := registration.RegistrableDomain(h)
			if err != nil {
				continue
			}
			keyOf[fullID(str(lk["id"]))] = k
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		byDomain, err := c.inQueries(sel+FieldDomainKey+" IN ", keys, status)
		if err != nil {
			return nil, fmt.Errorf("salesforce: company registrations: %w", err)
		}
		recs, err := c.readRegistrations(ctx, "company registrations", byDomain)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			regs[fullID(r.ID)] = r
		}
	}

	for _, acct := range ids {
		var list []registration.Record
		k := keyOf[acct]
		for _, r := range regs {
			if !slices.Contains(statuses, r.Status) {
				continue
			}
			if fullID(r.CompanyID) == acct || (k != "" && r.DomainKey == k) {
				list = append(list, r)
			}
		}
		slices.SortFunc(list, func(a, b registration.Record) int { return strings.Compare(fullID(a.ID), fullID(b.ID)) })
		if len(list) > 0 {
			out[given[acct]] = list
		}
	}
	return out, nil
}
