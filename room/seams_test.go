package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLog is a Log for tests: a MemoryLog whose calls can be made to fail
// or to wait, and which checks that the room never calls it while holding
// its member lock.
type testLog struct {
	t    *testing.T
	mem  *MemoryLog
	room atomic.Pointer[Room] // set once the room exists, for the lock check

	mu         sync.Mutex
	failAppend func(ev *Event) error // nil: succeed
	failReplay error
	gate       chan struct{} // if set, Append waits for it to be closed
	entered    chan struct{} // if set, Append signals here before waiting
	appends    []uint64      // the sequence numbers handed out, in order
}

func newTestLog(t *testing.T, size int) *testLog {
	return &testLog{t: t, mem: NewMemoryLog(size)}
}

// checkUnlocked fails the test if the room's member lock is held. Tests
// that use it call the room from one goroutine at a time, so a held lock
// can only be held by the caller.
func checkUnlocked(t *testing.T, r *Room, call string) {
	if r == nil {
		return
	}
	if !r.mu.mu.TryLock() {
		t.Errorf("%s was called with the member lock held", call)
		return
	}
	r.mu.mu.Unlock()
}

func (l *testLog) Append(ev *Event) (uint64, error) {
	l.mu.Lock()
	fail, gate, entered := l.failAppend, l.gate, l.entered
	l.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	} else {
		checkUnlocked(l.t, l.room.Load(), "Log.Append")
	}
	if fail != nil {
		if err := fail(ev); err != nil {
			return 0, err
		}
	}
	seq, err := l.mem.Append(ev)
	l.mu.Lock()
	l.appends = append(l.appends, seq)
	l.mu.Unlock()
	return seq, err
}

func (l *testLog) Replay(after uint64, n int) ([]*Event, error) {
	l.mu.Lock()
	err := l.failReplay
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return l.mem.Replay(after, n)
}

func (l *testLog) set(f func(*testLog)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// newLoggedRoom returns a test room whose Log is l.
func newLoggedRoom(t *testing.T, l *testLog, cfg Config) *Room {
	cfg.Log = l
	r := newTestRoom(t, cfg)
	l.room.Store(r)
	return r
}

// seqs returns the sequence numbers of the public events among events.
func seqs(events []*Event) []uint64 {
	var out []uint64
	for _, ev := range events {
		if ev.Kind.Public() && ev.Seq != 0 {
			out = append(out, ev.Seq)
		}
	}
	return out
}

// TestRoomUsesItsLog: every public event goes through the room's Log, which
// numbers it; a joiner's history is what the log replays, including what
// it stored before the room existed (as a persistent log would after a
// restart), and new events are numbered after it.
func TestRoomUsesItsLog(t *testing.T) {
	l := newTestLog(t, 10)
	for i := range 3 { // a previous life
		if _, err := l.mem.Append(&Event{Kind: Chat, From: "ghost", Text: fmt.Sprint("old ", i), Time: fixedTime}); err != nil {
			t.Fatal(err)
		}
	}
	r := newLoggedRoom(t, l, Config{HistorySize: 10})
	alice, err := r.Join("alice", JoinOptions{Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, alice, "history-begin 3", "chat ghost old 0", "chat ghost old 1", "chat ghost old 2", "history-end",
		"join alice", "members alice")
	bob := mustJoin(t, r, "bob")
	alice.Send("hello")
	alice.Send("/me waves")
	alice.Send("/nick al")
	alice.Send("/msg bob psst") // private: not logged
	bob.Send("/quit")
	got := drain(alice)
	if want := []uint64{5, 6, 7, 8, 9}; !slices.Equal(seqs(got), want) {
		t.Errorf("alice saw public events %v, want %v: %q", seqs(got), want, describe(got))
	}
	if want := []uint64{4, 5, 6, 7, 8, 9}; !slices.Equal(l.appends, want) {
		t.Errorf("the log handed out %v, want %v", l.appends, want)
	}
	carol, _ := r.Join("carol", JoinOptions{})
	history := drain(carol)
	if first, n := history[0], len(seqs(history)); first.Kind != HistoryBegin || first.Count != 9 || n != 10 {
		t.Errorf("carol's history: %q, want the log's last 9 events, then her join", describe(history))
	}
	if s := seqs(history); !slices.Equal(s, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("carol saw %v", s)
	}
}

// TestSlowLogDoesNotHoldTheMemberLock: while the log takes its time over
// one member's message, the member lock is free: the room answers at once,
// and takes the others' commands and messages. What they cause is
// delivered in the room's order once the log has stored the message: the
// answer to /who, another message, a private message, none of them ahead
// of the slow one.
func TestSlowLogDoesNotHoldTheMemberLock(t *testing.T) {
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	carol := mustJoin(t, r, "carol")
	drain(alice)
	drain(bob)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { alice.Send("slow words") })
	<-entered // the log has the message, and waits
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	l.room.Store(nil) // the lock check needs one goroutine at a time

	wg.Go(func() {
		bob.Send("/who") // waits behind alice's message
		bob.Send("/msg carol meanwhile")
	})
	waitQueued(t, r, 1)
	wg.Go(func() { carol.Send("later words") })
	waitQueued(t, r, 2)
	if got := r.Members(); len(got) != 3 || r.Len() != 3 || bob.Nick() != "bob" || r.Stats().Members != 3 {
		t.Errorf("Members() = %q while the log waits", got)
	}
	assertEvents(t, bob)
	close(gate)
	wg.Wait()
	assertEvents(t, bob, "chat alice slow words", "members alice,bob,carol", "chat carol later words", "private-sent bob carol meanwhile")
	assertEvents(t, carol, "chat alice slow words", "private bob carol meanwhile")
}

// waitQueued waits until at least n jobs are queued for the sequencer
// behind the batch in flight.
func waitQueued(t *testing.T, r *Room, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		queued := len(r.jobs.pending)
		r.mu.Unlock()
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", queued, n)
		}
	}
}

