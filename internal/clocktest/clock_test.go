package clocktest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// received returns the value on c if there is one, without waiting.
func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestClock_Now(t *testing.T) {
	c := clocktest.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Add(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Add: Now = %v, want %v", got, want)
	}
	past := start.Add(-time.Hour)
	c.Set(past)
	if got := c.Now(); !got.Equal(past) {
		t.Fatalf("after Set: Now = %v, want %v", got, past)
	}
}

func TestClock_NewTimer(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		advance time.Duration
		fired   bool
	}{
		{"NotYet", time.Minute, time.Minute - time.Nanosecond, false},
		{"AtDeadline", time.Minute, time.Minute, true},
		{"PastDeadline", time.Minute, time.Hour, true},
		{"Zero", 0, 0, true},
		{"Negative", -time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			tm := c.NewTimer(tt.d)
			c.Add(tt.advance)
			v, ok := received(tm.C())
			if ok != tt.fired {
				t.Fatalf("fired = %v, want %v", ok, tt.fired)
			}
			if ok && !v.Equal(start.Add(tt.d)) {
				t.Errorf("fired with %v, want the deadline %v", v, start.Add(tt.d))
			}
			if want := map[bool]int{true: 0, false: 1}[tt.fired]; c.Timers() != want {
				t.Errorf("Timers = %d, want %d", c.Timers(), want)
			}
		})
	}
}

func TestClock_Add(t *testing.T) {
	t.Run("FiresEachWithItsDeadline", func(t *testing.T) {
		c := clocktest.New(start)
		var order []int
		timers := map[int]stint.Timer{3: c.NewTimer(3 * time.Second), 1: c.NewTimer(time.Second), 2: c.NewTimer(2 * time.Second)}
		c.Add(10 * time.Second)
		// Each channel holds its deadline; sort them by what they received.
		got := map[time.Time]int{}
		for i, tm := range timers {
			v, ok := received(tm.C())
			if !ok {
				t.Fatalf("timer %d did not fire", i)
			}
			got[v] = i
		}
		for _, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
			order = append(order, got[start.Add(d)])
		}
		if order[0] != 1 || order[1] != 2 || order[2] != 3 {
			t.Fatalf("order = %v", order)
		}
	})
	t.Run("OnlyDueTimers", func(t *testing.T) {
		c := clocktest.New(start)
		a := c.NewTimer(time.Second)
		b := c.NewTimer(time.Hour)
		c.Add(time.Minute)
		if _, ok := received(a.C()); !ok {
			t.Error("a did not fire")
		}
		if _, ok := received(b.C()); ok {
			t.Error("b fired early")
		}
		if got := c.Deadlines(); len(got) != 1 || !got[0].Equal(start.Add(time.Hour)) {
			t.Errorf("Deadlines = %v", got)
		}
	})
	t.Run("FiresOnce", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Second)
		c.Add(time.Second)
		<-tm.C()
		c.Add(time.Hour)
		if _, ok := received(tm.C()); ok {
			t.Error("fired twice")
		}
	})
}

func TestClock_Set(t *testing.T) {
	c := clocktest.New(start)
	tm := c.NewTimer(time.Minute)
	c.Set(start.Add(-time.Hour))
	if _, ok := received(tm.C()); ok {
		t.Fatal("fired when the clock went back")
	}
	c.Set(start.Add(time.Minute))
	if _, ok := received(tm.C()); !ok {
		t.Fatal("did not fire at its deadline")
	}
}

func TestTimer_Stop(t *testing.T) {
	t.Run("Armed", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Minute)
		if !tm.Stop() {
			t.Error("Stop = false for an armed timer")
		}
		if c.Timers() != 0 {
			t.Errorf("Timers = %d after Stop", c.Timers())
		}
		c.Add(time.Hour)
		if _, ok := received(tm.C()); ok {
			t.Error("stopped timer fired")
		}
	})
	t.Run("FiredUnread", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Minute)
		c.Add(time.Minute)
		if tm.Stop() {
			t.Error("Stop = true for a fired timer")
		}
		if _, ok := received(tm.C()); ok {
			t.Error("stale value after Stop")
		}
	})
}

