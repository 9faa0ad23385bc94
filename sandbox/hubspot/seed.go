package hubspot

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"time"
)

//go:embed seed/*.json
var seedFiles embed.FS

// DefaultSeed is a realistic portal: 230 companies with real-looking names
// and .example domains (acme, globex, initech, umbrella, hooli, initrode,
// …), 418 contacts, 180 deals in every stage of the default pipeline
// (seven of them with a partner_id of the example config's partners), six
// owners, and the partners as records of the "partner" custom object.
// Serve it with Options{Seed: DefaultSeed}.
var DefaultSeed fs.FS = mustSub(seedFiles, "seed")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// A seed directory holds JSON files, each optional:
//
//	owners.json      [{"id","email","firstName","lastName","userId"}]
//	properties.json  {"deals": [property definitions as the properties API takes them], …}
//	companies.json   [{"key","createdAt"?,"properties":{…}}]
//	contacts.json    [{"key","createdAt"?,"properties":{…},"companies":[company keys]}]
//	deals.json       [{"key","createdAt"?,"properties":{…},"companies":[…],"contacts":[…]}]
//	partners.json    [{"key","properties":{…}}] (records of the "partner" custom object; skipped in a bare portal)
//
// Values of date and datetime properties and createdAt may be relative to
// the clock when the seed loads: "now", "now+30d", "now-12h" (units d, h, m).
type seedRecord struct {
	Key        string            `json:"key"`
	CreatedAt  string            `json:"createdAt"`
	Properties map[string]string `json:"properties"`
	Companies  []string          `json:"companies"`
	Contacts   []string          `json:"contacts"`
}

var relTime = regexp.MustCompile(`^now(?:([+-])(\d+)([dhm]))?$`)

// seedTime resolves a relative time; ok is false for anything else.
func seedTime(now time.Time, v string) (time.Time, bool) {
	m := relTime.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, false
	}
	if m[1] == "" {
		return now, true
	}
	n, _ := strconv.Atoi(m[2])
	unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute}[m[3]]
	d := time.Duration(n) * unit
	if m[1] == "-" {
		d = -d
	}
	return now.Add(d), true
}

func readSeed(fsys fs.FS, name string, v any) (bool, error) {
	data, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("hubspot sandbox: seed %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("hubspot sandbox: seed %s: %s", name, jsonErrorText(data, err))
	}
	return true, nil
}

// loadSeed fills the portal from a seed directory.
func (s *Server) loadSeed(fsys fs.FS) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()

	var owners []Owner
	if _, err := readSeed(fsys, "owners.json", &owners); err != nil {
		return err
	}
	for i, o := range owners {
		if _, err := s.addOwnerLocked(o); err != nil {
			return fmt.Errorf("hubspot sandbox: seed owners.json[%d]: %w", i, err)
		}
	}
	sortOwners(s.owners)

	var props map[string][]property
	if _, err := readSeed(fsys, "properties.json", &props); err != nil {
		return err
	}
	for _, typ := range sortedKeys(mapKeys(props)) {
		t := s.resolve(typ)
		if t == nil {
			return fmt.Errorf("hubspot sandbox: seed properties.json: unknown object type %q", typ)
		}
		for i, p := range props[typ] {
			if _, e := s.createProperty(t, p); e != nil {
				return fmt.Errorf("hubspot sandbox: seed properties.json %s[%d]: %s", typ, i, e.body.Message)
			}
		}
	}

	keys := map[string]map[string]string{} // type id → seed key → record id
	load := func(file string, t *objectType) error {
		var recs []seedRecord
		if _, err := readSeed(fsys, file, &recs); err != nil {
			return err
		}
		keys[t.id] = map[string]string{}
		for i, sr := range recs {
			where := fmt.Sprintf("hubspot sandbox: seed %s[%d] (%s)", file, i, sr.Key)
			if sr.Key == "" {
				return fmt.Errorf("%s: key is required", where)
			}
			if _, dup := keys[t.id][sr.Key]; dup {
				return fmt.Errorf("%s: key used twice", where)
			}
			at := now
			if sr.CreatedAt != "" {
				var ok bool
				if at, ok = seedTime(now, sr.CreatedAt); !ok {
					return fmt.Errorf("%s: createdAt %q is not now, now+Nd or now-Nd", where, sr.CreatedAt)
				}
			}
			in := propMap{}
			for k, v := range sr.Properties {
				if p := t.props[k]; p != nil && (p.Type == "date" || p.Type == "datetime") {
					if tm, ok := seedTime(now, v); ok {
						if p.Type == "date" {
							tm = tm.UTC().Truncate(24 * time.Hour)
						}
						v = strconv.FormatInt(tm.UnixMilli(), 10)
					}
				}
				in[k] = v
			}
			vals, errs := s.checkProps(t, in, srcSeed)
			errs = append(errs, missingRequired(t, vals)...)
			if len(errs) > 0 {
				return fmt.Errorf("%s: %v", where, uiError(errs))
			}
			if e := s.conflict(t, "", vals); e != nil {
				return fmt.Errorf("%s: %s", where, e.body.Message)
			}
			r := s.createLocked(t, vals, srcSeed, at)
			keys[t.id][sr.Key] = r.id
			for _, link := range []struct {
				typ  string
				keys []string
			}{{typeCompany, sr.Companies}, {typeContact, sr.Contacts}} {
				for _, k := range link.keys {
					id, ok := keys[link.typ][k]
					if !ok {
						return fmt.Errorf("%s: unknown %s key %q (list it in an earlier file)", where, s.types[link.typ].singular, k)
					}
					a := s.defaultAssoc(t.id, link.typ)
					if a == nil {
						return fmt.Errorf("%s: %s cannot be associated with %s", where, t.name, s.types[link.typ].name)
					}
					s.link(a, r.id, id)
				}
			}
		}
		return nil
	}
	for _, f := range []struct {
		file, typ string
	}{{"companies.json", typeCompany}, {"contacts.json", typeContact}, {"deals.json", typeDeal}} {
		if err := load(f.file, s.types[f.typ]); err != nil {
			return err
		}
	}
	if pt := s.resolve("p_partner"); pt != nil {
		if err := load("partners.json", pt); err != nil {
			return err
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = k
	}
	return out
}
