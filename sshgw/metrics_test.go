package sshgw

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/internal/metricstest"
)

func TestRegisteredMetricsCountChatSessions(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	reg := prometheus.NewPedanticRegistry()
	if err := ts.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	series := func() map[string]float64 {
		_, s, err := metricstest.Gather(reg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice := ts.openTerminal(t, "alice")
	alice.waitText("members (1)")
	want := map[string]float64{`chatd_connections_open{transport="ssh"}`: 1, `chatd_connections_total{transport="ssh"}`: 1}
	if got := series(); !maps.Equal(got, want) {
		t.Errorf("with alice in: %v, want %v", got, want)
	}
	alice.close()
	want[`chatd_connections_open{transport="ssh"}`] = 0
	waitFor(t, "alice's session to be counted as closed", func() bool { return maps.Equal(series(), want) })
}
