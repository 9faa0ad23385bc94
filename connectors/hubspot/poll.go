package hubspot

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/regsync/regsync/registration"
)

// maxChanged bounds the ids one Changed call returns (25 searches of 200);
// the cursor it returns continues from there.
const maxChanged = 5000

// cursor is a position in the change feed: every record modified before
// ts, and those modified at ts with an id up to id, were returned (all of
// those at ts when done).
//
// Its text form is "v1:<epoch ms>:<id>" or "v1:<epoch ms>:done"; the empty
// string is the beginning.
type cursor struct {
	ts   int64 // epoch ms; -1: the beginning
	id   uint64
	done bool
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{ts: -1}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "v1" {
		return cursor{}, fmt.Errorf("hubspot: cursor %q is not a HubSpot change-feed cursor", s)
	}
	ts, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || ts < 0 {
		return cursor{}, fmt.Errorf("hubspot: cursor %q has a bad timestamp", s)
	}
	if parts[2] == "done" {
		return cursor{ts: ts, done: true}, nil
	}
	id, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return cursor{}, fmt.Errorf("hubspot: cursor %q has a bad record id", s)
	}
	return cursor{ts: ts, id: id}, nil
}

func (c cursor) String() string {
	if c.ts < 0 {
		return ""
	}
	if c.done {
		return "v1:" + strconv.FormatInt(c.ts, 10) + ":done"
	}
	return "v1:" + strconv.FormatInt(c.ts, 10) + ":" + strconv.FormatUint(c.id, 10)
}

// Changed lists the registrations modified since cursor, in modification
// order, at most 5,000 a call; call again with next while ids come back.
//
// HubSpot's search takes one sort, so the feed alternates two queries on
// hs_lastmodifieddate: the records of the cursor's own instant T after the
// last id seen there (hs_lastmodifieddate EQ T, hs_object_id GT id, sorted
// by id), and, once that instant is exhausted, the next ones
// (hs_lastmodifieddate GT T, sorted by time). A full page of the latter
// returns only the records before its last instant, whose own records are
// then read by id: thousands of records sharing one instant are paged by
// id, never forever, never skipped, never twice, and no query comes near
// the 10,000-result cap. Records modified less than poll_settle ago are
// left for the next call, because HubSpot's search index lags writes.
func (c *Client) Changed(ctx context.Context, cur string) (ids []string, next string, err error) {
	t, err := c.regType(ctx)
	if err != nil {
		return nil, cur, err
	}
	var extra []filter
	if c.cfg.Object == ObjectDeals {
		extra = []filter{{PropertyName: c.cfg.property("case_number"), Operator: "HAS_PROPERTY"}}
	}
	return c.changed(ctx, t, extra, cur)
}

// ChangedDeals lists the deals created or modified since cursor, like
// Changed.
func (c *Client) ChangedDeals(ctx context.Context, cur string) (ids []string, next string, err error) {
	return c.changed(ctx, "deals", nil, cur)
}

func (c *Client) changed(ctx context.Context, objType string, extra []filter, s string) ([]string, string, error) {
	cur, err := parseCursor(s)
	if err != nil {
		return nil, s, err
	}
	upper := c.now().Add(-c.cfg.PollSettle).UnixMilli()
	props := []string{"hs_object_id", "hs_lastmodifieddate"}
	var ids []string
	seen := map[string]bool{}
	emit := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for len(ids) < maxChanged {
		if cur.ts >= 0 && !cur.done {
			// The rest of instant T, by id.
			fs := append([]filter{
				{PropertyName: "hs_lastmodifieddate", Operator: "EQ", Value: strconv.FormatInt(cur.ts, 10)},
				{PropertyName: "hs_object_id", Operator: "GT", Value: strconv.FormatUint(cur.id, 10)},
			}, extra...)
			ans, err := c.search(ctx, objType, searchRequest{FilterGroups: []filterGroup{{Filters: fs}},
				Sorts: []sortSpec{{PropertyName: "hs_object_id", Direction: "ASCENDING"}}, Properties: props, Limit: searchPage})
			if err != nil {
				return ids, cur.String(), fmt.Errorf("hubspot: poll %s: %w", objType, err)
			}
			for i := range ans.Results {
				id, err := strconv.ParseUint(ans.Results[i].ID, 10, 64)
				if err != nil {
					continue
				}
				emit(ans.Results[i].ID)
				cur.id = max(cur.id, id)
			}
			if len(ans.Results) == searchPage {
				continue
			}
			cur.done = true
		}
		// The instants after T (up to the settle bound), by time.
		fs := []filter{{PropertyName: "hs_lastmodifieddate", Operator: "LTE", Value: strconv.FormatInt(upper, 10)}}
		if cur.ts >= 0 {
			fs = append(fs, filter{PropertyName: "hs_lastmodifieddate", Operator: "GT", Value: strconv.FormatInt(cur.ts, 10)})
		}
		fs = append(fs, extra...)
		ans, err := c.search(ctx, objType, searchRequest{FilterGroups: []filterGroup{{Filters: fs}},
			Sorts: []sortSpec{{PropertyName: "hs_lastmodifieddate", Direction: "ASCENDING"}}, Properties: props, Limit: searchPage})
		if err != nil {
			return ids, cur.String(), fmt.Errorf("hubspot: poll %s: %w", objType, err)
		}
		if len(ans.Results) == 0 {
			break
		}
		type rec struct {
			id string
			n  uint64
			ts int64
		}
		recs := make([]rec, 0, len(ans.Results))
		var lastTS int64 = -1
		for i := range ans.Results {
			o := &ans.Results[i]
			n, err := strconv.ParseUint(o.ID, 10, 64)
			if err != nil {
				continue
			}
			tm, err := registration.ParseTime(o.prop("hs_lastmodifieddate"))
			if err != nil || tm.IsZero() {
				tm, err = registration.ParseTime(o.UpdatedAt)
				if err != nil || tm.IsZero() {
					continue
				}
			}
			ts := tm.UnixMilli()
			recs = append(recs, rec{o.ID, n, ts})
			lastTS = max(lastTS, ts)
		}
		if lastTS < 0 {
			break
		}
		if len(ans.Results) < searchPage {
			// Everything up to the bound: return it all.
			var lastID uint64
			for _, r := range recs {
				emit(r.id)
				if r.ts == lastTS {
					lastID = max(lastID, r.n)
				}
			}
			cur = cursor{ts: lastTS, id: lastID}
			// Instant lastTS is complete (it is not later than the bound).
			cur.done = true
			break
		}
		// A full page: the records before its last instant are complete;
		// that instant's own records are read by id next.
		for _, r := range recs {
			if r.ts < lastTS {
				emit(r.id)
			}
		}
		cur = cursor{ts: lastTS}
	}
	return ids, cur.String(), nil
}
