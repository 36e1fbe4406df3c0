package room

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// fakeTimers stands in for time.AfterFunc (Config.afterFunc), so that a
// test decides when the timer of queued lines runs: fire runs the timers
// set so far as if their time had come. Each finds out from the test's
// clock whether a line's turn has come.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	f       func()
	stopped atomic.Bool
}

func (t *fakeTimer) Stop() bool { return !t.stopped.Swap(true) }

func (ft *fakeTimers) after(_ time.Duration, f func()) stopper {
	t := &fakeTimer{f: f}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.timers = append(ft.timers, t)
	return t
}

// fire runs, once, each timer set and not stopped so far, and returns how
// many ran. Those they set run at the next fire.
func (ft *fakeTimers) fire() int {
	ft.mu.Lock()
	due := ft.timers
	ft.timers = nil
	ft.mu.Unlock()
	ran := 0
	for _, t := range due {
		if !t.stopped.Swap(true) {
			t.f()
			ran++
		}
	}
	return ran
}

// floodRoom returns a room with cfg's flood limits on clock, whose queued
// lines go out when the test fires the timers.
func floodRoom(t *testing.T, clock *fakeClock, cfg Config) (*Room, *fakeTimers) {
	t.Helper()
	timers := new(fakeTimers)
	cfg.Now, cfg.afterFunc = clock.Now, timers.after
	return newTestRoom(t, cfg), timers
}

// TestAPasteIsDeliveredAtTheFloodRate: 40 lines at once, with the default
// limits: 10 go out at once, the other 30 wait their turn and go out at 2
// a second, all in order; the paster is told once, and stays.
func TestAPasteIsDeliveredAtTheFloodRate(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: DefaultFloodRate, FloodBurst: DefaultFloodBurst, FloodKick: DefaultFloodKick})
	paster := mustJoin(t, r, "paster")
	reader := mustJoin(t, r, "reader")
	drain(paster)
	var want []string
	for i := range 40 {
		line := fmt.Sprintf("pasted line %02d", i+1)
		want = append(want, "chat paster "+line)
		paster.Send(line)
	}
	got := describe(drain(reader))
	if !slices.Equal(got, want[:10]) {
		t.Fatalf("at once, the reader got %q, want the first 10 lines", got)
	}
	timers.fire() // the clock is frozen: no line's turn yet, and too soon to tell
	assertEvents(t, paster)
	for s := 1; s <= 15; s++ {
		clock.Advance(time.Second)
		timers.fire()
		got = append(got, describe(drain(reader))...)
		if len(got) != 10+2*s {
			t.Fatalf("after %d s the reader has %d lines, want %d", s, len(got), 10+2*s)
		}
		if s == 1 { // once the paste has arrived whole
			assertEvents(t, paster, "notice 30 lines queued; they go out at 2 per second, the last in about 14s")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the reader got\n  %q\nwant\n  %q", got, want)
	}
	assertEvents(t, paster)
	if paster.Reason() != (Reason{}) {
		t.Errorf("the paster left: %q", paster.Reason())
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the last line went out", ran)
	}
	if st := r.Stats(); st.Queued != 30 || st.Rejected[RejectFlood] != 0 || st.Messages != 40 {
		t.Errorf("queued %d, dropped %d, messages %d; want 30, 0, 40", st.Queued, st.Rejected[RejectFlood], st.Messages)
	}
	clock.Advance(5 * time.Second) // the bucket refills: lines go out at once again
	paster.Send("after the paste")
	assertEvents(t, reader, "chat paster after the paste")
}

