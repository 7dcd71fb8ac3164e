package expiry_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/expiry"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// guard bounds how long a test waits for something that must happen; it is
// a failsafe, never a way to let logic run.
const guard = 20 * time.Second

// newGrant returns an active grant due at due.
func newGrant(due time.Time) *stint.Grant {
	return &stint.Grant{
		ID:          stint.NewID(start),
		Principal:   "ci",
		Access:      "db/read",
		State:       stint.StateActive,
		RequestedAt: start,
		ExpiresAt:   stint.TimePtr(due),
		DueAt:       stint.TimePtr(due),
	}
}

// expirer is a Handler that expires each grant in the store, as the broker
// does, and reports each call on calls.
type expirer struct {
	store stint.Store
	clock stint.Clock
	calls chan string
	fail  func(g *stint.Grant) error // nil: never fails
}

func newExpirer(s stint.Store, c stint.Clock) *expirer {
	return &expirer{store: s, clock: c, calls: make(chan string, 100000)}
}

func (h *expirer) HandleDue(ctx context.Context, g *stint.Grant) error {
	h.calls <- g.ID
	if h.fail != nil {
		if err := h.fail(g); err != nil {
			return err
		}
	}
	now := h.clock.Now()
	g.State, g.EndedAt, g.DueAt = stint.StateExpired, stint.TimePtr(now), nil
	return h.store.UpdateGrant(ctx, g, &stint.AuditRecord{
		Time: now, Type: stint.AuditGrantExpired, Actor: stint.ActorStint, GrantID: g.ID, Access: g.Access,
	})
}

// recorder is a Metrics that keeps what it is told.
type recorder struct {
	mu          sync.Mutex
	handled     int
	lags        []time.Duration
	failed      int
	storeFailed int
	events      chan struct{} // one per call
}

func newRecorder() *recorder { return &recorder{events: make(chan struct{}, 100000)} }

func (r *recorder) Handled(g *stint.Grant, lag time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handled++
	r.lags = append(r.lags, lag)
	r.events <- struct{}{}
}

func (r *recorder) Failed(g *stint.Grant, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	r.events <- struct{}{}
}

func (r *recorder) StoreFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.storeFailed++
	r.events <- struct{}{}
}

// wait waits until the recorder has been called n times in all.
func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.events:
		case <-time.After(guard):
			t.Fatalf("metrics: %d of %d calls", i, n)
		}
	}
}

func (r *recorder) counts() (handled, failed, storeFailed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handled, r.failed, r.storeFailed
}

