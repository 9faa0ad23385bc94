package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
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

// bulkJobs inserts recs in ingest jobs of up to 10,000 records and
// collects their result files. key, a field every record holds, is the
// CSV's first column.
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

// Until UploadComplete the job holds the records without saving any of
// them: a failure then is what it is (retry at worst). From UploadComplete
// on, Salesforce may be saving them, and a Failed or Aborted job keeps what
// it saved; any failure after it is an unknown outcome for every record of
// the job (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_bulk_v2/bulk_api_2_job_states.htm).
func (c *Client) bulkJob(ctx context.Context, ext string, recs []sfRecord) (bulkResult, error) {
	const op = "bulk import"
	var job bulkJob
	// An insert job: a record whose case number exists already fails with
	// DUPLICATE_VALUE and is never written over (create, in write.go).
	if _, err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/jobs/ingest", body: map[string]string{
		"object": c.cfg.Object, "operation": "insert", "contentType": "CSV", "lineEnding": "LF",
	}}, &job); err != nil {
		return bulkResult{}, err
	}
	if job.ID == "" || job.State != "Open" {
		c.usage.Fail("bad_response")
		return bulkResult{}, connectors.NewError(op, 0, connectors.ClassRetry, "bad_response", fmt.Errorf("job created in state %q", job.State))
	}
	abort := func() {
		_, _ = c.do(context.WithoutCancel(ctx), call{op: op, method: http.MethodPatch, path: "/jobs/ingest/" + job.ID, write: true,
			body: map[string]string{"state": "Aborted"}}, nil)
	}
	if _, err := c.do(ctx, call{op: op, method: http.MethodPut, path: "/jobs/ingest/" + job.ID + "/batches",
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
			return bulkResult{}, unknownOutcome(err)
		}
		switch job.State {
		case "JobComplete":
		case "Failed", "Aborted":
			c.usage.Fail("server_error")
			e := connectors.NewError(op, 0, connectors.ClassUnknown, "server_error",
				fmt.Errorf("job %s %s: %s", job.ID, strings.ToLower(job.State), c.scrub.String(job.ErrorMessage)))
			e.After = waitBase
			return bulkResult{}, e
		default:
			if err := c.sleep(ctx, c.poll); err != nil {
				return bulkResult{}, unknownOutcome(err)
			}
			continue
		}
		break
	}
	var r bulkResult
	for _, kind := range []string{"successfulResults", "failedResults"} {
		body, err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/jobs/ingest/" + job.ID + "/" + kind}, nil)
		if err != nil {
			return bulkResult{}, unknownOutcome(err)
		}
		rows, err := csvRows(body)
		if err != nil {
			c.usage.Fail("bad_response")
			return bulkResult{}, connectors.NewError(op, 0, connectors.ClassUnknown, "bad_response", fmt.Errorf("job %s %s: %v", job.ID, kind, err))
		}
		if kind == "successfulResults" {
			r.success = rows
		} else {
			r.failed = rows
		}
	}
	return r, nil
}

// unknownOutcome reclassifies a failure met after a job was told to start:
// its records may have been saved, whatever the failure itself says.
func unknownOutcome(err error) error {
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		return err // unclassified (a cancelled context): unknown already
	}
	e := *ce
	e.SetClass(connectors.ClassUnknown)
	e.Err = fmt.Errorf("%w (the job had started: its records may have been saved)", ce.Err)
	return &e
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
