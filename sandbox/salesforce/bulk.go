package salesforce

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ingestJob is a Bulk API 2.0 ingest job.
type ingestJob struct {
	ID                     string  `json:"id"`
	Operation              string  `json:"operation"`
	Object                 string  `json:"object"`
	CreatedByID            string  `json:"createdById"`
	CreatedDate            string  `json:"createdDate"`
	SystemModstamp         string  `json:"systemModstamp"`
	State                  string  `json:"state"`
	ExternalIDFieldName    string  `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode        string  `json:"concurrencyMode"`
	ContentType            string  `json:"contentType"`
	APIVersion             float64 `json:"apiVersion"`
	LineEnding             string  `json:"lineEnding"`
	ColumnDelimiter        string  `json:"columnDelimiter"`
	JobType                string  `json:"jobType"`
	NumberRecordsProcessed int     `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int     `json:"numberRecordsFailed"`
	ErrorMessage           string  `json:"errorMessage,omitempty"`

	data     []byte
	header   []string
	success  [][]string
	failures [][]string
	polled   bool
}

func (s *Server) ingest(method, version string, segs []string, body []byte, h http.Header) response {
	if len(segs) > 0 && segs[0] == "" {
		segs = segs[1:]
	}
	if len(segs) == 0 {
		switch method {
		case http.MethodPost:
			return s.createJob(version, body)
		case http.MethodGet:
			var recs []*ingestJob
			for _, j := range s.jobs {
				recs = append(recs, j)
			}
			return jsonResponse(http.StatusOK, map[string]any{"done": true, "records": recs})
		}
		return errResponse(&apiError{405, "METHOD_NOT_ALLOWED", "HTTP Method '" + method + "' not allowed", nil})
	}
	j := s.jobs[segs[0]]
	if j == nil {
		return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
	}
	if len(segs) == 1 {
		switch method {
		case http.MethodGet:
			if j.State == "UploadComplete" && j.polled {
				s.runJob(j)
			}
			if j.State == "UploadComplete" {
				j.polled = true
				v := *j
				v.State = "InProgress"
				return jsonResponse(http.StatusOK, &v)
			}
			return jsonResponse(http.StatusOK, j)
		case http.MethodPatch:
			var req struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				return errResponse(&apiError{400, "JSON_PARSER_ERROR", err.Error(), nil})
			}
			switch {
			case req.State == "UploadComplete" && j.State == "Open":
				j.State = "UploadComplete"
			case req.State == "Aborted" && (j.State == "Open" || j.State == "UploadComplete"):
				j.State = "Aborted"
			default:
				return errResponse(&apiError{400, "INVALIDJOBSTATE", fmt.Sprintf("Invalid state transition from %s to %s", j.State, req.State), nil})
			}
			j.SystemModstamp = formatTime(s.stamp())
			return jsonResponse(http.StatusOK, j)
		case http.MethodDelete:
			if j.State == "Open" || j.State == "UploadComplete" {
				return errResponse(&apiError{400, "INVALIDJOBSTATE", "Cannot delete a job in state " + j.State, nil})
			}
			delete(s.jobs, j.ID)
			return response{status: http.StatusNoContent}
		}
	}
	if len(segs) == 2 {
		switch {
		case segs[1] == "batches" && method == http.MethodPut:
			if j.State != "Open" {
				return errResponse(&apiError{400, "INVALIDJOBSTATE", "Job is not open", nil})
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				return errResponse(&apiError{400, "INVALID_CONTENT_TYPE", "Content-Type must be text/csv, not " + ct, nil})
			}
			if len(j.data) > 0 {
				return errResponse(&apiError{400, "INVALIDJOBSTATE", "Only one upload per job is supported", nil})
			}
			j.data = append([]byte(nil), body...)
			return response{status: http.StatusCreated, body: nil}
		case method == http.MethodGet && (segs[1] == "successfulResults" || segs[1] == "failedResults" || segs[1] == "unprocessedrecords"):
			if j.State != "JobComplete" && j.State != "Failed" && j.State != "Aborted" {
				return errResponse(&apiError{400, "INVALIDJOBSTATE", "Job is not complete", nil})
			}
			var buf bytes.Buffer
			cw := csv.NewWriter(&buf)
			switch segs[1] {
			case "successfulResults":
				_ = cw.Write(append([]string{"sf__Id", "sf__Created"}, j.header...))
				_ = cw.WriteAll(j.success)
			case "failedResults":
				_ = cw.Write(append([]string{"sf__Id", "sf__Error"}, j.header...))
				_ = cw.WriteAll(j.failures)
			default:
				_ = cw.Write(j.header)
			}
			cw.Flush()
			return response{status: http.StatusOK, body: buf.Bytes(), contentType: "text/csv"}
		}
	}
	return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
}

