package room

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pumped is what a test pump wrote: every batch, and when Left came.
type pumped struct {
	mu      sync.Mutex
	batches [][]*Event
	left    int
	lefts   int // batches written when Left was called
}

func (w *pumped) write(events []*Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, slices.Clone(events))
}

func (w *pumped) leave() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.left++
	w.lefts = len(w.batches)
}

// events returns every event written, in order.
func (w *pumped) events() []*Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Concat(w.batches...)
}

// pumpMember joins nick with a pump that records what it writes into w,
// and starts it.
func pumpMember(t *testing.T, r *Room, nick string, cfg PumpConfig) (*Member, *Pump, *pumped) {
	t.Helper()
	w := new(pumped)
	cfg.Write, cfg.Left = w.write, w.leave
	p := NewPump(cfg)
	m, err := r.Join(nick, JoinOptions{Wake: p.Wake})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(m)
	return m, p, w
}

// waitUntil waits up to 5 s for cond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitDone(t *testing.T, p *Pump) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the pump did not finish")
	}
}

func TestPumpWritesInOrderInBatchesThenSaysLeftOnce(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	for i := range 5 {
		alice.Send(fmt.Sprint("before ", i)) // history for bob's replay
	}
	bob, p, w := pumpMember(t, r, "bob", PumpConfig{Batch: 3})
	waitUntil(t, "bob's join to be written", func() bool { return len(w.events()) == 10 })
	for i := range 20 {
		alice.Send(fmt.Sprint("live ", i))
	}
	waitUntil(t, "the live lines to be written", func() bool { return len(w.events()) == 30 })
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p)

	var want []string
	want = append(want, "history-begin 6", "join alice")
	for i := range 5 {
		want = append(want, fmt.Sprint("chat alice before ", i))
	}
	want = append(want, "history-end", "join bob", "members alice,bob")
	for i := range 20 {
		want = append(want, fmt.Sprint("chat alice live ", i))
	}
	if got := describe(w.events()); !slices.Equal(got, want) {
		t.Errorf("wrote %q,\nwant %q", got, want)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, b := range w.batches {
		if len(b) == 0 || len(b) > 3 {
			t.Errorf("batch %d holds %d events, want 1 to 3", i, len(b))
		}
	}
	if w.left != 1 || w.lefts != len(w.batches) {
		t.Errorf("Left called %d times, after %d of %d batches; want once, after all", w.left, w.lefts, len(w.batches))
	}
}

// TestPumpCostsNoGoroutineWhenIdle: the goroutine that writes what Join
// queued ends at once, and so does one for a one-off event, so an idle
// member has none.
func TestPumpCostsNoGoroutineWhenIdle(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob, p, w := pumpMember(t, r, "bob", PumpConfig{Linger: time.Hour})
	waitUntil(t, "the goroutine that wrote bob's join to end", func() bool { return !p.running.Load() })
	// Long after the last goroutine ended, bob is not in a flow of events:
	// its next goroutine must end without lingering for an hour.
	p.ended = time.Now().Add(-2 * time.Hour)
	alice.Send("one-off")
	waitUntil(t, "the one-off line to be written", func() bool { return len(w.events()) == 6 })
	waitUntil(t, "the one-off goroutine to end", func() bool { return !p.running.Load() })
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p)
}

// TestPumpLingersInAFlowOfEvents: a member whose last goroutine ended less
// than Linger ago keeps its next one for Linger, and writes what comes
// meanwhile with it; leaving ends a lingering goroutine at once.
func TestPumpLingersInAFlowOfEvents(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob, p, w := pumpMember(t, r, "bob", PumpConfig{Linger: time.Hour})
	waitUntil(t, "the goroutine that wrote bob's join to end", func() bool { return !p.running.Load() })
	alice.Send("one")
	waitUntil(t, "the first line to be written", func() bool { return len(w.events()) == 6 })
	time.Sleep(20 * time.Millisecond)
	if !p.running.Load() {
		t.Fatal("the goroutine of a member in a flow of events did not linger")
	}
	alice.Send("two")
	waitUntil(t, "the second line to be written", func() bool { return len(w.events()) == 7 })
	if !p.running.Load() {
		t.Fatal("the lingering goroutine ended after writing")
	}
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p) // within 5 s, not an hour
}

