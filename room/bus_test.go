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

// The tests of several nodes serving one room: Rooms ("nodes") that share
// one log and one nickname store, each fed the log's events in order by a
// goroutine of its own (a follower, as jetlog's Follow), linked by a
// small in-test Bus.

// sharedLog is the log the nodes share: a MemoryLog that tells its
// followers when it grows. It is not a *MemoryLog, so a room on it does
// its slow work as with a network store (the sequencer lets go of the
// member lock while it appends, and the feed may come meanwhile).
type sharedLog struct {
	*MemoryLog
	mu   sync.Mutex
	grew chan struct{} // closed when an event is appended
}

func newSharedLog() *sharedLog {
	return &sharedLog{MemoryLog: NewMemoryLog(1 << 16), grew: make(chan struct{})}
}

func (l *sharedLog) Append(ev *Event) (uint64, error) {
	seq, err := l.MemoryLog.Append(ev)
	l.mu.Lock()
	close(l.grew)
	l.grew = make(chan struct{})
	l.mu.Unlock()
	return seq, err
}

// changed returns a channel closed at the next Append.
func (l *sharedLog) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grew
}

// follower feeds one room the shared log's events, in order, from a
// goroutine, as a node's feed does.
type follower struct {
	stop    chan struct{}
	stopped chan struct{}
}

// follow starts feeding r the events of l after r.Delivered(); the test's
// cleanup stops it.
func follow(t *testing.T, l *sharedLog, r *Room) *follower {
	t.Helper()
	f := &follower{stop: make(chan struct{}), stopped: make(chan struct{})}
	after := mustDelivered(t, r)
	go func() {
		defer close(f.stopped)
		for {
			grew := l.changed()
			evs, _ := l.Replay(after, 1<<16)
			for _, ev := range evs {
				r.Feed(ev)
				after = ev.Seq
			}
			if len(evs) > 0 {
				continue
			}
			select {
			case <-grew:
			case <-f.stop:
				return
			}
		}
	}()
	t.Cleanup(f.halt)
	return f
}

// halt stops the follower and waits for it; it may be called again.
func (f *follower) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.stopped
}

// cluster links test nodes: each node's Bus lists the others' members as
// they were at the last sync (a real bus heartbeats), and whispers by
// calling the other rooms' DeliverPrivate.
type cluster struct {
	mu    sync.Mutex
	nodes []*testBus
}

// testBus is one node's Bus.
type testBus struct {
	c       *cluster
	name    string
	room    *Room
	peers   []Peer // the others' members at the last sync; guarded by c.mu
	changes atomic.Int64
}

func (b *testBus) Peers() []Peer {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return slices.SortedFunc(slices.Values(b.peers), func(a, b Peer) int { return CompareNicks(a.Nick, b.Nick) })
}

func (b *testBus) MembersChanged() { b.changes.Add(1) }

func (b *testBus) Whisper(from Sender, to, text string) (string, error) {
	b.c.mu.Lock()
	nodes := slices.Clone(b.c.nodes)
	b.c.mu.Unlock()
	for _, other := range nodes {
		if other == b {
			continue
		}
		nick, err := other.room.DeliverPrivate(from, to, text)
		if !errors.Is(err, ErrNoSuchMember) {
			return nick, err
		}
	}
	return "", fmt.Errorf("%w: nobody called %s on any node", ErrNoSuchMember, to)
}