func TestTimer_Reset(t *testing.T) {
	t.Run("Armed", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Minute)
		if !tm.Reset(time.Hour) {
			t.Error("Reset = false for an armed timer")
		}
		c.Add(time.Minute)
		if _, ok := received(tm.C()); ok {
			t.Error("fired at the old deadline")
		}
		if c.Timers() != 1 {
			t.Errorf("Timers = %d, want 1", c.Timers())
		}
		c.Add(time.Hour)
		if v, ok := received(tm.C()); !ok || !v.Equal(start.Add(time.Hour)) {
			t.Errorf("got %v, %v; want the new deadline", v, ok)
		}
	})
	t.Run("Fired", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Minute)
		c.Add(time.Minute) // fired, value unread
		if tm.Reset(time.Minute) {
			t.Error("Reset = true for a fired timer")
		}
		if _, ok := received(tm.C()); ok {
			t.Error("stale value after Reset")
		}
		c.Add(time.Minute)
		if _, ok := received(tm.C()); !ok {
			t.Error("did not fire after Reset")
		}
	})
	t.Run("Stopped", func(t *testing.T) {
		c := clocktest.New(start)
		tm := c.NewTimer(time.Minute)
		tm.Stop()
		tm.Reset(time.Second)
		if c.Timers() != 1 {
			t.Fatalf("Timers = %d, want 1", c.Timers())
		}
	})
}

func TestClock_BlockUntil(t *testing.T) {
	c := clocktest.New(start)
	fired := make(chan time.Time)
	go func() {
		tm := c.NewTimer(time.Minute)
		fired <- <-tm.C()
	}()
	c.BlockUntil(1)
	c.Add(time.Minute)
	if v := <-fired; !v.Equal(start.Add(time.Minute)) {
		t.Fatalf("fired with %v", v)
	}
}

func TestClock_WaitForTimers(t *testing.T) {
	t.Run("Armed", func(t *testing.T) {
		c := clocktest.New(start)
		go func() {
			for i := 0; i < 3; i++ {
				c.NewTimer(time.Duration(i+1) * time.Second)
			}
		}()
		if err := c.WaitForTimers(context.Background(), 3); err != nil {
			t.Fatal(err)
		}
		if c.Timers() != 3 {
			t.Fatalf("Timers = %d", c.Timers())
		}
	})
	t.Run("ContextDone", func(t *testing.T) {
		c := clocktest.New(start)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.WaitForTimers(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestClock_WaitForDeadline(t *testing.T) {
	c := clocktest.New(start)
	go func() {
		tm := c.NewTimer(time.Hour)
		tm.Reset(time.Minute)
	}()
	if err := c.WaitForDeadline(context.Background(), start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func TestClock_WaitForArms(t *testing.T) {
	c := clocktest.New(start)
	tm := c.NewTimer(time.Minute)
	n := c.Arms()
	go tm.Reset(time.Hour)
	if err := c.WaitForArms(context.Background(), n+1); err != nil {
		t.Fatal(err)
	}
	if got := c.Deadlines(); len(got) != 1 || !got[0].Equal(start.Add(time.Hour)) {
		t.Fatalf("Deadlines = %v", got)
	}
}

// TestClock_Concurrent exercises the clock from many goroutines for the race
// detector.
func TestClock_Concurrent(t *testing.T) {
	c := clocktest.New(start)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				tm := c.NewTimer(time.Duration(j%5+1) * time.Millisecond)
				_ = c.Now()
				if j%2 == 0 {
					tm.Stop()
				} else {
					tm.Reset(time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < 100; i++ {
		c.Add(time.Millisecond)
		_ = c.Timers()
	}
	wg.Wait()
	c.Add(time.Second)
	if c.Timers() != 0 {
		t.Fatalf("Timers = %d after all deadlines passed", c.Timers())
	}
}
