package hubspot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/regsync/regsync/registration"
)

// rivalStatuses are the statuses of registrations that can conflict with a
// new one: every active status and converted. Expired, declined,
// withdrawn, won and lost never conflict (rules.Decide skips them), so
// Facts leaves them out of its search.
var rivalStatuses = []string{
	string(registration.StatusSubmitted), string(registration.StatusInReview), string(registration.StatusNeedsInfo),
	string(registration.StatusApproved), string(registration.StatusMeetingBooked), string(registration.StatusAppealed),
	string(registration.StatusConverted),
}

// activeStatuses are the statuses counted in a partner's active
// registrations (registration.Status.Active).
func activeStatuses() []string {
	var out []string
	for _, s := range registration.Statuses {
		if s.Active() {
			out = append(out, string(s))
		}
	}
	return out
}

// Facts gathers, in batch, what the rules need for each record:
//
//   - the company: one search on companies' domain IN (the registrable
//     domain, its www. form, the registration's own host and its www. form)
//     for every record at once, 500 values a call; companies are matched to
//     a record by the registrable domain of their own domain, so a company
//     stored as "www.globex.example" or under the registration's sub-domain
//     is found too (and, with match_company_subdomains, any other
//     sub-domain);
//   - the open deals of every company on that registrable domain: one
//     associations v4 batch read (1,000 companies a call) and deal batch
//     reads (100 a call), open meaning a stage not in closed_stages; in
//     deals mode a deal that is itself a registration never counts;
//   - the other registrations on the same registrable domain or with the
//     same normalised company name, found with IN on the derived properties
//     domain_key and name_key, leaving out the records being decided (they
//     are added from the input, fresher than any search) and closed
//     statuses, which never conflict;
//   - the partner's count of other active registrations: one search
//     (partner_id IN …, status IN active) paged when that is cheaper, else
//     one total per partner.
//
// The result is parallel to records. Records need no CRM id: intake
// gathers facts before it creates the records.
func (c *Client) Facts(ctx context.Context, records []registration.Record) ([]registration.Facts, error) {
	facts := make([]registration.Facts, len(records))
	if len(records) == 0 {
		return facts, nil
	}
	recs := make([]registration.Record, len(records))
	copy(recs, records)
	hosts := make([]string, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.DomainKey == "" && r.NameKey == "" {
			r.Index()
		}
		if h, err := registration.NormalizeDomain(r.CompanyDomain); err == nil {
			hosts[i] = h
		}
	}

	companies, err := c.companiesFor(ctx, recs, hosts)
	if err != nil {
		return nil, err
	}
	var companyIDs []string
	for _, cs := range companies {
		for _, co := range cs {
			companyIDs = append(companyIDs, co.ID)
		}
	}
	open, err := c.openDeals(ctx, dedupe(companyIDs))
	if err != nil {
		return nil, err
	}
	rivals, err := c.rivals(ctx, recs)
	if err != nil {
		return nil, err
	}
	counts, err := c.partnerCounts(ctx, recs)
	if err != nil {
		return nil, err
	}

	for i := range recs {
		r := &recs[i]
		f := &facts[i]
		if cs := companies[r.DomainKey]; r.DomainKey != "" && len(cs) > 0 {
			best := bestCompany(cs, hosts[i], r.DomainKey)
			f.Company = &registration.Company{ID: best.ID, Name: best.Name, Domain: best.Domain}
			seen := map[string]bool{}
			for _, co := range cs {
				for _, d := range open[co.ID] {
					if seen[d.ID] || (c.cfg.Object == ObjectDeals && d.ID == r.ID) {
						continue
					}
					seen[d.ID] = true
					d.CompanyID = co.ID
					f.OpenDeals = append(f.OpenDeals, d)
				}
			}
		}
		for _, o := range rivals.match(r) {
			if !self(r, o) {
				f.Registrations = append(f.Registrations, *o)
			}
		}
		if r.PartnerID != "" {
			n := counts[strings.ToLower(r.PartnerID)]
			if r.ID != "" && r.Status.Active() {
				n-- // the record itself, when the CRM holds it as active
			}
			f.PartnerActive = max(n, 0)
		}
	}
	return facts, nil
}

