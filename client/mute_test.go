package client

import (
	"sync/atomic"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/room"
	"chatd/tlsgw"
)

// muting is a room Policy with no operators that mutes alice while on
// is set, until a fixed time.
type muting struct {
	on    atomic.Bool
	until time.Time
}

func (p *muting) Operator(room.Identity) bool { return false }

func (p *muting) Admit(room.Identity) error { return nil }

func (p *muting) Muted(nick string, _ room.Identity) (time.Time, bool) {
	return p.until, nick == "alice" && p.on.Load()
}

// TestMutedLineIsMarkedNotSent: a line a muted member typed is shown as it
// is sent (the session cannot know yet), then refused by the room; by the
// time the session passes on the refusal, NotSent says that line was not
// sent, so the screen marks it. A private message refused is paired with
// itself, not with a line shown before it. A line the room took before the mute, and
// one after it ends, are not marked. The refusal is the room's own words,
// which IsMuteRefusal knows.
func TestMutedLineIsMarkedNotSent(t *testing.T) {
	policy := &muting{until: time.Now().Add(time.Hour)}
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{Policy: policy, FloodBurst: 100})})
	g := testproc.StartGate(t, ts.addr)
	bob := ts.join(t, "bob")
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)

	r.Send("heard")
	heard := nextWhere(t, r.Events(), "the echo of the line heard", func(ev *room.Event) bool { return ev.Text == "heard" })
	bob.expect("<alice> heard")

	policy.on.Store(true)
	// A private message, which the screen does not show as it is sent, is
	// refused too: the refusal is its, not the line heard before.
	r.Send("/msg bob psst")
	whisper := nextWhere(t, r.Events(), "the refusal of the private message", func(ev *room.Event) bool { return ev.Kind == room.Error })
	if !IsMuteRefusal(whisper.Text) {
		t.Fatalf("the private message was refused with %q", whisper.Text)
	}
	if r.NotSent(heard) {
		t.Error("the refusal of a private message marked the line heard before the mute")
	}
	r.Send("/me shouts into the void")
	var echo, refusal *room.Event
	nextWhere(t, r.Events(), "the echo and the refusal", func(ev *room.Event) bool {
		switch {
		case ev.Kind == room.Action && ev.Text == "shouts into the void":
			echo = ev
		case ev.Kind == room.Error:
			refusal = ev
		}
		return echo != nil && refusal != nil
	})
	if !IsMuteRefusal(refusal.Text) {
		t.Fatalf("the muted line was refused with %q, which IsMuteRefusal does not know", refusal.Text)
	}
	if refusal.Store == room.StoreReadOnly {
		t.Error("a mute refusal is taken for the room being read-only")
	}
	if !r.NotSent(echo) {
		t.Error("the muted line is not reported as not sent when its refusal is passed on")
	}
	if r.NotSent(heard) {
		t.Error("the line the room took before the mute is reported as not sent")
	}

	policy.on.Store(false)
	r.Send("heard again")
	again := nextWhere(t, r.Events(), "the echo of the line after the mute", func(ev *room.Event) bool { return ev.Text == "heard again" })
	bob.expect("<alice> heard again")
	if r.NotSent(again) {
		t.Error("a line sent after the mute ended is reported as not sent")
	}
}

// TestIsMuteRefusal: the room's two wordings of a mute are known; other
// errors, and a chat line quoting one, are not.
func TestIsMuteRefusal(t *testing.T) {
	for text, want := range map[string]bool{
		"you are muted by an operator: you can read, but not send":                               true,
		"you are muted by an operator until 2026-12-01 18:00:00 UTC: you can read, but not send": true,
		room.ReadOnlyText:              false,
		"permission denied":            false,
		"you are muted by an operator": false,
		"":                             false,
	} {
		if got := IsMuteRefusal(text); got != want {
			t.Errorf("IsMuteRefusal(%q) = %v, want %v", text, got, want)
		}
	}
}
