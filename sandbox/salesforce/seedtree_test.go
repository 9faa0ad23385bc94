package salesforce_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/regsync/regsync/sandbox/salesforce"
)

// An export of `sf data export tree --plan` seeds the org: nested children
// take their parent's id, @references resolve across files, the plan
// orders the files.
func TestSeedFromSObjectTreeFiles(t *testing.T) {
	seed := fstest.MapFS{
		"Account-Opportunity-plan.json": {Data: []byte(`[
  {"sobject": "Account", "saveRefs": true, "resolveRefs": false, "files": ["Account.json"]},
  {"sobject": "Task", "saveRefs": false, "resolveRefs": true, "files": ["Task.json"]}]`)},
		"Account.json": {Data: []byte(`{"records": [
  {"attributes": {"type": "Account", "referenceId": "AccountRef1"}, "Name": "Globex", "Website": "https://www.globex.example/",
   "Opportunities": {"records": [
     {"attributes": {"type": "Opportunity", "referenceId": "OpportunityRef1"}, "Name": "Globex renewal",
      "StageName": "Qualification", "CloseDate": "2026-06-30", "Amount": 12000}]}},
  {"attributes": {"type": "Account", "referenceId": "AccountRef2"}, "Name": "Initech", "Website": null}]}`)},
		"Task.json": {Data: []byte(`{"records": [
  {"attributes": {"type": "Task", "referenceId": "TaskRef1"}, "Subject": "Call Globex", "WhatId": "@OpportunityRef1"}]}`)},
		"ignored.txt": {Data: []byte("not a seed file")},
	}
	s := start(t, salesforce.Options{Seed: seed})
	accts := s.Records("Account")
	if len(accts) != 2 || accts[0]["Name"] != "Globex" || accts[1]["Name"] != "Initech" || accts[1]["Website"] != nil {
		t.Fatalf("accounts: %v", accts)
	}
	opps := s.Records("Opportunity")
	if len(opps) != 1 || opps[0]["AccountId"] != accts[0]["Id"] || opps[0]["Amount"] != 12000.0 || opps[0]["IsClosed"] != false ||
		!opps[0]["CloseDate"].(time.Time).Equal(time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("opportunities: %v", opps)
	}
	tasks := s.Records("Task")
	if len(tasks) != 1 || tasks[0]["WhatId"] != opps[0]["Id"] {
		t.Fatalf("tasks: %v", tasks)
	}
	// Queries see the seed like any record.
	sf := login(t, s)
	var rows []map[string]any
	if err := sf.Query("SELECT Id, Name FROM Opportunity WHERE Account.Name = 'Globex'", &rows); err != nil || len(rows) != 1 {
		t.Fatalf("query: %v %v", rows, err)
	}

	for name, files := range map[string]fstest.MapFS{
		"unknown object":    {"a.json": {Data: []byte(`{"records": [{"attributes": {"type": "Widget__c"}, "Name": "x"}]}`)}},
		"bad field":         {"a.json": {Data: []byte(`{"records": [{"attributes": {"type": "Account"}, "Name": "x", "Colour__c": "red"}]}`)}},
		"dangling ref":      {"a.json": {Data: []byte(`{"records": [{"attributes": {"type": "Task"}, "WhatId": "@Nowhere"}]}`)}},
		"no type":           {"a.json": {Data: []byte(`{"records": [{"Name": "x"}]}`)}},
		"not json":          {"a.json": {Data: []byte(`<records/>`)}},
		"no file":           {"a.txt": {Data: []byte(`{}`)}},
		"child of nothing":  {"a.json": {Data: []byte(`{"records": [{"attributes": {"type": "Account"}, "Name": "x", "Kids": {"records": [{"attributes": {"type": "User"}, "Name": "u"}]}}]}`)}},
		"required missing":  {"a.json": {Data: []byte(`{"records": [{"attributes": {"type": "Opportunity"}, "Name": "x"}]}`)}},
		"plan names a file": {"plan.json": {Data: []byte(`[{"sobject": "Account", "files": ["missing.json"]}]`)}},
	} {
		_, err := salesforce.New(salesforce.Options{Seed: files})
		if err == nil || !strings.Contains(err.Error(), "seed") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
