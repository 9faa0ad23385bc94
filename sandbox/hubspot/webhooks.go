package hubspot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Subscription makes the server deliver webhooks for every change to URL,
// signed with ClientSecret, as the app AppID.
type Subscription struct {
	URL          string
	ClientSecret string
	// AppID is the app the subscription belongs to; default Options.AppID.
	AppID int
	// EventTypes limits the subscription types delivered
	// ("deal.propertyChange", "object.creation", …); empty = all.
	EventTypes []string
	// Properties limits propertyChange events to these properties; empty = all.
	Properties []string
	// ObjectEvents delivers generic object.* events (with objectTypeId)
	// for contacts, companies and deals too, as apps on HubSpot's newer
	// developer platform receive them. By default those get the classic
	// contact.*, company.* and deal.* events, and custom objects object.*.
	ObjectEvents bool
}

// Event is one webhook event as HubSpot sends it (the POST body is a JSON
// array of them).
type Event struct {
	EventID          int64   `json:"eventId"`
	SubscriptionID   int64   `json:"subscriptionId"`
	PortalID         int     `json:"portalId"`
	AppID            int     `json:"appId"`
	OccurredAt       int64   `json:"occurredAt"`
	SubscriptionType string  `json:"subscriptionType"`
	AttemptNumber    int     `json:"attemptNumber"`
	ObjectID         int64   `json:"objectId"`
	ObjectTypeID     string  `json:"objectTypeId,omitempty"`
	PropertyName     string  `json:"propertyName,omitempty"`
	PropertyValue    *string `json:"propertyValue,omitempty"`
	ChangeFlag       string  `json:"changeFlag,omitempty"`
	ChangeSource     string  `json:"changeSource"`
	SourceID         string  `json:"sourceId,omitempty"`
}

// WebhookStats counts webhook work since the server started.
type WebhookStats struct {
	Queued    int // events waiting for a first attempt
	Retrying  int // events in batches waiting to be retried
	InFlight  int // batches being delivered
	Delivered int // events delivered (2xx or 3xx)
	Failed    int // failed delivery attempts (batches)
	Dropped   int // events given up on after the last attempt
	Posts     int // delivery attempts (batches) in all
}

const maxEventsPerPost = 100

// uiUserID is the HubSpot user the Go helpers act as.
const uiUserID = 9100001

type webhooks struct {
	s      *Server
	client *http.Client
	nsubs  atomic.Int32

	mu        sync.Mutex
	subs      []*subscriber
	nextEvent int64
	nextSubID int64
	closed    bool
	stats     WebhookStats
	changed   chan struct{} // closed and replaced on every state change
	wg        sync.WaitGroup
}

type subscriber struct {
	sub      Subscription
	subIDs   map[string]int64 // subscription type → subscriptionId
	queue    []Event
	retries  []*pendingBatch
	inflight int
	wake     chan struct{}
}

type pendingBatch struct {
	events  []Event
	attempt int
	due     time.Time
}

func newWebhooks(s *Server) *webhooks {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &webhooks{s: s, changed: make(chan struct{}), client: &http.Client{
		Transport: tr,
		Timeout:   s.opts.WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Subscribe starts delivering every later change to sub.URL.
func (s *Server) Subscribe(sub Subscription) error {
	if sub.URL == "" {
		return errors.New("hubspot sandbox: subscription without a URL")
	}
	if sub.ClientSecret == "" {
		return errors.New("hubspot sandbox: subscription without a client secret")
	}
	if sub.AppID == 0 {
		sub.AppID = s.opts.AppID
	}
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("hubspot sandbox: server closed")
	}
	sb := &subscriber{sub: sub, subIDs: map[string]int64{}, wake: make(chan struct{}, 1)}
	h.subs = append(h.subs, sb)
	h.nsubs.Add(1)
	h.wg.Add(1)
	go h.run(sb)
	return nil
}

// WebhookStats reports the webhook deliveries so far.
func (s *Server) WebhookStats() WebhookStats {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stats
	st.Queued, st.Retrying, st.InFlight = 0, 0, 0
	for _, sb := range h.subs {
		st.Queued += len(sb.queue)
		for _, b := range sb.retries {
			st.Retrying += len(b.events)
		}
		st.InFlight += sb.inflight
	}
	return st
}

// WaitWebhooks blocks until no webhook event is queued, being retried or
// in flight, or ctx ends. With WebhooksOff it waits for them to be turned on.
func (s *Server) WaitWebhooks(ctx context.Context) error {
	h := s.hooks
	for {
		h.mu.Lock()
		idle := true
		for _, sb := range h.subs {
			if len(sb.queue) > 0 || len(sb.retries) > 0 || sb.inflight > 0 {
				idle = false
			}
		}
		ch := h.changed
		h.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("hubspot sandbox: waiting for webhooks: %w", ctx.Err())
		}
	}
}

func (h *webhooks) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// kick wakes every subscriber loop.
func (h *webhooks) kick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sb := range h.subs {
		select {
		case sb.wake <- struct{}{}:
		default:
		}
	}
}

