package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stint-io/stint"
)

// parser collects the problems of one file while walking its YAML tree.
type parser struct {
	file   string
	opts   Options
	secret map[*yaml.Node]bool // scalars whose value came from ${env:} or ${file:}
	// secretPath holds the field paths of those scalars.
	secretPath map[string]bool
	probs      []Problem
	flagged    map[string]bool // fields with a problem, to drop follow-on errors
	depth      int             // of decode's recursion
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	if p.flagged[field] {
		return // one problem per field: the first is the cause
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
	p.flagged[field] = true
}

// quote returns n's value quoted for a message, or a placeholder when the
// value is secret.
func (p *parser) quote(n *yaml.Node) string {
	if p.secret[n] {
		return "(secret value, not shown)"
	}
	return strconv.Quote(n.Value)
}

// field is one key of a mapping and its value.
type field struct {
	key, val *yaml.Node
	path     string
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields checks that n is a mapping with only the given keys, each at most
// once, and returns the keys present. A null n is an empty mapping.
func (p *parser) fields(n *yaml.Node, path string, names ...string) map[string]*field {
	out := map[string]*field{}
	n = resolve(n)
	if isNull(n) {
		return out
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, path, "keys must be strings")
		case k.Value == "<<":
			p.errorf(k, path, "merge keys (<<) are not supported")
		case !contains(names, k.Value):
			p.errorf(k, fp, "unknown field (known: %s)", strings.Join(names, ", "))
		case out[k.Value] != nil:
			p.errorf(k, fp, "defined more than once")
		default:
			out[k.Value] = &field{key: k, val: v, path: fp}
		}
	}
	return out
}

// entries returns the key/value pairs of a mapping whose keys are names
// chosen by the user (resources, events, roles).
func (p *parser) entries(n *yaml.Node, path string) []*field {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping")
		return nil
	}
	var out []*field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, path, "keys must be strings")
		case k.Value == "<<":
			p.errorf(k, path, "merge keys (<<) are not supported")
		case seen[k.Value]:
			p.errorf(k, fp, "defined more than once")
		default:
			seen[k.Value] = true
			out = append(out, &field{key: k, val: v, path: fp})
		}
	}
	return out
}

// items returns the elements of a sequence.
func (p *parser) items(f *field) []*field {
	if f == nil || isNull(f.val) {
		return nil
	}
	n := resolve(f.val)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, f.path, "must be a list")
		return nil
	}
	out := make([]*field, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		out[i] = &field{key: c, val: c, path: fmt.Sprintf("%s[%d]", f.path, i)}
	}
	return out
}

// line returns the line of a field: its key, or its parent's when absent.
func line(f *field, parent *yaml.Node) *yaml.Node {
	if f != nil {
		return f.key
	}
	return parent
}

func (p *parser) str(f *field) string {
	if f == nil || isNull(f.val) {
		return ""
	}
	n := resolve(f.val)
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, f.path, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) strList(f *field) []string {
	var out []string
	for _, it := range p.items(f) {
		if s := p.str(it); s != "" {
			out = append(out, s)
		} else if !p.flagged[it.path] {
			p.errorf(it.val, it.path, "must not be empty")
		}
	}
	return out
}

func (p *parser) boolean(f *field) bool {
	s := p.str(f)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil || (s != "true" && s != "false") {
		p.errorf(f.val, f.path, "must be true or false")
	}
	return b
}

func (p *parser) integer(f *field) (int, bool) {
	s := p.str(f)
	if s == "" {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		p.errorf(f.val, f.path, "must be an integer")
	}
	return v, true
}

func (p *parser) duration(f *field) time.Duration {
	s := p.str(f)
	if s == "" {
		return 0
	}
	d, err := stint.ParseDuration(s)
	if err != nil {
		if p.secret[resolve(f.val)] {
			p.errorf(f.val, f.path, "invalid duration")
		} else {
			p.errorf(f.val, f.path, "%v", err)
		}
	}
	return d
}

var refRE = regexp.MustCompile(`\$\{(env|file):([^}]*)\}`)

// expand replaces ${env:NAME} and ${file:PATH} in every scalar value of the
// tree, marking the scalars it changed as secret. Keys are left alone.
func (p *parser) expand(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.expand(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.expand(n.Content[i+1], join(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expand(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		failed := false
		out := refRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			sub := refRE.FindStringSubmatch(m)
			kind, name := sub[1], strings.TrimSpace(sub[2])
			if name == "" {
				p.errorf(n, path, "${%s:} needs a name", kind)
				failed = true
				return ""
			}
			if kind == "env" {
				v, ok := p.opts.Env(name)
				if !ok {
					p.errorf(n, path, "environment variable %s is not set", name)
					failed = true
				}
				return v
			}
			b, err := p.opts.ReadFile(name)
			if err != nil {
				p.errorf(n, path, "cannot read %s: %v", name, errMessage(err))
				failed = true
				return ""
			}
			return strings.TrimRight(string(b), "\r\n")
		})
		if out != n.Value || failed {
			n.Value = out
			n.Tag = "!!str"
			n.Style = 0
			p.secret[n] = true
			p.secretPath[path] = true
		}
	}
}

// errMessage strips an *os.PathError down to its cause (the path is already
// in the message).
func errMessage(err error) string {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap().Error()
	}
	return err.Error()
}

var segRE = regexp.MustCompile(`^([^\[\]]*)((?:\[\d+\])*)$`)

// lookup finds the node named by a dotted path ("roles.readonly.grant",
// "policies[1].who", "grant.0") under n, and returns the deepest node found:
// a key node for mapping entries, an element for sequences.
func lookup(n *yaml.Node, path string) *yaml.Node {
	cur, at := resolve(n), n
	if path == "" {
		return at
	}
	for _, part := range strings.Split(path, ".") {
		m := segRE.FindStringSubmatch(part)
		if m == nil {
			return at
		}
		var idx []int
		for _, s := range strings.Split(strings.Trim(m[2], "[]"), "][") {
			if i, err := strconv.Atoi(s); err == nil {
				idx = append(idx, i)
			}
		}
		if m[1] != "" {
			if cur == nil {
				return at
			}
			switch cur.Kind {
			case yaml.MappingNode:
				found := false
				for i := 0; i+1 < len(cur.Content); i += 2 {
					if cur.Content[i].Value == m[1] {
						at, cur, found = cur.Content[i], resolve(cur.Content[i+1]), true
						break
					}
				}
				if !found {
					return at
				}
			case yaml.SequenceNode:
				i, err := strconv.Atoi(m[1])
				if err != nil {
					return at
				}
				idx = append([]int{i}, idx...)
			default:
				return at
			}
		}
		for _, i := range idx {
			if cur == nil || cur.Kind != yaml.SequenceNode || i < 0 || i >= len(cur.Content) {
				return at
			}
			cur = resolve(cur.Content[i])
			at = cur
		}
	}
	return at
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