// sync has every node's bus learn the others' members now.
func (c *cluster) sync() {
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	rosters := make([][]Peer, len(nodes))
	for i, n := range nodes {
		rosters[i] = n.room.Roster()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range nodes {
		n.peers = nil
		for j, ro := range rosters {
			if j == i {
				continue
			}
			for _, p := range ro {
				p.Node = nodes[j].name
				n.peers = append(n.peers, p)
			}
		}
	}
}

// nodes starts n rooms with cfg on one shared log and nickname store,
// each followed, linked by a cluster.
func nodes(t *testing.T, n int, cfg Config) (*cluster, []*Room, *sharedLog) {
	t.Helper()
	l := newSharedLog()
	nicks := NewMemoryNicks(DefaultMaxHeldNicks, func() time.Time { return fixedTime })
	c := &cluster{}
	var rooms []*Room
	for i := range n {
		b := &testBus{c: c, name: string(rune('a' + i))}
		cfg := cfg
		cfg.Log, cfg.Nicks, cfg.Bus = l, nicks, b
		r := newTestRoom(t, cfg)
		b.room = r
		c.nodes = append(c.nodes, b)
		rooms = append(rooms, r)
		t.Cleanup(func() { r.Close("done") })
		follow(t, l, r)
	}
	return c, rooms, l
}

// watcher gathers a member's events as the room wakes it.
type watcher struct {
	m      *Member
	wake   chan struct{}
	events []*Event
}

func watch(t *testing.T, r *Room, nick string, opts JoinOptions) *watcher {
	t.Helper()
	w := &watcher{wake: make(chan struct{}, 1)}
	opts.Wake = func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	m, err := r.Join(nick, opts)
	if err != nil {
		t.Fatalf("Join(%q): %v", nick, err)
	}
	w.m = m
	return w
}

// until gathers w's events until cond holds of them, or fails the test
// after a deadline.
func (w *watcher) until(t *testing.T, what string, cond func([]*Event) bool) []*Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		got, _ := takeAll(w.m)
		w.events = append(w.events, got...)
		if cond(w.events) {
			return w.events
		}
		select {
		case <-w.wake:
		case <-deadline:
			t.Fatalf("%s: %s never came; got %q", w.m.Nick(), what, describe(w.events))
		}
	}
}

// hasText reports whether a public event with text is among evs.
func hasText(text string) func([]*Event) bool {
	return func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Text == text && ev.Seq > 0 })
	}
}

// public returns the public events of evs.
func public(evs []*Event) []*Event {
	return slices.DeleteFunc(slices.Clone(evs), func(ev *Event) bool { return !ev.Kind.Public() })
}

// TestNodesShowOneOrder: members on three nodes, two of each node
// chatting at once, all see the same public events in the same order,
// the log's.
func TestNodesShowOneOrder(t *testing.T) {
	_, rooms, _ := nodes(t, 3, Config{OutboxSize: 2048})
	var ws []*watcher
	for i, r := range rooms {
		for j := range 2 {
			ws = append(ws, watch(t, r, fmt.Sprintf("n%dm%d", i, j), JoinOptions{Echo: true}))
		}
	}
	last := ws[len(ws)-1].m.Nick()
	for _, w := range ws {
		w.until(t, "the last join", func(evs []*Event) bool {
			return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Join && ev.From == last })
		})
	}
	const lines = 50
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for i := range lines {
				if err := w.m.Say(fmt.Sprintf("%s %d", w.m.Nick(), i)); err != nil {
					t.Errorf("Say: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var want []uint64
	for i, w := range ws {
		evs := w.until(t, "every line", func(evs []*Event) bool {
			n := 0
			for _, ev := range evs {
				if ev.Kind == Chat {
					n++
				}
			}
			return n == lines*len(ws)
		})
		var seqs []uint64
		for _, ev := range public(evs) {
			if ev.Kind == Chat {
				seqs = append(seqs, ev.Seq)
			}
		}
		if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
			t.Errorf("%s saw the lines out of order or twice: %v", w.m.Nick(), seqs)
		}
		if i == 0 {
			want = seqs
		} else if !slices.Equal(seqs, want) {
			t.Errorf("%s saw another order than %s", w.m.Nick(), ws[0].m.Nick())
		}
	}
}

// TestJoinerOnAnotherNodeMissesNothing: while a member of node A chats, a
// member joins on node B: its history and the live events that follow
// are every event of the log from the first it is shown, once each, in
// order; its own Join comes through the feed, right after its history.
func TestJoinerOnAnotherNodeMissesNothing(t *testing.T) {
	_, rooms, l := nodes(t, 2, Config{HistorySize: 20, OutboxSize: 4096})
	a := watch(t, rooms[0], "alice", JoinOptions{Echo: true})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := a.m.Say(fmt.Sprintf("line %d", i)); err != nil {
				t.Errorf("Say: %v", err)
				return
			}
		}
	}()
	a.until(t, "line 100", hasText("line 100"))
	bob := watch(t, rooms[1], "bob", JoinOptions{})
	close(stop)
	<-done
	a.m.Say("the end")
	evs := bob.until(t, "the end and its own join", func(evs []*Event) bool {
		return hasText("the end")(evs) && slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Join && ev.From == "bob" })
	})
	shown := public(evs)
	first, last := shown[0].Seq, shown[len(shown)-1].Seq
	logged, _ := l.Replay(first-1, 1<<16)
	logged = slices.DeleteFunc(logged, func(ev *Event) bool { return ev.Seq > last })
	if got, want := seqsOf(shown), seqsOf(logged); !slices.Equal(got, want) {
		t.Errorf("bob was shown %v\nthe log holds %v", got, want)
	}
}

