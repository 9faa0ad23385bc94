package salesforce

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// Matching an Account to a registration's registrable domain.
//
// Website is free text ("https://www.globex.example/", "globex.example",
// "HTTP://EU.GLOBEX.EXAMPLE/about"), and SOQL cannot compute a registrable
// domain, so matching takes two steps:
//
//  1. a cheap prefilter in SOQL: Website LIKE '%globex.example%' for every
//     key, OR-ed and chunked under the query length limit (the key's own %
//     and _ are escaped, and LIKE is case-insensitive), so one query
//     covers hundreds of registrations;
//  2. the truth in Go: each candidate's Website is normalised
//     (registration.NormalizeDomain: scheme, www., port, path dropped) and
//     its registrable domain (public suffix list) must equal the key. So
//     "https://eu.globex.example/x" matches globex.example, while
//     "notglobex.example" and "globex.example.phish.test" (registrable
//     domain phish.test) never do.
//
// A leading-wildcard LIKE cannot use an index; on orgs with millions of
// Accounts set account_domain_field to a custom text field holding the
// domain (an External ID, hence indexed): it is then matched with an
// exact IN on the key and www.key, followed by the same check in Go.

// rivalStatuses are the statuses of registrations that can conflict with a
// new one: every active status and converted. Expired, declined,
// withdrawn, won and lost never conflict (rules.Decide skips them).
var rivalStatuses = []string{
	string(registration.StatusSubmitted), string(registration.StatusInReview), string(registration.StatusNeedsInfo),
	string(registration.StatusApproved), string(registration.StatusMeetingBooked), string(registration.StatusAppealed),
	string(registration.StatusConverted),
}

// accountMatch is an Account found for a registrable domain.
type accountMatch struct {
	id, name, host string
	exact          bool // the host is the registrable domain itself
	created        time.Time
}

