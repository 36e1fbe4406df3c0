package room

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// watchedLog is a checkedLog that tells the room when its store is lost
// and back (LogWatcher), as a network store's connection does.
type watchedLog struct {
	*checkedLog
	mu       sync.Mutex
	down     func(error)
	up       func()
	watchers int
}

func (l *watchedLog) WatchStore(down func(error), up func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down, l.up = down, up
	l.watchers++
}

func (l *watchedLog) lose(err error) {
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	down(err)
}

func (l *watchedLog) back() {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	up()
}

// TestStoreLostTurnsReadOnlyAtOnce: a log that says its store is lost
// turns an idle room read-only at once, without any Append: every member
// is told once, it is logged once with the reason and counted; saying it
// again changes nothing. Told the store is back, the probe checks at once
// (not after its backoff, here an hour), and the room is writable again.
func TestStoreLostTurnsReadOnlyAtOnce(t *testing.T) {
	var buf syncBuffer
	var failures atomic.Int64
	l := &watchedLog{checkedLog: &checkedLog{testLog: newTestLog(t, 10)}}
	l.setCheck(errors.New("still down"), false)
	r := newTestRoom(t, Config{
		Log:         l,
		Logger:      slog.New(slog.NewTextHandler(&buf, nil)),
		StoreFailed: func(error) { failures.Add(1) },
		probeFirst:  time.Hour,
	})
	l.room.Store(r)
	t.Cleanup(func() { r.Close("") })
	if l.watchers != 1 {
		t.Fatalf("the room registered %d times with its log, want once", l.watchers)
	}
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	drain(bob)
	calls := countAppends(l.testLog)

	l.lose(errors.New("lost the NATS server nats://127.0.0.1:4222"))
	assertEvents(t, alice, "notice "+ReadOnlyNotice)
	assertEvents(t, bob, "notice "+ReadOnlyNotice)
	if s := r.Stats(); !s.ReadOnly || s.ReadOnlyTurns != 1 {
		t.Errorf("stats read-only %v, turns %d; want true, 1", s.ReadOnly, s.ReadOnlyTurns)
	}
	l.lose(errors.New("lost it again"))
	assertEvents(t, alice)
	if err := alice.Say("hello?"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Say while lost = %v, want ErrReadOnly", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the log was asked %d times to append", n)
	}
	out := buf.String()
	if n := strings.Count(out, "read-only"); n != 1 || !strings.Contains(out, "nats://127.0.0.1:4222") {
		t.Errorf("the log says read-only %d times; want once, with the reason:\n%s", n, out)
	}
	if n := failures.Load(); n != 2 {
		t.Errorf("StoreFailed heard %d failures, want 2", n)
	}

	l.setCheck(nil, false)
	start := time.Now()
	l.back()
	waitWritable(t, r)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writable %v after the store was back", d)
	}
	assertEvents(t, bob, "notice "+WritableNotice)
	alice.Send("stored again")
	assertEvents(t, bob, "chat alice stored again")
}

// TestStoreLostAfterCloseDoesNothing: a log that loses its store after the
// room closed (chatd closes the room, then the log) changes nothing and
// starts no probe (goleak checks).
func TestStoreLostAfterCloseDoesNothing(t *testing.T) {
	l := &watchedLog{checkedLog: &checkedLog{testLog: newTestLog(t, 10)}}
	r := newTestRoom(t, Config{Log: l})
	mustJoin(t, r, "alice")
	r.Close("")
	l.lose(errors.New("connection closed"))
	l.back()
	if r.Stats().ReadOnly {
		t.Error("a closed room turned read-only")
	}
}

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