// TestNoEchoAcrossTheFeed: a member that asked for no echo is not shown
// its own line when the feed brings it back, on a busy room whose
// sequencer is storing when the feed comes; the others are, on every
// node.
func TestNoEchoAcrossTheFeed(t *testing.T) {
	_, rooms, _ := nodes(t, 2, Config{OutboxSize: 2048})
	quiet := watch(t, rooms[0], "quiet", JoinOptions{})
	loud := watch(t, rooms[0], "loud", JoinOptions{Echo: true})
	far := watch(t, rooms[1], "far", JoinOptions{})
	far.until(t, "far's join", func(evs []*Event) bool { return len(public(evs)) > 0 })
	const lines = 100
	var wg sync.WaitGroup
	for _, w := range []*watcher{quiet, loud, far} {
		wg.Go(func() {
			for i := range lines {
				w.m.Say(fmt.Sprintf("%s %d", w.m.Nick(), i))
			}
		})
	}
	wg.Wait()
	for _, w := range []*watcher{quiet, loud, far} {
		w.until(t, "the others' lines", func(evs []*Event) bool {
			for _, from := range []string{"quiet", "loud", "far"} {
				if from != w.m.Nick() && !hasText(fmt.Sprintf("%s %d", from, lines-1))(evs) {
					return false
				}
			}
			return true
		})
	}
	count := func(w *watcher, from string) int {
		n := 0
		for _, ev := range w.events {
			if ev.Kind == Chat && ev.From == from {
				n++
			}
		}
		return n
	}
	if n := count(quiet, "quiet"); n != 0 {
		t.Errorf("quiet was shown %d of its own lines", n)
	}
	if n := count(far, "far"); n != 0 {
		t.Errorf("far was shown %d of its own lines", n)
	}
	for _, w := range []*watcher{loud, far} {
		if n := count(w, "quiet"); n != lines {
			t.Errorf("%s was shown %d of quiet's lines, want %d", w.m.Nick(), n, lines)
		}
	}
	if n := count(loud, "loud"); n != lines {
		t.Errorf("loud was shown %d of its own lines, want %d", n, lines)
	}
}

// TestWhoListsEveryNode: /who on node A lists the members of node B too,
// sorted, capped at MembersListed, counting them all; the bus is told
// when the local members change.
func TestWhoListsEveryNode(t *testing.T) {
	c, rooms, _ := nodes(t, 2, Config{MembersListed: 3})
	alice := watch(t, rooms[0], "alice", JoinOptions{})
	watch(t, rooms[1], "Bob", JoinOptions{})
	watch(t, rooms[1], "carol", JoinOptions{})
	watch(t, rooms[0], "dave", JoinOptions{})
	c.sync()
	if err := alice.m.Who(); err != nil {
		t.Fatal(err)
	}
	evs := alice.until(t, "the member list", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Members && ev.Count == 4 })
	})
	i := slices.IndexFunc(evs, func(ev *Event) bool { return ev.Kind == Members && ev.Count == 4 })
	if got := describe(evs[i : i+1]); !slices.Equal(got, []string{"members alice,Bob,carol of 4"}) {
		t.Errorf("/who: %q", got)
	}
	if who := rooms[1].Who(); who.Count != 4 || !slices.Equal(who.Nicks, []string{"alice", "Bob", "carol"}) {
		t.Errorf("Who on B: %v of %d", who.Nicks, who.Count)
	}
	if got := c.nodes[0].changes.Load(); got != 2 {
		t.Errorf("node A's bus was told of %d changes, want 2 (two joins)", got)
	}
	if err := alice.m.Rename("alicia"); err != nil {
		t.Fatal(err)
	}
	if got := c.nodes[0].changes.Load(); got < 3 {
		t.Errorf("node A's bus was not told of a rename")
	}
}