func (h *webhooks) stop() {
	h.mu.Lock()
	h.closed = true
	for _, sb := range h.subs {
		select {
		case sb.wake <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// emit queues the events of one change to a record. Callers hold s.mu
// (so events queue in the order the changes happened).
func (h *webhooks) emit(t *objectType, id string, created bool, changes []propChange, src string, at time.Time) {
	if h.nsubs.Load() == 0 || t.hookPrefix == "" {
		return
	}
	objectID := num(id)
	sourceID := ""
	switch src {
	case srcAPI:
		sourceID = strconv.Itoa(h.s.opts.AppID)
	case srcUI:
		sourceID = "userId:" + strconv.Itoa(uiUserID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, sb := range h.subs {
		prefix, typeID := t.hookPrefix, ""
		if prefix == "object" || sb.sub.ObjectEvents {
			prefix, typeID = "object", t.id
		}
		add := func(ev Event) {
			if len(sb.sub.EventTypes) > 0 && !slices.Contains(sb.sub.EventTypes, ev.SubscriptionType) {
				return
			}
			subID, ok := sb.subIDs[ev.SubscriptionType]
			if !ok {
				h.nextSubID++
				subID = 2800000 + h.nextSubID
				sb.subIDs[ev.SubscriptionType] = subID
			}
			h.nextEvent++
			ev.EventID = 100000000 + h.nextEvent
			ev.SubscriptionID = subID
			ev.PortalID = h.s.opts.PortalID
			ev.AppID = sb.sub.AppID
			ev.OccurredAt = at.UnixMilli()
			ev.ObjectID = objectID
			ev.ObjectTypeID = typeID
			ev.ChangeSource = src
			ev.SourceID = sourceID
			sb.queue = append(sb.queue, ev)
		}
		if created {
			add(Event{SubscriptionType: prefix + ".creation", ChangeFlag: "NEW"})
		}
		for _, c := range changes {
			if len(sb.sub.Properties) > 0 && !slices.Contains(sb.sub.Properties, c.name) {
				continue
			}
			v := c.value
			add(Event{SubscriptionType: prefix + ".propertyChange", PropertyName: c.name, PropertyValue: &v})
		}
		select {
		case sb.wake <- struct{}{}:
		default:
		}
	}
	h.notifyLocked()
}

// run is one subscription's dispatcher: it starts deliveries of due
// retries and new batches, up to the concurrency limit.
func (h *webhooks) run(sb *subscriber) {
	defer h.wg.Done()
	s := h.s
	for {
		if s.ctx.Err() != nil {
			return
		}
		off := s.webhooksOff()
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return
		}
		var next time.Time
		started := false
		if !off && sb.inflight < s.opts.WebhookConcurrency {
			now := time.Now()
			var b *pendingBatch
			for i, rb := range sb.retries {
				if !rb.due.After(now) {
					b = rb
					sb.retries = slices.Delete(sb.retries, i, i+1)
					break
				}
			}
			if b == nil && len(sb.queue) > 0 {
				n := min(len(sb.queue), maxEventsPerPost)
				b = &pendingBatch{events: slices.Clone(sb.queue[:n])}
				sb.queue = slices.Delete(sb.queue, 0, n)
			}
			if b != nil {
				sb.inflight++
				h.wg.Add(1)
				go h.deliver(sb, b)
				started = true
			}
		}
		if !started {
			for _, rb := range sb.retries {
				if next.IsZero() || rb.due.Before(next) {
					next = rb.due
				}
			}
		}
		h.mu.Unlock()
		if started {
			continue
		}
		var t *time.Timer
		var timer <-chan time.Time
		if !next.IsZero() && !off {
			t = time.NewTimer(max(time.Until(next), 0))
			timer = t.C
		}
		select {
		case <-sb.wake:
		case <-timer:
		case <-s.ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
	}
}

// deliver makes one attempt at a batch and schedules a retry on failure.
func (h *webhooks) deliver(sb *subscriber, b *pendingBatch) {
	defer h.wg.Done()
	s := h.s
	events := make([]Event, len(b.events))
	for i, ev := range b.events {
		ev.AttemptNumber = b.attempt
		events[i] = ev
	}
	err := h.post(sb.sub, events)
	h.mu.Lock()
	defer h.mu.Unlock()
	sb.inflight--
	h.stats.Posts++
	if err == nil {
		h.stats.Delivered += len(events)
	} else {
		h.stats.Failed++
		s.log.Debug("hubspot sandbox: webhook delivery failed", "url", sb.sub.URL, "attempt", b.attempt, "err", err)
		if b.attempt+1 >= s.opts.WebhookMaxAttempts || h.closed {
			h.stats.Dropped += len(events)
		} else {
			wait := s.opts.WebhookRetryBase << min(b.attempt, 8)
			sb.retries = append(sb.retries, &pendingBatch{events: b.events, attempt: b.attempt + 1, due: time.Now().Add(wait)})
		}
	}
	select {
	case sb.wake <- struct{}{}:
	default:
	}
	h.notifyLocked()
}

// post sends one signed batch.
func (h *webhooks) post(sub Subscription, events []Event) error {
	body, err := json.Marshal(events)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(h.s.now().UnixMilli(), 10)
	req, err := http.NewRequestWithContext(h.s.ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/)")
	req.Header.Set("X-HubSpot-Signature", SignV1(sub.ClientSecret, body))
	req.Header.Set("X-HubSpot-Signature-Version", "v1")
	if req.URL.Path == "" {
		req.URL.Path = "/" // sign the URI the receiver sees
	}
	req.Header.Set("X-HubSpot-Signature-v3", SignV3(sub.ClientSecret, http.MethodPost, req.URL.String(), body, ts))
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// SignV1 is HubSpot's v1 signature: hex SHA-256 of secret + body.
func SignV1(secret string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// v3Decoder undoes the escapes HubSpot decodes in the URI before it signs.
var v3Decoder = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";")

// SignV3 is HubSpot's v3 signature: Base64 HMAC-SHA256, keyed by the
// client secret, of method + URI + body + timestamp (milliseconds), where
// the URI has %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B decoded.
func SignV3(secret, method, uri string, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + v3Decoder.Replace(uri)))
	m.Write(body)
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
