// Package metricstest reads back what a Prometheus registry would serve,
// for the tests of the parts that register metrics of their own.
package metricstest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Family is what a metric family says about itself.
type Family struct {
	Help string
	Type string // "COUNTER", "GAUGE", ...
}

// Gather gathers g and returns its families by name, and every series as
// the text format names it (`name{label="value",...}`, labels sorted) with
// its value.
func Gather(g prometheus.Gatherer) (map[string]Family, map[string]float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, nil, err
	}
	families := make(map[string]Family, len(mfs))
	series := make(map[string]float64)
	for _, mf := range mfs {
		families[mf.GetName()] = Family{Help: mf.GetHelp(), Type: mf.GetType().String()}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			slices.Sort(labels)
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				series[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				series[name] = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				series[name] = m.GetUntyped().GetValue()
			}
		}
	}
	return families, series, nil
}
