package daemon

import (
	"bytes"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// The daemon polls an intake mailbox over IMAP (an in-memory server on
// loopback): a partner's message is registered and answered, an
// auto-reply ignored, both marked processed and never read again.
func TestIntakeEmailIMAPPoller(t *testing.T) {
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
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}}, InsecureAuth: true, Logger: log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, f := range []string{"thunderbird_iso8859_1.eml", "outlook_auto_reply.eml"} {
		if _, err := u.Append("INBOX", bytes.NewReader(testdata(t, "email", f)), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	r := startRig(t, rigOpts{imap: ln.Addr().String()})
	reply := r.mailTo("marc.lefevre@contoso.example", "R-", 10*time.Second)
	recs := r.fake.hs.Records(r.fake.typeID)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	rec := r.crm.Get(t, recs[0].ID)
	if rec["source"] != "email" || rec["partner_id"] != "contoso" || rec["company_name"] != "Fromagerie Dupont & Fils" {
		t.Errorf("record %v", rec)
	}
	if got := reply.Header("Subject"); !bytes.Contains([]byte(got), []byte(rec["case_number"])) {
		t.Errorf("reply subject %q", got)
	}
	// Both messages are marked processed; later polls register nothing.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if processed(t, ln.Addr().String()) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the messages were not marked processed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n, m := r.records(), len(r.smtp.Messages()); n != 1 || m != 1 {
		t.Errorf("after more polls: %d records, %d messages", n, m)
	}
}

// processed counts the mailbox's messages with regsync's keyword.
func processed(t *testing.T, addr string) int {
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
	data, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{"$RegsyncProcessed", imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return len(data.AllUIDs())
}
