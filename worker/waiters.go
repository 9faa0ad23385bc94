package worker

import (
	"context"
	"sync"
	"time"
)

// waiters are the intake channels waiting to show a partner the decision
// of a registration they just created. While a channel waits, the decision
// is its to tell: the status e-mail of that first decision is not sent
// (the partner would hear it twice). A channel that stops waiting before
// the decision came has answered "received, the decision follows": the
// e-mail then goes out as for any other decision.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waiter // case number →
}

type waiter struct {
	until time.Time // real clock
	done  chan struct{}
	out   Outcome
	got   bool
}

// expect registers interest in the first decision of these case numbers
// until the given instant (real clock).
func (ws *waiters) expect(until time.Time, cases ...string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[string]*waiter{}
	}
	now := time.Now()
	for c, w := range ws.m {
		if now.After(w.until.Add(time.Minute)) {
			delete(ws.m, c) // nobody came for it
		}
	}
	for _, c := range cases {
		if c != "" {
			ws.m[c] = &waiter{until: until, done: make(chan struct{})}
		}
	}
}

// deliver hands a decision to a channel still waiting for it, and reports
// whether one was (the decision is then the channel's to tell).
func (ws *waiters) deliver(caseNumber string, o Outcome) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.m[caseNumber]
	if w == nil || w.got || time.Now().After(w.until) {
		return false
	}
	w.out, w.got = o, true
	close(w.done)
	return true
}

// wait waits for the decisions of these case numbers until the instant
// given to expect (or ctx ends), forgets them, and returns those that came.
func (ws *waiters) wait(ctx context.Context, cases []string) map[string]Outcome {
	out := map[string]Outcome{}
	for _, c := range cases {
		ws.mu.Lock()
		w := ws.m[c]
		ws.mu.Unlock()
		if w == nil {
			continue
		}
		t := time.NewTimer(time.Until(w.until))
		select {
		case <-w.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		ws.mu.Lock()
		if w.got {
			out[c] = w.out
		} else {
			w.until = time.Time{} // too late now: a decision from here on is e-mailed
		}
		delete(ws.m, c)
		ws.mu.Unlock()
	}
	return out
}

// seenSince remembers when this process first read each record, on the
// real clock (for the wait of an approval on a CRM that keeps whole
// seconds: see gate). Entries older than a minute are forgotten.
type seenSince struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *seenSince) note(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.at == nil {
		s.at = map[string]time.Time{}
	}
	if len(s.at) > 10000 {
		for id, t := range s.at {
			if now.Sub(t) > time.Minute {
				delete(s.at, id)
			}
		}
	}
	for _, id := range ids {
		if _, ok := s.at[id]; !ok {
			s.at[id] = now
		}
	}
}

// first is when id was first read (now if never).
func (s *seenSince) first(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.at[id]; ok {
		return t
	}
	return time.Now()
}
