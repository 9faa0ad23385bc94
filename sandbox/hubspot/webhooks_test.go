package hubspot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// verifyV3 is an independent implementation of HubSpot's v3 check, as the
// reference describes it: decode a fixed set of %XX in the URI, HMAC-SHA256
// over method + uri + body + timestamp with the client secret, Base64,
// constant-time compare; timestamps older than five minutes are refused.
func verifyV3(secret string, r *http.Request, body []byte, now time.Time) error {
	ts := r.Header.Get("X-HubSpot-Request-Timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if now.Sub(time.UnixMilli(ms)) > 5*time.Minute {
		return fmt.Errorf("stale timestamp")
	}
	uri := "http://" + r.Host + r.URL.RequestURI()
	for _, enc := range []string{"%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B"} {
		b, _ := strconv.ParseUint(enc[1:], 16, 8)
		uri = strings.ReplaceAll(uri, enc, string(rune(b)))
		uri = strings.ReplaceAll(uri, strings.ToLower(enc), string(rune(b)))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(r.Method + uri + string(body) + ts))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-HubSpot-Signature-v3"))) {
		return fmt.Errorf("v3 signature mismatch")
	}
	return nil
}

func TestSignatureVectors(t *testing.T) {
	// HubSpot's published test vectors (Node SDK test/unit/signature.spec.ts).
	const secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	body := `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	if got := SignV1(secret, []byte(body)); got != "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de" {
		t.Errorf("v1 %s", got)
	}
	// v3 by hand: HMAC-SHA256("secret", "POSThttps://h.example/p?a=1{}1700000000000").
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte("POSThttps://h.example/p?a=1{}1700000000000"))
	if got, want := SignV3("secret", "POST", "https://h.example/p?a=1", []byte("{}"), "1700000000000"), base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("v3 %s, want %s", got, want)
	}
	// HubSpot signs the URI with %40 and friends decoded.
	mac = hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte("POSThttps://h.example/p?e=a@b&q=(x)1700000000000"))
	if got, want := SignV3("secret", "POST", "https://h.example/p?e=a%40b&q=%28x%29", nil, "1700000000000"), base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("v3 with escapes %s, want %s", got, want)
	}
}

// hookSink receives webhooks: it verifies and records every POST; fail
// decides (per attempt, in arrival order) what to answer.
type hookSink struct {
	t      *testing.T
	secret string
	now    func() time.Time
	fail   func(n int) int // status for the n-th POST (0-based); 0 = 204
	delay  time.Duration

	mu       sync.Mutex
	posts    [][]Event
	inflight int
	maxIn    int
	errs     []error
	got      chan struct{}
}

func newSink(t *testing.T, secret string, now func() time.Time) (*hookSink, *httptest.Server) {
	k := &hookSink{t: t, secret: secret, now: now, got: make(chan struct{}, 10000)}
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return k, srv
}

func (k *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	k.mu.Lock()
	n := len(k.posts)
	k.inflight++
	k.maxIn = max(k.maxIn, k.inflight)
	if err := verifyV3(k.secret, r, body, k.now()); err != nil {
		k.errs = append(k.errs, err)
	}
	if SignV1(k.secret, body) != r.Header.Get("X-HubSpot-Signature") || r.Header.Get("X-HubSpot-Signature-Version") != "v1" {
		k.errs = append(k.errs, fmt.Errorf("v1 signature headers"))
	}
	var evs []Event
	if err := json.Unmarshal(body, &evs); err != nil {
		k.errs = append(k.errs, err)
	}
	k.posts = append(k.posts, evs)
	k.mu.Unlock()
	if k.delay > 0 {
		time.Sleep(k.delay)
	}
	status := 204
	if k.fail != nil {
		if s := k.fail(n); s != 0 {
			status = s
		}
	}
	k.mu.Lock()
	k.inflight--
	k.mu.Unlock()
	w.WriteHeader(status)
	k.got <- struct{}{}
}

func (k *hookSink) snapshot() ([][]Event, []error, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]Event(nil), k.posts...), append([]error(nil), k.errs...), k.maxIn
}

func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWebhooksEvents(t *testing.T) {
	clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
	s := startT(t, Options{Clock: clock, AppID: 777, PerTenSeconds: -1})
	c := newTC(t, s)
	sink, srv := newSink(t, "s3cret", clock.Now)
	if err := s.Subscribe(Subscription{URL: srv.URL + "/hooks/hubspot?from=a%40b&x=1", ClientSecret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	deal := c.must(201, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "Hooked", "amount": "10"}})
	dealID := str(deal, "id")
	c.must(200, "PATCH", "/crm/v3/objects/deals/"+dealID, map[string]any{"properties": map[string]string{"amount": "20"}})
	c.must(200, "PATCH", "/crm/v3/objects/deals/"+dealID, map[string]any{"properties": map[string]string{"amount": "20"}}) // no change, no event
	if err := s.UpdateRecord("deals", dealID, props("dealstage", "closedwon")); err != nil {
		t.Fatal(err)
	}
	pid, _ := s.TypeID("partner")
	partner := c.must(201, "POST", "/crm/v3/objects/"+pid, map[string]any{"properties": map[string]string{"partner_id": "northwind", "partner_name": "Northwind"}})
	c.must(201, "POST", "/crm/v3/objects/tasks", map[string]any{"properties": map[string]string{"hs_timestamp": "1700000000000"}}) // tasks have no webhooks
	waitIdle(t, s)

	posts, errs, _ := sink.snapshot()
	if len(errs) > 0 {
		t.Fatalf("signature checks failed: %v", errs)
	}
	var evs []Event
	for _, p := range posts {
		evs = append(evs, p...)
	}
	// Batches arrive in any order (HubSpot does not promise one); events
	// carry increasing ids.
	sort.Slice(evs, func(i, j int) bool { return evs[i].EventID < evs[j].EventID })
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %d %s=%s %s", e.SubscriptionType, e.ObjectID, e.PropertyName, deref(e.PropertyValue), e.ChangeSource))
		if e.PortalID != s.PortalID() || e.AppID != 777 || e.EventID == 0 || e.SubscriptionID == 0 || e.OccurredAt != clock.Now().UnixMilli() || e.AttemptNumber != 0 {
			t.Errorf("event fields: %+v", e)
		}
	}
	did, _ := strconv.ParseInt(dealID, 10, 64)
	pidn, _ := strconv.ParseInt(str(partner, "id"), 10, 64)
	want := []string{
		fmt.Sprintf("deal.creation %d = INTEGRATION", did),
		fmt.Sprintf("deal.propertyChange %d amount=10 INTEGRATION", did),
		fmt.Sprintf("deal.propertyChange %d dealname=Hooked INTEGRATION", did),
		fmt.Sprintf("deal.propertyChange %d amount=20 INTEGRATION", did),
		fmt.Sprintf("deal.propertyChange %d dealstage=closedwon CRM_UI", did),
		fmt.Sprintf("deal.propertyChange %d hs_is_closed=true CRM_UI", did),
		fmt.Sprintf("deal.propertyChange %d hs_is_closed_won=true CRM_UI", did),
		fmt.Sprintf("object.creation %d = INTEGRATION", pidn),
		fmt.Sprintf("object.propertyChange %d partner_id=northwind INTEGRATION", pidn),
		fmt.Sprintf("object.propertyChange %d partner_name=Northwind INTEGRATION", pidn),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e.SubscriptionType, "object.") && e.ObjectTypeID != pid:
			t.Errorf("custom object event without objectTypeId: %+v", e)
		case strings.HasPrefix(e.SubscriptionType, "deal.") && e.ObjectTypeID != "":
			t.Errorf("classic deal event with objectTypeId: %+v", e)
		case e.ChangeSource == "INTEGRATION" && e.SourceID != "777":
			t.Errorf("API change without the app as sourceId: %+v", e)
		case e.ChangeSource == "CRM_UI" && !strings.HasPrefix(e.SourceID, "userId:"):
			t.Errorf("UI change sourceId: %+v", e)
		case e.SubscriptionType == "deal.creation" && e.ChangeFlag != "NEW":
			t.Errorf("creation without changeFlag NEW: %+v", e)
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestWebhooksObjectEventsAndFilters(t *testing.T) {
	s := startT(t, Options{Bare: true})
	sink, srv := newSink(t, "k", time.Now)
	if err := s.Subscribe(Subscription{URL: srv.URL, ClientSecret: "k", ObjectEvents: true,
		EventTypes: []string{"object.propertyChange"}, Properties: []string{"dealstage"}}); err != nil {
		t.Fatal(err)
	}
	id, _ := s.CreateRecord("deals", props("dealname", "x", "dealstage", "qualifiedtobuy"))
	if err := s.UpdateRecord("deals", id, props("dealname", "y")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	posts, _, _ := sink.snapshot()
	if len(posts) != 1 || len(posts[0]) != 1 {
		t.Fatalf("posts %v", posts)
	}
	e := posts[0][0]
	if e.SubscriptionType != "object.propertyChange" || e.ObjectTypeID != "0-3" || e.PropertyName != "dealstage" || deref(e.PropertyValue) != "qualifiedtobuy" {
		t.Errorf("event %+v", e)
	}
}

func TestWebhooksBatchingAndConcurrency(t *testing.T) {
	s := startT(t, Options{Bare: true, WebhookConcurrency: 3})
	sink, srv := newSink(t, "k", time.Now)
	sink.delay = 20 * time.Millisecond
	s.SetFaults(Faults{WebhooksOff: true})
	if err := s.Subscribe(Subscription{URL: srv.URL, ClientSecret: "k", EventTypes: []string{"company.creation"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 1050 {
		if _, err := s.CreateRecord("companies", props("name", fmt.Sprint("c", i))); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.WebhookStats(); st.Queued != 1050 || st.Posts != 0 {
		t.Fatalf("with webhooks off: %+v", st)
	}
	s.SetFaults(Faults{})
	waitIdle(t, s)
	posts, errs, maxIn := sink.snapshot()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	total := 0
	for _, p := range posts {
		if len(p) > 100 {
			t.Errorf("a POST of %d events", len(p))
		}
		total += len(p)
	}
	if total != 1050 || len(posts) != 11 {
		t.Errorf("%d events in %d posts", total, len(posts))
	}
	if maxIn > 3 || maxIn < 2 {
		t.Errorf("max concurrent deliveries %d, want 2..3", maxIn)
	}
	if st := s.WebhookStats(); st.Delivered != 1050 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhooksRetry(t *testing.T) {
	s := startT(t, Options{Bare: true, WebhookRetryBase: 5 * time.Millisecond, WebhookTimeout: 200 * time.Millisecond})
	sink, srv := newSink(t, "k", time.Now)
	var mu sync.Mutex
	sink.fail = func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return map[int]int{0: 500, 1: 404, 2: 429}[n] // three failures, then success
	}
	if err := s.Subscribe(Subscription{URL: srv.URL, ClientSecret: "k", EventTypes: []string{"contact.creation"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.CreateRecord("contacts", props("email", "a@b.example")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	posts, _, _ := sink.snapshot()
	if len(posts) != 4 {
		t.Fatalf("%d attempts, want 4", len(posts))
	}
	for i, p := range posts {
		if p[0].AttemptNumber != i || p[0].EventID != posts[0][0].EventID {
			t.Errorf("attempt %d: %+v", i, p[0])
		}
	}
	// Backoff 5, 10, 20 ms at least.
	if d := time.Since(start); d < 35*time.Millisecond {
		t.Errorf("three retries took %v, less than the backoff", d)
	}
	if st := s.WebhookStats(); st.Failed != 3 || st.Delivered != 1 || st.Posts != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhooksGiveUpAndTimeout(t *testing.T) {
	s := startT(t, Options{Bare: true, WebhookRetryBase: time.Millisecond, WebhookTimeout: 50 * time.Millisecond, WebhookMaxAttempts: 4})
	sink, srv := newSink(t, "k", time.Now)
	sink.delay = 120 * time.Millisecond // never answers in time
	if err := s.Subscribe(Subscription{URL: srv.URL, ClientSecret: "k", EventTypes: []string{"contact.creation"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRecord("contacts", props("email", "slow@b.example")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	st := s.WebhookStats()
	if st.Posts != 4 || st.Failed != 4 || st.Dropped != 1 || st.Delivered != 0 {
		t.Errorf("stats %+v", st)
	}
	// A receiver that is not there at all.
	s2 := startT(t, Options{Bare: true, WebhookRetryBase: time.Millisecond, WebhookMaxAttempts: 10})
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	if err := s2.Subscribe(Subscription{URL: url, ClientSecret: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CreateRecord("companies", props("name", "x")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s2)
	if st := s2.WebhookStats(); st.Posts != 10 || st.Dropped != 2 {
		t.Errorf("connection refused: %+v", st)
	}
}

func TestSubscribeValidation(t *testing.T) {
	s := startT(t, Options{Bare: true})
	if s.Subscribe(Subscription{ClientSecret: "x"}) == nil || s.Subscribe(Subscription{URL: "http://127.0.0.1:1"}) == nil {
		t.Error("incomplete subscriptions accepted")
	}
}