// Facts gathers, for each record, the matched Account, its open
// Opportunities, the rival registrations and the partner's active count.
// Its queries go out together in composite calls: one round for
// registrations, Accounts and partner counts, one for Opportunities.
func (c *Client) Facts(ctx context.Context, records []registration.Record) ([]registration.Facts, error) {
	facts := make([]registration.Facts, len(records))
	if len(records) == 0 {
		return facts, nil
	}
	recs := make([]registration.Record, len(records))
	copy(recs, records)
	var domains, names, partners []string
	for i := range recs {
		if recs[i].DomainKey == "" && recs[i].NameKey == "" {
			recs[i].Index()
		}
		if recs[i].DomainKey != "" {
			domains = append(domains, recs[i].DomainKey)
		}
		if recs[i].NameKey != "" {
			names = append(names, recs[i].NameKey)
		}
		if recs[i].PartnerID != "" {
			partners = append(partners, recs[i].PartnerID)
		}
	}
	sel := "SELECT " + c.regFields() + " FROM " + c.cfg.Object + " WHERE "
	var soqls []string
	var kinds []string
	add := func(kind string, qs []string, err error) error {
		if err != nil {
			return fmt.Errorf("salesforce: facts: %w", err)
		}
		for _, q := range qs {
			soqls = append(soqls, q)
			kinds = append(kinds, kind)
		}
		return nil
	}
	qs, err := c.inQueries(sel+FieldDomainKey+" IN ", domains, "")
	if err := add("rivals", qs, err); err != nil {
		return nil, err
	}
	qs, err = c.inQueries(sel+FieldNameKey+" IN ", names, "")
	if err := add("rivals", qs, err); err != nil {
		return nil, err
	}
	// Registrations created outside regsync (a web-to-record form, a flow,
	// an AE in the UI) carry no derived keys until regsync first writes to
	// them, so the IN filters above cannot find them: while they are in a
	// status that can conflict they are fetched whole and matched on keys
	// computed here. Without this, in a burst of such registrations a later
	// one would win over an earlier one on the same domain or company.
	if len(domains) > 0 || len(names) > 0 {
		if err := add("rivals", []string{sel + FieldDomainKey + " = null AND " + FieldNameKey + " = null AND " +
			c.cfg.FieldName("status") + " IN " + inList(rivalStatuses)}, nil); err != nil {
			return nil, err
		}
	}
	qs, err = c.accountQueries(domains)
	if err := add("accounts", qs, err); err != nil {
		return nil, err
	}
	var active []string
	for _, s := range registration.Statuses {
		if s.Active() {
			active = append(active, string(s))
		}
	}
	pf := c.cfg.FieldName("partner_id")
	qs, err = c.inQueries("SELECT "+pf+", COUNT(Id) n FROM "+c.cfg.Object+" WHERE "+c.cfg.FieldName("status")+" IN "+inList(active)+
		" AND "+pf+" IN ", partners, " GROUP BY "+pf)
	if err := add("partners", qs, err); err != nil {
		return nil, err
	}

	rivals := map[string]registration.Record{}
	var rivalOrder []string
	accounts := map[string][]accountMatch{} // registrable domain → accounts
	partnerCount := map[string]int{}
	domainField := strings.ToLower(c.cfg.AccountDomainField)
	err = c.queries(ctx, "facts", soqls, func(i int, page []map[string]any) error {
		for _, m := range page {
			switch kinds[i] {
			case "rivals":
				r := c.toRecord(m)
				if r.ID != "" {
					if _, ok := rivals[r.ID]; !ok {
						rivalOrder = append(rivalOrder, r.ID)
					}
					rivals[r.ID] = r
				}
			case "accounts":
				lk := lowerKeys(m)
				raw := str(lk[domainField])
				host, err := registration.NormalizeDomain(raw)
				if err != nil {
					continue
				}
				reg, err := registration.RegistrableDomain(host)
				if err != nil {
					continue
				}
				created, _ := parseSFTime(str(lk["createddate"]))
				accounts[reg] = append(accounts[reg], accountMatch{id: str(lk["id"]), name: str(lk["name"]), host: host, exact: host == reg, created: created})
			case "partners":
				lk := lowerKeys(m)
				n, _ := lk["n"].(float64)
				partnerCount[strings.ToLower(str(lk[strings.ToLower(pf)]))] += int(n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Best account first: the registrable domain itself before a
	// sub-domain, then the oldest, then the smallest id.
	var acctIDs []string
	for reg, list := range accounts {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.exact != b.exact {
				return a.exact
			}
			if !a.created.Equal(b.created) {
				return a.created.Before(b.created)
			}
			return a.id < b.id
		})
		accounts[reg] = list
		for _, a := range list {
			acctIDs = append(acctIDs, a.id)
		}
	}
	deals, err := c.openDeals(ctx, acctIDs)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		r := &recs[i]
		f := &facts[i]
		if list := accounts[r.DomainKey]; r.DomainKey != "" && len(list) > 0 {
			f.Company = &registration.Company{ID: list[0].id, Name: list[0].name, Domain: list[0].host}
			for _, a := range list {
				f.OpenDeals = append(f.OpenDeals, deals[a.id]...)
			}
		}
		for _, id := range rivalOrder {
			o := rivals[id]
			if id == fullID(r.ID) {
				continue
			}
			if r.DomainKey != "" && o.DomainKey == r.DomainKey || r.NameKey != "" && o.NameKey == r.NameKey {
				f.Registrations = append(f.Registrations, o)
			}
		}
		if r.PartnerID != "" {
			n := partnerCount[strings.ToLower(r.PartnerID)]
			if r.ID != "" && r.Status.Active() && n > 0 {
				n-- // the record itself, as stored
			}
			f.PartnerActive = n
		}
	}
	return facts, nil
}

// accountQueries builds the Account prefilter for registrable domains.
func (c *Client) accountQueries(domains []string) ([]string, error) {
	f := c.cfg.AccountDomainField
	prefix := "SELECT Id, Name, " + f + ", CreatedDate FROM Account WHERE "
	if !strings.EqualFold(f, "Website") {
		var vals []string
		for _, d := range domains {
			vals = append(vals, d, "www."+d)
		}
		return c.inQueries(prefix+f+" IN ", vals, "")
	}
	chunks, err := chunkLike(f, domains, c.cfg.MaxQueryLength-len(prefix))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(chunks))
	for i, ch := range chunks {
		out[i] = prefix + orLike(f, ch)
	}
	return out, nil
}

// dealFields is the SELECT list of an Opportunity.
func (c *Client) dealFields() string {
	return "Id, Name, AccountId, StageName, Amount, CloseDate, IsClosed, IsWon, " + c.cfg.OpportunityPartnerField + ", CreatedDate, SystemModstamp"
}

// toDeal converts a query record to a Deal.
func (c *Client) toDeal(m map[string]any) registration.Deal {
	lk := lowerKeys(m)
	d := registration.Deal{
		ID: str(lk["id"]), Name: str(lk["name"]), Stage: str(lk["stagename"]), CompanyID: str(lk["accountid"]),
		PartnerID: str(lk[strings.ToLower(c.cfg.OpportunityPartnerField)]),
	}
	d.Amount, _ = lk["amount"].(float64)
	if t, err := time.Parse("2006-01-02", str(lk["closedate"])); err == nil {
		d.CloseDate = t
	}
	d.Closed, _ = lk["isclosed"].(bool)
	d.Won, _ = lk["iswon"].(bool)
	d.CreatedAt, _ = parseSFTime(str(lk["createddate"]))
	d.ModifiedAt, _ = parseSFTime(str(lk["systemmodstamp"]))
	return d
}

// openDeals reads the open Opportunities of accounts, by account id.
func (c *Client) openDeals(ctx context.Context, accountIDs []string) (map[string][]registration.Deal, error) {
	out := map[string][]registration.Deal{}
	if len(accountIDs) == 0 {
		return out, nil
	}
	soqls, err := c.inQueries("SELECT "+c.dealFields()+" FROM Opportunity WHERE IsClosed = false AND AccountId IN ", accountIDs, "")
	if err != nil {
		return nil, fmt.Errorf("salesforce: open deals: %w", err)
	}
	err = c.queries(ctx, "facts", soqls, func(_ int, page []map[string]any) error {
		for _, m := range page {
			d := c.toDeal(m)
			out[d.CompanyID] = append(out[d.CompanyID], d)
		}
		return nil
	})
	return out, err
}
