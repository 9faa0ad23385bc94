package email

import (
	"net/textproto"
	"strconv"
	"strings"

	"github.com/regsync/regsync/intake"
	"github.com/regsync/regsync/registration"
)

// Result is one authentication method's result (RFC 8601 resinfo):
// dkim=pass header.d=globex.example.
type Result struct {
	Method string // dkim, spf, dmarc, arc …, lower case
	Result string // pass, fail, softfail, none, neutral … lower case
	// Domain is the domain the result is about: header.d (or the domain
	// of header.i) for DKIM, smtp.mailfrom's domain (or smtp.helo) for SPF,
	// header.from for DMARC; "" when the result does not say.
	Domain string
}

// AuthResults is one Authentication-Results header, parsed.
type AuthResults struct {
	AuthservID string
	Results    []Result
}

// ParseAuthResults reads an Authentication-Results (or, after its "i=N;"
// instance tag, an ARC-Authentication-Results) header value. Comments are
// dropped. A value without an authserv-id (as Microsoft 365 writes it)
// gives an empty AuthservID.
func ParseAuthResults(v string) AuthResults {
	v = stripComments(v)
	parts := splitSemis(v)
	var ar AuthResults
	if len(parts) == 0 {
		return ar
	}
	first := strings.TrimSpace(parts[0])
	if !strings.Contains(first, "=") || strings.HasPrefix(strings.ToLower(first), "i=") {
		if strings.HasPrefix(strings.ToLower(first), "i=") {
			// ARC: "i=1; authserv-id; …"
			parts = parts[1:]
			if len(parts) == 0 {
				return ar
			}
			first = strings.TrimSpace(parts[0])
		}
		if f := strings.Fields(first); len(f) > 0 && !strings.Contains(f[0], "=") {
			ar.AuthservID = strings.ToLower(f[0])
			parts = parts[1:]
		}
	}
	for _, p := range parts {
		f := strings.Fields(p)
		if len(f) == 0 {
			continue
		}
		m, r, ok := strings.Cut(f[0], "=")
		if !ok {
			continue // "none"
		}
		res := Result{Method: strings.ToLower(m), Result: strings.ToLower(strings.Trim(r, `"`))}
		if i := strings.IndexByte(res.Method, '/'); i >= 0 {
			res.Method = res.Method[:i] // method/version
		}
		props := map[string]string{}
		for _, kv := range f[1:] {
			k, val, ok := strings.Cut(kv, "=")
			if ok {
				props[strings.ToLower(k)] = strings.Trim(val, `"`)
			}
		}
		switch res.Method {
		case "dkim":
			res.Domain = props["header.d"]
			if res.Domain == "" {
				res.Domain = afterAt(props["header.i"])
			}
		case "spf":
			res.Domain = afterAt(props["smtp.mailfrom"])
			if res.Domain == "" {
				res.Domain = props["smtp.helo"]
			}
		case "dmarc":
			res.Domain = props["header.from"]
		}
		res.Domain = strings.ToLower(strings.TrimSuffix(res.Domain, "."))
		ar.Results = append(ar.Results, res)
	}
	return ar
}

func afterAt(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// stripComments drops RFC 5322 comments (nested parentheses), outside
// quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (depth > 0 || quoted):
			i++
			if depth == 0 {
				b.WriteByte(s[i])
			}
			continue
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
			continue
		case c == ')' && !quoted && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitSemis splits on semicolons outside quoted strings, and blanks the
// quoted strings' contents (no property regsync reads is quoted).
func splitSemis(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	emit := func() {
		if t := strings.TrimSpace(b.String()); t != "" {
			out = append(out, t)
		}
		b.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case quoted:
			if c == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte('_')
		case c == ';':
			emit()
		default:
			b.WriteByte(c)
		}
	}
	emit()
	return out
}

