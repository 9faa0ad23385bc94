package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
)

// windowCalls splits the fake's call counter into searches (their own
// per-second limit) and the calls HubSpot counts in the 10-second window.
func windowCalls(s *hubspottest.Server) (window, search int) {
	for k, v := range s.Calls() {
		if strings.HasSuffix(k, "/search") {
			search += v
		} else {
			window += v
		}
	}
	return window, search
}

// TestSustainedRate runs 20,000 registrations through the client against a
// fake limited to 100 calls per 10 s (and 5 searches per second): intake
// creates them in batches of ten as submissions trickle in, and two
// workers poll the change feed, read, gather facts, write decisions, link
// companies and write audit notes. It measures a 60-second steady-state
// window, after a 10-second warm-up (the whole flow would take half an
// hour at this rate), and requires at least 90 window calls per 10 s by
// the fake's own counter and no 429.
//
// It takes about 75 s of real time: skipped with -short.
func TestSustainedRate(t *testing.T) {
	if testing.Short() {
		t.Skip("75 s of real time at 100 calls per 10 s")
	}
	s := fake(t, hubspottest.Options{Seed: hubspottest.DefaultSeed, PerTenSeconds: 100, SearchPerSecond: 5})
	c := client(t, s, nil)
	setup(t, c)
	const total = 20000
	const warmup, window = 10 * time.Second, 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), warmup+window+30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	fail := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			select {
			case errc <- err:
			default:
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	subs := newSubmissions(rng, 1, total, seedDomains(s))
	// Intake.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lo := 0; lo < total && ctx.Err() == nil; lo += 10 {
			res, err := c.Write(ctx, subs[lo:min(lo+10, total)])
			if err != nil {
				fail(fmt.Errorf("intake: %w", err))
				return
			}
			for _, r := range res {
				if r.Err != nil {
					fail(fmt.Errorf("intake record: %w", r.Err))
					return
				}
			}
		}
	}()
	// Workers share one change feed.
	var feedMu sync.Mutex
	cursor := ""
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				feedMu.Lock()
				ids, next, err := c.Changed(ctx, cursor)
				if err == nil {
					cursor = next
				}
				feedMu.Unlock()
				if err != nil {
					fail(fmt.Errorf("worker %d poll: %w", w, err))
					return
				}
				if len(ids) == 0 {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				for lo := 0; lo < len(ids) && ctx.Err() == nil; lo += 500 {
					if err := cycle(ctx, c, ids[lo:min(lo+500, len(ids))]); err != nil {
						fail(fmt.Errorf("worker %d: %w", w, err))
						return
					}
				}
			}
		}()
	}

	time.Sleep(warmup)
	w0, s0 := windowCalls(s)
	start := time.Now()
	time.Sleep(window)
	w1, s1 := windowCalls(s)
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	per10 := float64(w1-w0) / elapsed.Seconds() * 10
	search := float64(s1-s0) / elapsed.Seconds()
	t.Logf("steady state over %s: %.1f window calls per 10 s, %.2f searches per s, %d answers 429 (fake); client: %d rate-limited",
		elapsed.Round(time.Second), per10, search, s.Count429(), c.Usage().RateLimited)
	if per10 < 90 {
		t.Errorf("%.1f window calls per 10 s, want at least 90", per10)
	}
	if per10 > 100.5 {
		t.Errorf("%.1f window calls per 10 s: above HubSpot's 100", per10)
	}
	if n := s.Count429(); n != 0 || c.Usage().RateLimited != 0 {
		t.Errorf("%d answers 429 (client saw %d)", n, c.Usage().RateLimited)
	}
}

// cycle is one worker pass over ids.
func cycle(ctx context.Context, c interface {
	Registrations(context.Context, []string) ([]registration.Record, error)
	Facts(context.Context, []registration.Record) ([]registration.Facts, error)
	Write(context.Context, []connectors.Update) ([]connectors.Result, error)
	Link(context.Context, []connectors.Link) error
	Note(context.Context, []connectors.Note) error
}, ids []string) error {
	recs, err := c.Registrations(ctx, ids)
	if err != nil {
		return err
	}
	var todo []registration.Record
	for _, r := range recs {
		if r.Status == registration.StatusSubmitted {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	facts, err := c.Facts(ctx, todo)
	if err != nil {
		return err
	}
	var ups []connectors.Update
	var links []connectors.Link
	var notes []connectors.Note
	for i, r := range todo {
		status := registration.StatusApproved
		if len(facts[i].OpenDeals) > 0 {
			status = registration.StatusDeclined
		}
		ups = append(ups, connectors.Update{ID: r.ID, Fields: map[string]string{"status": string(status), "decided_at": time.Now().UTC().Format(time.RFC3339)}})
		if facts[i].Company != nil {
			links = append(links, connectors.Link{RegistrationID: r.ID, CompanyID: facts[i].Company.ID})
		}
		notes = append(notes, connectors.Note{RegistrationID: r.ID, Body: "decided " + string(status)})
	}
	if _, err := c.Write(ctx, ups); err != nil {
		return err
	}
	if err := c.Link(ctx, links); err != nil {
		return err
	}
	return c.Note(ctx, notes)
}
