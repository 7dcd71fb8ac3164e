// Package httpapitest helps test code that talks to the HTTP API: a
// scriptable fake of the grant, audit and policy services, static tokens
// for three principals, and an httptest server running the real handler.
package httpapitest

import (
	"context"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
	"github.com/stint-io/stint/internal/httpapi"
)

// Tokens of the principals that Authenticator knows.
const (
	WorkloadToken = "stint_test_workload" // svc/test, kind workload
	ApproverToken = "stint_test_approver" // alice@example.com, human, group db-owners
	AdminToken    = "stint_test_admin"    // root@example.com, human, group admins (admin)
)

// Authenticator returns a static authenticator that knows the three tokens.
func Authenticator() *authn.Static {
	s, err := authn.NewStatic([]authn.Token{
		{Subject: "svc/test", Kind: stint.KindWorkload, SHA256: authn.HashToken(WorkloadToken)},
		{Subject: "alice@example.com", Kind: stint.KindHuman, Groups: []string{"db-owners"}, SHA256: authn.HashToken(ApproverToken)},
		{Subject: "root@example.com", Kind: stint.KindHuman, Groups: []string{"admins"}, SHA256: authn.HashToken(AdminToken)},
	}, []string{"group:admins"})
	if err != nil {
		panic(err)
	}
	return s
}

// NewServer starts an httptest server running the real API handler over
// svc, authenticated by Authenticator, and closes it when tb ends. Adjust
// the *httpapi.Server in configure (may be nil) before it starts.
func NewServer(tb testing.TB, svc *Service, configure func(*httpapi.Server)) *httptest.Server {
	tb.Helper()
	s := httpapi.NewServer()
	s.Grants, s.Audit, s.Policy = svc, svc, svc
	s.Auth = Authenticator()
	if configure != nil {
		configure(s)
	}
	ts := httptest.NewServer(s.Handler())
	tb.Cleanup(ts.Close)
	return ts
}

// Call is one recorded call of the fake.
type Call struct {
	Method    string
	Principal *stint.Principal // from the context
	Args      []any
}

// Service implements stint.GrantService, stint.AuditService and
// stint.PolicyService by calling its function fields; a nil field answers
// EINTERNAL. Every call is recorded. Safe for concurrent use once set up.
type Service struct {
	RequestGrantFunc  func(ctx context.Context, req stint.GrantRequest) (*stint.GrantResult, error)
	FindGrantFunc     func(ctx context.Context, id string) (*stint.Grant, error)
	FindGrantsFunc    func(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error)
	GrantHistoryFunc  func(ctx context.Context, id string) ([]*stint.AuditRecord, error)
	ApproveGrantFunc  func(ctx context.Context, id, comment string) (*stint.GrantResult, error)
	ActivateGrantFunc func(ctx context.Context, id string) (*stint.GrantResult, error)
	RejectGrantFunc   func(ctx context.Context, id, reason string) (*stint.Grant, error)
	RenewGrantFunc    func(ctx context.Context, id string, ttl time.Duration) (*stint.GrantResult, error)
	RevokeGrantFunc   func(ctx context.Context, id, reason string, force bool) (*stint.Grant, error)
	CancelGrantFunc   func(ctx context.Context, id string) (*stint.Grant, error)
	FindAuditFunc     func(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error)
	VerifyAuditFunc   func(ctx context.Context) (*stint.AuditVerifyResult, error)
	ExplainFunc       func(ctx context.Context, req stint.ExplainRequest) (*stint.Decision, error)

	mu    sync.Mutex
	calls []Call
}

var (
	_ stint.GrantService  = (*Service)(nil)
	_ stint.AuditService  = (*Service)(nil)
	_ stint.PolicyService = (*Service)(nil)
)

// Calls returns the calls made so far.
func (s *Service) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// LastCall returns the last call, or a zero Call.
func (s *Service) LastCall() Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return Call{}
	}
	return s.calls[len(s.calls)-1]
}

func (s *Service) record(ctx context.Context, method string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, Principal: stint.PrincipalFromContext(ctx), Args: args})
}

func notSet(method string) error { return stint.Errorf(stint.EINTERNAL, "fake: %s not set", method) }

// RequestGrant implements stint.GrantService.
func (s *Service) RequestGrant(ctx context.Context, req stint.GrantRequest) (*stint.GrantResult, error) {
	s.record(ctx, "RequestGrant", req)
	if s.RequestGrantFunc == nil {
		return nil, notSet("RequestGrant")
	}
	return s.RequestGrantFunc(ctx, req)
}

// FindGrant implements stint.GrantService.
func (s *Service) FindGrant(ctx context.Context, id string) (*stint.Grant, error) {
	s.record(ctx, "FindGrant", id)
	if s.FindGrantFunc == nil {
		return nil, notSet("FindGrant")
	}
	return s.FindGrantFunc(ctx, id)
}

