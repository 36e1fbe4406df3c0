package access

import "github.com/prometheus/client_golang/prometheus"

// Refusal reasons, as chatd_access_refusals_total labels them: only
// claims of registered nicknames (the gateways count door refusals, once
// a connection).
const (
	refusedRegistered  = "registered-nick"
	actionLabel        = "action"
	refusalReasonLabel = "reason"
	metricsNamespace   = "chatd"
)

// metrics are a Directory's Prometheus metrics.
type metrics struct {
	actions    *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	badRecords prometheus.Counter
}

// newMetrics returns a Directory's metrics, their series created.
func newMetrics() *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "moderation_actions_total",
			Help: "Moderation and access actions carried out, by action.",
		}, []string{actionLabel}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "access_refusals_total",
			Help: "Nickname claims refused by the access control, by reason (registered-nick); door refusals are chatd_door_refusals_total.",
		}, []string{refusalReasonLabel}),
		badRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "access_bad_records_total",
			Help: "Stored access records skipped because they failed their checks.",
		}),
	}
	m.refusals.WithLabelValues(refusedRegistered)
	return m
}

// Describe describes the metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.actions.Describe(ch)
	m.refusals.Describe(ch)
	m.badRecords.Describe(ch)
}

// Collect collects the metrics.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.actions.Collect(ch)
	m.refusals.Collect(ch)
	m.badRecords.Collect(ch)
}
