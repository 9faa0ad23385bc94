package webform

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket per key: perHour submissions sustained, burst
// at once. It holds at most maxClients buckets; full (idle) buckets are
// dropped first. The form has three: per client (clientKey), per submitter
// address and per partner.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxClients = 100_000

// newLimiter returns the bucket set, or nil (no limit) when perHour is 0.
func newLimiter(perHour, burst int, now func() time.Time) *limiter {
	if perHour <= 0 {
		return nil
	}
	b := burst
	if b <= 0 {
		b = 1
	}
	return &limiter{rate: float64(perHour) / 3600, burst: float64(b), buckets: map[string]*bucket{}, now: now}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxClients {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// refund gives back a token allow took, for a submission that did not
// go through after all (the CRM failed).
func (l *limiter) refund(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// sweep drops buckets that have refilled; if none has, half of them.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxClients {
		n := 0
		for k := range l.buckets {
			if n%2 == 0 {
				delete(l.buckets, k)
			}
			n++
		}
	}
}

// clientKey is the rate-limit key of a client address: an IPv4 address
// itself, an IPv6 address its /64. One subscriber gets at least a /64
// (RFC 6177) and may use any address in it, so counting /128s would give a
// single client 2^64 buckets.
func clientKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// clientIP is the submitter's address: the connection's peer, or — when
// the peer is a trusted proxy — the right-most address of X-Forwarded-For
// that is not a trusted proxy itself. X-Forwarded-For from anyone else is
// ignored (a client can write anything in it).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed hop: trust nothing to its left
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return peer
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