// TestSustainedFloodDisconnects: a flood fills the queue, then overflows
// it; the first line that does not fit is explained, and the FloodKick-th
// disconnects the flooder, whose queued lines are not sent.
func TestSustainedFloodDisconnects(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	drain(flooder)
	for range 10 + DefaultFloodQueue + 19 {
		flooder.Send("spam")
	}
	if flooder.Reason() != (Reason{}) {
		t.Fatalf("disconnected after 19 lines that did not fit: %q", flooder.Reason())
	}
	flooder.Send("spam")
	if flooder.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Errorf("reason after 20 lines that did not fit = %q, want %q", flooder.Reason(), Reason{Kind: ReasonFlood})
	}
	events := drain(reader)
	last := events[len(events)-1]
	if last.Kind != Leave || last.From != "flooder" || last.Reason != (Reason{Kind: ReasonFlood}) {
		t.Errorf("reader's last event %q", describe(events[len(events)-1:]))
	}
	if got := countKind(events, Chat); got != 10 {
		t.Errorf("reader got %d lines, want 10", got)
	}
	assertEvents(t, flooder, "error slow down: you may send 10 lines at once and 2 per second after that, and 64 more wait their turn; lines beyond that are dropped, and a flood disconnects you")
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the flooder left", ran)
	}
	if st := r.Stats(); st.Rejected[RejectFlood] != 20 || st.Queued != 64 {
		t.Errorf("dropped %d, queued %d; want 20, 64", st.Rejected[RejectFlood], st.Queued)
	}
}

// TestAFloodAboveTheRateEndsInADisconnection: a client that keeps sending
// 3 lines a second, one more than the rate, is served in order while its
// bucket and then its queue absorb the excess; once the queue overflows,
// it is disconnected, since it never got back within its limit.
func TestAFloodAboveTheRateEndsInADisconnection(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	sent, seconds := 0, 0
	for ; seconds < 300 && flooder.Reason() == (Reason{}); seconds++ {
		for range 3 {
			flooder.Send(fmt.Sprint(sent))
			sent++
		}
		clock.Advance(time.Second)
		timers.fire()
	}
	if flooder.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Fatalf("after %d s at 3 lines a second: reason %q, want %q", seconds, flooder.Reason(), Reason{Kind: ReasonFlood})
	}
	// 10 at once, then about 1 more a second than go out fills the bucket's
	// 10 and the queue's 64; then 20 overflow.
	if seconds < 80 || seconds > 110 {
		t.Errorf("disconnected after %d s, want about 94", seconds)
	}
	t.Logf("3 lines a second were disconnected after %d s", seconds)
	prev := -1
	for _, ev := range drain(reader) {
		if ev.Kind != Chat {
			continue
		}
		var n int
		fmt.Sscan(ev.Text, &n)
		if n <= prev {
			t.Fatalf("line %d came after line %d", n, prev)
		}
		prev = n
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the flooder left", ran)
	}
}

// TestQuitDoesNotWaitForQueuedLines: /quit runs at once, ahead of the
// queued lines, which are not sent; the quitter is told how many.
func TestQuitDoesNotWaitForQueuedLines(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	quitter := mustJoin(t, r, "quitter")
	reader := mustJoin(t, r, "reader")
	drain(quitter)
	for i := range 25 {
		quitter.Send(fmt.Sprint("line ", i))
	}
	quitter.Send("/quit bye")
	if got := quitter.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "bye"}) {
		t.Fatalf("after /quit behind 15 queued lines: reason %q", got)
	}
	assertEvents(t, quitter, "notice 15 queued lines were not sent")
	events := describe(drain(reader))
	if len(events) != 11 || events[9] != "chat quitter line 9" || events[10] != "leave quitter quit: bye" {
		t.Errorf("the reader got %q, want 10 lines and the leave", events)
	}
	clock.Advance(time.Minute)
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the quitter left", ran)
	}
	assertEvents(t, reader)
}

// TestCommandsInAPasteTakeTheirTurn: commands queued with the chat lines
// run in order when their turn comes, each paying for its line.
func TestCommandsInAPasteTakeTheirTurn(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 2, FloodKick: 20})
	paster := mustJoin(t, r, "paster")
	reader := mustJoin(t, r, "reader")
	drain(paster)
	for _, line := range []string{"one", "two", "/who", "/nick pasted", "/me waves", "/msg reader psst", "three"} {
		paster.Send(line)
	}
	assertEvents(t, reader, "chat paster one", "chat paster two")
	clock.Advance(time.Second)
	timers.fire()
	assertEvents(t, paster, "members paster,reader", "nick paster pasted", "notice 5 lines queued; they go out at 2 per second, the last in about 2s")
	assertEvents(t, reader, "nick paster pasted")
	clock.Advance(time.Second)
	timers.fire()
	assertEvents(t, reader, "action pasted waves", "private pasted reader psst")
	assertEvents(t, paster, "private-sent pasted reader psst")
	clock.Advance(time.Second)
	timers.fire()
	assertEvents(t, reader, "chat pasted three")
	assertEvents(t, paster)
}

