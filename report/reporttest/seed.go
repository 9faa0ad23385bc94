package reporttest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/regsync/regsync/connectors/hubspot/hubspottest"
	"github.com/regsync/regsync/registration"
)

// Seeded maps the fixture's ids to the ids a fake CRM gave its records.
type Seeded struct {
	// Registrations maps "1" … "18" to CRM ids; Deals maps "D1" … to CRM ids.
	Registrations, Deals map[string]string
}

// HubSpotProperties is a registration as HubSpot properties (canonical
// names, the default mapping): every field but the id that is set.
func HubSpotProperties(r *registration.Record) map[string]string {
	props := map[string]string{}
	for _, f := range registration.Fields() {
		if f.Name == "id" {
			continue
		}
		v := f.Get(r)
		if v == "" || (f.Kind == registration.KindNumber && v == "0") {
			continue
		}
		if f.Kind == registration.KindTime {
			t, err := registration.ParseTime(v)
			if err != nil || t.IsZero() {
				continue
			}
			v = strconv.FormatInt(t.UnixMilli(), 10)
		}
		props[f.Name] = v
	}
	return props
}

// DealStage is the HubSpot deal stage of a deal's outcome (the default
// closed_stages and won_stages).
func DealStage(d *registration.Deal) string {
	switch {
	case d.Won:
		return "closedwon"
	case d.Closed:
		return "closedlost"
	}
	return "qualifiedtobuy"
}

// HubSpotDealProperties is a deal as HubSpot properties, its partner stamp
// in the default deal_partner_property (partner_id).
func HubSpotDealProperties(d *registration.Deal) map[string]string {
	props := map[string]string{
		"dealname":  "Deal " + d.ID,
		"dealstage": DealStage(d),
		"amount":    strconv.FormatFloat(d.Amount, 'f', -1, 64),
	}
	if !d.CloseDate.IsZero() {
		props["closedate"] = d.CloseDate.UTC().Format(time.RFC3339)
	}
	if d.PartnerID != "" {
		props["partner_id"] = d.PartnerID
	}
	return props
}

// SeedHubSpot creates the fixture in a fake HubSpot portal whose
// partner_registration object exists (the client's Setup made it) as users
// in HubSpot's UI would — no API calls: the deals, then the registrations
// (deal_id naming the CRM id of their deal), then the deal ↔ registration
// associations.
func SeedHubSpot(hs *hubspottest.Server) (Seeded, error) {
	s := Seeded{Registrations: map[string]string{}, Deals: map[string]string{}}
	typeID, err := hs.TypeID("partner_registration")
	if err != nil {
		return s, err
	}
	ds := Deals()
	for i := range ds {
		id, err := hs.CreateRecord("deals", HubSpotDealProperties(&ds[i]))
		if err != nil {
			return s, fmt.Errorf("deal %s: %w", ds[i].ID, err)
		}
		s.Deals[ds[i].ID] = id
	}
	for _, r := range Records() {
		if r.DealID != "" {
			r.DealID = s.Deals[r.DealID]
		}
		id, err := hs.CreateRecord(typeID, HubSpotProperties(&r))
		if err != nil {
			return s, fmt.Errorf("registration %s: %w", r.ID, err)
		}
		s.Registrations[r.ID] = id
	}
	for _, d := range ds {
		for _, rid := range d.RegistrationIDs {
			if err := hs.Associate("deals", s.Deals[d.ID], typeID, s.Registrations[rid]); err != nil {
				return s, fmt.Errorf("associate deal %s with registration %s: %w", d.ID, rid, err)
			}
		}
	}
	return s, nil
}

// PartnersYAML is the fixture's partners as the configuration's partners
// section.
func PartnersYAML() string {
	out := "partners:\n"
	for _, p := range Partners {
		out += fmt.Sprintf("  - {id: %s, name: %q, tier: %s, email_domains: [%s]}\n", p.ID, p.Name, p.Tier, p.EmailDomains[0])
	}
	return out
}
