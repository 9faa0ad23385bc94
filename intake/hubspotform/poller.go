package hubspotform

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors/hubspot"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// Source reads a form's submissions, newest first, a page at a time
// (*hubspot.Client is one).
type Source interface {
	FormSubmissions(ctx context.Context, formGUID, after string) ([]hubspot.FormSubmission, string, error)
}

// Cursors keeps each form's cursor (the daemon keeps them in its state
// file, under a key it derives from the form guid).
type Cursors interface {
	// Cursor returns the stored cursor ("" when none).
	Cursor(ctx context.Context, formGUID string) (string, error)
	SetCursor(ctx context.Context, formGUID, cursor string) error
}

// Options configure the poller.
type Options struct {
	Config    intake.HubSpotFormConfig
	Source    Source
	Cursors   Cursors
	Registrar intake.Registrar
	// Partners names each submission's partner and knows their e-mail
	// domains (a contact there is refused); nil: neither.
	Partners *intake.Directory
	FreeMail *registration.FreeMail
	Logger   *slog.Logger
	// MaxPages bounds the pages (of 50) one poll reads per form; default
	// 200. When a poll stops there before reaching its cursor (more than
	// 10,000 new submissions, or a form's first poll), the older
	// submissions it did not read are not registered, and it logs so.
	MaxPages int
}

// Poller polls the configured forms.
type Poller struct {
	o      Options
	funnel *intake.Funnel
}

// NewPoller returns the poller.
func NewPoller(o Options) *Poller {
	o.Logger = intake.QuietIfNil(o.Logger)
	if o.MaxPages <= 0 {
		o.MaxPages = 200
	}
	return &Poller{o: o, funnel: intake.NewFunnel(o.Registrar, o.Partners, o.FreeMail)}
}

// Result counts what one poll of one form did.
type Result struct {
	Read       int // submissions newer than the cursor
	Registered int
	Skipped    int // could not be registrations (no partner …)
	Errors     int // refused by the CRM one by one
	Calls      int // FormSubmissions calls
	Truncated  bool
}

// Run polls every poll_interval until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Config.PollInterval)
	defer t.Stop()
	for {
		for _, f := range p.o.Config.Forms {
			if res, err := p.PollForm(ctx, f); err != nil && ctx.Err() == nil {
				p.o.Logger.Warn("hubspot form poll failed", "form", f.GUID, "err", err)
			} else if res.Read > 0 {
				p.o.Logger.Info("hubspot form poll", "form", f.GUID, "read", res.Read, "registered", res.Registered, "skipped", res.Skipped, "errors", res.Errors)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// cursor is where a form's processing stands: the time (Unix ms) of the
// newest submission processed and the conversion ids processed at that
// very millisecond. Written "ms:id,id".
type cursor struct {
	ms  int64
	ids []string
}

func parseCursor(s string) cursor {
	ms, ids, _ := strings.Cut(s, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return cursor{}
	}
	c := cursor{ms: n}
	if ids != "" {
		c.ids = strings.Split(ids, ",")
	}
	return c
}

func (c cursor) String() string { return strconv.FormatInt(c.ms, 10) + ":" + strings.Join(c.ids, ",") }

func (c cursor) newer(s hubspot.FormSubmission) bool {
	ms := s.SubmittedAt.UnixMilli()
	return ms > c.ms || (ms == c.ms && !slices.Contains(c.ids, s.ConversionID))
}

// advance moves the cursor past a processed submission (they come oldest
// first).
func (c cursor) advance(s hubspot.FormSubmission) cursor {
	ms := s.SubmittedAt.UnixMilli()
	switch {
	case ms > c.ms:
		return cursor{ms: ms, ids: []string{s.ConversionID}}
	case ms == c.ms && !slices.Contains(c.ids, s.ConversionID):
		return cursor{ms: ms, ids: append(slices.Clone(c.ids), s.ConversionID)}
	}
	return c
}

// PollForm reads the form's submissions newer than its cursor, newest
// first page by page until it reaches the cursor, then registers them
// oldest first in batches of up to 100, moving the cursor after each batch
// the Registrar took. A submission that cannot be a registration is
// skipped (and logged with the reason); a failed Register call stops the
// poll with the cursor before that batch, so the next poll retries it (the
// keys make a retry harmless).
func (p *Poller) PollForm(ctx context.Context, form intake.HubSpotForm) (Result, error) {
	var res Result
	raw, err := p.o.Cursors.Cursor(ctx, form.GUID)
	if err != nil {
		return res, fmt.Errorf("hubspot form %s: read cursor: %w", form.GUID, err)
	}
	cur := parseCursor(raw)
	var fresh []hubspot.FormSubmission
	after := ""
	for page := 0; ; page++ {
		if page == p.o.MaxPages {
			res.Truncated = true
			p.o.Logger.Warn("hubspot form poll stopped before its cursor: older submissions are not registered", "form", form.GUID, "pages", page)
			break
		}
		subs, next, err := p.o.Source.FormSubmissions(ctx, form.GUID, after)
		res.Calls++
		if err != nil {
			return res, err
		}
		reached := false
		for _, s := range subs {
			if !cur.newer(s) {
				reached = true
				continue
			}
			fresh = append(fresh, s)
		}
		if reached || next == "" {
			break
		}
		after = next
	}
	res.Read = len(fresh)
	slices.SortStableFunc(fresh, func(a, b hubspot.FormSubmission) int { return a.SubmittedAt.Compare(b.SubmittedAt) })
	for len(fresh) > 0 {
		n := min(len(fresh), 100)
		batch := fresh[:n]
		fresh = fresh[n:]
		var subs []intake.Submission
		for _, s := range batch {
			m, err := Map(form, s, p.funnel)
			if err != nil {
				res.Skipped++
				p.o.Logger.Info("hubspot form submission skipped", "form", form.GUID, "conversion", s.ConversionID, "reason", err.Error())
				continue
			}
			for _, pr := range m.Problems {
				// Left blank: the rules ask the partner for it.
				p.o.Logger.Info("hubspot form submission value left out", "form", form.GUID, "conversion", s.ConversionID, "field", pr.Field, "reason", pr.Reason)
			}
			subs = append(subs, m.Submission)
		}
		if len(subs) > 0 {
			rcs, err := p.funnel.Register(ctx, subs)
			if err != nil {
				return res, fmt.Errorf("hubspot form %s: register %d submissions: %w", form.GUID, len(subs), err)
			}
			for _, rc := range rcs {
				if rc.Err != nil {
					res.Errors++
					p.o.Logger.Warn("hubspot form submission refused by the CRM", "form", form.GUID, "case", rc.CaseNumber, "err", rc.Err)
				} else {
					res.Registered++
				}
			}
		}
		for _, s := range batch {
			cur = cur.advance(s)
		}
		if err := p.o.Cursors.SetCursor(ctx, form.GUID, cur.String()); err != nil {
			return res, fmt.Errorf("hubspot form %s: store cursor: %w", form.GUID, err)
		}
	}
	return res, nil
}
