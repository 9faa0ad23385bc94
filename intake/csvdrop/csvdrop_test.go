package csvdrop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

var partners = intake.NewDirectory([]rules.Partner{
	{ID: "northwind", Name: "Northwind Traders", Type: "reseller", EmailDomains: []string{"northwind.example"}},
	{ID: "contoso", Name: "Contoso", EmailDomains: []string{"contoso.example"}},
})

var now = func() time.Time { return time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC) }

func readAll(t *testing.T, name string) (*Reader, []Row) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd, rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
}

func TestReaderExcelSemicolonBOMCRLF(t *testing.T) {
	rd, rows := readAll(t, "excel_semicolon_bom_crlf.csv")
	if rd.delim != ';' {
		t.Errorf("delimiter %q", rd.delim)
	}
	if got := strings.Join(rd.Ignored, ","); got != "Telefon" {
		t.Errorf("ignored columns %q", got)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	want := map[string]string{
		"company_name": "Müller Logistik GmbH", "company_domain": "www.mueller-logistik.example",
		"contact_name": "Jana Müller", "contact_email": "jana.mueller@mueller-logistik.example",
		"contact_role": "COO", "problem": "Lagerbestand wird von Hand abgeglichen;\nfehleranfällig", "consent": "ja",
	}
	if fmt.Sprint(r.Fields) != fmt.Sprint(want) || r.Invalid != nil || r.N != 1 {
		t.Errorf("row 1: %+v", r)
	}
	if rows[2].Fields["company_name"] != "Initech; Inc." || rows[2].Fields["problem"] != `They said "yeah" to a pilot` {
		t.Errorf("row 3 quoting: %+v", rows[2].Fields)
	}
	// A formula is judged by the import, as every channel's values are
	// (intake.SetField), not by the reader.
	if rows[4].Invalid != nil || rows[4].Fields["company_name"] != `=HYPERLINK("http://evil.example";"click")` {
		t.Errorf("row 5: %v %v", rows[4].Invalid, rows[4].Fields)
	}
	if !rows[6].Blank || !rows[7].Blank || rows[5].Blank {
		t.Errorf("blank rows: %v %v %v", rows[5].Blank, rows[6].Blank, rows[7].Blank)
	}
}

func TestReaderGoogleSheets(t *testing.T) {
	rd, rows := readAll(t, "google_sheets.csv")
	if rd.delim != ',' || len(rows) != 4 {
		t.Fatalf("delimiter %q, %d rows", rd.delim, len(rows))
	}
	if rows[0].Fields["problem"] != "Needs faster delivery\nof rocket skates" || rows[0].Fields["consent"] != "TRUE" ||
		rows[0].Fields["partner_email"] != "sam@northwind.example" || rows[0].Fields["contact_role"] != "Founder" {
		t.Errorf("row 1: %+v", rows[0].Fields)
	}
	if rows[2].Invalid != nil || rows[2].Fields["partner_email"] != "@sam" {
		t.Errorf("row 3 (@ cell, judged by the import): %v", rows[2].Invalid)
	}
	if rows[3].Fields["contact_name"] != "Road Runner" {
		t.Errorf("last row without a final newline: %+v", rows[3])
	}
}

func TestReaderWindows1252AndUTF16(t *testing.T) {
	_, rows := readAll(t, "excel_windows1252.csv")
	if len(rows) != 2 || rows[0].Fields["company_name"] != "Société Générale Démo" || rows[0].Fields["contact_name"] != "Zoë Faßbender" ||
		rows[0].Fields["problem"] != "Coût élevé, processus manuel" || rows[0].Invalid != nil {
		t.Errorf("windows-1252: %+v", rows)
	}
	rd, rows := readAll(t, "excel_unicode_text.txt")
	if rd.delim != '\t' || len(rows) != 1 || rows[0].Fields["company_name"] != "Tōkyō Trading" || rows[0].Fields["consent"] != "yes" {
		t.Errorf("utf-16: delimiter %q rows %+v", rd.delim, rows)
	}
}

func TestReaderRefusesFilesThatAreNotCSV(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"blank":     "\r\n\r\n",
		"binary":    "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"no header": "foo,bar,baz\n1,2,3\n",
		"zip":       "PK\x03\x04\x14\x00\x00\x00",
	} {
		_, err := NewReader(strings.NewReader(in))
		var fe *intake.FieldError
		if !errors.As(err, &fe) || fe.Field != "file" {
			t.Errorf("%s: err = %v, want a refusal on file", name, err)
		}
	}
}

