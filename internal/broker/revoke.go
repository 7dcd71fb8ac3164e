package broker

import (
	"context"
	"errors"
	"time"

	"github.com/stint-io/stint"
)

// RevokeGrant ends an active grant now, on behalf of its requester or an
// admin. It returns when the provider confirmed (state revoked) or failed:
// then the grant stays `revoking`, is retried with backoff, and the error is
// EUNAVAILABLE with the provider's message. With force, an admin closes a
// grant whose revocation keeps failing, after cleaning up by hand.
// Returns ENOTFOUND, EDENIED (not the requester or an admin; force by a
// non-admin), ECONFLICT (the grant is not active or revoking).
func (s *Service) RevokeGrant(ctx context.Context, id, reason string, force bool) (*stint.Grant, error) {
	p, g, err := s.load(ctx, id, "reason", reason)
	if err != nil {
		return nil, err
	}
	if !owns(p, g) && !p.Admin {
		return nil, s.refuse(ctx, p, g, "revoke", "only the requester or an admin may revoke a grant")
	}
	if force && !p.Admin {
		return nil, s.refuse(ctx, p, g, "revoke --force", "only an admin may force-close a grant")
	}
	switch g.State {
	case stint.StateActive:
		g.State = stint.StateRevoking
		g.EndState = stint.StateRevoked
		g.DueAt = stint.TimePtr(s.now().Add(s.RevokeTimeout))
		rec := record(s.now(), stint.AuditGrantRevoking, p.Name, g, reason, nil)
		if err := s.update(ctx, g, rec); err != nil {
			return nil, s.conflict(ctx, id, err)
		}
	case stint.StateRevoking:
		if force {
			return g, s.forceClose(ctx, p, g, reason)
		}
	default:
		return g, stint.Errorf(stint.ECONFLICT, "grant %s is %s; only an active grant can be revoked", g.ID, g.State)
	}
	err = s.finishRevoke(ctx, g, p.Name, reason)
	if err != nil && force && g.State == stint.StateRevoking {
		return g, s.forceClose(ctx, p, g, reason)
	}
	return g, err
}

// finishRevoke asks the provider to remove g's access (g is revoking) and
// records the outcome: g.EndState once confirmed, or a retry with backoff.
func (s *Service) finishRevoke(ctx context.Context, g *stint.Grant, actor, reason string) error {
	prov, err := s.provider(g)
	var usage map[string]any
	if err == nil && g.Attempts == 0 {
		usage = s.observeUsage(ctx, prov, g)
	}
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, s.RevokeTimeout)
		err = prov.Revoke(rctx, g)
		cancel()
	}
	now := s.now()
	if err != nil {
		msg := providerMessage(err)
		if stint.ErrorCode(err) != stint.EINTERNAL {
			msg = stint.ErrorMessage(err)
		}
		g.Attempts++
		next := now.Add(s.backoff(g.Attempts))
		g.DueAt = stint.TimePtr(next)
		g.Detail = "revocation failed: " + msg
		rec := record(now, stint.AuditGrantRevokeFailed, stint.ActorStint, g, reason, map[string]any{
			"attempt": g.Attempts, "error": msg, "next_attempt": next.Format(time.RFC3339),
		})
		s.Metrics.revokeFailed()
		s.Logger.Warn("revocation failed", "grant", g.ID, "access", g.Access, "attempt", g.Attempts, "err", err)
		if uerr := s.update(context.WithoutCancel(ctx), g, rec); uerr != nil {
			return s.conflict(ctx, g.ID, uerr)
		}
		return stint.Errorf(stint.EUNAVAILABLE, "revocation of %s not confirmed: %s; retrying until it is", g.ID, msg)
	}
	end := g.EndState
	if end != stint.StateExpired {
		end = stint.StateRevoked
	}
	typ := stint.AuditGrantRevoked
	if end == stint.StateExpired {
		typ = stint.AuditGrantExpired
		actor = stint.ActorStint
	}
	g.State, g.EndedAt, g.DueAt, g.Detail = end, stint.TimePtr(now), nil, ""
	det := map[string]any{"attempts": g.Attempts + 1}
	for k, v := range usage {
		det[k] = v
	}
	if g.Revocation == stint.RevocationExpiryOnly {
		det["note"] = "credential stays valid until its own expiry; introspection reports it inactive"
	}
	if err := s.update(context.WithoutCancel(ctx), g, record(now, typ, actor, g, reason, det)); err != nil {
		return s.conflict(ctx, g.ID, err)
	}
	s.Metrics.ended(g, now)
	return nil
}

