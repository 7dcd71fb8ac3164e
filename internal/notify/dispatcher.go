package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stint-io/stint"
)

// Defaults of a Dispatcher.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultMaxAttempts  = 20
	DefaultJitter       = 0.2
	DefaultBatchSize    = 100
)

// Log attribute keys.
const (
	logKeyTarget  = "target"
	logKeyEvent   = "event"
	logKeySeq     = "seq"
	logKeyGrant   = "grant"
	logKeyAttempt = "attempt"
	logKeyRetry   = "retry_in"
	logKeyErr     = "err"
)

// Dispatcher delivers notifications to its targets, each from its own cursor
// along the audit trail, in one goroutine per target. Adjust the exported
// fields before Run.
type Dispatcher struct {
	// PollInterval is how often each target looks for new records without
	// a Notify (records written by other replicas).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the delay between attempts to deliver
	// a record: MinBackoff, doubling at each failure, capped at MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Jitter is the fraction (0 to 1) of each delay removed at random, so
	// that replicas and targets do not retry in step.
	Jitter float64
	// MaxAttempts is how many failed attempts a record gets before it is
	// given up.
	MaxAttempts int
	// BatchSize is how many records are read from the store at a time.
	BatchSize int
	// Client sends the messages; the default has DefaultTimeout and follows
	// no redirects.
	Client *http.Client
	// Metrics, when set, count deliveries and failures.
	Metrics *Metrics

	store     Store
	serverURL string
	clock     stint.Clock
	logger    *slog.Logger

	mu      sync.Mutex
	targets map[string]Target  // by key
	workers map[string]*worker // by key, while running
	running context.Context    // Run's context, nil when not running
	wg      sync.WaitGroup
}

// NewDispatcher returns a dispatcher of notifications about the audit trail
// of store to targets. serverURL is the server's public URL, for links to
// grants. A nil clock or logger takes stint.SystemClock or a discarding
// logger.
func NewDispatcher(store Store, targets []Target, serverURL string, clock stint.Clock, logger *slog.Logger) *Dispatcher {
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		PollInterval: DefaultPollInterval,
		MinBackoff:   DefaultMinBackoff,
		MaxBackoff:   DefaultMaxBackoff,
		Jitter:       DefaultJitter,
		MaxAttempts:  DefaultMaxAttempts,
		BatchSize:    DefaultBatchSize,
		Client:       newClient(),
		store:        store,
		serverURL:    serverURL,
		clock:        clock,
		logger:       logger,
		workers:      map[string]*worker{},
	}
	d.targets = keyed(targets)
	return d
}

// keyed returns targets by key. Targets with the same URL and format (and
// so the same key) are told apart by their position among them.
func keyed(targets []Target) map[string]Target {
	out := make(map[string]Target, len(targets))
	for _, t := range targets {
		k := t.Key()
		for n := 2; ; n++ {
			if _, dup := out[k]; !dup {
				break
			}
			k = fmt.Sprintf("%s-%d", t.Key(), n)
		}
		out[k] = t
	}
	return out
}

// Run delivers notifications until ctx ends, then waits for the deliveries
// in flight to stop and returns nil. Returns ECONFLICT if it is already
// running.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running != nil {
		d.mu.Unlock()
		return stint.Errorf(stint.ECONFLICT, "notify: dispatcher already running")
	}
	d.running = ctx
	for k, t := range d.targets {
		d.start(k, t)
	}
	d.mu.Unlock()

	<-ctx.Done()

	d.mu.Lock()
	for k, w := range d.workers {
		w.cancel()
		delete(d.workers, k)
	}
	d.running = nil
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// SetTargets replaces the targets, for a configuration reload. A target
// keeps its cursor as long as its URL and format are unchanged; a new one
// starts at the end of the audit trail; a removed one stops (its cursor
// stays in the store, should it come back).
func (d *Dispatcher) SetTargets(targets []Target) {
	next := keyed(targets)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.targets = next
	for k, w := range d.workers {
		if t, ok := next[k]; ok {
			w.setTarget(t)
			continue
		}
		w.cancel()
		delete(d.workers, k)
		d.Metrics.forget(k)
	}
	if d.running != nil {
		for k, t := range next {
			if d.workers[k] == nil {
				d.start(k, t)
			}
		}
	}
}

// Notify wakes every target to look for new audit records. It never
// blocks; the broker calls it after writing records.
func (d *Dispatcher) Notify() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// start runs a worker for target t under key; d.mu must be held and Run
// running.
func (d *Dispatcher) start(key string, t Target) {
	ctx, cancel := context.WithCancel(d.running)
	w := &worker{
		d:      d,
		key:    key,
		wake:   make(chan struct{}, 1),
		cancel: cancel,
		logger: d.logger.With(logKeyTarget, key),
	}
	w.setTarget(t)
	d.workers[key] = w
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		w.run(ctx)
	}()
}
