package channels

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/secret"
)

// Without intake.webform.link_key, serve makes a key once and keeps it
// beside the state file (0600), and regsync partner-link reads it there.
func TestLinkKeyKeptBesideStateFile(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "regsync.db")
	cfg := &config.Config{}
	cfg.State.Path = statePath
	if _, err := LinkKey(cfg); !errors.Is(err, ErrNoLinkKey) || !strings.Contains(err.Error(), "run regsync serve once to make one in "+statePath+".link-key") {
		t.Fatalf("no key yet: %v", err)
	}
	k1, err := ensureLinkKey(statePath)
	if err != nil || len(k1.Reveal()) < 32 {
		t.Fatalf("ensureLinkKey = %v", err)
	}
	fi, err := os.Stat(LinkKeyFile(statePath))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, _ := ensureLinkKey(statePath)
	k3, err := LinkKey(cfg)
	if err != nil || k2.Reveal() != k1.Reveal() || k3.Reveal() != k1.Reveal() {
		t.Fatalf("the kept key changed (%v)", err)
	}
	cfg.Intake.WebForm.LinkKey = secret.New("configured-link-key-0001")
	if k, _ := LinkKey(cfg); k.Reveal() != "configured-link-key-0001" {
		t.Error("the configured key does not win")
	}
	if err := os.WriteFile(LinkKeyFile(statePath), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureLinkKey(statePath); err == nil || !strings.Contains(err.Error(), "holds no usable link key") {
		t.Errorf("a bad key file: %v", err)
	}
}
