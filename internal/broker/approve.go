package broker

import (
	"context"
	"slices"
	"time"

	"github.com/stint-io/stint"
)

// mayDecide reports why p may not decide g, or "" if it may: approvers are
// humans named by the grant's approvers, never the requester.
func mayDecide(p *stint.Principal, g *stint.Grant) string {
	switch {
	case p.Kind != stint.KindHuman:
		return "a workload can never approve or reject a request"
	case p.Name == g.Principal:
		return "the requester can never decide its own request"
	case !slices.ContainsFunc(g.Approvers, p.Matches):
		return "you are not among the approvers of this request"
	}
	return ""
}

// approvedBy counts the distinct approvers of g.
func approvedBy(g *stint.Grant) int {
	seen := map[string]bool{}
	for _, a := range g.Approvals {
		if a.Decision == "approved" {
			seen[a.By] = true
		}
	}
	return len(seen)
}

// ApproveGrant records the caller's approval of a pending request. Once the
// request has all the approvals it needs, the requester collects the
// credential (ActivateGrant), and the TTL counts from then; the answer to
// the approver never carries the credential. On an ended break-glass grant
// it records an admin's after-the-fact review instead. Returns ENOTFOUND,
// EDENIED (the caller may not decide: a workload, the requester, not an
// approver), ECONFLICT (not pending).
func (s *Service) ApproveGrant(ctx context.Context, id, comment string) (*stint.GrantResult, error) {
	p, g, err := s.load(ctx, id, "comment", comment)
	if err != nil {
		return nil, err
	}
	if g.BreakGlass && g.State.Terminal() {
		return s.review(ctx, p, g, comment)
	}
	if g.State != stint.StatePending {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s is %s; only a pending request can be approved (or an ended break-glass grant reviewed)", g.ID, g.State)
	}
	if why := mayDecide(p, g); why != "" {
		return nil, s.refuse(ctx, p, g, "approve", why)
	}
	for _, a := range g.Approvals {
		if a.By == p.Name && a.Decision == "approved" {
			return &stint.GrantResult{Grant: g, Notes: []string{"you had already approved this request; it counts once"}}, nil
		}
	}
	now := s.now()
	g.Approvals = append(g.Approvals, stint.Approval{By: p.Name, Decision: "approved", At: now, Comment: comment})
	rec := record(now, stint.AuditGrantApproved, p.Name, g, comment, map[string]any{
		"approvals": approvedBy(g), "required": g.ApprovalsRequired,
	})
	if approvedBy(g) < g.ApprovalsRequired {
		if err := s.update(ctx, g, rec); err != nil {
			return nil, s.conflict(ctx, id, err)
		}
		return &stint.GrantResult{Grant: g}, nil
	}
	if s.Metrics != nil {
		s.Metrics.approvalLatency.Observe(now.Sub(g.RequestedAt).Seconds())
	}
	// Fully approved: the requester collects the credential (ActivateGrant),
	// so that it reaches the requester only, once, and the TTL counts from
	// then. Until collected the request stays pending.
	g.Detail = "approved; waiting for the requester to collect the credential"
	if err := s.update(ctx, g, rec); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	return &stint.GrantResult{Grant: g, Notes: []string{"approved; the requester collects the credential"}}, nil
}

// Approved reports whether a pending grant has all the approvals it needs.
func Approved(g *stint.Grant) bool {
	return g.State == stint.StatePending && approvedBy(g) >= g.ApprovalsRequired
}

