package window_test

import (
	"testing"
	"time"

	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/window"
)

// A close event on which the OPEN expression errors (a field the close
// payload lacks) is ignored: the window stays open until max.
func TestReview_CloseIgnoredWhenOpenExprErrors(t *testing.T) {
	p := &policy.Policy{Name: "ir2", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{
			Source: "pagerduty",
			Open:   `event.data.priority.summary == "P1"`,
			Close:  `event.type == "incident.resolved"`,
			Key:    `event.data.id`,
			Max:    4 * time.Hour,
		}}}
	e := MustCompile(t, p)
	open := policy.Event{Source: "pagerduty", Type: "incident.triggered", ID: "1", Time: t0,
		Data: map[string]any{"id": "A", "priority": map[string]any{"summary": "P1"}}}
	// PagerDuty sends priority: null when unset; here the resolve lacks it.
	closeEv := policy.Event{Source: "pagerduty", Type: "incident.resolved", ID: "2", Time: t0.Add(time.Hour),
		Data: map[string]any{"id": "A", "priority": nil}}
	got := window.EventWindows(e, e.Policies()[0], []policy.Event{open, closeEv}, t0.Add(2*time.Hour))
	if len(got) != 0 {
		t.Fatalf("window still open after its close event: %+v", got)
	}
}

// Lookback truncation: a re-open ignored under the full history opens a
// window when the history is cut at now-Lookback.
func TestReview_LookbackTruncationOpens(t *testing.T) {
	const h, m = time.Hour, time.Minute
	p := irPolicy()
	p.Window.Event.Max = h
	e := MustCompile(t, p)
	evs := []policy.Event{trig("1", "A", -2*h-10*m), trig("2", "A", -2*h+10*m), trig("3", "A", -h-5*m), trig("4", "A", -40*m)}
	now := t0
	full := window.EventWindows(e, e.Policies()[0], evs, now)
	var cut []policy.Event
	for _, ev := range evs {
		if !ev.Time.Before(now.Add(-window.Lookback(e))) {
			cut = append(cut, ev)
		}
	}
	trunc := window.EventWindows(e, e.Policies()[0], cut, now)
	if len(full) != len(trunc) {
		t.Fatalf("full history: %v; as the server sees it (since now-%s): %v", full, window.Lookback(e), trunc)
	}
}
