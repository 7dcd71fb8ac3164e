package notify_test

import (
	"time"

	"github.com/stint-io/stint"
)

// The helpers below write grants and audit records the way internal/broker
// does: the same types, actors and details.

func record(now time.Time, typ, actor string, g *stint.Grant, reason string, details map[string]any) *stint.AuditRecord {
	return &stint.AuditRecord{Time: now, Type: typ, Actor: actor, GrantID: g.ID, Access: g.Access, Reason: reason, Details: details}
}

// requestPending stores a request that waits for count approvals.
func (e *env) requestPending(principal string, count int) *stint.Grant {
	e.t.Helper()
	now := e.clock.Now()
	g := &stint.Grant{
		ID: stint.NewID(now), Principal: principal, PrincipalKind: stint.KindWorkload,
		Access: "prod-db/migrate", State: stint.StatePending, Policy: "ci-migrations",
		Reason: "deploy <b>v2</b> & migrate", Ticket: "OPS-42",
		TTL: stint.Duration(15 * time.Minute), MaxTTL: stint.Duration(time.Hour), RequestedAt: now,
		ApprovalsRequired: count, Approvers: []string{"group:db-owners", "carol@example.com"},
		ApprovalDeadline: stint.TimePtr(now.Add(30 * time.Minute)),
		Provider:         "postgres", Revocation: stint.RevocationEarly,
	}
	g.DueAt = g.ApprovalDeadline
	rec := record(now, stint.AuditGrantRequested, principal, g, g.Reason, map[string]any{
		"decision": "approval", "why": "needs approval by group:db-owners", "ttl": "15m",
	})
	if err := e.store.CreateGrant(e.ctx, g, rec); err != nil {
		e.t.Fatal(err)
	}
	return g
}

// approve records one approval by approver.
func (e *env) approve(g *stint.Grant, approver string) {
	e.t.Helper()
	now := e.clock.Now()
	g.Approvals = append(g.Approvals, stint.Approval{By: approver, Decision: "approved", At: now, Comment: "ok"})
	n := 0
	for _, a := range g.Approvals {
		if a.Decision == "approved" {
			n++
		}
	}
	rec := record(now, stint.AuditGrantApproved, approver, g, "ok", map[string]any{"approvals": n, "required": g.ApprovalsRequired})
	if err := e.store.UpdateGrant(e.ctx, g, rec); err != nil {
		e.t.Fatal(err)
	}
}

// reject records a rejection, which ends the request.
func (e *env) reject(g *stint.Grant, approver, reason string) {
	e.t.Helper()
	now := e.clock.Now()
	g.Approvals = append(g.Approvals, stint.Approval{By: approver, Decision: "rejected", At: now, Comment: reason})
	g.State, g.EndedAt, g.DueAt = stint.StateRejected, stint.TimePtr(now), nil
	if err := e.store.UpdateGrant(e.ctx, g, record(now, stint.AuditGrantRejected, approver, g, reason, nil)); err != nil {
		e.t.Fatal(err)
	}
}

// grantActive stores a grant allowed at once and activates it. flagDetails
// puts break_glass in the activation's details, as the broker will.
func (e *env) grantActive(principal string, breakGlass, flagDetails bool) *stint.Grant {
	e.t.Helper()
	now := e.clock.Now()
	g := &stint.Grant{
		ID: stint.NewID(now), Principal: principal, PrincipalKind: stint.KindHuman,
		Access: "prod-db/migrate", State: stint.StateIssuing, Policy: "break-glass",
		Reason: "prod down", TTL: stint.Duration(30 * time.Minute), RequestedAt: now,
		BreakGlass: breakGlass, Provider: "postgres", Revocation: stint.RevocationEarly,
	}
	det := map[string]any{"decision": "allow", "why": "allowed", "ttl": "30m"}
	if breakGlass {
		det["break_glass"] = true
	}
	if err := e.store.CreateGrant(e.ctx, g, record(now, stint.AuditGrantRequested, principal, g, g.Reason, det)); err != nil {
		e.t.Fatal(err)
	}
	exp := now.Add(time.Duration(g.TTL))
	g.State, g.ActivatedAt, g.ExpiresAt, g.DueAt = stint.StateActive, stint.TimePtr(now), stint.TimePtr(exp), stint.TimePtr(exp)
	adet := map[string]any{"expires_at": exp.Format(time.RFC3339Nano), "ttl": g.TTL.String()}
	if breakGlass && flagDetails {
		adet["break_glass"] = true
	}
	if err := e.store.UpdateGrant(e.ctx, g, record(now, stint.AuditGrantActivated, stint.ActorStint, g, "", adet)); err != nil {
		e.t.Fatal(err)
	}
	return g
}

// revokeFailed records a failed revocation attempt of an active grant.
func (e *env) revokeFailed(g *stint.Grant) {
	e.t.Helper()
	now := e.clock.Now()
	g.State, g.EndState, g.Attempts = stint.StateRevoking, stint.StateRevoked, g.Attempts+1
	g.Detail = "revocation failed: connection refused"
	if err := e.store.UpdateGrant(e.ctx, g, record(now, stint.AuditGrantRevoking, "alice@example.com", g, "done", nil)); err != nil {
		e.t.Fatal(err)
	}
	rec := record(now, stint.AuditGrantRevokeFailed, stint.ActorStint, g, "done", map[string]any{
		"attempt": g.Attempts, "error": "connection refused", "next_attempt": now.Add(time.Second).Format(time.RFC3339),
	})
	if err := e.store.UpdateGrant(e.ctx, g, rec); err != nil {
		e.t.Fatal(err)
	}
}

// expiring appends the warning the expiry engine writes before expiry.
func (e *env) expiring(g *stint.Grant) {
	e.t.Helper()
	rec := record(e.clock.Now(), stint.NotifyGrantExpiring, stint.ActorStint, g, "", map[string]any{
		"expires_at": g.ExpiresAt.Format(time.RFC3339Nano),
	})
	if err := e.store.AppendAudit(e.ctx, rec); err != nil {
		e.t.Fatal(err)
	}
}

// expire records the end of an active grant at its expiry.
func (e *env) expire(g *stint.Grant) {
	e.t.Helper()
	now := e.clock.Now()
	g.State, g.EndedAt, g.DueAt = stint.StateExpired, stint.TimePtr(now), nil
	if err := e.store.UpdateGrant(e.ctx, g, record(now, stint.AuditGrantExpired, stint.ActorStint, g, "", map[string]any{"attempts": 1})); err != nil {
		e.t.Fatal(err)
	}
}

// configLoaded appends a record about no grant.
func (e *env) configLoaded() {
	e.t.Helper()
	if err := e.store.AppendAudit(e.ctx, &stint.AuditRecord{Time: e.clock.Now(), Type: stint.AuditConfigLoaded, Actor: stint.ActorStint}); err != nil {
		e.t.Fatal(err)
	}
}
