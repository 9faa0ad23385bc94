package mail

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/jhillyerd/enmime/v2"
)

// OutboxViewer shows the e-mails of an outbox directory (the .eml files
// Outbox writes) as web pages: GET Path lists them, newest first, and GET
// Path/{file} shows one — so a newcomer trying the sandbox can open a
// web-form confirmation link without a mail server. Everything is
// HTML-escaped; links to Public are clickable, any other link is text.
type OutboxViewer struct {
	Dir    string
	Path   string // where it is mounted: /sandbox/outbox
	Public string // links to this site are clickable in a message
}

// outboxListMax bounds the list.
const outboxListMax = 200

var reOutboxFile = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]*\.eml$`)

// IsOutboxFile reports whether name is a message Outbox wrote (not a
// temporary file, not a path).
func IsOutboxFile(name string) bool { return reOutboxFile.MatchString(name) }

func (o OutboxViewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, o.Path), "/")
	if name == "" {
		o.list(w)
		return
	}
	if !IsOutboxFile(name) {
		http.NotFound(w, r)
		return
	}
	o.show(w, r, name)
}

type outboxEntry struct {
	Name, Date, To, Subject string
}

type outboxPage struct {
	Dir     string
	Entries []outboxEntry
	More    int
	// One message.
	Msg                    *outboxEntry
	From, Auto             string
	Body                   []outboxSegment
	HTMLOnly, Unreadable   bool
	ListPath, OutboxPrefix string
}

// outboxSegment is a piece of a message's text: plain, or a link to this
// site (a confirmation or status link), which is made clickable.
type outboxSegment struct{ Text, Href string }

func (o OutboxViewer) list(w http.ResponseWriter) {
	des, err := os.ReadDir(o.Dir)
	if err != nil && !os.IsNotExist(err) {
		http.Error(w, "the outbox cannot be read", http.StatusInternalServerError)
		return
	}
	var names []string
	for _, de := range des {
		if !de.IsDir() && IsOutboxFile(de.Name()) {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	slices.Reverse(names) // the names start with the instant: newest first
	p := &outboxPage{Dir: o.Dir, ListPath: o.Path, OutboxPrefix: o.Path + "/"}
	if len(names) > outboxListMax {
		p.More, names = len(names)-outboxListMax, names[:outboxListMax]
	}
	for _, n := range names {
		e := outboxEntry{Name: n}
		if env, _, err := o.Read(n); err == nil {
			e.Date, e.To, e.Subject = env.GetHeader("Date"), env.GetHeader("To"), env.GetHeader("Subject")
		}
		p.Entries = append(p.Entries, e)
	}
	o.render(w, http.StatusOK, p)
}

// Read parses the outbox file name and returns it with its envelope
// recipients (Bcc included; "" when the file records none).
func (o OutboxViewer) Read(name string) (*enmime.Envelope, string, error) {
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 10<<20))
	if err != nil {
		return nil, "", err
	}
	env := ""
	if line, rest, ok := bytes.Cut(raw, []byte("\r\n")); ok && bytes.HasPrefix(line, []byte("X-Envelope-To: ")) {
		env, raw = string(bytes.TrimPrefix(line, []byte("X-Envelope-To: "))), rest
	}
	e, err := enmime.ReadEnvelope(bytes.NewReader(raw))
	return e, env, err
}

func (o OutboxViewer) show(w http.ResponseWriter, r *http.Request, name string) {
	env, rcpt, err := o.Read(name)
	if os.IsNotExist(err) {
		http.NotFound(w, r)
		return
	}
	p := &outboxPage{Dir: o.Dir, ListPath: o.Path, Msg: &outboxEntry{Name: name}}
	if err != nil || env == nil {
		p.Unreadable = true
		o.render(w, http.StatusOK, p)
		return
	}
	to := env.GetHeader("To")
	if rcpt != "" {
		to = rcpt // the envelope: Bcc included
	}
	p.Msg.Date, p.Msg.To, p.Msg.Subject = env.GetHeader("Date"), to, env.GetHeader("Subject")
	p.From, p.Auto = env.GetHeader("From"), env.GetHeader("Auto-Submitted")
	text := env.Text
	if strings.TrimSpace(text) == "" && env.HTML != "" {
		p.HTMLOnly, text = true, env.HTML
	}
	p.Body = o.segments(text)
	o.render(w, http.StatusOK, p)
}

var reURL = regexp.MustCompile(`https?://[^\s<>"]+`)

// segments splits a text into plain pieces and links to this site; a link
// anywhere else stays text.
func (o OutboxViewer) segments(text string) []outboxSegment {
	var out []outboxSegment
	last := 0
	for _, m := range reURL.FindAllStringIndex(text, -1) {
		u := text[m[0]:m[1]]
		if o.Public == "" || !strings.HasPrefix(u, o.Public+"/") {
			continue
		}
		out = append(out, outboxSegment{Text: text[last:m[0]]}, outboxSegment{Text: u, Href: u})
		last = m[1]
	}
	return append(out, outboxSegment{Text: text[last:]})
}

func (o OutboxViewer) render(w http.ResponseWriter, status int, p *outboxPage) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = outboxTmpl.Execute(w, p)
}

var outboxTmpl = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{if .Msg}}{{.Msg.Subject}} – {{end}}Sandbox outbox</title>
<style>body{font:1rem/1.5 system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f6f8;padding:1rem;border-radius:.4rem}
.note{color:#555}</style></head><body><main>
{{if .Msg}}
<p><a href="{{.ListPath}}">All e-mails</a></p>
<h1>{{.Msg.Subject}}</h1>
{{if .Unreadable}}<p>This file cannot be read as an e-mail.</p>{{else}}
<table><tr><th>From</th><td>{{.From}}</td></tr><tr><th>To</th><td>{{.Msg.To}}</td></tr><tr><th>Date</th><td>{{.Msg.Date}}</td></tr>
{{if .Auto}}<tr><th>Auto-Submitted</th><td>{{.Auto}}</td></tr>{{end}}</table>
{{if .HTMLOnly}}<p class="note">This e-mail has only an HTML part; its source is shown.</p>{{end}}
<pre>{{range .Body}}{{if .Href}}<a href="{{.Href}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}</pre>{{end}}
<p class="note">File {{.Msg.Name}} in {{.Dir}}.</p>
{{else}}
<h1>Sandbox outbox</h1>
<p class="note">The sandbox sends no e-mail: what partners would get is written to {{.Dir}} and shown here, newest first. Links to this site in a message are clickable (a web-form confirmation, a status link).</p>
{{if .Entries}}<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>
{{range .Entries}}<tr><td>{{.Date}}</td><td>{{.To}}</td><td><a href="{{$.OutboxPrefix}}{{.Name}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{end}}</table>{{if .More}}<p class="note">And {{.More}} older ones.</p>{{end}}{{else}}<p>No e-mail yet.</p>{{end}}
{{end}}
</main></body></html>`))
