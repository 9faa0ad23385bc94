package daemon

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"fmt"
	"mime/multipart"
	"strings"
	"testing"
	"time"
)

// uploadCSV posts a file to /intake/csv with a partner's token.
func (r *rig) uploadCSV(body []byte, token string) (int, string) {
	r.t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	resp, b := r.do("POST", "/intake/csv", "text/csv", bytes.NewReader(body), hdr)
	return resp.StatusCode, string(b)
}

func readResults(t *testing.T, body string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("result CSV: %v\n%s", err, body)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "row,case_number,status,reason,message" {
		t.Fatalf("result header %v", rows)
	}
	assertNoFormula(t, rows)
	return rows[1:]
}

// Excel's file (BOM, ';', CRLF, a quoted line break, a formula cell, a
// duplicate, a row without a company) uploaded by a partner: each row is
// judged on its own, the rest registered and decided; the same file again
// registers nothing new.
func TestIntakeCSVUploadExcel(t *testing.T) {
	r := startRig(t, rigOpts{})
	file := testdata(t, "csvdrop", "excel_semicolon_bom_crlf.csv")
	code, body := r.uploadCSV(file, rigCSVToken)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rows := readResults(t, body)
	want := []struct{ row, status, reason string }{
		{"1", "in_review", "no_territory"},
		{"2", "in_review", "no_territory"},
		{"3", "declined", "blocked_account"},
		{"4", "rejected", "duplicate_row"},
		{"5", "rejected", "invalid_row"},
		{"6", "rejected", "invalid_row"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d result rows, want %d:\n%s", len(rows), len(want), body)
	}
	for i, w := range want {
		got := rows[i]
		if got[0] != w.row || got[2] != w.status || got[3] != w.reason {
			t.Errorf("row %d: %v, want %v", i+1, got, w)
		}
		if w.status != "rejected" {
			rec := r.byCase(got[1])
			if rec == nil || rec["status"] != w.status || rec["source"] != "csv" || rec["partner_id"] != "northwind" || rec["partner_email"] != "sam@northwind.example" {
				t.Errorf("row %d: record %v", i+1, rec)
			}
		}
	}
	if !strings.Contains(rows[4][4], "formula") || !strings.Contains(rows[3][4], "repeats row 2") {
		t.Errorf("messages: %q, %q", rows[3][4], rows[4][4])
	}
	if rec := r.byCase(rows[0][1]); rec["company_name"] != "Müller Logistik GmbH" || !strings.Contains(rec["problem"], "\n") || rec["company_domain"] != "mueller-logistik.example" {
		t.Errorf("row 1 read as %v", rec)
	}
	if n := r.records(); n != 3 {
		t.Errorf("%d records, want 3", n)
	}
	// The same file again: the same case numbers, nothing new.
	code, again := r.uploadCSV(file, rigCSVToken)
	rows2 := readResults(t, again)
	if code != 200 || len(rows2) != len(rows) || rows2[0][1] != rows[0][1] || r.records() != 3 {
		t.Errorf("repeat: %d, %d records\n%s", code, r.records(), again)
	}
	// The result CSV answered the partner: no status e-mails.
	r.settle(5 * time.Second)
	if n := len(r.smtp.Messages()); n != 0 {
		t.Errorf("%d e-mails for CSV rows", n)
	}
}

// Google Sheets' export, uploaded as a multipart form.
func TestIntakeCSVUploadGoogleSheets(t *testing.T) {
	r := startRig(t, rigOpts{})
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "Registrations - Sheet1.csv")
	_, _ = fw.Write(testdata(t, "csvdrop", "google_sheets.csv"))
	_ = mw.Close()
	resp, out := r.do("POST", "/intake/csv", mw.FormDataContentType(), &b, map[string]string{"Authorization": "Bearer " + rigCSVToken})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	rows := readResults(t, string(out))
	got := ""
	for _, row := range rows {
		got += fmt.Sprintf("%s:%s/%s ", row[0], row[2], row[3])
	}
	// Row 2's consent is FALSE; row 3's partner e-mail "@sam" is no address
	// (and, being echoed, must not start a formula); row 4 repeats row 1.
	if want := "1:in_review/no_territory 2:needs_info/missing_fields 3:rejected/invalid_row 4:rejected/duplicate_row "; got != want {
		t.Errorf("got  %s\nwant %s\n%s", got, want, out)
	}
	if n := r.records(); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

// Excel's other exports: "CSV (Windows-1252)" and "Unicode text" (UTF-16,
// tab-separated), read with their accents intact.
func TestIntakeCSVUploadExcelEncodings(t *testing.T) {
	r := startRig(t, rigOpts{})
	for f, company := range map[string]string{"excel_windows1252.csv": "Société Générale Démo", "excel_unicode_text.txt": "Tōkyō Trading"} {
		code, body := r.uploadCSV(testdata(t, "csvdrop", f), rigCSVToken)
		if code != 200 {
			t.Fatalf("%s: %d %s", f, code, body)
		}
		rows := readResults(t, body)
		if len(rows) == 0 || rows[0][2] != "in_review" {
			t.Fatalf("%s: %v", f, rows)
		}
		rec := r.byCase(rows[0][1])
		if rec == nil || rec["source"] != "csv" || rec["company_name"] != company {
			t.Errorf("%s: row 1 read as %v", f, rec)
		}
	}
}

// Bad uploads: a clear error and nothing in the CRM.
func TestIntakeCSVRefusals(t *testing.T) {
	r := startRig(t, rigOpts{csvMax: "1MiB"})
	good := testdata(t, "csvdrop", "google_sheets.csv")
	junk := make([]byte, 256<<10)
	_, _ = rand.Read(junk)
	for _, tc := range []struct {
		name  string
		body  []byte
		token string
		code  int
		want  string
	}{
		{"no token", good, "", 401, "upload token"},
		{"wrong token", good, "fabrikam-guessed-token-0001", 401, "upload token"},
		{"no required columns", []byte("Name,Phone\nAnn,+1 555\n"), rigCSVToken, 422, "no company column"},
		{"binary junk", junk, rigCSVToken, 422, ""},
		{"50 MB", append([]byte("Company,Website\n"), bytes.Repeat([]byte("Acme,acme.example\n"), 50<<20/18)...), rigCSVToken, 413, "larger than 1MiB"},
		{"empty", nil, rigCSVToken, 422, ""},
	} {
		code, body := r.uploadCSV(tc.body, tc.token)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %.300s", tc.name, code, body)
		}
	}
	if n := r.records(); n != 0 {
		t.Errorf("refused uploads made %d records", n)
	}
}
