package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"chatd/connlimit"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// statsCollector exports the counters of chatd's parts to Prometheus,
// reading their snapshots at each scrape.
type statsCollector struct {
	room  *room.Room
	guard *connlimit.Guard
	tls   *tlsgw.Server
	ssh   *sshgw.Server // nil when SSH is off
}

var (
	descConnsOpen   = prometheus.NewDesc("chatd_connections_open", "Connections open now, by transport (ssh: chat sessions).", []string{"transport"}, nil)
	descConnsTotal  = prometheus.NewDesc("chatd_connections_total", "Connections accepted, by transport (ssh: chat sessions).", []string{"transport"}, nil)
	descRefused     = prometheus.NewDesc("chatd_connections_refused_total", "Connections refused by the connection limits, by reason.", []string{"reason"}, nil)
	descMembers     = prometheus.NewDesc("chatd_members", "Members in the room now.", nil, nil)
	descJoins       = prometheus.NewDesc("chatd_joins_total", "Members that joined the room.", nil, nil)
	descLeaves      = prometheus.NewDesc("chatd_leaves_total", "Members that left, by reason (slow consumer and flooding are disconnects).", []string{"reason"}, nil)
	descMessages    = prometheus.NewDesc("chatd_messages_total", "Chat messages, actions and private messages accepted.", nil, nil)
	descDeliveries  = prometheus.NewDesc("chatd_deliveries_total", "Events queued for members.", nil, nil)
	descSkipped     = prometheus.NewDesc("chatd_skipped_events_total", "Events skipped for members that had fallen behind (each was told how many it missed).", nil, nil)
	descRejected    = prometheus.NewDesc("chatd_rejected_lines_total", "Input lines refused, by reason.", []string{"reason"}, nil)
	descHandshakes  = prometheus.NewDesc("chatd_tls_handshakes_total", "Completed TLS handshakes, by version and key-exchange group.", []string{"version", "group"}, nil)
	descHandshakeKO = prometheus.NewDesc("chatd_tls_handshake_failures_total", "Failed TLS handshakes, by reason.", []string{"reason"}, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsTotal, descRefused, descMembers, descJoins, descLeaves,
		descMessages, descDeliveries, descSkipped, descRejected, descHandshakes, descHandshakeKO} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	t := c.tls.Stats()
	gauge(descConnsOpen, t.Open, "tls")
	counter(descConnsTotal, t.Accepted, "tls")
	for l, n := range t.Handshakes {
		counter(descHandshakes, n, l.Version, l.Group)
	}
	for reason, n := range t.HandshakeFailures {
		counter(descHandshakeKO, n, reason)
	}
	if c.ssh != nil {
		s := c.ssh.Stats()
		gauge(descConnsOpen, s.Open, "ssh")
		counter(descConnsTotal, s.Sessions, "ssh")
	}
	for reason, n := range c.guard.Refused() {
		counter(descRefused, n, reason)
	}
	r := c.room.Stats()
	gauge(descMembers, r.Members)
	counter(descJoins, r.Joins)
	counter(descMessages, r.Messages)
	counter(descDeliveries, r.Deliveries)
	counter(descSkipped, r.Skipped)
	for reason, n := range r.Leaves {
		counter(descLeaves, n, reason)
	}
	for reason, n := range r.Rejected {
		counter(descRejected, n, reason)
	}
}

// startMetrics serves /metrics and /healthz on addr, and /debug/pprof/ too
// if withPprof.
func startMetrics(addr string, withPprof bool, stats *statsCollector, stdout io.Writer) (*frontEnd, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), stats)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if withPprof {
		// Profiles, for finding where CPU and memory go. Off by default: a
		// heap profile shows memory contents, and a CPU profile costs CPU.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	fmt.Fprintf(stdout, "Metrics on http://%s/metrics\n", ln.Addr())
	return &frontEnd{
		name: "metrics",
		serve: func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		shutdown: func(ctx context.Context) error { return srv.Shutdown(ctx) },
	}, nil
}
