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
	"chatd/gateway"
	"chatd/internal/jetlog"
	"chatd/room"
)

// newRegistry returns the registry /metrics serves, with the Go runtime's,
// the process's and the room's metrics, and the guard's, which it
// registers itself. The gateways register theirs as they are built.
func newRegistry(chatRoom *room.Room, guard *connlimit.Guard) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	return reg, registerMetrics(reg, chatRoom, guard)
}

// registerMetrics registers the process's, the room's and the connection
// guard's metrics on reg.
func registerMetrics(reg prometheus.Registerer, chatRoom *room.Room, guard *connlimit.Guard) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		roomCollector{chatRoom},
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return guard.Register(reg)
}

// roomCollector exports the room's counters (room.Stats) to Prometheus,
// reading a snapshot at each scrape; the room itself knows no metrics
// library.
type roomCollector struct{ room *room.Room }

var (
	descMembers    = prometheus.NewDesc("chatd_members", "Members in the room now.", nil, nil)
	descJoins      = prometheus.NewDesc("chatd_joins_total", "Members that joined the room.", nil, nil)
	descLeaves     = prometheus.NewDesc("chatd_leaves_total", "Members that left, by reason (slow consumer and flooding are disconnects).", []string{"reason"}, nil)
	descMessages   = prometheus.NewDesc("chatd_messages_total", "Chat messages, actions and private messages accepted.", nil, nil)
	descDeliveries = prometheus.NewDesc("chatd_deliveries_total", "Events queued for members.", nil, nil)
	descSkipped    = prometheus.NewDesc("chatd_skipped_events_total", "Events skipped for members that had fallen behind (each was told how many it missed).", nil, nil)
	descRejected   = prometheus.NewDesc("chatd_rejected_lines_total", "Input lines refused, by reason.", []string{"reason"}, nil)
	descQueued     = prometheus.NewDesc("chatd_queued_lines_total", "Input lines that waited their turn for flood control (a paste) rather than going out at once.", nil, nil)
	descStore      = prometheus.NewDesc("chatd_store_errors_total", "Failures of the room's log or nickname store: events not stored (and shown to nobody), histories not replayed, joins and nickname records not written; each was told to whoever it concerned.", nil, nil)
	descStoreUp    = prometheus.NewDesc("chatd_store_up", "1 if the room can store what is said, 0 while it is read-only because its store is unavailable.", nil, nil)
	descReadOnly   = prometheus.NewDesc("chatd_store_read_only_total", "Times the room turned read-only because its store failed.", nil, nil)
)

// Describe sends the descriptions of the room's metrics.
func (c roomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descJoins, descLeaves, descMessages, descDeliveries, descSkipped, descRejected, descQueued, descStore, descStoreUp, descReadOnly} {
		ch <- d
	}
}

// Collect sends the room's metrics, read from a fresh room.Stats.
func (c roomCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	r := c.room.Stats()
	gauge(descMembers, r.Members)
	counter(descJoins, r.Joins)
	counter(descMessages, r.Messages)
	counter(descDeliveries, r.Deliveries)
	counter(descSkipped, r.Skipped)
	counter(descQueued, r.Queued)
	counter(descStore, r.StoreErrors)
	counter(descReadOnly, r.ReadOnlyTurns)
	up := 1
	if r.ReadOnly {
		up = 0
	}
	gauge(descStoreUp, up)
	for reason, n := range r.Leaves {
		counter(descLeaves, n, reason)
	}
	for reason, n := range r.Rejected {
		counter(descRejected, n, reason)
	}
}

// storeFailures counts the failed calls of the room's store by reason
// (chatd_store_failures_total): the room reports each one
// (room.Config.StoreFailed), the store says why (jetlog.Log.FailureOf).
type storeFailures struct {
	vec    *prometheus.CounterVec
	reason func(error) jetlog.Failure
}

// newStoreFailures counts the failures of store; nil (the memory log,
// which never fails) counts any as "other".
func newStoreFailures(store *jetlog.Log) *storeFailures {
	f := &storeFailures{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatd_store_failures_total",
			Help: "Failed calls of the room's store (appends, and probes while it is read-only), by reason: unreachable, timeout, write, broken, missing, other.",
		}, []string{"reason"}),
		reason: func(error) jetlog.Failure { return jetlog.FailOther },
	}
	if store != nil {
		f.reason = store.FailureOf
	}
	for _, r := range []jetlog.Failure{jetlog.FailUnreachable, jetlog.FailTimeout, jetlog.FailWrite, jetlog.FailBroken, jetlog.FailMissing, jetlog.FailOther} {
		f.vec.WithLabelValues(string(r)) // dashboards see 0 before the first failure
	}
	return f
}

// note counts err; it is the room's Config.StoreFailed.
func (f *storeFailures) note(err error) {
	f.vec.WithLabelValues(string(f.reason(err))).Inc()
}

// metricsServer serves /metrics and /healthz, and /debug/pprof/ if asked.
// It is a gateway.Server so that chatd runs and stops it with the
// gateways, though it is no way into the room.
type metricsServer struct{ http *http.Server }

// newMetricsServer serves reg on /metrics, chatRoom's health on /healthz,
// and profiles too if withPprof.
func newMetricsServer(reg *prometheus.Registry, chatRoom *room.Room, withPprof bool) *metricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, health(chatRoom)) })
	if withPprof {
		// Profiles, for finding where CPU and memory go. Off by default: a
		// heap profile shows memory contents, and a CPU profile costs CPU.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	return &metricsServer{http: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}}
}

// health is /healthz's answer: chatd is alive (always status 200, so that
// a liveness check never restarts a room that recovers by itself), and
// whether its room is read-only, its store unavailable (chatd_store_up
// says it too, for alerts).
func health(chatRoom *room.Room) string {
	if chatRoom.Stats().ReadOnly {
		return "ok: " + room.ReadOnlyText + "\n"
	}
	return "ok\n"
}

var _ gateway.Server = (*metricsServer)(nil)

// Name names the server in logs: "metrics".
func (m *metricsServer) Name() string { return "metrics" }

// Serve serves HTTP on ln until Shutdown, then returns
// gateway.ErrServerClosed.
func (m *metricsServer) Serve(ln net.Listener) error {
	if err := m.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return gateway.ErrServerClosed
}

// Shutdown stops the HTTP server, waiting for requests in flight until ctx
// is done.
func (m *metricsServer) Shutdown(ctx context.Context) error { return m.http.Shutdown(ctx) }

// startMetrics listens on the metrics address and says where to scrape.
func (p *parts) startMetrics() (listening, error) {
	ln, err := net.Listen("tcp", p.cfg.metricsAddr)
	if err != nil {
		return listening{}, fmt.Errorf("listen for metrics: %w", err)
	}
	p.banner.say(metricsPart(ln.Addr()))
	return listening{server: newMetricsServer(p.reg, p.room, p.cfg.pprof), ln: ln}, nil
}
