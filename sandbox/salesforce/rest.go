package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// cursor holds the remaining pages of a query.
type cursor struct {
	rows  []any
	total int
}

type queryResult struct {
	TotalSize      int    `json:"totalSize"`
	Done           bool   `json:"done"`
	NextRecordsURL string `json:"nextRecordsUrl,omitempty"`
	Records        []any  `json:"records"`
}

func (s *Server) query(q string, all bool, version string) response {
	if strings.TrimSpace(q) == "" {
		return errResponse(malformed("A query string has to be specified"))
	}
	parsed, err := ParseSOQL(q)
	if err != nil {
		return errResponse(malformed("%s", err.Error()))
	}
	c, aerr := s.compile(parsed)
	if aerr != nil {
		return errResponse(aerr)
	}
	rows, total := s.execute(c, all, version)
	return s.page(rows, total, 0, "", version)
}

// page answers rows[from:] one page at a time.
func (s *Server) page(rows []any, total, from int, locator, version string) response {
	end := min(from+s.opts.PageSize, len(rows))
	res := queryResult{TotalSize: total, Done: end >= len(rows), Records: rows[from:end]}
	if res.Records == nil {
		res.Records = []any{}
	}
	if !res.Done {
		if locator == "" {
			s.seq++
			locator = makeID("01g", s.seq)
			s.cursors[locator] = &cursor{rows: rows, total: total}
		}
		res.NextRecordsURL = fmt.Sprintf("/services/data/%s/query/%s-%d", version, locator, end)
	} else if locator != "" {
		delete(s.cursors, locator)
	}
	return jsonResponse(http.StatusOK, res)
}

func (s *Server) queryMore(seg, version string) response {
	loc, off, ok := strings.Cut(seg, "-")
	n, err := strconv.Atoi(off)
	c := s.cursors[loc]
	if !ok || err != nil || c == nil || n < 0 || n > len(c.rows) {
		return errResponse(&apiError{400, "INVALID_QUERY_LOCATOR", "invalid query locator", nil})
	}
	return s.page(c.rows, c.total, n, loc, version)
}

// decodeObject decodes a JSON object body.
func decodeObject(body []byte) (map[string]any, *apiError) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, &apiError{400, "JSON_PARSER_ERROR", "The request body is either invalid or incomplete: " + errText(err), nil}
	}
	return m, nil
}

func errText(err error) string {
	if err == nil {
		return "not an object"
	}
	return err.Error()
}

type saveResult struct {
	ID      string       `json:"id,omitempty"`
	Success bool         `json:"success"`
	Errors  []statusItem `json:"errors"`
	Created *bool        `json:"created,omitempty"`
}

// statusItem is a per-record error: note statusCode, not errorCode.
type statusItem struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func failed(fe *fieldError) saveResult {
	f := fe.fields
	if f == nil {
		f = []string{}
	}
	return saveResult{Success: false, Errors: []statusItem{{StatusCode: fe.code, Message: fe.msg, Fields: f}}}
}

func fieldErrResponse(fe *fieldError) response {
	status := http.StatusBadRequest
	if fe.code == "ENTITY_IS_DELETED" || fe.code == "INVALID_CROSS_REFERENCE_KEY" && fe.fields == nil {
		status = http.StatusNotFound
	}
	return jsonResponse(status, []errorItem{{Message: fe.msg, ErrorCode: fe.code, Fields: fe.fields}})
}

var apiWriter = func(s *Server) writer { return writer{user: s.apiUser, api: true} }