// Verdict is the outcome of sender authentication.
type Verdict struct {
	// Pass: an honoured result authenticates the From domain (an aligned
	// DKIM or SPF pass, or a DMARC pass).
	Pass bool
	// Aligned: a DKIM or DMARC pass aligned with the From domain comes
	// from a source the sender cannot write: the Authentication-Results
	// of a listed authserv-id (or an ARC set that server sealed), or
	// SendGrid's dkim field. Amendments by e-mail need it (or the status
	// token).
	Aligned bool
	// Fail: an honoured result says the From domain did not send it;
	// Reason says which ("dkim=fail header.d=globex.example").
	Fail   bool
	Reason string
	// Source names the headers the verdict rests on.
	Source string
}

// Hints are authentication results an inbound service gives beside the
// message (SendGrid's dkim and SPF form fields).
type Hints struct {
	// DKIM is SendGrid's dkim field: "{@globex.example : pass}".
	DKIM string
	// SPF is SendGrid's SPF field: "pass". It is about the envelope
	// sender, not the From domain, and decides nothing.
	SPF string
}

// honoured is a result and whether the sender could have written it.
type honoured struct {
	res     Result
	trusted bool
}

// Authenticate judges whether the message's From domain (fromDomain) is
// authenticated, from the headers the configuration honours (see the
// docs/intake.md's e-mail section):
//
//   - Authentication-Results: with authserv_ids configured, the topmost
//     header whose authserv-id is listed (trusted: the sender's own
//     headers are below it); without, the topmost header (the one the
//     last hop — the inbound service — added; not trusted, as a service
//     that adds none leaves the sender's on top).
//   - ARC-Authentication-Results: only with authserv_ids configured, and
//     only when the honoured Authentication-Results says arc=pass: then
//     the passes of the earliest ARC set whose results name a listed
//     authserv-id and whose ARC-Seal that server's domain made count (a
//     forwarder that broke DKIM). Anyone can add an ARC set that
//     validates, sealed with their own key.
//   - SendGrid's dkim field (hints): always (it comes from the
//     authenticated service, and names the signing domain).
//   - SendGrid's SPF field and X-Mailgun-Spf are about the envelope
//     sender, which the sender picks, and X-Mailgun-Dkim-Check-Result
//     names no signing domain: none of them is about the From domain, so
//     they neither pass nor fail (they are named in Source).
//
// A result counts when it is aligned with the From domain (the same
// registrable domain). dmarc=fail refuses; an aligned pass (dmarc, dkim
// or spf) authenticates; otherwise an aligned dkim=fail or spf=fail
// refuses; softfail, neutral, none, temperror and permerror neither pass
// nor refuse.
func Authenticate(h textproto.MIMEHeader, fromDomain string, cfg intake.EmailAuthConfig, hints Hints) Verdict {
	from := registrable(fromDomain)
	trusted := map[string]bool{}
	for _, id := range cfg.AuthservIDs {
		trusted[strings.ToLower(strings.TrimSpace(id))] = true
	}
	var results []honoured
	var sources []string
	arcPass := false
	for i, v := range h.Values("Authentication-Results") {
		ar := ParseAuthResults(v)
		if len(trusted) == 0 && i > 0 {
			break
		}
		if len(trusted) > 0 && !trusted[ar.AuthservID] {
			continue
		}
		for _, r := range ar.Results {
			results = append(results, honoured{r, len(trusted) > 0})
			arcPass = arcPass || (r.Method == "arc" && r.Result == "pass")
		}
		sources = append(sources, "Authentication-Results "+orNone(ar.AuthservID))
		break
	}
	if cfg.MailgunHeaders {
		for _, name := range []string{"X-Mailgun-Spf", "X-Mailgun-Dkim-Check-Result"} {
			if strings.TrimSpace(h.Get(name)) != "" {
				sources = append(sources, name+" (not about the From domain)")
			}
		}
	}
	if hints.SPF != "" {
		sources = append(sources, "SPF field (not about the From domain)")
	}
	for _, r := range sendgridDKIM(hints.DKIM) {
		results = append(results, honoured{r, true})
	}
	if hints.DKIM != "" {
		sources = append(sources, "dkim field")
	}
	aligned := func(r Result) bool { return from != "" && r.Domain != "" && registrable(r.Domain) == from }
	passes := func(r Result) bool {
		return r.Result == "pass" && ((r.Method == "dkim" || r.Method == "spf") && aligned(r) || r.Method == "dmarc" && (r.Domain == "" || aligned(r)))
	}
	v := Verdict{Source: strings.Join(sources, ", ")}
	for _, hr := range results {
		if r := hr.res; r.Method == "dmarc" && r.Result == "fail" && (r.Domain == "" || aligned(r)) {
			v.Fail, v.Reason = true, "dmarc=fail for "+fromDomain
			return v
		}
	}
	for _, hr := range results {
		if passes(hr.res) {
			v.Pass = true
			v.Aligned = v.Aligned || (hr.trusted && hr.res.Method != "spf")
		}
	}
	if v.Pass {
		return v
	}
	if arcPass {
		if inst, ar := sealedARC(h, trusted); inst > 0 {
			for _, r := range ar.Results {
				if passes(r) {
					v.Pass, v.Source = true, v.Source+", ARC-Authentication-Results i="+strconv.Itoa(inst)+" "+ar.AuthservID
					v.Aligned = v.Aligned || r.Method != "spf"
				}
			}
			if v.Pass {
				return v
			}
		}
	}
	for _, hr := range results {
		if r := hr.res; r.Result == "fail" && (r.Method == "dkim" || r.Method == "spf") && aligned(r) {
			v.Fail = true
			v.Reason = r.Method + "=fail"
			if r.Domain != "" {
				v.Reason += " for " + r.Domain
			}
			return v
		}
	}
	return v
}

