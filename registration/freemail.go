package registration

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"
)

//go:embed freemail_domains.txt
var freeMailData string

// FreeMail answers whether a domain is a free-mail / webmail provider.
//
// It holds a set of domains (the embedded list plus extra ones) and a set of
// allowed domains that are never free-mail. A nil *FreeMail, and the zero
// FreeMail, use the embedded list alone. A FreeMail is read-only once built
// and safe for concurrent use.
type FreeMail struct {
	free  map[string]struct{}
	allow map[string]struct{}
}

// parseFreeMailList reads the embedded list's format: one domain a line,
// text after "#" ignored.
func parseFreeMailList(data string) []string {
	var out []string
	for line := range strings.Lines(data) {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

var defaultFreeMail = sync.OnceValue(func() *FreeMail {
	f := &FreeMail{free: map[string]struct{}{}, allow: map[string]struct{}{}}
	f.add(parseFreeMailList(freeMailData))
	return f
})

// add normalises and adds entries, skipping the unusable ones.
func (f *FreeMail) add(entries []string) {
	for _, e := range entries {
		if d, err := freeMailEntry(e); err == nil {
			f.free[d] = struct{}{}
		}
	}
}

// freeMailEntry normalises a list entry, which must be a registrable domain
// or a sub-domain of one.
func freeMailEntry(e string) (string, error) {
	d, err := NormalizeDomain(e)
	if err != nil {
		return "", err
	}
	if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
		return "", fmt.Errorf("%w: %q is a public suffix, not a registrable domain", ErrInvalidDomain, d)
	}
	return d, nil
}

// NewFreeMail returns the embedded list plus extra minus allow. Entries are
// normalised with NormalizeDomain, so "GMail.com", "@gmail.com" and
// "https://gmail.com/" are all "gmail.com"; entries that are not valid
// domains are ignored (check configuration with ValidateFreeMailEntries
// first; public suffixes such as "co.uk" are ignored too). An allowed domain
// also overrides a listed parent domain for itself and its sub-domains (see
// IsFree).
func NewFreeMail(extra, allow []string) *FreeMail {
	d := defaultFreeMail()
	f := &FreeMail{
		free:  make(map[string]struct{}, len(d.free)+len(extra)),
		allow: make(map[string]struct{}, len(allow)),
	}
	for k := range d.free {
		f.free[k] = struct{}{}
	}
	f.add(extra)
	for _, e := range allow {
		if a, err := freeMailEntry(e); err == nil {
			f.allow[a] = struct{}{}
			delete(f.free, a)
		}
	}
	return f
}

// ValidateFreeMailEntries reports the first entry that is not a valid domain
// (see NormalizeDomain) or that is a public suffix such as "co.uk" or
// "github.io" (which IsFree could never match), naming it and its position.
// It returns nil for a list (even an empty one) whose entries are all usable.
func ValidateFreeMailEntries(entries []string) error {
	for i, e := range entries {
		if _, err := freeMailEntry(e); err != nil {
			return fmt.Errorf("free-mail entry %d %q: %w", i+1, clip(e), err)
		}
	}
	return nil
}

func (f *FreeMail) orDefault() *FreeMail {
	if f == nil || f.free == nil {
		return defaultFreeMail()
	}
	return f
}

// IsFree reports whether domain belongs to a free-mail provider. The domain
// may be un-normalised: "GMail.com", "https://www.gmail.com/" and
// "jane@gmail.com" all count as "gmail.com"; text that is not a valid domain
// is not free-mail.
//
// IsFree looks at the host and then at each parent domain up to and
// including the registrable domain (eTLD+1); the first of them that is
// allowed makes the answer false, the first that is listed makes it true. So
// "mail.yahoo.co.uk" is free because "yahoo.co.uk" is listed, while a listed
// "gmail.com" says nothing about "gmail.com.evil.example" or "notgmail.com";
// and allowing "corp.gmail.com" exempts it and its sub-domains but not
// "gmail.com".
//
// For a normalised lower-case ASCII domain IsFree does not allocate, except
// for one public-suffix lookup when a parent domain, not the host itself, is
// listed or allowed.
func (f *FreeMail) IsFree(domain string) bool {
	n, err := NormalizeDomain(domain)
	if err != nil {
		return false
	}
	return f.IsFreeHost(n)
}

// IsFreeHost is IsFree for a host already normalised by NormalizeDomain
// (callers that normalised it anyway skip doing it twice).
func (f *FreeMail) IsFreeHost(n string) bool {
	f = f.orDefault()
	if n == "" {
		return false
	}
	// Find the most specific listed or allowed name among the host and its
	// parents; only when that is a parent does the public suffix list need
	// asking (which allocates) whether it lies within the registrable domain.
	for d := n; ; {
		_, allowed := f.allow[d]
		_, free := f.free[d]
		if allowed || free {
			if d != n {
				reg, err := publicsuffix.EffectiveTLDPlusOne(n)
				if err != nil || len(d) < len(reg) {
					return false
				}
			}
			return free && !allowed
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

// Domains returns the domains f treats as free-mail (allowed ones removed),
// sorted.
func (f *FreeMail) Domains() []string {
	f = f.orDefault()
	out := make([]string, 0, len(f.free))
	for d := range f.free {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
