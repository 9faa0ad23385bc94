package intake

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Directory finds the partner a sender belongs to by the domain of their
// e-mail address, as the rules match it: a partner's email_domains entry
// covers the domain itself and its sub-domains. It is safe for concurrent
// use, and Set swaps the partner list atomically (on a config reload).
type Directory struct {
	v atomic.Pointer[directory]
}

type directory struct {
	partners []rules.Partner
	byID     map[string]int
	byDomain map[string]int // normalised e-mail domain → partner index
}

// NewDirectory builds a directory of partners. Entries of email_domains
// that are not domains are skipped (the config loader reports them).
func NewDirectory(partners []rules.Partner) *Directory {
	d := &Directory{}
	d.Set(partners)
	return d
}

// Set replaces the partner list.
func (d *Directory) Set(partners []rules.Partner) {
	n := &directory{
		partners: append([]rules.Partner(nil), partners...),
		byID:     make(map[string]int, len(partners)),
		byDomain: map[string]int{},
	}
	for i, p := range n.partners {
		n.byID[p.ID] = i
		for _, dom := range p.EmailDomains {
			if h, err := registration.NormalizeDomain(dom); err == nil {
				if _, dup := n.byDomain[h]; !dup {
					n.byDomain[h] = i
				}
			}
		}
	}
	d.v.Store(n)
}

// ByID returns the partner with this id.
func (d *Directory) ByID(id string) (rules.Partner, bool) {
	n := d.v.Load()
	if n == nil {
		return rules.Partner{}, false
	}
	i, ok := n.byID[id]
	if !ok {
		return rules.Partner{}, false
	}
	return n.partners[i], true
}

// ForEmail returns the partner whose email_domains cover the domain of
// addr (a bare address or one with a display name; the display name is
// never looked at). The most specific entry wins: with partners on
// "globex.example" and "eu.globex.example", "a@eu.globex.example" belongs
// to the second. The error is a *FieldError on field, never repeating the
// address's local part.
func (d *Directory) ForEmail(field, addr string) (rules.Partner, error) {
	a, err := registration.ParseEmail(addr)
	if err != nil {
		return rules.Partner{}, Refuse(field, "not a valid e-mail address")
	}
	dom := a[strings.LastIndexByte(a, '@')+1:]
	if p, ok := d.ForDomain(dom); ok {
		return p, nil
	}
	return rules.Partner{}, Refuse(field, fmt.Sprintf("%s is not the e-mail domain of a partner in our program", dom))
}

// ForDomain returns the partner whose email_domains cover a normalised
// host name (itself or a parent domain).
func (d *Directory) ForDomain(host string) (rules.Partner, bool) {
	n := d.v.Load()
	if n == nil || host == "" {
		return rules.Partner{}, false
	}
	for h := host; ; {
		if i, ok := n.byDomain[h]; ok {
			return n.partners[i], true
		}
		dot := strings.IndexByte(h, '.')
		if dot < 0 {
			return rules.Partner{}, false
		}
		h = h[dot+1:]
	}
}

// Len is the number of partners.
func (d *Directory) Len() int {
	if n := d.v.Load(); n != nil {
		return len(n.partners)
	}
	return 0
}
