package worker

import (
	"context"
	"slices"
	"sync"
)

// recordLocks serialises the work on one record across the paths that
// reach it at once — an inbox batch of registrations, a Transition from
// attribution running in another batch — so that a plan is never resumed
// by one while the other is still carrying it out (its side effects would
// run twice). The inbox alone cannot see to it: attribution works on the
// registrations of a deal's item, not on their own items.
type recordLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when released
}

// lock takes the locks of keys, in sorted order (two batches never wait
// for each other in a cycle), and returns the function that releases them.
// It fails only when ctx ends first, having released what it took.
func (l *recordLocks) lock(ctx context.Context, keys []string) (func(), error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var mine []chan struct{}
	release := func() {
		l.mu.Lock()
		for i, ch := range mine {
			delete(l.held, keys[i])
			close(ch)
		}
		l.mu.Unlock()
	}
	for _, k := range keys {
		for {
			l.mu.Lock()
			if l.held == nil {
				l.held = map[string]chan struct{}{}
			}
			busy, ok := l.held[k]
			if !ok {
				ch := make(chan struct{})
				l.held[k] = ch
				mine = append(mine, ch)
				l.mu.Unlock()
				break
			}
			l.mu.Unlock()
			select {
			case <-busy:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}

// lockRecords takes the locks of the registrations with these CRM ids.
func (e *Engine) lockRecords(ctx context.Context, ids []string) (func(), error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = e.Key(id)
	}
	return e.locks.lock(ctx, keys)
}
