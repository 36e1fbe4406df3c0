package connlimit

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/internal/metricstest"
)

func TestRegisteredMetricsCountRefusals(t *testing.T) {
	g := New(Limits{MaxConns: 2, MaxPerIP: 1})
	reg := prometheus.NewPedanticRegistry()
	if err := g.Register(reg); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, g, "192.0.2.1:1000")
	expectRefused(t, g, "192.0.2.1:1001", ReasonPerIP)
	expectRefused(t, g, "192.0.2.1:1002", ReasonPerIP)
	mustOpen(t, g, "192.0.2.2:1000")
	expectRefused(t, g, "192.0.2.3:1000", ReasonTotal)

	families, series, err := metricstest.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`chatd_connections_refused_total{reason="too many connections from this address"}`: 2,
		`chatd_connections_refused_total{reason="too many connections"}`:                   1,
	}
	if !maps.Equal(series, want) {
		t.Errorf("series %v, want %v", series, want)
	}
	wantFamily := metricstest.Family{Help: "Connections refused by the connection limits, by reason.", Type: "COUNTER"}
	if f := families["chatd_connections_refused_total"]; f != wantFamily {
		t.Errorf("family %+v, want %+v", f, wantFamily)
	}
}
