package room

import (
	"errors"
	"slices"
	"testing"
)

// TestCloseStoresTheLeaves: Close stores every member's leave (reason
// shutdown) after the events accepted before, so that the history read
// after a restart shows them leave; the members are told goodbye and
// shown none of the leaves.
func TestCloseStoresTheLeaves(t *testing.T) {
	for _, name := range []string{"memory", "network"} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{}
			var l Log = NewMemoryLog(10)
			if name == "network" {
				l = newTestLog(t, 10)
			}
			cfg.Log = l
			r := newTestRoom(t, cfg)
			alice := mustJoin(t, r, "alice")
			bob := mustJoin(t, r, "bob")
			alice.Send("last words")
			drain(alice)
			drain(bob)
			r.Close("going down")
			for _, m := range []*Member{alice, bob} {
				if got := describe(drain(m)); !slices.Equal(got, []string{"bye going down server shutting down"}) {
					t.Errorf("%s got %q at close", m.Nick(), got)
				}
			}
			evs, err := l.Replay(0, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(evs)
			want := []string{"join alice", "join bob", "chat alice last words", "leave alice server shutting down", "leave bob server shutting down"}
			if !slices.Equal(got, want) {
				t.Errorf("history after Close:\n got %q\nwant %q", got, want)
			}
			r.Close("again")
			if evs, _ := l.Replay(0, 10); len(evs) != len(want) {
				t.Errorf("a second Close stored more: %q", describe(evs))
			}
		})
	}
}

// TestCloseLeavesWithAFailingStore: a store that fails the leaves at
// Close holds it for one failed call, not one per member: the first
// failure turns the room read-only and the others are refused without
// calling it; a room already read-only does not try at all.
func TestCloseLeavesWithAFailingStore(t *testing.T) {
	l := &checkedLog{testLog: newTestLog(t, 10)}
	l.setCheck(errors.New("down"), false)
	r := newCheckedRoomOn(t, l, Config{})
	for _, nick := range []string{"alice", "bob", "carol"} {
		mustJoin(t, r, nick)
	}
	failing(l.testLog, errors.New("down"))
	calls := countAppends(l.testLog)
	r.Close("")
	if n := calls.Load(); n != 1 {
		t.Errorf("Close asked the failing log %d times, want 1", n)
	}

	l2 := &checkedLog{testLog: newTestLog(t, 10)}
	l2.setCheck(errors.New("down"), false)
	r2 := newCheckedRoomOn(t, l2, Config{})
	alice := mustJoin(t, r2, "alice")
	mustJoin(t, r2, "bob")
	failing(l2.testLog, errors.New("down"))
	alice.Send("x") // read-only now
	calls2 := countAppends(l2.testLog)
	r2.Close("")
	if n := calls2.Load(); n != 0 {
		t.Errorf("Close of a read-only room asked the log %d times", n)
	}
}

// TestCloseOfABigRoomStoresNoLeaves: in a room too big to announce joins
// and leaves one by one, Close stores none either (its joins were not
// stored): what it stores is bounded by Config.QuietJoinsAbove.
func TestCloseOfABigRoomStoresNoLeaves(t *testing.T) {
	l := NewMemoryLog(50)
	r := newTestRoom(t, Config{Log: l, QuietJoinsAbove: 2})
	for _, nick := range []string{"alice", "bob", "carol", "dave"} {
		mustJoin(t, r, nick)
	}
	before, _ := l.LastSeq()
	r.Close("")
	if after, _ := l.LastSeq(); after != before {
		evs, _ := l.Replay(before, 10)
		t.Errorf("Close of a quiet room stored %q", describe(evs))
	}
}
