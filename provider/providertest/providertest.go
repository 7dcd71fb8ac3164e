// Package providertest is the conformance suite every stint.Provider passes
// against its real target (a real PostgreSQL, a real sshd, a real script).
//
// A provider's test builds the provider on a throwaway target and calls Run:
//
//	providertest.Run(t, providertest.Harness{
//		Provider:    p,
//		Grant:       func() *stint.Grant { return providertest.NewGrant(now, "prod-db/readonly", time.Hour) },
//		CheckAccess: func(t *testing.T, g *stint.Grant, c *stint.Credential) bool { ... },
//	})
package providertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

// DefaultConcurrency is the number of grants the concurrency check issues at once.
const DefaultConcurrency = 8

// Harness describes one provider under test and how to observe its target.
type Harness struct {
	// Provider is the provider under test, configured with at least the role
	// that Grant uses.
	Provider stint.Provider
	// Grant returns a fresh grant (new ID) for a configured role, with
	// Access, Principal, ActivatedAt and ExpiresAt set. NewGrant builds one.
	Grant func() *stint.Grant
	// CheckAccess reports whether cred, issued for g, currently works on the
	// target. It may call t.Fatal for setup problems, but must return false,
	// not fail, when access is simply refused.
	CheckAccess func(t *testing.T, g *stint.Grant, cred *stint.Credential) bool

	// AllowEmptyEnv accepts a credential without environment variables
	// (a provider whose access is not carried by a secret, such as exec
	// with a script that prints nothing).
	AllowEmptyEnv bool
	// Concurrency is the number of grants issued at once (default
	// DefaultConcurrency; negative skips the check).
	Concurrency int
	// Timeout bounds each provider call (default 30s).
	Timeout time.Duration
}

// NewGrant returns an active-looking grant for access ("resource/role"),
// activated at now and expiring ttl later, with a new id.
func NewGrant(now time.Time, access string, ttl time.Duration) *stint.Grant {
	now = now.UTC().Truncate(time.Second)
	return &stint.Grant{
		ID:            stint.NewID(now),
		Principal:     "svc/providertest",
		PrincipalKind: "workload",
		Access:        access,
		State:         stint.StateIssuing,
		Policy:        "providertest",
		Reason:        "conformance test",
		TTL:           stint.Duration(ttl),
		RequestedAt:   now,
		ActivatedAt:   stint.TimePtr(now),
		ExpiresAt:     stint.TimePtr(now.Add(ttl)),
	}
}

// Run runs the conformance checks as subtests of t:
//
//   - Issue returns a credential for the grant (GrantID, ExpiresAt, env) that works;
//   - issuing the same grant again succeeds and works (idempotent per grant id);
//   - Revoke removes access (unless the provider declares stint.RevocationExpiryOnly);
//   - Revoke twice, and Revoke of a grant never issued, return nil;
//   - Issue for a role that is not configured fails with a permanent error;
//   - Concurrency grants issued and revoked at once all behave.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Provider == nil || h.Grant == nil || h.CheckAccess == nil {
		t.Fatal("providertest: Harness needs Provider, Grant and CheckAccess")
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Concurrency == 0 {
		h.Concurrency = DefaultConcurrency
	}
	s := &suite{h: h, expiryOnly: expiryOnly(h.Provider)}

	t.Run("IssueAndRevoke", s.testIssueAndRevoke)
	t.Run("IssueIdempotent", s.testIssueIdempotent)
	t.Run("RevokeIdempotent", s.testRevokeIdempotent)
	t.Run("RevokeNeverIssued", s.testRevokeNeverIssued)
	t.Run("UnknownRole", s.testUnknownRole)
	if h.Concurrency > 0 {
		t.Run("Concurrent", s.testConcurrent)
	}
}

func expiryOnly(p stint.Provider) bool {
	m, ok := p.(stint.RevocationModer)
	return ok && m.RevocationMode() == stint.RevocationExpiryOnly
}