// forceClose records an admin's closing of a grant whose revocation failed.
func (s *Service) forceClose(ctx context.Context, p *stint.Principal, g *stint.Grant, reason string) error {
	now := s.now()
	g.State, g.EndedAt, g.DueAt = stint.StateRevoked, stint.TimePtr(now), nil
	g.Detail = "force-closed by " + p.Name + " after cleanup by hand"
	rec := record(now, stint.AuditGrantForceClosed, p.Name, g, reason, map[string]any{"attempts": g.Attempts})
	if err := s.update(ctx, g, rec); err != nil {
		return s.conflict(ctx, g.ID, err)
	}
	s.Metrics.ended(g, now)
	return nil
}

// CancelGrant withdraws a pending or scheduled request of the caller (or, for
// an admin, of anyone). Returns ENOTFOUND, EDENIED, ECONFLICT.
func (s *Service) CancelGrant(ctx context.Context, id string) (*stint.Grant, error) {
	p, g, err := s.load(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	if !owns(p, g) && !p.Admin {
		return nil, s.refuse(ctx, p, g, "cancel", "only the requester or an admin may cancel a request")
	}
	if g.State != stint.StatePending && g.State != stint.StateScheduled {
		return g, stint.Errorf(stint.ECONFLICT, "grant %s is %s; only a pending or scheduled request can be cancelled", g.ID, g.State)
	}
	now := s.now()
	g.State, g.EndedAt, g.DueAt = stint.StateCancelled, stint.TimePtr(now), nil
	if err := s.update(ctx, g, record(now, stint.AuditGrantCancelled, p.Name, g, "withdrawn by the requester", nil)); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	return g, nil
}

// load returns the caller and the grant id names, which the caller must be
// able to see, after checking that a free-text field (named field, "" for
// none) is not too long. Returns EUNAUTHORIZED, EINVALID, ENOTFOUND.
func (s *Service) load(ctx context.Context, id, field, text string) (*stint.Principal, *stint.Grant, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(text) > maxTextField {
		return nil, nil, stint.Errorf(stint.EINVALID, "%s: longer than %d bytes", field, maxTextField)
	}
	if err := checkText(field, text); err != nil {
		return nil, nil, err
	}
	g, err := s.get(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	return p, g, nil
}

// get reads a grant the caller may see. Returns ENOTFOUND otherwise, so that
// ids of others' grants are not confirmed to workloads.
func (s *Service) get(ctx context.Context, p *stint.Principal, id string) (*stint.Grant, error) {
	if !stint.ValidID(id) {
		return nil, stint.Errorf(stint.ENOTFOUND, "grant %q not found", clip(id))
	}
	g, err := s.Store.GetGrant(ctx, id)
	if err != nil {
		return nil, err
	}
	if !canSee(p, g) {
		return nil, stint.Errorf(stint.ENOTFOUND, "grant %s not found", id)
	}
	return g, nil
}

// refuse audits a refused action and returns EDENIED.
func (s *Service) refuse(ctx context.Context, p *stint.Principal, g *stint.Grant, action, why string) error {
	rec := record(s.now(), stint.AuditAccessDenied, p.Name, g, why, map[string]any{"action": action})
	if err := s.Store.AppendAudit(ctx, rec); err != nil {
		s.Logger.Error("audit refused action", "err", err)
	}
	return stint.Errorf(stint.EDENIED, "%s", why)
}

// conflict turns a failed compare-and-set into a clear ECONFLICT naming the
// grant's current state.
func (s *Service) conflict(ctx context.Context, id string, err error) error {
	if stint.ErrorCode(err) != stint.ECONFLICT {
		return err
	}
	g, gerr := s.Store.GetGrant(ctx, id)
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	return stint.Errorf(stint.ECONFLICT, "grant %s changed concurrently; it is now %s", id, g.State)
}

// observeUsage asks a provider that can tell whether g was used, before its
// access is removed, and returns what to record with the grant's end:
// "used" (true or false) and "last_used_at", or "usage": "unobservable".
func (s *Service) observeUsage(ctx context.Context, prov stint.Provider, g *stint.Grant) map[string]any {
	uo, ok := prov.(stint.UsageObserver)
	if !ok {
		return map[string]any{"usage": "unobservable"}
	}
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	used, at, err := uo.Used(uctx, g)
	if err != nil {
		s.Logger.Debug("usage not observable", "grant", g.ID, "err", err)
		return map[string]any{"usage": "unobservable"}
	}
	m := map[string]any{"used": used}
	if used {
		m["last_used_at"] = at.UTC().Format(time.RFC3339)
	}
	return m
}
