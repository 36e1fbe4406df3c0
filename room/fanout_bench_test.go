package room

import (
	"fmt"
	"testing"
)

// BenchmarkFanout measures the room's side of fan-out alone: one chat
// message accepted, stored and queued for every member of a room, with no
// other goroutine running (BenchmarkBroadcast's readers compete for the
// CPU). The members pull their events; their queues are emptied off the
// clock before they fill. ns/op is per message; deliveries/op says how many
// members got each.
func BenchmarkFanout(b *testing.B) {
	const every = 512 // messages between two emptyings of the queues
	for _, members := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			r := New(Config{FloodBurst: 1 << 30, FloodRate: 1e9, OutboxSize: 2 * every})
			defer r.Close("done")
			var all []*Member
			for i := range members {
				m, err := r.Join(fmt.Sprintf("m%d", i), JoinOptions{Wake: func() {}})
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, m)
			}
			var buf []*Event
			empty := func() {
				for _, m := range all {
					for {
						if buf, _ = m.Take(buf[:0], 256); len(buf) == 0 {
							break
						}
					}
				}
			}
			empty()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%every == every-1 {
					b.StopTimer()
					empty()
					b.StartTimer()
				}
				all[0].Send("a line of chat of an ordinary length, about sixty bytes")
			}
			b.StopTimer()
			b.ReportMetric(float64(members-1), "deliveries/op")
		})
	}
}
