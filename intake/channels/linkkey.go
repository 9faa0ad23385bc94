package channels

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/secret"
)

// LinkKeyFile is where serve keeps the web form's link key (personal
// partner links, remembered browsers) when intake.webform.link_key is
// unset; mode 0600, beside the state file, like the admin token.
func LinkKeyFile(statePath string) string { return statePath + ".link-key" }

// ErrNoLinkKey says that no key signs personal partner links yet.
var ErrNoLinkKey = errors.New("no link key")

// LinkKey is the key that signs the web form's personal partner links:
// intake.webform.link_key, else the one serve keeps in LinkKeyFile
// (wrapped ErrNoLinkKey while there is none: serve makes it).
func LinkKey(cfg *config.Config) (secret.Secret, error) {
	if k := cfg.Intake.WebForm.LinkKey; k.IsSet() {
		return k, nil
	}
	path := LinkKeyFile(cfg.State.Path)
	k, err := readLinkKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return secret.Secret{}, fmt.Errorf("%w: set intake.webform.link_key (REGSYNC_INTAKE_WEBFORM_LINK_KEY), or run regsync serve once to make one in %s", ErrNoLinkKey, path)
	}
	return k, err
}

func readLinkKey(path string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, err
	}
	k := strings.TrimSpace(string(b))
	if len(k) < 16 {
		return secret.Secret{}, fmt.Errorf("%s holds no usable link key (16 characters or more): delete it and restart regsync serve", path)
	}
	return secret.New(k), nil
}

// ensureLinkKey reads the kept link key, making it the first time.
func ensureLinkKey(statePath string) (secret.Secret, error) {
	path := LinkKeyFile(statePath)
	k, err := readLinkKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return secret.Secret{}, err
	}
	key := base64.RawURLEncoding.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readLinkKey(path) // made meanwhile
	}
	if err != nil {
		return secret.Secret{}, fmt.Errorf("keep the link key in %s: %w", path, err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return secret.Secret{}, fmt.Errorf("keep the link key in %s: %w", path, err)
	}
	return secret.New(key), nil
}
