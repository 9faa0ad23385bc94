package mail

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/internal/yamlx"
)

// TLS modes of an SMTP connection.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS
	// (port 587); the upgrade is required.
	TLSStartTLS = "starttls"
	// TLSImplicit connects with TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone never encrypts: only for a relay on localhost or in tests.
	TLSNone = "none"
)

// Config is the mail: section: how regsync sends e-mail.
type Config struct {
	// Host is the SMTP server (submission). Empty: no mail is sent over
	// SMTP (the daemon may still write an outbox directory, notify.outbox).
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is starttls, tls or none.
	TLS      string        `yaml:"tls"`
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// From is the sender of every message, such as
	// "Partner program <partners@example.com>".
	From string `yaml:"from"`
	// Helo is the name given in EHLO (default: the From domain).
	Helo string `yaml:"helo"`
	// Timeout bounds one delivery (connect, TLS, commands and data).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig returns the section with every key at its default: no
// mail is sent until a host is set.
func DefaultConfig() Config {
	return Config{Port: 587, TLS: TLSStartTLS, Timeout: 30 * time.Second}
}

// Enabled reports whether an SMTP server is configured.
func (c *Config) Enabled() bool { return c.Host != "" }

// Validate checks the section. Errors carry paths starting at "mail".
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, yamlx.Errorf(yamlx.Path("mail", key), format, args...))
	}
	if c.Host != "" {
		if strings.ContainsAny(c.Host, " /:") && net.ParseIP(c.Host) == nil {
			bad("host", "%q is not a host name (give the port in mail.port)", c.Host)
		}
	}
	if c.Port <= 0 || c.Port > 65535 {
		bad("port", "must be 1 to 65535, not %d", c.Port)
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		bad("tls", "must be starttls, tls or none, not %q", c.TLS)
	}
	if c.Enabled() && c.From == "" {
		bad("from", "required to send mail")
	} else if c.From != "" {
		if _, err := ParseAddress(c.From); err != nil {
			bad("from", "%q is not an e-mail address", c.From)
		}
	}
	if c.Password.IsSet() && c.Username == "" {
		bad("username", "required with a password")
	}
	if c.Password.IsSet() && c.TLS == TLSNone && !isLoopback(c.Host) {
		bad("tls", "none would send the password in clear text to %s: use starttls or tls", c.Host)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive, not %s", c.Timeout)
	}
	return errors.Join(errs...)
}

func (c *Config) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
