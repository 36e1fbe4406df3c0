package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a node's metrics (see Node), one collector.
type metrics struct {
	nodes      prometheus.GaugeFunc
	deadNodes  prometheus.Counter
	private    *prometheus.CounterVec
	badRecords prometheus.Counter
	conflicts  prometheus.Counter
}

// The results of a private message sent to another node, the values of
// chatd_cluster_private_total's label.
const (
	resultDelivered    = "delivered"
	resultNoSuchMember = "no-such-member"
	resultLimit        = "private-limit"
	resultNotDelivered = "not-delivered"
	resultNoAnswer     = "no-answer"
	resultError        = "error"
)

func newMetrics(n *Node) *metrics {
	m := &metrics{
		nodes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chatd_cluster_nodes",
			Help: "The live nodes this node sees, itself included."}, func() float64 { return float64(n.liveNodes()) }),
		deadNodes: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatd_cluster_dead_nodes_total",
			Help: "Dead nodes this node buried: announced their members left and freed their nicknames."}),
		private: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatd_cluster_private_total",
			Help: "Private messages sent to members of other nodes, by result."}, []string{"result"}),
		badRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatd_cluster_bad_records_total",
			Help: "Records and messages from other nodes refused as corrupt, too big or beyond bounds."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatd_cluster_conflicts_total",
			Help: "Renewals that found this node's record stored by another run of its name, and stored it again over it."}),
	}
	for _, r := range []string{resultDelivered, resultNoSuchMember, resultLimit, resultNotDelivered, resultNoAnswer, resultError} {
		m.private.WithLabelValues(r)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.nodes.Describe(ch)
	m.deadNodes.Describe(ch)
	m.private.Describe(ch)
	m.badRecords.Describe(ch)
	m.conflicts.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.nodes.Collect(ch)
	m.deadNodes.Collect(ch)
	m.private.Collect(ch)
	m.badRecords.Collect(ch)
	m.conflicts.Collect(ch)
}

// liveNodes counts the live nodes in the replica, this one included.
func (n *Node) liveNodes() int {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	live := 0
	for _, e := range n.nodes {
		if n.live(e, now) {
			live++
		}
	}
	return live
}