// stubBus is a Bus that lists fixed peers, for one room alone.
type stubBus struct{ peers []Peer }

func (b *stubBus) Peers() []Peer                                  { return b.peers }
func (b *stubBus) MembersChanged()                                {}
func (b *stubBus) Whisper(Sender, string, string) (string, error) { return "", ErrNotDelivered }

// TestWhoIgnoresBadPeers: a peer's nickname that is not valid (another
// node's record may be corrupt) is left out, and one listed twice counts
// once.
func TestWhoIgnoresBadPeers(t *testing.T) {
	bus := &stubBus{peers: []Peer{{Nick: "zed"}, {Nick: "bad nick\x1b"}, {Nick: strings.Repeat("x", 500)}, {Nick: "ZED"}, {Nick: "amy"}}}
	slices.SortFunc(bus.peers, func(a, b Peer) int { return CompareNicks(a.Nick, b.Nick) }) // as Bus.Peers promises
	r := newTestRoom(t, Config{Bus: bus, Log: newSharedLog()})
	defer r.Close("done")
	mustJoin(t, r, "bob")
	if who := r.Who(); who.Count != 3 || !slices.Equal(who.Nicks, []string{"amy", "bob", "ZED"}) {
		t.Errorf("Who: %q of %d, want amy,bob,ZED of 3", who.Nicks, who.Count)
	}
}

// TestPrivateMessageAcrossNodes: /msg from a member of node A reaches a
// member of node B, and A's member gets its receipt; to nobody, the
// error says so.
func TestPrivateMessageAcrossNodes(t *testing.T) {
	_, rooms, _ := nodes(t, 2, Config{})
	alice := watch(t, rooms[0], "alice", JoinOptions{})
	bob := watch(t, rooms[1], "bob", JoinOptions{})
	alice.m.Send("/msg BOB psst")
	bob.until(t, "the private message", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool {
			return ev.Kind == Private && ev.From == "alice" && ev.To == "bob" && ev.Text == "psst"
		})
	})
	alice.until(t, "the receipt", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == PrivateSent && ev.To == "bob" && ev.Text == "psst" })
	})
	if err := alice.m.Whisper("nobody", "hello?"); !errors.Is(err, ErrNoSuchMember) {
		t.Errorf("Whisper to nobody: %v, want ErrNoSuchMember", err)
	}
	if err := alice.m.Whisper("not a nick!", "hello?"); !errors.Is(err, ErrNoSuchMember) {
		t.Errorf("Whisper to an invalid nick: %v, want ErrNoSuchMember", err)
	}
}

// TestDeliverPrivateRefuses: a private message from another node is
// refused past the sender's share, to nobody, from a sender whose
// nickname is not valid or a local member's, and when too long or empty;
// its text is cleaned.
func TestDeliverPrivateRefuses(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Bus: &stubBus{}, Log: l, PrivateBurst: 2, MaxLineBytes: 64})
	defer r.Close("done")
	bob := mustJoin(t, r, "bob")
	feedLog(t, r, l) // bob's Join: its welcome
	drain(bob)
	from := Sender{Nick: "alice", Identity: Identity{Address: "192.0.2.1"}}
	for range 2 {
		if nick, err := r.DeliverPrivate(from, "BOB", "hi\x1b[2J\x07"); err != nil || nick != "bob" {
			t.Fatalf("DeliverPrivate: %q, %v", nick, err)
		}
	}
	assertEvents(t, bob, "private alice bob hi", "private alice bob hi")
	if _, err := r.DeliverPrivate(from, "bob", "more"); !errors.Is(err, ErrPrivateLimit) {
		t.Errorf("past the share: %v, want ErrPrivateLimit", err)
	}
	other := Sender{Nick: "carol", Identity: Identity{Address: "192.0.2.2"}}
	if _, err := r.DeliverPrivate(other, "bob", "mine"); err != nil {
		t.Errorf("another sender's share: %v", err)
	}
	if _, err := r.DeliverPrivate(other, "nobody", "x"); !errors.Is(err, ErrNoSuchMember) {
		t.Errorf("to nobody: %v, want ErrNoSuchMember", err)
	}
	if _, err := r.DeliverPrivate(Sender{Nick: "bad\nnick"}, "bob", "x"); !errors.Is(err, ErrNotDelivered) {
		t.Errorf("from an invalid nick: %v, want ErrNotDelivered", err)
	}
	if _, err := r.DeliverPrivate(Sender{Nick: "Bob"}, "bob", "x"); !errors.Is(err, ErrNotDelivered) {
		t.Errorf("from a local member's nick: %v, want ErrNotDelivered", err)
	}
	if _, err := r.DeliverPrivate(other, "bob", strings.Repeat("x", 65)); !errors.Is(err, ErrTooLong) {
		t.Errorf("too long: %v, want ErrTooLong", err)
	}
	if _, err := r.DeliverPrivate(other, "bob", " \t "); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v, want ErrEmpty", err)
	}
}

