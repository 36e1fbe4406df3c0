package main

import (
	"fmt"
	"testing"
	"time"
)

func TestTallyCountsOnlyStableClients(t *testing.T) {
	cfg := defaultConfig()
	cfg.clients = 4
	b := newBench(&cfg)
	for _, m := range b.members[:3] {
		m.joined.Store(true)
	}
	// Client 3 never joined; client 2 was lost during the run.
	b.members[2].lost.Store(true)
	b.members[0].sent.Store(10)
	b.members[1].sent.Store(10)
	b.members[2].sent.Store(4) // sent before it was lost: for both stable clients
	b.members[0].delivered.Store(10 + 4)
	b.members[1].delivered.Store(10 + 3)
	b.members[2].delivered.Store(7) // a lost receiver's deliveries do not count
	expected, delivered := b.tally()
	if want := int64(10*1 + 10*1 + 4*2); expected != want {
		t.Errorf("expected %d deliveries, want %d", expected, want)
	}
	if delivered != 27 {
		t.Errorf("delivered %d, want 27", delivered)
	}
}

func TestDeliverFilters(t *testing.T) {
	cfg := defaultConfig()
	cfg.clients = 2
	b := newBench(&cfg)
	start := time.Now()
	b.start.Store(start.UnixNano())
	line := func(p payload) []byte { return appendPayload([]byte("<user1> "), b.run, p) }
	now := start.Add(time.Second)
	to := b.members[1]

	b.scan(to, line(payload{from: 0, seq: 1, sent: start.UnixNano() + 1}), now)
	if to.delivered.Load() != 0 {
		t.Error("a delivery counted outside the measured phase")
	}
	b.counting.Store(true)
	for _, p := range []payload{
		{from: 1, seq: 1, sent: start.UnixNano() + 1},                       // its own message
		{from: 0, seq: 1, sent: start.UnixNano() - 1},                       // from before the phase
		{from: 0, seq: 1, sent: now.UnixNano() + 1},                         // from the future (cut short)
		{from: 5, seq: 1, sent: start.UnixNano() + 1},                       // no such client
		{from: 0, seq: 0, sent: start.UnixNano() + 1},                       // no such message
		{from: 0, seq: 1, sent: now.Add(-10 * time.Millisecond).UnixNano()}, // counts
	} {
		b.scan(to, line(p), now)
	}
	if got := to.delivered.Load(); got != 1 {
		t.Errorf("%d deliveries counted, want 1", got)
	}
	if b.hist.count() != 1 || b.hist.maximum() < 10*time.Millisecond || b.hist.maximum() > 11*time.Millisecond {
		t.Errorf("latency recorded: %d samples, max %v; want one of 10ms", b.hist.count(), b.hist.maximum())
	}
}

func TestErrorTallyIsBounded(t *testing.T) {
	et := newErrorTally()
	for i := range 100 {
		et.add(fmt.Errorf("dial: read tcp 127.0.0.1:%d->127.0.0.1:7443: connection reset", 40000+i))
		et.add(fmt.Errorf("kind %d", i))
	}
	snap := et.snapshot()
	if len(snap) != maxDistinctErrors+1 || et.total() != 200 {
		t.Fatalf("%d kinds, %d errors: %+v", len(snap), et.total(), snap)
	}
	if snap[0].Count != 100 || snap[0].Error != "dial: read tcp 127.0.0.1:PORT->127.0.0.1:PORT: connection reset" {
		t.Errorf("addresses not merged: %+v", snap[0])
	}
	if last := snap[len(snap)-1]; last.Error != "other errors" || last.Count != 91 {
		t.Errorf("overflow bucket: %+v", last)
	}
	if et.first() != snap[0].Error {
		t.Errorf("first error %q", et.first())
	}
}

// stallingConn is a connection whose first send takes stall, as a send on
// a machine too busy to run the client on time would.
type stallingConn struct {
	stall time.Duration
	sends int
}

func (c *stallingConn) send([]byte) error {
	if c.sends++; c.sends == 1 {
		time.Sleep(c.stall)
	}
	return nil
}

func (c *stallingConn) close() {}

// TestSendLoopCountsTheSlotsItSkips: a sender held up for several periods
// gives up the slots it missed rather than bursting, and counts them, so
// that sent plus skipped is the schedule.
func TestSendLoopCountsTheSlotsItSkips(t *testing.T) {
	cfg := defaultConfig()
	cfg.clients = 1
	b := newBench(&cfg)
	m := b.members[0]
	m.conn = &stallingConn{stall: 450 * time.Millisecond}
	const period, slots = 50 * time.Millisecond, 20
	start := time.Now()
	b.sendLoop(t.Context(), m, start, start.Add(slots*period), period)
	sent, skipped := m.sent.Load(), m.skipped.Load()
	if skipped < 7 {
		t.Errorf("skipped %d slots after a send that took 9 periods; want at least 7", skipped)
	}
	if sent+skipped != slots {
		t.Errorf("sent %d and skipped %d: %d slots, want %d", sent, skipped, sent+skipped, slots)
	}
}
