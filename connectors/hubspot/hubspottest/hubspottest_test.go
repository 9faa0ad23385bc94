package hubspottest

import "testing"

func TestSignV2Vector(t *testing.T) {
	// HubSpot's published test vector (Node SDK test/unit/signature.spec.ts).
	const secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	if got := SignV2(secret, "GET", "https://www.example.com/webhook_uri", nil); got != "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e" {
		t.Errorf("v2 %s", got)
	}
}

func TestStartServesUntilClose(t *testing.T) {
	s, err := Start(Options{Bare: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() == "" {
		t.Fatal("no URL after Start")
	}
	s.Close()
	s.Close() // a second Close is harmless
	if _, err := StartAt("256.0.0.1:0", Options{}); err == nil {
		t.Fatal("StartAt on a bad address: no error")
	}
}
