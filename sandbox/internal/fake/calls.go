package fake

import (
	"maps"
	"sync"
)

// Calls counts the requests a fake receives, by route, for tests and the
// sandbox's call counts: what a client costs against the CRM's limits.
// The zero Calls is ready to count.
type Calls struct {
	mu      sync.Mutex
	byRoute map[string]int
	total   int
	limited int
}

// Count counts an API request on route, in its route and in Total.
func (c *Calls) Count(route string) {
	c.mu.Lock()
	c.add(route)
	c.total++
	c.mu.Unlock()
}

// CountRoute counts a request on route in its route only (Salesforce's token
// requests are not API calls).
func (c *Calls) CountRoute(route string) {
	c.mu.Lock()
	c.add(route)
	c.mu.Unlock()
}

func (c *Calls) add(route string) {
	if c.byRoute == nil {
		c.byRoute = map[string]int{}
	}
	c.byRoute[route]++
}

// CountLimited counts a request refused for the CRM's rate limits.
func (c *Calls) CountLimited() {
	c.mu.Lock()
	c.limited++
	c.mu.Unlock()
}

// Counts is what Calls counted.
type Counts struct {
	ByRoute map[string]int // every request counted, by route
	Total   int            // the API requests
	Limited int            // the requests refused for rate limits
}

// Counts returns a copy of the counts.
func (c *Calls) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.byRoute))
	maps.Copy(m, c.byRoute)
	return Counts{ByRoute: m, Total: c.total, Limited: c.limited}
}

// Reset zeroes every count.
func (c *Calls) Reset() {
	c.mu.Lock()
	c.byRoute, c.total, c.limited = nil, 0, 0
	c.mu.Unlock()
}
