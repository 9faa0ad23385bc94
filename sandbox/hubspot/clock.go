package hubspot

import (
	"sync"
	"time"
)

// Clock is a settable clock for Options.Clock. It stands still unless
// moved, so thousands of records written through it share one
// hs_lastmodifieddate. The zero Clock shows the zero time until Set;
// hubspottest.NewClock starts one at a time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}
