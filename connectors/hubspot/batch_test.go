package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/registration"
)

type wireInput struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
	Properties         map[string]string `json:"properties"`
}

// TestBatch207Split: a 207 answer is split into per-record results and
// errors, matched by objectWriteTraceId, by id, or by the ids of an error's
// context, whatever order HubSpot answers in.
func TestBatch207Split(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		mu.Unlock()
		var req struct{ Inputs []wireInput }
		_ = json.NewDecoder(r.Body).Decode(&req)
		switch {
		case strings.HasSuffix(r.URL.Path, "/batch/update"):
			// Results in reverse order, some without a trace id; id 13
			// not found; id 15 invalid.
			var res []string
			var errs []string
			for i := len(req.Inputs) - 1; i >= 0; i-- {
				in := req.Inputs[i]
				switch in.ID {
				case "13":
					errs = append(errs, `{"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get some deals objects, they may be deleted or not exist.","context":{"ids":["13"]},"errors":[],"links":{}}`)
				case "15":
					errs = append(errs, `{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid","context":{"ids":["15"]},"errors":[{"message":"amount must be a number"}],"links":{}}`)
				default:
					trace := in.ObjectWriteTraceID
					if in.ID == "12" {
						trace = ""
					}
					res = append(res, fmt.Sprintf(`{"id":%q,"objectWriteTraceId":%q,"properties":{},"createdAt":"2024-01-01T00:00:00.000Z","updatedAt":"2024-01-01T00:00:00.000Z","archived":false}`, in.ID, trace))
				}
			}
			writeJSON(w, 207, `{"status":"COMPLETE","results":[`+strings.Join(res, ",")+`],"numErrors":`+fmt.Sprint(len(errs))+`,"errors":[`+strings.Join(errs, ",")+`]}`)
		case strings.HasSuffix(r.URL.Path, "/batch/create"):
			// HubSpot refuses a whole batch create when a unique value is
			// held already (409), naming the first record only.
			for _, in := range req.Inputs {
				if in.Properties["submission_key"] == "key-old" {
					writeJSON(w, 409, `{"status":"error","category":"CONFLICT","message":"A registration with the unique value \"key-old\" for property \"submission_key\" already exists. Existing ID: 501"}`)
					return
				}
			}
			var res []string
			var errs []string
			for i, in := range req.Inputs {
				key := in.Properties["submission_key"]
				if key == "key-bad" {
					errs = append(errs, `{"status":"error","category":"VALIDATION_ERROR","message":"bad","context":{"ids":["key-bad"]},"errors":[],"links":{}}`)
					continue
				}
				res = append(res, fmt.Sprintf(`{"id":"%d","objectWriteTraceId":%q,"properties":{"submission_key":%q}}`,
					500+i, in.ObjectWriteTraceID, key))
			}
			writeJSON(w, 207, `{"status":"COMPLETE","results":[`+strings.Join(res, ",")+`],"numErrors":1,"errors":[`+strings.Join(errs, ",")+`]}`)
		case strings.HasSuffix(r.URL.Path, "/batch/read"):
			var res []string
			for _, in := range req.Inputs {
				if in.ID == "key-old" {
					res = append(res, `{"id":"501","properties":{"submission_key":"key-old"}}`)
				}
			}
			writeJSON(w, 200, `{"status":"COMPLETE","results":[`+strings.Join(res, ",")+`]}`)
		default:
			writeJSON(w, 404, `{"status":"error","message":"no route"}`)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.Object = ObjectDeals
	c, _ := newTestClient(t, cfg, Options{})
	ups := []connectors.Update{
		{ID: "11", Fields: map[string]string{"status": "approved"}},
		{ID: "12", Fields: map[string]string{"status": "approved"}},
		{ID: "13", Fields: map[string]string{"status": "approved"}},
		{ID: "14", Fields: map[string]string{"status": "declined"}},
		{ID: "15", Fields: map[string]string{"target_revenue": "12"}},
		{SubmissionKey: "key-new", Fields: map[string]string{"company_name": "Globex"}},
		{SubmissionKey: "key-old", Fields: map[string]string{"company_name": "Initech"}},
		{SubmissionKey: "key-bad", Fields: map[string]string{"company_name": "Bad"}},
		{Fields: map[string]string{"company_name": "No key"}},
		{ID: "16", Fields: map[string]string{"status": "nonsense"}},
	}
	res, err := c.Write(bg(t), ups)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	type want struct {
		id      string
		created bool
		reason  string
		exists  bool
	}
	wants := []want{{"11", false, "", false}, {"12", false, "", false}, {"", false, "not_found", false}, {"14", false, "", false}, {"", false, "invalid", false},
		{"500", true, "", false}, {"501", false, "", true}, {"", false, "invalid", false}, {"", false, "invalid", false}, {"", false, "invalid", false}}
	for i, w := range wants {
		r := res[i]
		if w.reason != "" {
			if connectors.Reason(r.Err) != w.reason || connectors.ClassOf(r.Err).Transient() {
				t.Errorf("result %d: err %v, want a non-retryable %s", i, r.Err, w.reason)
			}
			continue
		}
		if r.Err != nil || r.ID != w.id || r.Created != w.created || r.Exists != w.exists {
			t.Errorf("result %d = %+v, want id %s created %v exists %v", i, r, w.id, w.created, w.exists)
		}
	}
	var ce *connectors.Error
	if !errors.As(res[2].Err, &ce) || ce.Status != 404 {
		t.Errorf("not found: %#v", res[2].Err)
	}
	// A create refused for the existing key, a read of the batch's keys,
	// the create of the others, one update: invalid records never reached
	// HubSpot, the existing one was not written.
	if len(calls) != 4 {
		t.Errorf("calls %v", calls)
	}
}

// TestWriteSplitsBatchRefusedWhole: HubSpot refuses a whole batch (400)
// for one bad value; the client splits it until the bad record is alone,
// so the 99 others are written.
func TestWriteSplitsBatchRefusedWhole(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		var req struct{ Inputs []wireInput }
		_ = json.NewDecoder(r.Body).Decode(&req)
		var res []string
		for _, in := range req.Inputs {
			if in.Properties["country"] == "poison" {
				writeJSON(w, 400, `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"bad country\"}]","category":"VALIDATION_ERROR","correlationId":"x"}`)
				return
			}
			res = append(res, fmt.Sprintf(`{"id":%q,"objectWriteTraceId":%q,"properties":{}}`, in.ID, in.ObjectWriteTraceID))
		}
		writeJSON(w, 200, `{"status":"COMPLETE","results":[`+strings.Join(res, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.Object = ObjectDeals
	c, _ := newTestClient(t, cfg, Options{})
	var ups []connectors.Update
	for i := range 100 {
		country := "DE"
		if i == 37 {
			country = "poison"
		}
		ups = append(ups, connectors.Update{ID: fmt.Sprint(1000 + i), Fields: map[string]string{"country": country}})
	}
	res, err := c.Write(bg(t), ups)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for i, r := range res {
		if i == 37 {
			if connectors.Reason(r.Err) != "invalid" {
				t.Errorf("poisoned record: %v", r.Err)
			}
			continue
		}
		if r.Err != nil || r.ID != fmt.Sprint(1000+i) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// 1 + 2·⌈log2 100⌉ calls at most.
	if calls > 15 {
		t.Errorf("%d calls", calls)
	}
}

// TestWriteRounds: the same record twice in one Write goes to two batches,
// in order; creates get a case number from their submission key and the
// derived match keys.
func TestWriteRounds(t *testing.T) {
	var mu sync.Mutex
	var batches [][]wireInput
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Inputs []wireInput }
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		batches = append(batches, req.Inputs)
		mu.Unlock()
		var res []string
		for i, in := range req.Inputs {
			res = append(res, fmt.Sprintf(`{"id":"%d","new":true,"objectWriteTraceId":%q,"properties":{}}`, 700+i, in.ObjectWriteTraceID))
		}
		writeJSON(w, 200, `{"status":"COMPLETE","results":[`+strings.Join(res, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.Object = ObjectDeals
	c, _ := newTestClient(t, cfg, Options{})
	res, err := c.Write(bg(t), []connectors.Update{
		{SubmissionKey: "form:1", Fields: map[string]string{"company_domain": "https://eu.Globex.example/x", "company_name": "Globex GmbH"}},
		{SubmissionKey: "form:1", Fields: map[string]string{"status": "submitted"}},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("Write: %v %+v", err, res)
	}
	if len(batches) != 2 {
		t.Fatalf("%d batches, want 2", len(batches))
	}
	p := batches[0][0].Properties
	if batches[0][0].IDProperty != "" || batches[0][0].ID != "" {
		t.Errorf("create input %+v", batches[0][0])
	}
	if p["case_number"] != registration.CaseNumberFor("form:1") || p["submission_key"] != "form:1" {
		t.Errorf("case number / key: %v", p)
	}
	if p[PropDomainKey] != "globex.example" || p[PropNameKey] != registration.CompanyKey("Globex GmbH") {
		t.Errorf("match keys: %q %q", p[PropDomainKey], p[PropNameKey])
	}
	if p["dealname"] == "" || p["dealstage"] != "appointmentscheduled" || p["pipeline"] != "default" {
		t.Errorf("deals mode create: %v", p)
	}
}

func TestEncodeValue(t *testing.T) {
	f := func(name string) registration.Field { x, _ := registration.LookupField(name); return x }
	cases := []struct {
		field, in, out string
		bad            bool
	}{
		{"hold_until", "2024-03-01T10:00:00Z", "1709287200000", false},
		{"hold_until", "1709287200000", "1709287200000", false},
		{"hold_until", "", "", false},
		{"hold_until", "soon", "", true},
		{"consent", "yes", "true", false},
		{"consent", "maybe", "", true},
		{"target_revenue", "1,234.5", "1234.5", false},
		{"target_revenue", "NaN", "", true},
		{"status", "Approved", "approved", false},
		{"status", "pending", "", true},
		{"company_name", " Globex ", " Globex ", false},
	}
	for _, tc := range cases {
		got, err := encodeValue(f(tc.field), tc.in)
		if (err != nil) != tc.bad || got != tc.out {
			t.Errorf("%s %q → %q, %v", tc.field, tc.in, got, err)
		}
	}
}