func TestReaderJudgesCells(t *testing.T) {
	// Formulas are the import's to judge (TestImportRefusesFormulaNames):
	// the reader refuses junk only.
	in := "Company,Website,Problem,Phone,Notes\n" +
		"A,a.example,fine,+1 555 0100,=ignored column\n" +
		"+B,b.example,x,,\n" +
		"C,c.example,@SUM(1),,\n" +
		"D,d.example,\"\tx\",,\n" +
		"E,e.example,bin\x00ary,,\n" +
		"F,f.example,x,,ctrl\x01\n" +
		"G,g.example\n" + // short row
		"H,h.example,x,,,extra,cells\n" +
		" =I,i.example,x,,\n"
	rd, err := NewReader(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "", "", "problem: binary or control characters",
		"Notes: binary or control characters", "", "", ""}
	for i, w := range want {
		r, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if r.Invalid != nil {
			got = r.Invalid.Error()
		}
		if got != w || r.N != i+1 {
			t.Errorf("row %d: %q, want %q", r.N, got, w)
		}
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v", err)
	}
}

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx", "ok": "ok", "": "", " =x": " =x"} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q", in, got)
		}
	}
}

func digestFile(t *testing.T, name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestImportDryRunExcel(t *testing.T) {
	f, _ := os.Open("testdata/excel_semicolon_bom_crlf.csv")
	defer f.Close()
	var out bytes.Buffer
	sum, err := Import(t.Context(), f, &out, nil, Options{PartnerID: "northwind", Submitter: "sam@northwind.example", Partners: partners, DryRun: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	d := digestFile(t, "excel_semicolon_bom_crlf.csv")
	cn := func(row int) string {
		return registration.CaseNumberFor(fmt.Sprintf("csv:northwind:%s:%d", d[:32], row))
	}
	want := "row,case_number,status,reason,message\n" +
		"1," + cn(1) + ",valid,,would be registered\n" +
		"2," + cn(2) + ",valid,,would be registered\n" +
		"3," + cn(3) + ",valid,,would be registered\n" +
		"4,,rejected,duplicate_row,repeats row 2 (same company domain and partner)\n" +
		"5,,rejected,invalid_row,\"company_name: starts with \"\"=\"\" like a spreadsheet formula\"\n" +
		"6,,rejected,invalid_row,company_name: a row needs a company name or website\n"
	if out.String() != want {
		t.Errorf("result CSV:\n%s\nwant\n%s", out.String(), want)
	}
	if sum.Rows != 8 || sum.Blank != 2 || sum.Submitted != 3 || sum.Invalid != 2 || sum.Duplicate != 1 || sum.Calls != 0 || sum.Digest != d {
		t.Errorf("summary %+v", sum)
	}
}

func TestImportDryRunGoogleSheetsResolvesPartnerByEmail(t *testing.T) {
	f, _ := os.Open("testdata/google_sheets.csv")
	defer f.Close()
	var out bytes.Buffer
	sum, err := Import(t.Context(), f, &out, nil, Options{Partners: partners, DryRun: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	d := digestFile(t, "google_sheets.csv")
	cn := func(row int) string {
		return registration.CaseNumberFor(fmt.Sprintf("csv:northwind:%s:%d", d[:32], row))
	}
	want := "row,case_number,status,reason,message\n" +
		"1," + cn(1) + ",valid,,would be registered\n" +
		"2," + cn(2) + ",valid,,would be registered\n" +
		"3,,rejected,invalid_row,\"partner_email: starts with \"\"@\"\" like a spreadsheet formula\"\n" +
		"4,,rejected,duplicate_row,repeats row 1 (same company domain and partner)\n"
	if out.String() != want {
		t.Errorf("result CSV:\n%s\nwant\n%s", out.String(), want)
	}
	if sum.ByStatus["valid"] != 2 || sum.ByStatus["rejected"] != 2 {
		t.Errorf("by status %v", sum.ByStatus)
	}
}

func TestImportRowJudgement(t *testing.T) {
	in := "Company,Website,Email,Consent,Partner,Partner email\n" +
		"A,a.example,jane@a.example,yes,northwind,\n" +
		"B,not a domain,,yes,northwind,\n" +
		"C,c.example,not-an-email,yes,northwind,\n" +
		"D,d.example,,maybe,northwind,\n" +
		"E,e.example,,yes,,\n" +
		"F,f.example,,yes,,stranger@unknown.example\n" +
		"G,a.example,,yes,contoso,\n" + // same domain, another partner: not a duplicate row
		"H,www.a.example,,yes,northwind,\n" +
		"I,i.example,,✓,,sam@northwind.example\n"
	var out bytes.Buffer
	sum, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{Partners: partners, DryRun: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"valid", ""},
		{"rejected", "company_domain: not a website or domain"},
		{"rejected", "contact_email: not a valid e-mail address"},
		{"rejected", "consent: answer yes or no"},
		{"rejected", "partner_id: empty, and no partner e-mail names one"},
		{"rejected", "partner_email: unknown.example is not the e-mail domain of a partner in our program"},
		{"valid", ""},
		{"rejected", "repeats row 1 (same company domain and partner)"},
		{"valid", ""},
	}
	if len(recs) != len(want)+1 {
		t.Fatalf("%d result rows", len(recs))
	}
	for i, w := range want {
		r := recs[i+1]
		msg := r[4]
		if w[0] == "valid" {
			msg = ""
		}
		if r[0] != fmt.Sprint(i+1) || r[2] != w[0] || msg != w[1] {
			t.Errorf("row %d: %v, want %v", i+1, r, w)
		}
	}
	if sum.Submitted != 3 {
		t.Errorf("summary %+v", sum)
	}
}

func TestImportFixedPartnerRefusesOtherPartnersRows(t *testing.T) {
	in := "Company,Website,Partner\nA,a.example,contoso\nB,b.example,northwind\nC,c.example,\n"
	var out bytes.Buffer
	if _, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{PartnerID: "northwind", DryRun: true}); err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(&out).ReadAll()
	if recs[1][2] != "rejected" || recs[1][4] != "partner_id: this upload belongs to partner northwind" || recs[2][2] != "valid" || recs[3][2] != "valid" {
		t.Errorf("%v", recs)
	}
}

// TestImportRefusesFormulaNames: a name field that starts like a
// spreadsheet formula rejects its row, with the field and the reason;
// free text (the problem) and a column regsync does not read keep theirs.
func TestImportRefusesFormulaNames(t *testing.T) {
	in := "Company,Website,Contact,Role,Problem,Phone,Partner\n" +
		"+B,b.example,,,x,,northwind\n" +
		" =I,i.example,,,x,,northwind\n" + // a leading space hides it in the sheet, not once trimmed
		"\"-2+3+cmd|' /C calc'!A0\",c.example,,,x,,northwind\n" +
		"D,d.example,-A1*1,,x,,northwind\n" +
		"E,e.example,,\"\t@SUM(1)\",x,,northwind\n" +
		"F,f.example,,,x,,=northwind\n" +
		"-ity Labs,g.example,- Ann Lee,,=> SSO; +1 on audit logs,+1 555 0100,northwind\n" +
		"H,h.example,,,@SUM(1),=ignored column,northwind\n"
	var out bytes.Buffer
	if _, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{Partners: partners, DryRun: true, Now: now}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`company_name: starts with "+" like a spreadsheet formula`,
		`company_name: starts with "=" like a spreadsheet formula`,
		`company_name: starts with "-" and formula syntax (a number, an operator, a cell reference, a function call, "|" or "!") like a spreadsheet formula`,
		`contact_name: starts with "-" and formula syntax (a number, an operator, a cell reference, a function call, "|" or "!") like a spreadsheet formula`,
		`contact_role: starts with "@" like a spreadsheet formula`,
		"partner_id: not a partner id",
		"",
		"",
	}
	if len(recs) != len(want)+1 {
		t.Fatalf("%d result rows:\n%s", len(recs), out.String())
	}
	for i, w := range want {
		r := recs[i+1]
		status, msg := "rejected", w
		if w == "" {
			status, msg = "valid", "would be registered"
		}
		if r[2] != status || r[4] != msg {
			t.Errorf("row %d: %v, want %s %q", i+1, r, status, msg)
		}
	}
}

func TestImportRefusesFilesWithoutRequiredColumns(t *testing.T) {
	for in, want := range map[string]string{
		"Contact,Email\nJane,jane@a.example\n":   "file: no company column: add a Company or Website column",
		"Company,Website\nA,a.example\n":         "file: no partner column: add a Partner (partner id) or Partner email column",
		"Company,Partner email\nA,a@b.example\n": "",
	} {
		var out bytes.Buffer
		_, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{DryRun: true, Partners: partners})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: err %q, want %q", in, got, want)
		}
		if want != "" && out.Len() != 0 {
			t.Errorf("%q: result written for a refused file: %q", in, out.String())
		}
	}
}

