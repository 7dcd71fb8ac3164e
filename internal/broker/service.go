// Package broker implements the grant lifecycle: it decides requests with the
// policy engine, records every transition with its audit record in the store,
// and drives providers to issue and revoke access. It implements
// stint.GrantService for the API and expiry.Handler for the expiry engine.
package broker

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stint-io/stint"
)

// Defaults of the Service's tunables.
const (
	DefaultIssueTimeout  = 30 * time.Second
	DefaultRevokeTimeout = 30 * time.Second
	// DefaultIssuingGrace is how long a grant may stay `issuing` before the
	// expiry engine treats it as left behind by a crash and undoes it. It
	// must exceed the issue timeout so that a live request is never undone.
	DefaultIssuingGrace = 2 * time.Minute
	DefaultRetryMin     = time.Second
	DefaultRetryMax     = 5 * time.Minute
	// MaxTTL is the absolute ceiling of any request.
	MaxTTL       = 365 * 24 * time.Hour
	maxTextField = 1024
)

// Decider decides access requests; *policy.Engine implements it.
type Decider interface {
	Decide(p *stint.Principal, req stint.AccessRequest, open []stint.WindowRef, now time.Time) stint.Decision
}

// Resource is a configured resource as the broker sees it.
type Resource struct {
	Name     string
	Type     string // provider type: token, exec, postgres, ...
	Roles    map[string]bool
	Provider stint.Provider
}

// Runtime is the part of the broker that a configuration reload replaces as
// a whole. It is immutable once installed.
type Runtime struct {
	Policy    Decider
	Resources map[string]*Resource
	// LookupPrincipal returns the principal known by name (for explain), or nil.
	LookupPrincipal func(name string) *stint.Principal
	// Windows knows the open windows; nil when no policy has one.
	Windows *Windows
	// ExpiringLead, when positive, has the broker write a grant.expiring
	// audit record (which notifications pick up) this long before an active
	// grant expires. Grants shorter than twice the lead get no warning.
	ExpiringLead time.Duration
}

// Service is the broker. Create it with New, adjust exported fields, then
// install a Runtime with SetRuntime before serving.
type Service struct {
	Store  stint.Store
	Clock  stint.Clock
	Logger *slog.Logger
	// Wake is called with a grant's new DueAt after each write that sets one,
	// so that the expiry engine can re-arm its timer (expiry.Engine.Notify).
	Wake    func(due time.Time)
	Metrics *Metrics

	IssueTimeout  time.Duration
	RevokeTimeout time.Duration
	IssuingGrace  time.Duration
	RetryMin      time.Duration
	RetryMax      time.Duration

	runtime atomic.Pointer[Runtime]
}

var _ stint.GrantService = (*Service)(nil)

// New returns a Service over store with default tunables.
func New(store stint.Store, clock stint.Clock, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		Store:         store,
		Clock:         clock,
		Logger:        logger,
		Wake:          func(time.Time) {},
		IssueTimeout:  DefaultIssueTimeout,
		RevokeTimeout: DefaultRevokeTimeout,
		IssuingGrace:  DefaultIssuingGrace,
		RetryMin:      DefaultRetryMin,
		RetryMax:      DefaultRetryMax,
	}
}

// SetRuntime installs rt; requests from then on use it. Grants already issued
// keep being revoked through the provider of their resource in the newest
// runtime that has it.
func (s *Service) SetRuntime(rt *Runtime) { s.runtime.Store(rt) }

// Runtime returns the installed runtime.
func (s *Service) Runtime() *Runtime { return s.runtime.Load() }

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// expiringLead is the runtime's ExpiringLead (0 without a runtime).
func (s *Service) expiringLead() time.Duration {
	if rt := s.runtime.Load(); rt != nil {
		return rt.ExpiringLead
	}
	return 0
}

// caller returns the authenticated principal of ctx or EUNAUTHORIZED.
func caller(ctx context.Context) (*stint.Principal, error) {
	p := stint.PrincipalFromContext(ctx)
	if p == nil {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "not authenticated")
	}
	return p, nil
}

// provider returns the provider for g's resource in the current runtime.
func (s *Service) provider(g *stint.Grant) (stint.Provider, error) {
	rt := s.runtime.Load()
	if rt == nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "broker not configured")
	}
	res, ok := rt.Resources[g.Resource()]
	if !ok || res.Provider == nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "resource %q is no longer configured", g.Resource())
	}
	return res.Provider, nil
}

// update writes g with its audit record and wakes the expiry engine when g
// has something due.
func (s *Service) update(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	if err := s.Store.UpdateGrant(ctx, g, rec); err != nil {
		return err
	}
	if g.DueAt != nil {
		s.Wake(*g.DueAt)
	}
	return nil
}

// record returns an audit record of type typ about g at now.
func record(now time.Time, typ, actor string, g *stint.Grant, reason string, details map[string]any) *stint.AuditRecord {
	return &stint.AuditRecord{
		Time: now, Type: typ, Actor: actor, GrantID: g.ID, Access: g.Access,
		Reason: reason, Details: details,
	}
}

// backoff returns the delay before revocation attempt n+1 (n >= 1).
func (s *Service) backoff(n int) time.Duration {
	d := s.RetryMin
	for i := 1; i < n && d < s.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.RetryMax)
}

// canSee reports whether p may read g: its requester, or any human.
func canSee(p *stint.Principal, g *stint.Grant) bool {
	return p.Kind == stint.KindHuman || p.Admin || owns(p, g)
}

func timeDuration(d stint.Duration) time.Duration { return time.Duration(d) }

// owns reports whether p is the requester of g. The grants that windows
// provision (principal "window:POLICY") have no owner: only admins act on
// them, whoever might carry that name.
func owns(p *stint.Principal, g *stint.Grant) bool {
	return p.Name == g.Principal && !strings.HasPrefix(g.Principal, provisionPrefix)
}
