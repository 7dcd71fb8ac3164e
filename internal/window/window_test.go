package window_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/window"
)

// tr is a transition without its Window, for comparing.
type tr struct {
	Policy, Key string
	At          time.Duration
	Opened      bool
	Edge        bool
}

func strip(ts []window.Transition) []tr {
	out := []tr{}
	for _, t := range ts {
		out = append(out, tr{t.Policy, t.Key, t.At.Sub(t0), t.Opened, t.Edge})
	}
	return out
}

func TestTransitions(t *testing.T) {
	const h, m = time.Hour, time.Minute
	nightly := &policy.Policy{Name: "nightly", Who: "true", Access: []string{"db/ro"}, TTL: h,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 11 * * *", Duration: h, Lead: 15 * m, Lag: 15 * m}}}
	// Runs every 30 minutes from 10:00 to 11:30 with 45-minute windows: one
	// merged window 10:00-12:15.
	merged := &policy.Policy{Name: "merged", Who: "true", Access: []string{"db/ro"}, TTL: h,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0,30 10,11 * * *", Duration: 45 * m}}}
	hourly := &policy.Policy{Name: "hourly", Who: "true", Access: []string{"db/ro"}, TTL: h,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 * * * *", Duration: 2 * h}}}
	e := MustCompile(t, nightly, merged, hourly, irPolicy(), deployPolicy())
	events := []policy.Event{
		trig("1", "A", 0), trig("2", "B", h), resolve("3", "A", 2*h), resolve("4", "B", 3*h),
		trig("5", "C", 4*h), // closes at max, 8h
		gh("g1", "deployment.created", 30*m), gh("g2", "deployment.finished", 90*m),
	}
	tests := []struct {
		name     string
		from, to time.Duration
		want     []tr
	}{
		{"Day", -h, 9 * h, []tr{
			{"ir", "A", 0, true, true},
			{"merged", "", 0, true, true},
			{"deploy", "", 30 * m, true, true},
			{"nightly", "", 45 * m, true, true},
			{"ir", "B", h, true, false},
			{"deploy", "", 90 * m, false, true},
			{"ir", "A", 2 * h, false, false},
			{"merged", "", 2*h + 15*m, false, true},
			{"nightly", "", 2*h + 15*m, false, true},
			{"ir", "B", 3 * h, false, true},
			{"ir", "C", 4 * h, true, true},
			{"ir", "C", 8 * h, false, true},
		}},
		{"FromExcludedToIncluded", 0, 45 * m, []tr{
			{"deploy", "", 30 * m, true, true},
			{"nightly", "", 45 * m, true, true},
		}},
		{"InsideMerged", 30 * m, 2 * h, []tr{
			{"nightly", "", 45 * m, true, true},
			{"ir", "B", h, true, false},
			{"deploy", "", 90 * m, false, true},
			{"ir", "A", 2 * h, false, false},
		}},
		{"Empty", 5 * h, 5 * h, []tr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strip(window.Transitions(e, events, t0.Add(tt.from), t0.Add(tt.to)))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestTransitions_Window(t *testing.T) {
	e := MustCompile(t, irPolicy())
	events := []policy.Event{trig("1", "A", 0), resolve("2", "A", time.Hour)}
	got := window.Transitions(e, events, t0.Add(-time.Minute), t0.Add(time.Minute))
	if len(got) != 1 || got[0].Window != win("ir", "A", 0, 4*time.Hour) {
		t.Fatalf("before the close: got %+v", got)
	}
	got = window.Transitions(e, events, t0.Add(-time.Minute), t0.Add(2*time.Hour))
	if len(got) != 2 || got[1].Window != win("ir", "A", 0, time.Hour) || !got[1].At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the close: got %+v", got)
	}
}
