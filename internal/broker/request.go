package broker

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/stint-io/stint"
)

// RequestGrant decides req for the principal in ctx and, when policy allows
// it now, issues the credential. A denial is stored as a denied grant with
// its audit record and returned together with an EDENIED error. Returns
// EINVALID for malformed input or an unknown resource/role (audited as a
// denied access, without creating a grant), EUNAVAILABLE when the provider
// fails (the grant is then `failed`).
func (s *Service) RequestGrant(ctx context.Context, req stint.GrantRequest) (*stint.GrantResult, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rt := s.runtime.Load()
	if rt == nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "broker not configured")
	}
	now := s.now()
	if err := validateRequest(&req.AccessRequest); err != nil {
		return nil, err
	}
	res, err := rt.resolve(req.Access)
	if err != nil {
		s.auditRefused(ctx, now, p, req.Access, stint.ErrorMessage(err))
		return nil, err
	}

	d := rt.Policy.Decide(p, req.AccessRequest, s.openWindows(ctx, rt, now), now)
	g := &stint.Grant{
		ID:            stint.NewID(now),
		Principal:     p.Name,
		PrincipalKind: p.Kind,
		Access:        req.Access,
		Policy:        d.Policy,
		Reason:        req.Reason,
		Ticket:        req.Ticket,
		RequestedTTL:  stint.Duration(req.TTL),
		TTL:           stint.Duration(d.TTL),
		MaxTTL:        stint.Duration(d.MaxTTL),
		RequestedAt:   now,
		Window:        d.Window,
		BreakGlass:    d.BreakGlass,
		Approvals:     []stint.Approval{},
		Provider:      res.Type,
		Revocation:    revocationMode(res.Provider),
	}
	if req.SSHPublicKey != "" {
		// The caller's own key, for providers that certify it (ssh); public.
		g.ProviderData = map[string]string{"ssh_public_key": req.SSHPublicKey}
	}
	details := decisionDetails(d)
	s.Metrics.requested(d.Policy, d.Outcome)

	switch d.Outcome {
	case stint.OutcomeAllow:
		return s.issueNew(ctx, p, g, d, details)
	case stint.OutcomeApproval:
		return s.createPending(ctx, p, g, d, details)
	default:
		g.State = stint.StateDenied
		g.EndedAt = stint.TimePtr(now)
		g.Detail = d.Reason
		rec := record(now, stint.AuditGrantDenied, p.Name, g, req.Reason, details)
		if err := s.Store.CreateGrant(ctx, g, rec); err != nil {
			return nil, fmt.Errorf("store denied grant: %w", err)
		}
		return &stint.GrantResult{Grant: g}, stint.Errorf(stint.EDENIED, "%s", d.Reason)
	}
}

// validateRequest checks the request's shape.
func validateRequest(req *stint.AccessRequest) error {
	if req.Access == "" {
		return stint.Errorf(stint.EINVALID, "access: required, as resource/role")
	}
	if r, _ := stint.SplitAccess(req.Access); r == "" {
		return stint.Errorf(stint.EINVALID, "access: %q is not of the form resource/role", clip(req.Access))
	}
	for field, v := range map[string]string{"reason": req.Reason, "ticket": req.Ticket, "ssh_public_key": req.SSHPublicKey} {
		if err := checkText(field, v); err != nil {
			return err
		}
	}
	switch {
	case req.TTL < 0 || (req.TTL > 0 && req.TTL < time.Second):
		return stint.Errorf(stint.EINVALID, "ttl: must be at least 1s")
	case req.TTL > MaxTTL:
		return stint.Errorf(stint.EINVALID, "ttl: must be at most %s", stint.FormatDuration(MaxTTL))
	case len(req.Reason) > maxTextField:
		return stint.Errorf(stint.EINVALID, "reason: longer than %d bytes", maxTextField)
	case len(req.Ticket) > 256:
		return stint.Errorf(stint.EINVALID, "ticket: longer than 256 bytes")
	case len(req.SSHPublicKey) > 16<<10:
		return stint.Errorf(stint.EINVALID, "ssh_public_key: longer than 16 KiB")
	}
	return nil
}

// checkText refuses control characters other than tab in a caller's free
// text (reasons, tickets, comments): they end up in environments (where NUL
// cannot go), terminals, logs and chat messages. Newlines are refused too,
// so that a reason cannot pose as several lines of a record.
func checkText(field, v string) error {
	for _, r := range v {
		if (r < 0x20 && r != '\t') || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return stint.Errorf(stint.EINVALID, "%s: control characters are not allowed", field)
		}
	}
	if !utf8.ValidString(v) {
		return stint.Errorf(stint.EINVALID, "%s: not valid UTF-8", field)
	}
	return nil
}