// run starts e and returns a function that stops it and checks that Run
// returned nil.
func run(t *testing.T, e *expiry.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(guard):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitCall waits for the next handler call and returns its grant id.
func waitCall(t *testing.T, calls <-chan string) string {
	t.Helper()
	select {
	case id := <-calls:
		return id
	case <-time.After(guard):
		t.Fatal("handler was not called")
		return ""
	}
}

// waitDeadline waits until the engine armed its timer for at.
func waitDeadline(t *testing.T, c *clocktest.Clock, at time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := c.WaitForDeadline(ctx, at); err != nil {
		t.Fatalf("no timer armed for %v (deadlines %v)", at, c.Deadlines())
	}
}

func noCall(t *testing.T, calls <-chan string) {
	t.Helper()
	select {
	case id := <-calls:
		t.Fatalf("handler called early for %s", id)
	default:
	}
}

func TestNewEngine_Defaults(t *testing.T) {
	e := expiry.NewEngine(newMemStore(), expiry.HandlerFunc(func(context.Context, *stint.Grant) error { return nil }), nil, nil)
	if e.Concurrency != expiry.DefaultConcurrency || e.BatchSize != expiry.DefaultBatchSize ||
		e.ClaimLease != expiry.DefaultClaimLease || e.MaxSleep != expiry.DefaultMaxSleep ||
		e.BackoffMin != expiry.DefaultBackoffMin || e.BackoffMax != expiry.DefaultBackoffMax {
		t.Fatalf("defaults not set: %+v", e)
	}
	if expiry.DefaultConcurrency != 32 || expiry.DefaultBatchSize != 256 {
		t.Fatal("defaults changed")
	}
}

func TestEngine_Run(t *testing.T) {
	t.Run("HandledAtDueNotBefore", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		g := newGrant(start.Add(10 * time.Minute))
		s.put(g)
		h := newExpirer(s, clock)
		m := newRecorder()
		e := expiry.NewEngine(s, h, clock, nil)
		e.MaxSleep, e.Metrics = time.Hour, m
		run(t, e)

		waitDeadline(t, clock, start.Add(10*time.Minute))
		clock.Add(10*time.Minute - time.Nanosecond)
		noCall(t, h.calls)
		if clock.Timers() != 1 {
			t.Fatalf("Timers = %d, want 1", clock.Timers())
		}
		clock.Add(time.Nanosecond)
		if id := waitCall(t, h.calls); id != g.ID {
			t.Fatalf("handled %s, want %s", id, g.ID)
		}
		// After handling, nothing is due: the engine sleeps MaxSleep.
		waitDeadline(t, clock, start.Add(10*time.Minute+time.Hour))
		if got := s.get(g.ID); got.State != stint.StateExpired {
			t.Errorf("state = %s, want expired", got.State)
		}
		m.wait(t, 1)
		if handled, _, _ := m.counts(); handled != 1 || m.lags[0] != 0 {
			t.Errorf("handled = %d, lags = %v; want 1, [0]", handled, m.lags)
		}
	})

	t.Run("MaxSleepCapsTheWait", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		s.put(newGrant(start.Add(90 * time.Second)))
		h := newExpirer(s, clock)
		e := expiry.NewEngine(s, h, clock, nil)
		run(t, e)

		waitDeadline(t, clock, start.Add(expiry.DefaultMaxSleep))
		clock.Add(expiry.DefaultMaxSleep)
		waitDeadline(t, clock, start.Add(90*time.Second))
		noCall(t, h.calls)
		clock.Add(30 * time.Second)
		waitCall(t, h.calls)
	})

	t.Run("OneTimerForManyGrants", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		for i := 1; i <= 1000; i++ {
			s.put(newGrant(start.Add(time.Duration(i) * time.Second)))
		}
		h := newExpirer(s, clock)
		e := expiry.NewEngine(s, h, clock, nil)
		run(t, e)

		for i := 1; i <= 3; i++ {
			waitDeadline(t, clock, start.Add(time.Duration(i)*time.Second))
			if n := clock.Timers(); n != 1 {
				t.Fatalf("Timers = %d, want 1", n)
			}
			clock.Add(time.Second)
			waitCall(t, h.calls)
		}
	})

	t.Run("CatchUpBoundedConcurrency", func(t *testing.T) {
		const n, conc = 10000, 8
		clock := clocktest.New(start)
		s := newMemStore()
		for i := 0; i < n; i++ {
			s.put(newGrant(start.Add(-time.Hour)))
		}
		var inflight, peak atomic.Int64
		gate := make(chan struct{})
		var gateOnce sync.Once
		h := newExpirer(s, clock)
		h.fail = func(*stint.Grant) error {
			cur := inflight.Add(1)
			defer inflight.Add(-1)
			for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
			}
			// Hold the first handlers until the pool is full, so the test
			// sees the bound reached and not exceeded.
			if cur == conc {
				gateOnce.Do(func() { close(gate) })
			}
			<-gate
			return nil
		}
		m := newRecorder()
		e := expiry.NewEngine(s, h, clock, nil)
		e.Concurrency, e.Metrics = conc, m
		run(t, e)

		seen := map[string]bool{}
		for len(seen) < n {
			seen[waitCall(t, h.calls)] = true
		}
		// Every grant was handled once; wait for the engine to go idle.
		waitDeadline(t, clock, start.Add(expiry.DefaultMaxSleep))
		if p := peak.Load(); p != conc {
			t.Errorf("peak concurrency = %d, want %d", p, conc)
		}
		s.mu.Lock()
		maxClaim, claims := s.maxClaim, s.claimCalls
		s.mu.Unlock()
		if maxClaim != expiry.DefaultBatchSize || claims < n/expiry.DefaultBatchSize {
			t.Errorf("claims: %d calls, largest %d", claims, maxClaim)
		}
		m.wait(t, n)
		if handled, failed, _ := m.counts(); handled != n || failed != 0 {
			t.Errorf("metrics: handled %d, failed %d", handled, failed)
		}
		for _, lag := range m.lags {
			if lag != time.Hour {
				t.Fatalf("lag = %v, want 1h", lag)
			}
		}
		select {
		case id := <-h.calls:
			t.Errorf("grant %s handled twice", id)
		default:
		}
	})

	t.Run("LapsedClaimIsClaimedAgain", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		first, second := newGrant(start.Add(-2*time.Second)), newGrant(start.Add(-time.Second))
		s.put(first)
		s.put(second)
		release := make(chan struct{})
		claimsAtSecond := make(chan int, 1)
		h := newExpirer(s, clock)
		h.fail = func(g *stint.Grant) error {
			if g.ID == first.ID {
				<-release
			} else {
				s.mu.Lock()
				claimsAtSecond <- s.claimCalls
				s.mu.Unlock()
			}
			return nil
		}
		e := expiry.NewEngine(s, h, clock, nil)
		e.Concurrency, e.BatchSize = 1, 2
		run(t, e)

		if id := waitCall(t, h.calls); id != first.ID {
			t.Fatalf("handled %s first", id)
		}
		// The second grant waits for the only worker past its claim.
		clock.Add(expiry.DefaultClaimLease + time.Second)
		close(release)
		if id := waitCall(t, h.calls); id != second.ID {
			t.Fatalf("handled %s, want the second grant", id)
		}
		if n := <-claimsAtSecond; n < 2 {
			t.Errorf("second grant handled after %d claims, want at least 2 (claimed again)", n)
		}
	})

	t.Run("NotifyEarlierRearms", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		s.put(newGrant(start.Add(time.Hour)))
		h := newExpirer(s, clock)
		e := expiry.NewEngine(s, h, clock, nil)
		e.MaxSleep = 2 * time.Hour
		run(t, e)
		waitDeadline(t, clock, start.Add(time.Hour))

		g := newGrant(start.Add(5 * time.Minute))
		s.put(g)
		e.Notify(*g.DueAt)
		waitDeadline(t, clock, start.Add(5*time.Minute))
		if n := clock.Timers(); n != 1 {
			t.Fatalf("Timers = %d, want 1", n)
		}
		clock.Add(5 * time.Minute)
		if id := waitCall(t, h.calls); id != g.ID {
			t.Fatalf("handled %s, want %s", id, g.ID)
		}
	})

	t.Run("HandlerErrorsDoNotStopTheLoop", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		bad, good := newGrant(start.Add(time.Second)), newGrant(start.Add(2*time.Second))
		s.put(bad)
		s.put(good)
		h := newExpirer(s, clock)
		var tries atomic.Int64
		h.fail = func(g *stint.Grant) error {
			if g.ID != bad.ID {
				return nil
			}
			if tries.Add(1) == 1 {
				panic("boom")
			}
			return errors.New("provider down")
		}
		m := newRecorder()
		e := expiry.NewEngine(s, h, clock, nil)
		e.Metrics = m
		run(t, e)

		waitDeadline(t, clock, start.Add(time.Second))
		clock.Add(time.Second)
		if id := waitCall(t, h.calls); id != bad.ID {
			t.Fatalf("handled %s first, want the bad grant", id)
		}
		waitDeadline(t, clock, start.Add(2*time.Second))
		clock.Add(time.Second)
		if id := waitCall(t, h.calls); id != good.ID {
			t.Fatalf("handled %s, want the good grant", id)
		}
		// The failed grant stays claimed until its lease lapses (claimed at
		// 1s, until 61s, claimable after); meanwhile the engine polls.
		for at := start.Add(3 * time.Second); !at.After(start.Add(62 * time.Second)); at = at.Add(time.Second) {
			waitDeadline(t, clock, at)
			noCall(t, h.calls)
			clock.Add(time.Second)
		}
		if id := waitCall(t, h.calls); id != bad.ID {
			t.Fatalf("retried %s, want the bad grant", id)
		}
		m.wait(t, 3)
		if handled, failed, _ := m.counts(); handled != 1 || failed != 2 {
			t.Errorf("metrics: handled %d, failed %d; want 1, 2", handled, failed)
		}
	})

	t.Run("StoreErrorsBackOff", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		s.put(newGrant(start))
		s.failClaims(3)
		h := newExpirer(s, clock)
		m := newRecorder()
		e := expiry.NewEngine(s, h, clock, nil)
		e.Metrics = m
		run(t, e)

		at := start
		for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			waitDeadline(t, clock, at.Add(d))
			noCall(t, h.calls)
			clock.Add(d)
			at = at.Add(d)
		}
		waitCall(t, h.calls)
		m.wait(t, 3)
		if _, _, sf := m.counts(); sf != 3 {
			t.Errorf("store failures = %d, want 3", sf)
		}
	})

	t.Run("CancelReturns", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		h := newExpirer(s, clock)
		e := expiry.NewEngine(s, h, clock, nil)
		stop := run(t, e)
		waitDeadline(t, clock, start.Add(expiry.DefaultMaxSleep))
		stop()
		if n := clock.Timers(); n != 0 {
			t.Errorf("Timers = %d after Run returned, want 0", n)
		}
	})

	t.Run("CancelWhileHandling", func(t *testing.T) {
		clock := clocktest.New(start)
		s := newMemStore()
		s.put(newGrant(start))
		block := make(chan struct{})
		e := expiry.NewEngine(s, expiry.HandlerFunc(func(ctx context.Context, g *stint.Grant) error {
			close(block)
			<-ctx.Done() // the handler sees the cancellation
			return ctx.Err()
		}), clock, nil)
		stop := run(t, e)
		<-block
		stop()
	})
}

func TestEngine_Notify(t *testing.T) {
	t.Run("NeverBlocks", func(t *testing.T) {
		e := expiry.NewEngine(newMemStore(), newExpirer(newMemStore(), stint.SystemClock), nil, nil)
		for i := 0; i < 100; i++ {
			e.Notify(start) // the engine is not running: no one reads
		}
	})
}
