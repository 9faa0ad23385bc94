package hubspottest

import (
	"net/http"
	"testing"
	"time"
)

func TestSignV2Vector(t *testing.T) {
	// HubSpot's published test vector (Node SDK test/unit/signature.spec.ts).
	const secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	if got := SignV2(secret, "GET", "https://www.example.com/webhook_uri", nil); got != "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e" {
		t.Errorf("v2 %s", got)
	}
}

// Start serves the portal on loopback until Close; a second Close is
// harmless.
func TestStart(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	s, err := Start(Options{Bare: true, Clock: NewClock(at)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Now().Equal(at) {
		t.Errorf("clock shows %s, want %s", s.Now(), at)
	}
	res, err := http.Get(s.URL() + "/sandbox/calls")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s.Close()
	s.Close()
	if _, err := http.Get(s.URL() + "/sandbox/calls"); err == nil {
		t.Fatal("still serving after Close")
	}
	if _, err := StartAt("256.0.0.1:0", Options{}); err == nil {
		t.Fatal("StartAt on a bad address: no error")
	}
}
