package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// Decide evaluates req by principal p against every policy, given the
// windows open at now. It is pure: no I/O and no clock reads.
//
// The candidates are the policies whose access lists req.Access (exactly,
// or as "resource/*"), in file order; each gets a PolicyResult. A candidate
// denies when its who is false, a required reason or ticket is missing
// (break_glass always requires a reason), its when is false, a CEL
// expression fails at run time (fail closed), or its window is not open.
// Otherwise it allows now when it has no approval block (or is break_glass),
// and needs approval when it has one.
//
// Selection: the first candidate in file order that allows now without
// break glass; else the first break_glass candidate that allows; else the
// candidate needing the fewest approvals (the first in file order among
// equals); else deny, with every candidate's reason in Decision.Reason.
//
// TTL: the requested TTL, or the policy's ttl when none is requested, is
// clamped to the ceiling (max_ttl, or ttl when max_ttl is unset) and to the
// close of the window the grant is given under. Decision.Clamped is set, and
// Reason says why, whenever the granted TTL is less than that starting
// value. Decision.MaxTTL is the ceiling. request.ttl in when conditions is
// the starting value before clamping.
//
// A request with a TTL outside [1s, 365d], or an access that is not
// RESOURCE/ROLE, is denied with a reason saying so (callers that want
// EINVALID check first).
func (e *Engine) Decide(p *stint.Principal, req stint.AccessRequest, open []stint.WindowRef, now time.Time) stint.Decision {
	deny := func(reason string) stint.Decision {
		return stint.Decision{Outcome: stint.OutcomeDeny, Reason: reason}
	}
	if p == nil {
		return deny("no principal")
	}
	res, role := stint.SplitAccess(req.Access)
	if res == "" || role == "" || role == "*" {
		return deny(fmt.Sprintf("invalid access %q: want RESOURCE/ROLE", req.Access))
	}
	if req.TTL != 0 && (req.TTL < MinTTL || req.TTL > MaxTTL) {
		return deny(fmt.Sprintf("requested ttl %s must be between 1s and 365d", stint.FormatDuration(req.TTL)))
	}

	who := map[string]any{"principal": principalValue(p)}
	var (
		cands     []candidate
		results   []stint.PolicyResult
		anyAccess bool
	)
	for _, pol := range e.policies {
		if !pol.grants(res, role) {
			continue
		}
		anyAccess = true
		c := pol.evaluate(who, req, open, now)
		results = append(results, c.result)
		cands = append(cands, c)
	}
	if !anyAccess {
		return deny(fmt.Sprintf("no policy grants %s", req.Access))
	}

	best := -1
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i, c := range cands {
			if c.result.Outcome == stint.OutcomeAllow && c.policy.BreakGlass == (pass == 1) {
				best = i
				break
			}
		}
	}
	if best < 0 {
		for i, c := range cands {
			if c.result.Outcome == stint.OutcomeApproval && (best < 0 || c.result.Approvals < cands[best].result.Approvals) {
				best = i
			}
		}
	}
	if best < 0 {
		reasons := make([]string, len(results))
		for i, r := range results {
			reasons[i] = r.Policy + ": " + r.Reason
		}
		d := deny(fmt.Sprintf("no policy allows %s (%s)", req.Access, strings.Join(reasons, "; ")))
		d.Results = results
		return d
	}

	c := cands[best]
	d := stint.Decision{
		Outcome:    c.result.Outcome,
		Policy:     c.policy.Name,
		TTL:        c.ttl,
		MaxTTL:     c.ceiling,
		Clamped:    c.clamped,
		Window:     c.window,
		BreakGlass: c.policy.BreakGlass,
		Reason:     "policy " + c.policy.Name + ": " + c.result.Reason,
		Results:    results,
	}
	if c.result.Outcome == stint.OutcomeApproval {
		a := *c.policy.Approval
		a.Approvers = append([]string(nil), a.Approvers...)
		d.Approval = &a
	}
	return d
}

// candidate is one policy's evaluation of a request.
type candidate struct {
	policy  *Policy
	result  stint.PolicyResult
	ttl     time.Duration
	ceiling time.Duration
	clamped bool
	window  *stint.WindowRef
}

// grants reports whether the policy's access lists res/role.
func (p *Policy) grants(res, role string) bool {
	for _, a := range p.Access {
		r, ro := stint.SplitAccess(a)
		if r == res && (ro == role || ro == "*") {
			return true
		}
	}
	return false
}

func (p *Policy) evaluate(who map[string]any, req stint.AccessRequest, open []stint.WindowRef, now time.Time) candidate {
	c := candidate{policy: p, result: stint.PolicyResult{Policy: p.Name, Outcome: stint.OutcomeDeny}}
	denied := func(format string, args ...any) candidate {
		c.result.Reason = fmt.Sprintf(format, args...)
		return c
	}
	ok, err := evalBool(p.who, who)
	if err != nil {
		return denied("who failed: %v", err)
	} else if !ok {
		return denied("principal does not match who")
	}
	if (p.BreakGlass || contains(p.Require, RequireReason)) && strings.TrimSpace(req.Reason) == "" {
		return denied("reason required")
	}
	if contains(p.Require, RequireTicket) && strings.TrimSpace(req.Ticket) == "" {
		return denied("ticket required")
	}
	want := req.TTL
	if want == 0 {
		want = p.TTL
	}
	if p.when != nil {
		ok, err := evalBool(p.when, map[string]any{"principal": who["principal"], "request": requestValue(req, want, now)})
		if err != nil {
			return denied("when failed: %v", err)
		} else if !ok {
			return denied("condition not met: when %s", p.When)
		}
	}
	if p.Window != nil && !p.BreakGlass {
		for i := range open {
			w := open[i]
			if w.Policy == p.Name && !now.Before(w.Opens) && now.Before(w.Closes) &&
				(c.window == nil || w.Closes.After(c.window.Closes)) {
				c.window = &w
			}
		}
		if c.window == nil {
			return denied("no open window")
		}
	}

	c.ceiling = p.MaxTTL
	if c.ceiling == 0 {
		c.ceiling = p.TTL
	}
	c.ttl = want
	var notes []string
	if c.ttl > c.ceiling {
		c.ttl, c.clamped = c.ceiling, true
		notes = append(notes, fmt.Sprintf("ttl %s clamped to the policy's ceiling %s",
			stint.FormatDuration(want), stint.FormatDuration(c.ceiling)))
	}
	if c.window != nil {
		if left := c.window.Closes.Sub(now); c.ttl > left {
			c.ttl, c.clamped = left, true
			notes = append(notes, fmt.Sprintf("ttl clamped to %s: the window closes at %s",
				stint.FormatDuration(left.Round(time.Second)), c.window.Closes.UTC().Format(time.RFC3339)))
		}
	}

	switch {
	case p.BreakGlass:
		c.result.Outcome = stint.OutcomeAllow
		c.result.Reason = "break glass"
	case p.Approval != nil:
		c.result.Outcome = stint.OutcomeApproval
		c.result.Approvals = p.Approval.Count
		c.result.Reason = fmt.Sprintf("needs %d approval(s) from %s", p.Approval.Count, strings.Join(p.Approval.Approvers, ", "))
	default:
		c.result.Outcome = stint.OutcomeAllow
		c.result.Reason = "allowed"
	}
	if c.window != nil {
		c.result.Reason += " within the window open until " + c.window.Closes.UTC().Format(time.RFC3339)
	}
	if len(notes) > 0 {
		c.result.Reason += "; " + strings.Join(notes, "; ")
	}
	return c
}
