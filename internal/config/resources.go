package config

import (
	"errors"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

func (p *parser) resources(f *field, factories map[string]stint.ProviderFactory, serverURL string) (map[string]*Resource, []string) {
	out := map[string]*Resource{}
	var order []string
	if f == nil {
		return out, nil
	}
	for _, e := range p.entries(f.val, "resources") {
		name := e.key.Value
		if !policy.ValidName(name) {
			p.errorf(e.key, e.path, "resource names are letters, digits, '-', '_' or '.'")
			continue
		}
		r := &Resource{Name: name}
		n := resolve(e.val)
		if isNull(n) || n.Kind != yaml.MappingNode {
			p.errorf(e.key, e.path, "must be a mapping with provider and roles")
			continue
		}
		var provider, roles *field
		for _, kv := range p.entries(n, e.path) {
			switch kv.key.Value {
			case "provider":
				provider = kv
			case "roles":
				roles = kv
			}
		}
		r.Type = p.str(provider)
		factory := factories[r.Type]
		switch {
		case r.Type == "" && !p.flagged[e.path+".provider"]:
			p.errorf(line(provider, e.key), e.path+".provider", "required")
		case factory == nil && r.Type != "":
			p.errorf(provider.val, e.path+".provider", "unknown provider %s (known: %s)", p.quote(resolve(provider.val)), strings.Join(keys(factories), ", "))
		}
		if roles == nil {
			p.errorf(e.key, e.path+".roles", "required: a mapping of role names")
		} else if rn := resolve(roles.val); isNull(rn) || rn.Kind != yaml.MappingNode || len(rn.Content) == 0 {
			p.errorf(roles.key, roles.path, "must be a non-empty mapping of role names")
		} else {
			for _, role := range p.entries(rn, roles.path) {
				if !policy.ValidName(role.key.Value) {
					p.errorf(role.key, role.path, "role names are letters, digits, '-', '_' or '.'")
					continue
				}
				if v := resolve(role.val); !isNull(v) && v.Kind != yaml.MappingNode {
					p.errorf(role.key, role.path, "must be a mapping (use {} for none)")
				}
				r.Roles = append(r.Roles, role.key.Value)
			}
		}
		r.Spec = stint.ResourceSpec{
			Name:    name,
			Decode:  decodeResource(p.file, p.secret, n, e.path),
			Roles:   r.Roles,
			DataDir: p.opts.DataDir,
			URL:     serverURL,
			Clock:   p.opts.Clock,
			Logger:  p.opts.Logger.With("resource", name, "provider", r.Type),
		}
		if factory != nil {
			p.providerErrors(factory.Validate(r.Spec), n, e)
		}
		rn, re := n, e
		r.problems = func(err error) []Problem {
			q := &parser{file: p.file, opts: p.opts, secret: p.secret, secretPath: p.secretPath, flagged: map[string]bool{}}
			q.providerErrors(err, rn, re)
			return q.probs
		}
		out[name] = r
		order = append(order, name)
	}
	return out, order
}

// providerErrors turns the error of a factory's Validate into problems:
// Decode's *Error as is, FieldErrors at the line of their field, anything
// else at the resource.
func (p *parser) providerErrors(err error, n *yaml.Node, e *field) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, sub := range j.Unwrap() {
			p.providerErrors(sub, n, e)
		}
		return
	}
	var ce *Error
	var fes stint.FieldErrors
	var fe *stint.FieldError
	switch {
	case errors.As(err, &ce):
		for _, pr := range ce.Problems {
			if !p.flagged[pr.Field] {
				p.probs = append(p.probs, pr)
				p.flagged[pr.Field] = true
			}
		}
	case errors.As(err, &fes):
		for _, fe := range fes {
			p.errorf(lookupOr(n, fe.Field, e.key), join(e.path, fe.Field), "%s", fe.Message)
		}
	case errors.As(err, &fe):
		p.errorf(lookupOr(n, fe.Field, e.key), join(e.path, fe.Field), "%s", fe.Message)
	default:
		// Validate has no side effects and describes configuration: its
		// message is meant for the user.
		msg := err.Error()
		var se *stint.Error
		if errors.As(err, &se) {
			msg = se.Message
		}
		p.errorf(e.key, e.path, "%s", msg)
	}
}

// lookupOr returns the node of path under n, or def when path is empty.
func lookupOr(n *yaml.Node, path string, def *yaml.Node) *yaml.Node {
	if path == "" {
		return def
	}
	if got := lookup(n, path); got != n {
		return got
	}
	return def
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *parser) events(f *field) (map[string]*EventSource, []string) {
	out := map[string]*EventSource{}
	var order []string
	if f == nil {
		return out, nil
	}
	for _, e := range p.entries(f.val, "events") {
		name := e.key.Value
		if !policy.ValidName(name) {
			p.errorf(e.key, e.path, "event source names are letters, digits, '-', '_' or '.'")
			continue
		}
		fs := p.fields(e.val, e.path, "type", "secret")
		src := &EventSource{Name: name, Type: p.str(fs["type"]), Secret: Secret(p.str(fs["secret"]))}
		switch src.Type {
		case EventPagerDuty, EventGitHub, EventGeneric:
		case "":
			p.errorf(line(fs["type"], e.key), e.path+".type", "required: pagerduty, github or generic")
		default:
			p.errorf(fs["type"].val, e.path+".type", "must be pagerduty, github or generic, not %s", p.quote(resolve(fs["type"].val)))
		}
		if src.Secret == "" {
			p.errorf(line(fs["secret"], e.key), e.path+".secret", "required (the webhook signing secret)")
		}
		out[name] = src
		order = append(order, name)
	}
	return out, order
}

func (p *parser) notify(f *field) []*NotifyTarget {
	var out []*NotifyTarget
	for _, it := range p.items(f) {
		fs := p.fields(it.val, it.path, "url", "format", "secret", "on")
		t := &NotifyTarget{URL: Secret(p.str(fs["url"])), Format: p.str(fs["format"]), Secret: Secret(p.str(fs["secret"]))}
		if t.URL == "" {
			p.errorf(line(fs["url"], it.val), it.path+".url", "required")
		} else if !p.validURL(string(t.URL), false) {
			p.errorf(fs["url"].val, it.path+".url", "must be an http or https URL")
		}
		switch t.Format {
		case FormatSlack, FormatJSON:
		case "":
			p.errorf(line(fs["format"], it.val), it.path+".format", "required: slack or json")
		default:
			p.errorf(fs["format"].val, it.path+".format", "must be slack or json, not %s", p.quote(resolve(fs["format"].val)))
		}
		for _, on := range p.items(fs["on"]) {
			ev := p.str(on)
			if !contains(NotifyEvents, ev) && !p.flagged[on.path] {
				p.errorf(on.val, on.path, "unknown event %s (known: %s)", p.quote(on.val), strings.Join(NotifyEvents, ", "))
			}
			t.On = append(t.On, ev)
		}
		out = append(out, t)
	}
	return out
}