// self reports whether o is r itself.
func self(r, o *registration.Record) bool {
	if r.ID != "" && o.ID != "" {
		return r.ID == o.ID
	}
	return r.CaseNumber != "" && r.CaseNumber == o.CaseNumber
}

// --- companies ---------------------------------------------------------------------

// company is a HubSpot company as Facts needs it.
type company struct {
	ID, Name, Domain string
	host             string // the normalised domain
}

// companiesFor finds the companies of every record's registrable domain,
// keyed by it.
func (c *Client) companiesFor(ctx context.Context, recs []registration.Record, hosts []string) (map[string][]company, error) {
	var vals []string
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	keys := map[string]bool{}
	for i := range recs {
		k := recs[i].DomainKey
		if k == "" {
			continue
		}
		keys[k] = true
		add(k)
		add("www." + k)
		if h := hosts[i]; h != "" && h != k {
			add(h)
			add("www." + h)
		}
	}
	out := map[string][]company{}
	if len(vals) == 0 {
		return out, nil
	}
	collect := func(o *object) error {
		co := company{ID: o.ID, Name: o.prop("name"), Domain: o.prop("domain")}
		h, err := registration.NormalizeDomain(co.Domain)
		if err != nil {
			return nil
		}
		co.host = h
		k, err := registration.RegistrableDomain(h)
		if err != nil || !keys[k] {
			return nil
		}
		for _, x := range out[k] {
			if x.ID == co.ID {
				return nil
			}
		}
		out[k] = append(out[k], co)
		return nil
	}
	props := []string{"name", "domain", "hs_object_id"}
	if err := c.searchIn(ctx, "companies", "domain", vals, nil, props, collect); err != nil {
		return nil, fmt.Errorf("hubspot: find companies by %d domains: %w", len(vals), err)
	}
	if c.cfg.MatchCompanySubdomains {
		var missing []string
		for k := range keys {
			if len(out[k]) == 0 {
				missing = append(missing, k)
			}
		}
		slices.Sort(missing)
		// CONTAINS_TOKEN takes one value: one group per domain, five a call.
		for _, ch := range chunks(len(missing), maxGroups) {
			var groups []filterGroup
			for _, k := range missing[ch[0]:ch[1]] {
				groups = append(groups, filterGroup{Filters: []filter{{PropertyName: "domain", Operator: "CONTAINS_TOKEN", Value: "*." + k}}})
			}
			if err := c.searchAll(ctx, "companies", groups, props, collect); err != nil {
				return nil, fmt.Errorf("hubspot: find companies on sub-domains: %w", err)
			}
		}
	}
	for k := range out {
		slices.SortFunc(out[k], func(a, b company) int {
			if idLess(a.ID, b.ID) {
				return -1
			}
			if idLess(b.ID, a.ID) {
				return 1
			}
			return 0
		})
	}
	return out, nil
}

// bestCompany picks the company of a registration among those on its
// registrable domain: the one on the registration's own host, else the one
// on the registrable domain itself, else the oldest.
func bestCompany(cs []company, host, key string) company {
	for _, want := range []string{host, key} {
		if want == "" {
			continue
		}
		for _, co := range cs {
			if co.host == want {
				return co
			}
		}
	}
	return cs[0]
}

// --- rival registrations ---------------------------------------------------------

// rivalSet indexes candidate rival registrations by match key.
type rivalSet struct {
	byDomain map[string][]*registration.Record
	byName   map[string][]*registration.Record
}

func (s *rivalSet) add(r *registration.Record) {
	if r.DomainKey != "" {
		s.byDomain[r.DomainKey] = append(s.byDomain[r.DomainKey], r)
	}
	if r.NameKey != "" {
		s.byName[r.NameKey] = append(s.byName[r.NameKey], r)
	}
}

