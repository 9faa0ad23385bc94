package fake

import (
	"context"
	"time"
)

// Delay holds an answer for d, as a slow CRM would. It reports false when
// the request or the fake (done) ended first: the handler then answers
// nothing.
func Delay(r context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Done():
		return false
	case <-done:
		return false
	}
}
