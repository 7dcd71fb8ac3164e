// Package clocktest provides a mock stint.Clock that tests drive by hand.
//
// Time stands still until the test calls Add or Set. Timers fire when the
// clock reaches their deadline. Instead of sleeping, a test waits until the
// code under test has armed its timer (BlockUntil, WaitForTimers,
// WaitForDeadline) and then advances the clock:
//
//	clock := clocktest.New(start)
//	go engine.Run(ctx)
//	clock.BlockUntil(1)       // the engine is now waiting on its timer
//	clock.Add(time.Minute)    // fires it
package clocktest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/stint-io/stint"
)

var _ stint.Clock = (*Clock)(nil)

// Clock is a mock stint.Clock. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	armed   []*Timer      // timers waiting for their deadline
	seq     int64         // orders timers with equal deadlines by arming
	arms    int64         // total number of times a timer was armed
	changed chan struct{} // closed and replaced whenever armed or now change
}

// New returns a mock clock reading start.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the mock time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has advanced by d. A
// timer with d <= 0 fires at once, as time.NewTimer does.
func (c *Clock) NewTimer(d time.Duration) stint.Timer {
	t := &Timer{clock: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t, d)
	return t
}

// Add advances the clock by d and fires, in deadline order, every timer whose
// deadline is now reached. Each timer's channel receives its deadline.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t (which may be in the past) and fires the timers
// whose deadline is reached.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

// Timers returns the number of armed timers: created or reset, and neither
// fired nor stopped.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// Deadlines returns the deadlines of the armed timers, earliest first.
func (c *Clock) Deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.armed))
	for i, t := range c.armed {
		out[i] = t.deadline
	}
	return out
}

// Arms returns how many times a timer has been armed (by NewTimer or Reset
// with a positive duration) since the clock was made. A test can read it, do
// something, and wait with WaitForArms for the code to arm its next timer.
func (c *Clock) Arms() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.arms
}

// BlockUntil blocks until at least n timers are armed.
func (c *Clock) BlockUntil(n int) {
	_ = c.WaitForTimers(context.Background(), n)
}

// WaitForTimers waits until at least n timers are armed. It returns
// ctx.Err() if ctx ends first.
func (c *Clock) WaitForTimers(ctx context.Context, n int) error {
	return c.waitFor(ctx, func() bool { return len(c.armed) >= n })
}

// WaitForDeadline waits until a timer is armed with deadline at. It returns
// ctx.Err() if ctx ends first.
func (c *Clock) WaitForDeadline(ctx context.Context, at time.Time) error {
	return c.waitFor(ctx, func() bool {
		for _, t := range c.armed {
			if t.deadline.Equal(at) {
				return true
			}
		}
		return false
	})
}

// WaitForArms waits until timers have been armed at least n times in all
// (see Arms). It returns ctx.Err() if ctx ends first.
func (c *Clock) WaitForArms(ctx context.Context, n int64) error {
	return c.waitFor(ctx, func() bool { return c.arms >= n })
}

// waitFor waits until cond, called with c.mu held, is true.
func (c *Clock) waitFor(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ok, ch := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// broadcast wakes the waiters; c.mu must be held.
func (c *Clock) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// setLocked moves the clock and fires due timers; c.mu must be held.
func (c *Clock) setLocked(now time.Time) {
	c.now = now
	n := 0
	for n < len(c.armed) && !c.armed[n].deadline.After(now) {
		n++
	}
	due := c.armed[:n:n]
	c.armed = slices.Clone(c.armed[n:])
	for _, t := range due {
		t.armed = false
		// The channel is empty: arming drains it, and a timer fires once
		// per arming.
		select {
		case t.ch <- t.deadline:
		default:
		}
	}
	c.broadcast()
}

// arm arms t to fire after d; c.mu must be held.
func (c *Clock) arm(t *Timer, d time.Duration) {
	c.drain(t)
	t.deadline = c.now.Add(d)
	if d <= 0 {
		t.armed = false
		t.ch <- t.deadline
		c.broadcast()
		return
	}
	c.seq++
	c.arms++
	t.armed, t.seq = true, c.seq
	i, _ := slices.BinarySearchFunc(c.armed, t, func(a, b *Timer) int {
		if c := a.deadline.Compare(b.deadline); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	c.armed = slices.Insert(c.armed, i, t)
	c.broadcast()
}

// disarm removes t from the armed timers and reports whether it was armed;
// c.mu must be held.
func (c *Clock) disarm(t *Timer) bool {
	c.drain(t)
	if !t.armed {
		return false
	}
	t.armed = false
	c.armed = slices.DeleteFunc(c.armed, func(x *Timer) bool { return x == t })
	c.broadcast()
	return true
}

// drain empties t's channel so that, as with time.Timer since Go 1.23, no
// stale value is received after Stop or Reset.
func (c *Clock) drain(t *Timer) {
	select {
	case <-t.ch:
	default:
	}
}

// Timer is a timer of a mock Clock.
type Timer struct {
	clock    *Clock
	ch       chan time.Time
	deadline time.Time
	seq      int64
	armed    bool
}

// C returns the channel on which the timer delivers its deadline.
func (t *Timer) C() <-chan time.Time { return t.ch }

// Stop disarms the timer. It reports whether the timer was armed.
func (t *Timer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.clock.disarm(t)
}

// Reset re-arms the timer to fire after d. It reports whether the timer was
// armed before.
func (t *Timer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.clock.disarm(t)
	t.clock.arm(t, d)
	return was
}
