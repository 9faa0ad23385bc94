package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// benchServer is an unlimited portal with n companies on n/4 domains.
func benchServer(b *testing.B, n int) (*Server, []string) {
	b.Helper()
	s := startT(b, Options{Bare: true, PerTenSeconds: -1, SearchPerSecond: -1, Daily: -1})
	ids := make([]string, n)
	for i := range n {
		id, err := s.CreateRecord("companies", props("name", fmt.Sprintf("Company %d", i), "domain", fmt.Sprintf("d%d.example", i/4)))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	return s, ids
}

func benchPost(b *testing.B, hc *http.Client, url string, body []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sandbox-token")
	res, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		b.Errorf("status %d", res.StatusCode)
	}
}

// benchPosts posts body(k), for the k-th request, to path from parallel
// goroutines, and reports the requests per second.
func benchPosts(b *testing.B, s *Server, path string, body func(k int) []byte) {
	hc := benchClient()
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchPost(b, hc, s.URL()+path, body(int(n.Add(1))))
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// BenchmarkBatchRead measures the fake's throughput for 100-record batch
// reads, so the client's benchmarks are not limited by it.
func BenchmarkBatchRead(b *testing.B) {
	s, ids := benchServer(b, 20000)
	benchPosts(b, s, "/crm/v3/objects/companies/batch/read", func(k int) []byte {
		var inputs []map[string]string
		for j := range 100 {
			inputs = append(inputs, map[string]string{"id": ids[(k*100+j)%len(ids)]})
		}
		body, _ := json.Marshal(map[string]any{"inputs": inputs, "properties": []string{"name", "domain"}})
		return body
	})
}

// BenchmarkSearchIN measures searches with a 50-value IN filter over 20,000 records.
func BenchmarkSearchIN(b *testing.B) {
	s, _ := benchServer(b, 20000)
	benchPosts(b, s, "/crm/v3/objects/companies/search", func(k int) []byte {
		var values []string
		for j := range 50 {
			values = append(values, fmt.Sprintf("d%d.example", (k*50+j)%5000))
		}
		body, _ := json.Marshal(map[string]any{"limit": 200, "properties": []string{"name", "domain"},
			"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "domain", "operator": "IN", "values": values}}}}})
		return body
	})
}

// BenchmarkBatchUpsert measures 100-record upserts on a unique property.
func BenchmarkBatchUpsert(b *testing.B) {
	s := startT(b, Options{Bare: true, PerTenSeconds: -1, SearchPerSecond: -1, Daily: -1})
	if _, e := s.createSchema(schemaEgg{Name: "reg", Labels: labels{"Reg", "Regs"}, AssociatedObjects: []string{},
		Properties: []*property{{Name: "key", Label: "Key", Type: "string", FieldType: "text", HasUniqueValue: true},
			{Name: "status", Label: "Status", Type: "string", FieldType: "text"}}}); e != nil {
		b.Fatal(e)
	}
	benchPosts(b, s, "/crm/v3/objects/p_reg/batch/upsert", func(k int) []byte {
		var inputs []map[string]any
		for j := range 100 {
			inputs = append(inputs, map[string]any{"id": fmt.Sprintf("k%d", (k*100+j)%50000), "idProperty": "key",
				"properties": map[string]string{"status": fmt.Sprint(k)}})
		}
		body, _ := json.Marshal(map[string]any{"inputs": inputs})
		return body
	})
}