// TestCloseDeliversWhatCameBefore: events accepted before Close reach the
// members before its Bye, even while the log is slow.
func TestCloseDeliversWhatCameBefore(t *testing.T) {
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { alice.Send("last words") })
	<-entered
	l.set(func(l *testLog) { l.entered = nil }) // Close appends the leaves too
	wg.Go(func() { r.Close("going down") })
	for !closed(r) {
		time.Sleep(time.Millisecond)
	}
	alice.Send("too late") // the room is closed: not stored, not shown
	close(gate)
	wg.Wait()
	assertEvents(t, bob, "chat alice last words", "bye going down server shutting down")
	if bob.Reason().Kind != ReasonShutdown {
		t.Errorf("bob's reason = %q", bob.Reason())
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(l.appends, want) {
		t.Errorf("the log stored %v, want the two joins, the last words and the two leaves at Close", l.appends)
	}
}

// closed reports whether r has been closed.
func closed(r *Room) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// TestConcurrentPublishersKeepLogOrder: with many members sending at once,
// the log hands out sequence numbers one by one, every member sees the
// events in that order, and a late joiner's history is the log's last
// events, in the same order.
func TestConcurrentPublishersKeepLogOrder(t *testing.T) {
	const senders, perSender, historySize = 6, 40, 50
	l := newTestLog(t, historySize)
	r := newLoggedRoom(t, l, Config{HistorySize: historySize, OutboxSize: senders*perSender + 64})
	l.room.Store(nil) // the lock check needs one goroutine at a time
	var members []*Member
	for i := range senders {
		members = append(members, mustJoin(t, r, fmt.Sprint("s", i)))
	}
	watcher := mustJoin(t, r, "watcher")
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			for j := range perSender {
				m.Send(fmt.Sprintf("%d-%d", i, j))
			}
		})
	}
	wg.Wait()
	live := drain(watcher)
	if s := seqs(live); len(s) != senders*perSender || !slices.IsSorted(s) || s[len(s)-1]-s[0] != uint64(len(s)-1) {
		t.Fatalf("watcher saw %d events, want %d numbered one by one", len(s), senders*perSender)
	}
	if !slices.IsSorted(l.appends) {
		t.Error("the log handed out sequence numbers out of order")
	}
	late := drain(mustJoinKeep(t, r, "late"))
	history := late[1 : 1+historySize]
	if want := live[len(live)-historySize:]; !slices.Equal(history, want) {
		t.Errorf("the late joiner's history differs from the last %d events the watcher saw", historySize)
	}
}

// mustJoinKeep is mustJoin without draining the joiner's first events.
func mustJoinKeep(t *testing.T, r *Room, nick string) *Member {
	t.Helper()
	m, err := r.Join(nick, JoinOptions{})
	if err != nil {
		t.Fatalf("Join(%q): %v", nick, err)
	}
	return m
}

