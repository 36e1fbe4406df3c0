package room

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// newBigRoom returns a room that is "big" above 3 members, names at most 2
// in member lists and sums up presence only when a test says so.
func newBigRoom(t *testing.T) *Room {
	t.Helper()
	r := newTestRoom(t, Config{QuietJoinsAbove: 3, MembersListed: 2, PresenceEvery: time.Hour})
	t.Cleanup(func() { r.Close("bye") })
	return r
}

func TestBigRoomSumsUpJoinsAndLeaves(t *testing.T) {
	r := newBigRoom(t)
	a, b, c := mustJoin(t, r, "a"), mustJoin(t, r, "b"), mustJoin(t, r, "c")
	assertEvents(t, a, "join b", "join c") // 3 members: still announced
	drain(b)
	if r.presence.timer != nil {
		t.Error("a summary is due with nothing to sum up")
	}

	d, _ := r.Join("d", JoinOptions{})
	assertEvents(t, d, "history-begin 3", "join a", "join b", "join c", "history-end",
		"join d", "members a,b of 4") // the joiner still learns it is in
	e := mustJoin(t, r, "e")
	e.Send("/quit")
	for _, m := range []*Member{a, b, c, d} {
		assertEvents(t, m) // nobody is told
	}
	if r.presence.timer == nil {
		t.Fatal("no summary is due")
	}

	r.summarisePresence()
	for _, m := range []*Member{a, b, c, d} {
		assertEvents(t, m, "presence +2 -1 =4")
	}
	r.summarisePresence() // nothing new: nothing sent
	assertEvents(t, a)

	d.Send("/nick dee") // still announced
	assertEvents(t, a, "nick d dee")
	d.Send("/quit") // 4 members counting dee: summed up
	assertEvents(t, a)
	c.Send("/quit") // 3 members counting c: announced
	assertEvents(t, a, "leave c quit")
	r.summarisePresence()
	assertEvents(t, a, "presence +0 -1 =2")
}

func TestBigRoomLeavesAreSummedUp(t *testing.T) {
	r := newTestRoom(t, Config{QuietJoinsAbove: 1, PresenceEvery: time.Hour, HistorySize: 1, OutboxSize: 20})
	defer r.Close("bye")
	a := mustJoin(t, r, "a")
	sleeper := mustJoin(t, r, "sleeper")
	for range 25 {
		a.Send("x")
	}
	sleeper.Leave(Reason{Kind: ReasonLost})
	drain(a)
	r.summarisePresence()
	assertEvents(t, a, "presence +1 -1 =1")
}

func TestPresenceSummaryArrivesOnItsOwn(t *testing.T) {
	r := newTestRoom(t, Config{QuietJoinsAbove: 1, PresenceEvery: 10 * time.Millisecond})
	defer r.Close("bye")
	a, wake := wokenMember(t, r, "a")
	mustJoin(t, r, "b")
	got := awaitEvents(a, wake, 1, 5*time.Second)
	if len(got) == 0 {
		t.Fatal("no presence summary")
	}
	if ev := got[0]; ev.Kind != Presence || ev.Joined != 1 || ev.Left != 0 || ev.Count != 2 || ev.Seq == 0 {
		t.Errorf("got %+v, want a public presence event: 1 joined, 2 members", *ev)
	}
}

func TestCloseCancelsThePendingSummary(t *testing.T) {
	r := newTestRoom(t, Config{QuietJoinsAbove: 1, PresenceEvery: time.Hour})
	mustJoin(t, r, "a")
	mustJoin(t, r, "b")
	if r.presence.timer == nil {
		t.Fatal("no summary is due")
	}
	r.Close("bye")
	if r.presence.timer != nil {
		t.Error("the summary is still due after Close")
	}
}

