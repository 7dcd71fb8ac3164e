package broker

import (
	"context"
	"slices"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/window"
)

// ProvisionHorizon is how far ahead a schedule window's provision grants are
// created, in state scheduled.
const ProvisionHorizon = 24 * time.Hour

// provisionPrincipal is the principal of the grants a window provisions: no
// one asked for them; the window's policy did.
func provisionPrincipal(policy string) string { return provisionPrefix + policy }

// provisionPrefix starts the principal of every provisioned grant; static
// subjects and OIDC issuers cannot use it.
const provisionPrefix = "window:"

// provisionStep makes sure that every `provision` access of a window
// policy has its grant for each window open now, and, for schedule windows,
// a scheduled grant for the next opening within ProvisionHorizon. The
// grants are granted at the window's opening (the expiry engine wakes them)
// and end at its close; an event window that closes early cuts them short
// like any grant under it.
func (s *Service) provisionStep(ctx context.Context, rt *Runtime, open []stint.WindowRef, now time.Time) {
	for _, pol := range rt.Windows.Engine.Policies() {
		if pol.Window == nil || len(pol.Window.Provision) == 0 {
			continue
		}
		var targets []stint.WindowRef
		for _, w := range open {
			if w.Policy == pol.Name {
				targets = append(targets, w)
			}
		}
		if pol.Window.Schedule != nil {
			for _, w := range window.ScheduleNext(pol, now, 1) {
				if w.Opens.Sub(now) <= ProvisionHorizon {
					targets = append(targets, w)
				}
			}
		}
		for _, w := range targets {
			for _, access := range pol.Window.Provision {
				if err := s.provision(ctx, rt, pol.Name, access, w, now); err != nil {
					s.Logger.Error("provision a window grant", "policy", pol.Name, "access", access, "err", err)
				}
			}
		}
	}
}

// provision creates the grant of access for window w unless it exists.
func (s *Service) provision(ctx context.Context, rt *Runtime, policy, access string, w stint.WindowRef, now time.Time) error {
	// Only the window's own grants count (a requester's grant under the
	// window does not), and there is one a day at most: the newest 50 reach
	// far back.
	gs, _, err := s.Store.ListGrants(ctx, stint.GrantFilter{Policy: policy, Access: access, Principal: provisionPrincipal(policy), Limit: 50})
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.Window != nil && g.Window.Key == w.Key && g.Window.Opens.Equal(w.Opens) {
			return nil // already provisioned (or provisioned and ended)
		}
	}
	res, err := rt.resolve(access)
	if err != nil {
		return err
	}
	start := w.Opens
	if start.Before(now) {
		start = now
	}
	if !w.Closes.After(start) {
		return nil
	}
	g := &stint.Grant{
		ID:            stint.NewID(now),
		Principal:     provisionPrincipal(policy),
		PrincipalKind: stint.KindWorkload,
		Access:        access,
		State:         stint.StateScheduled,
		Policy:        policy,
		Reason:        "provisioned for the window of policy " + policy,
		RequestedAt:   now,
		TTL:           stint.Duration(w.Closes.Sub(w.Opens)),
		Window:        &w,
		Approvals:     []stint.Approval{},
		Provider:      res.Type,
		Revocation:    revocationMode(res.Provider),
		DueAt:         stint.TimePtr(start),
	}
	rec := record(now, stint.AuditGrantRequested, stint.ActorStint, g, g.Reason, map[string]any{
		"decision": "provision", "opens": w.Opens.Format(time.RFC3339), "closes": w.Closes.Format(time.RFC3339),
	})
	if err := s.Store.CreateGrant(ctx, g, rec); err != nil {
		return err
	}
	s.Wake(start)
	return nil
}

// startScheduled issues a scheduled grant whose window has opened (or moves
// its due time to the opening). A window that is no longer open (an event
// window that closed before the grant started) cancels it.
func (s *Service) startScheduled(ctx context.Context, g *stint.Grant, now time.Time) error {
	if g.Window != nil && g.Window.Opens.After(now) {
		g.DueAt = stint.TimePtr(g.Window.Opens)
		return s.update(ctx, g, nil)
	}
	cancel := func(why string) error {
		g.State, g.EndedAt, g.DueAt = stint.StateCancelled, stint.TimePtr(now), nil
		g.Detail = why
		return s.update(ctx, g, record(now, stint.AuditGrantCancelled, stint.ActorStint, g, why, nil))
	}
	if g.Window == nil {
		return cancel("a scheduled grant without a window")
	}
	// The configuration in force decides, not the one that scheduled it: the
	// policy must still provision this access, and the window must be open.
	if why := s.stillProvisioned(g); why != "" {
		return cancel(why)
	}
	closes, open := s.openClose(ctx, *g.Window, now)
	if !open || !closes.After(now) {
		return cancel("its window closed before it started")
	}
	if closes.Before(g.Window.Closes) {
		g.Window.Closes = closes // the window in force closes earlier
	}
	g.State = stint.StateIssuing
	g.DueAt = stint.TimePtr(now.Add(s.IssuingGrace))
	// The grant lasts to the window's close, counted from now.
	g.TTL = stint.Duration(g.Window.Closes.Sub(now))
	if err := s.update(ctx, g, nil); err != nil {
		return err
	}
	_, err := s.activate(ctx, g)
	return err
}

// stillProvisioned returns why the runtime in force no longer provisions
// g's access for its window policy, or "".
func (s *Service) stillProvisioned(g *stint.Grant) string {
	rt := s.runtime.Load()
	if rt == nil || rt.Windows == nil {
		return "no window is configured any more"
	}
	pol := rt.Windows.Engine.Policy(g.Window.Policy)
	if pol == nil || pol.Window == nil || !slices.Contains(pol.Window.Provision, g.Access) {
		return "the policy no longer provisions " + g.Access
	}
	if _, err := rt.resolve(g.Access); err != nil {
		return stint.ErrorMessage(err)
	}
	return ""
}

// openClose returns the close of the window of w's policy and key open at
// now, and whether there is one.
func (s *Service) openClose(ctx context.Context, w stint.WindowRef, now time.Time) (time.Time, bool) {
	rt := s.runtime.Load()
	if rt == nil {
		return time.Time{}, false
	}
	for _, o := range s.openWindows(ctx, rt, now) {
		if o.Policy == w.Policy && o.Key == w.Key {
			return o.Closes, true
		}
	}
	return time.Time{}, false
}