// sobjects serves /sobjects/…
func (s *Server) sobjects(method, version string, segs []string, q url.Values, body []byte) response {
	if len(segs) == 0 || segs[0] == "" {
		if method == http.MethodGet {
			return s.globalDescribe(version)
		}
		return errResponse(&apiError{405, "METHOD_NOT_ALLOWED", "HTTP Method '" + method + "' not allowed. Allowed are GET", nil})
	}
	o := s.objects[strings.ToLower(segs[0])]
	if o == nil {
		return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
	}
	switch {
	case len(segs) == 1:
		switch method {
		case http.MethodPost:
			m, aerr := decodeObject(body)
			if aerr != nil {
				return errResponse(aerr)
			}
			r, fe := s.create(o, m, apiWriter(s))
			if fe != nil {
				return fieldErrResponse(fe)
			}
			return jsonResponse(http.StatusCreated, saveResult{ID: r.id, Success: true, Errors: []statusItem{}})
		case http.MethodGet:
			return jsonResponse(http.StatusOK, map[string]any{"objectDescribe": s.objectInfo(o, version), "recentItems": []any{}})
		}
	case len(segs) == 2 && segs[1] == "describe" && method == http.MethodGet:
		return jsonResponse(http.StatusOK, s.describe(o, version))
	case len(segs) == 2:
		r := s.byID(segs[1])
		if r == nil || r.obj != o {
			return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
		}
		switch method {
		case http.MethodGet:
			if r.deleted {
				return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
			}
			return jsonResponse(http.StatusOK, s.full(r, version, q.Get("fields")))
		case http.MethodPatch:
			m, aerr := decodeObject(body)
			if aerr != nil {
				return errResponse(aerr)
			}
			if fe := s.update(r, m, apiWriter(s)); fe != nil {
				return fieldErrResponse(fe)
			}
			return response{status: http.StatusNoContent}
		case http.MethodDelete:
			if fe := s.remove(r, apiWriter(s)); fe != nil {
				return fieldErrResponse(fe)
			}
			return response{status: http.StatusNoContent}
		}
	case len(segs) == 3:
		f := o.field(segs[1])
		if f == nil || !(f.ExternalID || f.Name == "Id") {
			return errResponse(&apiError{404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: " + segs[1], nil})
		}
		switch method {
		case http.MethodPatch:
			m, aerr := decodeObject(body)
			if aerr != nil {
				return errResponse(aerr)
			}
			res, status := s.upsert(o, f, segs[2], m)
			if status == http.StatusMultipleChoices {
				return jsonResponse(status, res.several)
			}
			if !res.r.Success {
				e := res.r.Errors[0]
				return jsonResponse(http.StatusBadRequest, []errorItem{{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}})
			}
			code := http.StatusOK
			if *res.r.Created {
				code = http.StatusCreated
			}
			return jsonResponse(code, res.r)
		case http.MethodGet:
			r, several := o.byExternal(f, segs[2])
			if len(several) > 0 {
				return jsonResponse(http.StatusMultipleChoices, urls(several, version))
			}
			if r == nil {
				return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
			}
			return jsonResponse(http.StatusOK, s.full(r, version, q.Get("fields")))
		}
	}
	return errResponse(&apiError{405, "METHOD_NOT_ALLOWED", "HTTP Method '" + method + "' not allowed", nil})
}

func urls(rs []*record, version string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = "/services/data/" + version + "/sobjects/" + r.obj.name + "/" + r.id
	}
	return out
}

// full renders every visible field of a record (or those listed).
func (s *Server) full(r *record, version, only string) *orderedMap {
	m := newOrdered()
	m.set("attributes", s.attributes(r, version))
	want := map[string]bool{}
	for _, f := range strings.Split(only, ",") {
		if f = strings.TrimSpace(f); f != "" {
			want[strings.ToLower(f)] = true
		}
	}
	for _, f := range r.obj.fields {
		if f.Hidden || len(want) > 0 && !want[strings.ToLower(f.Name)] {
			continue
		}
		switch f.Name {
		case "Id":
			m.set("Id", r.id)
		case "IsDeleted":
			m.set("IsDeleted", r.deleted)
		default:
			m.set(f.Name, jsonValue(f, r.v[f.Name]))
		}
	}
	return m
}

type upsertResult struct {
	r       saveResult
	several []string
}

// upsert creates or updates the record whose external id is value.
func (s *Server) upsert(o *object, f *Field, value string, fields map[string]any) (upsertResult, int) {
	for k := range fields {
		if strings.EqualFold(k, f.Name) && f.Name != "Id" {
			if v, _ := fields[k].(string); v != value {
				return upsertResult{r: failed(&fieldError{"INVALID_FIELD", fmt.Sprintf("The value %q of the external ID field in the body doesn't match the value in the URL", v), []string{f.Name}})}, http.StatusBadRequest
			}
		}
	}
	r, several := o.byExternal(f, value)
	if len(several) > 0 {
		return upsertResult{several: urls(several, "v63.0")}, http.StatusMultipleChoices
	}
	t, fls := true, false
	if r == nil {
		if f.Name == "Id" {
			return upsertResult{r: failed(&fieldError{"NOT_FOUND", "Provided external ID field does not exist or is not accessible: Id", nil})}, http.StatusNotFound
		}
		m := make(map[string]any, len(fields)+1)
		for k, v := range fields {
			m[k] = v
		}
		m[f.Name] = value
		nr, fe := s.create(o, m, apiWriter(s))
		if fe != nil {
			return upsertResult{r: failed(fe)}, http.StatusBadRequest
		}
		return upsertResult{r: saveResult{ID: nr.id, Success: true, Errors: []statusItem{}, Created: &t}}, http.StatusCreated
	}
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		if !strings.EqualFold(k, f.Name) {
			m[k] = v
		}
	}
	if fe := s.update(r, m, apiWriter(s)); fe != nil {
		res := failed(fe)
		res.ID = r.id
		return upsertResult{r: res}, http.StatusBadRequest
	}
	return upsertResult{r: saveResult{ID: r.id, Success: true, Errors: []statusItem{}, Created: &fls}}, http.StatusOK
}

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

