package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecordLocksSerialiseOneRecord: paths working on overlapping records
// never hold one at once, never deadlock whatever the order of their keys,
// and a waiter gives up when its context ends, holding nothing.
func TestRecordLocksSerialiseOneRecord(t *testing.T) {
	var l recordLocks
	var inside [3]atomic.Int32
	var wg sync.WaitGroup
	sets := [][]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"a"}, {"c", "b", "a", "a"}}
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := sets[g%len(sets)]
			unlock, err := l.lock(context.Background(), keys)
			keys = slices.Compact(slices.Sorted(slices.Values(keys)))
			if err != nil {
				t.Error(err)
				return
			}
			for _, k := range keys {
				if n := inside[k[0]-'a'].Add(1); n != 1 {
					t.Errorf("%d holders of %s", n, k)
				}
			}
			time.Sleep(time.Millisecond)
			for _, k := range keys {
				inside[k[0]-'a'].Add(-1)
			}
			unlock()
		}()
	}
	wg.Wait()

	unlock, err := l.lock(context.Background(), []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, []string{"w", "y"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held record: %v", err)
	}
	// The waiter released w as it gave up.
	u2, err := l.lock(context.Background(), []string{"w"})
	if err != nil {
		t.Fatal(err)
	}
	u2()
	unlock()
	if len(l.held) != 0 {
		t.Errorf("locks left held: %v", l.held)
	}
}
