package crmhttp

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/regsync/regsync/registration"
)

// Scrubber removes credentials and full e-mail addresses from text that may
// reach an error or a log line: every secret it knows becomes <secret>
// (also in its URL- and form-encoded shape), every e-mail address is masked
// (registration.MaskEmail). The zero value knows no secret; it is safe for
// concurrent use.
type Scrubber struct {
	mu      sync.RWMutex
	secrets []string
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-']+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`)

// NewScrubber returns a Scrubber that knows secrets.
func NewScrubber(secrets ...string) *Scrubber {
	s := &Scrubber{}
	s.Add(secrets...)
	return s
}

// Add registers more secrets (access tokens as a login or a refresh
// obtains them). Values shorter than 4 characters are ignored: replacing
// them would garble text without protecting anything.
func (s *Scrubber) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if len(v) >= 4 && !slices.Contains(s.secrets, v) {
			s.secrets = append(s.secrets, v)
			if q := url.QueryEscape(v); q != v {
				s.secrets = append(s.secrets, q)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
}

// String returns text with every secret replaced by <secret> and every
// e-mail address masked. A nil Scrubber knows no secret.
func (s *Scrubber) String(text string) string {
	if s != nil {
		s.mu.RLock()
		for _, v := range s.secrets {
			if strings.Contains(text, v) {
				text = strings.ReplaceAll(text, v, "<secret>")
			}
		}
		s.mu.RUnlock()
	}
	if strings.IndexByte(text, '@') >= 0 {
		text = emailRE.ReplaceAllStringFunc(text, registration.MaskEmail)
	}
	return text
}

// Logger returns l with every message and attribute scrubbed before it
// reaches l's handler: a last line of defence, so that no token, client
// secret or full address reaches a log even by mistake.
func (s *Scrubber) Logger(l *slog.Logger) *slog.Logger {
	return slog.New(&scrubHandler{h: l.Handler(), s: s})
}

type scrubHandler struct {
	h slog.Handler
	s *Scrubber
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	n := slog.NewRecord(r.Time, r.Level, h.s.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		n.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, n)
}

func (h *scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &scrubHandler{h: h.h.WithAttrs(out), s: h.s}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{h: h.h.WithGroup(name), s: h.s}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = h.attr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.s.String(err.Error()))
		}
		return slog.String(a.Key, h.s.String(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Clip cuts s to at most n bytes, on a character boundary, marking a cut
// with "…".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
