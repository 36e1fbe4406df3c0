package sshgw

import (
	"github.com/prometheus/client_golang/prometheus"

	"chatd/gateway"
)

// Register registers the server's metrics with reg: its chat sessions, as
// chatd_connections_open and chatd_connections_total with transport
// "ssh". They are read from Stats at each scrape.
func (s *Server) Register(reg prometheus.Registerer) error {
	return reg.Register(&collector{srv: s, conns: gateway.NewConnectionMetrics("ssh")})
}

// collector exports a Server's Stats to Prometheus.
type collector struct {
	srv   *Server
	conns gateway.ConnectionMetrics
}

// Describe sends the descriptions of every metric the server exports.
func (c *collector) Describe(ch chan<- *prometheus.Desc) { c.conns.Describe(ch) }

// Collect sends the metrics' values, read from a fresh Stats.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	c.conns.Collect(ch, st.Open, st.Sessions)
}
