package config

import (
	"errors"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

var policyFields = []string{"name", "who", "when", "access", "ttl", "max_ttl", "require", "approval", "break_glass", "window"}

// policies parses the policies, checks their references to resources and
// event sources, and compiles them. Compile's problems are mapped to lines
// through their field paths.
func (p *parser) policies(f *field, root *yaml.Node, c *Config) *policy.Engine {
	items := p.items(f)
	ps := make([]*policy.Policy, len(items))
	for i, it := range items {
		ps[i] = p.policy(it, c)
	}
	eng, err := policy.Compile(ps)
	var fes stint.FieldErrors
	if errors.As(err, &fes) {
		before := make(map[string]bool, len(p.flagged))
		for k := range p.flagged {
			before[k] = true
		}
		for _, fe := range fes {
			if flaggedPrefix(before, fe.Field) {
				continue
			}
			n := lookup(root, fe.Field)
			if p.secretPath[fe.Field] {
				p.errorf(n, fe.Field, "invalid value (from ${env:} or ${file:}, not shown)")
				continue
			}
			p.errorf(n, fe.Field, "%s", fe.Message)
		}
	} else if err != nil {
		p.errorf(root, "policies", "%s", stint.ErrorMessage(err))
	}
	return eng
}

// flaggedPrefix reports whether path or one of its parents has a problem.
func flaggedPrefix(flagged map[string]bool, path string) bool {
	for {
		if flagged[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return false
		}
		path = path[:i]
	}
}

func (p *parser) policy(it *field, c *Config) *policy.Policy {
	n := resolve(it.val)
	if isNull(n) || n.Kind != yaml.MappingNode {
		p.errorf(it.val, it.path, "must be a mapping")
		return nil
	}
	fs := p.fields(n, it.path, policyFields...)
	pol := &policy.Policy{
		Name:       p.str(fs["name"]),
		Who:        p.str(fs["who"]),
		When:       p.str(fs["when"]),
		Access:     p.strList(fs["access"]),
		TTL:        p.duration(fs["ttl"]),
		MaxTTL:     p.duration(fs["max_ttl"]),
		Require:    p.strList(fs["require"]),
		BreakGlass: p.boolean(fs["break_glass"]),
	}
	for i, it := range p.items(fs["access"]) {
		p.checkAccess(it, p.str(it), c, i)
	}
	if af := fs["approval"]; af != nil {
		afs := p.fields(af.val, af.path, "approvers", "count", "timeout")
		a := &stint.ApprovalRule{Approvers: p.strList(afs["approvers"]), Count: 1, Timeout: p.duration(afs["timeout"])}
		if v, ok := p.integer(afs["count"]); ok {
			a.Count = v
		}
		pol.Approval = a
	}
	if wf := fs["window"]; wf != nil {
		pol.Window = p.window(wf, c)
	}
	return pol
}

// checkAccess checks that an access entry names a configured resource and role.
func (p *parser) checkAccess(it *field, a string, c *Config, _ int) {
	res, role := stint.SplitAccess(a)
	if res == "" || p.flagged[it.path] {
		return // malformed: policy.Compile says so
	}
	r := c.Resources[res]
	switch {
	case p.secret[it.val]:
		if r == nil || (role != "*" && !contains(r.Roles, role)) {
			p.errorf(it.val, it.path, "no such resource or role")
		}
	case r == nil:
		p.errorf(it.val, it.path, "no resource %q", res)
	case role != "*" && !contains(r.Roles, role):
		p.errorf(it.val, it.path, "resource %s has no role %q", res, role)
	}
}

func (p *parser) window(wf *field, c *Config) *policy.WindowSpec {
	fs := p.fields(wf.val, wf.path, "schedule", "event", "provision")
	w := &policy.WindowSpec{Provision: p.strList(fs["provision"])}
	if sf := fs["schedule"]; sf != nil {
		ss := p.fields(sf.val, sf.path, "cron", "timezone", "duration", "lead", "lag")
		w.Schedule = &policy.ScheduleSpec{
			Cron:     p.str(ss["cron"]),
			Timezone: p.str(ss["timezone"]),
			Duration: p.duration(ss["duration"]),
			Lead:     p.duration(ss["lead"]),
			Lag:      p.duration(ss["lag"]),
		}
	}
	if ef := fs["event"]; ef != nil {
		es := p.fields(ef.val, ef.path, "source", "open", "close", "key", "max")
		w.Event = &policy.EventSpec{
			Source: p.str(es["source"]),
			Open:   p.str(es["open"]),
			Close:  p.str(es["close"]),
			Key:    p.str(es["key"]),
			Max:    p.duration(es["max"]),
		}
		if src := w.Event.Source; src != "" && c.Events[src] == nil {
			p.errorf(es["source"].val, ef.path+".source", "no event source %s in events", p.quote(resolve(es["source"].val)))
		}
	}
	return w
}
