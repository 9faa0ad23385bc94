package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/regsync/regsync/connectors"
)

// maxGetURL bounds the request line of a GET query: Salesforce refuses a
// URI and headers over 16,384 bytes (414/431); longer statements go in a
// composite request's body.
const maxGetURL = 14000

// maxCompositeSub is the number of subrequests of one composite call.
const maxCompositeSub = 25

// errStop ends a query early without an error.
var errStop = errors.New("stop")

type queryPage struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

type compositeReq struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	ReferenceID string `json:"referenceId"`
	Body        any    `json:"body,omitempty"`
}

type compositeResp struct {
	CompositeResponse []struct {
		Body           json.RawMessage `json:"body"`
		HTTPStatusCode int             `json:"httpStatusCode"`
		ReferenceID    string          `json:"referenceId"`
	} `json:"compositeResponse"`
}

// query runs one SOQL statement and passes each page to fn.
func (c *Client) query(ctx context.Context, op, soql string, fn func([]map[string]any) error) error {
	return c.queries(ctx, op, []string{soql}, func(_ int, recs []map[string]any) error { return fn(recs) })
}

// queries runs SOQL statements, several per call: one statement short
// enough goes by GET, the others in composite requests of up to 25
// subrequests (one API call each). Every page of statement i is passed to
// fn(i, records), in order; the following pages of a statement are read
// through its nextRecordsUrl, which is checked (a server that says "not
// done" without a next page, or repeats one, is an error, never a loop).
// fn may return errStop to end without error.
func (c *Client) queries(ctx context.Context, op string, soqls []string, fn func(int, []map[string]any) error) error {
	err := c.runQueries(ctx, op, soqls, fn)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (c *Client) runQueries(ctx context.Context, op string, soqls []string, fn func(int, []map[string]any) error) error {
	if len(soqls) == 0 {
		return nil
	}
	if len(soqls) == 1 {
		path := "/query?q=" + url.QueryEscape(soqls[0])
		if len(path) < maxGetURL {
			var page queryPage
			if _, err := c.do(ctx, call{op: op, method: http.MethodGet, path: path}, &page); err != nil {
				return err
			}
			return c.follow(ctx, op, page, func(recs []map[string]any) error { return fn(0, recs) })
		}
	}
	for start := 0; start < len(soqls); start += maxCompositeSub {
		end := min(start+maxCompositeSub, len(soqls))
		var reqs []compositeReq
		for i := start; i < end; i++ {
			reqs = append(reqs, compositeReq{Method: http.MethodGet, ReferenceID: fmt.Sprintf("q%d", i),
				URL: "/services/data/" + c.cfg.APIVersion + "/query?q=" + url.QueryEscape(soqls[i])})
		}
		var res compositeResp
		if _, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/composite",
			body: map[string]any{"allOrNone": false, "compositeRequest": reqs}}, &res); err != nil {
			return err
		}
		if len(res.CompositeResponse) != len(reqs) {
			// A read: nothing changed, ask again.
			c.usage.Fail("bad_response")
			return connectors.NewError(op, 0, connectors.ClassRetry, "bad_response", fmt.Errorf("composite answered %d of %d queries", len(res.CompositeResponse), len(reqs)))
		}
		for k, sub := range res.CompositeResponse {
			i := start + k
			if sub.HTTPStatusCode < 200 || sub.HTTPStatusCode >= 300 {
				e := c.classify(op, sub.HTTPStatusCode, parseErrors(sub.Body), false)
				if e.Reason == "daily_limit" {
					c.pause()
				}
				c.usage.Fail(e.Reason)
				return e
			}
			var page queryPage
			if err := json.Unmarshal(sub.Body, &page); err != nil {
				c.usage.Fail("bad_response")
				return connectors.NewError(op, 0, connectors.ClassRetry, "bad_response", fmt.Errorf("undecodable query answer: %v", err))
			}
			if err := c.follow(ctx, op, page, func(recs []map[string]any) error { return fn(i, recs) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// follow hands page and every following page to fn.
func (c *Client) follow(ctx context.Context, op string, page queryPage, fn func([]map[string]any) error) error {
	seen := map[string]bool{}
	for {
		if err := fn(page.Records); err != nil {
			return err
		}
		if page.Done {
			return nil
		}
		next := page.NextRecordsURL
		if err := checkNextURL(next, seen); err != nil {
			// The server's paging is off; the read starts again later.
			c.usage.Fail("invalid")
			return connectors.NewError(op, 0, connectors.ClassRetry, "invalid", err)
		}
		seen[next] = true
		page = queryPage{}
		if _, err := c.do(ctx, call{op: op, method: http.MethodGet, path: next}, &page); err != nil {
			return err
		}
	}
}

// checkNextURL accepts only a fresh, relative query locator path.
func checkNextURL(next string, seen map[string]bool) error {
	switch {
	case next == "":
		return errors.New("the server said more records follow but gave no nextRecordsUrl")
	case seen[next]:
		return fmt.Errorf("the server repeated nextRecordsUrl %s", next)
	case len(seen) >= 50000:
		return errors.New("more than 50,000 pages: giving up")
	case !strings.HasPrefix(next, "/services/data/v"), strings.Contains(next, ".."), strings.ContainsAny(next, "?#\\ "),
		!strings.Contains(next, "/query/") && !strings.Contains(next, "/queryAll/"), len(next) > 300:
		return fmt.Errorf("unexpected nextRecordsUrl %q", next)
	}
	return nil
}

// composite sends up to 25 subrequests in one call and returns each
// subrequest's status and body.
func (c *Client) composite(ctx context.Context, op string, reqs []compositeReq, write bool) (compositeResp, error) {
	var res compositeResp
	_, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/composite", write: write,
		body: map[string]any{"allOrNone": false, "compositeRequest": reqs}}, &res)
	if err == nil && len(res.CompositeResponse) != len(reqs) {
		// Some subrequests went unanswered: for a write they may have
		// been applied.
		class := connectors.ClassRetry
		if write {
			class = connectors.ClassUnknown
		}
		c.usage.Fail("bad_response")
		err = connectors.NewError(op, 0, class, "bad_response", fmt.Errorf("composite answered %d of %d subrequests", len(res.CompositeResponse), len(reqs)))
	}
	return res, err
}

// inQueries builds one statement per chunk of values: prefix + IN list +
// suffix, each at most MaxQueryLength long.
func (c *Client) inQueries(prefix string, values []string, suffix string) ([]string, error) {
	budget := c.cfg.MaxQueryLength - len(prefix) - len(suffix)
	chunks, err := chunkIn(values, budget, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(chunks))
	for i, ch := range chunks {
		out[i] = prefix + inList(ch) + suffix
	}
	return out, nil
}
