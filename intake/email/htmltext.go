package email

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText turns an HTML body into the plain text the form parser reads:
// block elements and <br> end lines, a table row's cells become "first:
// rest" (so a two-column table of labels and values reads as a form),
// <blockquote> and Gmail's quote <div> become "> " lines, <hr> becomes
// Outlook's underscore separator, links keep their text only, and scripts,
// styles and the head are dropped. It writes each piece of text once,
// whatever the nesting (x/net/html refuses more than 512 open elements).
func htmlToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return ""
	}
	w := &textWriter{lineStart: true, last: '\n'}
	w.render(doc, false)
	var out []string
	for _, line := range strings.Split(w.b.String(), "\n") {
		line = strings.TrimRight(line, " ")
		if i := strings.IndexByte(line, '\t'); i >= 0 {
			left := strings.TrimSpace(line[:i])
			rest := strings.TrimSpace(strings.ReplaceAll(line[i+1:], "\t", " "))
			switch {
			case left == "":
				line = rest
			case rest == "":
				line = left
			case strings.HasSuffix(left, ":"):
				line = left + " " + rest
			default:
				line = left + ": " + rest
			}
		}
		out = append(out, strings.TrimSpace(line))
	}
	// Collapse runs of blank lines to one.
	var res []string
	for i, l := range out {
		if l == "" && (i == 0 || out[i-1] == "") {
			continue
		}
		res = append(res, l)
	}
	return strings.TrimSpace(strings.Join(res, "\n"))
}

// textWriter writes the text of an HTML tree as lines. Inside quotes each
// line gets one "> " per level as it starts; inside a table cell the text
// stays on one line with its white space collapsed.
type textWriter struct {
	b         strings.Builder
	depth     int  // quote depth
	lineStart bool // nothing written on the current line yet
	last      byte // the last byte written ('\n' at a line's start)
	written   int  // bytes written, quote marks aside
	nonSpace  int  // of which not white space
	cell      int  // > 0 inside a table cell
	cellEmpty bool // the current cell has no text yet
	cellSpace bool // white space pending in the cell
	// Blank lines inside a quote are written only when more of the quote
	// follows (a quote's trailing blank lines are dropped).
	blanks, blankDepth int
}

// put writes text without line breaks. Past MaxTextBytes, nothing more
// is written: the rest would not be read.
func (w *textWriter) put(s string) {
	if s == "" || w.b.Len() > MaxTextBytes {
		return
	}
	if w.lineStart {
		if w.blanks > 0 && w.depth >= w.blankDepth {
			for range w.blanks {
				w.b.WriteString(strings.Repeat("> ", w.blankDepth) + "\n")
			}
		}
		w.blanks = 0
		w.b.WriteString(strings.Repeat("> ", w.depth))
		w.lineStart = false
	}
	w.b.WriteString(s)
	w.written += len(s)
	w.nonSpace += len(s) - countSpace(s)
	w.last = s[len(s)-1]
}

func countSpace(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			n++
		}
	}
	return n
}

// newline ends the current line unless it is already ended.
func (w *textWriter) newline() {
	if w.cell > 0 {
		w.cellSpace = true
		return
	}
	if !w.lineStart {
		if w.b.Len() <= MaxTextBytes {
			w.b.WriteByte('\n')
		}
		w.lineStart, w.last = true, '\n'
		w.written++
	}
}

// lineBreak ends the current line, or writes a blank one (<br>).
func (w *textWriter) lineBreak() {
	switch {
	case w.cell > 0:
		w.cellSpace = true
	case !w.lineStart:
		w.newline()
	case w.depth > 0:
		if w.blanks == 0 || w.blankDepth != w.depth {
			w.blanks, w.blankDepth = 0, w.depth
		}
		w.blanks++
		w.written++
	default:
		if w.b.Len() <= MaxTextBytes {
			w.b.WriteByte('\n')
		}
		w.written++
	}
}

// text writes a text node, its white space collapsed (pre: as it is).
func (w *textWriter) text(s string, pre bool) {
	if pre && w.cell == 0 {
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				w.lineBreak()
			}
			w.put(line)
		}
		return
	}
	space := false
	start := 0
	flush := func(end int) {
		if end > start {
			w.word(s[start:end], space)
			space = false
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\f':
			flush(i)
			space = true
			start = i + 1
		}
	}
	flush(len(s))
	if space {
		w.space()
	}
}

// word writes a run of text without white space, after a space when
// white space came before it.
func (w *textWriter) word(s string, spaceBefore bool) {
	if w.cell > 0 {
		if (spaceBefore || w.cellSpace) && !w.cellEmpty {
			w.put(" ")
		}
		w.put(s)
		w.cellEmpty, w.cellSpace = false, false
		return
	}
	if spaceBefore {
		w.space()
	}
	w.put(s)
}

// space writes one space unless the line is empty or already ends in one.
func (w *textWriter) space() {
	if w.cell > 0 {
		w.cellSpace = true
		return
	}
	if !w.lineStart && w.last != '\n' && w.last != ' ' && w.last != '\t' {
		w.put(" ")
	}
}

func (w *textWriter) render(n *html.Node, pre bool) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data, pre)
		return
	case html.CommentNode, html.DoctypeNode:
		return
	case html.ElementNode:
		switch n.DataAtom {
		case atom.Head, atom.Script, atom.Style, atom.Title, atom.Template:
			return
		case atom.Br:
			w.lineBreak()
			return
		case atom.Hr:
			w.newline()
			w.put("________________________________")
			w.newline()
			return
		case atom.Blockquote:
			w.quote(n)
			return
		case atom.Div:
			if hasClass(n, "gmail_quote") || hasClass(n, "yahoo_quoted") || attr(n, "type") == "cite" {
				w.quote(n)
				return
			}
		case atom.Td, atom.Th:
			// A cell is one line of text, whatever paragraphs it holds.
			if w.cell > 0 {
				w.cellSpace = true
				w.children(n, false)
				w.cellSpace = true
				return
			}
			if hasPrevCell(n) {
				w.put("\t")
			}
			w.cell, w.cellEmpty, w.cellSpace = 1, true, false
			w.children(n, false)
			w.cell = 0
			return
		case atom.Pre:
			pre = true
		}
	}
	if n.Type != html.ElementNode || !isBlock(n.DataAtom) {
		w.children(n, pre)
		return
	}
	w.newline()
	written, nonSpace := w.written, w.nonSpace
	w.children(n, pre)
	if w.written > written && w.nonSpace == nonSpace && (n.DataAtom == atom.P || n.DataAtom == atom.Div) {
		// An empty paragraph (Outlook's <p>&nbsp;</p>, Gmail's
		// <div><br></div>) is a blank line.
		w.lineBreak()
	}
	w.newline()
}

func (w *textWriter) children(n *html.Node, pre bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.render(c, pre)
	}
}

// quote writes a quote's lines one level deeper.
func (w *textWriter) quote(n *html.Node) {
	if w.cell > 0 {
		w.children(n, false)
		return
	}
	w.newline()
	w.depth++
	w.children(n, false)
	w.newline()
	w.depth--
	if w.blankDepth > w.depth {
		w.blanks = 0
	}
}

func hasPrevCell(n *html.Node) bool {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode && (p.DataAtom == atom.Td || p.DataAtom == atom.Th) {
			return true
		}
	}
	return false
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Tr, atom.Table, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3,
		atom.H4, atom.H5, atom.H6, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Pre,
		atom.Dl, atom.Dt, atom.Dd, atom.Address, atom.Center, atom.Form, atom.Fieldset, atom.Tbody, atom.Thead:
		return true
	}
	return false
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
