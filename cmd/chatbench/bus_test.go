package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// TestParseVarz reads the counters of a /varz page and refuses pages no
// NATS server would send.
func TestParseVarz(t *testing.T) {
	page := `{"server_id":"N1","routes":2,"in_msgs":120,"in_bytes":9000,"in_client_msgs":20,"in_client_bytes":2000,
		"out_msgs":300,"out_bytes":24000,"out_client_msgs":60,"out_client_bytes":6000,"http_req_stats":{"/varz":3}}`
	v, err := parseVarz(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if want := (varz{120, 9000, 20, 2000, 300, 24000, 60, 6000}); v != want {
		t.Errorf("parsed %+v, want %+v", v, want)
	}
	for _, bad := range []string{
		``, `not json`, `[1,2]`, `{"in_msgs":"many"}`,
		`{"in_msgs":-1}`,
		`{"in_msgs":1,"in_client_msgs":2}`,
		`{"out_bytes":1e400}`,
		`{"in_msgs":` + strings.Repeat("1", maxVarzBytes) + `}`,
	} {
		if v, err := parseVarz(strings.NewReader(bad)); err == nil {
			t.Errorf("parseVarz(%.40q) = %+v, want an error", bad, v)
		}
	}
}

// TestVarzDifference: a counter that went down (a restarted server) is
// an error, not a negative count.
func TestVarzDifference(t *testing.T) {
	before := varz{InMsgs: 10, OutMsgs: 10}
	d, err := (varz{InMsgs: 15, OutMsgs: 12}).sub(before)
	if err != nil || d != (varz{InMsgs: 5, OutMsgs: 2}) {
		t.Errorf("difference %+v, %v", d, err)
	}
	if _, err := (varz{InMsgs: 3, OutMsgs: 12}).sub(before); err == nil {
		t.Error("a counter that went down gave no error")
	}
}

// fakeVarz is a monitoring endpoint whose counters grow by step at every
// read of /varz.
func fakeVarz(t *testing.T, step varz) string {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/varz" {
			http.NotFound(w, r)
			return
		}
		n := reads.Add(1)
		fmt.Fprintf(w, `{"in_msgs":%d,"in_bytes":%d,"in_client_msgs":%d,"in_client_bytes":%d,"out_msgs":%d,"out_bytes":%d,"out_client_msgs":%d,"out_client_bytes":%d}`,
			n*step.InMsgs, n*step.InBytes, n*step.InClientMsgs, n*step.InClientBytes, n*step.OutMsgs, n*step.OutBytes, n*step.OutClientMsgs, n*step.OutClientBytes)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBusWatchSumsTheServers: the bus counts are the servers' differences
// summed, split into from clients, between servers and to clients, and
// divided by the messages sent.
func TestBusWatchSumsTheServers(t *testing.T) {
	a := fakeVarz(t, varz{InMsgs: 50, InBytes: 5000, InClientMsgs: 10, InClientBytes: 1000, OutMsgs: 80, OutBytes: 8000, OutClientMsgs: 30, OutClientBytes: 3000})
	b := fakeVarz(t, varz{InMsgs: 40, InBytes: 4000, InClientMsgs: 10, InClientBytes: 1000, OutMsgs: 70, OutBytes: 7000, OutClientMsgs: 30, OutClientBytes: 3000})
	ctx := context.Background()
	w := startBusWatch(ctx, []string{a, b + "/"})
	w.stop(ctx)
	r := &Result{Sent: 10}
	r.reportBus(w)
	got := r.Bus
	if got == nil || got.Error != "" {
		t.Fatalf("bus %+v", got)
	}
	if got.Servers != 2 || got.FromClients != 20 || got.BetweenServers != 70 || got.ToClients != 60 || got.Msgs != 150 {
		t.Errorf("counts %+v", got)
	}
	if got.MsgsPerEvent != 15 || got.FromClientsPer != 2 || got.BetweenServerPer != 7 || got.ToClientsPer != 6 {
		t.Errorf("per message %+v", got)
	}
	if got.Bytes != 9000+6000 || got.RouteBytes != 7000 || got.BytesPerEvent != 1500 {
		t.Errorf("bytes %+v", got)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	defer down.Close()
	w = startBusWatch(ctx, []string{a, down.URL})
	w.stop(ctx)
	r = &Result{Sent: 10}
	r.reportBus(w)
	if r.Bus == nil || !strings.Contains(r.Bus.Error, "404") || r.Bus.Msgs != 0 {
		t.Errorf("a server without /varz: %+v", r.Bus)
	}
}

// startMonitoredNATS starts a real nats-server with JetStream and its
// monitoring endpoint on free ports; it returns its client URL, its
// monitoring URL and its process id.
func startMonitoredNATS(t *testing.T) (url, monitor string, pid int) {
	t.Helper()
	bin, err := testproc.BuildNATS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "nats")
	p := testproc.Start(t, "nats-server", nil, bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", "-1", "-m", "-1")
	mon := p.Expect("Starting http monitor on")
	line := p.Expect("Listening for client connections on")
	p.Expect("Server is ready")
	port := func(l string) string { return l[strings.LastIndexByte(l, ':')+1:] }
	return "nats://127.0.0.1:" + strings.TrimSpace(port(line)), "http://127.0.0.1:" + strings.TrimSpace(port(mon)), pidWithArg(t, dir)
}

// TestBusAgainstChatdOnNATS runs against a chatd that keeps its room on
// a real nats-server: the NATS server's CPU time is reported apart and in
// the total, and every message sent crossed the bus at least twice (the
// store and its acknowledgement), however many clients received it.
func TestBusAgainstChatdOnNATS(t *testing.T) {
	natsURL, monitor, natsPID := startMonitoredNATS(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := testproc.StartChatd(t, chatdBinary, dataDir, append([]string{"--nats", natsURL}, generousLimits...)...)
	cfg := chatdConfig(s, pidWithArg(t, dataDir))
	cfg.clients, cfg.duration = 10, 1500*time.Millisecond
	cfg.natsPIDs, cfg.natsMonitor = pidList{natsPID}, monitor
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFullDelivery(t, r, 10, 10, 5, 1.5)
	if r.NATSCPUSeconds == nil || r.NATSCPUPerDelivery == nil || r.TotalCPUPerDelivery == nil || r.NATSRSSMiB == nil || r.NATSError != "" {
		t.Fatalf("NATS CPU not reported: %+v %+v %+v (%s)", r.NATSCPUSeconds, r.NATSCPUPerDelivery, r.TotalCPUPerDelivery, r.NATSError)
	}
	if diff := *r.TotalCPUPerDelivery - *r.ServerCPUPerDelivery - *r.NATSCPUPerDelivery; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("total %v is not chatd's %v plus NATS's %v", *r.TotalCPUPerDelivery, *r.ServerCPUPerDelivery, *r.NATSCPUPerDelivery)
	}
	b := r.Bus
	if b == nil || b.Error != "" || b.Servers != 1 {
		t.Fatalf("bus %+v", b)
	}
	t.Logf("bus per message sent: %.2f (%.2f from clients, %.2f to clients)", b.MsgsPerEvent, b.FromClientsPer, b.ToClientsPer)
	if b.FromClientsPer < 1 || b.ToClientsPer < 1 || b.MsgsPerEvent < 2 || b.MsgsPerEvent > 9 || b.BetweenServers != 0 {
		t.Errorf("bus per message sent %+v: want at least a store and its acknowledgement, not one per receiver, no routes", b)
	}
}
