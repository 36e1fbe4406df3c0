package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxVarzBytes bounds what is read of one /varz page (a few KiB on a
// small server).
const maxVarzBytes = 1 << 20

// varz is the part of a NATS server's /varz page the bench reads: its
// message and byte counters since it started. in_* count what it read
// from sockets (its clients' and its routes'), out_* what it wrote to them;
// the *_client_* ones only its clients'. Deliveries inside a server (to
// JetStream's internal subscriptions) are not counted.
type varz struct {
	InMsgs         int64 `json:"in_msgs"`
	InBytes        int64 `json:"in_bytes"`
	InClientMsgs   int64 `json:"in_client_msgs"`
	InClientBytes  int64 `json:"in_client_bytes"`
	OutMsgs        int64 `json:"out_msgs"`
	OutBytes       int64 `json:"out_bytes"`
	OutClientMsgs  int64 `json:"out_client_msgs"`
	OutClientBytes int64 `json:"out_client_bytes"`
}

// parseVarz decodes a /varz page, refusing what no server would send.
func parseVarz(r io.Reader) (varz, error) {
	var v varz
	dec := json.NewDecoder(io.LimitReader(r, maxVarzBytes))
	if err := dec.Decode(&v); err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	for _, n := range []int64{v.InMsgs, v.InBytes, v.InClientMsgs, v.InClientBytes, v.OutMsgs, v.OutBytes, v.OutClientMsgs, v.OutClientBytes} {
		if n < 0 {
			return varz{}, errors.New("varz: a negative counter")
		}
	}
	if v.InClientMsgs > v.InMsgs || v.OutClientMsgs > v.OutMsgs || v.InClientBytes > v.InBytes || v.OutClientBytes > v.OutBytes {
		return varz{}, errors.New("varz: more client messages than messages")
	}
	return v, nil
}

// sub returns v minus an earlier reading of the same server; a counter
// that went down means the server restarted in between.
func (v varz) sub(before varz) (varz, error) {
	d := varz{
		v.InMsgs - before.InMsgs, v.InBytes - before.InBytes,
		v.InClientMsgs - before.InClientMsgs, v.InClientBytes - before.InClientBytes,
		v.OutMsgs - before.OutMsgs, v.OutBytes - before.OutBytes,
		v.OutClientMsgs - before.OutClientMsgs, v.OutClientBytes - before.OutClientBytes,
	}
	for _, n := range []int64{d.InMsgs, d.InBytes, d.InClientMsgs, d.InClientBytes, d.OutMsgs, d.OutBytes, d.OutClientMsgs, d.OutClientBytes} {
		if n < 0 {
			return varz{}, errors.New("varz: a counter went down (the server restarted?)")
		}
	}
	return d, nil
}

func (v varz) add(o varz) varz {
	return varz{
		v.InMsgs + o.InMsgs, v.InBytes + o.InBytes,
		v.InClientMsgs + o.InClientMsgs, v.InClientBytes + o.InClientBytes,
		v.OutMsgs + o.OutMsgs, v.OutBytes + o.OutBytes,
		v.OutClientMsgs + o.OutClientMsgs, v.OutClientBytes + o.OutClientBytes,
	}
}

// varzURL is the /varz page of the monitoring endpoint base.
func varzURL(base string) string { return strings.TrimSuffix(base, "/") + "/varz" }

// scrapeVarz reads the /varz page of the monitoring endpoint base.
func scrapeVarz(ctx context.Context, base string) (varz, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, varzURL(base), nil)
	if err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return varz{}, fmt.Errorf("varz: %s: %s", varzURL(base), resp.Status)
	}
	v, err := parseVarz(resp.Body)
	if err != nil {
		return varz{}, fmt.Errorf("%s: %w", varzURL(base), err)
	}
	return v, nil
}

// busWatch reads the NATS servers' counters before and after the
// measured phase.
type busWatch struct {
	urls   []string
	before []varz
	delta  varz // summed over the servers
	err    error
}

// startBusWatch reads every server's counters now; with no URLs it
// measures nothing.
func startBusWatch(ctx context.Context, urls []string) *busWatch {
	w := &busWatch{urls: urls}
	for _, u := range urls {
		v, err := scrapeVarz(ctx, u)
		if err != nil {
			w.err = err
			return w
		}
		w.before = append(w.before, v)
	}
	return w
}

