package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// HubSpot's search limits (D-search; where sources disagree, the stricter).
const (
	maxGroups          = 5   // filterGroups per request
	maxFiltersPerGroup = 6   // filters per group
	maxFilters         = 18  // filters per request
	maxInValues        = 100 // values of one IN filter
	searchPage         = 200 // results per page
)

type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
	HighValue    string   `json:"highValue,omitempty"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type sortSpec struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Sorts        []sortSpec    `json:"sorts,omitempty"`
	Properties   []string      `json:"properties,omitempty"`
	Limit        int           `json:"limit"`
	After        string        `json:"after,omitempty"`
}

type searchAnswer struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  paging   `json:"paging"`
}

// search sends one search request.
func (c *Client) search(ctx context.Context, objType string, req searchRequest) (*searchAnswer, error) {
	var ans searchAnswer
	_, err := c.do(ctx, call{op: "search", method: http.MethodPost, path: "/crm/v3/objects/" + objType + "/search",
		body: req, out: &ans, search: true})
	if err != nil {
		return nil, err
	}
	return &ans, nil
}

// searchAll streams every record matching groups (OR of ANDs) to fn. It
// sorts by hs_object_id and re-anchors every page on the last id seen
// (hs_object_id GT last) instead of paging with `after`: no query ever
// nears the 10,000-result cap, and records that leave the result set
// between two pages (a status changed meanwhile) cannot make it skip
// others. Each group must leave room for the anchor filter.
func (c *Client) searchAll(ctx context.Context, objType string, groups []filterGroup, props []string, fn func(*object) error) error {
	return c.searchFrom(ctx, objType, groups, props, "", fn)
}

// searchFrom is searchAll starting after the record id last ("" for the
// beginning).
func (c *Client) searchFrom(ctx context.Context, objType string, groups []filterGroup, props []string, last string, fn func(*object) error) error {
	for {
		req := searchRequest{Properties: props, Limit: searchPage,
			Sorts: []sortSpec{{PropertyName: "hs_object_id", Direction: "ASCENDING"}}}
		for _, g := range groups {
			fs := append([]filter(nil), g.Filters...)
			if last != "" {
				fs = append(fs, filter{PropertyName: "hs_object_id", Operator: "GT", Value: last})
			}
			req.FilterGroups = append(req.FilterGroups, filterGroup{Filters: fs})
		}
		ans, err := c.search(ctx, objType, req)
		if err != nil {
			return err
		}
		for i := range ans.Results {
			o := &ans.Results[i]
			if err := fn(o); err != nil {
				return err
			}
			if idLess(last, o.ID) {
				last = o.ID
			}
		}
		if len(ans.Results) < searchPage || last == "" {
			return nil
		}
	}
}

// idLess compares HubSpot ids (decimal integers) numerically.
func idLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return len(a) < len(b) || (len(a) == len(b) && a < b)
	}
	return x < y
}

// cond is "prop IN values" (values already in the form HubSpot compares:
// lower case for strings, exact for enumerations).
type cond struct {
	prop   string
	values []string
}

// searchIn streams every record matching any of conds (each further
// restricted by extra, ANDed) to fn, once per record. It packs the values
// into IN filters of at most 100 values, one per group, as many groups per
// request as HubSpot's filter limits allow with the anchor filter.
func (c *Client) searchIn(ctx context.Context, objType, prop string, values []string, extra []filter, props []string, fn func(*object) error) error {
	return c.searchAny(ctx, objType, []cond{{prop, values}}, extra, props, fn)
}

func (c *Client) searchAny(ctx context.Context, objType string, conds []cond, extra []filter, props []string, fn func(*object) error) error {
	per := len(extra) + 2 // the IN filter, extra, the anchor
	if per > maxFiltersPerGroup {
		return fmt.Errorf("hubspot: search with %d extra filters does not fit a filter group", len(extra))
	}
	groupsPerReq := min(maxGroups, maxFilters/per)
	var groups []filterGroup
	for _, cd := range conds {
		for _, ch := range chunks(len(cd.values), maxInValues) {
			fs := append([]filter{{PropertyName: cd.prop, Operator: "IN", Values: cd.values[ch[0]:ch[1]]}}, extra...)
			groups = append(groups, filterGroup{Filters: fs})
		}
	}
	seen := map[string]bool{}
	for _, ch := range chunks(len(groups), groupsPerReq) {
		err := c.searchAll(ctx, objType, groups[ch[0]:ch[1]], props, func(o *object) error {
			if seen[o.ID] {
				return nil
			}
			seen[o.ID] = true
			return fn(o)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// searchTotal returns how many records match groups, with one call.
func (c *Client) searchTotal(ctx context.Context, objType string, groups []filterGroup) (int, error) {
	ans, err := c.search(ctx, objType, searchRequest{FilterGroups: groups, Limit: 1, Properties: []string{"hs_object_id"}})
	if err != nil {
		return 0, err
	}
	return ans.Total, nil
}