func TestImportWithoutRegistrarFailsOnlyWhenARowNeedsIt(t *testing.T) {
	in := "Company,Website,Partner\n=A,a.example,northwind\n"
	var out bytes.Buffer
	if _, err := Import(t.Context(), strings.NewReader(in), &out, nil, Options{}); err != nil {
		t.Errorf("all rows invalid, no registrar needed: %v", err)
	}
	in = "Company,Website,Partner\nA,a.example,northwind\n"
	if _, err := Import(t.Context(), strings.NewReader(in), io.Discard, nil, Options{}); err == nil {
		t.Error("a valid row without a registrar did not fail")
	}
}

// genReader produces a CSV of n rows without holding it in memory.
type genReader struct {
	n, i int
	buf  []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i > g.n {
			return 0, io.EOF
		}
		if g.i == 0 {
			g.buf = []byte("Company,Website,Contact,Email,Problem,Consent,Partner\r\n")
		} else {
			g.buf = fmt.Appendf(nil, "Company %d Ltd,company-%d.example,Contact %d,c%d@company-%d.example,\"Needs a better way to do thing %d,\nacross %d sites\",yes,northwind\r\n", g.i, g.i, g.i, g.i, g.i, g.i, g.i%50)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

func TestImportOf100000RowsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 rows")
	}
	const rows = 100_000
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	})
	var out countWriter
	sum, err := Import(t.Context(), &genReader{n: rows}, &out, nil, Options{DryRun: true, TempDir: t.TempDir()})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != rows || sum.Submitted != rows || out.lines != rows+1 {
		t.Fatalf("rows %d, submitted %d, result lines %d", sum.Rows, sum.Submitted, out.lines)
	}
	size := int64(0)
	g := &genReader{n: rows}
	size, _ = io.Copy(io.Discard, g)
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("file %d MB, peak heap growth %.1f MB", size>>20, float64(growth)/(1<<20))
	// The file is ~13 MB; held whole (as bytes, let alone as records) the
	// heap would grow past it. Streaming keeps a batch and the seen set.
	if growth > size {
		t.Errorf("peak heap grew by %d bytes for a %d-byte file: not streaming", growth, size)
	}
}

