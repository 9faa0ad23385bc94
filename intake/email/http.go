package email

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/regsync/regsync/intake"
)

// Path is where the inbound-mail endpoint is mounted.
const Path = "/intake/email"

// ServeHTTP is POST /intake/email. The inbound-mail service authenticates
// with the configured token (Bearer, or the basic-auth password) and sends
// the raw message as:
//
//   - the request body (message/rfc822, text/plain or no content type);
//   - JSON {"raw": "..."};
//   - a form (multipart or urlencoded) with the raw message in body-mime
//     (Mailgun's store-and-forward "mime" route) or email (SendGrid's
//     Inbound Parse with "POST the raw, full MIME message"); SendGrid's
//     dkim and SPF fields are honoured.
//
// Answers: 200 with the Outcome as JSON; 202 for ignored automatic mail;
// 401 without the token; 413 above max_bytes; 422 with the field and the
// reason for a message that is refused (not an e-mail, over a parsing
// limit, unknown sender, failed authentication: nothing is registered and
// no reply is sent); 503 when the CRM or the mail server failed or the
// message was not processed within processing_timeout (the service
// should retry).
func (c *Channel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		intake.WriteError(w, http.StatusMethodNotAllowed, intake.Refuse("method", "use POST"))
		return
	}
	if !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="regsync email"`)
		intake.WriteError(w, http.StatusUnauthorized, intake.Refuse("authorization", "the inbound-mail token is missing or wrong"))
		return
	}
	max := int64(c.o.Config.MaxBytes)
	if max <= 0 {
		max = int64(intake.DefaultConfig().Email.MaxBytes)
	}
	tooLarge := intake.Refuse("message", fmt.Sprintf("larger than %s", intake.ByteSize(max)))
	// JSON and forms escape the message: allow them some room, then bound
	// the message itself.
	limit := max + max/3 + 64<<10
	if r.ContentLength > limit {
		intake.WriteError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	raw, hints, err := readInbound(r, http.MaxBytesReader(w, r.Body, limit))
	if err == nil && int64(len(raw)) > max {
		err = intake.ErrTooLarge
	}
	if err != nil {
		status := intake.StatusFor(err)
		if status == http.StatusRequestEntityTooLarge {
			err = tooLarge
		} else if status == http.StatusInternalServerError {
			status, err = http.StatusBadRequest, intake.Refuse("body", err.Error())
		}
		intake.WriteError(w, status, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.timeout())
	defer cancel()
	out, err := c.processWithin(ctx, raw, hints)
	var fe *intake.FieldError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		c.o.Logger.Warn("email not processed within its deadline", "channel", intake.ChannelEmail, "timeout", c.timeout())
		w.Header().Set("Retry-After", "60")
		intake.WriteError(w, http.StatusServiceUnavailable, fmt.Errorf("the message was not processed within %s (intake.email.processing_timeout); retry later", c.timeout()))
	case errors.As(err, &fe):
		c.o.Logger.Info("email refused", "channel", intake.ChannelEmail, "field", fe.Field, "reason", fe.Reason)
		intake.WriteError(w, http.StatusUnprocessableEntity, err)
	case err != nil:
		c.o.Logger.Error("email failed", "channel", intake.ChannelEmail, "err", err)
		intake.WriteError(w, http.StatusServiceUnavailable, errors.New("the registration could not be processed now; retry later"))
	case out.Action == ActionIgnore:
		intake.WriteJSON(w, http.StatusAccepted, out)
	default:
		intake.WriteJSON(w, http.StatusOK, out)
	}
}

// timeout is the processing deadline of one message.
func (c *Channel) timeout() time.Duration {
	if t := c.o.Config.ProcessingTimeout; t > 0 {
		return t
	}
	return intake.DefaultConfig().Email.ProcessingTimeout
}

// processWithin processes a message in a goroutine of its own and gives up
// when ctx ends, so that a CRM or mail server that ignores the deadline
// cannot hold the answer (the goroutine ends when its calls do; a retry
// is safe: the submission key makes it find what it registered). A panic
// is an error, never a crash.
func (c *Channel) processWithin(ctx context.Context, raw []byte, hints Hints) (Outcome, error) {
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				c.o.Logger.Error("email: panic while processing a message", "channel", intake.ChannelEmail, "panic", r, "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("email: internal error: %v", r)}
			}
		}()
		out, err := c.Process(ctx, raw, hints)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil && !isRefusal(r.err) {
			return r.out, fmt.Errorf("%w (%w)", ctx.Err(), r.err)
		}
		return r.out, r.err
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

func isRefusal(err error) bool {
	var fe *intake.FieldError
	return errors.As(err, &fe)
}

// authorized checks the token in constant time.
func (c *Channel) authorized(r *http.Request) bool {
	want := c.o.Config.Token
	if !want.IsSet() {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_, got, ok = r.BasicAuth()
	}
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want.Reveal()))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// readInbound extracts the raw message (and SendGrid's hints) from the
// request in any of the accepted forms.
func readInbound(r *http.Request, body io.Reader) ([]byte, Hints, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var v struct {
			Raw string `json:"raw"`
		}
		dec := json.NewDecoder(body)
		if err := dec.Decode(&v); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, Hints{}, err
			}
			return nil, Hints{}, intake.Refuse("raw", "the body is not JSON of the form {\"raw\": \"…\"}")
		}
		if strings.TrimSpace(v.Raw) == "" {
			return nil, Hints{}, intake.Refuse("raw", "empty: put the full RFC 5322 message in \"raw\"")
		}
		return []byte(v.Raw), Hints{}, nil
	case "multipart/form-data":
		return readMultipart(multipart.NewReader(body, params["boundary"]))
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, Hints{}, err
		}
		q, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, Hints{}, intake.Refuse("body", "unreadable form")
		}
		raw := q.Get("body-mime")
		if raw == "" {
			raw = q.Get("email")
		}
		if raw == "" {
			return nil, Hints{}, intake.Refuse("body-mime", "the form carries no raw message (body-mime or email field)")
		}
		return []byte(raw), Hints{DKIM: q.Get("dkim"), SPF: q.Get("SPF")}, nil
	}
	b, err := io.ReadAll(body)
	return b, Hints{}, err
}

func readMultipart(mr *multipart.Reader) ([]byte, Hints, error) {
	var raw []byte
	var h Hints
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, h, err
			}
			return nil, h, intake.Refuse("body", "unreadable multipart form")
		}
		name := p.FormName()
		switch name {
		case "body-mime", "email", "dkim", "SPF":
		default:
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, h, err
		}
		switch name {
		case "body-mime", "email":
			if raw == nil {
				raw = b
			}
		case "dkim":
			h.DKIM = string(b)
		case "SPF":
			h.SPF = string(b)
		}
	}
	if raw == nil {
		return nil, h, intake.Refuse("body-mime", "the form carries no raw message (body-mime or email field)")
	}
	return raw, h, nil
}