// ActivateGrant issues the credential of the caller's fully approved request
// and returns it; this is the only time it is returned. Returns ENOTFOUND,
// EDENIED (not the requester), ECONFLICT (not pending, or approvals missing).
func (s *Service) ActivateGrant(ctx context.Context, id string) (*stint.GrantResult, error) {
	p, g, err := s.load(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	if !owns(p, g) {
		return nil, s.refuse(ctx, p, g, "activate", "only the requester may collect the credential")
	}
	if !Approved(g) {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s is %s with %d of %d approvals; nothing to collect", g.ID, g.State, approvedBy(g), g.ApprovalsRequired)
	}
	now := s.now()
	if g.ApprovalDeadline != nil && !now.Before(*g.ApprovalDeadline) {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s was not collected before its approval deadline %s; request again", g.ID, g.ApprovalDeadline.Format(time.RFC3339))
	}
	if g.Window != nil && !s.windowOpen(ctx, *g.Window, now) {
		return nil, stint.Errorf(stint.ECONFLICT, "the window grant %s was approved under (%s) has closed; request again in the next window", g.ID, g.Window.Policy)
	}
	g.State = stint.StateIssuing
	g.DueAt = stint.TimePtr(now.Add(s.IssuingGrace))
	if err := s.update(ctx, g, nil); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	cred, err := s.activate(ctx, g)
	if err != nil {
		return &stint.GrantResult{Grant: g}, err
	}
	return &stint.GrantResult{Grant: g, Credential: cred}, nil
}

// RejectGrant records the caller's rejection, which ends the request at once.
// Returns ENOTFOUND, EDENIED, ECONFLICT as ApproveGrant, and EINVALID when
// the reason is missing.
func (s *Service) RejectGrant(ctx context.Context, id, reason string) (*stint.Grant, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, stint.Errorf(stint.EINVALID, "reason: required when rejecting")
	}
	if len(reason) > maxTextField {
		return nil, stint.Errorf(stint.EINVALID, "reason: longer than %d bytes", maxTextField)
	}
	if err := checkText("reason", reason); err != nil {
		return nil, err
	}
	g, err := s.get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if g.State != stint.StatePending {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s is %s; only a pending request can be rejected", g.ID, g.State)
	}
	if why := mayDecide(p, g); why != "" {
		return nil, s.refuse(ctx, p, g, "reject", why)
	}
	now := s.now()
	g.Approvals = append(g.Approvals, stint.Approval{By: p.Name, Decision: "rejected", At: now, Comment: reason})
	g.State, g.EndedAt, g.DueAt = stint.StateRejected, stint.TimePtr(now), nil
	if err := s.update(ctx, g, record(now, stint.AuditGrantRejected, p.Name, g, reason, nil)); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	return g, nil
}

// approvedByName reports whether name has approved g.
func approvedByName(g *stint.Grant, name string) bool {
	for _, a := range g.Approvals {
		if a.By == name && a.Decision == "approved" {
			return true
		}
	}
	return false
}

// reviewed reports whether a break-glass grant has had its review.
func reviewed(g *stint.Grant) bool {
	for _, a := range g.Approvals {
		if a.Decision == "reviewed" {
			return true
		}
	}
	return false
}

// review records an admin's after-the-fact review of an ended break-glass
// grant (stint approve on such a grant).
func (s *Service) review(ctx context.Context, p *stint.Principal, g *stint.Grant, comment string) (*stint.GrantResult, error) {
	switch {
	case !p.Admin:
		return nil, s.refuse(ctx, p, g, "review", "only an admin may review a break-glass grant")
	case p.Name == g.Principal:
		return nil, s.refuse(ctx, p, g, "review", "the requester can never review its own break-glass grant")
	case reviewed(g):
		return &stint.GrantResult{Grant: g, Notes: []string{"this break-glass grant was already reviewed"}}, nil
	}
	now := s.now()
	g.Approvals = append(g.Approvals, stint.Approval{By: p.Name, Decision: "reviewed", At: now, Comment: comment})
	if err := s.update(ctx, g, record(now, stint.AuditGrantReviewed, p.Name, g, comment, nil)); err != nil {
		return nil, s.conflict(ctx, g.ID, err)
	}
	return &stint.GrantResult{Grant: g, Notes: []string{"break-glass review recorded"}}, nil
}
