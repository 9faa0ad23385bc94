package httpfault

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestNotSent: a refused connection and a failed DNS lookup never sent the
// request; a reset after the server read it, a timeout awaiting the answer
// and a cancelled context may have.
func TestNotSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()

	read := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-read
			return
		}
		conn, _, _ := w.(http.Hijacker).Hijack()
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}))
	defer srv.Close()
	defer close(read)

	post := func(url string, timeout time.Duration) error {
		c := &http.Client{Timeout: timeout}
		resp, err := c.Post(url, "application/json", strings.NewReader(`{"inputs":[]}`))
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name    string
		err     error
		notSent bool
	}{
		{"connection refused", post(dead, time.Second), true},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.hubapi.invalid"}, true},
		{"reset after sending", post(srv.URL+"/reset", time.Second), false},
		{"timeout awaiting the answer", post(srv.URL+"/slow", 50*time.Millisecond), false},
		{"cancelled", context.Canceled, false},
		{"other", errors.New("boom"), false},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if got := NotSent(tc.err); got != tc.notSent {
			t.Errorf("%s: NotSent(%v) = %v", tc.name, tc.err, got)
		}
		if Ambiguous(nil, tc.err) == tc.notSent {
			t.Errorf("%s: Ambiguous = %v", tc.name, !tc.notSent)
		}
	}
}

func TestAttempts(t *testing.T) {
	ctx, a := WithAttempts(context.Background())
	if FromContext(ctx) != a || FromContext(context.Background()) != nil {
		t.Fatal("FromContext")
	}
	var none *Attempts
	none.Observe(nil, errors.New("x")) // no panic
	if none.MaybeApplied() {
		t.Error("nil Attempts")
	}
	for _, s := range []int{200, 400, 429, 501, 505} {
		a.Observe(&http.Response{StatusCode: s}, nil)
	}
	if a.MaybeApplied() {
		t.Error("a definite answer marked the call")
	}
	a.Observe(&http.Response{StatusCode: 502}, nil)
	if !a.MaybeApplied() {
		t.Error("a 502 did not mark the call")
	}
}
