package room

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// The tests of a joiner's own Join on a node of several: it is shown
// once, right after its history, as on one node, however far behind the
// log the node's feed is when it joins.

// checkOwnJoin fails t unless evs, all a joiner's events from its Join on,
// show its own Join exactly once, right after its history (first if it
// has none).
func checkOwnJoin(t *testing.T, nick string, evs []*Event) {
	t.Helper()
	joins := 0
	for _, ev := range evs {
		if ev.Kind == Join && ev.From == nick {
			joins++
		}
	}
	at := 0
	if i := slices.IndexFunc(evs, func(ev *Event) bool { return ev.Kind == HistoryEnd }); i >= 0 {
		at = i + 1
	}
	if joins != 1 || at >= len(evs) || evs[at].Kind != Join || evs[at].From != nick {
		t.Errorf("%s was shown its own Join %d times, not right after its history: %q", nick, joins, describe(evs))
	}
}

// TestOwnJoinBehindALaggingFeed: a member joins on a node whose feed is
// far behind the log (more events to come before its Join than its
// outbox has room for after its history): it is shown its history up to
// its own Join, then its Join, then the member list; nothing is missed.
func TestOwnJoinBehindALaggingFeed(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}, HistorySize: 20, OutboxSize: 64})
	t.Cleanup(func() { r.Close("done") })
	mustDelivered(t, r)
	for i := range 150 { // another node's members
		l.Append(&Event{Kind: Chat, From: "far", Text: fmt.Sprint(i)})
	}
	fed, _ := l.Replay(0, 1<<16)
	for _, ev := range fed[:30] {
		r.Feed(ev)
	}
	j, err := r.Join("joiner", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := l.Replay(30, 1<<16)
	for _, ev := range rest {
		r.Feed(ev)
	}
	evs := drain(j)
	checkOwnJoin(t, "joiner", evs)
	if seqs := seqsOf(public(evs)); len(seqs) != 21 || seqs[0] != 131 || seqs[20] != 151 || !slices.IsSorted(seqs) {
		t.Errorf("joiner was shown %v, want 131 to 151: the history up to its Join, then it", seqs)
	}
	if evs[len(evs)-1].Kind != Members {
		t.Errorf("joiner was shown %q after its Join, want the member list", describe(evs))
	}
}

// TestJoinStorm: on three nodes, members join on every node at once
// while one member per node chats; each node's count crosses
// QuietJoinsAbove, so some joins are announced and some are quiet. Every
// joiner, reading nothing until all have joined, is shown its own Join
// exactly once, right after its history.
func TestJoinStorm(t *testing.T) {
	const perNode, quietAbove, lines = 30, 20, 200
	_, rooms, _ := nodes(t, 3, Config{QuietJoinsAbove: quietAbove, HistorySize: 20, OutboxSize: 64})
	var chatters []*Member
	for i, r := range rooms {
		chatters = append(chatters, watch(t, r, fmt.Sprintf("talk%d", i), JoinOptions{}).m)
	}
	stop := make(chan struct{})
	var talk sync.WaitGroup
	for _, m := range chatters {
		talk.Go(func() {
			for i := 0; i < lines; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := m.Say(fmt.Sprintf("%s %d", m.Nick(), i)); err != nil {
					t.Errorf("Say: %v", err)
					return
				}
			}
		})
	}
	joiners := make([][]*Member, len(rooms))
	var join sync.WaitGroup
	for i, r := range rooms {
		joiners[i] = make([]*Member, perNode)
		for k := range perNode {
			join.Go(func() {
				m, err := r.Join(fmt.Sprintf("n%dj%d", i, k), JoinOptions{})
				if err != nil {
					t.Errorf("Join: %v", err)
					return
				}
				joiners[i][k] = m
			})
		}
	}
	join.Wait()
	close(stop)
	talk.Wait()
	for i := range rooms {
		end, _ := rooms[i].cfg.Log.(*sharedLog).LastSeq()
		if !rooms[i].waitFeed(end) {
			t.Fatalf("node %d's feed never reached %d", i, end)
		}
	}
	for _, ms := range joiners {
		for _, m := range ms {
			if m != nil {
				checkOwnJoin(t, m.Nick(), drain(m))
			}
		}
	}
}

// TestJoinerLeavesBeforeItsJoinIsFed: a joiner that leaves while its
// Join is still to come from the feed is shown nothing of the room, and
// the feed's later events pass it by.
func TestJoinerLeavesBeforeItsJoinIsFed(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}})
	t.Cleanup(func() { r.Close("done") })
	mustDelivered(t, r)
	l.Append(&Event{Kind: Chat, From: "far", Text: "before"})
	j, err := r.Join("joiner", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Leave(Reason{Kind: ReasonQuit})
	all, _ := l.Replay(0, 1<<16)
	for _, ev := range all {
		r.Feed(ev)
	}
	if got := public(drain(j)); len(got) != 0 {
		t.Errorf("a joiner gone before its Join was fed was shown %q", describe(got))
	}
	r.mu.Lock()
	n := len(r.feedState.joiners)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("%d joiners still wait after the feed passed their Joins", n)
	}
}
