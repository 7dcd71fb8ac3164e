package broker

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/store/sqlite"
)

var rt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const revConfig = `
auth:
  tokens:
    - { subject: svc/bot, kind: workload, sha256: 0000000000000000000000000000000000000000000000000000000000000001 }
events:
  pagerduty: { type: pagerduty, secret: s3cret }
resources:
  legacy:
    provider: exec
    grant: [/bin/true]
    revoke: [/bin/true]
    roles:
      operator: {}
policies:
  - name: ir
    who: principal.name == "svc/bot"
    access: [legacy/operator]
    ttl: 1h
    max_ttl: 2h
    window:
      event:
        source: pagerduty
        open: event.type == "incident.triggered"
        close: event.type == "incident.resolved"
        key: event.data.id
        max: 4h
`

// slowProvider blocks Issue until release is closed.
type slowProvider struct {
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (p *slowProvider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	if p.entered != nil {
		close(p.entered)
		p.entered = nil
		<-p.release
	}
	return &stint.Credential{}, nil
}
func (p *slowProvider) Revoke(ctx context.Context, g *stint.Grant) error { return nil }

type revEnv struct {
	svc   *Service
	st    *sqlite.Store
	clock *clocktest.Clock
	rt    *Runtime
	prov  *slowProvider
}

func newRevEnv(t *testing.T) *revEnv {
	dir := t.TempDir()
	clock := clocktest.New(rt0)
	logger := slog.New(slog.DiscardHandler)
	factories := map[string]stint.ProviderFactory{"exec": exec.NewFactory()}
	cfg, err := config.Parse("stint.yaml", []byte(revConfig), factories, config.Options{DataDir: dir, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "stint.db"), clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := New(st, clock, logger)
	prov := &slowProvider{}
	rt := &Runtime{Policy: cfg.Policy, Resources: map[string]*Resource{
		"legacy": {Name: "legacy", Type: "exec", Roles: map[string]bool{"operator": true}, Provider: prov}}}
	rt.Windows = NewWindows(cfg.Policy, st)
	svc.SetRuntime(rt)
	return &revEnv{svc, st, clock, rt, prov}
}

func (e *revEnv) event(t *testing.T, id, typ, incident string) {
	t.Helper()
	now := e.clock.Now().UTC()
	ev := &stint.Event{Source: "pagerduty", Type: typ, ID: id, Time: now, ReceivedAt: now, Data: map[string]any{"id": incident}}
	if _, err := e.st.AppendEvent(context.Background(), ev, nil); err != nil {
		t.Fatal(err)
	}
	e.rt.Windows.Invalidate()
}

var bot = &stint.Principal{Name: "svc/bot", Kind: stint.KindWorkload}

func botCtx() context.Context { return stint.NewContextWithPrincipal(context.Background(), bot) }

func (e *revEnv) request(t *testing.T) *stint.Grant {
	t.Helper()
	res, err := e.svc.RequestGrant(botCtx(), stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "legacy/operator"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Grant
}

// These tests come from a review: each failed before the fix.

// A grant whose provider call is in flight (state issuing) when the close
// event is processed must not become active.
func TestReview_IssuingGrantOutlivesClosedWindow(t *testing.T) {
	e := newRevEnv(t)
	ctx := context.Background()
	e.event(t, "ev-1", "incident.triggered", "P1")
	prev := e.svc.windowStep(ctx, e.rt, nil)

	e.prov.entered, e.prov.release = make(chan struct{}), make(chan struct{})
	entered := e.prov.entered
	done := make(chan *stint.Grant)
	go func() {
		// The window closes while the provider works: the issue is undone.
		res, _ := e.svc.RequestGrant(botCtx(), stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "legacy/operator"}})
		done <- res.Grant
	}()
	<-entered // the grant is `issuing`, its provider call under way

	e.clock.Add(time.Minute)
	e.event(t, "ev-2", "incident.resolved", "P1")
	closeAt := e.clock.Now().UTC()
	prev = e.svc.windowStep(ctx, e.rt, prev) // the window watcher, woken by the intake
	close(e.prov.release)
	g := <-done
	e.clock.Add(time.Second)
	e.svc.windowStep(ctx, e.rt, prev)

	g, _ = e.st.GetGrant(ctx, g.ID)
	if g.State != stint.StateFailed {
		t.Fatalf("grant %s is %s (until %s), window closed at %s; want failed", g.ID, g.State, g.ExpiresAt, closeAt)
	}
}

// After a restart the first step must still cut the grants of a window that
// closed while the watcher was not running.
func TestReview_RestartMissesEarlyClose(t *testing.T) {
	e := newRevEnv(t)
	ctx := context.Background()
	e.event(t, "ev-1", "incident.triggered", "P1")
	g := e.request(t)
	// The close arrives; the process restarts before the watcher's next step
	// (or another replica received the event).
	e.clock.Add(time.Minute)
	e.event(t, "ev-2", "incident.resolved", "P1")
	closeAt := e.clock.Now().UTC()
	prev := e.svc.windowStep(ctx, e.rt, nil) // first step after restart
	e.clock.Add(time.Second)
	e.svc.windowStep(ctx, e.rt, prev)
	g, _ = e.st.GetGrant(ctx, g.ID)
	if g.State == stint.StateActive && g.ExpiresAt.After(closeAt) {
		t.Fatalf("grant %s active until %s, window closed at %s", g.ID, g.ExpiresAt, closeAt)
	}
}

// Baseline: the normal path does cut the grant.
func TestReview_Baseline(t *testing.T) {
	e := newRevEnv(t)
	ctx := context.Background()
	e.event(t, "ev-1", "incident.triggered", "P1")
	prev := e.svc.windowStep(ctx, e.rt, nil)
	g := e.request(t)
	e.clock.Add(time.Minute)
	e.event(t, "ev-2", "incident.resolved", "P1")
	e.svc.windowStep(ctx, e.rt, prev)
	g, _ = e.st.GetGrant(ctx, g.ID)
	if g.ExpiresAt.After(e.clock.Now()) {
		t.Fatalf("baseline: grant not cut: %s", g.ExpiresAt)
	}
}

// racingStore runs hook once, right after the first policy listing returns.
type racingStore struct {
	stint.Store
	hook func()
}

func (s *racingStore) ListGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	gs, next, err := s.Store.ListGrants(ctx, f)
	if f.Policy != "" && s.hook != nil {
		h := s.hook
		s.hook = nil
		h()
	}
	return gs, next, err
}

// A renewal racing the cut must not keep the grant past the window's close.
func TestReview_RenewRaceDefeatsCut(t *testing.T) {
	e := newRevEnv(t)
	ctx := context.Background()
	e.event(t, "ev-1", "incident.triggered", "P1")
	prev := e.svc.windowStep(ctx, e.rt, nil)
	g := e.request(t)
	e.clock.Add(time.Minute)
	e.event(t, "ev-2", "incident.resolved", "P1")
	closeAt := e.clock.Now().UTC()
	e.svc.Store = &racingStore{Store: e.st, hook: func() {
		// Refused: the window has closed (a renewal that got in would be
		// cut at the next step).
		if _, err := e.svc.RenewGrant(botCtx(), g.ID, 0); stint.ErrorCode(err) != stint.ECONFLICT {
			t.Errorf("renew after the close: %v, want ECONFLICT", err)
		}
	}}
	e.svc.windowStep(ctx, e.rt, prev)
	g, _ = e.st.GetGrant(ctx, g.ID)
	if g.State == stint.StateActive && g.ExpiresAt.After(closeAt) {
		t.Fatalf("grant %s active until %s, window closed at %s", g.ID, g.ExpiresAt, closeAt)
	}
}
