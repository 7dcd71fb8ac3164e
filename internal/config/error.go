package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/stint-io/stint"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File    string
	Line    int    // 1-based; 0 when the problem is about the whole file
	Field   string // dotted path such as "policies[1].max_ttl"; "" for the file
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is an invalid configuration: every problem found, in line order.
// Its code (stint.ErrorCode) is EINVALID. No problem message contains a
// value that came from ${env:} or ${file:}.
type Error struct {
	Problems []Problem
}

// Error lists the problems, one per line, as "file:line: field: message".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes the error EINVALID for stint.ErrorCode.
func (e *Error) Unwrap() error {
	return &stint.Error{Code: stint.EINVALID, Message: e.Error()}
}

func newError(ps []Problem) *Error {
	ps = append([]Problem(nil), ps...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return &Error{Problems: ps}
}
