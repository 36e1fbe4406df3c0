package tlsgw

import (
	"crypto/tls"
	"errors"
	"io"
	"maps"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/gateway"
)

// Stats is a snapshot of the gateway's counters, for metrics.
type Stats struct {
	Open              int                       // connections open now
	Accepted          uint64                    // connections accepted
	Handshakes        map[HandshakeLabel]uint64 // completed handshakes
	HandshakeFailures map[string]uint64         // failed handshakes, by HandshakeFailure class
	Refused           map[string]uint64         // connections refused at the door (Config.Door), by class: RefusedPolicy, RefusedBanned, RefusedOther
}

// HandshakeLabel is what a completed handshake negotiated.
type HandshakeLabel struct {
	Version string // "TLS 1.3"
	Group   string // key exchange, "X25519MLKEM768"; "none" for RSA key exchange
}

// Stats returns a snapshot of the gateway's counters.
func (s *Server) Stats() Stats {
	c := s.life.Counts()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Open:              c.Conns,
		Accepted:          c.Accepted,
		Handshakes:        maps.Clone(s.handshakes),
		HandshakeFailures: maps.Clone(s.handshakeFailures),
		Refused:           maps.Clone(s.refused),
	}
}

// Register registers the gateway's metrics with reg: its connections
// (chatd_connections_open and chatd_connections_total with transport
// "tls"), its completed and failed handshakes, and the connections
// refused at the door (chatd_door_refusals_total with transport "tls" and
// the refusal's class). They are read from Stats at each scrape.
func (s *Server) Register(reg prometheus.Registerer) error {
	return reg.Register(&collector{srv: s, conns: gateway.NewConnectionMetrics("tls")})
}

var (
	descHandshakes        = prometheus.NewDesc("chatd_tls_handshakes_total", "Completed TLS handshakes, by version and key-exchange group.", []string{"version", "group"}, nil)
	descHandshakeFailures = prometheus.NewDesc("chatd_tls_handshake_failures_total", "Failed TLS handshakes, by reason.", []string{"reason"}, nil)
	// descRefusals: the SSH gateway exports the same family with
	// transport "ssh"; name, help and labels must match.
	descRefusals = prometheus.NewDesc("chatd_door_refusals_total",
		"Connections refused at the door (access policy or ban), by transport and class (policy, banned, other).",
		[]string{"class"}, prometheus.Labels{"transport": "tls"})
)

// collector exports a Server's Stats to Prometheus.
type collector struct {
	srv   *Server
	conns gateway.ConnectionMetrics
}

// Describe sends the descriptions of every metric the gateway exports.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.conns.Describe(ch)
	ch <- descHandshakes
	ch <- descHandshakeFailures
	ch <- descRefusals
}

// Collect sends the metrics' values, read from a fresh Stats.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	c.conns.Collect(ch, st.Open, st.Accepted)
	for l, n := range st.Handshakes {
		ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.CounterValue, float64(n), l.Version, l.Group)
	}
	for reason, n := range st.HandshakeFailures {
		ch <- prometheus.MustNewConstMetric(descHandshakeFailures, prometheus.CounterValue, float64(n), reason)
	}
	for class, n := range st.Refused {
		ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(n), class)
	}
}

func (s *Server) countHandshake(st tls.ConnectionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakes[HandshakeLabel{Version: tls.VersionName(st.Version), Group: groupLabel(st.CurveID)}]++
}

func (s *Server) countHandshakeFailure(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakeFailures[HandshakeFailure(err)]++
}

// HandshakeFailure sorts a handshake error into a few classes: timeout,
// not tls, client closed, protocol version, no shared cipher, client
// rejected certificate, client alert and other.
func HandshakeFailure(err error) string {
	var rhe tls.RecordHeaderError
	msg := err.Error()
	switch {
	case isTimeout(err):
		return "timeout"
	case errors.As(err, &rhe):
		return "not tls"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "client closed"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return "protocol version"
	case strings.Contains(msg, "no cipher suite"):
		return "no shared cipher"
	case strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate"),
		strings.Contains(msg, "remote error: tls: certificate"):
		return "client rejected certificate"
	case strings.Contains(msg, "remote error"):
		return "client alert"
	}
	return "other"
}
