package salesforcetest

import (
	"net/http"
	"strings"
	"testing"
)

// Start serves the org where the instance URL says, until Close.
func TestStart(t *testing.T) {
	s, err := Start(Options{Empty: true, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	form := "grant_type=client_credentials&client_id=" + DefaultClientID + "&client_secret=" + DefaultClientSecret
	res, err := http.Post(s.URL()+"/services/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("token: %s", res.Status)
	}
	s.Close()
	if _, err := http.Get(s.URL()); err == nil {
		t.Fatal("still serving after Close")
	}
	if _, err := Start(Options{Addr: "256.0.0.1:0"}); err == nil {
		t.Fatal("Start on a bad address: no error")
	}
}
