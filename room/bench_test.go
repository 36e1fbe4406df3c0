package room

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkBroadcast measures fan-out: one chat message delivered to every
// member of a room, each member's events taken by its Pump, as a front end
// does, and written nowhere. ns/op is per message; deliveries/op says how
// many members got each.
func BenchmarkBroadcast(b *testing.B) {
	benchmarkBroadcast(b, func(r *Room, nick string) (*Member, func()) {
		p := NewPump(PumpConfig{Write: func([]*Event) {}, Batch: 64, Linger: time.Second})
		m, err := r.Join(nick, JoinOptions{Wake: p.Wake})
		if err != nil {
			b.Fatal(err)
		}
		p.Start(m)
		return m, func() { <-p.Done() }
	})
}

// BenchmarkBroadcastPull is BenchmarkBroadcast for members whose front end
// takes their events (JoinOptions.Wake and Member.Take) with a goroutine of
// its own, without a Pump.
func BenchmarkBroadcastPull(b *testing.B) {
	benchmarkBroadcast(b, func(r *Room, nick string) (*Member, func()) {
		wake := make(chan struct{}, 1)
		m, err := r.Join(nick, JoinOptions{Wake: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		return m, func() {
			var buf []*Event
			for {
				var open bool
				buf, open = m.Take(buf[:0], 64)
				if !open {
					return
				}
				if len(buf) == 0 {
					<-wake
				}
			}
		}
	})
}

// benchmarkBroadcast runs the fan-out benchmark at several room sizes,
// joining each member with join, which returns the member and the loop
// that drains its events until it leaves.
func benchmarkBroadcast(b *testing.B, join func(r *Room, nick string) (*Member, func())) {
	for _, members := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			r := New(Config{FloodBurst: 1 << 30, FloodRate: 1e9, OutboxSize: 4096})
			var wg sync.WaitGroup
			var sender *Member
			for i := range members {
				m, drain := join(r, fmt.Sprintf("m%d", i))
				if i == 0 {
					sender = m
				}
				wg.Go(drain)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sender.Send("a line of chat of an ordinary length, about sixty bytes")
			}
			b.StopTimer()
			b.ReportMetric(float64(members-1), "deliveries/op")
			r.Close("done")
			wg.Wait()
		})
	}
}