func (s *Server) createJob(version string, body []byte) response {
	var req struct {
		Object              string `json:"object"`
		Operation           string `json:"operation"`
		ExternalIDFieldName string `json:"externalIdFieldName"`
		ContentType         string `json:"contentType"`
		LineEnding          string `json:"lineEnding"`
		ColumnDelimiter     string `json:"columnDelimiter"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errResponse(&apiError{400, "JSON_PARSER_ERROR", err.Error(), nil})
	}
	o := s.objects[lower(req.Object)]
	if o == nil {
		return errResponse(&apiError{400, "INVALIDENTITY", "Entity '" + req.Object + "' is not supported by the Bulk API.", nil})
	}
	switch req.Operation {
	case "insert", "update", "delete", "hardDelete":
	case "upsert":
		f := o.field(req.ExternalIDFieldName)
		if f == nil || !(f.ExternalID || f.Name == "Id") {
			return errResponse(&apiError{400, "INVALIDJOB", "External ID was blank for " + req.Object + ". An External ID must be specified for upsert.", nil})
		}
	default:
		return errResponse(&apiError{400, "INVALIDJOB", "Invalid operation " + req.Operation, nil})
	}
	if req.ContentType != "" && req.ContentType != "CSV" {
		return errResponse(&apiError{400, "INVALIDJOB", "Unsupported content type " + req.ContentType, nil})
	}
	if req.ColumnDelimiter != "" && req.ColumnDelimiter != "COMMA" {
		return errResponse(&apiError{400, "INVALIDJOB", "Only COMMA is supported by the fake", nil})
	}
	s.seq++
	now := formatTime(s.stamp())
	v, _ := strconv.ParseFloat(strings.TrimPrefix(version, "v"), 64)
	j := &ingestJob{
		ID: makeID("750", s.seq), Operation: req.Operation, Object: o.name, CreatedByID: s.apiUser,
		CreatedDate: now, SystemModstamp: now, State: "Open", ExternalIDFieldName: req.ExternalIDFieldName,
		ConcurrencyMode: "Parallel", ContentType: "CSV", APIVersion: v, LineEnding: "LF", ColumnDelimiter: "COMMA", JobType: "V2Ingest",
	}
	s.jobs[j.ID] = j
	return jsonResponse(http.StatusOK, j)
}

// runJob processes an uploaded job's CSV, row by row (no all-or-none).
func (s *Server) runJob(j *ingestJob) {
	defer func() { j.SystemModstamp = formatTime(s.stamp()) }()
	o := s.objects[lower(j.Object)]
	cr := csv.NewReader(bytes.NewReader(j.data))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) == 0 {
		j.State, j.ErrorMessage = "Failed", "InvalidBatch : Failed to parse CSV"
		return
	}
	j.header = rows[0]
	for _, row := range rows[1:] {
		j.NumberRecordsProcessed++
		fail := func(id string, fe *fieldError) {
			j.NumberRecordsFailed++
			msg := fe.code + ":" + fe.msg + ":" + strings.Join(fe.fields, ",") + " --"
			j.failures = append(j.failures, append([]string{id, msg}, row...))
		}
		if len(row) != len(j.header) {
			fail("", &fieldError{"INVALID_FIELD", "the number of columns does not match the header", nil})
			continue
		}
		fields := map[string]any{}
		var id string
		var ferr *fieldError
		for i, col := range j.header {
			if strings.EqualFold(col, "Id") {
				id = row[i]
				continue
			}
			f := o.field(col)
			if f == nil {
				ferr = &fieldError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", col, o.name), []string{col}}
				break
			}
			v, fe := csvValue(f, row[i])
			if fe != nil {
				ferr = fe
				break
			}
			if v != skip {
				fields[f.Name] = v
			}
		}
		if ferr != nil {
			fail("", ferr)
			continue
		}
		switch j.Operation {
		case "insert":
			r, fe := s.create(o, fields, apiWriter(s))
			if fe != nil {
				fail("", fe)
				continue
			}
			j.success = append(j.success, append([]string{r.id, "true"}, row...))
		case "update", "delete", "hardDelete":
			r := s.byID(id)
			if r == nil || r.obj != o {
				fail(id, &fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", nil})
				continue
			}
			var fe *fieldError
			if j.Operation == "update" {
				fe = s.update(r, fields, apiWriter(s))
			} else {
				fe = s.remove(r, apiWriter(s))
			}
			if fe != nil {
				fail(r.id, fe)
				continue
			}
			j.success = append(j.success, append([]string{r.id, "false"}, row...))
		case "upsert":
			f := o.field(j.ExternalIDFieldName)
			v, _ := fields[f.Name].(string)
			if v == "" {
				fail("", &fieldError{"MISSING_ARGUMENT", f.Name + " not specified", []string{f.Name}})
				continue
			}
			ur, status := s.upsert(o, f, v, fields)
			if status == http.StatusMultipleChoices {
				fail("", &fieldError{"DUPLICATE_EXTERNAL_ID", "more than one record found for external id field", []string{f.Name}})
				continue
			}
			if !ur.r.Success {
				e := ur.r.Errors[0]
				fail(ur.r.ID, &fieldError{e.StatusCode, e.Message, e.Fields})
				continue
			}
			j.success = append(j.success, append([]string{ur.r.ID, strconv.FormatBool(*ur.r.Created)}, row...))
		}
	}
	j.State = "JobComplete"
}

// skip marks an empty CSV cell: Bulk API leaves the field as it is.
var skip = &struct{}{}

// csvValue converts a CSV cell: empty leaves the field alone, #N/A clears it.
func csvValue(f *Field, cell string) (any, *fieldError) {
	switch cell {
	case "":
		return skip, nil
	case "#N/A":
		return nil, nil
	}
	switch {
	case f.Type == TypeBoolean:
		b, err := strconv.ParseBool(strings.ToLower(cell))
		if err != nil {
			return nil, &fieldError{"INVALID_FIELD_FOR_INSERT_UPDATE", "invalid boolean " + cell, []string{f.Name}}
		}
		return b, nil
	case f.isNumber():
		n, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return nil, &fieldError{"INVALID_FIELD_FOR_INSERT_UPDATE", "invalid number " + cell, []string{f.Name}}
		}
		return n, nil
	case f.Type == TypeDateTime:
		if _, ok := parseDateTime(cell); !ok {
			if _, err := time.Parse("2006-01-02", cell); err != nil {
				return nil, &fieldError{"INVALID_FIELD_FOR_INSERT_UPDATE", "invalid datetime " + cell, []string{f.Name}}
			}
			return cell + "T00:00:00.000Z", nil
		}
	}
	return cell, nil
}