// TestResumeOnAnotherNode: a member shown events on node A resumes on
// node B after the last one it was shown, before B's feed has brought
// it: the resume waits for the feed, then shows what followed, once
// each.
func TestResumeOnAnotherNode(t *testing.T) {
	l := newSharedLog()
	nicks := NewMemoryNicks(DefaultMaxHeldNicks, func() time.Time { return fixedTime })
	c := &cluster{}
	var rooms []*Room
	for i := range 2 {
		b := &testBus{c: c, name: string(rune('a' + i))}
		r := newTestRoom(t, Config{Log: l, Nicks: nicks, Bus: b})
		b.room = r
		c.nodes = append(c.nodes, b)
		rooms = append(rooms, r)
		t.Cleanup(func() { r.Close("done") })
	}
	follow(t, l, rooms[0])
	alice := watch(t, rooms[0], "alice", JoinOptions{Echo: true})
	for i := range 10 {
		alice.m.Say(fmt.Sprint("before ", i))
	}
	evs := alice.until(t, "before 9", hasText("before 9"))
	seen := public(evs)[len(public(evs))-1].Seq
	for i := range 5 {
		alice.m.Say(fmt.Sprint("after ", i))
	}
	resumed := make(chan *watcher)
	go func() {
		w := &watcher{wake: make(chan struct{}, 1)}
		m, err := rooms[1].Join("alice2", JoinOptions{Resume: true, ResumeAfter: seen, Wake: func() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}})
		if err != nil {
			t.Errorf("resume on B: %v", err)
			close(resumed)
			return
		}
		w.m = m
		resumed <- w
	}()
	follow(t, l, rooms[1]) // B's feed starts now: the resume waited for it
	w, ok := <-resumed
	if !ok {
		return
	}
	got := public(w.until(t, "after 4", hasText("after 4")))
	var texts []string
	for _, ev := range got {
		if ev.Kind == Chat {
			texts = append(texts, ev.Text)
		}
	}
	if want := []string{"after 0", "after 1", "after 2", "after 3", "after 4"}; !slices.Equal(texts, want) {
		t.Errorf("resumed on B: %q, want %q", texts, want)
	}
	if seqs := seqsOf(got); !slices.IsSorted(seqs) || seqs[0] != seen+1 || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Errorf("resumed on B after %d: %v", seen, seqs)
	}
}

// TestDeliveredStartsAtTheLogsEnd: a node started on a log that holds
// events starts its feed after them; Roster lists its members.
func TestDeliveredStartsAtTheLogsEnd(t *testing.T) {
	l := newSharedLog()
	for range 7 {
		l.Append(&Event{Kind: Chat, From: "old", Text: "x"})
	}
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}})
	defer r.Close("done")
	if got := mustDelivered(t, r); got != 7 {
		t.Errorf("Delivered: %d, want 7", got)
	}
	r.Feed(&Event{Kind: Chat, Seq: 8, From: "far", Text: "y"})
	r.Feed(&Event{Kind: Private, Seq: 9, From: "far", Text: "not public"})
	r.Feed(&Event{Kind: Chat, Seq: 5, From: "far", Text: "old"})
	r.Feed(nil)
	if got := mustDelivered(t, r); got != 8 {
		t.Errorf("Delivered after feeding: %d, want 8", got)
	}
	mustJoin(t, r, "bob")
	roster := r.Roster()
	if len(roster) != 1 || roster[0].Nick != "bob" || roster[0].Node != "" || !roster[0].Joined.Equal(fixedTime) {
		t.Errorf("Roster: %+v", roster)
	}
}

