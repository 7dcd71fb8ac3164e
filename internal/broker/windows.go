package broker

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/window"
)

// DefaultWindowRefresh is how often the events behind event windows are
// re-read from the store even when nothing was received here (another
// replica may have received them).
const DefaultWindowRefresh = 2 * time.Second

// AuditGrantWindowClosed is the audit type of a grant cut short because the
// window it was granted under closed.
const AuditGrantWindowClosed = "grant.window_closed"

// Windows knows which windows are open: schedule windows from the clock,
// event windows from the events in the store, kept in a short-lived cache
// so that requests do not read the store. Safe for concurrent use.
type Windows struct {
	Engine  *policy.Engine
	Store   stint.EventStore
	Refresh time.Duration

	hasSchedule, hasEvent bool

	mu     sync.Mutex
	events []policy.Event
	loaded time.Time // clock time of the last load; zero: stale
}

// NewWindows returns the windows of e's policies over the events in st.
// It returns nil when no policy has a window.
func NewWindows(e *policy.Engine, st stint.EventStore) *Windows {
	w := &Windows{Engine: e, Store: st, Refresh: DefaultWindowRefresh}
	for _, p := range e.Policies() {
		if p.Window == nil {
			continue
		}
		w.hasSchedule = w.hasSchedule || p.Window.Schedule != nil
		w.hasEvent = w.hasEvent || p.Window.Event != nil
	}
	if !w.hasSchedule && !w.hasEvent {
		return nil
	}
	return w
}

// Invalidate makes the next Open re-read the events.
func (w *Windows) Invalidate() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.loaded = time.Time{}
	w.mu.Unlock()
}

// Open returns the windows open at at. now is the current time, which
// decides whether the cached events are fresh. A nil *Windows has none.
func (w *Windows) Open(ctx context.Context, now, at time.Time) ([]stint.WindowRef, error) {
	if w == nil {
		return nil, nil
	}
	var evs []policy.Event
	if w.hasEvent {
		var err error
		if evs, err = w.load(ctx, now); err != nil {
			return nil, err
		}
	}
	return window.Open(w.Engine, evs, at), nil
}

func (w *Windows) load(ctx context.Context, now time.Time) ([]policy.Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.loaded.IsZero() && now.Sub(w.loaded) < w.Refresh && !now.Before(w.loaded) {
		return w.events, nil
	}
	stored, err := w.Store.ListEvents(ctx, now.Add(-window.Lookback(w.Engine)))
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	evs := make([]policy.Event, 0, len(stored))
	for _, e := range stored {
		evs = append(evs, policy.Event{Source: e.Source, Type: e.Type, ID: e.ID, Time: e.Time, Data: e.Data})
	}
	w.events, w.loaded = evs, now
	return evs, nil
}

// openWindows is the runtime's open windows at at; on error it logs and
// returns none, so window policies fail closed.
func (s *Service) openWindows(ctx context.Context, rt *Runtime, at time.Time) []stint.WindowRef {
	open, err := rt.Windows.Open(ctx, s.now(), at)
	if err != nil {
		s.Logger.Error("windows unknown; window policies deny", "err", err)
		return nil
	}
	return open
}

// OpenWindows returns the windows open now and, for schedule windows, the
// next n openings of each policy, sorted by opening. Humans only.
func (s *Service) OpenWindows(ctx context.Context, n int) (open, next []stint.WindowRef, err error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if p.Kind != stint.KindHuman && !p.Admin {
		return nil, nil, stint.Errorf(stint.EDENIED, "only humans may list windows")
	}
	rt := s.runtime.Load()
	if rt == nil || rt.Windows == nil {
		return []stint.WindowRef{}, []stint.WindowRef{}, nil
	}
	now := s.now()
	if open, err = rt.Windows.Open(ctx, now, now); err != nil {
		return nil, nil, stint.Errorf(stint.EUNAVAILABLE, "windows unknown: %v", err)
	}
	next = []stint.WindowRef{}
	for _, pol := range rt.Windows.Engine.Policies() {
		if pol.Window != nil && pol.Window.Schedule != nil {
			next = append(next, window.ScheduleNext(pol, now, n)...)
		}
	}
	sort.Slice(next, func(i, j int) bool { return next[i].Opens.Before(next[j].Opens) })
	if open == nil {
		open = []stint.WindowRef{}
	}
	return open, next, nil
}

// WindowKey names one window of one policy.
type WindowKey struct{ Policy, Key string }

