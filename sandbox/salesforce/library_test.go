package salesforce_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gosf "github.com/k-capehart/go-salesforce/v3"

	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/sandbox/salesforce"
)

func start(t *testing.T, opts salesforce.Options) *salesforce.Server {
	t.Helper()
	s, err := salesforcetest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func login(t *testing.T, s *salesforce.Server) *gosf.Salesforce {
	t.Helper()
	sf, err := gosf.Init(gosf.Creds{Domain: s.URL(), ConsumerKey: "sandbox", ConsumerSecret: "sandbox-secret"},
		gosf.WithHTTPTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// The unmodified go-salesforce library logs in with every flow it has.
func TestLibraryAuthFlows(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	s := start(t, salesforce.Options{Username: "ae@example.com", Password: "pw", SecurityToken: "tok",
		JWTKey: &key.PublicKey, AccessTokens: []string{"static-token"}})
	for name, c := range map[string]gosf.Creds{
		"client credentials": {Domain: s.URL(), ConsumerKey: "sandbox", ConsumerSecret: "sandbox-secret"},
		"password":           {Domain: s.URL(), ConsumerKey: "sandbox", ConsumerSecret: "sandbox-secret", Username: "ae@example.com", Password: "pw", SecurityToken: "tok"},
		"jwt":                {Domain: s.URL(), ConsumerKey: "sandbox", Username: "ae@example.com", ConsumerRSAPem: pemKey},
		"access token":       {Domain: s.URL(), AccessToken: "static-token"},
	} {
		sf, err := gosf.Init(c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var rows []map[string]any
		if err := sf.Query("SELECT Id, Name FROM Organization", &rows); err != nil || len(rows) != 1 {
			t.Errorf("%s: query: %v %v", name, rows, err)
		}
	}
	for name, c := range map[string]gosf.Creds{
		"bad secret":   {Domain: s.URL(), ConsumerKey: "sandbox", ConsumerSecret: "nope"},
		"bad password": {Domain: s.URL(), ConsumerKey: "sandbox", ConsumerSecret: "sandbox-secret", Username: "ae@example.com", Password: "x", SecurityToken: "tok"},
		"bad token":    {Domain: s.URL(), AccessToken: "nope"},
	} {
		if _, err := gosf.Init(c); err == nil {
			t.Errorf("%s: logged in", name)
		}
	}
}

func TestLibraryCRUDAndCollections(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true})
	sf := login(t, s)
	res, err := sf.InsertOne("Account", map[string]any{"Name": "Globex", "Website": "https://globex.example"})
	if err != nil || !res.Success || res.Id == "" {
		t.Fatalf("insert: %+v %v", res, err)
	}
	if err := sf.UpdateOne("Account", map[string]any{"Id": res.Id, "Website": "https://www.globex.example/"}); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Id, Name, Website string
	}
	if err := sf.Query("SELECT Id, Name, Website FROM Account WHERE Name = 'globex'", &rows); err != nil || len(rows) != 1 || rows[0].Website != "https://www.globex.example/" {
		t.Fatalf("query: %+v %v", rows, err)
	}
	up, err := sf.UpsertOne(salesforce.RegistrationObject, "Case_Number__c", map[string]any{"Case_Number__c": "R-0000000001", "Status__c": "submitted", "Account__c": res.Id})
	if err != nil || !up.Success {
		t.Fatalf("upsert: %+v %v", up, err)
	}
	up2, err := sf.UpsertOne(salesforce.RegistrationObject, "Case_Number__c", map[string]any{"Case_Number__c": "R-0000000001", "Status__c": "approved"})
	if err != nil || up2.Id != up.Id {
		t.Fatalf("second upsert: %+v %v", up2, err)
	}
	if n := s.Count(salesforce.RegistrationObject); n != 1 {
		t.Fatalf("%d registrations after two upserts", n)
	}
	if s.Writes(up.Id) != 2 {
		t.Errorf("writes = %d", s.Writes(up.Id))
	}
	// Collections with a per-record error.
	recs := []map[string]any{{"Case_Number__c": "R-0000000002", "Status__c": "submitted"}, {"Case_Number__c": "R-0000000003", "Status__c": "bogus"}}
	cr, err := sf.UpsertCollection(salesforce.RegistrationObject, "Case_Number__c", recs, 200)
	if err != nil || !cr.HasSalesforceErrors || len(cr.Results) != 2 || !cr.Results[0].Success || cr.Results[1].Success ||
		cr.Results[1].Errors[0].StatusCode != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" {
		t.Fatalf("upsert collection: %+v %v", cr, err)
	}
	ins, err := sf.InsertCollection("Account", []map[string]any{{"Name": "A"}, {"Name": "B"}, {"Website": "x"}}, 200)
	if err != nil || len(ins.Results) != 3 || ins.Results[2].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("insert collection: %+v %v", ins, err)
	}
	del, err := sf.DeleteCollection("Account", []map[string]any{{"Id": ins.Results[0].Id}, {"Id": ins.Results[1].Id}}, 200)
	if err != nil || del.HasSalesforceErrors {
		t.Fatalf("delete collection: %+v %v", del, err)
	}
	var all []map[string]any
	if err := sf.Query("SELECT Id FROM Account", &all); err != nil || len(all) != 1 {
		t.Fatalf("after delete: %v %v", all, err)
	}
	// Composite.
	comp, err := sf.InsertComposite("Account", []map[string]any{{"Name": "C1"}, {"Name": "C2"}}, 200, true)
	if err != nil || comp.HasSalesforceErrors {
		t.Fatalf("composite: %+v %v", comp, err)
	}
	// Errors are the library's raw strings of Salesforce's error JSON.
	err = sf.UpdateOne(salesforce.RegistrationObject, map[string]any{"Id": up.Id, "Status__c": "nope"})
	if err == nil || !strings.Contains(err.Error(), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST") {
		t.Fatalf("update error: %v", err)
	}
	if err := sf.DeleteOne("Account", map[string]any{"Id": res.Id}); err != nil {
		t.Fatal(err)
	}
	err = sf.UpdateOne("Account", map[string]any{"Id": res.Id, "Name": "x"})
	if err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Fatalf("update deleted: %v", err)
	}
}

