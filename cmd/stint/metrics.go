package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stint-io/stint"
)

// expiryMetrics feeds the expiry engine's counts into Prometheus.
type expiryMetrics struct {
	lag         prometheus.Histogram
	failures    prometheus.Counter
	storeErrors prometheus.Counter
}

func newExpiryMetrics(reg prometheus.Registerer) *expiryMetrics {
	m := &expiryMetrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stint_revocation_lag_seconds",
			Help:    "Time from a grant's due time (expiry, retry) to when the expiry engine handled it.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stint_expiry_handle_failures_total", Help: "Due grants whose handling failed (retried).",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stint_expiry_store_errors_total", Help: "Store errors of the expiry engine's loop.",
		}),
	}
	reg.MustRegister(m.lag, m.failures, m.storeErrors)
	return m
}

// Handled observes the lag of revocations only (expiries and retries), not
// of expiry warnings, approval time-outs or undone issues.
func (m *expiryMetrics) Handled(g *stint.Grant, lag time.Duration) {
	expiring := g.State == stint.StateActive && g.ExpiresAt != nil && g.DueAt != nil && g.DueAt.Before(*g.ExpiresAt)
	if (g.State == stint.StateActive && !expiring) || g.State == stint.StateRevoking {
		m.lag.Observe(lag.Seconds())
	}
}
func (m *expiryMetrics) Failed(g *stint.Grant, err error) { m.failures.Inc() }
func (m *expiryMetrics) StoreFailed(err error)            { m.storeErrors.Inc() }