// RunWindows watches windows open and close: it writes window.opened and
// window.closed audit records and cuts short the grants of an event window
// that closed before its max (the grants already expire at the max). It
// wakes every tick, and at once after Wake. Run it once.
func (s *Service) RunWindows(ctx context.Context, tick time.Duration, wake <-chan struct{}) error {
	var prev map[WindowKey]stint.WindowRef
	for {
		if rt := s.runtime.Load(); rt != nil && rt.Windows != nil {
			prev = s.windowStep(ctx, rt, prev)
		}
		t := s.Clock.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// windowStep compares the windows open now with those of the previous step
// (nil: the first step, which records nothing) and acts on the difference.
func (s *Service) windowStep(ctx context.Context, rt *Runtime, prev map[WindowKey]stint.WindowRef) map[WindowKey]stint.WindowRef {
	now := s.now()
	open, err := rt.Windows.Open(ctx, now, now)
	if err != nil {
		s.Logger.Error("windows unknown", "err", err)
		return prev
	}
	cur := make(map[WindowKey]stint.WindowRef, len(open))
	for _, w := range open {
		cur[WindowKey{w.Policy, w.Key}] = w
	}
	// Grants under event windows are checked every step, against the
	// windows now open: whatever closed them (a close event, seen here or by
	// another replica, before or after a restart), their access ends now.
	s.cutClosedWindowGrants(ctx, rt, open, now)
	s.provisionStep(ctx, rt, open, now)
	if prev == nil {
		return cur
	}
	var recs []*stint.AuditRecord
	for k, w := range cur {
		if _, ok := prev[k]; !ok {
			recs = append(recs, windowRecord(now, stint.AuditWindowOpened, w))
		}
	}
	for k, w := range prev {
		if _, ok := cur[k]; !ok {
			recs = append(recs, windowRecord(now, stint.AuditWindowClosed, w))
		}
	}
	if len(recs) > 0 {
		if err := s.Store.AppendAudit(ctx, recs...); err != nil {
			s.Logger.Error("audit window transitions", "err", err)
		}
	}
	return cur
}

func windowRecord(now time.Time, typ string, w stint.WindowRef) *stint.AuditRecord {
	det := map[string]any{"policy": w.Policy, "opens": w.Opens.Format(time.RFC3339), "closes": w.Closes.Format(time.RFC3339)}
	if w.Key != "" {
		det["key"] = w.Key
	}
	return &stint.AuditRecord{Time: now, Type: typ, Actor: stint.ActorStint, Reason: w.Policy, Details: det}
}

// eventWindowPolicy reports whether policy name of rt has an event window.
func eventWindowPolicy(rt *Runtime, name string) bool {
	if rt.Windows == nil {
		return false
	}
	p := rt.Windows.Engine.Policy(name)
	return p != nil && p.Window != nil && p.Window.Event != nil
}

// inWindow reports whether g, granted under an event window, may still hold
// access given the windows open now: its policy and key must be open, in a
// window that opened no later than the grant (a window that closed and
// opened again is another window). Grants without a window, or under a
// schedule window (which never closes early), always may.
func inWindow(rt *Runtime, g *stint.Grant, open []stint.WindowRef) bool {
	if g.Window == nil || !eventWindowPolicy(rt, g.Window.Policy) {
		return true
	}
	since := g.RequestedAt
	if g.ActivatedAt != nil {
		since = *g.ActivatedAt
	}
	for _, w := range open {
		if w.Policy == g.Window.Policy && w.Key == g.Window.Key && !w.Opens.After(since) {
			return true
		}
	}
	return false
}

// cutClosedWindowGrants ends now the active grants whose event window is no
// longer open: they expire through the expiry engine. A grant still being
// issued is checked by activate itself.
func (s *Service) cutClosedWindowGrants(ctx context.Context, rt *Runtime, open []stint.WindowRef, now time.Time) {
	for _, pol := range rt.Windows.Engine.Policies() {
		if pol.Window == nil {
			continue
		}
		f := stint.GrantFilter{Policy: pol.Name, State: []stint.State{stint.StateActive}, Limit: 1000}
		for {
			gs, next, err := s.Store.ListGrants(ctx, f)
			if err != nil {
				s.Logger.Error("list grants of event windows", "policy", pol.Name, "err", err)
				break
			}
			for _, g := range gs {
				if g.Window == nil || !g.ExpiresAt.After(now) {
					continue
				}
				end, cut := now, !inWindow(rt, g, open)
				if !cut && !eventWindowPolicy(rt, pol.Name) {
					// A schedule window never closes early, but a reload may
					// have shortened or removed it: no grant outlives the
					// window in force.
					end, cut = now, true
					for _, w := range open {
						if w.Policy == pol.Name && w.Key == g.Window.Key {
							end, cut = w.Closes, g.ExpiresAt.After(w.Closes)
							break
						}
					}
				}
				if !cut {
					continue
				}
				g.ExpiresAt, g.DueAt = stint.TimePtr(end), stint.TimePtr(end)
				g.Window.Closes = end
				rec := record(now, AuditGrantWindowClosed, stint.ActorStint, g, "window closed", map[string]any{"policy": g.Window.Policy, "key": g.Window.Key})
				// A conflict (renewed or revoked meanwhile) is looked at
				// again at the next step.
				if err := s.update(ctx, g, rec); err != nil && stint.ErrorCode(err) != stint.ECONFLICT {
					s.Logger.Error("cut short a grant of a closed window", "grant", g.ID, "err", err)
				}
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
	}
}

// windowOpen reports whether window w (policy and key) is open at now; the
// answer is no when the windows cannot be known.
func (s *Service) windowOpen(ctx context.Context, w stint.WindowRef, now time.Time) bool {
	rt := s.runtime.Load()
	if rt == nil {
		return false
	}
	for _, o := range s.openWindows(ctx, rt, now) {
		if o.Policy == w.Policy && o.Key == w.Key {
			return true
		}
	}
	return false
}

// stillInWindow reports whether g may still hold access under its window now
// (see inWindow); no when the windows cannot be known.
func (s *Service) stillInWindow(ctx context.Context, g *stint.Grant) bool {
	rt := s.runtime.Load()
	if rt == nil {
		return false
	}
	if g.Window == nil || !eventWindowPolicy(rt, g.Window.Policy) {
		return true
	}
	return inWindow(rt, g, s.openWindows(ctx, rt, s.now()))
}