// match returns the candidates sharing r's domain key or name key, once each.
func (s *rivalSet) match(r *registration.Record) []*registration.Record {
	var out []*registration.Record
	if r.DomainKey != "" {
		out = append(out, s.byDomain[r.DomainKey]...)
	}
	if r.NameKey != "" {
		for _, o := range s.byName[r.NameKey] {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// rivals finds the registrations that may conflict with recs.
func (c *Client) rivals(ctx context.Context, recs []registration.Record) (*rivalSet, error) {
	set := &rivalSet{byDomain: map[string][]*registration.Record{}, byName: map[string][]*registration.Record{}}
	// The records being decided that the CRM holds are candidates for each
	// other, as they are now (no search lag).
	mine := map[string]bool{}
	for i := range recs {
		r := &recs[i]
		if r.ID == "" {
			continue
		}
		mine[r.ID] = true
		if slices.Contains(rivalStatuses, string(r.Status)) {
			cp := *r
			set.add(&cp)
		}
	}
	// The others: IN on the derived keys, without the records above. The
	// values of a group and the ids it excludes come from the same records,
	// so a group never needs more than one NOT_IN filter.
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}
	type item struct{ key, id string }
	var byDomain, byName []item
	dseen, nseen := map[string]bool{}, map[string]bool{}
	for i := range recs {
		r := &recs[i]
		if k := r.DomainKey; k != "" && !dseen[k] {
			dseen[k] = true
			byDomain = append(byDomain, item{k, r.ID})
		}
		if k := r.NameKey; k != "" && !nseen[k] {
			nseen[k] = true
			byName = append(byName, item{strings.ToLower(k), r.ID})
		}
	}
	statusProp := c.cfg.property("status")
	var groups []filterGroup
	for _, part := range []struct {
		prop  string
		items []item
	}{{PropDomainKey, byDomain}, {PropNameKey, byName}} {
		for _, ch := range chunks(len(part.items), maxInValues) {
			var vals, ids []string
			for _, it := range part.items[ch[0]:ch[1]] {
				vals = append(vals, it.key)
			}
			// Exclude every record being decided whose keys are in this
			// group's values (several records may share a key).
			in := map[string]bool{}
			for _, v := range vals {
				in[v] = true
			}
			for i := range recs {
				r := &recs[i]
				k := r.DomainKey
				if part.prop == PropNameKey {
					k = strings.ToLower(r.NameKey)
				}
				if r.ID != "" && in[k] && !slices.Contains(ids, r.ID) {
					ids = append(ids, r.ID)
				}
			}
			fs := []filter{{PropertyName: part.prop, Operator: "IN", Values: vals},
				{PropertyName: statusProp, Operator: "IN", Values: rivalStatuses}}
			if len(ids) > 0 && len(ids) <= maxInValues {
				// More would take several filters; collect drops them anyway.
				fs = append(fs, filter{PropertyName: "hs_object_id", Operator: "NOT_IN", Values: ids})
			}
			if c.cfg.Object == ObjectDeals {
				fs = append(fs, filter{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"})
			}
			groups = append(groups, filterGroup{Filters: fs})
		}
	}
	// Registrations created outside regsync (a HubSpot form, an AE in the
	// UI) carry no derived keys until regsync first writes to them, so the
	// IN filters above cannot find them: while they wait to be decided they
	// are fetched whole and matched on keys computed here. Without this, a
	// burst of such registrations would let a later one win over an
	// earlier one on the same domain.
	unindexed := []filter{{PropertyName: PropDomainKey, Operator: "NOT_HAS_PROPERTY"},
		{PropertyName: statusProp, Operator: "IN", Values: rivalStatuses}}
	if c.cfg.Object == ObjectDeals {
		unindexed = append(unindexed, filter{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"})
	}
	groups = append(groups, filterGroup{Filters: unindexed})
	props := c.regProps()
	seen := map[string]bool{}
	collect := func(o *object) error {
		if seen[o.ID] || mine[o.ID] || !c.isRegistration(o) {
			return nil
		}
		seen[o.ID] = true
		r := c.toRecord(o)
		set.add(&r)
		return nil
	}
	// Pack groups into requests within the filter limits (the anchor filter
	// takes one more per group).
	for len(groups) > 0 {
		n, total := 0, 0
		for n < len(groups) && n < maxGroups {
			k := len(groups[n].Filters) + 1
			if total+k > maxFilters || k > maxFiltersPerGroup {
				break
			}
			total += k
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("hubspot: a rival search group has %d filters, more than HubSpot allows", len(groups[0].Filters)+1)
		}
		if err := c.searchAll(ctx, t, groups[:n], props, collect); err != nil {
			return nil, fmt.Errorf("hubspot: find rival registrations: %w", err)
		}
		groups = groups[n:]
	}
	return set, nil
}

// --- partner counts ----------------------------------------------------------------

// partnerCounts counts each partner's active registrations in the CRM,
// keyed by lower-cased partner id.
func (c *Client) partnerCounts(ctx context.Context, recs []registration.Record) (map[string]int, error) {
	var partners []string
	seen := map[string]bool{}
	for i := range recs {
		p := strings.ToLower(strings.TrimSpace(recs[i].PartnerID))
		if p != "" && !seen[p] {
			seen[p] = true
			partners = append(partners, p)
		}
	}
	counts := map[string]int{}
	if len(partners) == 0 {
		return counts, nil
	}
	t, err := c.regType(ctx)
	if err != nil {
		return nil, err
	}
	partnerProp, statusProp := c.cfg.property("partner_id"), c.cfg.property("status")
	active := activeStatuses()
	groupFor := func(ps []string) filterGroup {
		fs := []filter{{PropertyName: partnerProp, Operator: "IN", Values: ps},
			{PropertyName: statusProp, Operator: "IN", Values: active}}
		if c.cfg.Object == ObjectDeals {
			fs = append(fs, filter{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"})
		}
		return filterGroup{Filters: fs}
	}
	totalOne := func(p string) error {
		n, err := c.searchTotal(ctx, t, []filterGroup{groupFor([]string{p})})
		if err != nil {
			return fmt.Errorf("hubspot: count active registrations of partner %s: %w", p, err)
		}
		counts[p] = n
		return nil
	}
	if len(partners) == 1 {
		return counts, totalOne(partners[0])
	}
	// Page through the partners' active registrations when that costs no
	// more calls than one total per partner.
	perGroup := len(groupFor(nil).Filters) + 1 // with the anchor
	groupsPerReq := min(maxGroups, maxFilters/perGroup)
	for _, ch := range chunks(len(partners), maxInValues*groupsPerReq) {
		ps := partners[ch[0]:ch[1]]
		var groups []filterGroup
		for _, g := range chunks(len(ps), maxInValues) {
			groups = append(groups, groupFor(ps[g[0]:g[1]]))
		}
		first, err := c.search(ctx, t, searchRequest{FilterGroups: groups, Limit: searchPage,
			Properties: []string{partnerProp}, Sorts: []sortSpec{{PropertyName: "hs_object_id", Direction: "ASCENDING"}}})
		if err != nil {
			return nil, fmt.Errorf("hubspot: count active registrations of %d partners: %w", len(ps), err)
		}
		pages := (first.Total + searchPage - 1) / searchPage
		if pages <= 1+len(ps) {
			local := map[string]int{}
			last := ""
			tally := func(o *object) {
				local[strings.ToLower(o.prop(partnerProp))]++
				if idLess(last, o.ID) {
					last = o.ID
				}
			}
			for i := range first.Results {
				tally(&first.Results[i])
			}
			if len(first.Results) == searchPage {
				err := c.searchFrom(ctx, t, groups, []string{partnerProp}, last, func(o *object) error {
					tally(o)
					return nil
				})
				if err != nil {
					return nil, fmt.Errorf("hubspot: count active registrations of %d partners: %w", len(ps), err)
				}
			}
			for _, p := range ps {
				counts[p] = local[p]
			}
			continue
		}
		for _, p := range ps {
			if err := totalOne(p); err != nil {
				return nil, err
			}
		}
	}
	return counts, nil
}
