package access

import "github.com/prometheus/client_golang/prometheus"

// Refusal reasons, as chatd_access_refusals_total labels them.
const (
	refusedPolicy      = "policy"
	refusedBanned      = "banned"
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

func newMetrics() *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "moderation_actions_total",
			Help: "Moderation and access actions carried out, by action.",
		}, []string{actionLabel}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "access_refusals_total",
			Help: "Connections and nickname claims refused by the access control, by reason.",
		}, []string{refusalReasonLabel}),
		badRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "access_bad_records_total",
			Help: "Stored access records skipped because they failed their checks.",
		}),
	}
	for _, r := range []string{refusedPolicy, refusedBanned, refusedRegistered} {
		m.refusals.WithLabelValues(r)
	}
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
