package client

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/room"
	"chatd/tlsgw"
)

// failingLog is a memory log whose appends fail while fail is set, as a
// store that went away does.
type failingLog struct {
	*room.MemoryLog
	fail atomic.Bool
}

var errStoreGone = errors.New("the store went away")

func (l *failingLog) Append(ev *room.Event) (uint64, error) {
	if l.fail.Load() {
		return 0, errStoreGone
	}
	return l.MemoryLog.Append(ev)
}

// TestRefusedLineIsMarkedNotSent: the first line typed after the room's
// store failed is shown as it is sent (the session cannot know yet), then
// refused; by the time the session passes on the refusal, NotSent says
// that line was not sent, so the screen marks it. A line the room stored
// before is not marked, and a line typed once the room is known to be
// read-only is not shown at all.
func TestRefusedLineIsMarkedNotSent(t *testing.T) {
	log := &failingLog{MemoryLog: room.NewMemoryLog(10)}
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{Log: log, FloodBurst: 100})})
	g := testproc.StartGate(t, ts.addr)
	bob := ts.join(t, "bob")
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)

	r.Send("stored")
	stored := nextWhere(t, r.Events(), "the echo of the stored line", func(ev *room.Event) bool { return ev.Text == "stored" })
	bob.expect("<alice> stored")

	log.fail.Store(true)
	r.Send("my important sentence")
	// The echo is passed on after the line is queued, so the refusal may
	// come first: take both, in either order.
	var echo, refusal *room.Event
	nextWhere(t, r.Events(), "the echo and the refusal", func(ev *room.Event) bool {
		switch {
		case ev.Text == "my important sentence":
			echo = ev
		case ev.Kind == room.Error:
			refusal = ev
		}
		return echo != nil && refusal != nil
	})
	if refusal.Store != room.StoreReadOnly {
		t.Fatalf("the line was refused with %q", refusal.Text)
	}
	if !r.NotSent(echo) {
		t.Error("the refused line is not reported as not sent when its refusal is passed on")
	}
	if r.NotSent(stored) {
		t.Error("the line the room stored is reported as not sent")
	}

	r.Send("typed while read-only")
	nextWhere(t, r.Events(), "the second refusal", func(ev *room.Event) bool {
		if ev.Text == "typed while read-only" {
			t.Errorf("a line typed while the room is known to be read-only was shown")
		}
		return ev.Kind == room.Error && ev.Store == room.StoreReadOnly
	})
	if r.NotSent(stored) {
		t.Error("the refusal of a line not shown marked the stored line")
	}
	select {
	case ev := <-r.Events():
		if ev.Text == "typed while read-only" {
			t.Errorf("a line typed while the room is known to be read-only was shown")
		}
	case <-time.After(100 * time.Millisecond):
	}
}

// TestUnsentPairing: each refusal takes the latest line not yet taken,
// never one sent longer ago than refusalWindow, and none once a line was
// sent unseen while the room was known to be read-only.
func TestUnsentPairing(t *testing.T) {
	now := time.Now()
	a, b := &room.Event{Text: "a"}, &room.Event{Text: "b"}
	var u unsent
	u.sent(sentLine{echo: a, at: now})
	u.sent(sentLine{echo: nil, at: now}) // a /nick
	u.sent(sentLine{echo: b, at: now})
	if got := u.refused(now, false); got != b {
		t.Errorf("the first refusal took %v, want b", got)
	}
	if got := u.refused(now, false); got != nil {
		t.Errorf("the second refusal took %v, want the /nick", got)
	}
	if !u.isNotSent(b) || u.isNotSent(a) {
		t.Error("b should be the only line not sent")
	}
	u.reset()
	u.sent(sentLine{echo: a, at: now.Add(-2 * refusalWindow)})
	if got := u.refused(now, false); got != nil {
		t.Errorf("a refusal took a line sent %v before", 2*refusalWindow)
	}
	u.sent(sentLine{echo: a, at: now})
	u.sentBlind()
	if got := u.refused(now, false); got != nil {
		t.Errorf("a refusal after a line sent unseen took %v", got)
	}
	for range maxNotSent + 5 {
		u.reset()
		u.sent(sentLine{echo: &room.Event{}, at: now})
		u.refused(now, false)
	}
	if len(u.notSent) > maxNotSent {
		t.Errorf("%d refused lines remembered, more than %d", len(u.notSent), maxNotSent)
	}

	// A private message is refused for a mute, never for the store.
	u = unsent{}
	u.sent(sentLine{echo: a, at: now})
	u.sent(sentLine{at: now, whisper: true})
	if got := u.refused(now, false); got != a {
		t.Errorf("a read-only refusal took %v, want a, not the private message after it", got)
	}
	u = unsent{}
	u.sent(sentLine{echo: a, at: now})
	u.sent(sentLine{at: now, whisper: true})
	if got := u.refused(now, true); got != nil || u.isNotSent(a) {
		t.Errorf("a mute refusal took %v, want the private message sent last", got)
	}
	if got := u.refused(now, true); got != a {
		t.Errorf("the next mute refusal took %v, want a", got)
	}
}
