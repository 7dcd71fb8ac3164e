package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's Prometheus series; the target label is the
// target's Key, never its URL. A nil *Metrics records nothing.
type Metrics struct {
	sent     *prometheus.CounterVec
	failures *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	lag      *prometheus.GaugeVec
}

// NewMetrics registers on reg:
// stint_notifications_sent_total{target,event},
// stint_notification_failures_total{target,event} (failed attempts),
// stint_notifications_dropped_total{target,event} (given up) and
// stint_notification_queue_lag_seconds{target} (age of the oldest record
// not yet handled; 0 when caught up). It panics if they are registered
// already, as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stint_notifications_sent_total", Help: "Notifications delivered, by target key and event.",
		}, []string{"target", "event"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stint_notification_failures_total", Help: "Failed notification delivery attempts, by target key and event.",
		}, []string{"target", "event"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stint_notifications_dropped_total", Help: "Notifications given up after a permanent error or too many attempts.",
		}, []string{"target", "event"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stint_notification_queue_lag_seconds", Help: "Age of the oldest audit record a target has not yet handled.",
		}, []string{"target"}),
	}
	reg.MustRegister(m.sent, m.failures, m.dropped, m.lag)
	return m
}

func (m *Metrics) delivered(target, event string) {
	if m != nil {
		m.sent.WithLabelValues(target, event).Inc()
	}
}

func (m *Metrics) failed(target, event string) {
	if m != nil {
		m.failures.WithLabelValues(target, event).Inc()
	}
}

func (m *Metrics) gaveUp(target, event string) {
	if m != nil {
		m.dropped.WithLabelValues(target, event).Inc()
	}
}

func (m *Metrics) setLag(target string, seconds float64) {
	if m != nil {
		m.lag.WithLabelValues(target).Set(max(seconds, 0))
	}
}

// forget removes the series of a target no longer configured.
func (m *Metrics) forget(target string) {
	if m != nil {
		for _, v := range []*prometheus.MetricVec{m.sent.MetricVec, m.failures.MetricVec, m.dropped.MetricVec, m.lag.MetricVec} {
			v.DeletePartialMatch(prometheus.Labels{"target": target})
		}
	}
}