// TestTheQueueIsBoundedInLinesAndBytes: a queue holds FloodQueue lines
// and 512 bytes a line on average (at least one longest line); a line
// that does not fit is dropped, the first explained, and the lines that
// did fit go out in order.
func TestTheQueueIsBoundedInLinesAndBytes(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 1, FloodKick: 20, FloodQueue: 4, MaxLineBytes: 1500})
	paster := mustJoin(t, r, "paster")
	reader := mustJoin(t, r, "reader")
	drain(paster)
	long := strings.Repeat("x", 1000)
	for _, line := range []string{"a", long, long, long + "y", "b", "c", "d"} { // 4 lines, 2048 bytes
		paster.Send(line)
	}
	assertEvents(t, paster, "error slow down: you may send 1 lines at once and 2 per second after that, and 4 more wait their turn; lines beyond that are dropped, and a flood disconnects you")
	if st := r.Stats(); st.Queued != 4 || st.Rejected[RejectFlood] != 2 {
		t.Errorf("queued %d, dropped %d; want 4, 2", st.Queued, st.Rejected[RejectFlood])
	}
	for range 4 { // the bucket holds one token
		clock.Advance(time.Second)
		timers.fire()
	}
	var got []string
	for _, ev := range drain(reader) {
		got = append(got, fmt.Sprint(len(ev.Text)))
	}
	if want := []string{"1", "1000", "1000", "1", "1"}; !slices.Equal(got, want) {
		t.Errorf("the reader got lines of %v bytes, want %v", got, want)
	}
}

// TestQueuedLinesGoOutOnTheirOwn: with the real clock and timers, queued
// lines go out at the flood rate by themselves, in order; a paste that is
// still going out after half a second is announced once.
func TestQueuedLinesGoOutOnTheirOwn(t *testing.T) {
	r := New(Config{FloodRate: 20, FloodBurst: 2, FloodKick: 20})
	defer r.Close("done")
	sender := mustJoin(t, r, "sender")
	reader, wake := wokenMember(t, r, "reader")
	drain(sender)
	start := time.Now()
	const lines = 40
	for i := range lines {
		sender.Send(fmt.Sprint("line ", i))
	}
	var got []string
	deadline := time.After(10 * time.Second)
	for {
		for _, ev := range drain(reader) {
			got = append(got, ev.Text)
		}
		if len(got) >= lines {
			break
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("the reader got %q within 10s, want %d lines", got, lines)
		}
	}
	for i, text := range got {
		if want := fmt.Sprint("line ", i); text != want {
			t.Fatalf("line %d is %q, want %q (all: %q)", i, text, want, got)
		}
	}
	if took := time.Since(start); took < 1800*time.Millisecond {
		t.Errorf("%d lines went out in %v: faster than 2 at once and 20 a second", lines, took)
	}
	if got := describe(drain(sender)); len(got) != 1 || !strings.HasPrefix(got[0], "notice 38 lines queued; they go out at 20 per second, the last in about ") {
		t.Errorf("the sender got %q, want one notice of 38 lines queued", got)
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

// TestTooLongLinesCountAgainstFloodControl: a line over the limit is
// refused, and counts as a line: it waits its turn like one, and a flood
// of them disconnects.
func TestTooLongLinesCountAgainstFloodControl(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 3, FloodKick: 5, FloodQueue: 2, MaxLineBytes: 10})
	m := mustJoin(t, r, "m")
	drain(m)
	const tooLong = "error line too long (25 bytes, the limit is 10); it was not sent"
	for range 4 {
		m.Send("this line is far too long")
	}
	assertEvents(t, m, tooLong, tooLong, tooLong)
	clock.Advance(time.Second)
	timers.fire()
	assertEvents(t, m, tooLong) // its turn came
	// The token left, then the queue, then the flood.
	for range 1 + 2 + 5 {
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
