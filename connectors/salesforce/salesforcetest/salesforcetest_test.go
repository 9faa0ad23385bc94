package salesforcetest

import "testing"

func TestStartServesUntilClose(t *testing.T) {
	s, err := Start(Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() == "" {
		t.Fatal("no URL after Start")
	}
	s.Close()
	s.Close() // a second Close is harmless
	if _, err := Start(Options{Addr: "256.0.0.1:0"}); err == nil {
		t.Fatal("Start on a bad address: no error")
	}
}