type countWriter struct{ lines int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func BenchmarkImportDryRun(b *testing.B) {
	for b.Loop() {
		var out countWriter
		if _, err := Import(b.Context(), &genReader{n: 10_000}, &out, nil, Options{DryRun: true, TempDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func handler() *Handler {
	cfg := intake.DefaultConfig().CSV
	cfg.Enabled = true
	cfg.MaxBytes = 1 << 20
	cfg.Tokens = []intake.CSVToken{{Partner: "northwind", Token: secret.New("northwind-upload-token-1"), Submitter: "sam@northwind.example"}}
	return NewHandler(HandlerOptions{Config: cfg, Partners: partners, Now: now})
}

func TestHandlerRefusals(t *testing.T) {
	h := handler()
	big := strings.NewReader("Company,Website\n" + strings.Repeat("A,a.example\n", 200_000))
	cases := []struct {
		name, method, auth, ctype string
		body                      io.Reader
		code                      int
		want                      string
	}{
		{"no token", "POST", "", "text/csv", strings.NewReader("Company\nA\n"), 401, "authorization: a valid partner upload token is required"},
		{"wrong token", "POST", "Bearer nope-nope-nope-nope", "text/csv", strings.NewReader("Company\nA\n"), 401, "authorization"},
		{"GET", "GET", "Bearer northwind-upload-token-1", "", nil, 405, "method: use POST"},
		{"too large", "POST", "Bearer northwind-upload-token-1", "text/csv", big, 413, "file: larger than 1MiB"},
		{"binary", "POST", "Bearer northwind-upload-token-1", "text/csv", strings.NewReader("\x00\x01\x02binary"), 422, "file: binary data, not a CSV file"},
		{"no company column", "POST", "Bearer northwind-upload-token-1", "text/csv", strings.NewReader("Contact,Email\nJ,j@x.example\n"), 422, "file: no company column"},
		{"form without file", "POST", "Bearer northwind-upload-token-1", "multipart/form-data; boundary=XX", strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XX--\r\n"), 422, "file: the form carries no file"},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, Path, c.body)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		req.Header.Set("Content-Type", c.ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req) // Registrar is nil: any call would panic
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.name, rec.Code, rec.Body.String(), c.code, c.want)
		}
	}
}

func TestHandlerUnknownLengthUploadIsBounded(t *testing.T) {
	h := handler()
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("Company,Website\n"))
		chunk := bytes.Repeat([]byte("A,a.example\n"), 10_000)
		for i := 0; i < 500; i++ { // 60 MB, chunked: no Content-Length
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+Path, pr)
	req.Header.Set("Authorization", "Bearer northwind-upload-token-1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	pr.CloseWithError(errors.New("done"))
	if resp.StatusCode != 413 || !strings.Contains(string(body), "larger than 1MiB") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestHandlerAllRowsRejectedNeedsNoRegistrar(t *testing.T) {
	h := handler()
	req := httptest.NewRequest("POST", Path, strings.NewReader("Company,Website\n=evil(),evil.example\n@x,x.example\n"))
	req.Header.Set("Authorization", "Bearer northwind-upload-token-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	want := "row,case_number,status,reason,message\n" +
		"1,,rejected,invalid_row,\"company_name: starts with \"\"=\"\" like a spreadsheet formula\"\n" +
		"2,,rejected,invalid_row,\"company_name: starts with \"\"@\"\" like a spreadsheet formula\"\n"
	if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("%d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

// FuzzReader feeds arbitrary bytes to the reader and checks what it
// promises: no panic, rows numbered from 1 without gaps, and every row it
// does not mark invalid holds only text that is safe to store and echo.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"excel_semicolon_bom_crlf.csv", "google_sheets.csv", "excel_windows1252.csv", "excel_unicode_text.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Company;Website\n\"a;b\";\"x\n\"\"y\"\"\"\n"))
	f.Add([]byte("Company,Website\n\"unterminated,a.example\n"))
	f.Add([]byte("\xef\xbb\xbfCompany\r\n=1\r\n+2\r\n@3\r\n\t4\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			var fe *intake.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a field error: %v", err)
			}
			return
		}
		for n := 1; n < 10_000; n++ {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.N != n {
				t.Fatalf("row %d numbered %d", n, row.N)
			}
			if row.Invalid != nil {
				continue
			}
			for f, v := range row.Fields {
				if isJunk(v) || v != strings.TrimSpace(v) || v == "" {
					t.Fatalf("row %d field %s holds %q", n, f, v)
				}
			}
		}
		var out bytes.Buffer
		if _, err := Import(t.Context(), bytes.NewReader(data), &out, nil, Options{PartnerID: "p", DryRun: true}); err != nil {
			var fe *intake.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("import: %v", err)
			}
			return
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("result CSV unreadable: %v", err)
		}
		if len(recs) == 0 || strings.Join(recs[0], ",") != "row,case_number,status,reason,message" {
			t.Fatalf("header %v", recs)
		}
		for _, r := range recs[1:] {
			for _, c := range r {
				if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Fatalf("result cell %q can start a formula", c)
				}
			}
		}
	})
}

// stuckRegistrar never answers until its context ends (a CRM that hangs).
type stuckRegistrar struct{ intake.Registrar }

func (stuckRegistrar) Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHandlerImportStopsAtItsDeadline: an upload whose rows cannot be
// registered stops when the request's deadline passes, also while the
// client still waits (it held the connection and a goroutine for as long
// as the CRM hung).
func TestHandlerImportStopsAtItsDeadline(t *testing.T) {
	cfg := intake.DefaultConfig().CSV
	cfg.Enabled = true
	cfg.MaxBytes = 1 << 20
	cfg.Tokens = []intake.CSVToken{{Partner: "northwind", Token: secret.New("northwind-upload-token-1"), Submitter: "sam@northwind.example"}}
	h := NewHandler(HandlerOptions{Config: cfg, Partners: partners, Now: now, Registrar: stuckRegistrar{}, RequestDeadline: 200 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+Path, strings.NewReader("Company,Website,Contact email\nGlobex,globex.example,hank@globex.example\n"))
	req.Header.Set("Authorization", "Bearer northwind-upload-token-1")
	req.Header.Set("Content-Type", "text/csv")
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		if code == 200 {
			t.Errorf("answered %d as if the rows were registered", code)
		}
	case <-time.After(5 * time.Second):
		srv.CloseClientConnections() // let the handler go, so Close returns
		t.Fatal("the import did not stop at its 200 ms deadline")
	}
}