// TestJoinersRacingPublishersSeeNoGap: members join while others send; each
// joiner's history and then its live events are numbered one by one, with
// no gap and no duplicate, its history ending just before its own Join.
func TestJoinersRacingPublishersSeeNoGap(t *testing.T) {
	const senders, perSender, joiners, historySize = 4, 60, 12, 8
	r := newTestRoom(t, Config{HistorySize: historySize, OutboxSize: senders*perSender + 4*joiners + 64})
	var talkers []*Member
	for i := range senders {
		talkers = append(talkers, mustJoin(t, r, fmt.Sprint("s", i)))
	}
	var wg sync.WaitGroup
	for i, m := range talkers {
		wg.Go(func() {
			for j := range perSender {
				m.Send(fmt.Sprintf("%d-%d", i, j))
			}
		})
	}
	arrived := make([]*Member, joiners)
	for i := range joiners {
		wg.Go(func() {
			m, err := r.Join(fmt.Sprint("j", i), JoinOptions{})
			if err != nil {
				t.Errorf("j%d: %v", i, err)
			}
			arrived[i] = m
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, m := range arrived {
		events := drain(m)
		s := seqs(events)
		for i := 1; i < len(s); i++ {
			if s[i] != s[i-1]+1 {
				t.Fatalf("%s saw %d after %d: %q", m.Nick(), s[i], s[i-1], describe(events))
			}
		}
		own := slices.IndexFunc(events, func(ev *Event) bool { return ev.Kind == Join && ev.From == m.Nick() })
		if own < 0 {
			t.Fatalf("%s never saw its own join", m.Nick())
		}
		if events[0].Kind == HistoryBegin {
			end := slices.IndexFunc(events, func(ev *Event) bool { return ev.Kind == HistoryEnd })
			if end != own-1 || end-1 != events[0].Count || min(historySize, int(events[own].Seq)-1) != events[0].Count {
				t.Errorf("%s's history: %q, want the last %d events before its join", m.Nick(), describe(events[:own+1]), historySize)
			}
		}
	}
}

// testNicks is a Nicks for tests: a MemoryNicks that records its calls,
// can be made to wait in Hold, and checks that the room never calls its
// slow methods while holding its member lock.
type testNicks struct {
	t    *testing.T
	mem  *MemoryNicks
	room atomic.Pointer[Room]

	mu      sync.Mutex
	calls   []string
	holding chan struct{} // if set, Hold signals here, then waits for gate
	gate    chan struct{}
}

func (n *testNicks) record(call string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, call)
}

func (n *testNicks) Claim(nick string, c NickClaim) error {
	checkUnlocked(n.t, n.room.Load(), "Nicks.Claim")
	n.record("claim " + nick)
	return n.mem.Claim(nick, c)
}

func (n *testNicks) Release(nick string, c NickClaim) error {
	checkUnlocked(n.t, n.room.Load(), "Nicks.Release")
	n.record("release " + nick)
	return n.mem.Release(nick, c)
}

func (n *testNicks) Hold(nick string, c NickClaim, grace time.Duration) error {
	n.mu.Lock()
	holding, gate := n.holding, n.gate
	n.mu.Unlock()
	if holding != nil {
		holding <- struct{}{}
		<-gate
	} else {
		checkUnlocked(n.t, n.room.Load(), "Nicks.Hold")
	}
	n.record("hold " + nick)
	return n.mem.Hold(nick, c, grace)
}

func (n *testNicks) Owner(nick string) (NickOwner, bool) { return n.mem.Owner(nick) }

// TestRoomUsesItsNickStore: joins, renames and leaves claim, release and
// hold nicknames in the room's Nicks, never under the member lock; a
// nickname taken in the store is refused at the door.
func TestRoomUsesItsNickStore(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	nicks := &testNicks{t: t, mem: NewMemoryNicks(10, clock.Now)}
	r := newTestRoom(t, Config{Now: clock.Now, Nicks: nicks})
	nicks.room.Store(r)
	home := Identity{Address: "192.0.2.1"}
	alice, _ := joinAs(r, "alice", home)
	bob, _ := joinAs(r, "bob", Identity{Address: "192.0.2.2"})
	alice.Send("/nick Al")
	alice.Leave(Reason{Kind: ReasonLost})
	bob.Send("/quit")
	// A rename claims the new nickname before it releases the old one.
	want := []string{"claim alice", "claim bob", "claim Al", "release alice", "hold Al", "release bob"}
	if !slices.Equal(nicks.calls, want) {
		t.Errorf("the store was called %q, want %q", nicks.calls, want)
	}
	if _, err := joinAs(r, "al", Identity{Address: "198.51.100.7"}); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), "held for") {
		t.Errorf("joining as al: %v, want it held", err)
	}
	// Someone elsewhere (another node) has a nickname: refused here too.
	if err := nicks.mem.Claim("remote", NickClaim{Member: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	if _, err := joinAs(r, "Remote", Identity{}); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("joining as Remote: %v, want it in use", err)
	}
	r.Close("bye")
}

// TestPendingHoldIsSeenAtOnce: while the store is still writing the hold
// on a nickname whose member was disconnected, the room already refuses the
// nickname to others and gives it back to its owner.
func TestPendingHoldIsSeenAtOnce(t *testing.T) {
	nicks := &testNicks{t: t, mem: NewMemoryNicks(10, func() time.Time { return fixedTime })}
	r := newTestRoom(t, Config{Nicks: nicks, NickGrace: time.Minute})
	home := Identity{Address: "192.0.2.1"}
	alice, _ := joinAs(r, "alice", home)
	holding, gate := make(chan struct{}), make(chan struct{})
	nicks.mu.Lock()
	nicks.holding, nicks.gate = holding, gate
	nicks.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { alice.Leave(Reason{Kind: ReasonLost}) })
	<-holding // the hold is being written
	nicks.mu.Lock()
	nicks.holding, nicks.gate = nil, nil
	nicks.mu.Unlock()
	if _, err := r.Join("alice", JoinOptions{Identity: Identity{Address: "198.51.100.7"}}); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), "held for 1m0s") {
		t.Errorf("another address joining as alice meanwhile: %v, want it held", err)
	}
	var back *Member
	var err error
	wg.Go(func() { back, err = r.Join("alice", JoinOptions{Identity: home}) }) // waits for the hold
	close(gate)
	wg.Wait()
	if err != nil {
		t.Fatalf("alice coming back: %v", err)
	}
	if got := drain(back); len(got) == 0 || describe(got)[len(got)-1] != "members alice" {
		t.Errorf("alice back got %q", describe(got))
	}
	r.Close("bye")
}

