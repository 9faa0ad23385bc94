package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/regsync/regsync/connectors"
)

// maxBulkJob is the number of records per Bulk API 2.0 ingest job.
const maxBulkJob = 10000

type bulkJob struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	ErrorMessage string `json:"errorMessage"`
	Processed    int    `json:"numberRecordsProcessed"`
	Failed       int    `json:"numberRecordsFailed"`
}

type bulkResult struct {
	success, failed []map[string]string
}

// toCSV renders records with the union of their fields as columns (the
// library takes the columns of the first record only, dropping the
// others), ext first. A null clears a field (#N/A); Bulk API leaves empty
// cells unchanged.
func toCSV(ext string, recs []sfRecord) []byte {
	cols := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			if k != "attributes" && k != ext {
				cols[k] = true
			}
		}
	}
	header := []string{ext}
	var rest []string
	for k := range cols {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	header = append(header, rest...)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	for _, r := range recs {
		row := make([]string, len(header))
		for i, h := range header {
			v, ok := r[h]
			if !ok {
				continue
			}
			switch x := v.(type) {
			case nil:
				row[i] = "#N/A"
			case bool:
				row[i] = strconv.FormatBool(x)
			case float64:
				row[i] = strconv.FormatFloat(x, 'f', -1, 64)
			case string:
				if x == "" {
					row[i] = "#N/A"
				} else {
					row[i] = x
				}
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// bulkJobs upserts recs in ingest jobs of up to 10,000 records and
// collects their result files.
func (c *Client) bulkJobs(ctx context.Context, ext string, recs []sfRecord) ([]bulkResult, error) {
	var out []bulkResult
	for start := 0; start < len(recs); start += maxBulkJob {
		end := min(start+maxBulkJob, len(recs))
		r, err := c.bulkJob(ctx, ext, recs[start:end])
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Client) bulkJob(ctx context.Context, ext string, recs []sfRecord) (bulkResult, error) {
	const op = "bulk import"
	var job bulkJob
	if _, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/jobs/ingest", write: true, body: map[string]string{
		"object": c.cfg.Object, "operation": "upsert", "externalIdFieldName": ext, "contentType": "CSV", "lineEnding": "LF",
	}}, &job); err != nil {
		return bulkResult{}, err
	}
	if job.ID == "" || job.State != "Open" {
		return bulkResult{}, &connectors.Error{Op: op, Reason: "invalid", Err: fmt.Errorf("job created in state %q", job.State)}
	}
	abort := func() {
		_, _ = c.do(context.WithoutCancel(ctx), call{op: op, method: http.MethodPatch, path: "/jobs/ingest/" + job.ID, write: true,
			body: map[string]string{"state": "Aborted"}}, nil)
	}
	if _, err := c.do(ctx, call{op: op, method: http.MethodPut, path: "/jobs/ingest/" + job.ID + "/batches", write: true,
		body: toCSV(ext, recs), contentType: "text/csv"}, nil); err != nil {
		abort()
		return bulkResult{}, err
	}
	if _, err := c.do(ctx, call{op: op, method: http.MethodPatch, path: "/jobs/ingest/" + job.ID, write: true,
		body: map[string]string{"state": "UploadComplete"}}, &job); err != nil {
		abort()
		return bulkResult{}, err
	}
	for {
		if _, err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/jobs/ingest/" + job.ID}, &job); err != nil {
			return bulkResult{}, err
		}
		switch job.State {
		case "JobComplete":
		case "Failed", "Aborted":
			c.usage.failed("server_error")
			return bulkResult{}, &connectors.Error{Op: op, Reason: "server_error", Retry: true, After: waitBase,
				Err: fmt.Errorf("job %s %s: %s", job.ID, strings.ToLower(job.State), c.scrub(job.ErrorMessage))}
		default:
			if err := c.sleep(ctx, c.poll); err != nil {
				return bulkResult{}, err
			}
			continue
		}
		break
	}
	var r bulkResult
	for _, kind := range []string{"successfulResults", "failedResults"} {
		body, err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/jobs/ingest/" + job.ID + "/" + kind}, nil)
		if err != nil {
			return bulkResult{}, err
		}
		rows, err := csvRows(body)
		if err != nil {
			return bulkResult{}, &connectors.Error{Op: op, Reason: "invalid", Err: fmt.Errorf("job %s %s: %v", job.ID, kind, err)}
		}
		if kind == "successfulResults" {
			r.success = rows
		} else {
			r.failed = rows
		}
	}
	return r, nil
}

// csvRows reads a CSV file with a header into maps.
func csvRows(data []byte) ([]map[string]string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	all, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, nil
	}
	head := all[0]
	out := make([]map[string]string, 0, len(all)-1)
	for _, row := range all[1:] {
		m := make(map[string]string, len(head))
		for i, h := range head {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}
