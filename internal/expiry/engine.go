// Package expiry acts on grants when they fall due: the Engine claims due
// grants from the store and hands them to a Handler (the broker), and the
// Reconciler removes provider artefacts that no live grant owns.
//
// The engine keeps one timer, armed for the earliest DueAt in the store (the
// store's index is the truth), and no goroutine, timer or object per grant:
// memory does not grow with the number of grants, and a restart resumes at
// once with what fell due while it was down.
package expiry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/stint-io/stint"
)

// Defaults of the Engine's fields.
const (
	DefaultConcurrency = 32
	DefaultBatchSize   = 256
	DefaultClaimLease  = time.Minute
	DefaultMaxSleep    = time.Minute
	DefaultClaimedPoll = time.Second
	DefaultBackoffMin  = time.Second
	DefaultBackoffMax  = time.Minute
)

// Log keys.
const (
	logKeyGrant    = "grant"
	logKeyState    = "state"
	logKeyError    = "error"
	logKeyRetry    = "retry_in"
	logKeyResource = "resource"
	logKeyID       = "id"
	logKeyReason   = "reason"
)

// Handler performs the transition of a due grant. The broker implements it:
// for each due grant it does what its state calls for (expire or revoke an
// active grant, retry a revoking one and set its next DueAt, time out a
// pending one, finish or undo an issuing one left by a crash). The engine
// knows none of these rules.
//
// HandleDue must update the grant in the store (which clears the engine's
// claim) or leave it to be claimed again once the claim lease lapses. It is
// called from several goroutines at once, at most once at a time per grant,
// and its context ends after the claim lease.
type Handler interface {
	HandleDue(ctx context.Context, g *stint.Grant) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, g *stint.Grant) error

// HandleDue calls f.
func (f HandlerFunc) HandleDue(ctx context.Context, g *stint.Grant) error { return f(ctx, g) }

// Metrics receives the engine's counts, for Prometheus or tests.
// Implementations must be safe for concurrent use and must not block.
type Metrics interface {
	// Handled is called when HandleDue returned nil. g is the grant as it
	// was claimed (its State and DueAt before the transition); lag is how
	// late the transition completed: now - DueAt (for
	// stint_revocation_lag_seconds).
	Handled(g *stint.Grant, lag time.Duration)
	// Failed is called when HandleDue returned an error (or panicked).
	Failed(g *stint.Grant, err error)
	// StoreFailed is called when ClaimDue or NextDue failed.
	StoreFailed(err error)
}

// Engine runs due grants through a Handler. Create it with NewEngine, adjust
// its exported fields, then call Run once.
type Engine struct {
	// Concurrency bounds how many grants are handled at once.
	Concurrency int
	// BatchSize is how many grants are claimed per ClaimDue.
	BatchSize int
	// ClaimLease is how long a claim keeps other workers and replicas off a
	// grant; HandleDue's context ends when it lapses. A grant whose handler
	// failed without updating it is claimed again after the lease.
	ClaimLease time.Duration
	// MaxSleep is the longest the engine waits before looking at the store
	// again, to see the writes of other replicas that did not Notify it.
	MaxSleep time.Duration
	// ClaimedPoll is how often the engine looks at the store while the
	// earliest due grant is claimed (in flight here, failed without an
	// update, or held by another replica): NextDue cannot say when the next
	// unclaimed grant falls due, so the engine polls until the claim clears.
	ClaimedPoll time.Duration
	// BackoffMin and BackoffMax bound the capped exponential backoff after
	// a store error.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Metrics, if not nil, receives counts and lags.
	Metrics Metrics

	store   stint.Store
	handler Handler
	clock   stint.Clock
	logger  *slog.Logger

	wake chan struct{} // buffered 1: Notify and finished workers

	mu     sync.Mutex
	wakeAt time.Time // deadline of the current wait; zero while working
}

// NewEngine returns an engine over store that hands due grants to h. A nil
// clock is the system clock; the logger is used as given (nil discards).
func NewEngine(store stint.Store, h Handler, clock stint.Clock, logger *slog.Logger) *Engine {
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		Concurrency: DefaultConcurrency,
		BatchSize:   DefaultBatchSize,
		ClaimLease:  DefaultClaimLease,
		MaxSleep:    DefaultMaxSleep,
		ClaimedPoll: DefaultClaimedPoll,
		BackoffMin:  DefaultBackoffMin,
		BackoffMax:  DefaultBackoffMax,
		store:       store,
		handler:     h,
		clock:       clock,
		logger:      logger,
		wake:        make(chan struct{}, 1),
	}
}

// Notify tells the engine that a grant is now due at due, because it was
// created or its DueAt changed. The broker calls it after committing. It
// never blocks; the engine looks at the store again if due is earlier than
// the time it is waiting for.
func (e *Engine) Notify(due time.Time) {
	e.mu.Lock()
	at := e.wakeAt
	e.mu.Unlock()
	if at.IsZero() || due.Before(at) {
		e.signal()
	}
}

