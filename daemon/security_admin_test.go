package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// adminCall calls an admin endpoint at base with a bearer token.
func adminCall(t *testing.T, method, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(`{"keys": ["hubspot/x/1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The admin API is not on the public listener: whoever reaches the
// webhooks and intake channels (the internet, through the reverse proxy)
// finds no /-/ endpoint there, even with the right token; the admin
// listener, on loopback, takes it.
func TestAdminAPIIsNotOnThePublicListener(t *testing.T) {
	h := startHarness(t, crms[0], harnessOpts{})
	tok := h.adminToken()
	for _, ep := range []struct{ method, path string }{
		{"GET", "/-/inbox"}, {"POST", "/-/reload"}, {"POST", "/-/sweep"}, {"POST", "/-/reconcile"}, {"POST", "/-/poll"},
		{"GET", "/-/readyz"}, {"POST", "/-/register"}, {"POST", "/-/settle"}, {"POST", "/-/inbox/retry"}, {"POST", "/-/inbox/drop"},
	} {
		if code, body := adminCall(t, ep.method, h.d.public, ep.path, tok); code != http.StatusNotFound {
			t.Errorf("%s %s on the public listener answered %d, want 404: %.200s", ep.method, ep.path, code, body)
		}
	}
	admin := h.adminURL()
	if admin == h.d.public {
		t.Fatalf("the admin API listens at the public address %s", admin)
	}
	host, _, err := net.SplitHostPort(strings.TrimPrefix(admin, "http://"))
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("the admin API listens at %s, not on loopback", admin)
	}
	if code, body := adminCall(t, "GET", admin, "/-/inbox", tok); code != http.StatusOK {
		t.Errorf("GET /-/inbox on the admin listener answered %d: %s", code, body)
	}
	if code, _ := adminCall(t, "GET", admin, "/-/inbox", "wrong-token-of-thirty-two-chars-x"); code != http.StatusUnauthorized {
		t.Errorf("GET /-/inbox with a wrong token answered %d, want 401", code)
	}
}

// admin.public with admin.addr equal to server.addr puts the admin API on
// the public listener — the one way to get it there, and the daemon warns.
func TestAdminAPIOnThePublicListenerWithAdminPublic(t *testing.T) {
	h := newHarness(t, crms[0], harnessOpts{})
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.cfg.Server.Addr, h.cfg.Admin.Addr, h.cfg.Admin.Public = addr, addr, true
	h.start()
	if got := h.d.AdminAddr().String(); got != h.d.Addr().String() {
		t.Fatalf("admin API on %s, public listener on %s: want one listener", got, h.d.Addr())
	}
	if code, body := adminCall(t, "GET", h.d.public, "/-/inbox", h.adminToken()); code != http.StatusOK {
		t.Errorf("GET /-/inbox on the shared listener answered %d: %s", code, body)
	}
	if !strings.Contains(h.logs.String(), "the admin API shares the public listener") {
		t.Error("no warning that the admin API shares the public listener")
	}
}
