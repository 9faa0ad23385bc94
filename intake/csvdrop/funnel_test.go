package csvdrop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// A CSV row is refused, with the field and why, for what every channel
// refuses: a free-mail company website and a contact at the row's
// partner's own company. Before the funnel such rows were registered and
// the rules decided them (needs_info, or approved with the partner's own
// colleague as the contact).
func TestImportRefusesWhatEveryChannelRefuses(t *testing.T) {
	in := "Company,Website,Email,Consent,Partner\n" +
		"A,a.example,jane@a.example,yes,northwind\n" +
		"B,gmail.com,jane@b.example,yes,northwind\n" +
		"C,c.example,sam@northwind.example,yes,northwind\n" +
		"D,d.example,sam@northwind.example,yes,contoso\n" // another partner's address is a contact like any
	var out bytes.Buffer
	if _, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{Partners: partners, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(&out).ReadAll()
	want := [][2]string{
		{"valid", "would be registered"},
		{"rejected", "company_domain: gmail.com is a free e-mail provider: enter the company's own website"},
		{"rejected", "contact_email: that is an address at your own company; give the prospect's address"},
		{"valid", "would be registered"},
	}
	if len(recs) != len(want)+1 {
		t.Fatalf("%v", recs)
	}
	for i, w := range want {
		if r := recs[i+1]; r[2] != w[0] || r[4] != w[1] {
			t.Errorf("row %d: %v, want %v", i+1, r, w)
		}
	}
}

type keepingRegistrar struct {
	intake.Registrar
	mu   sync.Mutex
	subs []intake.Submission
}

func (k *keepingRegistrar) Register(_ context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.subs = append(k.subs, subs...)
	out := make([]intake.Receipt, len(subs))
	for i, s := range subs {
		out[i] = intake.Receipt{CaseNumber: registration.CaseNumberFor(s.Key), Status: registration.StatusApproved, Created: true}
	}
	return out, nil
}

// A row's key is what it was: "csv:", the partner, the first 32 hex digits
// of the file's SHA-256 and the row number; its case number follows.
func TestImportKeysAreUnchanged(t *testing.T) {
	in := "Company,Website,Consent,Partner\nA,a.example,yes,northwind\nB,b.example,yes,contoso\n"
	sum := sha256.Sum256([]byte(in))
	digest := hex.EncodeToString(sum[:])[:32]
	reg := &keepingRegistrar{}
	var out bytes.Buffer
	if _, err := Import(t.Context(), strings.NewReader(in), &out, reg, Options{Partners: partners}); err != nil {
		t.Fatal(err)
	}
	want := []string{"csv:northwind:" + digest + ":1", "csv:contoso:" + digest + ":2"}
	if len(reg.subs) != len(want) {
		t.Fatalf("registered %d", len(reg.subs))
	}
	for i, w := range want {
		s := reg.subs[i]
		if s.Key != w || s.Record.SubmissionKey != w || s.Record.CaseNumber != registration.CaseNumberFor(w) || s.Channel != "csv" || s.Record.Source != "csv" {
			t.Errorf("row %d: %q %q %q", i+1, s.Key, s.Record.CaseNumber, s.Channel)
		}
	}
	if got := registration.CaseNumberFor("csv:northwind:0123456789abcdef0123456789abcdef:3"); got != "R-H7BFK8VFQD" {
		t.Errorf("case number of a known key: %s", got)
	}
}