// TestFeedWithoutBusDoesNothing: a room of one node delivers what it
// stores, and Feed changes nothing.
func TestFeedWithoutBusDoesNothing(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	r.Feed(&Event{Kind: Chat, Seq: 100, From: "ghost", Text: "boo"})
	assertEvents(t, alice)
	bob := mustJoin(t, r, "bob")
	assertEvents(t, alice, "join bob")
	bob.Say("hi")
	assertEvents(t, alice, "chat bob hi")
	if got := mustDelivered(t, r); got != 3 {
		t.Errorf("Delivered: %d, want 3", got)
	}
}

// lagLog is a shared log whose reads lag behind its feed: Replay does not
// see its last hide events yet (a replica that has not caught up).
type lagLog struct {
	*sharedLog
	hide atomic.Uint64
}

func (l *lagLog) Replay(after uint64, n int) ([]*Event, error) {
	evs, err := l.sharedLog.Replay(after, 1<<16)
	last, _ := l.LastSeq()
	evs = slices.DeleteFunc(evs, func(ev *Event) bool { return ev.Seq+l.hide.Load() > last })
	return evs[max(0, len(evs)-n):], err
}

// TestHistoryEndsWhereTheFeedIs: a joiner whose history was read from a
// log that lags behind the feed is shown the events between, from those
// the feed delivered last; if the room no longer keeps them all, its
// history starts after the gap, and a resume is told what it missed.
func TestHistoryEndsWhereTheFeedIs(t *testing.T) {
	l := &lagLog{sharedLog: newSharedLog()}
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}, HistorySize: 5, ResumeSize: 8})
	t.Cleanup(func() { r.Close("done") })
	follow(t, l.sharedLog, r)
	for i := range 20 {
		l.Append(&Event{Kind: Chat, From: "far", Text: fmt.Sprint(i)})
	}
	for i, tc := range []struct {
		hide   uint64
		resume uint64 // how many events before the end
		shown  uint64 // how many the history shows, up to the end
		notice string
	}{
		{hide: 3, shown: 5},
		{hide: 3, resume: 4, shown: 4},
		{hide: 12, resume: 15, shown: 8, notice: "notice " + cutNotice(7, 8, true)},
	} {
		end, _ := l.LastSeq()
		if !r.waitFeed(end) {
			t.Fatalf("the feed never reached %d", end)
		}
		l.hide.Store(tc.hide)
		opts := JoinOptions{Resume: tc.resume > 0}
		if tc.resume > 0 {
			opts.ResumeAfter = end - tc.resume
		}
		nick := fmt.Sprint("j", i)
		got := watch(t, r, nick, opts).until(t, "its own join", func(evs []*Event) bool {
			return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Join && ev.From == nick })
		})
		if i := slices.IndexFunc(got, func(ev *Event) bool { return ev.Kind == HistoryEnd }); i >= 0 {
			got = got[:i] // its own Join follows, from the feed
		}
		var seqs []uint64
		for _, ev := range got {
			if ev.Seq > 0 {
				seqs = append(seqs, ev.Seq)
			}
		}
		var want []uint64
		for seq := end - tc.shown + 1; seq <= end; seq++ {
			want = append(want, seq)
		}
		if !slices.Equal(seqs, want) {
			t.Errorf("hide %d, resume %d: history %v, want %v", tc.hide, tc.resume, seqs, want)
		}
		if notice := describe(got[:1])[0]; tc.notice != "" && notice != tc.notice {
			t.Errorf("hide %d, resume %d: %q, want %q", tc.hide, tc.resume, notice, tc.notice)
		}
	}
}

