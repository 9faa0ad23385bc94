// Package secret holds credentials so that they cannot leak by accident:
// printing, logging, JSON or YAML output of a Secret shows "<secret>".
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Redacted is what a set secret shows as.
const Redacted = "<secret>"

// Secret is a credential. Its value is only available through Reveal.
type Secret struct{ v string }

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the credential itself, for the one place that sends it.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// Format makes every fmt verb print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue keeps log/slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a plain string. A value of the form "file:/path" is
// read from that file (trailing newline trimmed), so secrets can live in
// mounted files rather than in the config.
func (s *Secret) UnmarshalYAML(unmarshal func(any) error) error {
	var v string
	if err := unmarshal(&v); err != nil {
		return err
	}
	return s.Set(v)
}

// Set assigns a value, reading "file:/path" values from the file.
func (s *Secret) Set(v string) error {
	if path, ok := strings.CutPrefix(v, "file:"); ok {
		b, err := os.ReadFile(strings.TrimSpace(path))
		if err != nil {
			return fmt.Errorf("read secret file: %w", err)
		}
		v = strings.TrimRight(string(b), "\r\n")
	}
	s.v = v
	return nil
}
