package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/regsync/regsync/connectors"
)

// Notes and tasks exactly once.
//
// HubSpot offers no idempotent create for engagements. Batch upsert
// (POST /crm/v3/objects/{notes|tasks}/batch/upsert) exists in the notes
// and tasks specs, but it matches records on a property with
// hasUniqueValue, and HubSpot documents unique-value properties for
// contacts, companies, deals, tickets and custom objects only
// (https://developers.hubspot.com/changelog/unique-properties-for-contacts:
// "Historically, HubSpot has provided unique property support for
// Companies, Deals, Tickets, and Custom Objects"), not for notes or tasks;
// its upsert inputs take no associations either
// (https://developers.hubspot.com/docs/api-reference/legacy/crm/activities/notes/batch/upsert-notes).
// The properties the notes and tasks guides list
// (https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide,
// https://developers.hubspot.com/docs/api/crm/tasks) include no key
// either. So regsync reads what exists before creating again:
//
//   - the key travels in the body (hs_note_body, hs_task_body) as a last
//     line "regsync-key: …" (connectors.MarkKey);
//   - a first attempt (Fresh) creates at once, associated in the same call
//     (batch create with associations): no extra call;
//   - any other attempt first reads the registrations' notes or tasks —
//     associations v4 batch read, then a batch read of their bodies, both
//     answered from the record store at once (unlike search, which lags
//     writes) — and creates only those whose key is not found.
//
// A note created inline is associated atomically with its creation, so
// the association read finds whatever an attempt created. The other path
// (create, then associate, when the association type is unknown or HubSpot
// refused the inline batch) archives what it created when the association
// failed, so that no unassociated copy is left for the next attempt to
// miss.

// bodyProp is the text property of an engagement that carries its key.
func bodyProp(kind string) string {
	if kind == "tasks" {
		return "hs_task_body"
	}
	return "hs_note_body"
}

// maxBody bounds an engagement's body: HubSpot limits a note's to 65,536
// characters (notes guide); tasks are given the same.
const maxBody = 65536

// markedBody is an engagement's body as HubSpot stores it: HTML. The
// plain text regsync writes (connectors.Note and Task bodies name the
// company, quote a partner's appeal and the rules' trace) is escaped
// (htmlText), clipped to leave room for key's line, and marked. The key
// line needs no escaping: stored keys hold no &, < or > (StoredKey).
func markedBody(body, key string) string {
	if key == "" {
		return htmlText(body, maxBody)
	}
	return connectors.MarkKey(htmlText(body, maxBody-len(connectors.KeyLine(key))-2), key)
}

// htmlText is plain text as HTML text: &, < and > escaped, so a company
// named "<script>…" or "<img onerror=…>", or a link in a partner's note,
// shows as written in HubSpot instead of being markup. Line breaks are
// kept as they are. It is at most n bytes and never ends inside an entity
// or a character.
func htmlText(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		piece := ""
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		default:
			piece = string(r)
		}
		if b.Len()+len(piece) > n {
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}

// withoutExisting drops from acts those created already: a repeated key
// within acts, and a keyed activity not Fresh whose key is marked on one
// of its registration's notes or tasks.
func (c *Client) withoutExisting(ctx context.Context, kind, regType string, acts []activity) ([]activity, error) {
	seen := map[string]bool{}
	var look []string
	out := make([]activity, 0, len(acts))
	for _, a := range acts {
		if a.key != "" {
			k := a.regID + "\x00" + connectors.StoredKey(a.key)
			if seen[k] {
				continue
			}
			seen[k] = true
			if !a.fresh {
				look = append(look, a.regID)
			}
		}
		out = append(out, a)
	}
	if len(look) == 0 {
		return out, nil
	}
	marked, err := c.markedOn(ctx, kind, regType, look)
	if err != nil {
		return nil, fmt.Errorf("hubspot: look for %s an earlier attempt created: %w", kind, err)
	}
	kept := out[:0]
	for _, a := range out {
		if a.key != "" && !a.fresh && marked[a.regID][connectors.StoredKey(a.key)] {
			continue
		}
		kept = append(kept, a)
	}
	return kept, nil
}

// markedOn reads the keys marked on the notes or tasks associated with
// each registration: registration id → stored keys.
func (c *Client) markedOn(ctx context.Context, kind, regType string, regIDs []string) (map[string]map[string]bool, error) {
	assoc, err := c.assocRead(ctx, regType, kind, regIDs)
	if err != nil {
		return nil, err
	}
	regsOf := map[string][]string{}
	var ids []string
	for reg, tos := range assoc {
		for _, t := range tos {
			if regsOf[t.ID] == nil {
				ids = append(ids, t.ID)
			}
			regsOf[t.ID] = append(regsOf[t.ID], reg)
		}
	}
	out := map[string]map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	objs, err := c.batchRead(ctx, kind, ids, []string{bodyProp(kind)})
	if err != nil {
		return nil, err
	}
	for id, o := range objs {
		for _, k := range connectors.MarkedKeys(o.prop(bodyProp(kind))) {
			for _, reg := range regsOf[id] {
				if out[reg] == nil {
					out[reg] = map[string]bool{}
				}
				out[reg][k] = true
			}
		}
	}
	return out, nil
}

// archive moves activities created without their association to the
// recycling bin (POST /crm/v3/objects/{kind}/batch/archive, 100 a call),
// so that a retry, which finds activities through their associations,
// does not leave a second copy behind.
func (c *Client) archive(ctx context.Context, kind string, ids []string) error {
	var errs []error
	for _, ch := range chunks(len(ids), batchSize) {
		var in []batchReadInput
		for _, id := range ids[ch[0]:ch[1]] {
			in = append(in, batchReadInput{ID: id})
		}
		if _, err := c.do(ctx, call{op: "batch archive " + kind, method: http.MethodPost,
			path: "/crm/v3/objects/" + kind + "/batch/archive", body: map[string]any{"inputs": in}}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
