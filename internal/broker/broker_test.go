package broker_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/broker"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a broker over a real SQLite store and the real exec provider, whose
// scripts keep one marker file per live grant in dir.
type env struct {
	svc   *broker.Service
	store *sqlite.Store
	clock *clocktest.Clock
	dir   string
}

const testConfig = `
auth:
  tokens:
    - { subject: svc/app, kind: workload, sha256: 0000000000000000000000000000000000000000000000000000000000000001 }
resources:
  legacy:
    provider: exec
    grant: [{{DIR}}/grant.sh]
    revoke: [{{DIR}}/revoke.sh]
    roles:
      operator: {}
      admin: {}
      audit: {}
policies:
  - name: routine
    who: principal.name == "svc/app"
    access: [legacy/operator]
    ttl: 10m
    max_ttl: 1h
  - name: admin-approval
    who: principal.kind == "workload"
    access: [legacy/admin]
    ttl: 15m
    max_ttl: 30m
    require: [reason]
    approval: { approvers: [group:approvers, carol@example.com], count: 2, timeout: 30m }
  - name: break-glass
    who: '"sre" in principal.groups'
    access: [legacy/admin]
    ttl: 30m
    break_glass: true
`

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("grant.sh", "#!/bin/sh\nset -eu\n[ -e \""+dir+"/fail-grant\" ] && { echo 'target down' >&2; exit 1; }\necho \"$STINT_EXPIRES_AT\" > \""+dir+"/live-$STINT_GRANT_ID\"\necho '{\"env\":{\"LEGACY_USER\":\"u\"}}'\n")
	write("revoke.sh", "#!/bin/sh\nset -eu\n[ -e \""+dir+"/fail-revoke\" ] && { echo 'target unreachable' >&2; exit 1; }\nrm -f \""+dir+"/live-$STINT_GRANT_ID\"\n")
	clock := clocktest.New(t0)
	logger := slog.New(slog.DiscardHandler)
	factories := map[string]stint.ProviderFactory{"exec": exec.NewFactory()}
	cfg, err := config.Parse("stint.yaml", []byte(strings.ReplaceAll(testConfig, "{{DIR}}", dir)), factories,
		config.Options{DataDir: dir, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "stint.db"), clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := broker.New(st, clock, logger)
	rt := &broker.Runtime{Policy: cfg.Policy, Resources: map[string]*broker.Resource{}}
	for name, r := range cfg.Resources {
		p, err := factories[r.Type].New(context.Background(), r.Spec)
		if err != nil {
			t.Fatal(err)
		}
		roles := map[string]bool{}
		for _, role := range r.Roles {
			roles[role] = true
		}
		rt.Resources[name] = &broker.Resource{Name: name, Type: r.Type, Roles: roles, Provider: p}
	}
	svc.SetRuntime(rt)
	return &env{svc: svc, store: st, clock: clock, dir: dir}
}

var (
	app              = &stint.Principal{Name: "svc/app", Kind: stint.KindWorkload}
	other            = &stint.Principal{Name: "svc/other", Kind: stint.KindWorkload}
	alice            = &stint.Principal{Name: "alice@example.com", Kind: stint.KindHuman, Groups: []string{"approvers"}}
	bob              = &stint.Principal{Name: "bob@example.com", Kind: stint.KindHuman, Groups: []string{"approvers"}}
	carol            = &stint.Principal{Name: "carol@example.com", Kind: stint.KindHuman}
	mallory          = &stint.Principal{Name: "mallory@example.com", Kind: stint.KindHuman}
	root             = &stint.Principal{Name: "root@example.com", Kind: stint.KindHuman, Admin: true}
	sre              = &stint.Principal{Name: "sam@example.com", Kind: stint.KindHuman, Groups: []string{"sre"}}
	approverWorkload = &stint.Principal{Name: "svc/approver", Kind: stint.KindWorkload, Groups: []string{"approvers"}}
)

func as(p *stint.Principal) context.Context {
	return stint.NewContextWithPrincipal(context.Background(), p)
}

func req(access string, ttl time.Duration, reason string) stint.GrantRequest {
	return stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: access, TTL: ttl, Reason: reason}}
}

func (e *env) live(id string) bool {
	_, err := os.Stat(filepath.Join(e.dir, "live-"+id))
	return err == nil
}

