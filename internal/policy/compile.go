package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/robfig/cron/v3"
	"github.com/stint-io/stint"

	_ "time/tzdata" // time zones of schedules load on hosts without zoneinfo
)

// Engine is a compiled set of policies. It is immutable and safe for
// concurrent use.
type Engine struct {
	policies []*Policy
	byName   map[string]*Policy
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Compile validates policies and compiles their CEL expressions once. The
// policies are kept (not copied) and must not be changed afterwards.
//
// On failure it returns stint.FieldErrors listing every problem, each with a
// Field path such as "policies[1].who" or "policies[0].window.schedule.cron"
// (the index is the position in policies), so that internal/config can turn
// it into file:line. The error code of the whole is EINVALID.
func Compile(policies []*Policy) (*Engine, error) {
	e, err := newEnvs()
	if err != nil {
		return nil, stint.Errorf(stint.EINTERNAL, "cel: %v", err)
	}
	eng := &Engine{byName: make(map[string]*Policy, len(policies))}
	var errs stint.FieldErrors
	for i, p := range policies {
		at := fmt.Sprintf("policies[%d]", i)
		if p == nil {
			errs.Add(at, "empty policy")
			continue
		}
		compilePolicy(e, at, p, &errs)
		if p.Name != "" {
			if _, dup := eng.byName[p.Name]; dup {
				errs.Add(at+".name", "duplicate policy name %q", p.Name)
			}
			eng.byName[p.Name] = p
		}
		eng.policies = append(eng.policies, p)
	}
	if len(errs) > 0 {
		return nil, &compileError{errs}
	}
	return eng, nil
}

// compileError is the FieldErrors of Compile with the EINVALID code.
type compileError struct{ stint.FieldErrors }

func (c *compileError) Unwrap() []error {
	return []error{c.FieldErrors, stint.Errorf(stint.EINVALID, "invalid policies")}
}

func compilePolicy(e *envs, at string, p *Policy, errs *stint.FieldErrors) {
	if p.Name == "" {
		errs.Add(at+".name", "required")
	} else if !ValidName(p.Name) {
		errs.Add(at+".name", "must be letters, digits, '-', '_' or '.'")
	}
	in := func(field string) string { return at + "." + field }
	if strings.TrimSpace(p.Who) == "" {
		errs.Add(in("who"), "required")
	} else if prg, err := compileExpr(e.who, p.Who, cel.BoolType); err != nil {
		errs.Add(in("who"), "policy %q: %v", p.Name, err)
	} else {
		p.who = prg
	}
	if strings.TrimSpace(p.When) != "" {
		if prg, err := compileExpr(e.when, p.When, cel.BoolType); err != nil {
			errs.Add(in("when"), "policy %q: %v", p.Name, err)
		} else {
			p.when = prg
		}
	}
	if len(p.Access) == 0 {
		errs.Add(in("access"), "required")
	}
	for j, a := range p.Access {
		if !validAccess(a, true) {
			errs.Add(fmt.Sprintf("%s[%d]", in("access"), j), "must be RESOURCE/ROLE or RESOURCE/*")
		}
	}
	switch {
	case p.TTL == 0:
		errs.Add(in("ttl"), "required")
	case p.TTL < MinTTL || p.TTL > MaxTTL:
		errs.Add(in("ttl"), "must be between 1s and 365d")
	}
	if p.MaxTTL != 0 {
		if p.MaxTTL > MaxTTL {
			errs.Add(in("max_ttl"), "must be at most 365d")
		} else if p.MaxTTL < p.TTL {
			errs.Add(in("max_ttl"), "must not be less than ttl")
		}
	}
	seen := map[string]bool{}
	for j, r := range p.Require {
		f := fmt.Sprintf("%s[%d]", in("require"), j)
		switch {
		case r != RequireReason && r != RequireTicket:
			errs.Add(f, "must be reason or ticket")
		case seen[r]:
			errs.Add(f, "duplicate %q", r)
		}
		seen[r] = true
	}
	if a := p.Approval; a != nil {
		if p.BreakGlass {
			errs.Add(in("approval"), "a break_glass policy takes no approval")
		}
		validateApproval(in("approval"), a, errs)
	}
	if w := p.Window; w != nil {
		compileWindow(e, in("window"), p, errs)
	}
}

func validateApproval(at string, a *stint.ApprovalRule, errs *stint.FieldErrors) {
	if len(a.Approvers) == 0 {
		errs.Add(at+".approvers", "required")
	}
	allSubjects := true
	seen := map[string]bool{}
	for j, ap := range a.Approvers {
		f := fmt.Sprintf("%s.approvers[%d]", at, j)
		if !ValidPrincipalRef(ap) {
			errs.Add(f, "must be group:NAME or a subject")
		} else if seen[ap] {
			errs.Add(f, "duplicate approver %q", ap)
		}
		seen[ap] = true
		if strings.HasPrefix(ap, "group:") {
			allSubjects = false
		}
	}
	switch {
	case a.Count < 1:
		errs.Add(at+".count", "must be at least 1")
	case allSubjects && len(a.Approvers) > 0 && a.Count > len(a.Approvers):
		errs.Add(at+".count", "must not exceed the number of approvers (%d)", len(a.Approvers))
	}
	if a.Timeout < 0 {
		errs.Add(at+".timeout", "must not be negative")
	}
}

func compileWindow(e *envs, at string, p *Policy, errs *stint.FieldErrors) {
	w := p.Window
	switch {
	case w.Schedule == nil && w.Event == nil:
		errs.Add(at, "needs schedule or event")
	case w.Schedule != nil && w.Event != nil:
		errs.Add(at, "takes schedule or event, not both")
	}
	if s := w.Schedule; s != nil {
		sat := at + ".schedule"
		if strings.TrimSpace(s.Cron) == "" {
			errs.Add(sat+".cron", "required")
		} else if strings.HasPrefix(s.Cron, "TZ=") || strings.HasPrefix(s.Cron, "CRON_TZ=") {
			errs.Add(sat+".cron", "set the time zone with timezone, not in cron")
		} else if sch, err := cronParser.Parse(s.Cron); err != nil {
			errs.Add(sat+".cron", "%v", err)
		} else {
			s.schedule = sch
		}
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		if loc, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			errs.Add(sat+".timezone", "unknown time zone %q", s.Timezone)
		} else {
			s.location = loc
		}
		if s.Duration <= 0 {
			errs.Add(sat+".duration", "required")
		}
		if s.Lead < 0 {
			errs.Add(sat+".lead", "must not be negative")
		}
		if s.Lag < 0 {
			errs.Add(sat+".lag", "must not be negative")
		}
	}
	if ev := w.Event; ev != nil {
		eat := at + ".event"
		if ev.Source == "" {
			errs.Add(eat+".source", "required")
		}
		if strings.TrimSpace(ev.Open) == "" {
			errs.Add(eat+".open", "required")
		} else if prg, err := compileExpr(e.event, ev.Open, cel.BoolType); err != nil {
			errs.Add(eat+".open", "policy %q: %v", p.Name, err)
		} else {
			ev.open = prg
		}
		if strings.TrimSpace(ev.Close) != "" {
			if prg, err := compileExpr(e.event, ev.Close, cel.BoolType); err != nil {
				errs.Add(eat+".close", "policy %q: %v", p.Name, err)
			} else {
				ev.close = prg
			}
		}
		if strings.TrimSpace(ev.Key) != "" {
			if prg, err := compileExpr(e.event, ev.Key, cel.StringType); err != nil {
				errs.Add(eat+".key", "policy %q: %v", p.Name, err)
			} else {
				ev.key = prg
			}
		}
		if ev.Max <= 0 {
			errs.Add(eat+".max", "required")
		} else if ev.Max > MaxTTL {
			errs.Add(eat+".max", "must be at most 365d")
		}
	}
	for j, a := range w.Provision {
		f := fmt.Sprintf("%s.provision[%d]", at, j)
		if !validAccess(a, false) {
			errs.Add(f, "must be RESOURCE/ROLE")
		} else if !contains(p.Access, a) {
			errs.Add(f, "%s is not in the policy's access", a)
		}
	}
}

