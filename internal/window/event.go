package window

import (
	"slices"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// Event is a received webhook event as stored by the server.
type Event = policy.Event

// EventWindows returns the windows of p's event window that are open at now,
// one per key, from events (any order, any sources; only those of p's source
// with Time <= now count). Returns nil when p has no event window.
//
// The events are folded in time order (ties in the order given; a repeated
// non-empty ID counts once). An event whose open condition holds opens a
// window for its key, [event time, event time + max), unless one is already
// open for that key: a re-open keeps the open window and does not extend it,
// so max bounds every window. An event whose close condition holds closes
// the key's open window at its time; a close with no open window is ignored.
// An event matching both closes (fail closed). An event on which a CEL
// expression fails neither opens nor closes. Without a key expression the
// key is the event's Key, "" as parsed by internal/events: one window per
// policy.
//
// The result is exact when events reach back to a time when no window of p
// was open; Lookback gives a history long enough unless one key is
// re-opened without pause.
func EventWindows(e *policy.Engine, p *policy.Policy, events []policy.Event, now time.Time) []stint.WindowRef {
	var out []stint.WindowRef
	for _, s := range eventSpans(e, p, events, now) {
		if !now.Before(s.open) && now.Before(s.close) {
			out = append(out, s.ref(p.Name))
		}
	}
	return out
}

// Lookback returns how far back the events passed to EventWindows, Open and
// Transitions should reach: twice the longest max of the event windows of e
// (0 when there are none).
func Lookback(e *policy.Engine) time.Duration {
	var m time.Duration
	for _, p := range e.Policies() {
		if p.Window != nil && p.Window.Event != nil && p.Window.Event.Max > m {
			m = p.Window.Event.Max
		}
	}
	return sumSat(m, m)
}

// Relevant reports whether ev opens or closes a window of any policy of e: the
// server may keep only relevant events. An event on which a CEL expression
// fails is not relevant.
func Relevant(e *policy.Engine, ev policy.Event) bool {
	for _, p := range e.Policies() {
		if m, err := e.MatchEvent(p.Name, ev); err == nil && (m.Open || m.Close) {
			return true
		}
	}
	return false
}

// eventSpans folds the events of p's source up to until into the windows of
// p, in order of opening; a window still open at until has its max bound as
// close.
func eventSpans(e *policy.Engine, p *policy.Policy, events []policy.Event, until time.Time) []span {
	if e == nil || p == nil || p.Window == nil || p.Window.Event == nil {
		return nil
	}
	spec := p.Window.Event
	var mine []policy.Event
	for _, ev := range events {
		if ev.Source == spec.Source && !ev.Time.After(until) {
			mine = append(mine, ev)
		}
	}
	slices.SortStableFunc(mine, func(a, b policy.Event) int { return a.Time.Compare(b.Time) })
	var out []span
	open := map[string]int{} // key -> index in out of its latest window
	seen := map[string]bool{}
	for _, ev := range mine {
		if ev.ID != "" {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
		}
		m, err := e.MatchEvent(p.Name, ev)
		if err != nil || !(m.Open || m.Close) {
			continue
		}
		i, ok := open[m.Key]
		isOpen := ok && ev.Time.Before(out[i].close)
		switch {
		case m.Close:
			if isOpen {
				out[i].close = ev.Time
			}
		case !isOpen:
			open[m.Key] = len(out)
			out = append(out, span{key: m.Key, open: ev.Time, close: ev.Time.Add(spec.Max)})
		}
	}
	// A close at the instant of its open leaves an empty window: none.
	return slices.DeleteFunc(out, func(s span) bool { return !s.open.Before(s.close) })
}
