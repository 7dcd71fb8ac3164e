package window

import (
	"math"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// maxRuns bounds every enumeration of cron runs, so that a dense cron with a
// very long duration cannot make a decision slow.
const maxRuns = 100000

// farFuture bounds open-ended enumerations; crons stop after five years
// without a run anyway.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// ScheduleOpen returns the window of p's schedule that contains now:
// [run-lead, run+duration+lag) for a cron run in the schedule's time zone.
// When windows overlap it returns the one that closes last. It returns false
// when no window is open, or when p has no compiled schedule window.
//
// Runs are wall-clock times of the cron in the time zone. A wall time that
// occurs twice (a daylight-saving fall-back) runs once, at its first
// occurrence; a wall time that does not exist (a spring-forward gap) runs at
// the end of the gap, when the clocks jump (as Vixie cron does). A cron
// "@every D" runs at the multiples of D since 0001-01-01 UTC (for a D that
// divides a day: at UTC midnight and every D after), independent of the time
// zone.
func ScheduleOpen(p *policy.Policy, now time.Time) (stint.WindowRef, bool) {
	s, r, ok := scheduleOf(p)
	if !ok {
		return stint.WindowRef{}, false
	}
	run, ok := r.last(now.Add(-sumSat(s.Duration, s.Lag)), now.Add(s.Lead))
	if !ok {
		return stint.WindowRef{}, false
	}
	return scheduleRef(p, s, run), true
}

// ScheduleNext returns the next n windows of p's schedule that open after
// now (Opens > now), in order; fewer when the cron has fewer runs in the next
// five years, and nil when p has no compiled schedule window or n < 1. The
// window open at now, if any, is ScheduleOpen's.
func ScheduleNext(p *policy.Policy, now time.Time, n int) []stint.WindowRef {
	s, r, ok := scheduleOf(p)
	if !ok || n < 1 {
		return nil
	}
	var out []stint.WindowRef
	r.each(now.Add(s.Lead), farFuture, func(run time.Time) bool {
		out = append(out, scheduleRef(p, s, run))
		return len(out) < n
	})
	return out
}

// scheduleSpans returns the windows of p's schedule that are open at some
// instant of (from, to], overlapping and touching ones merged.
func scheduleSpans(p *policy.Policy, from, to time.Time) []span {
	s, r, ok := scheduleOf(p)
	if !ok {
		return nil
	}
	life := sumSat(s.Duration, s.Lag)
	start := from.Add(-life)
	// Runs before the last window open at from close inside it: start there.
	if run, ok := r.last(start, from.Add(s.Lead)); ok {
		start = run.Add(-time.Nanosecond)
	}
	var out []span
	r.each(start, to.Add(s.Lead), func(run time.Time) bool {
		open, close := run.Add(-s.Lead), run.Add(life)
		if n := len(out); n > 0 && !open.After(out[n-1].close) {
			if close.After(out[n-1].close) {
				out[n-1].close = close
			}
			return true
		}
		out = append(out, span{open: open, close: close})
		return true
	})
	return out
}

func scheduleOf(p *policy.Policy) (*policy.ScheduleSpec, runner, bool) {
	if p == nil || p.Window == nil || p.Window.Schedule == nil || p.Window.Schedule.Schedule() == nil {
		return nil, runner{}, false
	}
	s := p.Window.Schedule
	r := runner{sch: s.Schedule(), loc: s.Location()}
	if r.loc == nil {
		r.loc = time.UTC
	}
	if c, ok := r.sch.(cron.ConstantDelaySchedule); ok {
		r.every = c.Delay
	}
	return s, r, true
}

func scheduleRef(p *policy.Policy, s *policy.ScheduleSpec, run time.Time) stint.WindowRef {
	return stint.WindowRef{
		Policy: p.Name,
		Opens:  run.Add(-s.Lead).UTC(),
		Closes: run.Add(sumSat(s.Duration, s.Lag)).UTC(),
	}
}

// runner enumerates the runs of a cron schedule as instants.
type runner struct {
	sch   cron.Schedule
	loc   *time.Location
	every time.Duration // set for "@every"
}

// each calls fn with every run r, from < r <= to, in increasing order and
// each instant once, until fn returns false.
func (r runner) each(from, to time.Time, fn func(time.Time) bool) {
	if r.every > 0 {
		t := from.Truncate(r.every)
		for range maxRuns {
			if t = t.Add(r.every); t.After(to) || !fn(t) {
				return
			}
		}
		return
	}
	// The cron is evaluated on wall clocks written as UTC, then each wall time
	// is mapped to its instant. The mapping is monotonic, so no run after
	// from has a wall time before from's.
	w := wall(from, r.loc).Add(-time.Second)
	var last time.Time
	for range maxRuns {
		if w = r.sch.Next(w); w.IsZero() {
			return // no run within five years
		}
		at := instant(w, r.loc)
		if !at.After(from) || at.Equal(last) {
			continue
		}
		if at.After(to) || !fn(at) {
			return
		}
		last = at
	}
}

// last returns the latest run r with after < r <= to.
func (r runner) last(after, to time.Time) (time.Time, bool) {
	if r.every > 0 {
		t := to.Truncate(r.every)
		return t, t.After(after)
	}
	for step := time.Hour; ; step *= 2 {
		lo := to.Add(-step)
		final := !lo.After(after) || step > 1<<60
		if final {
			lo = after
		}
		var last time.Time
		r.each(lo, to, func(t time.Time) bool { last = t; return true })
		if !last.IsZero() {
			return last, true
		}
		if final {
			return time.Time{}, false
		}
	}
}

// wall returns the wall clock of t in loc, written as a UTC time.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instant returns the instant at which loc's clocks show the wall time w
// (written as UTC): the first one when the wall time occurs twice, and the end
// of the gap when it does not occur at all.
func instant(w time.Time, loc *time.Location) time.Time {
	var best, earliest time.Time
	for _, probe := range []time.Duration{-48 * time.Hour, 0, 48 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		c := w.Add(-time.Duration(off) * time.Second)
		if earliest.IsZero() || c.Before(earliest) {
			earliest = c
		}
		if wall(c, loc).Equal(w) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: the earliest candidate lies before the jump, in the zone
	// that ends where the wall time would have been.
	if _, end := earliest.In(loc).ZoneBounds(); !end.IsZero() {
		return end
	}
	return earliest
}

// sumSat adds durations, saturating instead of overflowing.
func sumSat(a, b time.Duration) time.Duration {
	if s := a + b; (s > a) == (b > 0) {
		return s
	}
	if b > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}
