package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestScrapeHeap: the heap in use is read from a Prometheus text page
// over HTTP, whatever comes around it; a page without it is an error.
func TestScrapeHeap(t *testing.T) {
	page := "# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.\n" +
		"# TYPE go_memstats_heap_inuse_bytes gauge\n" +
		"go_memstats_heap_inuse_bytes_total 1\n" +
		"go_memstats_heap_inuse_bytes 2.5165824e+07\n" +
		"chatd_members 3\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(page))
	}))
	defer srv.Close()
	got, err := scrapeHeap(t.Context(), srv.URL+"/metrics")
	if err != nil || got != 25165824 {
		t.Fatalf("scrapeHeap = %v, %v; want 25165824", got, err)
	}
	if _, err := scrapeHeap(t.Context(), srv.URL+"/nothing"); err == nil {
		t.Error("a 404 page gave no error")
	}
	if _, err := parseMetric(strings.NewReader("chatd_members 3\n"), heapMetric); err == nil {
		t.Error("a page without the metric gave no error")
	}
}