// stop reads the counters again and sums the differences.
func (w *busWatch) stop(ctx context.Context) {
	if len(w.urls) == 0 || w.err != nil {
		return
	}
	for i, u := range w.urls {
		v, err := scrapeVarz(ctx, u)
		if err == nil {
			v, err = v.sub(w.before[i])
		}
		if err != nil {
			w.err = err
			return
		}
		w.delta = w.delta.add(v)
	}
}

// BusResult is what the NATS servers carried in the measured phase,
// summed over them (their /varz counters). Every message that crossed a
// socket to or from a NATS server is counted once: chatd's publishes and
// requests as they arrive (from clients), the servers' messages to one
// another as they arrive (routes: JetStream's replication and its acks,
// messages forwarded to the server that has the subscriber or the stream
// leader), and the servers' deliveries to chatd (to clients: stored-event
// acks, each node's feed, replies). It includes what the cluster does on
// its own meanwhile (presence heartbeats, Raft heartbeats).
type BusResult struct {
	Servers          int     `json:"servers"`
	FromClients      int64   `json:"from_clients"`    // Σ in_client_msgs
	BetweenServers   int64   `json:"between_servers"` // Σ in_msgs − in_client_msgs
	ToClients        int64   `json:"to_clients"`      // Σ out_client_msgs
	Msgs             int64   `json:"msgs"`            // the three together
	Bytes            int64   `json:"bytes"`           // Σ in_bytes + out_client_bytes
	RouteBytes       int64   `json:"route_bytes"`     // Σ in_bytes − in_client_bytes
	MsgsPerEvent     float64 `json:"msgs_per_event"`  // Msgs / messages sent
	BytesPerEvent    float64 `json:"bytes_per_event"` // Bytes / messages sent
	FromClientsPer   float64 `json:"from_clients_per_event"`
	BetweenServerPer float64 `json:"between_servers_per_event"`
	ToClientsPer     float64 `json:"to_clients_per_event"`
	Error            string  `json:"error,omitempty"`
}

// reportBus adds what w measured to r, whose counts are final.
func (r *Result) reportBus(w *busWatch) {
	if len(w.urls) == 0 {
		return
	}
	b := &BusResult{Servers: len(w.urls)}
	r.Bus = b
	if w.err != nil {
		b.Error = w.err.Error()
		return
	}
	d := w.delta
	b.FromClients, b.BetweenServers, b.ToClients = d.InClientMsgs, d.InMsgs-d.InClientMsgs, d.OutClientMsgs
	b.Msgs = d.InMsgs + d.OutClientMsgs
	b.Bytes = d.InBytes + d.OutClientBytes
	b.RouteBytes = d.InBytes - d.InClientBytes
	if r.Sent > 0 {
		n := float64(r.Sent)
		b.MsgsPerEvent, b.BytesPerEvent = float64(b.Msgs)/n, float64(b.Bytes)/n
		b.FromClientsPer, b.BetweenServerPer, b.ToClientsPer = float64(b.FromClients)/n, float64(b.BetweenServers)/n, float64(b.ToClients)/n
	}
}

// writeNATS adds the NATS servers' rows to the table: their CPU time and
// what they carried.
func (r *Result) writeNATS(row func(name, format string, args ...any), per string) {
	if r.NATSCPUSeconds != nil {
		perDelivery := "n/a"
		if r.NATSCPUPerDelivery != nil {
			perDelivery = fmt.Sprintf("%.2f µs per %s", *r.NATSCPUPerDelivery, per)
		}
		row("NATS CPU", "%.2f s over %.1f s (%s), %d server(s)", *r.NATSCPUSeconds, r.MeasuredSeconds, perDelivery, len(r.NATSPIDs))
	}
	if r.TotalCPUPerDelivery != nil {
		row("total CPU", "%.2f µs per %s (server and NATS)", *r.TotalCPUPerDelivery, per)
	}
	if r.NATSError != "" {
		row("NATS", "%s", r.NATSError)
	}
	b := r.Bus
	if b == nil {
		return
	}
	if b.Error != "" {
		row("bus", "%s", b.Error)
		return
	}
	row("bus messages", "%d on %d NATS server(s): %.2f per message sent (%.2f from clients, %.2f between servers, %.2f to clients), %.0f bytes per message sent",
		b.Msgs, b.Servers, b.MsgsPerEvent, b.FromClientsPer, b.BetweenServerPer, b.ToClientsPer, b.BytesPerEvent)
}
