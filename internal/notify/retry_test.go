package notify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint/internal/notify"
)

func TestDispatcher_Retry(t *testing.T) {
	t.Run("ReceiverErrors", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d, _ := e.start(target)
		r.answer(503, 500, 408)
		g := e.requestPending("svc/ci", 1)
		d.Notify()
		// 1s, doubling: attempts at t0, +1s, +3s, +7s.
		at := t0
		for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			if m := r.next(e.ctx); m.Status < 400 {
				t.Fatalf("attempt %d answered %d", i+1, m.Status)
			}
			at = at.Add(delay)
			if err := e.clock.WaitForDeadline(e.ctx, at); err != nil {
				t.Fatalf("no retry armed at %s", at)
			}
			if lag := e.metric("stint_notification_queue_lag_seconds", map[string]string{"target": target.Key()}); lag != at.Add(-delay).Sub(t0).Seconds() {
				t.Errorf("lag = %v while retrying", lag)
			}
			d.Notify() // a wake-up does not bring the retry forward
			e.clock.Set(at)
		}
		m := r.next(e.ctx)
		if m.Status != http.StatusOK || grantID(m) != g.ID || m.VerifyErr != nil {
			t.Fatalf("final attempt: %d %s %v", m.Status, grantID(m), m.VerifyErr)
		}
		e.waitCursor(target.Key(), e.head())
		r.none()
		labels := map[string]string{"target": target.Key(), "event": "approval.requested"}
		if n := e.metric("stint_notification_failures_total", labels); n != 3 {
			t.Errorf("failures = %v, want 3", n)
		}
		if n := e.metric("stint_notifications_sent_total", labels); n != 1 {
			t.Errorf("sent = %v, want 1", n)
		}
		if lag := e.metric("stint_notification_queue_lag_seconds", map[string]string{"target": target.Key()}); lag != 0 {
			t.Errorf("lag = %v once caught up", lag)
		}
	})

	t.Run("ReceiverDown", func(t *testing.T) {
		e := newEnv(t)
		down := newReceiver(t, e.clock, testSecret)
		addr := down.srv.Listener.Addr().String()
		url := down.url()
		down.srv.Close()
		target := notify.Target{URL: url, Format: notify.FormatJSON, Secret: testSecret}
		d, _ := e.start(target)
		g := e.requestPending("svc/ci", 1)
		d.Notify()
		if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
			t.Fatal("no retry armed")
		}
		c, err := e.store.NotifyCursor(e.ctx, target.Key())
		if err != nil {
			t.Fatal(err)
		}
		if c.Attempts != 1 || !c.NextAttempt.Equal(t0.Add(time.Second)) || !strings.Contains(c.LastError, "connection refused") {
			t.Errorf("cursor while down = %+v", c)
		}
		up := newReceiverAt(t, e.clock, testSecret, addr)
		e.clock.Add(time.Second)
		if m := up.next(e.ctx); grantID(m) != g.ID || m.VerifyErr != nil {
			t.Fatalf("after recovery: %s %v", grantID(m), m.VerifyErr)
		}
		e.waitCursor(target.Key(), e.head())
		up.none()
	})

	t.Run("RetryAfter", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		d, _ := e.start(notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret})
		r.answer(http.StatusTooManyRequests)
		e.requestPending("svc/ci", 1)
		d.Notify()
		r.next(e.ctx)
		if err := e.clock.WaitForDeadline(e.ctx, t0.Add(30*time.Second)); err != nil {
			t.Fatal("Retry-After: 30 not honoured")
		}
		e.clock.Add(30 * time.Second)
		if m := r.next(e.ctx); m.Status != http.StatusOK {
			t.Fatalf("status %d", m.Status)
		}
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d := notify.NewDispatcher(e.store, []notify.Target{target}, testServerURL, e.clock, e.logger)
		d.Jitter, d.MaxAttempts, d.Metrics = 0, 2, e.metrics
		go d.Run(e.ctx)
		if err := e.clock.WaitForTimers(e.ctx, 1); err != nil {
			t.Fatal(err)
		}
		r.answer(503, 503)
		first := e.requestPending("svc/ci", 1)
		second := e.requestPending("svc/ci", 1)
		d.Notify()
		r.next(e.ctx)
		if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Second)
		if m := r.next(e.ctx); grantID(m) != first.ID || m.Status != 503 {
			t.Fatalf("second attempt: %s %d", grantID(m), m.Status)
		}
		// Given up: the next record goes at once.
		if m := r.next(e.ctx); grantID(m) != second.ID || m.Status != 200 {
			t.Fatalf("after giving up: %s %d", grantID(m), m.Status)
		}
		e.waitCursor(target.Key(), e.head())
		labels := map[string]string{"target": target.Key(), "event": "approval.requested"}
		if n := e.metric("stint_notifications_dropped_total", labels); n != 1 {
			t.Errorf("dropped = %v, want 1", n)
		}
		if !strings.Contains(e.logs.String(), "notification given up") {
			t.Errorf("give-up not logged:\n%s", e.logs)
		}
	})

	t.Run("PermanentRefusalSkipped", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d, _ := e.start(target)
		r.answer(http.StatusBadRequest)
		first := e.requestPending("svc/ci", 1)
		second := e.requestPending("svc/ci", 1)
		d.Notify()
		if m := r.next(e.ctx); grantID(m) != first.ID || m.Status != 400 {
			t.Fatalf("first: %s %d", grantID(m), m.Status)
		}
		// No backoff: the clock never moves.
		if m := r.next(e.ctx); grantID(m) != second.ID || m.Status != 200 {
			t.Fatalf("second: %s %d", grantID(m), m.Status)
		}
		e.waitCursor(target.Key(), e.head())
		r.none()
		labels := map[string]string{"target": target.Key(), "event": "approval.requested"}
		if f, dr, s := e.metric("stint_notification_failures_total", labels), e.metric("stint_notifications_dropped_total", labels),
			e.metric("stint_notifications_sent_total", labels); f != 1 || dr != 1 || s != 1 {
			t.Errorf("failures, dropped, sent = %v, %v, %v; want 1, 1, 1", f, dr, s)
		}
	})
}

