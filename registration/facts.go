package registration

// Company is a CRM company, matched to a registration by domain.
type Company struct {
	ID     string `yaml:"id" json:"id"`
	Name   string `yaml:"name" json:"name"`
	Domain string `yaml:"domain" json:"domain"`
}

// Deal is an open deal on a company.
type Deal struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// PartnerID is the partner that sourced the deal, if any.
	PartnerID string `yaml:"partner_id" json:"partner_id"`
	Stage     string `yaml:"stage" json:"stage"`
	CompanyID string `yaml:"company_id" json:"company_id"`
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