// TestResumeFromAPointTheFeedHasNotReached: with no feed running, a resume
// from a point beyond the log's end is reset, as on one node; one within
// it fails, wrapping ErrUnavailable, once the room has waited for its
// feed long enough (a Join then gets in with the recent history, which
// ends where the feed is: nothing yet).
func TestResumeFromAPointTheFeedHasNotReached(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}, feedCatchUp: 50 * time.Millisecond})
	defer r.Close("done")
	for range 3 {
		l.Append(&Event{Kind: Chat, From: "far", Text: "x"})
	}
	if from, reset, err := r.ResumeFrom(9); from != 0 || !reset || err != nil {
		t.Errorf("ResumeFrom(9) beyond the end: %d, %v, %v; want a reset", from, reset, err)
	}
	if _, _, err := r.ResumeFrom(2); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ResumeFrom(2) with the feed behind: %v, want ErrUnavailable", err)
	}
	late, err := r.Join("late", JoinOptions{Resume: true, ResumeAfter: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(late); len(public(got)) != 0 {
		t.Errorf("Join resuming with the feed behind was shown events the feed has not delivered: %q", describe(got))
	}
	r.Feed(&Event{Kind: Chat, Seq: 2, From: "far", Text: "x"})
	if from, reset, err := r.ResumeFrom(2); from != 2 || reset || err != nil {
		t.Errorf("ResumeFrom(2) once fed: %d, %v, %v", from, reset, err)
	}
}

// TestQuietJoinsPerNode: in a node too big to announce joins one by one,
// a joiner is shown its own Join alone, and the node's Presence summary
// reaches the members of every node through the feed.
func TestQuietJoinsPerNode(t *testing.T) {
	_, rooms, _ := nodes(t, 2, Config{QuietJoinsAbove: 1, PresenceEvery: 10 * time.Millisecond})
	far := watch(t, rooms[1], "far", JoinOptions{})
	watch(t, rooms[0], "first", JoinOptions{})
	second := watch(t, rooms[0], "second", JoinOptions{})
	second.until(t, "its own join", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Join && ev.From == "second" && ev.Seq == 0 })
	})
	far.until(t, "node A's summary", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Presence && ev.Joined == 1 && ev.Seq > 0 })
	})
}

// mustDelivered is r.Delivered, failing t on an error.
// feedLog feeds r every event l holds, as its feed would.
func feedLog(t *testing.T, r *Room, l *sharedLog) {
	t.Helper()
	evs, err := l.Replay(0, 1<<16)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	for _, ev := range evs {
		r.Feed(ev)
	}
}

func mustDelivered(t *testing.T, r *Room) uint64 {
	t.Helper()
	after, err := r.Delivered()
	if err != nil {
		t.Fatalf("Delivered: %v", err)
	}
	return after
}

// endlessLog is a sharedLog whose end cannot be read while failing is set.
type endlessLog struct {
	*sharedLog
	failing atomic.Bool
}

var errNoEnd = errors.New("the stream is electing a leader")

func (l *endlessLog) LastSeq() (uint64, error) {
	if l.failing.Load() {
		return 0, errNoEnd
	}
	return l.sharedLog.LastSeq()
}

// TestDeliveredWaitsForTheLogsEnd: a node whose log could not say where
// it ends when the room was made never starts its feed from 0 (which would
// show its members the whole history as new): Delivered returns the log's
// error, at once, as often as asked and past the backoff of the reads of
// ResumeFrom, and the end once the log can tell it.
func TestDeliveredWaitsForTheLogsEnd(t *testing.T) {
	l := &endlessLog{sharedLog: newSharedLog()}
	for range 1000 {
		l.Append(&Event{Kind: Chat, From: "old", Text: "x"})
	}
	l.failing.Store(true)
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}})
	defer r.Close("done")
	for range 2 {
		if after, err := r.Delivered(); !errors.Is(err, errNoEnd) {
			t.Fatalf("Delivered while the end cannot be read: %d, %v; want errNoEnd", after, err)
		}
	}
	l.failing.Store(false)
	if got := mustDelivered(t, r); got != 1000 {
		t.Errorf("Delivered once the end can be read: %d, want 1000", got)
	}
}

