// Package window computes the access windows of policies: scheduled windows
// from cron, event windows from received webhook events. It is pure: no I/O
// and no clock reads; callers pass the time and the stored events.
package window

import (
	"cmp"
	"slices"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// Transition is a window of a policy opening or closing.
type Transition struct {
	Policy string
	Key    string // the event key; "" for schedule windows
	At     time.Time
	Opened bool // true: the window opened at At; false: it closed
	// Edge marks the transitions that change whether the policy has any
	// window open: the first opening and the last closing of overlapping
	// windows of different keys (one transition per edge). Provision roles
	// on an opening edge and revoke them on a closing edge.
	Edge bool
	// Window is the window as known from the events given: for an event
	// window still open at the end of the range, Closes is its max bound.
	Window stint.WindowRef
}

// Open returns every window open at now across the policies of e, schedule
// and event windows alike: the open argument of (*policy.Engine).Decide.
// events are the stored events of all sources (see EventWindows and
// Lookback). Returns nil for a nil engine.
func Open(e *policy.Engine, events []policy.Event, now time.Time) []stint.WindowRef {
	if e == nil {
		return nil
	}
	var out []stint.WindowRef
	for _, p := range e.Policies() {
		switch {
		case p.Window == nil:
		case p.Window.Schedule != nil:
			if w, ok := ScheduleOpen(p, now); ok {
				out = append(out, w)
			}
		case p.Window.Event != nil:
			out = append(out, EventWindows(e, p, events, now)...)
		}
	}
	return out
}

// Transitions returns the windows of e's policies opening or closing at an
// instant of (from, to], ordered by time, closings before openings at the same
// instant, then by policy and key. Overlapping or touching windows of one
// policy and key (schedule runs closer than their windows are long) count as
// one. Only events with Time <= to count, so a late-arriving event dated
// before from yields no transition here: compare Open at the next tick to
// catch it.
func Transitions(e *policy.Engine, events []policy.Event, from, to time.Time) []Transition {
	if e == nil || !to.After(from) {
		return nil
	}
	var out []Transition
	for _, p := range e.Policies() {
		var spans []span
		switch {
		case p.Window == nil:
			continue
		case p.Window.Schedule != nil:
			spans = scheduleSpans(p, from, to)
		case p.Window.Event != nil:
			spans = eventSpans(e, p, events, to)
		}
		out = append(out, transitions(p.Name, spans, from, to)...)
	}
	slices.SortStableFunc(out, compareTransitions)
	return out
}

// span is one window of a policy.
type span struct {
	key         string
	open, close time.Time
}

func (s span) ref(policy string) stint.WindowRef {
	return stint.WindowRef{Policy: policy, Key: s.key, Opens: s.open.UTC(), Closes: s.close.UTC()}
}

// transitions turns one policy's windows (non-overlapping within a key) into
// the transitions in (from, to], marking the edges of their union.
func transitions(policy string, spans []span, from, to time.Time) []Transition {
	in := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	var out []Transition
	for _, s := range spans {
		if in(s.open) {
			out = append(out, Transition{Policy: policy, Key: s.key, At: s.open.UTC(), Opened: true, Window: s.ref(policy)})
		}
		if in(s.close) {
			out = append(out, Transition{Policy: policy, Key: s.key, At: s.close.UTC(), Window: s.ref(policy)})
		}
	}
	slices.SortStableFunc(out, compareTransitions)
	for _, u := range union(spans) {
		if in(u.open) {
			if i := slices.IndexFunc(out, func(t Transition) bool { return t.Opened && t.At.Equal(u.open) }); i >= 0 {
				out[i].Edge = true
			}
		}
		if in(u.close) {
			for i := len(out) - 1; i >= 0; i-- {
				if !out[i].Opened && out[i].At.Equal(u.close) {
					out[i].Edge = true
					break
				}
			}
		}
	}
	return out
}

// union merges overlapping and touching spans.
func union(spans []span) []span {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int { return a.open.Compare(b.open) })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && !x.open.After(out[n-1].close) {
			if x.close.After(out[n-1].close) {
				out[n-1].close = x.close
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

func compareTransitions(a, b Transition) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if a.Opened != b.Opened {
		if a.Opened {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.Key, b.Key))
}