func TestMemberListsAreCapped(t *testing.T) {
	r := newBigRoom(t)
	for _, nick := range []string{"Dora", "bob", "Carl"} {
		mustJoin(t, r, nick)
	}
	alice := mustJoin(t, r, "alice")
	alice.Send("/who")
	assertEvents(t, alice, "members alice,bob of 4")
	alice.Send("/nick zed")
	drain(alice)
	alice.Send("/who")
	assertEvents(t, alice, "members bob,Carl of 4")
	if got := r.Members(); len(got) != 4 || got[3] != "zed" {
		t.Errorf("Members() = %q, want all four, sorted", got)
	}
}

// pullMember joins nick as a member that pulls its events; wakes counts the
// calls of its Wake.
func pullMember(t *testing.T, r *Room, nick string) (m *Member, wakes *atomic.Int32) {
	t.Helper()
	wakes = new(atomic.Int32)
	m, err := r.Join(nick, JoinOptions{Wake: func() { wakes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return m, wakes
}

func takeAll(m *Member) (events []*Event, open bool) {
	for {
		var batch []*Event
		batch, open = m.Take(nil, 2)
		if len(batch) == 0 {
			return events, open
		}
		events = append(events, batch...)
	}
}

func TestPullMemberIsWokenOncePerIdlePeriod(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob, wakes := pullMember(t, r, "bob")
	got, open := takeAll(bob)
	if want := []string{"history-begin 1", "join alice", "history-end", "join bob", "members alice,bob"}; !slices.Equal(describe(got), want) || !open {
		t.Errorf("after Join took %q (open %v), want %q", describe(got), open, want)
	}
	if n := wakes.Load(); n != 0 {
		t.Errorf("Join woke the member %d times; the front end takes first", n)
	}
	alice.Send("one")
	alice.Send("two")
	if n := wakes.Load(); n != 1 {
		t.Errorf("woken %d times for two events, want once", n)
	}
	got, _ = takeAll(bob)
	if want := []string{"chat alice one", "chat alice two"}; !slices.Equal(describe(got), want) {
		t.Errorf("took %q, want %q", describe(got), want)
	}
	if cap(bob.outbox.events) > keptQueueCap {
		t.Errorf("a drained queue keeps room for %d events", cap(bob.outbox.events))
	}
	alice.Send("/msg bob hi")
	bob.Leave(Reason{Kind: ReasonQuit})
	if n := wakes.Load(); n != 2 {
		t.Errorf("woken %d times in all, want 2", n)
	}
	got, open = takeAll(bob)
	if len(got) != 1 || open {
		t.Errorf("after leaving took %q, open %v; want the private message, then the end", describe(got), open)
	}
}

func TestLeavingWakesAnIdlePullMember(t *testing.T) {
	r := newTestRoom(t, Config{})
	bob, wakes := pullMember(t, r, "bob")
	takeAll(bob)
	r.Close("bye")
	if n := wakes.Load(); n != 1 {
		t.Errorf("woken %d times by Close, want once", n)
	}
	got, open := takeAll(bob)
	if want := []string{"bye bye server shutting down"}; !slices.Equal(describe(got), want) || open {
		t.Errorf("took %q, open %v; want %q and the end", describe(got), open, want)
	}
}

func TestPullMemberThatDoesNotTakeSkipsWhatDoesNotFit(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 1, OutboxSize: 21})
	alice := mustJoin(t, r, "alice")
	bob, _ := pullMember(t, r, "bob")
	for range 25 {
		alice.Send("x")
	}
	if got := bob.Reason(); got != (Reason{}) {
		t.Fatalf("bob left (%q); only its front end may decide it stopped reading", got)
	}
	got, open := takeAll(bob) // its join, the members, history, 12 chats; 4 places kept for replies
	if len(got) != 17 || !open {
		t.Errorf("took %d events, open %v; want the 17 that fitted, still open", len(got), open)
	}
	alice.Send("y")
	got, _ = takeAll(bob)
	if want := []string{"notice you fell behind: 13 events were skipped", "members alice,bob", "chat alice y"}; !slices.Equal(describe(got), want) {
		t.Errorf("took %q, want %q", describe(got), want)
	}
}
