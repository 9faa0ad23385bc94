package registration

import "time"

// Company is a CRM company, matched to a registration by domain.
type Company struct {
	ID     string `yaml:"id" json:"id"`
	Name   string `yaml:"name" json:"name"`
	Domain string `yaml:"domain" json:"domain"`
}

// Deal is a CRM deal (HubSpot deal, Salesforce Opportunity): for the rules,
// an open deal on a registration's company; for attribution and reports,
// any deal with its amount and outcome.
type Deal struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// PartnerID is the partner that sourced the deal or is stamped on it by
	// attribution (HubSpot property partner_id, Salesforce Partner_Id__c).
	PartnerID string `yaml:"partner_id" json:"partner_id"`
	Stage     string `yaml:"stage" json:"stage"`
	CompanyID string `yaml:"company_id" json:"company_id"`
	// Amount is the deal's value in the CRM's currency; 0 when unset.
	Amount float64 `yaml:"amount,omitempty" json:"amount,omitempty"`
	// CloseDate is when the deal closed or is expected to.
	CloseDate time.Time `yaml:"close_date,omitempty" json:"close_date,omitzero"`
	// Closed and Won say whether the stage is a closed one, and closed-won.
	Closed bool `yaml:"closed,omitempty" json:"closed,omitempty"`
	Won    bool `yaml:"won,omitempty" json:"won,omitempty"`
	// RegistrationIDs are the registrations associated with the deal.
	RegistrationIDs []string `yaml:"registration_ids,omitempty" json:"registration_ids,omitempty"`
	// CreatedAt and ModifiedAt are the CRM's timestamps.
	CreatedAt  time.Time `yaml:"created_at,omitempty" json:"created_at,omitzero"`
	ModifiedAt time.Time `yaml:"modified_at,omitempty" json:"modified_at,omitzero"`
}

// Facts is what the CRM says around one registration: what the rules need
// to decide it. Connectors gather them in batch; rules.Decide reads them.
type Facts struct {
	// Company is the CRM company matched by registrable domain, or nil.
	Company *Company
	// OpenDeals are the company's open deals.
	OpenDeals []Deal
	// Registrations are the other registrations on the same registrable
	// domain or with the same normalised company name, each Indexed.
	Registrations []Record
	// PartnerActive is the partner's count of other active registrations.
	PartnerActive int
}
