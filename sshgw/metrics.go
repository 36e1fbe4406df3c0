package sshgw

import (
	"github.com/prometheus/client_golang/prometheus"

	"chatd/gateway"
)

// Register registers the server's metrics with reg: its chat sessions, as
// chatd_connections_open and chatd_connections_total with transport
// "ssh", and the connections refused at the door, as
// chatd_door_refusals_total with transport "ssh" and the refusal's class
// (policy, banned, other). They are read from Stats at each scrape.
func (s *Server) Register(reg prometheus.Registerer) error {
	return reg.Register(&collector{srv: s, conns: gateway.NewConnectionMetrics("ssh")})
}

// descRefusals is the refusals at the door. The TLS gateway exports the
// same family with transport "tls": name, help and labels must match.
var descRefusals = prometheus.NewDesc("chatd_door_refusals_total",
	"Connections refused at the door (access policy or ban), by transport and class (policy, banned, other).",
	[]string{"class"}, prometheus.Labels{"transport": "ssh"})

// collector exports a Server's Stats to Prometheus.
type collector struct {
	srv   *Server
	conns gateway.ConnectionMetrics
}

// Describe sends the descriptions of every metric the server exports.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.conns.Describe(ch)
	ch <- descRefusals
}

// Collect sends the metrics' values, read from a fresh Stats.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	c.conns.Collect(ch, st.Open, st.Sessions)
	for class, n := range st.Refused {
		ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(n), class)
	}
}