// FindGrants implements stint.GrantService.
func (s *Service) FindGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	s.record(ctx, "FindGrants", f)
	if s.FindGrantsFunc == nil {
		return nil, "", notSet("FindGrants")
	}
	return s.FindGrantsFunc(ctx, f)
}

// GrantHistory implements stint.GrantService.
func (s *Service) GrantHistory(ctx context.Context, id string) ([]*stint.AuditRecord, error) {
	s.record(ctx, "GrantHistory", id)
	if s.GrantHistoryFunc == nil {
		return nil, notSet("GrantHistory")
	}
	return s.GrantHistoryFunc(ctx, id)
}

// ApproveGrant implements stint.GrantService.
func (s *Service) ApproveGrant(ctx context.Context, id, comment string) (*stint.GrantResult, error) {
	s.record(ctx, "ApproveGrant", id, comment)
	if s.ApproveGrantFunc == nil {
		return nil, notSet("ApproveGrant")
	}
	return s.ApproveGrantFunc(ctx, id, comment)
}

// ActivateGrant implements stint.GrantService.
func (s *Service) ActivateGrant(ctx context.Context, id string) (*stint.GrantResult, error) {
	s.record(ctx, "ActivateGrant", id)
	if s.ActivateGrantFunc == nil {
		return nil, notSet("ActivateGrant")
	}
	return s.ActivateGrantFunc(ctx, id)
}

// RejectGrant implements stint.GrantService.
func (s *Service) RejectGrant(ctx context.Context, id, reason string) (*stint.Grant, error) {
	s.record(ctx, "RejectGrant", id, reason)
	if s.RejectGrantFunc == nil {
		return nil, notSet("RejectGrant")
	}
	return s.RejectGrantFunc(ctx, id, reason)
}

// RenewGrant implements stint.GrantService.
func (s *Service) RenewGrant(ctx context.Context, id string, ttl time.Duration) (*stint.GrantResult, error) {
	s.record(ctx, "RenewGrant", id, ttl)
	if s.RenewGrantFunc == nil {
		return nil, notSet("RenewGrant")
	}
	return s.RenewGrantFunc(ctx, id, ttl)
}

// RevokeGrant implements stint.GrantService.
func (s *Service) RevokeGrant(ctx context.Context, id, reason string, force bool) (*stint.Grant, error) {
	s.record(ctx, "RevokeGrant", id, reason, force)
	if s.RevokeGrantFunc == nil {
		return nil, notSet("RevokeGrant")
	}
	return s.RevokeGrantFunc(ctx, id, reason, force)
}

// CancelGrant implements stint.GrantService.
func (s *Service) CancelGrant(ctx context.Context, id string) (*stint.Grant, error) {
	s.record(ctx, "CancelGrant", id)
	if s.CancelGrantFunc == nil {
		return nil, notSet("CancelGrant")
	}
	return s.CancelGrantFunc(ctx, id)
}

// FindAudit implements stint.AuditService.
func (s *Service) FindAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	s.record(ctx, "FindAudit", f)
	if s.FindAuditFunc == nil {
		return nil, notSet("FindAudit")
	}
	return s.FindAuditFunc(ctx, f)
}

// VerifyAudit implements stint.AuditService.
func (s *Service) VerifyAudit(ctx context.Context) (*stint.AuditVerifyResult, error) {
	s.record(ctx, "VerifyAudit")
	if s.VerifyAuditFunc == nil {
		return nil, notSet("VerifyAudit")
	}
	return s.VerifyAuditFunc(ctx)
}

// Explain implements stint.PolicyService.
func (s *Service) Explain(ctx context.Context, req stint.ExplainRequest) (*stint.Decision, error) {
	s.record(ctx, "Explain", req)
	if s.ExplainFunc == nil {
		return nil, notSet("Explain")
	}
	return s.ExplainFunc(ctx, req)
}

// Grant returns a sample grant with the given id and state, requested at
// 2025-01-02T03:04:05Z by svc/test for prod-db/readonly; an active grant
// has activated_at and expires_at (15 minutes later).
func Grant(id string, state stint.State) *stint.Grant {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	g := &stint.Grant{
		ID: id, Principal: "svc/test", PrincipalKind: stint.KindWorkload, Access: "prod-db/readonly",
		State: state, Policy: "routine-reads", Reason: "nightly report", Ticket: "OPS-1",
		TTL: stint.Duration(15 * time.Minute), RequestedAt: at, Approvals: []stint.Approval{},
		Provider: "postgres", Revocation: stint.RevocationEarly,
	}
	if state == stint.StateActive {
		g.ActivatedAt = stint.TimePtr(at)
		g.ExpiresAt = stint.TimePtr(at.Add(15 * time.Minute))
	}
	return g
}

// GrantID is a valid grant id for tests.
const GrantID = "01jgzq2b8c0000000000000000"