func TestDispatcher_Restart(t *testing.T) {
	t.Run("NoDuplicatesNothingLost", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d, stop := e.start(target)
		a, b := e.requestPending("svc/a", 1), e.requestPending("svc/b", 1)
		d.Notify()
		e.waitCursor(target.Key(), e.head())
		stop()
		// Written while no dispatcher runs (the process was down).
		c, dd := e.requestPending("svc/c", 1), e.requestPending("svc/d", 1)
		d, _ = e.start(target)
		d.Notify()
		e.waitCursor(target.Key(), e.head())
		var got []string
		for _, m := range drain(r) {
			got = append(got, grantID(m))
		}
		if want := []string{a.ID, b.ID, c.ID, dd.ID}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("BackoffSurvives", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d, stop := e.start(target)
		r.answer(503)
		g := e.requestPending("svc/ci", 1)
		d.Notify()
		r.next(e.ctx)
		if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		stop()
		e.start(target) // waits on the stored retry time, not at once
		if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		r.none()
		e.clock.Add(time.Second)
		if m := r.next(e.ctx); grantID(m) != g.ID || m.Status != 200 {
			t.Fatalf("after restart: %s %d", grantID(m), m.Status)
		}
		e.waitCursor(target.Key(), e.head())
		r.none()
	})
}

func TestDispatcher_SetTargets(t *testing.T) {
	e := newEnv(t)
	ra, rb := newReceiver(t, e.clock, testSecret), newReceiver(t, e.clock, testSecret)
	a := notify.Target{URL: ra.url(), Format: notify.FormatJSON, Secret: testSecret}
	b := notify.Target{URL: rb.url(), Format: notify.FormatJSON, Secret: testSecret}
	d, _ := e.start(a)
	first := e.requestPending("svc/ci", 1)
	d.Notify()
	e.waitCursor(a.Key(), e.head())

	timers := e.clock.Timers()
	d.SetTargets([]notify.Target{a, b})
	if err := e.clock.WaitForTimers(e.ctx, timers+1); err != nil {
		t.Fatal("new target did not start")
	}
	second := e.requestPending("svc/ci", 1)
	d.Notify()
	e.waitCursor(a.Key(), e.head())
	e.waitCursor(b.Key(), e.head())
	for name, want := range map[*receiver][]string{ra: {first.ID, second.ID}, rb: {second.ID}} {
		var got []string
		for _, m := range drain(name) {
			got = append(got, grantID(m))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("delivered %v, want %v (a new target starts at the end)", got, want)
		}
	}

	// A changed secret applies to the running target; a removed one stops.
	b.Secret = "rotated"
	rb.secret = "rotated"
	d.SetTargets([]notify.Target{b})
	e.requestPending("svc/ci", 1)
	d.Notify()
	e.waitCursor(b.Key(), e.head())
	if m := rb.next(e.ctx); m.VerifyErr != nil {
		t.Errorf("signed with the old secret: %v", m.VerifyErr)
	}
	ra.none()
}