// TestWhoMerges: /who lists the first MembersListed of the local members
// and the peers merged in order (a look-alike on both sides once), and
// counts them all, from a Peers list of thousands.
func TestWhoMerges(t *testing.T) {
	bus := &stubBus{}
	for i := range 5000 {
		bus.peers = append(bus.peers, Peer{Nick: fmt.Sprintf("p%04d", i), Node: "b"})
	}
	bus.peers = append(bus.peers, Peer{Nick: "Carol", Node: "b"})
	slices.SortFunc(bus.peers, func(a, b Peer) int { return CompareNicks(a.Nick, b.Nick) })
	r := newTestRoom(t, Config{Bus: bus, Log: newSharedLog(), MembersListed: 5})
	defer r.Close("done")
	for _, nick := range []string{"alice", "carol", "p0001x", "zoe"} {
		mustJoin(t, r, nick)
	}
	who := r.Who()
	if want := []string{"alice", "Carol", "p0000", "p0001", "p0001x"}; !slices.Equal(who.Nicks, want) {
		t.Errorf("Who lists %q, want %q", who.Nicks, want)
	}
	if who.Count != 4+5001-1 {
		t.Errorf("Who counts %d, want %d", who.Count, 4+5001-1)
	}
}

// finderBus is a stubBus that finds one peer itself (PeerFinder).
type finderBus struct {
	stubBus
	asked atomic.Int32
}

func (b *finderBus) Peers() []Peer { panic("Room.Peer scanned Peers") }
func (b *finderBus) Peer(nick string) (Peer, bool) {
	b.asked.Add(1)
	return Peer{Nick: "Dave", Node: "b"}, NickKey(nick) == NickKey("dave")
}

// TestPeerByFinder: Room.Peer asks a PeerFinder bus, never scanning Peers.
func TestPeerByFinder(t *testing.T) {
	bus := &finderBus{}
	r := newTestRoom(t, Config{Bus: bus, Log: newSharedLog()})
	defer r.Close("done")
	if p, ok := r.Peer("DAVE"); !ok || p.Node != "b" || bus.asked.Load() != 1 {
		t.Errorf("Peer(DAVE) = %+v, %v (asked %d)", p, ok, bus.asked.Load())
	}
	if _, ok := r.Peer("erin"); ok {
		t.Error("Peer(erin) found one")
	}
}

// gatedLog is a sharedLog whose Append, once the gate is set, signals
// entered and waits for the gate to open.
type gatedLog struct {
	*sharedLog
	gate    chan struct{}
	entered chan struct{}
}

func (l *gatedLog) Append(ev *Event) (uint64, error) {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		select {
		case l.entered <- struct{}{}:
		default:
		}
		<-gate
	}
	return l.sharedLog.Append(ev)
}

// TestDeliverPrivateDoesNotWait: a private message from another node is
// answered as soon as the room takes it into its order, even while a
// batch is being stored (a slow append: a leader election), and reaches
// its receiver after that batch.
func TestDeliverPrivateDoesNotWait(t *testing.T) {
	log := &gatedLog{sharedLog: newSharedLog(), entered: make(chan struct{}, 1)}
	r := newTestRoom(t, Config{Bus: &stubBus{}, Log: log})
	defer r.Close("done")
	bob := watch(t, r, "bob", JoinOptions{})
	carol := mustJoin(t, r, "carol")
	feedLog(t, r, log.sharedLog) // their Joins: their welcomes
	gate := make(chan struct{})
	log.mu.Lock()
	log.gate = gate
	log.mu.Unlock()
	go carol.Send("slow") // stores it on this goroutine, blocked at the gate
	<-log.entered         // the batch is in flight
	done := make(chan error, 1)
	go func() {
		_, err := r.DeliverPrivate(Sender{Nick: "alice"}, "bob", "psst")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("DeliverPrivate: %v", err)
		}
	case <-time.After(2 * time.Second):
		close(gate)
		t.Fatal("DeliverPrivate waited for the batch in flight")
	}
	log.mu.Lock()
	log.gate = nil
	log.mu.Unlock()
	close(gate)
	bob.until(t, "the private message", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Private && ev.From == "alice" && ev.Text == "psst" })
	})
}
