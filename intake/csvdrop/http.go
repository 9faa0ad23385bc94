package csvdrop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// Path is where the CSV drop is mounted.
const Path = "/intake/csv"

// HandlerOptions configure the POST /intake/csv handler.
type HandlerOptions struct {
	Config    intake.CSVConfig
	Registrar intake.Registrar
	Partners  *intake.Directory
	// FreeMail tells free-mail domains; default: the embedded list.
	FreeMail *registration.FreeMail
	Logger   *slog.Logger
	Now      func() time.Time
	// TempDir holds uploads while they are imported (default os.TempDir()).
	TempDir string
	// RequestDeadline, when positive, moves the request's read and write
	// deadlines this far ahead once its token is checked: the file is
	// registered (and its result CSV streamed back) while the request is
	// open, longer than the server's own timeouts allow. A request without
	// a valid token never gets it.
	RequestDeadline time.Duration
}

// Handler is POST /intake/csv: a partner uploads a CSV file (the request
// body, or the first file of a multipart/form-data form) with
// "Authorization: Bearer TOKEN"; the answer is the result CSV.
type Handler struct {
	o      HandlerOptions
	tokens []tokenEntry
}

type tokenEntry struct {
	sum       [32]byte
	partner   string
	submitter string
}

// NewHandler returns the handler.
func NewHandler(o HandlerOptions) *Handler {
	o.Logger = intake.QuietIfNil(o.Logger)
	h := &Handler{o: o}
	for _, t := range o.Config.Tokens {
		if t.Token.IsSet() {
			h.tokens = append(h.tokens, tokenEntry{sum: sha256.Sum256([]byte(t.Token.Reveal())), partner: t.Partner, submitter: t.Submitter})
		}
	}
	return h
}

// refuseUnread prepares the answer to a request refused before its body
// is read: the connection closes after the answer, and nothing more is
// read from it. Otherwise the server would read what is left of the body
// (up to 256 KB, as slowly as the client sends it, within the server's
// read timeout) before it lets the connection go.
func refuseUnread(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// authenticate finds the partner whose token the request carries,
// comparing against every token in constant time.
func (h *Handler) authenticate(r *http.Request) (tokenEntry, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if _, p, basic := r.BasicAuth(); basic {
			tok, ok = p, true
		}
	}
	if !ok || strings.TrimSpace(tok) == "" {
		return tokenEntry{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found tokenEntry
	hit := 0
	for _, t := range h.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, hit = t, 1
		}
	}
	return found, hit == 1
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuseUnread(w)
		intake.WriteError(w, http.StatusMethodNotAllowed, intake.Refuse("method", "use POST"))
		return
	}
	tok, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="regsync csv"`)
		refuseUnread(w)
		intake.WriteError(w, http.StatusUnauthorized, intake.Refuse("authorization", "a valid partner upload token is required (Authorization: Bearer TOKEN)"))
		return
	}
	max := int64(h.o.Config.MaxBytes)
	if max <= 0 {
		max = int64(intake.DefaultConfig().CSV.MaxBytes)
	}
	if r.ContentLength > max {
		refuseUnread(w)
		intake.WriteError(w, http.StatusRequestEntityTooLarge, intake.Refuse("file", fmt.Sprintf("larger than %s", intake.ByteSize(max))))
		return
	}
	ctx := r.Context()
	if h.o.RequestDeadline > 0 {
		rc := http.NewResponseController(w)
		until := time.Now().Add(h.o.RequestDeadline)
		_ = rc.SetReadDeadline(until)
		_ = rc.SetWriteDeadline(until)
		// The import stops at the deadline too, not only when the client
		// goes away: the result holds the rows done, and the same upload
		// again goes on where it stopped.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	body := http.MaxBytesReader(w, r.Body, max+64<<10)
	f, err := h.spool(r, body, max)
	if err != nil {
		if intake.StatusFor(err) == http.StatusRequestEntityTooLarge {
			err = intake.Refuse("file", fmt.Sprintf("larger than %s", intake.ByteSize(max)))
			intake.WriteError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		intake.WriteError(w, intake.StatusFor(err), err)
		return
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()

	lw := &lazyCSV{w: w}
	w.Header().Set("Trailer", "X-Regsync-Import-Error")
	sum, err := Import(ctx, f, lw, h.o.Registrar, Options{
		PartnerID: tok.partner, Submitter: tok.submitter, Partners: h.o.Partners, FreeMail: h.o.FreeMail,
		BatchSize: h.o.Config.BatchSize, Now: h.o.Now, Logger: h.o.Logger, TempDir: h.o.TempDir,
	})
	if err != nil {
		if !lw.started {
			w.Header().Del("Trailer")
			var fe *intake.FieldError
			status := http.StatusServiceUnavailable
			if errors.As(err, &fe) {
				status = http.StatusUnprocessableEntity
			}
			intake.WriteError(w, status, err)
			return
		}
		h.o.Logger.Error("csv upload failed part way", "partner", tok.partner, "rows", sum.Rows, "err", err)
		w.Header().Set("X-Regsync-Import-Error", oneLine(err.Error()))
		return
	}
	if !lw.started {
		lw.start()
	}
	h.o.Logger.Info("csv upload", "partner", tok.partner, "rows", sum.Rows, "submitted", sum.Submitted, "invalid", sum.Invalid, "duplicate", sum.Duplicate)
}

// spool copies the upload to a temporary file (Import reads it twice).
func (h *Handler) spool(r *http.Request, body io.Reader, max int64) (*os.File, error) {
	src := body
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, intake.Refuse("file", "the form carries no file")
			}
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return nil, err
				}
				return nil, intake.Refuse("file", "unreadable multipart form")
			}
			if p.FileName() != "" || p.FormName() == "file" {
				src = p
				break
			}
		}
	}
	f, err := os.CreateTemp(h.o.TempDir, "regsync-upload-*.csv")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(src, max+1))
	if err == nil && n > max {
		err = intake.ErrTooLarge
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// lazyCSV sets the CSV content type on the first write, so that an error
// before any result can still be answered as JSON.
type lazyCSV struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyCSV) start() {
	l.started = true
	l.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	l.w.Header().Set("Content-Disposition", `attachment; filename="results.csv"`)
	l.w.Header().Set("X-Content-Type-Options", "nosniff")
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyCSV) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	n, err := l.w.Write(p)
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}
