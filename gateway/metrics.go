package gateway

import "github.com/prometheus/client_golang/prometheus"

// ConnectionMetrics are the two series every gateway exports about its
// connections, told apart by a transport label: chatd_connections_open
// and chatd_connections_total. Every gateway's share the same names and
// help, so they make one metric family; each gateway says what it counts
// as a connection (the SSH server counts chat sessions). A gateway's
// collector describes and collects them along with its own metrics.
type ConnectionMetrics struct {
	open, total *prometheus.Desc
}

// NewConnectionMetrics returns the connection series of the gateway whose
// transport label is transport ("tls", "ssh").
func NewConnectionMetrics(transport string) ConnectionMetrics {
	labels := prometheus.Labels{"transport": transport}
	return ConnectionMetrics{
		open:  prometheus.NewDesc("chatd_connections_open", "Connections open now, by transport (ssh: chat sessions).", nil, labels),
		total: prometheus.NewDesc("chatd_connections_total", "Connections accepted, by transport (ssh: chat sessions).", nil, labels),
	}
}

// Describe sends the series' descriptions.
func (m ConnectionMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.open
	ch <- m.total
}

// Collect sends the series' values: open connections now, and accepted
// in all.
func (m ConnectionMetrics) Collect(ch chan<- prometheus.Metric, open int, accepted uint64) {
	ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(m.total, prometheus.CounterValue, float64(accepted))
}
