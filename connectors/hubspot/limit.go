package hubspot

import (
	"context"
	"sync"
	"time"
)

// window is a client-side rolling-window limiter: at most limit calls in
// any span. A call holds its slot from the moment it starts until span
// after its response arrived, so whichever instant HubSpot counts a
// request at (between the two), no window HubSpot looks at ever holds
// more than limit of them.
//
// It runs on the real clock: it paces real network calls.
type window struct {
	mu       sync.Mutex
	limit    int
	span     time.Duration
	expiries []time.Time // slots of finished calls, free at these instants
	inflight int
	paused   time.Time // no call starts before this
	seq      uint64    // calls started so far
	wake     chan struct{}
}

func newWindow(limit int, span time.Duration) *window {
	return &window{limit: limit, span: span, wake: make(chan struct{})}
}

// acquire blocks until a slot is free (or ctx ends) and takes it. It
// returns the number of slots left free and the start sequence number,
// which observe uses to compare with what HubSpot reports.
func (w *window) acquire(ctx context.Context) (free int, seq uint64, err error) {
	for {
		w.mu.Lock()
		now := time.Now()
		w.prune(now)
		var wait time.Duration
		switch {
		case now.Before(w.paused):
			wait = w.paused.Sub(now)
		case w.inflight+len(w.expiries) < w.limit:
			w.inflight++
			w.seq++
			free, seq = w.limit-w.inflight-len(w.expiries), w.seq
			w.mu.Unlock()
			return free, seq, nil
		case len(w.expiries) > 0:
			first := w.expiries[0]
			for _, e := range w.expiries[1:] {
				if e.Before(first) {
					first = e
				}
			}
			wait = first.Sub(now)
		default:
			wait = w.span // every slot in flight: woken by release
		}
		wake := w.wake
		w.mu.Unlock()
		if wait <= 0 {
			wait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, 0, ctx.Err()
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// release frees the slot taken by acquire once span has passed.
func (w *window) release() {
	w.mu.Lock()
	w.inflight--
	w.expiries = append(w.expiries, time.Now().Add(w.span))
	w.notify()
	w.mu.Unlock()
}

// pause stops new calls for d (a 429 said the window is full).
func (w *window) pause(d time.Duration) {
	w.mu.Lock()
	if until := time.Now().Add(d); until.After(w.paused) {
		w.paused = until
	}
	w.mu.Unlock()
}

// observe reconciles the limiter with HubSpot's view after a call that
// started with free slots left and sequence seq: when HubSpot reports
// fewer remaining calls than the limiter believed (another client on the
// same account, a restart), the difference is held for a full span, so
// the client slows down before HubSpot answers 429. max, when reported
// and lower than the limit, lowers it.
func (w *window) observe(free int, seq uint64, remaining, max int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if max > 0 && max < w.limit {
		w.limit = max
	}
	if remaining < 0 {
		return
	}
	// Calls started after this one may or may not have been counted by
	// HubSpot when it answered: give them the benefit of the doubt.
	deficit := free - remaining - int(w.seq-seq)
	if deficit <= 0 {
		return
	}
	until := time.Now().Add(w.span)
	for range deficit {
		w.expiries = append(w.expiries, until)
	}
}

func (w *window) prune(now time.Time) {
	n := 0
	for _, e := range w.expiries {
		if e.After(now) {
			w.expiries[n] = e
			n++
		}
	}
	if n < len(w.expiries) {
		w.expiries = w.expiries[:n]
		w.notify()
	}
}

func (w *window) notify() {
	close(w.wake)
	w.wake = make(chan struct{})
}
