package server

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/state"
)

// dbInbox stores webhook events in the real state file.
type dbInbox struct{ db *state.DB }

func (i dbInbox) Enqueue(items ...state.Item) error { return i.db.Enqueue(items...) }

// BenchmarkWebhookIngest measures webhook events acknowledged durably per
// second: signed HubSpot batches of 100 events over loopback HTTP, each
// verified, stored in bbolt (fsync'd, concurrent requests sharing
// transactions through db.Batch) and answered 204. Run with -cpu 2.
func BenchmarkWebhookIngest(b *testing.B) {
	const perRequest = 100
	const secretValue = "bench-client-secret"
	db, err := state.Open(filepath.Join(b.TempDir(), "regsync.db"), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := hubspot.DefaultConfig()
	cfg.BaseURL, cfg.Token, cfg.ClientSecret = "http://127.0.0.1:1", secret.New("t"), secret.New(secretValue)
	crm, err := hubspot.New(cfg, hubspot.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Options{Webhooks: map[string]connectors.WebhookVerifier{"hubspot": crm}, Inbox: dbInbox{db}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	url := ts.URL + "/webhooks/hubspot"
	client := ts.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64

	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for pb.Next() {
			base := next.Add(perRequest)
			now := time.Now()
			body.Reset()
			body.WriteByte('[')
			for i := range perRequest {
				if i > 0 {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"eventId":%d,"subscriptionId":1,"portalId":62515,"appId":1,"occurredAt":%d,`+
					`"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":%d,`+
					`"propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM_UI"}`,
					base+int64(i), now.UnixMilli(), base+int64(i))
			}
			body.WriteByte(']')
			stamp := strconv.FormatInt(now.UnixMilli(), 10)
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body.Bytes()))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-HubSpot-Request-Timestamp", stamp)
			req.Header.Set("X-HubSpot-Signature-Version", "v3")
			req.Header.Set("X-HubSpot-Signature-v3", hubspottest.SignV3(secretValue, "POST", url, body.Bytes(), stamp))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("answered %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	events := float64(b.N * perRequest)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	st, err := db.InboxStats()
	if err != nil {
		b.Fatal(err)
	}
	if st.Pending != b.N*perRequest {
		b.Fatalf("%d items stored for %d events", st.Pending, b.N*perRequest)
	}
}
