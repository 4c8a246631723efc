package queue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dsys-dev/dsys/queue/celery"
)

// Metrics are the worker's Prometheus metrics. Task labels are registered
// task names only ("unknown" otherwise), so a sender cannot blow up the
// label space.
type Metrics struct {
	received     *prometheus.CounterVec
	succeeded    *prometheus.CounterVec
	failed       *prometheus.CounterVec
	retried      *prometheus.CounterVec
	revoked      *prometheus.CounterVec
	redelivered  *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	runtime      *prometheus.HistogramVec
	inFlight     prometheus.Gauge
}

// NewMetrics creates the worker metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns = "dsys_queue"
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_received_total",
			Help: "Task messages received."}, []string{"task"}),
		succeeded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_succeeded_total",
			Help: "Tasks that returned a result."}, []string{"task"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_failed_total",
			Help: "Tasks that failed for good (FAILURE)."}, []string{"task"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_retried_total",
			Help: "Failed runs re-published for a retry."}, []string{"task"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_revoked_total",
			Help: "Tasks not run or stopped: expired, revoked or terminated by remote control."}, []string{"task"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_redelivered_total",
			Help: "Messages the broker redelivered (their consumer died or disconnected)."}, []string{"queue"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_dead_lettered_total",
			Help: "Messages moved to the dead-letter queue."}, []string{"queue", "reason"}),
		runtime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "task_runtime_seconds",
			Help:    "Time tasks spent running.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 12)}, []string{"task"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "tasks_in_flight",
			Help: "Tasks running now."}),
	}
	for _, c := range []prometheus.Collector{m.received, m.succeeded, m.failed, m.retried, m.revoked,
		m.redelivered, m.deadLettered, m.runtime, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// The helpers below accept a nil *Metrics (metrics off).

func (m *Metrics) incReceived(task string) {
	if m != nil {
		m.received.WithLabelValues(task).Inc()
	}
}

func (m *Metrics) observe(task string, state celery.State, d time.Duration) {
	if m == nil {
		return
	}
	switch state {
	case celery.StateSuccess:
		m.succeeded.WithLabelValues(task).Inc()
	case celery.StateFailure:
		m.failed.WithLabelValues(task).Inc()
	case celery.StateRetry:
		m.retried.WithLabelValues(task).Inc()
	case celery.StateRevoked:
		m.revoked.WithLabelValues(task).Inc()
		return
	}
	m.runtime.WithLabelValues(task).Observe(d.Seconds())
}

func (m *Metrics) incRedelivered(queue string) {
	if m != nil {
		m.redelivered.WithLabelValues(queue).Inc()
	}
}

func (m *Metrics) incDeadLettered(queue, reason string) {
	if m != nil {
		m.deadLettered.WithLabelValues(queue, reason).Inc()
	}
}

func (m *Metrics) addInFlight(n float64) {
	if m != nil {
		m.inFlight.Add(n)
	}
}
