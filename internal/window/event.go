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
// window for its key, [event time, event time + max); a re-open of an open
// window extends it to max after the re-open. An event whose close
// condition holds closes the key's open window at its time; a close with no
// open window is ignored. An event matching both closes (fail closed). An
// expression that fails on an event never opens; a close whose key cannot be
// computed closes every window of the policy. Without a key expression the
// key is the event's Key, "" as parsed by internal/events: one window per
// policy.
//
// Whether a key's window is open at now depends only on the events of the
// last max (its latest open, and any close after it); Lookback (twice the
// longest max) also keeps a window's Opens stable for the grants under it.
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
		if m, _ := e.MatchEvent(p.Name, ev); m.Open || m.Close || m.CloseAll {
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
		// An expression that fails leaves m fail-closed (see MatchEvent).
		m, _ := e.MatchEvent(p.Name, ev)
		if m.CloseAll {
			for _, i := range open {
				if ev.Time.Before(out[i].close) {
					out[i].close = ev.Time
				}
			}
			continue
		}
		if !(m.Open || m.Close) {
			continue
		}
		i, ok := open[m.Key]
		isOpen := ok && ev.Time.Before(out[i].close)
		switch {
		case m.Close:
			if isOpen {
				out[i].close = ev.Time
			}
		case isOpen:
			// A re-open (the incident fires again) keeps the window open
			// until max after it: whether a window is open then depends
			// only on the events of the last max, whatever came before.
			if c := ev.Time.Add(spec.Max); c.After(out[i].close) {
				out[i].close = c
			}
		default:
			open[m.Key] = len(out)
			out = append(out, span{key: m.Key, open: ev.Time, close: ev.Time.Add(spec.Max)})
		}
	}
	// A close at the instant of its open leaves an empty window: none.
	return slices.DeleteFunc(out, func(s span) bool { return !s.open.Before(s.close) })
}
