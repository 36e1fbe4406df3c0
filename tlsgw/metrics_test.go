package tlsgw

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/internal/metricstest"
)

func TestRegisteredMetricsFollowTheServer(t *testing.T) {
	ts := startServer(t, Config{})
	reg := prometheus.NewPedanticRegistry()
	if err := ts.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	ts.join(t, "alice")
	tls11, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		tls11.Close()
	}

	want := map[string]float64{
		// alice's; the failed handshake's connection closes soon after it.
		`chatd_connections_open{transport="tls"}`:                              1,
		`chatd_connections_total{transport="tls"}`:                             2,
		`chatd_tls_handshakes_total{group="X25519MLKEM768",version="TLS 1.3"}`: 1,
		`chatd_tls_handshake_failures_total{reason="protocol version"}`:        1,
	}
	deadline := time.Now().Add(waitTime)
	for {
		_, series, err := metricstest.Gather(reg)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for name, v := range want {
			if series[name] != v {
				ok = false
			}
		}
		if ok && len(series) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("series %v, want %v", series, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
