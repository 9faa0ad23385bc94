package salesforce

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"
)

// SeedAccount is a named Account of the seed data, for tests to rely on.
type SeedAccount struct {
	Name, Website string
	// Open, Closed are the stages of its Opportunities.
	Stages []string
}

// SeedAccounts are the hand-written Accounts of the seed org; about 200
// generated ones follow them.
var SeedAccounts = []SeedAccount{
	{"Globex Corporation", "https://www.globex.example/", []string{"Negotiation/Review", "Closed Won"}},
	{"Initech", "initech.example", []string{"Closed Lost"}},
	{"Umbrella Corporation", "http://umbrella.example/about", []string{"Qualification", "Proposal/Price Quote"}},
	{"Acme Corporation", "https://acme.example", nil},
	{"Hooli", "https://www.hooli.example/", []string{"Prospecting"}},
	{"Stark Industries", "https://eu.stark.example/en", []string{"Value Proposition"}},
	{"Wayne Enterprises", "www.wayne.example", []string{"Closed Won", "Id. Decision Makers"}},
	{"Soylent", "HTTPS://WWW.SOYLENT.EXAMPLE", []string{"Perception Analysis"}},
	// Look-alikes that must never match globex.example.
	{"Notglobex Ltd", "https://notglobex.example", []string{"Needs Analysis"}},
	{"Globex Phishing", "https://globex.example.phish.test/login", nil},
}

var seedWords = [2][]string{
	{"Blue", "North", "Silver", "Bright", "Rapid", "Quiet", "Golden", "Iron", "Crystal", "Summit", "Harbor", "Cedar", "Atlas", "Nimbus", "Vertex", "Lumen", "Pioneer", "Coastal", "Prairie", "Granite"},
	{"Logistics", "Analytics", "Foods", "Robotics", "Health", "Energy", "Media", "Capital", "Systems", "Labs", "Works", "Networks", "Foundry", "Partners", "Dynamics", "Retail"},
}

var seedProducts = []string{"Platform", "Analytics add-on", "Renewal", "Expansion", "Pilot", "Enterprise licence", "Services"}

// seed creates the users, the organisation and (unless Empty) Accounts and
// Opportunities in every stage.
func (s *Server) seed() error {
	w := writer{}
	mk := func(obj string, fields map[string]any) (*record, error) {
		r, fe := s.create(s.objects[lower(obj)], fields, w)
		if fe != nil {
			return nil, fmt.Errorf("salesforce sandbox: seed %s: %s", obj, fe.Error())
		}
		return r, nil
	}
	users := []struct{ name, user string }{
		{"Regsync Integration", "integration@regsync-sandbox.example"},
		{"Alex Morgan", "alex.morgan@regsync-sandbox.example"},
		{"Sam Lee", "sam.lee@regsync-sandbox.example"},
		{"Priya Natarajan", "priya.natarajan@regsync-sandbox.example"},
		{"Jordan Diaz", "jordan.diaz@regsync-sandbox.example"},
	}
	for i, u := range users {
		r, err := mk("User", map[string]any{"Name": u.name, "Username": u.user, "Email": u.user, "IsActive": true, "UserType": "Standard"})
		if err != nil {
			return err
		}
		switch i {
		case 0:
			s.apiUser = r.id
		case 1:
			s.aeUser = r.id
		}
	}
	// Every record so far was made by nobody; make it the integration user.
	for _, o := range s.objects {
		for _, r := range o.records {
			r.v["CreatedById"], r.v["LastModifiedById"] = s.apiUser, s.apiUser
		}
	}
	w = writer{user: s.apiUser}
	org := s.objects["organization"]
	s.orgID = DefaultOrganizationID
	if s.opts.OrganizationID != "" {
		if n := normID(s.opts.OrganizationID); n != "" && strings.HasPrefix(n, "00D") {
			s.orgID = n
		} else {
			return fmt.Errorf("salesforce sandbox: %q is not an organization id", s.opts.OrganizationID)
		}
	}
	now := s.stamp()
	org.records[s.orgID] = &record{id: s.orgID, obj: org, v: map[string]any{
		"Name": "Regsync Sandbox", "OrganizationType": "Developer Edition", "IsSandbox": false,
		"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now, "CreatedById": s.apiUser, "LastModifiedById": s.apiUser,
	}}
	org.order = append(org.order, s.orgID)
	if s.opts.Empty {
		return nil
	}
	if s.opts.Seed != nil {
		return s.seedTree(s.opts.Seed, w)
	}
	rnd := mrand.New(mrand.NewPCG(42, 7))
	owners := append([]string(nil), s.objects["user"].order[1:]...)
	addOpp := func(acct *record, name string, stage string) error {
		var close time.Time
		if st := stageInfo(stage); st.Closed {
			close = now.AddDate(0, 0, -(5 + rnd.IntN(200)))
		} else {
			close = now.AddDate(0, 0, 10+rnd.IntN(120))
		}
		amount := float64(5+rnd.IntN(246)) * 1000
		_, err := mk("Opportunity", map[string]any{
			"Name": name, "AccountId": acct.id, "StageName": stage, "Amount": amount,
			"CloseDate": close.Format("2006-01-02"), "Probability": stageInfo(stage).Probability,
			"OwnerId": owners[rnd.IntN(len(owners))],
		})
		return err
	}
	industries := s.objects["account"].field("Industry").Picklist
	for _, sa := range SeedAccounts {
		acct, err := mk("Account", map[string]any{"Name": sa.Name, "Website": sa.Website, "Industry": industries[rnd.IntN(len(industries))], "OwnerId": owners[rnd.IntN(len(owners))]})
		if err != nil {
			return err
		}
		for i, st := range sa.Stages {
			if err := addOpp(acct, fmt.Sprintf("%s — %s", sa.Name, seedProducts[i%len(seedProducts)]), st); err != nil {
				return err
			}
		}
	}
	forms := []string{"https://www.%s.example/", "http://%s.example", "%s.example", "www.%s.example", "https://%s.example/home", "https://eu.%s.example", "HTTP://WWW.%s.EXAMPLE/"}
	stageNames := Stages()
	k := 0
	for i := 0; i < 200; i++ {
		a := seedWords[0][i%len(seedWords[0])]
		b := seedWords[1][(i/len(seedWords[0])+i)%len(seedWords[1])]
		name := fmt.Sprintf("%s %s %d", a, b, i+1)
		slug := strings.ToLower(fmt.Sprintf("%s%s%d", a, b, i+1))
		site := fmt.Sprintf(forms[i%len(forms)], slug)
		if i%7 == 0 {
			site = strings.ToUpper(site)
		}
		if i%15 == 14 {
			site = ""
		}
		fields := map[string]any{"Name": name, "Industry": industries[i%len(industries)], "BillingCountry": []string{"US", "GB", "DE", "FR", "JP"}[i%5], "OwnerId": owners[i%len(owners)]}
		if site != "" {
			fields["Website"] = site
		}
		acct, err := mk("Account", fields)
		if err != nil {
			return err
		}
		if i%3 == 2 {
			continue
		}
		for j := 0; j <= i%3; j++ {
			st := stageNames[k%len(stageNames)]
			k++
			if err := addOpp(acct, fmt.Sprintf("%s — %s", name, seedProducts[(i+j)%len(seedProducts)]), st); err != nil {
				return err
			}
		}
	}
	return nil
}

func stageInfo(name string) struct {
	Name        string
	Closed, Won bool
	Probability float64
} {
	for _, st := range stages {
		if st.Name == name {
			return st
		}
	}
	return stages[0]
}
