package salesforce

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OutboundMessage is an outbound message action: on every create and edit
// of a record of Object (as a workflow rule "created, and every time it's
// edited" or a record-triggered flow would fire it), Salesforce POSTs a
// SOAP notifications message with the record's Fields to URL and retries
// with exponential backoff until it is acknowledged or 24 hours old.
type OutboundMessage struct {
	Object string
	URL    string
	// Fields are sent besides Id; empty = every visible field.
	Fields []string
	// SendSessionID includes a session id for calls back.
	SendSessionID bool
}

// OutboundStats counts outbound deliveries.
type OutboundStats struct {
	Attempts int // POSTs made
	Acked    int // notifications acknowledged
	Failed   int // POSTs not acknowledged
	Dropped  int // notifications given up after the TTL
}

type notification struct {
	id       string
	cfg      int
	object   string
	recordID string
	enqueued time.Time
	attempts int
	next     time.Time
	inFlight bool
}

type outbound struct {
	s       *Server
	mu      sync.Mutex
	configs []OutboundMessage
	actions []string
	queue   []*notification
	stats   OutboundStats
	kickc   chan struct{}
	started bool
	wg      sync.WaitGroup
	client  *http.Client
	idle    *sync.Cond
}

func newOutbound(s *Server) *outbound {
	o := &outbound{s: s, kickc: make(chan struct{}, 1), client: &http.Client{Timeout: 30 * time.Second}}
	o.idle = sync.NewCond(&o.mu)
	return o
}

func (o *outbound) start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started {
		return
	}
	o.started = true
	o.wg.Add(1)
	go o.loop()
}

func (o *outbound) wait() { o.wg.Wait() }

func (o *outbound) kick() {
	select {
	case o.kickc <- struct{}{}:
	default:
	}
}

// SetOutbound replaces the org's outbound message actions.
func (s *Server) SetOutbound(msgs ...OutboundMessage) {
	s.mu.Lock()
	var actions []string
	for range msgs {
		s.seq++
		actions = append(actions, makeID("04k", s.seq))
	}
	s.mu.Unlock()
	o := s.out
	o.mu.Lock()
	o.configs = append([]OutboundMessage(nil), msgs...)
	o.actions = actions
	o.queue = nil
	o.mu.Unlock()
}

// OutboundPending is the number of notifications not yet acknowledged.
func (s *Server) OutboundPending() int {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return len(s.out.queue)
}

// OutboundStats reports deliveries so far.
func (s *Server) OutboundStats() OutboundStats {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.stats
}

// FlushOutbound retries every pending notification now and waits until
// none is pending or ctx ends.
func (s *Server) FlushOutbound(ctx context.Context) error {
	o := s.out
	o.mu.Lock()
	now := time.Now()
	for _, n := range o.queue {
		n.next = now
	}
	o.mu.Unlock()
	o.kick()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.OutboundPending() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			o.kick()
		}
	}
}

