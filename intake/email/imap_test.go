package email

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/regsync/regsync/intake"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/mail/mailtest"
	"github.com/regsync/regsync/internal/secret"
)

// startIMAP serves an in-memory mailbox over IMAP on loopback.
func startIMAP(t *testing.T) (string, *imapmemserver.User) {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("intake", "imap-pass")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), u
}

func flagsByUID(t *testing.T, addr string) map[imap.UID][]imap.Flag {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("intake", "imap-pass").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4), &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[imap.UID][]imap.Flag{}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

func TestPollerMarksWhatItHandledAndRetriesFailures(t *testing.T) {
	addr, u := startIMAP(t)
	auto, _ := os.ReadFile("testdata/outlook_auto_reply.eml")
	for _, m := range [][]byte{
		auto, // ignored
		raw("eve@evil.example", "x", "", "Company: Globex"),                                      // refused
		raw("Sam <sam@northwind.example>", "Hello", "", "How do I register?"),                    // help reply: needs the mail server
		append(raw("sam@northwind.example", "big", "", ""), bytes.Repeat([]byte("x"), 8<<10)...), // too large
	} {
		if _, err := u.Append("INBOX", bytes.NewReader(m), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := intake.DefaultConfig().Email.IMAP
	cfg.Enabled, cfg.Addr, cfg.TLS, cfg.Username, cfg.Password = true, addr, intake.TLSNone, "intake", secret.New("imap-pass")
	cfg.Timeout = 5 * time.Second

	// First poll: the mail server is down, so the help reply fails.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	mc := regmail.DefaultConfig()
	mc.Host, mc.Port, mc.TLS, mc.From, mc.Timeout = "127.0.0.1", deadPort, regmail.TLSNone, "partners@vendor.example", 2*time.Second
	down, _ := regmail.New(mc, "", regmail.Options{})
	small := func(o *Options) { o.Config.MaxBytes = 4 << 10; o.Mail = down }
	res, err := NewPoller(channel(t, small), cfg, PollerOptions{}).PollOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res != (PollResult{Found: 4, Ignored: 1, Refused: 2, Failed: 1}) {
		t.Errorf("first poll %+v", res)
	}
	flags := flagsByUID(t, addr)
	for uid, want := range map[imap.UID]bool{1: true, 2: true, 3: false, 4: true} {
		if got := hasFlag(flags[uid], "$RegsyncProcessed") && hasFlag(flags[uid], imap.FlagSeen); got != want {
			t.Errorf("uid %d flags %v, processed %v", uid, flags[uid], want)
		}
	}

	// Second poll: the mail server is back; only the failed message is read.
	srv := mailtest.Start(t, mailtest.Options{})
	mc.Port = srv.Port()
	up, _ := regmail.New(mc, "", regmail.Options{})
	res, err = NewPoller(channel(t, func(o *Options) { o.Config.MaxBytes = 4 << 10; o.Mail = up }), cfg, PollerOptions{}).PollOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res != (PollResult{Found: 1, Processed: 1}) {
		t.Errorf("second poll %+v", res)
	}
	if got := srv.Messages(); len(got) != 1 || !strings.Contains(got[0].Envelope.Text, "We could not find a registration") {
		t.Errorf("replies %d", len(got))
	}
	res, _ = NewPoller(channel(t, nil), cfg, PollerOptions{}).PollOnce(t.Context())
	if res.Found != 0 {
		t.Errorf("third poll found %d", res.Found)
	}
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func TestPollerLoginFailureAndCancel(t *testing.T) {
	addr, _ := startIMAP(t)
	cfg := intake.DefaultConfig().Email.IMAP
	cfg.Addr, cfg.TLS, cfg.Username, cfg.Password, cfg.Timeout = addr, intake.TLSNone, "intake", secret.New("wrong-imap-secret"), 5*time.Second
	_, err := NewPoller(channel(t, nil), cfg, PollerOptions{}).PollOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), "login as intake") || strings.Contains(err.Error(), "wrong-imap-secret") {
		t.Errorf("login: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cfg.PollInterval = time.Hour
	done := make(chan error, 1)
	go func() { done <- NewPoller(channel(t, nil), cfg, PollerOptions{}).Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