func (e *env) history(t *testing.T, id string) []string {
	t.Helper()
	recs, err := e.store.ListAudit(context.Background(), stint.AuditFilter{GrantID: id})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
	}
	return types
}

func (e *env) get(t *testing.T, id string) *stint.Grant {
	t.Helper()
	g, err := e.store.GetGrant(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// due runs what the expiry engine would run for every grant due now.
func (e *env) due(t *testing.T) {
	t.Helper()
	now := e.clock.Now()
	gs, err := e.store.ClaimDue(context.Background(), now, now.Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		_ = e.svc.HandleDue(context.Background(), g)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if stint.ErrorCode(err) != code {
		t.Fatalf("error %v: code %q, want %q", err, stint.ErrorCode(err), code)
	}
}

func TestService_RequestGrant(t *testing.T) {
	t.Run("AllowedAtOnce", func(t *testing.T) {
		e := newEnv(t)
		res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 5*time.Minute, "report"))
		if err != nil {
			t.Fatal(err)
		}
		g := res.Grant
		if g.State != stint.StateActive || g.Policy != "routine" || res.Credential.Env["LEGACY_USER"] != "u" {
			t.Fatalf("grant %+v cred %+v", g, res.Credential)
		}
		if !g.ExpiresAt.Equal(g.ActivatedAt.Add(5*time.Minute)) || !res.Credential.ExpiresAt.Equal(*g.ExpiresAt) {
			t.Fatalf("expiry %v, activated %v", g.ExpiresAt, g.ActivatedAt)
		}
		if !e.live(g.ID) {
			t.Fatal("provider did not issue")
		}
		stored := e.get(t, g.ID)
		if stored.State != stint.StateActive || !stored.DueAt.Equal(*g.ExpiresAt) {
			t.Fatalf("stored %+v", stored)
		}
		if got := e.history(t, g.ID); !slices.Equal(got, []string{"grant.requested", "grant.activated"}) {
			t.Fatalf("history %v", got)
		}
	})
	t.Run("ClampedToMaxTTL", func(t *testing.T) {
		e := newEnv(t)
		res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 5*time.Hour, ""))
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Grant.ExpiresAt.Sub(*res.Grant.ActivatedAt); d != time.Hour || len(res.Notes) == 0 {
			t.Fatalf("ttl %v notes %v", d, res.Notes)
		}
	})
	t.Run("DeniedIsRecorded", func(t *testing.T) {
		e := newEnv(t)
		res, err := e.svc.RequestGrant(as(other), req("legacy/operator", 0, ""))
		wantCode(t, err, stint.EDENIED)
		if res.Grant.State != stint.StateDenied || res.Grant.Detail == "" || e.live(res.Grant.ID) {
			t.Fatalf("denied grant %+v", res.Grant)
		}
		if got := e.history(t, res.Grant.ID); !slices.Equal(got, []string{"grant.denied"}) {
			t.Fatalf("history %v", got)
		}
	})
	t.Run("BadInputWritesNothingButTheAudit", func(t *testing.T) {
		e := newEnv(t)
		for _, tc := range []struct {
			name string
			req  stint.GrantRequest
		}{
			{"NoAccess", req("", 0, "")},
			{"Malformed", req("legacy", 0, "")},
			{"ExtraSlash", req("legacy/operator/x", 0, "")},
			{"NegativeTTL", req("legacy/operator", -time.Second, "")},
			{"SubSecondTTL", req("legacy/operator", time.Millisecond, "")},
			{"AbsurdTTL", req("legacy/operator", 400*24*time.Hour, "")},
			{"HugeReason", req("legacy/operator", 0, strings.Repeat("x", 5000))},
			{"UnknownResource", req("nope/operator", 0, "")},
			{"UnknownRole", req("legacy/nope", 0, "")},
		} {
			_, err := e.svc.RequestGrant(as(app), tc.req)
			if stint.ErrorCode(err) != stint.EINVALID {
				t.Errorf("%s: %v, want EINVALID", tc.name, err)
			}
		}
		gs, _, err := e.store.ListGrants(context.Background(), stint.GrantFilter{})
		if err != nil || len(gs) != 0 {
			t.Fatalf("grants written: %d %v", len(gs), err)
		}
		recs, _ := e.store.ListAudit(context.Background(), stint.AuditFilter{})
		if len(recs) != 2 || recs[0].Type != stint.AuditAccessDenied {
			t.Fatalf("audit: %d records", len(recs))
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.RequestGrant(context.Background(), req("legacy/operator", 0, ""))
		wantCode(t, err, stint.EUNAUTHORIZED)
	})
	t.Run("ProviderFailureFails", func(t *testing.T) {
		e := newEnv(t)
		os.WriteFile(filepath.Join(e.dir, "fail-grant"), nil, 0o600)
		res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
		wantCode(t, err, stint.EUNAVAILABLE)
		if !strings.Contains(err.Error(), "target down") || res.Grant.State != stint.StateFailed {
			t.Fatalf("%v %+v", err, res.Grant)
		}
		if g := e.get(t, res.Grant.ID); g.State != stint.StateFailed || g.DueAt != nil {
			t.Fatalf("stored %+v", g)
		}
	})
}