type suite struct {
	h          Harness
	expiryOnly bool
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// issue issues g and checks the credential's shape and that it works.
func (s *suite) issue(t *testing.T, g *stint.Grant) *stint.Credential {
	t.Helper()
	cred, err := s.h.Provider.Issue(s.ctx(t), g)
	if err != nil {
		t.Fatalf("Issue(%s): %v", g.Access, err)
	}
	s.checkCredential(t, g, cred)
	return cred
}

func (s *suite) checkCredential(t *testing.T, g *stint.Grant, cred *stint.Credential) {
	t.Helper()
	if cred == nil {
		t.Fatal("Issue returned a nil credential")
	}
	if cred.GrantID != g.ID {
		t.Errorf("credential GrantID = %q, want %q", cred.GrantID, g.ID)
	}
	if g.ExpiresAt != nil {
		// A target may round the expiry down (seconds), never up.
		if d := g.ExpiresAt.Sub(cred.ExpiresAt); d < 0 || d > time.Second {
			t.Errorf("credential ExpiresAt = %v, want %v", cred.ExpiresAt, *g.ExpiresAt)
		}
	}
	if cred.Env == nil {
		t.Error("credential Env is nil; want a map (empty at least)")
	} else if len(cred.Env) == 0 && !s.h.AllowEmptyEnv {
		t.Error("credential Env is empty")
	}
	for name := range cred.Env {
		if name == "" {
			t.Error("credential Env has an empty variable name")
		}
	}
}

func (s *suite) revoke(t *testing.T, g *stint.Grant) {
	t.Helper()
	if err := s.h.Provider.Revoke(s.ctx(t), g); err != nil {
		t.Fatalf("Revoke(%s): %v", g.ID, err)
	}
}

// checkRevoked checks that cred no longer works, unless the provider is
// expiry-only (then the credential keeps working until it expires).
func (s *suite) checkRevoked(t *testing.T, g *stint.Grant, cred *stint.Credential) {
	t.Helper()
	if s.expiryOnly {
		return
	}
	if s.h.CheckAccess(t, g, cred) {
		t.Errorf("grant %s: access still works after Revoke", g.ID)
	}
}

func (s *suite) testIssueAndRevoke(t *testing.T) {
	g := s.h.Grant()
	cred := s.issue(t, g)
	if !s.h.CheckAccess(t, g, cred) {
		t.Fatalf("grant %s: issued credential does not work", g.ID)
	}
	s.revoke(t, g)
	s.checkRevoked(t, g, cred)
}

func (s *suite) testIssueIdempotent(t *testing.T) {
	g := s.h.Grant()
	first := s.issue(t, g)
	second := s.issue(t, g.Clone())
	if !s.h.CheckAccess(t, g, second) {
		t.Errorf("grant %s: credential of the second Issue does not work", g.ID)
	}
	s.revoke(t, g)
	s.checkRevoked(t, g, second)
	s.checkRevoked(t, g, first)
}

func (s *suite) testRevokeIdempotent(t *testing.T) {
	g := s.h.Grant()
	cred := s.issue(t, g)
	s.revoke(t, g)
	s.revoke(t, g.Clone())
	s.checkRevoked(t, g, cred)
}

func (s *suite) testRevokeNeverIssued(t *testing.T) {
	s.revoke(t, s.h.Grant())
}

func (s *suite) testUnknownRole(t *testing.T) {
	g := s.h.Grant()
	resource, _ := stint.SplitAccess(g.Access)
	g.Access = resource + "/providertest-no-such-role"
	_, err := s.h.Provider.Issue(s.ctx(t), g)
	if err == nil {
		t.Fatal("Issue for an unknown role succeeded; want an error")
	}
	if !stint.IsPermanent(err) {
		t.Errorf("Issue for an unknown role: error %v is not permanent", err)
	}
}

func (s *suite) testConcurrent(t *testing.T) {
	n := s.h.Concurrency
	grants := make([]*stint.Grant, n)
	creds := make([]*stint.Credential, n)
	errs := make([]error, n)
	for i := range grants {
		grants[i] = s.h.Grant()
	}
	ctx := s.ctx(t)

	var wg sync.WaitGroup
	for i := range grants {
		wg.Go(func() { creds[i], errs[i] = s.h.Provider.Issue(ctx, grants[i]) })
	}
	wg.Wait()
	for i, g := range grants {
		if errs[i] != nil {
			t.Fatalf("concurrent Issue %d: %v", i, errs[i])
		}
		s.checkCredential(t, g, creds[i])
		if !s.h.CheckAccess(t, g, creds[i]) {
			t.Errorf("concurrent grant %d: credential does not work", i)
		}
	}

	for i := range grants {
		wg.Go(func() { errs[i] = s.h.Provider.Revoke(ctx, grants[i]) })
	}
	wg.Wait()
	for i, g := range grants {
		if errs[i] != nil {
			t.Errorf("concurrent Revoke %d: %v", i, errs[i])
			continue
		}
		s.checkRevoked(t, g, creds[i])
	}
}
