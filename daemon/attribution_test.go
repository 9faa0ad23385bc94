package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitStatus waits until a registration reaches a status.
func (h *harness) waitStatus(id, status string, within time.Duration) map[string]string {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := h.get(id)
		if p["status"] == status {
			return p
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("registration %s not %s within %s: status %q (%s)", id, status, within, p["status"], p["status_reason"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outboxWith lists the outbox messages whose text holds every one of
// the strings.
func (h *harness) outboxWith(strs ...string) []string {
	h.t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.dir, "outbox", "*.eml"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		text := decodeEML(b)
		all := true
		for _, s := range strs {
			all = all && strings.Contains(text, s)
		}
		if all {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}

// decodeEML renders a message as its decoded headers and the decoded text
// of its parts, so tests can look for what a reader sees.
func decodeEML(b []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return string(b)
	}
	var out strings.Builder
	dec := new(mime.WordDecoder)
	for k, vs := range m.Header {
		for _, v := range vs {
			if d, err := dec.DecodeHeader(v); err == nil {
				v = d
			}
			out.WriteString(k + ": " + v + "\n")
		}
	}
	var body func(h textproto.MIMEHeader, r io.Reader)
	body = func(h textproto.MIMEHeader, r io.Reader) {
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				body(p.Header, p)
			}
		}
		switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			r = quotedprintable.NewReader(r)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, r)
		}
		b, _ := io.ReadAll(r)
		out.Write(b)
		out.WriteString("\n")
	}
	body(textproto.MIMEHeader(m.Header), m.Body)
	return out.String()
}

// TestAttributionEndToEnd: a registration is approved; an AE opens a deal
// on its company; regsync stamps the partner on the deal, associates the
// deal with the registration and converts it (deal_created, attributed_at,
// deal_id); the AE closes the deal won; the registration is won. Each step
// is audited and told to the partner. A deal on a company nobody
// registered is left alone.
func TestAttributionEndToEnd(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true})
		co := h.crm.Company(t, "Initrode", "initrode.example")
		other := h.crm.Company(t, "Vandelay Industries", "vandelay.example")
		id := h.register(clean(40, "initrode.example"))
		if p, _ := h.waitDecided(id, 5*time.Second); p["status"] != "approved" {
			t.Fatalf("status %q (%s), want approved", p["status"], p["status_reason"])
		}
		h.settle(10 * time.Second)

		// An AE opens a deal on the company (with its company from the
		// start, as from the company's record in the CRM).
		h.crm.Advance(time.Hour)
		h.crm.Push(false)
		deal := h.crm.OpenDeal(t, co)
		direct := h.crm.OpenDeal(t, other)
		h.crm.Push(true)
		p := h.waitStatus(id, "converted", 10*time.Second)
		if p["status_reason"] != "deal_created" {
			t.Errorf("status_reason %q, want deal_created", p["status_reason"])
		}
		if p["deal_id"] != deal {
			t.Errorf("deal_id %q, want %s", p["deal_id"], deal)
		}
		if at, err := time.Parse(time.RFC3339, p["attributed_at"]); err != nil || at.Before(h.crm.Now().Add(-time.Minute)) {
			t.Errorf("attributed_at %q, want about %s", p["attributed_at"], h.crm.Now())
		}
		if got := h.crm.DealPartner(t, deal); got != "northwind" {
			t.Errorf("deal stamped %q, want northwind", got)
		}
		if deals := h.crm.Linked(t, id, "deal"); !slices.Contains(deals, deal) {
			t.Errorf("registration associated with deals %v, want %s", deals, deal)
		}
		h.settle(10 * time.Second)
		if got := h.crm.DealPartner(t, direct); got != "" {
			t.Errorf("a deal on a company nobody registered was stamped %q", got)
		}

		// The AE closes it won.
		h.crm.Advance(time.Hour)
		h.crm.CloseDeal(t, deal, true)
		p = h.waitStatus(id, "won", 10*time.Second)
		if p["status_reason"] != "won" || p["deal_id"] != deal {
			t.Errorf("won: reason %q, deal_id %q", p["status_reason"], p["deal_id"])
		}
		h.settle(10 * time.Second)

		// Audited, noted in the CRM and told to the partner, once each.
		entries, err := h.d.db.AuditFor(h.auditKey(id), 10)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range entries {
			steps = append(steps, e.From+"→"+e.To+"("+e.Reason+")")
		}
		want := []string{"submitted→approved(approved)", "approved→converted(deal_created)", "converted→won(won)"}
		if !slices.Equal(steps, want) {
			t.Errorf("audit %v, want %v", steps, want)
		}
		if notes := h.crm.Linked(t, id, "notes"); len(notes) != 3 {
			t.Errorf("%d audit notes, want 3 (approved, converted, won)", len(notes))
		}
		for _, status := range []string{"converted", "won"} {
			if m := h.outboxWith("R-1040", status); len(m) != 1 {
				t.Errorf("%d partner e-mails about %s, want 1: %v", len(m), status, m)
			}
		}
		// Nothing is done twice: the deal's own echo changes nothing more.
		if got := h.crm.DealPartner(t, deal); got != "northwind" {
			t.Errorf("deal stamp now %q", got)
		}
	})
}