func TestService_Expiry(t *testing.T) {
	e := newEnv(t)
	res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", time.Minute, ""))
	id := res.Grant.ID
	e.clock.Add(59 * time.Second)
	e.due(t)
	if e.get(t, id).State != stint.StateActive {
		t.Fatal("expired early")
	}
	e.clock.Add(time.Second)
	e.due(t)
	g := e.get(t, id)
	if g.State != stint.StateExpired || e.live(id) || g.DueAt != nil || !g.EndedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after expiry %+v live=%v", g, e.live(id))
	}
	if got := e.history(t, id); got[len(got)-1] != "grant.expired" {
		t.Fatalf("history %v", got)
	}
}

func TestService_RevokeGrant(t *testing.T) {
	t.Run("ByOwner", func(t *testing.T) {
		e := newEnv(t)
		res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
		g, err := e.svc.RevokeGrant(as(app), res.Grant.ID, "done", false)
		if err != nil || g.State != stint.StateRevoked || e.live(g.ID) {
			t.Fatalf("%v %+v", err, g)
		}
		_, err = e.svc.RevokeGrant(as(app), g.ID, "again", false)
		wantCode(t, err, stint.ECONFLICT)
	})
	t.Run("OthersMayNot", func(t *testing.T) {
		e := newEnv(t)
		res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
		_, err := e.svc.RevokeGrant(as(other), res.Grant.ID, "", false)
		wantCode(t, err, stint.ENOTFOUND) // a workload does not learn of others' grants
		_, err = e.svc.RevokeGrant(as(mallory), res.Grant.ID, "", false)
		wantCode(t, err, stint.EDENIED)
		if _, err := e.svc.RevokeGrant(as(root), res.Grant.ID, "admin", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("FailureRetriedUntilConfirmed", func(t *testing.T) {
		e := newEnv(t)
		res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
		id := res.Grant.ID
		os.WriteFile(filepath.Join(e.dir, "fail-revoke"), nil, 0o600)
		g, err := e.svc.RevokeGrant(as(app), id, "done", false)
		wantCode(t, err, stint.EUNAVAILABLE)
		if g.State != stint.StateRevoking || !strings.Contains(err.Error(), "target unreachable") {
			t.Fatalf("%v %+v", err, g)
		}
		// Backoff doubles: 1s, 2s, 4s ...; never back to active.
		for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			s := e.get(t, id)
			if s.State != stint.StateRevoking || s.Attempts != i+1 || !s.DueAt.Equal(e.clock.Now().Add(wait)) {
				t.Fatalf("attempt %d: %+v due %v", i+1, s, s.DueAt)
			}
			e.clock.Add(wait)
			e.due(t)
		}
		os.Remove(filepath.Join(e.dir, "fail-revoke"))
		e.clock.Add(8 * time.Second)
		e.due(t)
		if s := e.get(t, id); s.State != stint.StateRevoked || e.live(id) {
			t.Fatalf("after recovery %+v", s)
		}
		h := e.history(t, id)
		if n := strings.Count(strings.Join(h, " "), "grant.revoke_failed"); n != 4 || h[len(h)-1] != "grant.revoked" {
			t.Fatalf("history %v", h)
		}
	})
	t.Run("Force", func(t *testing.T) {
		e := newEnv(t)
		res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
		os.WriteFile(filepath.Join(e.dir, "fail-revoke"), nil, 0o600)
		e.svc.RevokeGrant(as(app), res.Grant.ID, "", false)
		_, err := e.svc.RevokeGrant(as(app), res.Grant.ID, "", true)
		wantCode(t, err, stint.EDENIED)
		g, err := e.svc.RevokeGrant(as(root), res.Grant.ID, "cleaned up by hand", true)
		if err != nil || g.State != stint.StateRevoked {
			t.Fatalf("%v %+v", err, g)
		}
		if h := e.history(t, g.ID); h[len(h)-1] != stint.AuditGrantForceClosed {
			t.Fatalf("history %v", h)
		}
	})
}

func TestService_HandleDue_InterruptedIssue(t *testing.T) {
	e := newEnv(t)
	// A crash between `issuing` and `active`: the provider made its artefact,
	// the store still says issuing.
	g := &stint.Grant{ID: stint.NewID(t0), Principal: "svc/app", PrincipalKind: stint.KindWorkload,
		Access: "legacy/operator", State: stint.StateIssuing, Policy: "routine", RequestedAt: t0,
		TTL: stint.Duration(time.Minute), Provider: "exec", DueAt: stint.TimePtr(t0.Add(broker.DefaultIssuingGrace))}
	if err := e.store.CreateGrant(context.Background(), g, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.dir, "live-"+g.ID), nil, 0o600)
	e.clock.Add(broker.DefaultIssuingGrace)
	e.due(t)
	if s := e.get(t, g.ID); s.State != stint.StateFailed || e.live(g.ID) {
		t.Fatalf("after reconcile %+v live=%v", s, e.live(g.ID))
	}
	if h := e.history(t, g.ID); h[len(h)-1] != stint.AuditGrantReconciled {
		t.Fatalf("history %v", h)
	}
}

func TestService_RenewGrant(t *testing.T) {
	e := newEnv(t)
	res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, ""))
	id := res.Grant.ID
	e.clock.Add(5 * time.Minute)
	r, err := e.svc.RenewGrant(as(app), id, 20*time.Minute)
	if err != nil || !r.Grant.ExpiresAt.Equal(e.clock.Now().Add(20*time.Minute)) {
		t.Fatalf("%v %+v", err, r)
	}
	if s := e.get(t, id); !s.DueAt.Equal(*r.Grant.ExpiresAt) {
		t.Fatalf("due not moved: %v", s.DueAt)
	}
	r, err = e.svc.RenewGrant(as(app), id, 24*time.Hour)
	if err != nil || !r.Grant.ExpiresAt.Equal(t0.Add(time.Hour)) || len(r.Notes) == 0 {
		t.Fatalf("clamp: %v %+v", err, r)
	}
	_, err = e.svc.RenewGrant(as(app), id, time.Hour)
	wantCode(t, err, stint.ECONFLICT)
	_, err = e.svc.RenewGrant(as(app), id, -time.Minute)
	wantCode(t, err, stint.EINVALID)
	if h := e.history(t, id); strings.Count(strings.Join(h, " "), "grant.renewed") != 2 {
		t.Fatalf("history %v", h)
	}
}

