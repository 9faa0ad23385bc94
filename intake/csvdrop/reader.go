// Package csvdrop is the CSV channel: a streaming reader of the CSV files
// partners and RevOps export from Excel and Google Sheets, the per-row
// judgement of what can be a registration, Import (regsync import and POST
// /intake/csv) and the result CSV.
package csvdrop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/regsync/regsync/intake"
)

// Column is one column of the file's header.
type Column struct {
	// Index is the column's position (0-based).
	Index int
	// Header is the header cell as written.
	Header string
	// Field is the canonical field it maps to ("" when ignored).
	Field string
}

// Row is one data row.
type Row struct {
	// N counts data rows from 1 (the header is not counted).
	N int
	// Fields maps canonical field names to the row's values (blank values
	// are absent).
	Fields map[string]string
	// Invalid, when set, says why the row cannot be a registration (on
	// which field or column, and why); Fields may then be partial.
	Invalid *intake.FieldError
	// Blank is set for a row whose cells are all empty.
	Blank bool
}

// Reader reads a CSV file row by row: UTF-8 with or without a byte-order
// mark (UTF-16 with one, as Excel's "Unicode text" writes), a comma,
// semicolon or tab delimiter sniffed from the header line, quoted fields
// with line breaks, CRLF or LF line ends. The header row is mapped to
// fields with intake.FieldForLabel's forgiving names.
type Reader struct {
	cr      *csv.Reader
	cols    []Column
	byField map[string]int
	delim   rune
	n       int
	// Ignored lists header cells that map to no field.
	Ignored []string
}

// maxSniff is how much of the file the delimiter sniffing looks at.
const maxSniff = 64 << 10

// NewReader reads and maps the header. It fails with a *intake.FieldError
// on "file" for an empty file, binary data, or a header in which no column
// names a known field.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, maxSniff)
	head, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(br, dec), maxSniff)
		src = br
	}
	peek, err := br.Peek(maxSniff)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("csv: read: %w", err)
	}
	if len(bytes.TrimSpace(peek)) == 0 {
		return nil, intake.Refuse("file", "empty: no header row")
	}
	// Binary data: control bytes in the header line, or in more than
	// 1% of the first 64 KiB. (One junk row further on only fails itself.)
	first := peek
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	if controlBytes(first) > 0 || controlBytes(peek)*100 > len(peek) {
		return nil, intake.Refuse("file", "binary data, not a CSV file")
	}
	rd := &Reader{delim: sniff(peek), byField: map[string]int{}}
	rd.cr = csv.NewReader(src)
	rd.cr.Comma = rd.delim
	rd.cr.FieldsPerRecord = -1
	rd.cr.LazyQuotes = true
	rd.cr.ReuseRecord = true
	header, err := rd.cr.Read()
	if err != nil {
		return nil, intake.Refuse("file", "the header row cannot be read as CSV")
	}
	for i, h := range header {
		h = strings.TrimSpace(decodeCell(h))
		c := Column{Index: i, Header: h}
		if f, ok := intake.FieldForLabel(h); ok {
			if _, dup := rd.byField[f]; !dup {
				c.Field = f
				rd.byField[f] = i
			}
		}
		if c.Field == "" && h != "" {
			rd.Ignored = append(rd.Ignored, h)
		}
		rd.cols = append(rd.cols, c)
	}
	if len(rd.byField) == 0 {
		return nil, intake.Refuse("file", "the first row is not a header naming known columns (such as Company, Website, Contact, Email, Problem, Consent)")
	}
	return rd, nil
}

// controlBytes counts NUL and other C0 control bytes than tab, CR and LF.
func controlBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' {
			n++
		}
	}
	return n
}

// sniff picks the delimiter that occurs most often, outside quotes, in
// the first line: ',' (the default), ';' (Excel in most of Europe) or tab.
func sniff(b []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range b {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		if c == ',' || c == ';' || c == '\t' {
			counts[c]++
		}
	}
	best, n := byte(','), counts[',']
	for _, c := range []byte{';', '\t'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return rune(best)
}

// Has reports whether a column maps to field.
func (r *Reader) Has(field string) bool { _, ok := r.byField[field]; return ok }

// Next returns the next data row, or io.EOF after the last. A row that
// cannot be read (malformed quoting, binary data) is returned with
// Invalid set; reading goes on with the next row.
func (r *Reader) Next() (Row, error) {
	rec, err := r.cr.Read()
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	r.n++
	row := Row{N: r.n, Fields: map[string]string{}}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			row.Invalid = intake.Refuse("row", "malformed CSV (quotes or line breaks)")
			return row, nil
		}
		return Row{}, fmt.Errorf("csv: row %d: %w", r.n, err)
	}
	row.Blank = true
	for i, cell := range rec {
		if strings.TrimSpace(cell) != "" {
			row.Blank = false
		}
		var col Column
		if i < len(r.cols) {
			col = r.cols[i]
		}
		if col.Field == "" {
			if row.Invalid == nil && isJunk(decodeCell(cell)) {
				row.Invalid = intake.Refuse(colName(col, i), "binary or control characters")
			}
			continue
		}
		v := decodeCell(cell)
		if row.Invalid == nil && isJunk(v) {
			row.Invalid = intake.Refuse(col.Field, "binary or control characters")
		}
		// A value that starts like a spreadsheet formula is judged where
		// every channel's is (intake.SetField: the name fields refuse it,
		// free text keeps it).
		if t := strings.TrimSpace(v); t != "" {
			row.Fields[col.Field] = t
		}
	}
	return row, nil
}

func colName(c Column, i int) string {
	if c.Header != "" {
		return c.Header
	}
	return fmt.Sprintf("column %d", i+1)
}

// decodeCell reads a cell that is not UTF-8 as Windows-1252 (what Excel's
// plain "CSV" export writes on Western systems).
func decodeCell(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return out
}

// isJunk reports cells no registration holds: NUL and other control
// characters (tab, CR and LF aside), bytes undefined in Windows-1252, and
// the replacement character.
func isJunk(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\r' && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return true
		}
	}
	return false
}

// SafeCell makes a value safe to put in a CSV a spreadsheet will open: a
// cell starting with =, +, -, @, a tab or a carriage return gets a leading
// apostrophe, so it is shown as text and never evaluated (OWASP's advice).
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
