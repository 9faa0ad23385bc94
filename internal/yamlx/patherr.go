// Package yamlx decodes YAML strictly and reports every problem as
// "file:line: what is wrong": unknown keys, wrong types, syntax errors, and
// validation errors raised by the decoded types themselves (which name a
// path, such as rules.territories.0.owner, that is resolved to a line here).
package yamlx

import (
	"fmt"
	"strconv"
	"strings"
)

// PathError is a validation error at a path inside a YAML document. Path
// segments are mapping keys or decimal sequence indices.
type PathError struct {
	Path []string
	Msg  string
}

func (e *PathError) Error() string {
	if len(e.Path) == 0 {
		return e.Msg
	}
	return strings.Join(e.Path, ".") + ": " + e.Msg
}

// Errorf returns a *PathError at path.
func Errorf(path []string, format string, args ...any) error {
	return &PathError{Path: append([]string(nil), path...), Msg: fmt.Sprintf(format, args...)}
}

// Path builds a path from segments: strings are keys, ints are indices.
func Path(segs ...any) []string {
	p := make([]string, 0, len(segs))
	for _, s := range segs {
		switch v := s.(type) {
		case string:
			p = append(p, v)
		case int:
			p = append(p, strconv.Itoa(v))
		case []string:
			p = append(p, v...)
		default:
			p = append(p, fmt.Sprint(v))
		}
	}
	return p
}
