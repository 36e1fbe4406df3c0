package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one run measured. Its JSON form is the --json output;
// fields that were not measured are omitted.
type Result struct {
	Label    string  `json:"label,omitempty"`
	Mode     string  `json:"mode"` // tls, ssh, idle-tls or idle-ssh
	Proto    string  `json:"proto,omitempty"`
	Target   string  `json:"target"`
	Run      string  `json:"run"` // the tag in this run's payloads
	Clients  int     `json:"clients"`
	Senders  int     `json:"senders"`
	Rate     float64 `json:"rate_per_client,omitempty"` // messages per second per sender
	Duration float64 `json:"duration_s"`

	Connected      int     `json:"connected"`
	Failed         int     `json:"failed"`
	Lost           int     `json:"lost"` // connected, then dropped before the end
	ConnectSeconds float64 `json:"connect_s"`

	SendSeconds         float64 `json:"send_s,omitempty"`
	MeasuredSeconds     float64 `json:"measured_s"` // sending and draining, or holding idle
	Sent                int64   `json:"sent"`
	SentPerSecond       float64 `json:"sent_per_s"`
	Skipped             int64   `json:"skipped,omitempty"` // send slots given up by clients behind their schedule (a busy machine)
	Expected            int64   `json:"expected"`
	Delivered           int64   `json:"delivered"`
	DeliveryRatio       float64 `json:"delivery_ratio"`
	DeliveriesPerSecond float64 `json:"deliveries_per_s"`
	// Garbled counts messages that arrived cut short or mangled (a server
	// that drops part of a write); they are not deliveries.
	Garbled int64 `json:"garbled"`

	LatencyCount uint64  `json:"latency_samples"`
	LatencyMinMS float64 `json:"latency_min_ms"`
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP90MS float64 `json:"latency_p90_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	LatencyMaxMS float64 `json:"latency_max_ms"`
	LatencyAvgMS float64 `json:"latency_mean_ms"`

	ServerPIDs            []int    `json:"server_pids,omitempty"` // --pid: every chatd node, summed below
	ServerCPUSeconds      *float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerDelivery  *float64 `json:"server_cpu_us_per_delivery,omitempty"`
	ServerRSSMiB          *float64 `json:"server_rss_mib,omitempty"`
	ServerRSSPerClientKiB *float64 `json:"server_rss_per_client_kib,omitempty"`
	ServerHeapInuseMiB    *float64 `json:"server_heap_inuse_mib,omitempty"` // --metrics: go_memstats_heap_inuse_bytes
	ServerError           string   `json:"server_error,omitempty"`

	// The NATS servers (--nats-pid), apart from chatd's CPU time; the
	// total per delivery is chatd's and theirs.
	NATSPIDs            []int    `json:"nats_pids,omitempty"`
	NATSCPUSeconds      *float64 `json:"nats_cpu_s,omitempty"`
	NATSCPUPerDelivery  *float64 `json:"nats_cpu_us_per_delivery,omitempty"`
	NATSRSSMiB          *float64 `json:"nats_rss_mib,omitempty"`
	NATSError           string   `json:"nats_error,omitempty"`
	TotalCPUPerDelivery *float64 `json:"total_cpu_us_per_delivery,omitempty"`

	// Bus is what the NATS servers carried (--nats-monitor).
	Bus *BusResult `json:"bus,omitempty"`
	// Targets is each server's share, with several (--addr a,b,c).
	Targets []TargetResult `json:"targets,omitempty"`

	BenchCPUSeconds float64      `json:"bench_cpu_s"`     // chatbench's own, in the measured phase
	BenchCPUShare   float64      `json:"bench_cpu_share"` // of all this machine's CPUs
	Error           string       `json:"error,omitempty"` // why nothing was measured
	Errors          []ErrorCount `json:"errors,omitempty"`
	Note            string       `json:"note,omitempty"`
}

// ErrorCount is how often one kind of error happened.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

func newResult(cfg *config, run string) *Result {
	r := &Result{
		Label: cfg.label, Mode: cfg.mode(), Target: cfg.target(), Run: run,
		Clients: cfg.clients, Senders: cfg.senders(), Duration: cfg.duration.Seconds(),
		ServerPIDs: cfg.pids, NATSPIDs: cfg.natsPIDs,
	}
	if cfg.sshAddr == "" {
		r.Proto = cfg.proto
	}
	if !cfg.idle {
		r.Rate = cfg.rate
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *Result) setLatency(h *histogram) {
	r.LatencyCount = h.count()
	r.LatencyMinMS = ms(h.minimum())
	r.LatencyP50MS = ms(h.quantile(0.50))
	r.LatencyP90MS = ms(h.quantile(0.90))
	r.LatencyP99MS = ms(h.quantile(0.99))
	r.LatencyMaxMS = ms(h.maximum())
	r.LatencyAvgMS = ms(h.mean())
}

// reportServers adds what the watches of the servers (chatd) and of the
// NATS servers measured to r, whose counts are final.
func (r *Result) reportServers(srv, nats *procWatch) {
	if len(srv.pids) > 0 {
		if srv.err != nil {
			r.ServerError = srv.err.Error()
		} else {
			r.ServerCPUSeconds, r.ServerCPUPerDelivery = srv.cpuPer(r.Delivered)
			mib := float64(srv.rss) / (1 << 20)
			r.ServerRSSMiB = &mib
			if r.Connected > 0 {
				perClient := float64(srv.rss) / 1024 / float64(r.Connected)
				r.ServerRSSPerClientKiB = &perClient
			}
		}
	}
	if len(nats.pids) > 0 {
		if nats.err != nil {
			r.NATSError = nats.err.Error()
		} else {
			r.NATSCPUSeconds, r.NATSCPUPerDelivery = nats.cpuPer(r.Delivered)
			mib := float64(nats.rss) / (1 << 20)
			r.NATSRSSMiB = &mib
		}
	}
	if r.ServerCPUPerDelivery != nil && r.NATSCPUPerDelivery != nil {
		total := *r.ServerCPUPerDelivery + *r.NATSCPUPerDelivery
		r.TotalCPUPerDelivery = &total
	}
}

// writeJSON prints r as one JSON object on one line.
func (r *Result) writeJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints r for a person.
func (r *Result) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{name}, args...)...)
	}
	fmt.Fprintf(tw, "chatbench %s\n", r.title())
	row("clients", "%d connected, %d failed, %d lost (connecting took %.1f s)", r.Connected, r.Failed, r.Lost, r.ConnectSeconds)
	if !strings.HasPrefix(r.Mode, "idle") {
		unit, per := "deliveries", "delivery"
		if r.Mode == "ssh" {
			unit, per = "screen deliveries", "message per screen"
		}
		row("messages sent", "%d (%.1f/s over %.1f s)", r.Sent, r.SentPerSecond, r.SendSeconds)
		if r.Skipped > 0 {
			row("skipped", "%d send slots: the clients fell behind the rate", r.Skipped)
		}
		row(unit, "%d of %d expected, ratio %.4f, %.0f/s", r.Delivered, r.Expected, r.DeliveryRatio, r.DeliveriesPerSecond)
		if r.Garbled > 0 {
			row("garbled", "%d messages arrived cut short or mangled", r.Garbled)
		}
		row("latency", "p50 %s  p90 %s  p99 %s  max %s  (min %s, mean %s, %d samples)",
			fmtMS(r.LatencyP50MS), fmtMS(r.LatencyP90MS), fmtMS(r.LatencyP99MS), fmtMS(r.LatencyMaxMS), fmtMS(r.LatencyMinMS), fmtMS(r.LatencyAvgMS), r.LatencyCount)
		if r.ServerCPUSeconds != nil {
			perDelivery := "n/a"
			if r.ServerCPUPerDelivery != nil {
				perDelivery = fmt.Sprintf("%.2f µs per %s", *r.ServerCPUPerDelivery, per)
			}
			row("server CPU", "%.2f s over %.1f s (%s)", *r.ServerCPUSeconds, r.MeasuredSeconds, perDelivery)
		}
		r.writeNATS(row, per)
	} else {
		row("held", "%.1f s", r.MeasuredSeconds)
		if r.ServerCPUSeconds != nil {
			row("server CPU", "%.2f s while idle", *r.ServerCPUSeconds)
		}
	}
	if r.ServerRSSMiB != nil {
		perClient := ""
		if r.ServerRSSPerClientKiB != nil {
			perClient = fmt.Sprintf(" (%.1f KiB per client)", *r.ServerRSSPerClientKiB)
		}
		row("server RSS", "%.1f MiB at the end%s", *r.ServerRSSMiB, perClient)
	}
	if r.ServerHeapInuseMiB != nil {
		row("server heap in use", "%.1f MiB at the end", *r.ServerHeapInuseMiB)
	}
	if r.ServerError != "" {
		row("server", "%s", r.ServerError)
	}
	r.writeTargets(row)
	row("chatbench CPU", "%.2f s, %.0f%% of this machine's CPUs (near 100%%: the load generator limits the result)", r.BenchCPUSeconds, 100*r.BenchCPUShare)
	for _, e := range r.Errors {
		row("error", "%d× %s", e.Count, e.Error)
	}
	if r.Note != "" {
		row("note", "%s", r.Note)
	}
	return tw.Flush()
}

func (r *Result) title() string {
	var b strings.Builder
	if r.Label != "" {
		fmt.Fprintf(&b, "%q: ", r.Label)
	}
	fmt.Fprintf(&b, "%s %s", r.Mode, r.Target)
	if r.Proto != "" {
		fmt.Fprintf(&b, " (%s)", r.Proto)
	}
	fmt.Fprintf(&b, ", %d clients", r.Clients)
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", %d sending %g msg/s each", r.Senders, r.Rate)
	}
	fmt.Fprintf(&b, ", %g s", r.Duration)
	return b.String()
}

func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.3f ms", v)
}
