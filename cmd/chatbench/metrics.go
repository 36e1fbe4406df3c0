package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// heapMetric is the Go runtime's heap in use, as the Prometheus Go
// collector exports it (chatd's --metrics-addr).
const heapMetric = "go_memstats_heap_inuse_bytes"

// maxMetricsBytes bounds what is read of a metrics page.
const maxMetricsBytes = 4 << 20

// scrapeHeap reads heapMetric from the Prometheus text page at url, in
// bytes.
func scrapeHeap(ctx context.Context, url string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s: %s", url, resp.Status)
	}
	return parseMetric(io.LimitReader(resp.Body, maxMetricsBytes), heapMetric)
}

// parseMetric returns the value of the unlabelled sample name in a
// Prometheus text page.
func parseMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %s: %w", name, err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	return 0, fmt.Errorf("metrics: no %s in the page", name)
}