// sealedARC returns the earliest ARC set whose results name a trusted
// authserv-id and whose ARC-Seal was made by that server's registrable
// domain (0 when there is none).
func sealedARC(h textproto.MIMEHeader, trusted map[string]bool) (int, AuthResults) {
	sealers := map[int]string{}
	for _, raw := range h.Values("ARC-Seal") {
		if i := arcInstance(raw); i > 0 {
			if _, dup := sealers[i]; dup {
				sealers[i] = "" // two seals of one instance: neither counts
				continue
			}
			sealers[i] = registrable(tagValue(raw, "d"))
		}
	}
	best, bestI := AuthResults{}, 0
	for _, raw := range h.Values("ARC-Authentication-Results") {
		inst := arcInstance(raw)
		ar := ParseAuthResults(raw)
		if inst <= 0 || !trusted[ar.AuthservID] || (bestI != 0 && inst >= bestI) {
			continue
		}
		if sealer := sealers[inst]; sealer == "" || sealer != registrable(ar.AuthservID) {
			continue
		}
		best, bestI = ar, inst
	}
	return bestI, best
}

// tagValue is the value of a tag ("d") in a tag list ("i=1; a=rsa-sha256;
// d=google.com; …"), lower case.
func tagValue(list, tag string) string {
	for t := range strings.SplitSeq(list, ";") {
		k, v, ok := strings.Cut(t, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), tag) {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(no authserv-id)"
	}
	return s
}

func arcInstance(v string) int {
	f := strings.TrimSpace(strings.SplitN(v, ";", 2)[0])
	if n, ok := strings.CutPrefix(strings.ToLower(f), "i="); ok {
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if err == nil {
			return i
		}
	}
	return 0
}

// sendgridDKIM reads "{@globex.example : pass, @esp.example : fail}".
func sendgridDKIM(s string) []Result {
	s = strings.Trim(strings.TrimSpace(s), "{}")
	var out []Result
	for p := range strings.SplitSeq(s, ",") {
		d, r, ok := strings.Cut(p, ":")
		if !ok {
			continue
		}
		d = strings.TrimPrefix(strings.TrimSpace(d), "@")
		out = append(out, Result{Method: "dkim", Result: strings.ToLower(strings.TrimSpace(r)), Domain: strings.ToLower(d)})
	}
	return out
}

func registrable(d string) string {
	if d == "" {
		return ""
	}
	r, err := registration.RegistrableDomain(d)
	if err != nil {
		return ""
	}
	return r
}