// Policies returns the policies in file order. Callers must not modify them.
func (e *Engine) Policies() []*Policy { return e.policies }

// Policy returns the policy named name, or nil.
func (e *Engine) Policy(name string) *Policy { return e.byName[name] }

// MatchEvent evaluates the event window of policy name against ev. A policy
// without an event window, or whose source is not ev.Source, matches
// nothing. A CEL runtime error (a missing field) is returned with a zero
// match: it neither opens nor closes. Returns ENOTFOUND for an unknown policy.
func (e *Engine) MatchEvent(name string, ev Event) (EventMatch, error) {
	p := e.byName[name]
	if p == nil {
		return EventMatch{}, stint.Errorf(stint.ENOTFOUND, "no policy %q", name)
	}
	if p.Window == nil || p.Window.Event == nil || p.Window.Event.Source != ev.Source {
		return EventMatch{}, nil
	}
	spec := p.Window.Event
	vars := map[string]any{"event": eventValue(ev)}
	var m EventMatch
	var errs []error
	// Open and close are evaluated independently and fail closed: an
	// expression that fails on an event neither opens a window nor keeps a
	// close from happening (a resolve lacking a field the open condition
	// reads must still close).
	open, err := evalBool(spec.open, vars)
	if err != nil {
		errs = append(errs, fmt.Errorf("policy %s: window.event.open: %w", name, err))
	}
	if spec.close != nil {
		if m.Close, err = evalBool(spec.close, vars); err != nil {
			errs = append(errs, fmt.Errorf("policy %s: window.event.close: %w", name, err))
		}
	}
	m.Open = open && !m.Close
	m.Key = ev.Key
	if spec.key != nil && (m.Open || m.Close) {
		if m.Key, err = evalString(spec.key, vars); err != nil {
			errs = append(errs, fmt.Errorf("policy %s: window.event.key: %w", name, err))
			// A close whose key cannot be told closes every window of the
			// policy; an open without a key opens nothing.
			m.Open, m.CloseAll, m.Key = false, m.Close, ""
		}
	}
	return m, errors.Join(errs...)
}

// ValidName reports whether s is a valid policy, resource, role or event
// source name: letters, digits, '-', '_' and '.', not starting with '.' or '-'.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// ValidPrincipalRef reports whether s is "group:NAME" or a subject.
func ValidPrincipalRef(s string) bool {
	if g, ok := strings.CutPrefix(s, "group:"); ok {
		return strings.TrimSpace(g) != ""
	}
	return strings.TrimSpace(s) != "" && strings.TrimSpace(s) == s
}

func validAccess(a string, wildcard bool) bool {
	res, role := stint.SplitAccess(a)
	if res == "" || !ValidName(res) {
		return false
	}
	return (wildcard && role == "*") || ValidName(role)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