// resolve returns the configured resource of access. Returns EINVALID if the
// resource or its role is not configured.
func (rt *Runtime) resolve(access string) (*Resource, error) {
	resource, role := stint.SplitAccess(access)
	res, ok := rt.Resources[resource]
	if !ok {
		return nil, stint.Errorf(stint.EINVALID, "access: unknown resource %q", clip(resource))
	}
	if !res.Roles[role] {
		return nil, stint.Errorf(stint.EINVALID, "access: resource %q has no role %q", resource, clip(role))
	}
	return res, nil
}

// auditRefused records a request for something that does not exist; no grant
// is created for it.
func (s *Service) auditRefused(ctx context.Context, now time.Time, p *stint.Principal, access, why string) {
	rec := &stint.AuditRecord{Time: now, Type: stint.AuditAccessDenied, Actor: p.Name, Access: clip(access), Reason: why}
	if err := s.Store.AppendAudit(ctx, rec); err != nil {
		s.Logger.Error("audit refused request", "err", err)
	}
}

// createPending stores a grant waiting for approval.
func (s *Service) createPending(ctx context.Context, p *stint.Principal, g *stint.Grant, d stint.Decision, details map[string]any) (*stint.GrantResult, error) {
	g.State = stint.StatePending
	if d.Approval != nil {
		g.ApprovalsRequired = d.Approval.Count
		g.Approvers = d.Approval.Approvers
		if d.Approval.Timeout > 0 {
			g.ApprovalDeadline = stint.TimePtr(g.RequestedAt.Add(d.Approval.Timeout))
			g.DueAt = g.ApprovalDeadline
		}
	}
	rec := record(g.RequestedAt, stint.AuditGrantRequested, p.Name, g, g.Reason, details)
	if err := s.Store.CreateGrant(ctx, g, rec); err != nil {
		return nil, fmt.Errorf("store pending grant: %w", err)
	}
	if g.DueAt != nil {
		s.Wake(*g.DueAt)
	}
	return &stint.GrantResult{Grant: g, Notes: notes(d)}, nil
}

// issueNew stores a grant allowed now in `issuing`, then issues it.
func (s *Service) issueNew(ctx context.Context, p *stint.Principal, g *stint.Grant, d stint.Decision, details map[string]any) (*stint.GrantResult, error) {
	g.State = stint.StateIssuing
	g.DueAt = stint.TimePtr(g.RequestedAt.Add(s.IssuingGrace))
	rec := record(g.RequestedAt, stint.AuditGrantRequested, p.Name, g, g.Reason, details)
	if err := s.Store.CreateGrant(ctx, g, rec); err != nil {
		return nil, fmt.Errorf("store issuing grant: %w", err)
	}
	s.Wake(*g.DueAt)
	cred, err := s.activate(ctx, g)
	if err != nil {
		return &stint.GrantResult{Grant: g}, err
	}
	return &stint.GrantResult{Grant: g, Credential: cred, Notes: notes(d)}, nil
}

// activate issues the credential of g, which is `issuing`, and moves it to
// active (or failed). The TTL counts from now.
func (s *Service) activate(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	prov, err := s.provider(g)
	if err != nil {
		return nil, s.fail(ctx, g, err)
	}
	start := s.now()
	exp := start.Add(time.Duration(g.TTL))
	if g.Window != nil && !g.Window.Closes.IsZero() && g.Window.Closes.Before(exp) {
		exp = g.Window.Closes
	}
	g.ActivatedAt = stint.TimePtr(start)
	g.ExpiresAt = stint.TimePtr(exp)

	ictx, cancel := context.WithTimeout(ctx, s.IssueTimeout)
	cred, err := prov.Issue(ictx, g)
	cancel()
	if err != nil {
		s.Logger.Warn("issue failed", "grant", g.ID, "access", g.Access, "err", err)
		// Undo whatever the provider may have half made. Until that is
		// confirmed the grant stays issuing, and the expiry engine retries
		// the undo (undoIssuing) before it is marked failed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.RevokeTimeout)
		rerr := prov.Revoke(rctx, g)
		cancel()
		if rerr != nil {
			return nil, s.undoLater(ctx, g, err, rerr)
		}
		return nil, s.fail(ctx, g, err)
	}
	if !s.stillInWindow(ctx, g) {
		// The event window closed while the provider worked: take the
		// access back rather than hand it out.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.RevokeTimeout)
		rerr := prov.Revoke(rctx, g)
		cancel()
		cause := stint.Errorf(stint.EDENIED, "the window %s closed while access was being issued", g.Window.Policy)
		if rerr != nil {
			return nil, s.undoLater(ctx, g, cause, rerr)
		}
		return nil, s.fail(ctx, g, cause)
	}
	if cred == nil {
		cred = &stint.Credential{}
	}
	cred.GrantID, cred.ExpiresAt = g.ID, exp

	g.State = stint.StateActive
	g.DueAt = stint.TimePtr(exp)
	det := map[string]any{"expires_at": exp.Format(time.RFC3339Nano), "ttl": g.TTL.String()}
	if g.BreakGlass {
		det["break_glass"] = true
	}
	if lead := s.expiringLead(); lead > 0 && exp.Sub(start) > 2*lead {
		// Wake up before the expiry to warn the requester (grant.expiring).
		g.DueAt = stint.TimePtr(exp.Add(-lead))
	}
	rec := record(s.now(), stint.AuditGrantActivated, stint.ActorStint, g, "", det)
	if err := s.update(context.WithoutCancel(ctx), g, rec); err != nil {
		// The credential exists but the grant could not be recorded as
		// active: take the credential back rather than hand it out.
		s.Logger.Error("record activation failed; revoking credential", "grant", g.ID, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.RevokeTimeout)
		if rerr := prov.Revoke(rctx, g); rerr != nil {
			s.Logger.Error("revoke after failed activation", "grant", g.ID, "err", rerr)
		}
		cancel()
		return nil, stint.Errorf(stint.EUNAVAILABLE, "could not record the grant; access was not issued")
	}
	return cred, nil
}

