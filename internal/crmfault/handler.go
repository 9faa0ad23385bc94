package crmfault

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Shapes are a CRM's own answers to the faults that answer in its name.
type Shapes interface {
	// RateLimited answers r as the CRM does when a rate limit refuses a
	// request, and reports whether it did; false (r is one the CRM would
	// not rate-limit, such as an unauthenticated one) serves r as usual.
	RateLimited(w http.ResponseWriter, r *http.Request, f Fault) bool
	// ServerError answers r with a 5xx as the CRM or its edge does; f.Kind
	// says whether the request was applied (ServerErrorAfter).
	ServerError(w http.ResponseWriter, r *http.Request, f Fault)
}

// Route is how a request may fault.
type Route int

// Routes.
const (
	// API requests fault.
	API Route = iota
	// Auth requests (the token endpoint) fault only with Options.Auth.
	Auth
	// Exempt requests (a fake's own control and inspection endpoints)
	// never fault.
	Exempt
)

// Handler serves Next with the faults of the Injector in force.
type Handler struct {
	// Next is the fake CRM.
	Next http.Handler
	// Injector returns the injector in force; nil (or a nil result): no
	// faults. It is asked once per request, so a fake can switch faults
	// on and off while serving.
	Injector func() *Injector
	// Shapes answer the faults in the CRM's words; nil: plain 429 and 503
	// answers.
	Shapes Shapes
	// Route classifies a request; nil: every request is API.
	Route func(*http.Request) Route
	// Done, when closed, ends Latency waits (the fake is closing).
	Done <-chan struct{}
}

// ServeHTTP serves r, faulted or not.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in *Injector
	if h.Injector != nil {
		in = h.Injector()
	}
	route := API
	if h.Route != nil {
		route = h.Route(r)
	}
	if in == nil || route == Exempt || (route == Auth && !in.Auth()) || (in.opts.Only != nil && !in.opts.Only(r)) {
		h.Next.ServeHTTP(w, r)
		return
	}
	f, ok := in.draw()
	if !ok {
		h.Next.ServeHTTP(w, r)
		return
	}
	shapes := h.Shapes
	if shapes == nil {
		shapes = plainShapes{}
	}
	switch f.Kind {
	case RateLimit:
		// Counted before the client can see the answer.
		rec := &recorder{header: http.Header{}}
		if shapes.RateLimited(rec, r, f) {
			in.record(f.Kind)
			rec.replay(w)
			return
		}
		h.Next.ServeHTTP(w, r)
	case ServerErrorBefore:
		in.record(f.Kind)
		shapes.ServerError(w, r, f)
	case ResetBefore:
		in.record(f.Kind)
		reset(w)
	case Latency:
		in.record(f.Kind)
		// Read the body first: the server notices a client that leaves
		// only once the body is read.
		bufferBody(r)
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-h.Done:
			return
		}
		h.Next.ServeHTTP(w, r)
	case ServerErrorAfter, ResetAfter, Truncate:
		rec := &recorder{header: http.Header{}}
		h.Next.ServeHTTP(rec, r)
		switch f.Kind {
		case ServerErrorAfter:
			in.record(f.Kind)
			shapes.ServerError(w, r, f)
		case ResetAfter:
			in.record(f.Kind)
			reset(w)
		case Truncate:
			if !truncatable(r, rec) {
				rec.replay(w)
				return
			}
			in.record(f.Kind)
			truncate(w, r, rec, f)
		}
	}
}

// plainShapes are the answers of a Handler without Shapes.
type plainShapes struct{}

func (plainShapes) RateLimited(w http.ResponseWriter, _ *http.Request, _ Fault) bool {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
	return true
}

func (plainShapes) ServerError(w http.ResponseWriter, _ *http.Request, _ Fault) {
	http.Error(w, "service unavailable", http.StatusServiceUnavailable)
}

// maxBuffered bounds what bufferBody reads ahead; the rest stays unread.
const maxBuffered = 256 << 20

// bufferBody reads r's body ahead and puts it back.
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBuffered))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(b), errReader{err}, r.Body), r.Body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errReader fails with err, or reads EOF when err is nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// recorder keeps the fake's answer so that an "after" fault can spoil it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(p)
}

// replay writes the recorded answer unchanged.
func (rec *recorder) replay(w http.ResponseWriter) {
	copyHeader(w.Header(), rec.header)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}

// reset drops the connection without an answer, with a TCP RST where it
// can (the client reads "connection reset by peer").
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a wrapping writer): the server drops
		// the connection or stream without logging.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// truncatable reports whether a recorded answer has a body to cut.
func truncatable(r *http.Request, rec *recorder) bool {
	return r.Method != http.MethodHead && len(bytes.TrimRight(rec.body.Bytes(), " \t\r\n")) > 0
}

// truncate sends part of the recorded body. The part always lacks at least
// the last non-space byte, so JSON never parses.
func truncate(w http.ResponseWriter, r *http.Request, rec *recorder, f Fault) {
	body := bytes.TrimRight(rec.body.Bytes(), " \t\r\n")
	part := body[:int(f.keep*float64(len(body)))]
	if !f.short {
		copyHeader(w.Header(), rec.header)
		w.Header().Set("Content-Length", strconv.Itoa(len(part)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(part)
		return
	}
	// The full length, then the connection closes after the part.
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		copyHeader(w.Header(), rec.header)
		w.Header().Set("Content-Length", strconv.Itoa(rec.body.Len()))
		w.WriteHeader(rec.status)
		_, _ = w.Write(part)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	h := rec.header.Clone()
	h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	writeHead(buf.Writer, r.ProtoMajor, r.ProtoMinor, rec.status, h)
	_, _ = buf.Write(part)
	_ = buf.Flush()
}

func writeHead(b *bufio.Writer, major, minor, status int, h http.Header) {
	if major != 1 {
		major, minor = 1, 1
	}
	fmt.Fprintf(b, "HTTP/%d.%d %03d %s\r\n", major, minor, status, http.StatusText(status))
	_ = h.Write(b)
	_, _ = b.WriteString("\r\n")
}
