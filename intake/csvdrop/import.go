package csvdrop

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// ResultHeader is the header of the result CSV (a contract).
var ResultHeader = []string{"row", "case_number", "status", "reason", "message"}

// Statuses and reasons of rows that never reached the CRM.
const (
	StatusRejected = "rejected"
	// StatusValid is a dry run's status for a row that would be
	// registered.
	StatusValid = "valid"
	// StatusError is a row the CRM refused (Receipt.Err).
	StatusError = "error"

	ReasonInvalidRow   = "invalid_row"
	ReasonDuplicateRow = "duplicate_row"
	ReasonCRMError     = "crm_error"
)

// MaxBatch is the most rows one Register call carries (HubSpot's batch
// limit).
const MaxBatch = 100

// Options configure an import.
type Options struct {
	// PartnerID fixes the partner of every row (an upload authenticated
	// with a partner's token). A row naming another partner is invalid.
	// Empty (regsync import by RevOps), each row names its partner: a
	// partner_id column, or a partner_email whose domain is a partner's
	// (Partners must then be set).
	PartnerID string
	// Submitter is the partner_email of rows that carry none.
	Submitter string
	// Partners resolves partner_email to a partner when PartnerID is empty,
	// and names each row's partner.
	Partners *intake.Directory
	// FreeMail tells free-mail domains (not a company website). Default:
	// the embedded list.
	FreeMail *registration.FreeMail
	// BatchSize is how many rows one Register call carries (default and
	// most: MaxBatch).
	BatchSize int
	// DryRun judges every row and writes the result CSV without calling
	// the Registrar: rows that would be registered get status "valid".
	DryRun bool
	// TempDir holds the spooled copy of a non-seekable input (default
	// os.TempDir()).
	TempDir string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Summary counts what an import did.
type Summary struct {
	// Rows counts data rows, blank ones included.
	Rows  int `json:"rows"`
	Blank int `json:"blank"`
	// Submitted rows went to the Registrar; Created of them were new.
	Submitted int `json:"submitted"`
	Created   int `json:"created"`
	Invalid   int `json:"invalid_rows"`
	Duplicate int `json:"duplicate_rows"`
	Errors    int `json:"errors"`
	// ByStatus counts the result rows by status.
	ByStatus map[string]int `json:"by_status"`
	// Calls counts Register calls.
	Calls int `json:"register_calls"`
	// Digest is the file's SHA-256 (hex), part of every row's key.
	Digest string `json:"sha256"`
	// Ignored lists the header cells that map to no field.
	Ignored []string `json:"ignored_columns,omitempty"`
}

// Import reads a CSV file from r, judges each row, registers the rows that
// can be registrations through reg in batches, and writes the result CSV
// to w (header ResultHeader, one line per non-blank data row in file
// order). It returns an error — with the summary so far — only when the
// file as a whole cannot be read (no header of known columns, no company
// or partner column: a *intake.FieldError on "file"), or a Register call
// fails as a whole; then the result CSV holds the rows before the failed
// batch, and running the import again is safe: every row's submission key
// ("csv:" partner, file digest, row) makes a repeat upsert the same record.
//
// The file is read twice — once for its digest, once to import — so only
// one batch of rows and the set of (registrable domain, partner) pairs
// seen are held in memory. A reader that is not an io.ReadSeeker is spooled
// to a temporary file first.
func Import(ctx context.Context, r io.Reader, w io.Writer, reg intake.Registrar, o Options) (Summary, error) {
	sum := Summary{ByStatus: map[string]int{}}
	if o.BatchSize <= 0 || o.BatchSize > MaxBatch {
		o.BatchSize = MaxBatch
	}
	o.Now = intake.ClockOr(o.Now)
	o.Logger = intake.QuietIfNil(o.Logger)
	src, digest, cleanup, err := digestOf(r, o.TempDir)
	if err != nil {
		return sum, err
	}
	defer cleanup()
	sum.Digest = digest

	rd, err := NewReader(src)
	if err != nil {
		return sum, err
	}
	sum.Ignored = rd.Ignored
	if !rd.Has(registration.FieldCompanyName) && !rd.Has(registration.FieldCompanyDomain) {
		return sum, intake.Refuse("file", "no company column: add a Company or Website column")
	}
	if o.PartnerID == "" && !rd.Has(registration.FieldPartnerID) && !(rd.Has(registration.FieldPartnerEmail) && o.Partners != nil) {
		return sum, intake.Refuse("file", "no partner column: add a Partner (partner id) or Partner email column")
	}

	im := &importer{o: o, funnel: intake.NewFunnel(reg, o.Partners, o.FreeMail), sum: &sum, digest: digest, seen: map[[16]byte]int32{}, w: csv.NewWriter(w)}
	if err := im.w.Write(ResultHeader); err != nil {
		return sum, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Rows++
		if row.Blank && row.Invalid == nil {
			sum.Blank++
			continue
		}
		im.judge(row)
		if len(im.subs) >= o.BatchSize || len(im.pending) >= 10*MaxBatch {
			if err := im.flush(ctx); err != nil {
				_ = im.settle(ctx)
				return sum, err
			}
		}
	}
	if err := im.flush(ctx); err != nil {
		_ = im.settle(ctx)
		return sum, err
	}
	if err := im.settle(ctx); err != nil {
		return sum, err
	}
	o.Logger.Info("csv import done", "rows", sum.Rows, "submitted", sum.Submitted, "created", sum.Created,
		"invalid", sum.Invalid, "duplicate", sum.Duplicate, "errors", sum.Errors, "calls", sum.Calls)
	return sum, nil
}

type result struct {
	n                               int
	caseNumber, status, reason, msg string
	sub                             int // index in subs, or -1
}

type importer struct {
	o       Options
	funnel  *intake.Funnel
	sum     *Summary
	digest  string
	seen    map[[16]byte]int32
	w       *csv.Writer
	pending []result
	subs    []intake.Submission
	// done are the rows judged and registered, in file order, held until
	// their decisions are in (settle) when the registrar decides after
	// Register returns; otherwise written at each flush.
	done []result
}

func (im *importer) reject(n int, reason, msg string) {
	im.pending = append(im.pending, result{n: n, status: StatusRejected, reason: reason, msg: msg, sub: -1})
	if reason == ReasonDuplicateRow {
		im.sum.Duplicate++
	} else {
		im.sum.Invalid++
	}
}

// judge turns a row into a submission or a rejection.
func (im *importer) judge(row Row) {
	if row.Invalid != nil {
		im.reject(row.N, ReasonInvalidRow, row.Invalid.Error())
		return
	}
	rec := registration.Record{Source: intake.ChannelCSV}
	for _, f := range sortedFields(row.Fields) {
		if f == registration.FieldPartnerID || f == registration.FieldPartnerEmail {
			continue
		}
		v := row.Fields[f]
		if f == registration.FieldConsent {
			v = normalizeConsent(v)
		}
		if err := intake.SetField(&rec, f, v); err != nil {
			im.reject(row.N, ReasonInvalidRow, err.Error())
			return
		}
	}
	if rec.CompanyName == "" && rec.CompanyDomain == "" {
		im.reject(row.N, ReasonInvalidRow, "company_name: a row needs a company name or website")
		return
	}
	partner, email := row.Fields[registration.FieldPartnerID], row.Fields[registration.FieldPartnerEmail]
	if email == "" {
		email = im.o.Submitter
	}
	if email != "" {
		if err := intake.SetField(&rec, registration.FieldPartnerEmail, email); err != nil {
			im.reject(row.N, ReasonInvalidRow, err.Error())
			return
		}
	}
	switch {
	case im.o.PartnerID != "":
		if partner != "" && partner != im.o.PartnerID {
			im.reject(row.N, ReasonInvalidRow, "partner_id: this upload belongs to partner "+im.o.PartnerID)
			return
		}
		partner = im.o.PartnerID
	case partner == "" && rec.PartnerEmail != "" && im.o.Partners != nil:
		p, err := im.o.Partners.ForEmail(registration.FieldPartnerEmail, rec.PartnerEmail)
		if err != nil {
			im.reject(row.N, ReasonInvalidRow, err.Error())
			return
		}
		partner = p.ID
	case partner == "":
		im.reject(row.N, ReasonInvalidRow, "partner_id: empty, and no partner e-mail names one")
		return
	}
	if intake.CheckValue(partner) != nil || intake.CheckFormula(partner) != nil || len(partner) > 100 {
		im.reject(row.N, ReasonInvalidRow, "partner_id: not a partner id")
		return
	}
	rec.PartnerID = partner
	sub, errs := im.funnel.Submission(intake.ChannelCSV, rec, partner, im.digest[:32], strconv.Itoa(row.N))
	if len(errs) > 0 {
		im.reject(row.N, ReasonInvalidRow, errs[0].Error())
		return
	}
	rec = sub.Record
	if rec.DomainKey != "" {
		k := dupKey(rec.DomainKey, partner)
		if first, dup := im.seen[k]; dup {
			im.reject(row.N, ReasonDuplicateRow, "repeats row "+strconv.Itoa(int(first))+" (same company domain and partner)")
			return
		}
		im.seen[k] = int32(row.N)
	}
	im.pending = append(im.pending, result{n: row.N, sub: len(im.subs)})
	im.subs = append(im.subs, sub)
}

func dupKey(domain, partner string) [16]byte {
	h := sha256.Sum256([]byte(domain + "\x00" + partner))
	var k [16]byte
	copy(k[:], h[:16])
	return k
}

// flush registers the batch and writes every pending result in row order.
func (im *importer) flush(ctx context.Context) error {
	var receipts []intake.Receipt
	if len(im.subs) > 0 && !im.o.DryRun {
		if im.funnel.Registrar == nil {
			return errors.New("csv: import: no registrar to register rows with")
		}
		var err error
		im.sum.Calls++
		receipts, err = im.funnel.Register(ctx, im.subs)
		if err != nil {
			return fmt.Errorf("csv: register rows %d–%d: %w", im.pending[firstSub(im.pending)].n, im.pending[len(im.pending)-1].n, err)
		}
	}
	for _, p := range im.pending {
		if p.sub >= 0 {
			im.sum.Submitted++
			sub := im.subs[p.sub]
			if im.o.DryRun {
				p.caseNumber, p.status, p.msg = registration.CaseNumberFor(sub.Key), StatusValid, "would be registered"
			} else {
				rc := receipts[p.sub]
				p.caseNumber = rc.CaseNumber
				if p.caseNumber == "" {
					p.caseNumber = registration.CaseNumberFor(sub.Key)
				}
				if rc.Err != nil {
					im.sum.Errors++
					p.status, p.reason, p.msg = StatusError, ReasonCRMError, oneLine(rc.Err.Error())
				} else {
					if rc.Created {
						im.sum.Created++
					}
					p.status, p.reason, p.msg = string(rc.Status), rc.Reason, oneLine(rc.Message)
					if rc.Status == registration.StatusNeedsInfo && len(rc.Missing) > 0 && !strings.Contains(p.msg, intake.Label(rc.Missing[0])) {
						p.msg = strings.TrimSpace(p.msg + " Missing: " + intake.MissingList(rc.Missing) + ".")
					}
				}
			}
		}
		p.sub = -1
		im.done = append(im.done, p)
	}
	im.pending, im.subs = im.pending[:0], im.subs[:0]
	if _, later := im.funnel.Registrar.(intake.Settler); later && !im.o.DryRun {
		return nil // written by settle, once decided
	}
	return im.write()
}

// settle collects the decisions of the rows registered as submitted (the
// daemon decides them after Register returns) and writes every row.
func (im *importer) settle(ctx context.Context) error {
	st, ok := im.funnel.Registrar.(intake.Settler)
	if ok && !im.o.DryRun {
		var cases []string
		for _, p := range im.done {
			if p.status == string(registration.StatusSubmitted) {
				cases = append(cases, p.caseNumber)
			}
		}
		if len(cases) > 0 {
			got, err := st.Settle(ctx, cases)
			if err != nil {
				im.o.Logger.Warn("csv import: the decisions of some rows are not in yet; their rows say submitted", "err", err)
			}
			for i := range im.done {
				p := &im.done[i]
				if rc, ok := got[p.caseNumber]; ok && p.status == string(registration.StatusSubmitted) {
					p.status, p.reason, p.msg = string(rc.Status), rc.Reason, oneLine(rc.Message)
					if rc.Status == registration.StatusNeedsInfo && len(rc.Missing) > 0 && !strings.Contains(p.msg, intake.Label(rc.Missing[0])) {
						p.msg = strings.TrimSpace(p.msg + " Missing: " + intake.MissingList(rc.Missing) + ".")
					}
				}
			}
		}
	}
	return im.write()
}

// write writes the rows done so far.
func (im *importer) write() error {
	for _, p := range im.done {
		im.sum.ByStatus[p.status]++
		rec := []string{strconv.Itoa(p.n), SafeCell(p.caseNumber), SafeCell(p.status), SafeCell(p.reason), SafeCell(p.msg)}
		if err := im.w.Write(rec); err != nil {
			return err
		}
	}
	im.done = im.done[:0]
	im.w.Flush()
	return im.w.Error()
}

func firstSub(p []result) int {
	for i, r := range p {
		if r.sub >= 0 {
			return i
		}
	}
	return 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

func sortedFields(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, f := range registration.FieldNames() {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// normalizeConsent reads the ticks and words spreadsheets hold for yes.
func normalizeConsent(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "✓", "✔", "☑", "x", "ja", "oui", "si", "sí", "agreed", "given", "confirmed":
		return "yes"
	case "nein", "non", "not given":
		return "no"
	}
	return v
}

// digestOf returns a reader positioned at the start of the input, the
// input's SHA-256 and a cleanup function.
func digestOf(r io.Reader, tmpDir string) (io.Reader, string, func(), error) {
	h := sha256.New()
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			if _, err := io.Copy(h, rs); err != nil {
				return nil, "", nil, fmt.Errorf("csv: read: %w", err)
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, "", nil, fmt.Errorf("csv: rewind: %w", err)
			}
			return rs, hexSum(h), func() {}, nil
		}
	}
	f, err := os.CreateTemp(tmpDir, "regsync-import-*.csv")
	if err != nil {
		return nil, "", nil, fmt.Errorf("csv: spool: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("csv: spool: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("csv: spool: %w", err)
	}
	return f, hexSum(h), cleanup, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
