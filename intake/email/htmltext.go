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
// styles and the head are dropped.
func htmlToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return ""
	}
	var b strings.Builder
	render(&b, doc, false)
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
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

func render(b *strings.Builder, n *html.Node, pre bool) {
	switch n.Type {
	case html.TextNode:
		if pre {
			b.WriteString(n.Data)
			return
		}
		writeCollapsed(b, n.Data)
		return
	case html.CommentNode, html.DoctypeNode:
		return
	case html.ElementNode:
		switch n.DataAtom {
		case atom.Head, atom.Script, atom.Style, atom.Title, atom.Template:
			return
		case atom.Br:
			b.WriteString("\n")
			return
		case atom.Hr:
			newline(b)
			b.WriteString("________________________________\n")
			return
		case atom.Blockquote:
			quote(b, n)
			return
		case atom.Div:
			if hasClass(n, "gmail_quote") || hasClass(n, "yahoo_quoted") || attr(n, "type") == "cite" {
				quote(b, n)
				return
			}
		case atom.Td, atom.Th:
			// A cell is one line of text, whatever paragraphs it holds.
			var inner strings.Builder
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				render(&inner, c, false)
			}
			if hasPrevCell(n) {
				b.WriteString("\t")
			}
			b.WriteString(strings.Join(strings.Fields(inner.String()), " "))
			return
		case atom.Pre:
			pre = true
		}
	}
	block := n.Type == html.ElementNode && isBlock(n.DataAtom)
	if block {
		newline(b)
	}
	start := b.Len()
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		render(b, c, pre)
	}
	if block {
		if b.Len() > start && strings.TrimSpace(b.String()[start:]) == "" && (n.DataAtom == atom.P || n.DataAtom == atom.Div) {
			// An empty paragraph (Outlook's <p>&nbsp;</p>, Gmail's
			// <div><br></div>) is a blank line.
			b.WriteString("\n")
		}
		newline(b)
	}
}

// newline ends the current line unless it is already ended.
func newline(b *strings.Builder) {
	if s := b.String(); len(s) > 0 && s[len(s)-1] != '\n' {
		b.WriteByte('\n')
	}
}

func quote(b *strings.Builder, n *html.Node) {
	var inner strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		render(&inner, c, false)
	}
	newline(b)
	for _, l := range strings.Split(strings.TrimRight(inner.String(), "\n"), "\n") {
		b.WriteString("> " + l + "\n")
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

func writeCollapsed(b *strings.Builder, s string) {
	space := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f':
			space = true
			continue
		}
		if space {
			cur := b.String()
			if len(cur) > 0 && cur[len(cur)-1] != '\n' && cur[len(cur)-1] != ' ' && cur[len(cur)-1] != '\t' {
				b.WriteByte(' ')
			}
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		cur := b.String()
		if len(cur) > 0 && cur[len(cur)-1] != '\n' && cur[len(cur)-1] != ' ' && cur[len(cur)-1] != '\t' {
			b.WriteByte(' ')
		}
	}
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
