package broker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stint-io/stint"
)

// Metrics are the broker's Prometheus series. A nil *Metrics records nothing.
type Metrics struct {
	requests        *prometheus.CounterVec
	duration        prometheus.Histogram
	revokeFailures  prometheus.Counter
	approvalLatency prometheus.Histogram
}

// NewMetrics registers the broker's series on reg, including
// stint_active_grants{access}, read from store at each scrape.
func NewMetrics(reg prometheus.Registerer, store stint.Store) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stint_grant_requests_total", Help: "Grant requests by deciding policy and outcome.",
		}, []string{"policy", "outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stint_grant_duration_seconds", Help: "Time from activation to end of ended grants.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		revokeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stint_revocation_failures_total", Help: "Failed revocation attempts.",
		}),
		approvalLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stint_approval_latency_seconds", Help: "Time from request to final approval.",
			Buckets: prometheus.ExponentialBuckets(1, 3, 10),
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.revokeFailures, m.approvalLatency, &activeCollector{store: store})
	return m
}

func (m *Metrics) requested(policy string, outcome stint.Outcome) {
	if m == nil {
		return
	}
	label := "granted"
	switch outcome {
	case stint.OutcomeApproval:
		label = "pending"
	case stint.OutcomeDeny:
		label = "denied"
	}
	m.requests.WithLabelValues(policy, label).Inc()
}

func (m *Metrics) revokeFailed() {
	if m != nil {
		m.revokeFailures.Inc()
	}
}

func (m *Metrics) ended(g *stint.Grant, now time.Time) {
	if m != nil && g.ActivatedAt != nil {
		m.duration.Observe(now.Sub(*g.ActivatedAt).Seconds())
	}
}

// activeCollector reads the number of active grants per access at scrape
// time, so that the store stays the truth and nothing is kept in memory.
type activeCollector struct{ store stint.Store }

var activeDesc = prometheus.NewDesc("stint_active_grants", "Active grants by access.", []string{"access"}, nil)

func (c *activeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (c *activeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountActive(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(activeDesc, err)
		return
	}
	for access, n := range counts {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), access)
	}
}