func TestService_Approval(t *testing.T) {
	pending := func(t *testing.T, e *env) string {
		res, err := e.svc.RequestGrant(as(app), req("legacy/admin", 0, "rotate keys"))
		if err != nil || res.Grant.State != stint.StatePending || res.Credential != nil {
			t.Fatalf("%v %+v", err, res)
		}
		return res.Grant.ID
	}
	t.Run("TwoDistinctApprovers", func(t *testing.T) {
		e := newEnv(t)
		id := pending(t, e)
		_, err := e.svc.ApproveGrant(as(app), id, "")
		wantCode(t, err, stint.EDENIED) // never the requester
		_, err = e.svc.ApproveGrant(as(approverWorkload), id, "")
		wantCode(t, err, stint.ENOTFOUND) // a workload never approves, nor sees others' grants
		_, err = e.svc.ApproveGrant(as(mallory), id, "")
		wantCode(t, err, stint.EDENIED) // not an approver
		if _, err := e.svc.ApproveGrant(as(alice), id, "ok"); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.ApproveGrant(as(alice), id, "again")
		if err != nil || len(res.Grant.Approvals) != 1 {
			t.Fatalf("double approval: %v %+v", err, res)
		}
		_, err = e.svc.ActivateGrant(as(app), id)
		wantCode(t, err, stint.ECONFLICT) // one approval of two
		res, err = e.svc.ApproveGrant(as(carol), id, "ok too")
		if err != nil || res.Credential != nil || e.live(id) {
			t.Fatalf("final approval: %v %+v", err, res)
		}
		e.clock.Add(10 * time.Minute) // approval latency must not eat the TTL
		_, err = e.svc.ActivateGrant(as(alice), id)
		wantCode(t, err, stint.EDENIED)
		got, err := e.svc.ActivateGrant(as(app), id)
		if err != nil || got.Credential == nil || !e.live(id) {
			t.Fatalf("activate: %v %+v", err, got)
		}
		if d := got.Grant.ExpiresAt.Sub(e.clock.Now()); d != 15*time.Minute {
			t.Fatalf("ttl from activation = %v", d)
		}
		_, err = e.svc.ActivateGrant(as(app), id)
		wantCode(t, err, stint.ECONFLICT) // delivered once
	})
	t.Run("Reject", func(t *testing.T) {
		e := newEnv(t)
		id := pending(t, e)
		_, err := e.svc.RejectGrant(as(bob), id, "")
		wantCode(t, err, stint.EINVALID)
		g, err := e.svc.RejectGrant(as(bob), id, "not now")
		if err != nil || g.State != stint.StateRejected {
			t.Fatalf("%v %+v", err, g)
		}
		_, err = e.svc.ApproveGrant(as(alice), id, "")
		wantCode(t, err, stint.ECONFLICT)
	})
	t.Run("TimeoutAndCancel", func(t *testing.T) {
		e := newEnv(t)
		id := pending(t, e)
		e.clock.Add(30 * time.Minute)
		e.due(t)
		if g := e.get(t, id); g.State != stint.StateCancelled {
			t.Fatalf("after timeout %s", g.State)
		}
		if h := e.history(t, id); h[len(h)-1] != stint.AuditApprovalTimedOut {
			t.Fatalf("history %v", h)
		}
		id = pending(t, e)
		_, err := e.svc.CancelGrant(as(alice), id)
		wantCode(t, err, stint.EDENIED)
		if g, err := e.svc.CancelGrant(as(app), id); err != nil || g.State != stint.StateCancelled {
			t.Fatalf("%v %+v", err, g)
		}
	})
}

