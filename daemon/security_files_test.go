package daemon

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// The admin token file beside the state file is readable by its owner
// only, even when it was there before with a wider mode (written by an
// older regsync, restored from a backup, or planted to be read later): the
// daemon's new token is never left readable by other users.
func TestAdminTokenFileIsPrivateEvenWhenItExists(t *testing.T) {
	h := newHarness(t, crms[0], harnessOpts{})
	path := AdminTokenFile(h.cfg.State.Path)
	if err := os.WriteFile(path, []byte("an-old-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	h.start()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("%s has mode %#o, want 0600", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "an-old-token" || len(tok) < 32 {
		t.Fatalf("the file holds %d characters, not a new generated token", len(tok))
	}
	// It is the token the admin API takes.
	req, _ := http.NewRequest("GET", h.adminURL()+"/-/inbox", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /-/inbox with the token of the file answered %d", resp.StatusCode)
	}
}
