package hubspot

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/registration"
)

// ownerCache maps owners' e-mail addresses to HubSpot owner ids.
type ownerCache struct {
	mu      sync.Mutex
	load    sync.Mutex
	byEmail map[string]string
	ids     map[string]bool
	loaded  time.Time // last full load
	warned  map[string]bool
}

const (
	ownerTTL      = time.Hour
	ownerMissWait = 5 * time.Minute // a miss reloads at most this often
)

// ownerID resolves a task's owner reference: digits are an owner id;
// an e-mail address is looked up in the portal's owners (listed once and
// cached for an hour; an unknown address reloads at most every five
// minutes). Anything else, or an unknown address, is "" (unassigned).
func (c *Client) ownerID(ctx context.Context, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	if allDigits(ref) {
		return c.checkOwnerID(ctx, ref)
	}
	email, err := registration.ParseEmail(ref)
	if err != nil {
		c.warnOwner(ref, "not a HubSpot owner id nor an e-mail address")
		return ""
	}
	email = strings.ToLower(email)
	oc := &c.owners
	oc.mu.Lock()
	id, ok := oc.byEmail[email]
	age := c.now().Sub(oc.loaded)
	oc.mu.Unlock()
	if ok && age < ownerTTL {
		return id
	}
	if ok || age >= ownerMissWait || oc.loaded.IsZero() {
		c.loadOwners(ctx)
		oc.mu.Lock()
		id, ok = oc.byEmail[email]
		oc.mu.Unlock()
	}
	if !ok {
		c.warnOwner(registration.MaskEmail(email), "no HubSpot owner has this e-mail address")
	}
	return id
}

func (c *Client) warnOwner(ref, why string) {
	oc := &c.owners
	oc.mu.Lock()
	if oc.warned == nil {
		oc.warned = map[string]bool{}
	}
	first := !oc.warned[ref]
	oc.warned[ref] = true
	oc.mu.Unlock()
	if first {
		c.log.Warn("hubspot: task owner not found; the task stays unassigned", "owner", ref, "why", why)
	}
}

type ownersAnswer struct {
	Results []struct {
		ID       string `json:"id"`
		Email    string `json:"email"`
		Archived bool   `json:"archived"`
	} `json:"results"`
	Paging paging `json:"paging"`
}

// loadOwners lists the portal's owners (500 a page). Concurrent callers
// share one load.
func (c *Client) loadOwners(ctx context.Context) {
	oc := &c.owners
	oc.load.Lock()
	defer oc.load.Unlock()
	oc.mu.Lock()
	recent := !oc.loaded.IsZero() && c.now().Sub(oc.loaded) < time.Second
	oc.mu.Unlock()
	if recent {
		return // another caller just loaded them
	}
	m := map[string]string{}
	ids := map[string]bool{}
	after := ""
	for {
		q := url.Values{"limit": {"500"}, "archived": {"false"}}
		if after != "" {
			q.Set("after", after)
		}
		var ans ownersAnswer
		if err := c.get(ctx, "owners", "/crm/v3/owners", q, &ans); err != nil {
			c.log.Warn("hubspot: cannot list owners; tasks by owner e-mail stay unassigned", "err", err)
			oc.mu.Lock()
			oc.loaded = c.now() // do not retry at once
			oc.mu.Unlock()
			return
		}
		for _, o := range ans.Results {
			if o.Archived {
				continue
			}
			ids[o.ID] = true
			if o.Email != "" {
				m[strings.ToLower(o.Email)] = o.ID
			}
		}
		next := ans.Paging.Next.After
		if next == "" || next == after {
			break
		}
		after = next
	}
	oc.mu.Lock()
	oc.byEmail, oc.ids, oc.loaded = m, ids, c.now()
	oc.mu.Unlock()
}

// checkOwnerID keeps a numeric owner reference when the portal has that
// owner (HubSpot refuses a whole task batch for one unknown owner id). If
// the owners cannot be listed, the id is used as given.
func (c *Client) checkOwnerID(ctx context.Context, id string) string {
	oc := &c.owners
	oc.mu.Lock()
	known, age, loaded := oc.ids[id], c.now().Sub(oc.loaded), oc.ids != nil
	oc.mu.Unlock()
	if known && age < ownerTTL {
		return id
	}
	if !loaded || age >= ownerMissWait {
		c.loadOwners(ctx)
		oc.mu.Lock()
		known, loaded = oc.ids[id], oc.ids != nil
		oc.mu.Unlock()
	}
	if !loaded || known {
		return id
	}
	c.warnOwner(id, "no HubSpot owner has this id")
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
