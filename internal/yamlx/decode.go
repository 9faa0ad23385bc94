package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is a decoded YAML document: its file name and node tree, kept to turn
// paths into line numbers.
type Doc struct {
	File string
	Root *yaml.Node // the document's top mapping; nil for an empty document
}

// Decode parses data (from file) into v strictly: unknown keys, wrong types
// and duplicate keys are errors. Every error reads "file:line: what is
// wrong", one per line. Fields of v that the YAML does not mention keep the
// values they had, so callers pre-fill v with defaults.
func Decode(file string, data []byte, v any) (*Doc, error) {
	doc := &Doc{File: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return doc, doc.wrapYAML(err)
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		doc.Root = root.Content[0]
	}
	if doc.Root == nil {
		return doc, nil // empty document: all defaults
	}
	if doc.Root.Kind != yaml.MappingNode {
		return doc, fmt.Errorf("%s:%d: expected a mapping of keys at the top level", file, doc.Root.Line)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return doc, doc.wrapYAML(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return doc, fmt.Errorf("%s:%d: only one YAML document is allowed", file, extra.Line)
	}
	return doc, nil
}

var (
	lineRe      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	inTypeRe    = regexp.MustCompile(` in type [\w.\[\]*]+$`)
	unmarshalRe = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.*)$")
)

// wrapYAML rewrites yaml.v3 errors as "file:line: message" lines.
func (d *Doc) wrapYAML(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out []error
	for _, m := range msgs {
		out = append(out, errors.New(d.rewrite(m)))
	}
	return errors.Join(out...)
}

func (d *Doc) rewrite(m string) string {
	line := ""
	if sm := lineRe.FindStringSubmatch(m); sm != nil {
		line, m = sm[1], sm[2]
	}
	m = strings.TrimPrefix(m, "yaml: ")
	m = inTypeRe.ReplaceAllString(m, "")
	if sm := unmarshalRe.FindStringSubmatch(m); sm != nil {
		if sm[2] == "" {
			m = fmt.Sprintf("cannot use %s as %s", kindName(sm[1]), goTypeName(sm[3]))
		} else {
			m = fmt.Sprintf("cannot use %s %q as %s", kindName(sm[1]), sm[2], goTypeName(sm[3]))
		}
	}
	if line == "" {
		return d.File + ": " + m
	}
	return d.File + ":" + line + ": " + m
}

func kindName(tag string) string {
	switch tag {
	case "str":
		return "text"
	case "int", "float":
		return "number"
	case "bool":
		return "boolean"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return tag
}

func goTypeName(t string) string {
	t = strings.TrimPrefix(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "int" || strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "text"
	}
	return "a " + t[strings.LastIndexByte(t, '.')+1:]
}

// Node returns the node at path, or the deepest node on the way to it.
func (d *Doc) Node(path []string) *yaml.Node {
	n := d.Root
	if n == nil {
		return nil
	}
	for _, seg := range path {
		next := child(n, seg)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func child(n *yaml.Node, seg string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				v := n.Content[i+1]
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					return n.Content[i] // point at the key of an empty value
				}
				return v
			}
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// Has reports whether the document has a value at exactly this path.
func (d *Doc) Has(path []string) bool {
	n := d.Root
	for _, seg := range path {
		if n == nil {
			return false
		}
		n = child(n, seg)
	}
	return n != nil
}

// Line is the line of the node at path (or of its deepest existing parent).
func (d *Doc) Line(path []string) int {
	if n := d.Node(path); n != nil {
		return n.Line
	}
	return 0
}

// Errorf formats "file:line: message" for the node at path.
func (d *Doc) Errorf(path []string, format string, args ...any) error {
	return d.at(d.Line(path), fmt.Sprintf(format, args...))
}

func (d *Doc) at(line int, msg string) error {
	if line <= 0 {
		return errors.New(d.File + ": " + msg)
	}
	return fmt.Errorf("%s:%d: %s", d.File, line, msg)
}

// Annotate turns the *PathError values in err (errors.Join trees included)
// into "file:line: path: message" errors; other errors get the file name only.
func (d *Doc) Annotate(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, d.Annotate(e))
		}
		return errors.Join(out...)
	}
	var pe *PathError
	if errors.As(err, &pe) {
		return d.at(d.Line(pe.Path), pe.Error())
	}
	return d.at(0, err.Error())
}
