package connlimit

import "github.com/prometheus/client_golang/prometheus"

var descRefused = prometheus.NewDesc("chatd_connections_refused_total", "Connections refused by the connection limits, by reason.", []string{"reason"}, nil)

// Register registers the guard's metrics with reg: the connections it
// refused, by reason (chatd_connections_refused_total), read from Refused
// at each scrape.
func (g *Guard) Register(reg prometheus.Registerer) error {
	return reg.Register(collector{g})
}

// collector exports a Guard's counters to Prometheus.
type collector struct{ g *Guard }

// Describe sends the description of the refusals metric.
func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- descRefused }

// Collect sends the refusals by reason.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.g.Refused() {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), reason)
	}
}
