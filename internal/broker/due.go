package broker

import (
	"context"
	"time"

	"github.com/stint-io/stint"
)

// HandleDue performs what is due on g, which the expiry engine claimed: it
// expires an active grant whose time is up, retries the revocation of a
// revoking one, undoes an issuing one left behind by a crash, and times out
// a pending one. It implements expiry.Handler. Errors are the provider's or
// the store's; a failed revocation has already been rescheduled.
func (s *Service) HandleDue(ctx context.Context, g *stint.Grant) error {
	now := s.now()
	if g.DueAt == nil || g.DueAt.After(now) {
		return nil
	}
	switch g.State {
	case stint.StateActive:
		if g.ExpiresAt != nil && g.ExpiresAt.After(now) {
			// Not expired: the early wake-up for the expiry warning (or a
			// renewal since the claim). Warn once, then wait for the expiry.
			var rec *stint.AuditRecord
			if lead := s.expiringLead(); lead > 0 && !g.ExpiresAt.After(now.Add(lead)) {
				rec = record(now, stint.AuditGrantExpiring, stint.ActorStint, g, "", map[string]any{
					"expires_at": g.ExpiresAt.Format(time.RFC3339Nano),
					"in":         stint.FormatDuration(g.ExpiresAt.Sub(now).Round(time.Second)),
				})
			}
			g.DueAt = stint.TimePtr(*g.ExpiresAt)
			return s.update(ctx, g, rec)
		}
		g.State = stint.StateRevoking
		g.EndState = stint.StateExpired
		g.DueAt = stint.TimePtr(now.Add(s.RevokeTimeout))
		// The intent write carries no audit record of its own: grant.expired
		// or grant.revoke_failed follows and says what happened.
		if err := s.update(ctx, g, nil); err != nil {
			return err
		}
		return s.finishRevoke(ctx, g, stint.ActorStint, "expired")
	case stint.StateRevoking:
		return s.finishRevoke(ctx, g, stint.ActorStint, "")
	case stint.StateIssuing:
		return s.undoIssuing(ctx, g)
	case stint.StateScheduled:
		return s.startScheduled(ctx, g, now)
	case stint.StatePending:
		if g.ApprovalDeadline == nil || g.ApprovalDeadline.After(now) {
			g.DueAt = g.ApprovalDeadline
			return s.update(ctx, g, nil)
		}
		g.State, g.EndedAt, g.DueAt = stint.StateCancelled, stint.TimePtr(now), nil
		g.Detail = "approval timed out"
		return s.update(ctx, g, record(now, stint.AuditApprovalTimedOut, stint.ActorStint, g, "approval timed out", nil))
	default:
		g.DueAt = nil
		return s.update(ctx, g, nil)
	}
}

// undoIssuing removes whatever a crash may have left of a grant that was
// being issued, and marks it failed. The caller never received a credential
// for it (that happens only after the grant is recorded active).
func (s *Service) undoIssuing(ctx context.Context, g *stint.Grant) error {
	prov, err := s.provider(g)
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, s.RevokeTimeout)
		err = prov.Revoke(rctx, g)
		cancel()
	}
	now := s.now()
	if err != nil {
		g.Attempts++
		next := now.Add(s.backoff(g.Attempts))
		g.DueAt = stint.TimePtr(next)
		g.Detail = "undo of interrupted issue failed: " + providerMessage(err)
		s.Metrics.revokeFailed()
		return s.update(ctx, g, record(now, stint.AuditGrantRevokeFailed, stint.ActorStint, g, "", map[string]any{
			"attempt": g.Attempts, "error": providerMessage(err), "next_attempt": next.Format(time.RFC3339),
		}))
	}
	g.State, g.EndedAt, g.DueAt = stint.StateFailed, stint.TimePtr(now), nil
	g.Detail = "issue did not complete (failed, or the server stopped while issuing); whatever it created was removed"
	return s.update(ctx, g, record(now, stint.AuditGrantReconciled, stint.ActorStint, g, g.Detail, nil))
}