// undoLater keeps an issuing grant whose issue failed and whose undo failed
// too in `issuing`, with a retry of the undo scheduled, and returns the
// caller's error.
func (s *Service) undoLater(ctx context.Context, g *stint.Grant, cause, undoErr error) error {
	now := s.now()
	msg := providerMessage(cause)
	g.Attempts++
	next := now.Add(s.backoff(g.Attempts))
	g.DueAt = stint.TimePtr(next)
	g.Detail = "issue failed (" + msg + "); removing what it may have left: " + providerMessage(undoErr)
	s.Metrics.revokeFailed()
	rec := record(now, stint.AuditGrantRevokeFailed, stint.ActorStint, g, "undo of a failed issue", map[string]any{
		"error": providerMessage(undoErr), "issue_error": msg, "attempt": g.Attempts, "next_attempt": next.Format(time.RFC3339),
	})
	if err := s.update(context.WithoutCancel(ctx), g, rec); err != nil {
		s.Logger.Error("record failed undo", "grant", g.ID, "err", err)
	}
	return stint.Errorf(stint.EUNAVAILABLE, "provider could not issue %s: %s", g.Access, msg)
}

// fail moves an issuing grant to failed and returns the caller's error.
func (s *Service) fail(ctx context.Context, g *stint.Grant, cause error) error {
	msg := stint.ErrorMessage(cause)
	if stint.ErrorCode(cause) == stint.EINTERNAL {
		msg = providerMessage(cause)
	}
	now := s.now()
	g.State = stint.StateFailed
	g.EndedAt = stint.TimePtr(now)
	g.DueAt = nil
	g.Detail = msg
	rec := record(now, stint.AuditGrantFailed, stint.ActorStint, g, "", map[string]any{"error": msg})
	if err := s.update(context.WithoutCancel(ctx), g, rec); err != nil {
		s.Logger.Error("record failed grant", "grant", g.ID, "err", err)
	}
	return stint.Errorf(stint.EUNAVAILABLE, "provider could not issue %s: %s", g.Access, msg)
}

// providerMessage returns a provider error's text for the caller. Providers
// keep secrets out of their errors (a provider contract), so the text is
// shown, trimmed to a sane length.
func providerMessage(err error) string { return clip(err.Error()) }

func revocationMode(p stint.Provider) string {
	if m, ok := p.(stint.RevocationModer); ok {
		return m.RevocationMode()
	}
	return stint.RevocationEarly
}

func decisionDetails(d stint.Decision) map[string]any {
	det := map[string]any{"decision": string(d.Outcome), "why": d.Reason}
	if d.TTL > 0 {
		det["ttl"] = stint.FormatDuration(d.TTL)
	}
	if d.Clamped {
		det["clamped"] = true
	}
	if d.BreakGlass {
		det["break_glass"] = true
	}
	if len(d.Results) > 0 {
		ps := make([]any, 0, len(d.Results))
		for _, r := range d.Results {
			ps = append(ps, map[string]any{"policy": r.Policy, "outcome": string(r.Outcome), "reason": r.Reason})
		}
		det["policies"] = ps
	}
	return det
}

func notes(d stint.Decision) []string {
	var n []string
	if d.Clamped {
		n = append(n, "ttl clamped: "+d.Reason)
	}
	if d.BreakGlass {
		n = append(n, "break-glass access: this grant is flagged for review")
	}
	return n
}

// clip bounds a caller-supplied string echoed in errors and audit records.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
