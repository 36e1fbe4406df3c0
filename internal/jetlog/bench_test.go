package jetlog

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

// BenchmarkAppend measures one Append and its ack: MemoryLog against the
// embedded JetStream log, in the same run.
func BenchmarkAppend(b *testing.B) {
	logs := []struct {
		name string
		new  func(b *testing.B) room.Log
	}{
		{"memory", func(*testing.B) room.Log { return room.NewMemoryLog(100) }},
		{"jetstream-embedded", func(b *testing.B) room.Log { return openBench(b, Options{}) }},
	}
	for _, c := range logs {
		b.Run(c.name, func(b *testing.B) {
			l := c.new(b)
			now := time.Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev := &room.Event{Kind: room.Chat, Time: now, From: "alice", Text: "hello, this is a message of an ordinary length"}
				if _, err := l.Append(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplay measures a joiner's history read (100 events) from a
// stream of 10,000.
func BenchmarkReplay(b *testing.B) {
	l := openBench(b, Options{})
	now := time.Now()
	for i := range 10_000 {
		if _, err := l.Append(&room.Event{Kind: room.Chat, Time: now, From: "alice", Text: fmt.Sprint("message ", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		evs, err := l.Replay(0, 100)
		if err != nil || len(evs) != 100 {
			b.Fatalf("Replay: %d events, %v", len(evs), err)
		}
	}
}

// BenchmarkEmbeddedIdleMemory reports what an idle embedded server with
// its open stream costs: the Go heap in use and the memory the runtime
// holds from the OS (after a GC), before Open and after. Run it with
// -benchtime=1x.
func BenchmarkEmbeddedIdleMemory(b *testing.B) {
	var heap, sys, rss float64
	for b.Loop() {
		before, rss0 := memStats(), vmRSS(b)
		l := openBench(b, Options{})
		time.Sleep(200 * time.Millisecond) // let the server settle
		after, rss1 := memStats(), vmRSS(b)
		heap = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)
		sys = float64(int64(after.Sys)-int64(before.Sys)) / (1 << 20)
		rss = float64(rss1-rss0) / (1 << 10)
		l.Close()
	}
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(sys, "sys-MiB")
	b.ReportMetric(rss, "rss-MiB")
}

func memStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// vmRSS is the process's resident set in KiB, from /proc (0 elsewhere).
func vmRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(rest, &kb); err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	return 0
}

func openBench(b *testing.B, opts Options) *Log {
	b.Helper()
	opts.Dir, opts.Logger = b.TempDir(), quiet
	l, err := Open(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
