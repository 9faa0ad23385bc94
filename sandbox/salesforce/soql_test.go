package salesforce_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/sandbox/salesforce"
)

func TestParseSOQL(t *testing.T) {
	for _, q := range []string{
		"SELECT Id FROM Account",
		"select id, name from account where name = 'x' limit 5",
		"SELECT Id, Account__r.Name FROM Partner_Registration__c WHERE Account__r.Name LIKE 'Glo%' ORDER BY Name DESC NULLS LAST, Id LIMIT 10 OFFSET 2",
		"SELECT Id FROM Account WHERE (Name = 'a' OR Name = 'b') AND Website != null",
		"SELECT Id FROM Account WHERE NOT Name = 'a'",
		"SELECT Id FROM Account WHERE Name NOT IN ('a','b') AND Id IN ('0015g000000000AAAA')",
		"SELECT Id FROM Opportunity WHERE CloseDate >= 2026-01-01 AND SystemModstamp > 2026-03-02T15:00:00Z",
		"SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-03-02T15:00:00.000+0100 AND CreatedDate = LAST_N_DAYS:30",
		"SELECT Id FROM Opportunity WHERE CloseDate = TODAY OR CloseDate = NEXT_N_DAYS:7",
		"SELECT StageName, COUNT(Id) n, MAX(Amount) FROM Opportunity GROUP BY StageName",
		"SELECT COUNT() FROM Account",
		`SELECT Id FROM Account WHERE Name = 'O\'Reilly \\ \"x\" \n'`,
		`SELECT Id FROM Account WHERE Name LIKE '50\% off\_%'`,
		"SELECT Id FROM Opportunity WHERE Amount > -1.5 AND IsClosed = FALSE",
	} {
		if _, err := salesforce.ParseSOQL(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		"",
		"SELECT FROM Account",
		"SELECT Id Account",
		"SELECT Id FROM Account WHERE",
		"SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
		"SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'",
		"SELECT Id FROM Account WHERE Name = 'unterminated",
		`SELECT Id FROM Account WHERE Name = 'bad \q escape'`,
		`SELECT Id FROM Account WHERE Name = '50\% outside LIKE'`,
		"SELECT Id FROM Account WHERE Name = 'a' extra",
		"SELECT Id FROM Account; DELETE",
		"SELECT Id FROM Account WHERE CreatedDate > 2026-03-02T15:00:00",
		"SELECT Id FROM Account WHERE Name IN ()",
		"SELECT Id FROM Account WHERE CreatedDate IN (TODAY)",
		"SELECT Id FROM Account LIMIT -1",
		"SELECT Id FROM Account WHERE Name ! 'a'",
		strings.Repeat("x", 100001),
	} {
		if _, err := salesforce.ParseSOQL(q); err == nil {
			t.Errorf("accepted: %.80s", q)
		}
	}
}

func TestMatchLike(t *testing.T) {
	q, err := salesforce.ParseSOQL(`SELECT Id FROM Account WHERE Name LIKE '%glo_ex\%\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	p := q.Where.(*salesforce.Cond).Values[0].Pattern
	for s, want := range map[string]bool{"the GLOBEX%_ co": true, "globex%_": true, "glo-ex%_": true, "globex": false, "globex%x": false, "glbex%_": false} {
		if salesforce.MatchLike(p, s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
}

// query runs SOQL over HTTP as a client would and returns the answer.
func query(t *testing.T, s *salesforce.Server, token, path, soql string) (int, map[string]any) {
	t.Helper()
	u := s.URL() + "/services/data/v63.0/" + path
	if soql != "" {
		u += "?q=" + url.QueryEscape(soql)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		var list []map[string]any
		if json.Unmarshal(b, &list) == nil && len(list) > 0 {
			return resp.StatusCode, list[0]
		}
		t.Fatalf("%s: %s", u, b)
	}
	return resp.StatusCode, m
}

func TestQueryOverHTTP(t *testing.T) {
	s := start(t, salesforce.Options{AccessTokens: []string{"tok"}})
	tok := "tok"
	// Seed: ≥ 200 accounts with websites, opportunities in every stage.
	status, m := query(t, s, tok, "query", "SELECT COUNT() FROM Account WHERE Website != null")
	if status != 200 || m["totalSize"].(float64) < 180 {
		t.Fatalf("accounts with websites: %v", m)
	}
	status, m = query(t, s, tok, "query", "SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName")
	if status != 200 || len(m["records"].([]any)) != len(salesforce.Stages()) {
		t.Fatalf("stages: %v", m)
	}
	for _, name := range []string{"globex.example", "initech.example", "umbrella.example", "acme.example"} {
		_, m = query(t, s, tok, "query", "SELECT Id, Name, Website FROM Account WHERE Website LIKE '%"+name+"%'")
		if m["totalSize"].(float64) < 1 {
			t.Errorf("no seed account for %s", name)
		}
	}
	// Relationship fields and ORDER BY.
	_, m = query(t, s, tok, "query", "SELECT Id, Name, Account.Name, Amount FROM Opportunity WHERE IsClosed = false AND Account.Name = 'Globex Corporation' ORDER BY Amount DESC")
	recs := m["records"].([]any)
	if len(recs) != 1 {
		t.Fatalf("globex open deals: %v", m)
	}
	acct := recs[0].(map[string]any)["Account"].(map[string]any)
	if acct["Name"] != "Globex Corporation" || acct["attributes"] == nil {
		t.Errorf("relationship: %v", acct)
	}
	// Paging at 2,000: 2,100 records, two pages.
	ae := s.AsAE()
	for i := range 2100 {
		if _, err := ae.Create("Task", map[string]any{"Subject": fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, m = query(t, s, tok, "query", "SELECT Id, Subject FROM Task")
	if m["done"] != false || len(m["records"].([]any)) != 2000 || m["totalSize"].(float64) != 2100 {
		t.Fatalf("first page: done=%v n=%d total=%v", m["done"], len(m["records"].([]any)), m["totalSize"])
	}
	next := strings.TrimPrefix(m["nextRecordsUrl"].(string), "/services/data/v63.0/")
	_, m = query(t, s, tok, next, "")
	if m["done"] != true || len(m["records"].([]any)) != 100 {
		t.Fatalf("second page: %v %d", m["done"], len(m["records"].([]any)))
	}
	// queryAll sees the recycle bin.
	id, _ := ae.Create("Account", map[string]any{"Name": "Doomed"})
	_ = ae.Delete("Account", id)
	_, m = query(t, s, tok, "query", "SELECT Id FROM Account WHERE Name = 'Doomed'")
	_, m2 := query(t, s, tok, "queryAll", "SELECT Id, IsDeleted FROM Account WHERE Name = 'Doomed'")
	if m["totalSize"].(float64) != 0 || m2["totalSize"].(float64) != 1 {
		t.Errorf("query %v, queryAll %v", m["totalSize"], m2["totalSize"])
	}
	// Errors in Salesforce's format.
	for soql, code := range map[string]string{
		"SELECT Nope__c FROM Account":                                       "INVALID_FIELD",
		"SELECT Id FROM Nope__c":                                            "INVALID_TYPE",
		"SELECT Id FROM Account WHERE":                                      "MALFORMED_QUERY",
		"SELECT Id FROM Opportunity WHERE Amount = '5'":                     "INVALID_FIELD",
		"SELECT Id FROM Account WHERE Id = 'not-an-id'":                     "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Task WHERE Description = 'x'":                       "INVALID_FIELD",
		"SELECT Id FROM Opportunity WHERE CloseDate = 2026-01-01T00:00:00Z": "INVALID_FIELD",
	} {
		status, m := query(t, s, tok, "query", soql)
		if status != 400 || m["errorCode"] != code {
			t.Errorf("%s: %d %v", soql, status, m)
		}
	}
	// Date literals on the fake's clock.
	s.SetNow(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	if _, err := ae.Create("Account", map[string]any{"Name": "Today"}); err != nil {
		t.Fatal(err)
	}
	_, m = query(t, s, tok, "query", "SELECT Id FROM Account WHERE CreatedDate = TODAY AND Name = 'Today'")
	_, m2 = query(t, s, tok, "query", "SELECT Id FROM Account WHERE CreatedDate < YESTERDAY AND Name = 'Today'")
	if m["totalSize"].(float64) != 1 || m2["totalSize"].(float64) != 0 {
		t.Errorf("date literals: %v %v", m["totalSize"], m2["totalSize"])
	}
	if c := s.Calls()["GET query"]; c < 10 {
		t.Errorf("call counter: %v", s.Calls())
	}
	if used, limit := s.APIUsage(); used < 10 || limit != 100000 {
		t.Errorf("usage %d/%d", used, limit)
	}
}
