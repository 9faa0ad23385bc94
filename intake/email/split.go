package email

import (
	"regexp"
	"strings"

	"github.com/regsync/regsync/registration"
)

// Parts is a message body split into the sender's own text and what it
// quotes or forwards.
type Parts struct {
	// Own is the sender's own text: everything before the first quote or
	// forward marker.
	Own string
	// Forwarded is set when the body forwards a message.
	Forwarded *Forwarded
}

// Forwarded is a message forwarded inline in the body (or attached as
// message/rfc822).
type Forwarded struct {
	// FromName and FromAddress are the forwarded message's sender (the
	// prospect, usually); FromAddress is "" when it could not be read.
	FromName    string
	FromAddress string
	Subject     string
	Body        string
}

type markerKind int

const (
	markNone    markerKind = iota
	markQuote              // "On … wrote:" and the like: a reply's quote
	markForward            // "---------- Forwarded message ---------"
	markEither             // Outlook's separators: a reply or a forward
)

var (
	reGmailFwd   = regexp.MustCompile(`(?i)^-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)\s*-{2,}$`)
	reAppleFwd   = regexp.MustCompile(`(?i)^(begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|inicio del mensaje reenviado)\s*:$`)
	reOrigMsg    = regexp.MustCompile(`(?i)^-{3,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale)\s*-{3,}$`)
	reTbirdFwd   = regexp.MustCompile(`(?i)^-{3,}\s*forwarded message\s*-{3,}$`)
	reUnderscore = regexp.MustCompile(`^_{10,}$`)
	reWrote      = regexp.MustCompile(`(?i)^(on|am|le|el|il|op|den|em)\s.*(wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev|escreveu)\s*:$`)
	reHdrFrom    = regexp.MustCompile(`(?i)^\*?(from|von|de|da|van)\s*:\*?\s+\S`)
	reHdrSent    = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden)\s*:\*?\s+\S`)
	reHdrTo      = regexp.MustCompile(`(?i)^\*?(to|an|à|para|a|aan|subject|betreff|objet|asunto|oggetto|onderwerp)\s*:\*?`)
	reFwdSubject = regexp.MustCompile(`(?i)^\s*((fwd?|wg|tr|rv|enc|doorst|vs|vb)\s*:\s*)+`)
	reBracketTo  = regexp.MustCompile(`\[mailto:([^\]]+)\]`)
)

// IsForwardSubject reports whether a subject marks a forward ("Fwd:",
// "FW:", "WG:" …).
func IsForwardSubject(subject string) bool { return reFwdSubject.MatchString(subject) }

// Split separates the sender's own text from the quoted reply or the
// forwarded message below it. Gmail, Outlook (classic and new), Apple
// Mail and Thunderbird markers are recognised, in English and the main
// European languages. Outlook writes replies and forwards alike; forward
// (the message's subject starts with Fwd:, FW: …) tells them apart.
func Split(body string, forward bool) Parts {
	lines := splitLines(body)
	for i := 0; i < len(lines); i++ {
		k, skip := marker(lines, i)
		if k == markNone {
			continue
		}
		p := Parts{Own: strings.TrimSpace(strings.Join(lines[:i], "\n"))}
		if k == markForward || (k == markEither && forward) {
			p.Forwarded = parseForwarded(lines[i+skip:])
		}
		return p
	}
	return Parts{Own: strings.TrimSpace(strings.Join(lines, "\n"))}
}

// marker reports whether a quote or forward starts at line i, and how many
// lines the marker itself takes.
func marker(lines []string, i int) (markerKind, int) {
	t := strings.TrimSpace(lines[i])
	switch {
	case t == "":
		return markNone, 0
	case reGmailFwd.MatchString(t), reAppleFwd.MatchString(t), reTbirdFwd.MatchString(t):
		return markForward, 1
	case reOrigMsg.MatchString(t), reUnderscore.MatchString(t):
		return markEither, 1
	case reWrote.MatchString(t):
		return markQuote, 1
	}
	// Gmail wraps a long "On …, Jane <jane@…> wrote:" over two lines.
	if strings.HasPrefix(strings.ToLower(t), "on ") && i+1 < len(lines) && len(t) < 200 {
		if n := strings.TrimSpace(lines[i+1]); strings.HasSuffix(strings.ToLower(n), "wrote:") && reWrote.MatchString(t+" "+n) {
			return markQuote, 2
		}
	}
	// Outlook's header block without a separator line:
	// From: … / Sent: … / To: … / Subject: …
	if reHdrFrom.MatchString(t) {
		var sent, to bool
		for j := i + 1; j < len(lines) && j <= i+5; j++ {
			u := strings.TrimSpace(lines[j])
			sent = sent || reHdrSent.MatchString(u)
			to = to || reHdrTo.MatchString(u)
		}
		if sent && to {
			return markEither, 0
		}
	}
	return markNone, 0
}

// parseForwarded reads the header block of a forwarded message (From,
// Date/Sent, Subject, To, Cc) and its body.
func parseForwarded(lines []string) *Forwarded {
	fw := &Forwarded{}
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" {
			break
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok || len(k) > 20 {
			break
		}
		v = strings.TrimSpace(strings.Trim(v, "* "))
		switch strings.ToLower(strings.Trim(k, "* ")) {
		case "from", "von", "de", "da", "van":
			fw.FromName, fw.FromAddress = parseFromLine(v)
		case "subject", "betreff", "objet", "asunto", "oggetto", "onderwerp":
			fw.Subject = v
		}
	}
	fw.Body = strings.TrimSpace(strings.Join(lines[min(i, len(lines)):], "\n"))
	return fw
}

// parseFromLine reads "Jane Doe <jane@globex.example>", Outlook's "Jane Doe
// [mailto:jane@globex.example]", "jane@globex.example" or a name alone.
func parseFromLine(v string) (name, addr string) {
	v = strings.TrimSpace(v)
	if m := reBracketTo.FindStringSubmatchIndex(v); m != nil {
		addr = v[m[2]:m[3]]
		name = strings.TrimSpace(v[:m[0]])
	} else if i := strings.LastIndexByte(v, '<'); i >= 0 && strings.HasSuffix(v, ">") {
		addr = v[i+1 : len(v)-1]
		name = strings.TrimSpace(v[:i])
	} else if strings.Contains(v, "@") && !strings.ContainsAny(v, " \t") {
		addr = v
	} else {
		name = v
	}
	addr = strings.TrimPrefix(strings.TrimSpace(addr), "mailto:")
	name = strings.Trim(strings.TrimSpace(name), `"'`)
	if a, err := registration.ParseEmail(addr); err == nil {
		addr = a
	} else {
		addr = ""
	}
	if strings.Contains(name, "@") && addr != "" && strings.EqualFold(strings.Trim(name, "<>"), addr) {
		name = ""
	}
	return name, addr
}
