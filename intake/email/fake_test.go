package email

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/intake/statuspage"
	regmail "github.com/regsync/regsync/internal/mail"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

// fakeRegistrar keeps registrations in memory the way the daemon's
// Registrar does: the case number is derived from the submission key, and
// a submission whose case number is already registered gets the existing
// record back (Created false) — whoever sent it.
type fakeRegistrar struct {
	mu      sync.Mutex
	recs    map[string]registration.Record // by case number
	amended []string                       // "R-… action", in order
	links   *statuspage.Links
	signer  *statuspage.Signer // the links' signer
	// block, when set, holds Register until it is closed, whatever the
	// context says (a CRM call that hangs).
	block chan struct{}
}

func newFakeRegistrar() *fakeRegistrar {
	s, _ := statuspage.NewSigner(secret.New("status-link-key-0123456789"))
	return &fakeRegistrar{recs: map[string]registration.Record{}, links: statuspage.NewLinks("https://partners.vendor.example", s), signer: s}
}

// add stores a record as if it had been registered earlier.
func (f *fakeRegistrar) add(r registration.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.CaseNumber == "" {
		r.CaseNumber = registration.CaseNumberFor(r.SubmissionKey)
	}
	if r.Status == "" {
		r.Status = registration.StatusSubmitted
	}
	f.recs[r.CaseNumber] = r
}

func (f *fakeRegistrar) receipt(r registration.Record, created bool) intake.Receipt {
	return intake.Receipt{ID: "crm-" + r.CaseNumber, CaseNumber: r.CaseNumber, Status: r.Status, StatusURL: f.StatusURL(r.CaseNumber), Created: created}
}

func (f *fakeRegistrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]intake.Receipt, len(subs))
	for i, s := range subs {
		r := s.Record
		r.SubmissionKey = s.Key
		r.CaseNumber = registration.CaseNumberFor(s.Key)
		if ex, ok := f.recs[r.CaseNumber]; ok {
			out[i] = f.receipt(ex, false)
			continue
		}
		r.Status = registration.StatusSubmitted
		f.recs[r.CaseNumber] = r
		out[i] = f.receipt(r, true)
	}
	return out, nil
}

func (f *fakeRegistrar) Lookup(ctx context.Context, caseNumber string) (registration.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[caseNumber]
	if !ok {
		return registration.Record{}, fmt.Errorf("%s: %w", caseNumber, intake.ErrNotFound)
	}
	return r, nil
}

func (f *fakeRegistrar) Amend(ctx context.Context, caseNumber string, a intake.Amendment) (intake.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[caseNumber]
	if !ok {
		return intake.Receipt{}, fmt.Errorf("%s: %w", caseNumber, intake.ErrNotFound)
	}
	f.amended = append(f.amended, caseNumber+" "+a.Action)
	switch a.Action {
	case intake.ActionWithdraw:
		r.Status = registration.StatusWithdrawn
	case intake.ActionAppeal:
		r.Status = registration.StatusAppealed
	}
	f.recs[caseNumber] = r
	return f.receipt(r, false), nil
}

func (f *fakeRegistrar) StatusURL(caseNumber string) string { return f.links.URL(caseNumber) }

func (f *fakeRegistrar) amendments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.amended...)
}

func (f *fakeRegistrar) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recs)
}

// outbox captures the replies.
type outbox struct {
	mu   sync.Mutex
	msgs []*regmail.Message
}

func (o *outbox) Send(_ context.Context, m *regmail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

// last is the text of the latest reply ("" when none was sent).
func (o *outbox) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == 0 {
		return ""
	}
	m := o.msgs[len(o.msgs)-1]
	return m.Subject + "\n" + m.Text
}

// loopback serves the channel's handler on a loopback port, as the daemon
// mounts it.
func loopback(t *testing.T, c *Channel) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(Path, c)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// send posts body to the channel over HTTP with the inbound token and
// returns the status and the answer. The client gives up after timeout.
func send(t *testing.T, srv *httptest.Server, ctype string, body []byte, timeout time.Duration) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer inbound-token-123")
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// crlf turns a readable message into one with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n"))
}