// signal wakes the loop without blocking.
func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and handles due grants until ctx ends, then waits for the
// handlers in flight and returns nil. Handler and store failures are logged
// and counted; they never stop the loop.
func (e *Engine) Run(ctx context.Context) error {
	l := loop{
		Engine:      e,
		sem:         make(chan struct{}, orDefault(e.Concurrency, DefaultConcurrency)),
		batch:       orDefault(e.BatchSize, DefaultBatchSize),
		lease:       orDefault(e.ClaimLease, DefaultClaimLease),
		maxSleep:    orDefault(e.MaxSleep, DefaultMaxSleep),
		claimedPoll: orDefault(e.ClaimedPoll, DefaultClaimedPoll),
		backoffMin:  orDefault(e.BackoffMin, DefaultBackoffMin),
		backoffMax:  orDefault(e.BackoffMax, DefaultBackoffMax),
	}
	defer l.wg.Wait()
	defer func() {
		if l.timer != nil {
			l.timer.Stop()
		}
	}()
	var backoff time.Duration
	for ctx.Err() == nil {
		d, err := l.step(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			backoff = min(max(2*backoff, l.backoffMin), l.backoffMax)
			e.logger.Warn("expiry: store failed", logKeyError, err, logKeyRetry, backoff)
			if e.Metrics != nil {
				e.Metrics.StoreFailed(err)
			}
			l.wait(ctx, backoff, false)
			continue
		}
		backoff = 0
		if d > 0 {
			l.wait(ctx, d, true)
		}
	}
	return nil
}

// loop is the state of one Run.
type loop struct {
	*Engine
	sem   chan struct{}
	wg    sync.WaitGroup
	timer stint.Timer

	// The Engine's fields, defaulted where not positive.
	batch                        int
	lease, maxSleep, claimedPoll time.Duration
	backoffMin, backoffMax       time.Duration
}

// orDefault returns v, or def if v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// step claims one batch and dispatches it. It returns how long to wait
// before the next step: 0 to go on at once.
func (l *loop) step(ctx context.Context) (time.Duration, error) {
	now := l.clock.Now()
	until := now.Add(l.lease)
	grants, err := l.store.ClaimDue(ctx, now, until, l.batch)
	if err != nil {
		return 0, fmt.Errorf("claim due grants: %w", err)
	}
	for _, g := range grants {
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			// The rest stay claimed until the lease lapses.
			return 0, nil
		}
		left := until.Sub(l.clock.Now())
		if left <= 0 {
			// The claim lapsed while the grant waited for a worker (slow
			// handlers): someone else may hold it now. Claim it again.
			<-l.sem
			continue
		}
		l.wg.Add(1)
		go l.handle(ctx, g, left)
	}
	if len(grants) >= l.batch {
		return 0, nil // there may be more
	}
	next, ok, err := l.store.NextDue(ctx)
	if err != nil {
		return 0, fmt.Errorf("next due grant: %w", err)
	}
	if !ok {
		return l.maxSleep, nil
	}
	if !next.After(now) {
		// Due but not claimable: in flight here (a finishing worker wakes
		// the loop), or claimed until its lease lapses by a handler that
		// failed or by another replica. It may hide later due grants.
		return min(l.claimedPoll, l.maxSleep), nil
	}
	d := next.Sub(l.clock.Now())
	if d <= 0 {
		return 0, nil // fell due since the claim
	}
	return min(d, l.maxSleep), nil
}

// wait waits for d, ctx, or (if wakeable) a Notify or a finished worker.
func (l *loop) wait(ctx context.Context, d time.Duration, wakeable bool) {
	if l.timer == nil {
		l.timer = l.clock.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	var wake chan struct{}
	if wakeable {
		wake = l.wake
		l.mu.Lock()
		l.wakeAt = l.clock.Now().Add(d)
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.wakeAt = time.Time{}
			l.mu.Unlock()
		}()
	}
	select {
	case <-l.timer.C():
	case <-wake:
	case <-ctx.Done():
	}
	l.timer.Stop()
}

// handle runs the handler on g, whose claim lasts for left, and releases
// its worker slot.
func (l *loop) handle(ctx context.Context, g *stint.Grant, left time.Duration) {
	defer func() {
		<-l.sem
		l.wg.Done()
		l.signal()
	}()
	claimed := g.Clone()
	log := l.logger.With(logKeyGrant, g.ID, logKeyState, string(g.State))
	// The claim keeps others off the grant until the lease lapses; the
	// handler must be done by then.
	hctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	err := l.safeHandle(hctx, g)
	if err != nil {
		log.Error("expiry: handling a due grant failed", logKeyError, err)
		if l.Metrics != nil {
			l.Metrics.Failed(claimed, err)
		}
		return
	}
	if l.Metrics != nil && claimed.DueAt != nil {
		l.Metrics.Handled(claimed, l.clock.Now().Sub(*claimed.DueAt))
	}
}

// safeHandle calls the handler, turning a panic into an error so that one
// bad grant cannot take the process down.
func (l *loop) safeHandle(ctx context.Context, g *stint.Grant) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = stint.Errorf(stint.EINTERNAL, "handler panicked: %v", r)
		}
	}()
	return l.handler.HandleDue(ctx, g)
}
