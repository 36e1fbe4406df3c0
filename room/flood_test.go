package room

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func countKind(events []*Event, kind Kind) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func TestFloodControlDropsExcessLines(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	drain(flooder)

	for i := range 15 {
		flooder.Send("line " + string(rune('a'+i)))
	}
	if got := countKind(drain(reader), Chat); got != 10 {
		t.Errorf("reader got %d lines of a burst of 15, want the first 10", got)
	}
	notices := drain(flooder)
	if len(notices) != 1 || notices[0].Kind != Error || !strings.Contains(notices[0].Text, "slow down") {
		t.Errorf("flooder got %q, want one 'slow down' error", describe(notices))
	}

	clock.Advance(time.Second) // refills 2 tokens
	for range 3 {
		flooder.Send("after a pause")
	}
	if got := countKind(drain(reader), Chat); got != 2 {
		t.Errorf("after one second, %d lines got through, want 2", got)
	}
	flooder.Send("/quit") // never rate limited
	if flooder.Reason() != (Reason{Kind: ReasonQuit}) {
		t.Errorf("/quit while limited: reason %q", flooder.Reason())
	}
}

func TestSustainedFloodDisconnects(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	for range 10 + 19 {
		flooder.Send("spam")
	}
	if flooder.Reason() != (Reason{}) {
		t.Fatalf("disconnected after 19 dropped lines: %q", flooder.Reason())
	}
	flooder.Send("spam")
	if flooder.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Errorf("reason after 20 dropped lines = %q, want %q", flooder.Reason(), Reason{Kind: ReasonFlood})
	}
	events := drain(reader)
	last := events[len(events)-1]
	if last.Kind != Leave || last.From != "flooder" || last.Reason != (Reason{Kind: ReasonFlood}) {
		t.Errorf("reader's last event %q", describe(events[len(events)-1:]))
	}
	if got := countKind(events, Chat); got != 10 {
		t.Errorf("reader got %d lines, want 10", got)
	}
}

func TestNicknameChurnIsLimited(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, NickBurst: 3, NickEvery: 10 * time.Second})
	m := mustJoin(t, r, "a")
	for _, nick := range []string{"b", "c", "d"} {
		m.Send("/nick " + nick)
	}
	drain(m)
	m.Send("/nick e")
	got := drain(m)
	if len(got) != 1 || got[0].Kind != Error || !strings.Contains(got[0].Text, "too many nickname changes") {
		t.Errorf("fourth change got %q", describe(got))
	}
	if m.Nick() != "d" {
		t.Errorf("nick = %q, want d", m.Nick())
	}
	clock.Advance(10 * time.Second)
	m.Send("/nick e")
	if m.Nick() != "e" {
		t.Errorf("after waiting, nick = %q, want e", m.Nick())
	}
}

func TestTooLongLinesCountAgainstFloodControl(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, FloodRate: 2, FloodBurst: 3, FloodKick: 5, MaxLineBytes: 10})
	m := mustJoin(t, r, "m")
	for range 3 + 5 {
		m.Send("this line is far too long")
	}
	if m.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Errorf("after a flood of over-long lines, reason = %q, want %q", m.Reason(), Reason{Kind: ReasonFlood})
	}
}

// TestExemptCommandCannotChatPastFloodControl: a registered command exempt
// from flood control runs during a flood, but its line pays nothing and so
// covers nothing: what its handler says is charged, dropped in a flood, and
// counts towards the disconnection. /quit, exempt itself, still leaves.
func TestExemptCommandCannotChatPastFloodControl(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, FloodRate: 1, FloodBurst: 4, FloodKick: 10})
	if err := r.Register(Command{Name: "/away", ExemptFromFlood: true,
		Handler: func(m *Member, args string) error { return m.Say(args) }}); err != nil {
		t.Fatal(err)
	}
	spammer := mustJoin(t, r, "spammer")
	quitter := mustJoin(t, r, "quitter")
	reader := mustJoin(t, r, "reader")
	drain(spammer)
	for i := range 50 { // the clock never moves: 4 lines is the whole budget
		spammer.Send(fmt.Sprint("/away spam ", i))
	}
	if got := countKind(drain(reader), Chat); got != 4 {
		t.Errorf("reader got %d chat lines from 50 exempt lines at a budget of 4", got)
	}
	if got := spammer.Reason(); got != (Reason{Kind: ReasonFlood}) {
		t.Errorf("the spammer's reason is %q, want a flood's disconnection", got)
	}

	for range 5 {
		quitter.Send("chat")
	}
	quitter.Send("/quit enough")
	if got := quitter.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "enough"}) {
		t.Errorf("/quit during a flood: reason %q", got)
	}
}
