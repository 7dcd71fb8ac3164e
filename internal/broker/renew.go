package broker

import (
	"context"
	"time"

	"github.com/stint-io/stint"
)

// RenewGrant extends an active grant to now + ttl (0: the grant's TTL),
// bounded by its max_ttl since activation and its window. Providers that can
// push a new expiry into the credential (stint.Renewer) do so; for the others
// the credential is issued again with the new expiry and returned. Returns
// ENOTFOUND, EDENIED (not the requester or an admin), ECONFLICT (not active,
// or already at its ceiling), EINVALID (bad ttl).
func (s *Service) RenewGrant(ctx context.Context, id string, ttl time.Duration) (*stint.GrantResult, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if ttl < 0 || (ttl > 0 && ttl < time.Second) || ttl > MaxTTL {
		return nil, stint.Errorf(stint.EINVALID, "ttl: must be between 1s and %s", stint.FormatDuration(MaxTTL))
	}
	g, err := s.get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !owns(p, g) && !p.Admin {
		return nil, s.refuse(ctx, p, g, "renew", "only the requester or an admin may renew a grant")
	}
	if g.State != stint.StateActive {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s is %s; only an active grant can be renewed", g.ID, g.State)
	}
	now := s.now()
	if !now.Before(*g.ExpiresAt) {
		// Expired, the expiry engine just has not got to it yet: a renewal
		// would bring back access that already lapsed on the target.
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s expired at %s; request a new grant", g.ID, g.ExpiresAt.Format(time.RFC3339))
	}
	if ttl == 0 {
		ttl = time.Duration(g.TTL)
	}
	newExp := now.Add(ttl)
	var notes []string
	ceiling := g.ActivatedAt.Add(time.Duration(g.MaxTTL))
	if g.MaxTTL > 0 && newExp.After(ceiling) {
		newExp = ceiling
		notes = append(notes, "ttl clamped to the policy's max_ttl of "+g.MaxTTL.String()+" since activation")
	}
	if g.Window != nil && !g.Window.Closes.IsZero() && newExp.After(g.Window.Closes) {
		newExp = g.Window.Closes
		notes = append(notes, "ttl clamped to the window's close")
	}
	if approvedEnd := g.ActivatedAt.Add(time.Duration(g.TTL)); g.ApprovalsRequired > 0 && newExp.After(approvedEnd) {
		return s.renewalRequest(ctx, p, g, ttl)
	}
	old := *g.ExpiresAt
	if !newExp.After(old) {
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s already expires at %s, its ceiling; request a new grant", g.ID, old.Format(time.RFC3339))
	}

	if !s.stillInWindow(ctx, g) {
		return nil, stint.Errorf(stint.ECONFLICT, "the window grant %s was given under has closed; it cannot be renewed", g.ID)
	}
	prov, err := s.provider(g)
	if err != nil {
		return nil, err
	}
	renewer, inPlace := prov.(stint.Renewer)
	if !inPlace && !owns(p, g) {
		// Renewing would issue a new credential, which only the requester
		// may ever receive.
		return nil, s.refuse(ctx, p, g, "renew", "this provider renews by issuing a new credential, which only the requester may receive; ask the requester to renew")
	}
	next := g.Clone()
	next.ExpiresAt = stint.TimePtr(newExp)
	var cred *stint.Credential
	pctx, cancel := context.WithTimeout(ctx, s.IssueTimeout)
	if inPlace {
		err = renewer.Renew(pctx, next, newExp)
	} else {
		cred, err = prov.Issue(pctx, next)
	}
	cancel()
	if err != nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "provider could not renew %s: %s", g.ID, providerMessage(err))
	}
	next.DueAt = stint.TimePtr(newExp)
	if lead := s.expiringLead(); lead > 0 && newExp.Sub(now) > 2*lead {
		next.DueAt = stint.TimePtr(newExp.Add(-lead))
	}
	rec := record(now, stint.AuditGrantRenewed, p.Name, next, "", map[string]any{
		"previous_expires_at": old.Format(time.RFC3339Nano),
		"expires_at":          newExp.Format(time.RFC3339Nano),
	})
	if err := s.update(context.WithoutCancel(ctx), next, rec); err != nil {
		// The grant changed while the provider worked: revoked or expired
		// under us. The provider may have just put access back (a re-issue
		// after the revocation removed it): undo it unless the grant is
		// still active, in which case the expiry engine revokes at the
		// recorded expiry, which is the safe side.
		if cur, gerr := s.Store.GetGrant(ctx, id); gerr != nil || cur.State != stint.StateActive {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.RevokeTimeout)
			if rerr := prov.Revoke(rctx, next); rerr != nil {
				s.Logger.Error("undo of a renewal that lost a race failed", "grant", id, "err", rerr)
			}
			cancel()
		}
		return nil, s.conflict(ctx, id, err)
	}
	if cred != nil {
		cred.GrantID, cred.ExpiresAt = next.ID, newExp
		notes = append(notes, "a new credential was issued with the new expiry")
	}
	return &stint.GrantResult{Grant: next, Credential: cred, Notes: notes}, nil
}

// renewalRequest asks for approval again when a grant that needed approval
// would be renewed beyond the duration its approvers agreed to: it files a
// new request for the same access, which goes to the approvers, and returns
// it. The current grant keeps its expiry.
func (s *Service) renewalRequest(ctx context.Context, p *stint.Principal, g *stint.Grant, ttl time.Duration) (*stint.GrantResult, error) {
	if !owns(p, g) {
		return nil, stint.Errorf(stint.ECONFLICT, "renewing %s beyond its approved %s needs a new approval; only its requester can ask for it", g.ID, g.TTL)
	}
	reason := clip("renewal of " + g.ID + ": " + g.Reason)
	res, err := s.RequestGrant(ctx, stint.GrantRequest{AccessRequest: stint.AccessRequest{
		Access: g.Access, TTL: ttl, Reason: reason, Ticket: g.Ticket}})
	if res != nil {
		res.Notes = append(res.Notes, "renewing "+g.ID+" beyond its approved "+g.TTL.String()+" needs approval again: this is the new request; "+g.ID+" keeps its expiry")
	}
	return res, err
}
