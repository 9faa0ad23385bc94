package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/daemon"
	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/channels"
	"github.com/regsync/regsync/intake/webform"
)

func newPartnerLink(g *globals) *cobra.Command {
	var partner, email, expires string
	cmd := &cobra.Command{
		Use:   "partner-link --partner ID --email ADDRESS [--expires 90d]",
		Short: "Print a partner's personal web-form link: pre-filled, registered without a confirmation e-mail",
		Long: `partner-link prints the personal link of one partner address to the web form
(GET /register?link=…): the form opens with the partner and the address filled
in and fixed, and what is sent through it is registered at once — no
confirmation e-mail — as that partner and address, whatever else is posted.
Give it to that person only: whoever holds it registers as them.

The address must be at one of the partner's email_domains, and the partner
active. The link is signed with intake.webform.link_key (or, unset, the key
regsync serve keeps in <state.path>.link-key); rotating that key revokes every
personal link and every remembered browser. --expires takes days (90d), weeks
(2w) or a Go duration (36h).

The link goes to standard output; what it is, to standard error. Exit 0, 1 when
there is no key yet, 2 on bad usage or configuration (an unknown partner, an
address that is not the partner's).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			valid, err := parseValidity(expires)
			if err != nil {
				return usageErr(fmt.Errorf("--expires: %w", err))
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			key, err := channels.LinkKey(cfg)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			base := publicBase(cfg)
			link, exp, err := webform.PartnerLink(key, base, intake.NewDirectory(cfg.Partners), partner, email, time.Now(), valid)
			if err != nil {
				return configErr(err)
			}
			fmt.Fprintln(g.stdout, link)
			fmt.Fprintf(g.stderr, "personal web-form link for %s (partner %s), valid until %s: it registers without a confirmation e-mail, so give it to that person only; rotating intake.webform.link_key revokes every link\n",
				strings.ToLower(strings.TrimSpace(email)), partner, exp.UTC().Format("2006-01-02 15:04 UTC"))
			if !cfg.Intake.WebForm.Enabled {
				fmt.Fprintln(g.stderr, "note: intake.webform.enabled is false: the link works once the web form is on")
			}
			if cfg.Server.PublicURL == "" {
				fmt.Fprintf(g.stderr, "note: server.public_url is not set: the link points at %s\n", base)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&partner, "partner", "", "the partner's id (partners[].id)")
	cmd.Flags().StringVar(&email, "email", "", "the address the link registers as; at one of the partner's email_domains")
	cmd.Flags().StringVar(&expires, "expires", "90d", "how long the link is valid: 90d, 2w, 36h")
	_ = cmd.MarkFlagRequired("partner")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// parseValidity reads 90d, 2w or a Go duration.
func parseValidity(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); n != s && (unit == "d" || unit == "w") {
		var k int
		if k, err = strconv.Atoi(n); err == nil {
			d = time.Duration(k) * 24 * time.Hour
			if unit == "w" {
				d *= 7
			}
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, errors.New("want a positive time such as 90d, 2w or 36h, not " + strconv.Quote(s))
	}
	return d, nil
}

// publicBase is where partners reach the daemon: server.public_url, else
// the address a running daemon listens on, else server.addr.
func publicBase(cfg *config.Config) string {
	if u := strings.TrimRight(cfg.Server.PublicURL, "/"); u != "" {
		return u
	}
	addr := cfg.Server.Addr
	if b, err := os.ReadFile(daemon.AddrFile(cfg.State.Path)); err == nil && strings.TrimSpace(string(b)) != "" {
		addr = strings.TrimSpace(string(b))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
