package gateway

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/internal/metricstest"
)

// connCollector is a gateway's collector reduced to its connections.
type connCollector struct {
	m        ConnectionMetrics
	open     int
	accepted uint64
}

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { c.m.Describe(ch) }
func (c *connCollector) Collect(ch chan<- prometheus.Metric) { c.m.Collect(ch, c.open, c.accepted) }

func TestTwoGatewaysShareTheConnectionFamilies(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range []*connCollector{
		{m: NewConnectionMetrics("tls"), open: 2, accepted: 7},
		{m: NewConnectionMetrics("ssh"), open: 1, accepted: 3},
	} {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	families, series, err := metricstest.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	wantFamilies := map[string]metricstest.Family{
		"chatd_connections_open":  {Help: "Connections open now, by transport (ssh: chat sessions).", Type: "GAUGE"},
		"chatd_connections_total": {Help: "Connections accepted, by transport (ssh: chat sessions).", Type: "COUNTER"},
	}
	if !maps.Equal(families, wantFamilies) {
		t.Errorf("families %v, want %v", families, wantFamilies)
	}
	wantSeries := map[string]float64{
		`chatd_connections_open{transport="tls"}`:  2,
		`chatd_connections_open{transport="ssh"}`:  1,
		`chatd_connections_total{transport="tls"}`: 7,
		`chatd_connections_total{transport="ssh"}`: 3,
	}
	if !maps.Equal(series, wantSeries) {
		t.Errorf("series %v, want %v", series, wantSeries)
	}
	// The same transport twice is a mistake the registry catches.
	if err := reg.Register(&connCollector{m: NewConnectionMetrics("tls")}); err == nil {
		t.Error("a second tls collector was registered")
	}
}