func TestLibraryQueryPagingAndBulk(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true, PageSize: 100})
	sf := login(t, s)
	var recs []map[string]any
	for i := 0; i < 250; i++ {
		recs = append(recs, map[string]any{"Name": "Acct", "Website": "w"})
	}
	ids, err := sf.InsertBulk("Account", recs, 10000, true)
	if err != nil || len(ids) != 1 {
		t.Fatalf("bulk: %v %v", ids, err)
	}
	jr, err := sf.GetJobResults(ids[0])
	if err != nil || jr.State != "JobComplete" || len(jr.SuccessfulRecords) != 250 {
		t.Fatalf("job: %+v %v", jr.State, err)
	}
	var rows []map[string]any
	if err := sf.Query("SELECT Id FROM Account", &rows); err != nil || len(rows) != 250 {
		t.Fatalf("paged query: %d %v", len(rows), err)
	}
	resp, err := sf.DoRequest(http.MethodGet, "/sobjects/Account/describe", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Sforce-Limit-Info"), "api-usage=") {
		t.Errorf("no Sforce-Limit-Info: %v", resp.Header)
	}
	var d struct {
		Fields []struct{ Name string } `json:"fields"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &d); err != nil || len(d.Fields) < 5 {
		t.Fatalf("describe: %v %s", err, b)
	}
}

func TestSessionExpiryAndDailyLimit(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true, DailyLimit: 10})
	sf := login(t, s)
	s.ExpireSessions()
	// The library re-authenticates once on INVALID_SESSION_ID.
	var rows []map[string]any
	if err := sf.Query("SELECT Id FROM Organization", &rows); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if s.AuthCalls() != 2 {
		t.Errorf("auth calls = %d", s.AuthCalls())
	}
	s.SetAPIUsage(10)
	err := sf.Query("SELECT Id FROM Organization", &rows)
	if err == nil || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") {
		t.Fatalf("over the limit: %v", err)
	}
	s.Advance(25 * time.Hour)
	if err := sf.Query("SELECT Id FROM Organization", &rows); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// allOrNone rolls back every record of a collection when one fails.
func TestAllOrNone(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true})
	sf := login(t, s)
	// The library sends allOrNone=false; go to the wire for true.
	body := `{"allOrNone":true,"records":[{"attributes":{"type":"Account"},"Name":"Kept?"},{"attributes":{"type":"Account"},"Website":"no name"}]}`
	resp, err := sf.DoRequest(http.MethodPost, "/composite/sobjects", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res []gosf.SalesforceResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	if res[0].Success || res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[1].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
		t.Errorf("results: %+v", res)
	}
	if n := s.Count("Account"); n != 0 {
		t.Errorf("%d accounts after a rolled-back request", n)
	}
	// Composite, all or none.
	comp := `{"allOrNone":true,"compositeRequest":[
	 {"method":"POST","url":"/services/data/v63.0/sobjects/Account","referenceId":"a","body":{"Name":"A"}},
	 {"method":"POST","url":"/services/data/v63.0/sobjects/Account","referenceId":"b","body":{"Website":"x"}},
	 {"method":"GET","url":"/services/data/v63.0/query?q=SELECT+Id+FROM+Account","referenceId":"c"}]}`
	resp2, err := sf.DoRequest(http.MethodPost, "/composite", []byte(comp))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var cr struct {
		CompositeResponse []struct {
			HTTPStatusCode int `json:"httpStatusCode"`
		} `json:"compositeResponse"`
	}
	if err := json.NewDecoder(resp2.Body).Decode(&cr); err != nil || len(cr.CompositeResponse) != 3 ||
		cr.CompositeResponse[0].HTTPStatusCode != 201 || cr.CompositeResponse[1].HTTPStatusCode != 400 || cr.CompositeResponse[2].HTTPStatusCode != 400 {
		t.Fatalf("composite: %+v %v", cr, err)
	}
	if n := s.Count("Account"); n != 0 {
		t.Errorf("%d accounts after a rolled-back composite", n)
	}
	// The composite counted as one API call.
	if c := s.Calls()["POST composite"]; c != 1 {
		t.Errorf("composite calls: %d", c)
	}
}

// UI changes are no API calls and no API writes; API writes are counted
// per record.
func TestUIAndWriteCounts(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true})
	before, _ := s.APIUsage()
	id, err := s.AsAE().Create("Account", map[string]any{"Name": "UI Co", "Website": "ui.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AsAE().Update("Account", id, map[string]any{"Industry": "Retail"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.APIUsage(); after != before || s.TotalCalls() != 0 || s.Writes(id) != 0 {
		t.Errorf("UI counted: usage %d→%d, calls %d, writes %d", before, after, s.TotalCalls(), s.Writes(id))
	}
	rec, _ := s.Get("Account", id)
	if rec["LastModifiedById"] != s.AEUserID() || rec["Industry"] != "Retail" {
		t.Errorf("UI record: %v", rec)
	}
	sf := login(t, s)
	for range 3 {
		if err := sf.UpdateOne("Account", map[string]any{"Id": id, "Name": "UI Co"}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Writes(id) != 3 {
		t.Errorf("writes = %d", s.Writes(id))
	}
	rec, _ = s.Get("Account", id)
	if rec["LastModifiedById"] != s.IntegrationUserID() {
		t.Errorf("API write by %v", rec["LastModifiedById"])
	}
}

func TestDefaultOrganizationID(t *testing.T) {
	s := start(t, salesforce.Options{Empty: true})
	if s.OrganizationID() != salesforce.DefaultOrganizationID {
		t.Errorf("org id %s", s.OrganizationID())
	}
	var rows []map[string]any
	if err := login(t, s).Query("SELECT Id FROM Organization", &rows); err != nil || rows[0]["Id"] != salesforce.DefaultOrganizationID {
		t.Errorf("%v %v", rows, err)
	}
}
