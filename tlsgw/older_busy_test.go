package tlsgw

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd/room"
)

// gatedPagerLog is a MemoryLog whose Before waits for gate.
type gatedPagerLog struct {
	*room.MemoryLog
	gate    chan struct{}
	entered chan struct{}
}

func (l *gatedPagerLog) Before(seq uint64, n int) ([]*room.Event, error) {
	l.entered <- struct{}{}
	<-l.gate
	return l.MemoryLog.Before(seq, n)
}

// TestRoomBusyDoesNotKick: "busy" answers because the room as a whole is
// at its page budget (others are paging) are not held against a client
// that asks within its own limit: it is not disconnected as flooding.
func TestRoomBusyDoesNotKick(t *testing.T) {
	l := &gatedPagerLog{MemoryLog: room.NewMemoryLog(100), gate: make(chan struct{}), entered: make(chan struct{})}
	var clock atomic.Int64 // a second further at each look: no member is ever over its own rate
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Add(int64(time.Second))) }
	r := room.New(room.Config{HistorySize: 5, FloodBurst: 100, Log: l, Now: now})
	ts := startServer(t, Config{Room: r})
	alice := ts.join(t, "alice")
	alice.send("hello")
	alice.send("/who")
	alice.expect("*** 1 member: alice")

	var wg sync.WaitGroup
	for _, nick := range []string{"p1", "p2"} { // the room's reads, held
		m, err := r.Join(nick, room.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { m.Older(3, 1) })
		<-l.entered
	}
	bob := numberedJoin(t, ts, "bob")
	for range maxOlderRefused + 5 {
		bob.send("/older 3 1")
		bob.expect("*** older before 3: busy")
	}
	bob.send("/who")
	bob.expect(" members: ")
	close(l.gate)
	wg.Wait()
}