func TestService_Visibility(t *testing.T) {
	e := newEnv(t)
	res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
	if _, err := e.svc.FindGrant(as(other), res.Grant.ID); stint.ErrorCode(err) != stint.ENOTFOUND {
		t.Fatalf("other workload sees grant: %v", err)
	}
	gs, _, err := e.svc.FindGrants(as(other), stint.GrantFilter{})
	if err != nil || len(gs) != 0 {
		t.Fatalf("other workload lists %d", len(gs))
	}
	gs, _, _ = e.svc.FindGrants(as(alice), stint.GrantFilter{})
	if len(gs) != 1 {
		t.Fatalf("human lists %d", len(gs))
	}
	if _, err := e.svc.FindAudit(as(other), stint.AuditFilter{}); stint.ErrorCode(err) != stint.EDENIED {
		t.Fatalf("workload reads the audit trail: %v", err)
	}
	if v, err := e.svc.VerifyAudit(as(alice)); err != nil || !v.OK {
		t.Fatalf("verify %v %+v", err, v)
	}
}

func TestService_BreakGlass(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.RequestGrant(as(sre), req("legacy/admin", 0, ""))
	wantCode(t, err, stint.EDENIED) // a reason is always required
	res, err := e.svc.RequestGrant(as(sre), req("legacy/admin", 0, "prod is down"))
	if err != nil || res.Grant.State != stint.StateActive || !res.Grant.BreakGlass || res.Grant.Policy != "break-glass" {
		t.Fatalf("%v %+v", err, res)
	}
	id := res.Grant.ID
	recs, _ := e.store.ListAudit(context.Background(), stint.AuditFilter{GrantID: id})
	if recs[1].Type != stint.AuditGrantActivated || recs[1].Details["break_glass"] != true {
		t.Fatalf("activation record %+v", recs[1])
	}
	list := func(p *stint.Principal) []*stint.Grant {
		gs, _, err := e.svc.FindGrants(as(p), stint.GrantFilter{Review: true})
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	if gs := list(root); len(gs) != 1 || gs[0].ID != id {
		t.Fatalf("review list %+v", gs)
	}
	_, err = e.svc.ApproveGrant(as(root), id, "")
	wantCode(t, err, stint.ECONFLICT) // still active: reviewed after it ended
	e.svc.RevokeGrant(as(sre), id, "fixed", false)
	_, err = e.svc.ApproveGrant(as(alice), id, "")
	wantCode(t, err, stint.EDENIED) // not an admin
	if _, err := e.svc.ApproveGrant(as(root), id, "justified: incident 42"); err != nil {
		t.Fatal(err)
	}
	if gs := list(root); len(gs) != 0 {
		t.Fatalf("reviewed grant still listed: %+v", gs)
	}
	if h := e.history(t, id); h[len(h)-1] != stint.AuditGrantReviewed {
		t.Fatalf("history %v", h)
	}
}

func TestService_FindGrants_Mine(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 5; i++ {
		res, err := e.svc.RequestGrant(as(app), req("legacy/admin", 0, "r"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Grant.ID)
		e.clock.Add(time.Millisecond)
	}
	e.svc.RequestGrant(as(app), req("legacy/operator", 0, ""))
	e.svc.ApproveGrant(as(alice), ids[1], "") // alice has decided this one
	for _, tc := range []struct {
		p    *stint.Principal
		want int
	}{{alice, 4}, {carol, 5}, {mallory, 0}, {app, 0}} {
		gs, _, err := e.svc.FindGrants(as(tc.p), stint.GrantFilter{Decidable: true})
		if err != nil || len(gs) != tc.want {
			t.Errorf("%s: %d decidable (%v), want %d", tc.p.Name, len(gs), err, tc.want)
		}
	}
	// Paging through a filtered list visits each once.
	var seen []string
	f := stint.GrantFilter{Decidable: true, Limit: 2}
	for {
		gs, next, err := e.svc.FindGrants(as(alice), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			seen = append(seen, g.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if len(seen) != 4 || slices.Contains(seen, ids[1]) {
		t.Fatalf("paged %v", seen)
	}
}

func TestService_ExpiringWarning(t *testing.T) {
	e := newEnv(t)
	rt := *e.svc.Runtime()
	rt.ExpiringLead = 2 * time.Minute
	e.svc.SetRuntime(&rt)
	res, _ := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, ""))
	id := res.Grant.ID
	if g := e.get(t, id); !g.DueAt.Equal(g.ExpiresAt.Add(-2 * time.Minute)) {
		t.Fatalf("due %v, expires %v", g.DueAt, g.ExpiresAt)
	}
	e.clock.Add(8 * time.Minute)
	e.due(t)
	g := e.get(t, id)
	if g.State != stint.StateActive || !g.DueAt.Equal(*g.ExpiresAt) {
		t.Fatalf("after warning %+v", g)
	}
	if h := e.history(t, id); h[len(h)-1] != stint.AuditGrantExpiring {
		t.Fatalf("history %v", h)
	}
	e.clock.Add(2 * time.Minute)
	e.due(t)
	if h := e.history(t, id); h[len(h)-1] != stint.AuditGrantExpired || strings.Count(strings.Join(h, " "), "expiring") != 1 {
		t.Fatalf("history %v", h)
	}
}

func TestService_RenewGrant_BeyondApproval(t *testing.T) {
	e := newEnv(t)
	res, _ := e.svc.RequestGrant(as(app), req("legacy/admin", 10*time.Minute, "rotate"))
	id := res.Grant.ID
	e.svc.ApproveGrant(as(alice), id, "")
	e.svc.ApproveGrant(as(carol), id, "")
	act, err := e.svc.ActivateGrant(as(app), id)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	// Beyond: a new request goes to the approvers.
	r, err := e.svc.RenewGrant(as(app), id, 20*time.Minute)
	if err != nil || r.Grant.ID == id || r.Grant.State != stint.StatePending || len(r.Notes) == 0 {
		t.Fatalf("renew beyond approval: %v %+v", err, r)
	}
	if g := e.get(t, id); !g.ExpiresAt.Equal(act.Grant.ActivatedAt.Add(10 * time.Minute)) {
		t.Fatalf("original grant changed: %v", g.ExpiresAt)
	}
}