// TestAttributionByDealPoll: without webhooks the deal change feed finds
// the new deal and the closed one.
func TestAttributionByDealPoll(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{pollInterval: 500 * time.Millisecond})
		co := h.crm.Company(t, "Hooli", "hooli.example")
		id := h.register(clean(41, "hooli.example"))
		h.waitDecided(id, 5*time.Second)
		h.settle(10 * time.Second)
		h.crm.Advance(time.Hour)
		deal := h.crm.OpenDeal(t, co)
		h.waitStatus(id, "converted", 10*time.Second)
		if got := h.crm.DealPartner(t, deal); got != "northwind" {
			t.Errorf("deal stamped %q, want northwind", got)
		}
		h.crm.Advance(time.Hour)
		h.crm.CloseDeal(t, deal, false)
		if p := h.waitStatus(id, "lost", 10*time.Second); p["status_reason"] != "lost" {
			t.Errorf("lost: reason %q", p["status_reason"])
		}
	})
}

// TestAttributionLeavesAHumansStampAlone: a deal an AE stamped with a
// partner holding no registration of the company keeps that stamp and
// credits nobody; the next deal, unstamped, converts the registration; a
// third deal on the company, once it is converted, is left alone too.
func TestAttributionLeavesAHumansStampAlone(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{webhooks: true})
	hs := h.crm.(*hubspotFake).hs
	co := h.crm.Company(t, "Soylent", "soylent.example")
	id := h.register(clean(42, "soylent.example"))
	if p, _ := h.waitDecided(id, 5*time.Second); p["status"] != "approved" {
		t.Fatalf("status %q", p["status"])
	}
	h.settle(10 * time.Second)
	deal := func(name, partner string) string {
		t.Helper()
		props := map[string]string{"dealname": name, "dealstage": "qualifiedtobuy", "amount": "1000"}
		if partner != "" {
			props["partner_id"] = partner
		}
		h.crm.Advance(time.Minute)
		h.crm.Push(false)
		d, err := hs.CreateRecord("deals", props)
		if err != nil {
			t.Fatal(err)
		}
		if err := hs.Associate("deals", d, "companies", co); err != nil {
			t.Fatal(err)
		}
		h.crm.Push(true)
		return d
	}
	delivered := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.WaitWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		h.settle(10 * time.Second)
	}
	stamped := deal("Stamped by hand", "fabrikam")
	delivered()
	if p := h.get(id); p["status"] != "approved" {
		t.Fatalf("a deal stamped with another partner converted the registration: %v", p["status"])
	}
	if got := h.crm.DealPartner(t, stamped); got != "fabrikam" {
		t.Errorf("the AE's stamp was changed to %q", got)
	}
	if deals := h.crm.Linked(t, id, "deal"); len(deals) != 0 {
		t.Errorf("registration associated with %v", deals)
	}

	second := deal("Second", "")
	if p := h.waitStatus(id, "converted", 10*time.Second); p["deal_id"] != second {
		t.Errorf("deal_id %q, want %s", p["deal_id"], second)
	}
	h.settle(10 * time.Second)
	third := deal("Third", "")
	delivered()
	if got := h.crm.DealPartner(t, third); got != "" {
		t.Errorf("a deal after the conversion was stamped %q", got)
	}
	if p := h.get(id); p["status"] != "converted" || p["deal_id"] != second {
		t.Errorf("registration now %s with deal %s", p["status"], p["deal_id"])
	}
}