// TestPumpLosesNoWake sends events in bursts with pauses about as long as
// the linger, so that wakes race with goroutines that are stopping: every
// event must be written, in order.
func TestPumpLosesNoWake(t *testing.T) {
	const lines = 1000
	r := newTestRoom(t, Config{OutboxSize: 2 * lines})
	alice := mustJoin(t, r, "alice")
	bob, p, w := pumpMember(t, r, "bob", PumpConfig{Linger: 50 * time.Microsecond, Batch: 4})
	for i := range lines {
		alice.Send(fmt.Sprint(i))
		if i%7 == 0 {
			time.Sleep(time.Duration(i%5) * 20 * time.Microsecond)
		}
	}
	waitUntil(t, "every line to be written", func() bool { return len(w.events()) == 5+lines })
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p)
	for i, ev := range w.events()[5:] {
		if ev.Text != fmt.Sprint(i) {
			t.Fatalf("line %d is %q", i, ev.Text)
		}
	}
}

// TestPumpBlockedInWriteOnlyHoldsUpItsMember: a front end that does not
// take its batch makes its own member fall behind, never the room or the
// other members; once it takes again, it is told what it missed.
func TestPumpBlockedInWriteOnlyHoldsUpItsMember(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 1, OutboxSize: 20})
	alice := mustJoin(t, r, "alice")
	carol := mustJoin(t, r, "carol")
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	var wrote [][]*Event
	p := NewPump(PumpConfig{Write: func(events []*Event) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
		wrote = append(wrote, slices.Clone(events))
	}})
	bob, err := r.Join("bob", JoinOptions{Wake: p.Wake})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(bob)
	<-entered // bob's join is taken, and its writer stuck
	drain(alice)
	drain(carol)
	sent := make(chan struct{})
	carolGot := 0
	go func() {
		defer close(sent)
		for range 40 {
			alice.Send("x")
			carolGot += len(drain(carol))
		}
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("the room waited on a member stuck in its Write")
	}
	if carolGot != 40 {
		t.Errorf("carol got %d lines, want 40", carolGot)
	}
	close(gate)
	waitUntil(t, "bob's outbox to be taken", func() bool { return bob.outbox.free() == bob.outbox.limit })
	alice.Send("y")
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p)
	got := describe(slices.Concat(wrote...))
	fitted := bob.outbox.limit - r.cfg.replyRoom() // the lines public events may fill
	want := []string{fmt.Sprintf("notice you fell behind: %d events were skipped", 40-fitted), "members alice,bob,carol", "chat alice y"}
	if n := len(got); n != 5+fitted+3 || !slices.Equal(got[n-3:], want) {
		t.Errorf("bob was written %q; want its join, the %d lines that fitted, then %q", got, fitted, want)
	}
}

// TestPumpKeepsItsBufferOnlyWhileItRuns: in a flow of events the outbox
// keeps the buffer a burst grew, rather than growing it again for the next
// burst; once the pump's goroutine ends, an idle member holds none.
func TestPumpKeepsItsBufferOnlyWhileItRuns(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	gate := make(chan struct{}, 1)
	gate <- struct{}{} // the join's batch goes through
	var written atomic.Int32
	p := NewPump(PumpConfig{Linger: time.Hour, Write: func(events []*Event) {
		<-gate
		written.Add(int32(len(events)))
	}})
	bob, err := r.Join("bob", JoinOptions{Wake: p.Wake})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(bob)
	waitUntil(t, "the join's goroutine to end", func() bool { return !p.running.Load() })
	alice.Send("first") // bob is in a flow now: this goroutine lingers
	waitUntil(t, "the first line to be taken", func() bool { return bob.outbox.free() == bob.outbox.limit })
	for i := range 20 {
		alice.Send(fmt.Sprint("burst ", i))
	}
	close(gate)
	waitUntil(t, "the burst to be written", func() bool { return written.Load() == 5+21 })
	if c := bob.outbox.capacity(); c < 20 || !p.running.Load() {
		t.Errorf("while the pump lingers the outbox holds %d places (running %v); want the burst's buffer kept", c, p.running.Load())
	}
	bob.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p)

	carol, p2, _ := pumpMember(t, r, "carol", PumpConfig{})
	for i := range 20 {
		alice.Send(fmt.Sprint("more ", i))
	}
	waitUntil(t, "carol's goroutine to end", func() bool { return !p2.running.Load() && carol.outbox.free() == carol.outbox.limit })
	if c := carol.outbox.capacity(); c > keptQueueCap {
		t.Errorf("an idle member's outbox holds %d places, want at most %d", c, keptQueueCap)
	}
	carol.Leave(Reason{Kind: ReasonQuit})
	waitDone(t, p2)
}

// capacity returns how many events the queue's buffer holds now.
func (q *queue) capacity() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return cap(q.events)
}
