package notify

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/stint-io/stint"
)

// saveTimeout bounds a cursor write, which must happen even while stopping.
const saveTimeout = 10 * time.Second

// worker delivers to one target, in order, from its cursor.
type worker struct {
	d      *Dispatcher
	key    string
	target atomic.Pointer[Target]
	wake   chan struct{}
	cancel context.CancelFunc
	logger *slog.Logger

	cur *stint.NotifyCursor // nil until read from the store
	// sent counts the events of record sentSeq already delivered, so that
	// a record giving rise to several events does not repeat the first
	// ones while it retries another. It is not durable.
	sentSeq  int64
	sent     int
	headTime time.Time // time of the record being retried
}

func (w *worker) setTarget(t Target) {
	t.On = append([]string(nil), t.On...)
	w.target.Store(&t)
}

// run steps until ctx ends, waiting between steps for a Notify, the poll
// interval or a retry.
func (w *worker) run(ctx context.Context) {
	var timer stint.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		delay := w.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if timer == nil {
			timer = w.d.clock.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C():
		}
	}
}

// step delivers what it can and returns how long to wait before the next
// step: the poll interval when caught up (or the store failed), the time
// left before a retry otherwise.
func (w *worker) step(ctx context.Context) time.Duration {
	d := w.d
	if w.cur == nil {
		c, err := d.store.NotifyCursor(ctx, w.key)
		if err != nil {
			w.storeFailed(ctx, "read notification cursor", err)
			return d.PollInterval
		}
		w.cur = c
	}
	for {
		now := d.clock.Now()
		if !w.cur.NextAttempt.IsZero() && now.Before(w.cur.NextAttempt) {
			if !w.headTime.IsZero() {
				d.Metrics.setLag(w.key, now.Sub(w.headTime).Seconds())
			}
			return w.cur.NextAttempt.Sub(now)
		}
		recs, err := d.store.ListAudit(ctx, stint.AuditFilter{AfterSeq: w.cur.LastSeq, Limit: d.BatchSize})
		if err != nil {
			w.storeFailed(ctx, "read audit trail", err)
			return d.PollInterval
		}
		skipped := false // the cursor moved past records no one wants, unsaved
		for _, rec := range recs {
			d.Metrics.setLag(w.key, now.Sub(rec.Time).Seconds())
			evs, err := w.events(ctx, rec)
			if err != nil {
				w.save(ctx, skipped)
				w.storeFailed(ctx, "read grant", err)
				return d.PollInterval
			}
			if len(evs) > 0 {
				switch w.deliver(ctx, rec, evs) {
				case retrying:
					w.save(ctx, true)
					return max(w.cur.NextAttempt.Sub(d.clock.Now()), 0)
				case stopped:
					w.save(ctx, skipped)
					return 0
				}
			}
			w.cur.LastSeq, w.cur.Attempts, w.cur.NextAttempt, w.cur.LastError = rec.Seq, 0, time.Time{}, ""
			w.headTime = time.Time{}
			if len(evs) > 0 {
				w.save(ctx, true)
				skipped = false
			} else {
				skipped = true
			}
		}
		w.save(ctx, skipped)
		if len(recs) < d.BatchSize {
			d.Metrics.setLag(w.key, 0)
			return d.PollInterval
		}
	}
}

// Outcomes of worker.deliver.
const (
	done     = iota // every event delivered or given up
	retrying        // a retry is scheduled in w.cur
	stopped         // the worker is stopping
)

// deliver sends the events of rec not yet sent, giving an event up after a
// permanent error or MaxAttempts failed attempts.
func (w *worker) deliver(ctx context.Context, rec *stint.AuditRecord, evs []*Event) int {
	d := w.d
	if w.sentSeq != rec.Seq {
		w.sentSeq, w.sent = rec.Seq, 0
	}
	t := w.target.Load()
	for w.sent < len(evs) {
		ev := evs[w.sent]
		err := d.post(ctx, t, ev)
		if err == nil {
			d.Metrics.delivered(w.key, ev.Name)
			w.sent++
			w.cur.Attempts = 0
			continue
		}
		if ctx.Err() != nil {
			return stopped // not the receiver's fault
		}
		d.Metrics.failed(w.key, ev.Name)
		w.cur.Attempts++
		var de *deliveryError
		permanent := errors.As(err, &de) && de.permanent
		attrs := []any{logKeyEvent, ev.Name, logKeySeq, rec.Seq, logKeyGrant, rec.GrantID, logKeyAttempt, w.cur.Attempts, logKeyErr, err.Error()}
		if permanent || w.cur.Attempts >= d.MaxAttempts {
			w.logger.Error("notification given up", attrs...)
			d.Metrics.gaveUp(w.key, ev.Name)
			w.sent++
			w.cur.Attempts = 0
			continue
		}
		delay := w.backoff(w.cur.Attempts)
		if de != nil && de.retryAfter > delay {
			delay = min(de.retryAfter, d.MaxBackoff)
		}
		w.cur.NextAttempt = d.clock.Now().Add(delay)
		w.cur.LastError = err.Error()
		w.headTime = rec.Time
		w.logger.Warn("notification failed; will retry", append(attrs, logKeyRetry, delay.String())...)
		return retrying
	}
	return done
}

// events returns the events of rec that the target wants, in a fixed order.
func (w *worker) events(ctx context.Context, rec *stint.AuditRecord) ([]*Event, error) {
	t := w.target.Load()
	var names []string
	for _, n := range candidates(rec) {
		if t.wants(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	var g *stint.Grant
	if rec.GrantID != "" {
		var err error
		g, err = w.d.store.GetGrant(ctx, rec.GrantID)
		if stint.ErrorCode(err) == stint.ENOTFOUND {
			g, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	evs := make([]*Event, 0, len(names))
	for _, n := range names {
		if n == stint.NotifyGrantBreakGlass && !breakGlass(rec, g) {
			continue
		}
		evs = append(evs, newEvent(n, rec, g, w.d.serverURL))
	}
	return evs, nil
}

// backoff returns the delay after the n-th failed attempt (n >= 1).
func (w *worker) backoff(n int) time.Duration {
	d := w.d
	delay := d.MinBackoff
	for i := 1; i < n && delay < d.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, d.MaxBackoff)
	if j := min(max(d.Jitter, 0), 1); j > 0 {
		delay -= time.Duration(rand.Float64() * j * float64(delay))
	}
	return max(delay, time.Millisecond)
}

// save writes the cursor if dirty. A failure is logged: the cursor stays
// right in memory, and at worst a restart repeats a delivery.
func (w *worker) save(ctx context.Context, dirty bool) {
	if !dirty {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	c := *w.cur
	if err := w.d.store.SetNotifyCursor(sctx, &c); err != nil {
		w.logger.Warn("save notification cursor", logKeySeq, c.LastSeq, logKeyErr, err)
	}
}

func (w *worker) storeFailed(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		w.logger.Warn(what, logKeyErr, err)
	}
}