// TestHubDeliversInSequenceOrderOnce: whatever feeds the hub, members see
// each numbered event once, in order.
func TestHubDeliversInSequenceOrderOnce(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice, _ := r.Join("alice", JoinOptions{Echo: true})
	drain(alice)
	r.mu.Lock()
	start := r.hub.last
	var delivered []bool
	for _, seq := range []uint64{1, 2, 2, 1, 3} {
		ev := &Event{Kind: Chat, From: "bus", Text: fmt.Sprint(seq), Seq: start + seq, Time: fixedTime}
		delivered = append(delivered, r.hub.deliver(r, ev, nil))
	}
	r.mu.Unlock()
	if want := []bool{true, true, false, false, true}; !slices.Equal(delivered, want) {
		t.Errorf("deliver reported %v, want %v", delivered, want)
	}
	assertEvents(t, alice, "chat bus 1", "chat bus 2", "chat bus 3")
}

// TestMemoryLogReplaysRanges checks MemoryLog's Replay: the last n, or
// those after a sequence number, within what it remembers.
func TestMemoryLogReplaysRanges(t *testing.T) {
	l := NewMemoryLog(5)
	if evs, _ := l.Replay(0, 10); len(evs) != 0 {
		t.Errorf("an empty log replayed %d events", len(evs))
	}
	for i := range 8 {
		seq, err := l.Append(&Event{Kind: Chat, Text: fmt.Sprint(i)})
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("Append %d: %d, %v", i, seq, err)
		}
	}
	for _, c := range []struct {
		after uint64
		n     int
		want  []uint64
	}{
		{0, 10, []uint64{4, 5, 6, 7, 8}},
		{0, 2, []uint64{7, 8}},
		{5, 10, []uint64{6, 7, 8}},
		{5, 1, []uint64{8}},
		{8, 10, nil},
		{1, 10, []uint64{4, 5, 6, 7, 8}},
	} {
		evs, err := l.Replay(c.after, c.n)
		if got := seqs(evs); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Replay(%d, %d) = %v, %v; want %v", c.after, c.n, got, err, c.want)
		}
	}
}