const maxCollection = 200

// collections serves /composite/sobjects[/{object}/{externalIdField}].
func (s *Server) collections(method, version string, segs []string, q url.Values, body []byte) response {
	if len(segs) > 0 && segs[0] == "" {
		segs = segs[1:]
	}
	if method == http.MethodDelete {
		ids := strings.Split(q.Get("ids"), ",")
		if q.Get("ids") == "" {
			return errResponse(&apiError{400, "MISSING_ARGUMENT", "ids parameter is required", nil})
		}
		if len(ids) > maxCollection {
			return errResponse(&apiError{400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call", nil})
		}
		allOrNone := q.Get("allOrNone") == "true"
		var snap snapshot
		if allOrNone {
			snap = s.snapshot()
		}
		out := make([]saveResult, len(ids))
		anyFailed := false
		for i, id := range ids {
			r := s.byID(id)
			if r == nil {
				out[i] = failed(&fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", nil})
				anyFailed = true
				continue
			}
			if fe := s.remove(r, apiWriter(s)); fe != nil {
				out[i] = failed(fe)
				out[i].ID = r.id
				anyFailed = true
				continue
			}
			out[i] = saveResult{ID: r.id, Success: true, Errors: []statusItem{}}
		}
		if allOrNone && anyFailed {
			s.restore(snap)
			rollback(out)
		}
		return jsonResponse(http.StatusOK, out)
	}
	var cb collectionBody
	if err := json.Unmarshal(body, &cb); err != nil {
		return errResponse(&apiError{400, "JSON_PARSER_ERROR", "The request body is either invalid or incomplete: " + err.Error(), nil})
	}
	if len(cb.Records) > maxCollection {
		return errResponse(&apiError{400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call", nil})
	}
	var upObj *object
	var upField *Field
	switch {
	case len(segs) == 0 && (method == http.MethodPost || method == http.MethodPatch):
	case len(segs) == 2 && method == http.MethodPatch:
		upObj = s.objects[strings.ToLower(segs[0])]
		if upObj == nil {
			return errResponse(&apiError{404, "NOT_FOUND", "The requested resource does not exist", nil})
		}
		upField = upObj.field(segs[1])
		if upField == nil || !(upField.ExternalID || upField.Name == "Id") {
			return errResponse(&apiError{400, "INVALID_FIELD", "Field name provided, " + segs[1] + " is not an External ID or indexed field for " + upObj.name, nil})
		}
	default:
		return errResponse(&apiError{405, "METHOD_NOT_ALLOWED", "HTTP Method '" + method + "' not allowed", nil})
	}
	// Whole-request checks Salesforce makes before touching any record.
	for _, rec := range cb.Records {
		typ := recordType(rec)
		if typ == "" {
			return errResponse(&apiError{400, "INVALID_TYPE", "Must send a concrete entity type.", nil})
		}
		o := s.objects[strings.ToLower(typ)]
		if o == nil {
			return errResponse(&apiError{400, "INVALID_TYPE", "sObject type '" + typ + "' is not supported.", nil})
		}
		if upObj != nil && o != upObj {
			return errResponse(&apiError{400, "INVALID_TYPE", "Records must all be of type " + upObj.name, nil})
		}
	}
	var snap snapshot
	if cb.AllOrNone {
		snap = s.snapshot()
	}
	out := make([]saveResult, len(cb.Records))
	anyFailed := false
	seenIDs := map[string]bool{}
	for i, rec := range cb.Records {
		o := s.objects[strings.ToLower(recordType(rec))]
		var res saveResult
		switch {
		case upObj != nil:
			v := externalValue(rec, upField)
			if v == "" {
				res = failed(&fieldError{"MISSING_ARGUMENT", upField.Name + " not specified", []string{upField.Name}})
				break
			}
			ur, status := s.upsert(o, upField, v, withoutAttributes(rec))
			if status == http.StatusMultipleChoices {
				res = failed(&fieldError{"DUPLICATE_EXTERNAL_ID", fmt.Sprintf("%s: more than one record found for external id field: %v", upField.Name, ur.several), []string{upField.Name}})
				break
			}
			res = ur.r
		case method == http.MethodPost:
			if id, _ := rec["Id"].(string); id != "" {
				res = failed(&fieldError{"INVALID_FIELD", "cannot specify Id in an insert call", []string{"Id"}})
				break
			}
			r, fe := s.create(o, withoutAttributes(rec), apiWriter(s))
			if fe != nil {
				res = failed(fe)
				break
			}
			res = saveResult{ID: r.id, Success: true, Errors: []statusItem{}}
		default:
			id, _ := rec["Id"].(string)
			r := s.byID(id)
			switch {
			case id == "":
				res = failed(&fieldError{"MISSING_ARGUMENT", "Id not specified in an update call", nil})
			case normID(id) == "":
				res = failed(&fieldError{"MALFORMED_ID", "malformed id " + id, nil})
			case seenIDs[normID(id)]:
				res = failed(&fieldError{"INVALID_FIELD", "Duplicate Id in the request: " + id, []string{"Id"}})
			case r == nil || r.obj != o:
				res = failed(&fieldError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", nil})
			default:
				seenIDs[r.id] = true
				if fe := s.update(r, withoutAttributes(rec), apiWriter(s)); fe != nil {
					res = failed(fe)
					res.ID = r.id
					break
				}
				res = saveResult{ID: r.id, Success: true, Errors: []statusItem{}}
			}
		}
		if !res.Success {
			anyFailed = true
		}
		out[i] = res
	}
	if cb.AllOrNone && anyFailed {
		s.restore(snap)
		rollback(out)
	}
	return jsonResponse(http.StatusOK, out)
}

// rollback rewrites the results of an all-or-none request that failed.
func rollback(out []saveResult) {
	for i := range out {
		out[i].Created = nil
		if out[i].Success {
			out[i] = saveResult{ID: out[i].ID, Success: false, Errors: []statusItem{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
				Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}}}
		}
	}
}

func recordType(rec map[string]any) string {
	attrs, _ := rec["attributes"].(map[string]any)
	t, _ := attrs["type"].(string)
	return t
}

func withoutAttributes(rec map[string]any) map[string]any {
	m := make(map[string]any, len(rec))
	for k, v := range rec {
		if k != "attributes" {
			m[k] = v
		}
	}
	return m
}

func externalValue(rec map[string]any, f *Field) string {
	for k, v := range rec {
		if strings.EqualFold(k, f.Name) {
			switch x := v.(type) {
			case string:
				return x
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
	}
	return ""
}

type compositeBody struct {
	AllOrNone        bool `json:"allOrNone"`
	CompositeRequest []struct {
		Method      string          `json:"method"`
		URL         string          `json:"url"`
		ReferenceID string          `json:"referenceId"`
		Body        json.RawMessage `json:"body"`
	} `json:"compositeRequest"`
}

type compositeItem struct {
	Body           json.RawMessage   `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

// composite serves POST /composite: up to 25 subrequests, one API call.
func (s *Server) composite(version string, body []byte, h http.Header) response {
	var cb compositeBody
	if err := json.Unmarshal(body, &cb); err != nil {
		return errResponse(&apiError{400, "JSON_PARSER_ERROR", "The request body is either invalid or incomplete: " + err.Error(), nil})
	}
	if len(cb.CompositeRequest) == 0 || len(cb.CompositeRequest) > 25 {
		return errResponse(&apiError{400, "INVALID_BATCH_REQUEST", fmt.Sprintf("Composite request can contain 1 to 25 subrequests, not %d", len(cb.CompositeRequest)), nil})
	}
	var snap snapshot
	if cb.AllOrNone {
		snap = s.snapshot()
	}
	out := make([]compositeItem, len(cb.CompositeRequest))
	halted := false
	for i, sr := range cb.CompositeRequest {
		item := compositeItem{ReferenceID: sr.ReferenceID, HTTPHeaders: map[string]string{}}
		if halted {
			item.HTTPStatusCode = 400
			item.Body, _ = json.Marshal([]errorItem{{ErrorCode: "PROCESSING_HALTED", Message: "The transaction was rolled back since another operation in the same transaction failed."}})
			out[i] = item
			continue
		}
		u, err := url.Parse(sr.URL)
		rest, ok := "", false
		if err == nil {
			var after string
			after, ok = strings.CutPrefix(u.Path, "/services/data/")
			if ok {
				_, rest, ok = strings.Cut(after, "/")
			}
		}
		var res response
		if !ok {
			res = errResponse(&apiError{400, "INVALID_URL", "invalid subrequest url " + sr.URL, nil})
		} else {
			b := []byte(sr.Body)
			if string(b) == "null" {
				b = nil
			}
			res = s.api(strings.ToUpper(sr.Method), version, rest, u.Query(), b, h, true)
		}
		item.HTTPStatusCode = res.status
		if res.status != http.StatusNoContent && len(res.body) > 0 {
			item.Body = res.body
		} else {
			item.Body = json.RawMessage("null")
		}
		if res.status >= 300 && cb.AllOrNone {
			halted = true
		}
		out[i] = item
	}
	if halted {
		s.restore(snap)
	}
	return jsonResponse(http.StatusOK, map[string]any{"compositeResponse": out})
}
