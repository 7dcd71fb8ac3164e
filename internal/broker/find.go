package broker

import (
	"context"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

// FindGrant returns a grant the caller may see: workloads see their own
// grants, humans see all. Returns ENOTFOUND otherwise.
func (s *Service) FindGrant(ctx context.Context, id string) (*stint.Grant, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, p, id)
}

// FindGrants lists grants newest first; a workload only ever sees its own.
func (s *Service) FindGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, st := range f.State {
		if !st.Valid() {
			return nil, "", stint.Errorf(stint.EINVALID, "state: unknown state %q", clip(string(st)))
		}
	}
	if p.Kind != stint.KindHuman && !p.Admin {
		if f.Principal != "" && f.Principal != p.Name {
			return nil, "", nil
		}
		f.Principal = p.Name
	}
	var keep func(*stint.Grant) bool
	switch {
	case f.Decidable:
		f.State = []stint.State{stint.StatePending}
		keep = func(g *stint.Grant) bool { return mayDecide(p, g) == "" && !Approved(g) && !approvedByName(g, p.Name) }
	case f.Review:
		f.BreakGlass = true
		keep = func(g *stint.Grant) bool { return !reviewed(g) }
	default:
		return s.Store.ListGrants(ctx, f)
	}
	return s.listFiltered(ctx, f, keep)
}

// listFiltered pages through the store until it has f.Limit grants that
// keep accepts, or no more.
func (s *Service) listFiltered(ctx context.Context, f stint.GrantFilter, keep func(*stint.Grant) bool) ([]*stint.Grant, string, error) {
	want := f.Limit
	if want <= 0 {
		want = 100
	}
	var out []*stint.Grant
	for {
		gs, next, err := s.Store.ListGrants(ctx, f)
		if err != nil {
			return nil, "", err
		}
		for i, g := range gs {
			if !keep(g) {
				continue
			}
			out = append(out, g)
			if len(out) < want {
				continue
			}
			if i == len(gs)-1 {
				return out, next, nil
			}
			// Stopped inside the page: the store's cursor after g is that
			// of the same page cut after g.
			cut := f
			cut.Limit = i + 1
			_, cur, err := s.Store.ListGrants(ctx, cut)
			return out, cur, err
		}
		if next == "" {
			return out, "", nil
		}
		f.Cursor = next
	}
}

// GrantHistory returns the audit records of a grant the caller may see,
// oldest first.
func (s *Service) GrantHistory(ctx context.Context, id string) ([]*stint.AuditRecord, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, p, id); err != nil {
		return nil, err
	}
	return s.Store.ListAudit(ctx, stint.AuditFilter{GrantID: id, Limit: 10000})
}

// FindAudit returns audit records, oldest first. Humans read the whole trail;
// a workload reads only the records of its own grants (with a grant filter).
// Returns EDENIED otherwise.
func (s *Service) FindAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Kind != stint.KindHuman && !p.Admin {
		if f.GrantID == "" {
			return nil, stint.Errorf(stint.EDENIED, "workloads may read the audit records of their own grants only (use --grant ID)")
		}
		if _, err := s.get(ctx, p, f.GrantID); err != nil {
			return nil, err
		}
	}
	return s.Store.ListAudit(ctx, f)
}

// VerifyAudit recomputes the audit chain. Humans only; EDENIED otherwise.
func (s *Service) VerifyAudit(ctx context.Context) (*stint.AuditVerifyResult, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Kind != stint.KindHuman && !p.Admin {
		return nil, stint.Errorf(stint.EDENIED, "only humans may verify the audit trail")
	}
	return audit.Verify(ctx, s.Store)
}

// Explain says which policies match a principal and an access and why each
// allows, needs approval or denies, at req.At (default now). Humans may ask
// about anyone; a workload only about itself. The principal is looked up
// among the configured identities; an unknown name is explained as a
// workload without groups.
func (s *Service) Explain(ctx context.Context, req stint.ExplainRequest) (*stint.Decision, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rt := s.runtime.Load()
	if rt == nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "broker not configured")
	}
	if req.Principal == "" {
		req.Principal = p.Name
	}
	if p.Kind != stint.KindHuman && !p.Admin && req.Principal != p.Name {
		return nil, stint.Errorf(stint.EDENIED, "workloads may explain their own access only")
	}
	ar := stint.AccessRequest{Access: req.Access, TTL: timeDuration(req.TTL), Reason: req.Reason, Ticket: req.Ticket}
	if err := validateRequest(&ar); err != nil {
		return nil, err
	}
	if _, err := rt.resolve(req.Access); err != nil {
		return nil, err
	}
	subject := ExplainPrincipal(rt, req.Principal)
	at := req.At
	if at.IsZero() {
		at = s.now()
	}
	d := rt.Policy.Decide(subject, ar, s.openWindows(ctx, rt, at.UTC()), at.UTC())
	return &d, nil
}

// ExplainPrincipal returns the configured principal named name, or a bare
// workload principal of that name.
func ExplainPrincipal(rt *Runtime, name string) *stint.Principal {
	if rt.LookupPrincipal != nil {
		if p := rt.LookupPrincipal(name); p != nil {
			return p
		}
	}
	return &stint.Principal{Name: name, Kind: stint.KindWorkload}
}
