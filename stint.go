// Package stint holds the domain of Stint, a just-in-time access broker for
// non-human identities: grants and their states, principals, policy decisions,
// the audit record, and the interfaces (Provider, Store, services) that the
// adapters in the sub-packages implement.
//
// This package imports only the standard library. Everything else imports it;
// only cmd/stint wires the adapters together.
package stint

import (
	"context"
	"time"
)

// Clock is the source of time for everything that reads the clock. Tests
// inject a mock clock (internal/clocktest) and drive time instead of sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is the subset of *time.Timer that Clock users need.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped it.
	Stop() bool
	// Reset changes the timer to fire after d.
	Reset(d time.Duration) bool
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return &systemTimer{t: time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (s *systemTimer) C() <-chan time.Time        { return s.t.C }
func (s *systemTimer) Stop() bool                 { return s.t.Stop() }
func (s *systemTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }

// principalKey is the context key of the authenticated principal.
type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying the authenticated principal p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the authenticated principal of ctx, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
