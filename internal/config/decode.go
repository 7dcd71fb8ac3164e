package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stint-io/stint"
)

const maxDepth = 100

var (
	durationType      = reflect.TypeOf(time.Duration(0))
	stintDurationType = reflect.TypeOf(stint.Duration(0))
	unmarshalerType   = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textType          = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// decodeResource returns the Decode function of a resource's spec: it
// decodes the resource's mapping into v strictly (unknown fields are
// errors; the "provider" key is skipped when v has no field for it) and
// returns a *Error whose problems name file, line and field. Durations take
// days ("7d").
func decodeResource(file string, secret map[*yaml.Node]bool, n *yaml.Node, path string) func(v any) error {
	return func(v any) error {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return stint.Errorf(stint.EINTERNAL, "config: Decode needs a non-nil pointer, not %T", v)
		}
		p := &parser{file: file, secret: secret, flagged: map[string]bool{}}
		p.decode(n, path, rv.Elem(), true)
		if len(p.probs) > 0 {
			return newError(p.probs)
		}
		return nil
	}
}

func (p *parser) decode(n *yaml.Node, path string, v reflect.Value, top bool) {
	// Aliases can make the tree cyclic; recursive types would follow them forever.
	if p.depth++; p.depth > maxDepth {
		p.depth--
		p.errorf(n, path, "nested too deeply")
		return
	}
	defer func() { p.depth-- }()
	n = resolve(n)
	if isNull(n) {
		return
	}
	if v.CanAddr() {
		switch pv := v.Addr(); {
		case pv.Type().Implements(unmarshalerType):
			if err := pv.Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				p.errorf(n, path, "%s", p.redact(n, err))
			}
			return
		case n.Kind == yaml.ScalarNode && pv.Type().Implements(textType):
			if err := pv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				p.errorf(n, path, "%s", p.redact(n, err))
			}
			return
		}
	}
	if v.Type() == durationType || v.Type() == stintDurationType {
		if n.Kind != yaml.ScalarNode {
			p.errorf(n, path, "must be a duration")
			return
		}
		d, err := stint.ParseDuration(n.Value)
		if err != nil {
			p.errorf(n, path, "%s", p.redact(n, err))
			return
		}
		v.SetInt(int64(d))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		p.decode(n, path, v.Elem(), top)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			p.errorf(n, path, "cannot decode into %s", v.Type())
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			p.errorf(n, path, "invalid value")
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	case reflect.Struct:
		p.decodeStruct(n, path, v, top)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.errorf(n, path, "must be a mapping")
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			p.errorf(n, path, "cannot decode into %s", v.Type())
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, f := range p.entries(n, path) {
			e := reflect.New(v.Type().Elem()).Elem()
			p.decode(f.val, f.path, e, false)
			v.SetMapIndex(reflect.ValueOf(f.key.Value).Convert(v.Type().Key()), e)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.errorf(n, path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			p.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i), false)
		}
		v.Set(s)
	default:
		p.decodeScalar(n, path, v)
	}
}

func (p *parser) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "must be a single value")
		return
	}
	s := n.Value
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			p.errorf(n, path, "must be true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			p.errorf(n, path, "must be an integer")
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			p.errorf(n, path, "must be a non-negative integer")
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			p.errorf(n, path, "must be a number")
			return
		}
		v.SetFloat(f)
	default:
		p.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

func (p *parser) decodeStruct(n *yaml.Node, path string, v reflect.Value, top bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping")
		return
	}
	fields := map[string][]int{}
	structFields(v.Type(), nil, fields)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, path, "keys must be strings")
		case seen[k.Value]:
			p.errorf(k, fp, "defined more than once")
		case !ok && top && k.Value == "provider":
			// the resource's provider type, read by config itself
		case !ok:
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			sort.Strings(names)
			p.errorf(k, fp, "unknown field (known: %s)", strings.Join(names, ", "))
		default:
			seen[k.Value] = true
			p.decode(val, fp, fieldByIndex(v, idx), false)
		}
	}
}

// structFields maps yaml keys to field indexes, following ",inline" fields
// as yaml.v3 does.
func structFields(t reflect.Type, prefix []int, out map[string][]int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		ft := f.Type
		if strings.Contains(opts, "inline") {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, idx, out)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = idx
	}
}

func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	for _, i := range idx {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v
}

// redact returns err's text unless n holds a secret value, which a parse
// error might echo.
func (p *parser) redact(n *yaml.Node, err error) string {
	if p.secret[n] {
		return "invalid value (from ${env:} or ${file:}, not shown)"
	}
	return err.Error()
}