// changed queues a notification for r (called with s.mu held). A record
// already waiting is not queued twice: the message carries its latest data.
func (o *outbound) changed(r *record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	queued := false
	for i, c := range o.configs {
		if !strings.EqualFold(c.Object, r.obj.name) {
			continue
		}
		dup := false
		for _, n := range o.queue {
			if n.cfg == i && n.recordID == r.id && n.attempts == 0 && !n.inFlight {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		o.s.seq++
		now := time.Now()
		o.queue = append(o.queue, &notification{id: makeID("04l", o.s.seq), cfg: i, object: r.obj.name, recordID: r.id, enqueued: now, next: now})
		queued = true
	}
	if queued {
		o.kick()
	}
}

func (o *outbound) loop() {
	defer o.wg.Done()
	for {
		wait := o.deliverDue()
		t := time.NewTimer(wait)
		select {
		case <-o.s.ctx.Done():
			t.Stop()
			return
		case <-o.kickc:
			t.Stop()
		case <-t.C:
		}
	}
}

// deliverDue sends every due notification, up to 100 per message, and
// returns how long to sleep.
func (o *outbound) deliverDue() time.Duration {
	o.s.cmu.Lock()
	off := o.s.faults.OutboundOff
	o.s.cmu.Unlock()
	if off {
		return time.Hour
	}
	now := time.Now()
	o.mu.Lock()
	// Drop what is too old.
	kept := o.queue[:0]
	for _, n := range o.queue {
		if now.Sub(n.enqueued) > o.s.opts.OutboundTTL {
			o.stats.Dropped++
			continue
		}
		kept = append(kept, n)
	}
	o.queue = kept
	batches := map[int][]*notification{}
	var order []int
	next := time.Hour
	for _, n := range o.queue {
		if n.inFlight {
			continue
		}
		if n.next.After(now) {
			next = min(next, n.next.Sub(now))
			continue
		}
		if len(batches[n.cfg]) >= 100 {
			next = 0
			continue
		}
		if batches[n.cfg] == nil {
			order = append(order, n.cfg)
		}
		n.inFlight = true
		batches[n.cfg] = append(batches[n.cfg], n)
	}
	configs, actions := o.configs, o.actions
	o.mu.Unlock()
	for _, ci := range order {
		batch := batches[ci]
		if ci >= len(configs) {
			continue
		}
		body := o.s.envelope(configs[ci], actions[ci], batch)
		ok := o.post(configs[ci].URL, body)
		o.mu.Lock()
		o.stats.Attempts++
		if ok {
			o.stats.Acked += len(batch)
			done := map[*notification]bool{}
			for _, n := range batch {
				done[n] = true
			}
			kept := o.queue[:0]
			for _, n := range o.queue {
				if !done[n] {
					kept = append(kept, n)
				}
			}
			o.queue = kept
		} else {
			o.stats.Failed++
			for _, n := range batch {
				n.inFlight = false
				n.attempts++
				d := o.s.opts.OutboundRetryBase << min(n.attempts-1, 20)
				if d > o.s.opts.OutboundRetryMax || d <= 0 {
					d = o.s.opts.OutboundRetryMax
				}
				n.next = time.Now().Add(d)
				next = min(next, d)
			}
		}
		o.idle.Broadcast()
		o.mu.Unlock()
	}
	return next
}

// post delivers one message; it reports whether Salesforce would count it
// acknowledged: HTTP 200 with a notificationsResponse whose Ack is true.
func (o *outbound) post(url string, body []byte) bool {
	ctx, cancel := context.WithTimeout(o.s.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	req.Header.Set("User-Agent", "Salesforce Outbound Messaging (salesforcetest)")
	resp, err := o.client.Do(req)
	if err != nil {
		o.s.log.Info("salesforce sandbox: outbound message failed", "url", url, "err", err)
		return false
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return acked(data)
}

// acked reports whether a SOAP answer holds notificationsResponse/Ack true.
func acked(data []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(data))
	inResp, inAck := false, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "notificationsResponse":
				inResp = t.Name.Space == "http://soap.sforce.com/2005/09/outbound"
			case "Ack":
				inAck = inResp
			}
		case xml.CharData:
			if inAck {
				return strings.TrimSpace(string(t)) == "true"
			}
		case xml.EndElement:
			if t.Name.Local == "Ack" {
				inAck = false
			}
		}
	}
}

// envelope renders a notifications message with the records' latest data.
func (s *Server) envelope(cfg OutboundMessage, action string, batch []*notification) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` + "\n")
	b.WriteString(" <soapenv:Body>\n")
	b.WriteString(`  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">` + "\n")
	fmt.Fprintf(&b, "   <OrganizationId>%s</OrganizationId>\n", s.orgID)
	fmt.Fprintf(&b, "   <ActionId>%s</ActionId>\n", action)
	if cfg.SendSessionID {
		fmt.Fprintf(&b, "   <SessionId>%s</SessionId>\n", xmlEscape(s.newSession()))
	} else {
		b.WriteString("   <SessionId xsi:nil=\"true\"/>\n")
	}
	fmt.Fprintf(&b, "   <EnterpriseUrl>%s/services/Soap/c/63.0/%s</EnterpriseUrl>\n", xmlEscape(s.url), s.orgID[:15])
	fmt.Fprintf(&b, "   <PartnerUrl>%s/services/Soap/u/63.0/%s</PartnerUrl>\n", xmlEscape(s.url), s.orgID[:15])
	for _, n := range batch {
		r := s.byID(n.recordID)
		if r == nil {
			continue
		}
		b.WriteString("   <Notification>\n")
		fmt.Fprintf(&b, "    <Id>%s</Id>\n", n.id)
		fmt.Fprintf(&b, "    <sObject xsi:type=\"sf:%s\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n", r.obj.name)
		fmt.Fprintf(&b, "     <sf:Id>%s</sf:Id>\n", r.id)
		var fields []*Field
		if len(cfg.Fields) == 0 {
			for _, f := range r.obj.fields {
				if f.Name != "Id" && !f.Hidden {
					fields = append(fields, f)
				}
			}
		} else {
			for _, name := range cfg.Fields {
				if f := r.obj.field(name); f != nil && f.Name != "Id" {
					fields = append(fields, f)
				}
			}
		}
		for _, f := range fields {
			var v any
			if f.Name == "IsDeleted" {
				v = r.deleted
			} else {
				v = r.v[f.Name]
			}
			if v == nil {
				continue
			}
			text := textValue(f, v)
			if t, ok := v.(time.Time); ok && f.Type == TypeDateTime {
				text = t.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			fmt.Fprintf(&b, "     <sf:%s>%s</sf:%s>\n", f.Name, xmlEscape(text), f.Name)
		}
		b.WriteString("    </sObject>\n")
		b.WriteString("   </Notification>\n")
	}
	b.WriteString("  </notifications>\n")
	b.WriteString(" </soapenv:Body>\n")
	b.WriteString("</soapenv:Envelope>\n")
	return b.Bytes()
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
