package jetlog

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"chatd/room"
)

// oneByOne hides AppendBatch: the room appends each event with its own
// Append, as before batching.
type oneByOne struct{ room.Log }

// counted counts the calls of AppendBatch and the events they carry.
type counted struct {
	*Log
	calls, events atomic.Int64
}

func (c *counted) AppendBatch(evs []*room.Event) error {
	c.calls.Add(1)
	c.events.Add(int64(len(evs)))
	return c.Log.AppendBatch(evs)
}

// BenchmarkRoomSay measures a busy room on a log: senders members saying
// lines at once (each waits for its line to be stored and delivered, as a
// connection does), 10 more members taking every event. ns/op is per
// line. The room's log is the memory log, the embedded JetStream log with
// one Append per event, and the same with the room's runs of events
// appended in batches (BatchLog).
func BenchmarkRoomSay(b *testing.B) {
	logs := []struct {
		name string
		new  func(b *testing.B) room.Log
	}{
		{"memory", func(*testing.B) room.Log { return nil }},
		{"jetstream-append", func(b *testing.B) room.Log { return oneByOne{openBench(b, Options{})} }},
		{"jetstream-batch", func(b *testing.B) room.Log { return &counted{Log: openBench(b, Options{})} }},
	}
	for _, senders := range []int{1, 16, 128} {
		for _, c := range logs {
			b.Run(fmt.Sprintf("senders=%d/%s", senders, c.name), func(b *testing.B) {
				benchmarkRoomSay(b, c.new(b), senders)
			})
		}
	}
}

func benchmarkRoomSay(b *testing.B, log room.Log, senders int) {
	r := room.New(room.Config{Log: log, FloodBurst: 1 << 30, FloodRate: 1e9, OutboxSize: 1 << 14})
	var wg sync.WaitGroup
	for i := range 10 {
		_, drain := joinDrained(b, r, fmt.Sprint("watcher", i))
		wg.Go(drain)
	}
	var ms []*room.Member
	for i := range senders {
		m, drain := joinDrained(b, r, fmt.Sprint("sender", i))
		wg.Go(drain)
		ms = append(ms, m)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var sw sync.WaitGroup
	for _, m := range ms {
		sw.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := m.Say("a line of chat of an ordinary length, about sixty bytes"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	sw.Wait()
	b.StopTimer()
	if c, ok := log.(*counted); ok && c.calls.Load() > 0 {
		b.ReportMetric(float64(c.events.Load())/float64(c.calls.Load()), "events/batch")
	}
	r.Close("done")
	wg.Wait()
}

// joinDrained joins nick to r and returns the member and the loop that
// takes its events until it leaves (woken by the room, as a connection).
func joinDrained(b *testing.B, r *room.Room, nick string) (*room.Member, func()) {
	wake := make(chan struct{}, 1)
	m, err := r.Join(nick, room.JoinOptions{Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	return m, func() {
		var buf []*room.Event
		for {
			var open bool
			buf, open = m.Take(buf[:0], 256)
			if !open {
				return
			}
			if len(buf) == 0 {
				<-wake
			}
		}
	}
}
