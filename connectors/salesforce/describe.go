package salesforce

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regsync/regsync/connectors"
)

// fieldInfo is what describe says about a field.
type fieldInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Length        int      `json:"length"`
	Createable    bool     `json:"createable"`
	Updateable    bool     `json:"updateable"`
	Filterable    bool     `json:"filterable"`
	ExternalID    bool     `json:"externalId"`
	Unique        bool     `json:"unique"`
	CaseSensitive bool     `json:"caseSensitive"`
	ReferenceTo   []string `json:"referenceTo"`
	Restricted    bool     `json:"restrictedPicklist"`
	Picklist      []struct {
		Value  string `json:"value"`
		Active bool   `json:"active"`
	} `json:"picklistValues"`
}

// objectInfo is what describe says about an object; missing when the
// object does not exist or is not visible to the integration user.
type objectInfo struct {
	Name       string       `json:"name"`
	Createable bool         `json:"createable"`
	Updateable bool         `json:"updateable"`
	Queryable  bool         `json:"queryable"`
	Fields     []*fieldInfo `json:"fields"`
	missing    bool
	byLower    map[string]*fieldInfo
}

func (o *objectInfo) index() {
	o.byLower = make(map[string]*fieldInfo, len(o.Fields))
	for _, f := range o.Fields {
		o.byLower[strings.ToLower(f.Name)] = f
	}
}

func (o *objectInfo) field(name string) *fieldInfo {
	if o == nil || o.byLower == nil {
		return nil
	}
	return o.byLower[strings.ToLower(name)]
}

// clip shortens a text value to the field's length (in characters), so
// that a long answer from a partner never fails a write with
// STRING_TOO_LONG; unknown fields are left alone.
func (o *objectInfo) clip(api, s string) string {
	f := o.field(api)
	if f == nil || f.Length <= 0 || utf8.RuneCountInString(s) <= f.Length {
		return s
	}
	switch f.Type {
	case "string", "textarea", "url", "email", "phone", "picklist", "combobox":
	default:
		return s
	}
	r := []rune(s)
	return string(r[:f.Length])
}

// describeRetry is how long a describe Salesforce refused (permanent: no
// access, no such object) is not asked again; describeRetrySoon, after a
// transient failure (a 5xx, a lost connection, a limit) — what waits for
// the answer (an AE task's key field) should not wait minutes for one
// unlucky call.
const (
	describeRetry     = 5 * time.Minute
	describeRetrySoon = 10 * time.Second
)

// objectFields describes an object once per process (one call) and caches
// it; nil when describe fails (the write then goes unclipped, and the next
// one asks again).
func (c *Client) objectFields(ctx context.Context, object string) *objectInfo {
	c.cmu.Lock()
	oi := c.describe[object]
	failed := c.describeFailed[object]
	c.cmu.Unlock()
	if oi != nil {
		return oi
	}
	if !failed.IsZero() && c.now().Before(failed) {
		return nil
	}
	var d objectInfo
	if _, err := c.do(ctx, call{op: "describe", method: http.MethodGet, path: "/sobjects/" + object + "/describe"}, &d); err != nil {
		c.log.Warn("salesforce: describe failed; text values are not clipped to field lengths", "object", object, "err", err)
		again := describeRetrySoon
		if connectors.ClassOf(err) == connectors.ClassPermanent {
			again = describeRetry
		}
		c.cmu.Lock()
		c.describeFailed[object] = c.now().Add(again) // not asked again before
		c.cmu.Unlock()
		return nil
	}
	d.index()
	c.cmu.Lock()
	c.describe[object] = &d
	c.cmu.Unlock()
	return &d
}

// describeAll describes several objects in one composite call.
func (c *Client) describeAll(ctx context.Context, objects []string) (map[string]*objectInfo, error) {
	reqs := make([]compositeReq, len(objects))
	for i, o := range objects {
		reqs[i] = compositeReq{Method: http.MethodGet, ReferenceID: "d" + o, URL: "/services/data/" + c.cfg.APIVersion + "/sobjects/" + o + "/describe"}
	}
	res, err := c.composite(ctx, "describe", reqs, false)
	if err != nil {
		return nil, err
	}
	out := map[string]*objectInfo{}
	for i, sub := range res.CompositeResponse {
		o := objects[i]
		switch {
		case sub.HTTPStatusCode == http.StatusNotFound:
			out[o] = &objectInfo{Name: o, missing: true}
		case sub.HTTPStatusCode >= 300:
			e := c.classify("describe "+o, sub.HTTPStatusCode, parseErrors(sub.Body), false)
			if e.Reason == "field_access" || e.Reason == "not_found" {
				out[o] = &objectInfo{Name: o, missing: true}
				continue
			}
			return nil, e
		default:
			var d objectInfo
			if err := json.Unmarshal(sub.Body, &d); err != nil {
				return nil, connectors.NewError("describe "+o, 0, connectors.ClassRetry, "bad_response", err)
			}
			d.index()
			out[o] = &d
		}
	}
	return out, nil
}
