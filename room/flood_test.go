package room

import (
	"fmt"
	"runtime"
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

// TestOneBurstNeverDisconnects: a paste far bigger than the queue fills
// the bucket and the queue; the rest is dropped, and the paster is told
// once how many lines were dropped and why, but stays, and the lines that
// fit go out in order.
func TestOneBurstNeverDisconnects(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	paster := mustJoin(t, r, "paster")
	reader := mustJoin(t, r, "reader")
	drain(paster)
	for i := range 200 {
		paster.Send(fmt.Sprint(i))
	}
	var got []string
	for range 40 { // 64 lines at 2 a second
		clock.Advance(time.Second)
		timers.fire()
		got = append(got, describe(drain(reader))...)
	}
	if paster.Reason() != (Reason{}) {
		t.Fatalf("one paste of 200 lines disconnected the paster: %q", paster.Reason())
	}
	var want []string
	for i := range 74 {
		want = append(want, fmt.Sprint("chat paster ", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the reader got %q, want the first 74 lines in order", got)
	}
	assertEvents(t, paster,
		"notice 64 lines queued; they go out at 2 per second, the last in about 31s",
		"error 126 lines dropped: at most 64 lines wait their turn; paste less at once")
	if st := r.Stats(); st.Queued != 64 || st.Rejected[RejectFlood] != 126 {
		t.Errorf("queued %d, dropped %d; want 64, 126", st.Queued, st.Rejected[RejectFlood])
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the queue emptied", ran)
	}
}

// TestAFloodAtFullSpeedDisconnectsAtOnce: a client that writes as fast as
// it can is disconnected when it has had more than overflowKickQueues
// queues' worth of lines dropped in one overflow, without waiting
// FloodKick turns, while a paste of one line fewer than that stays.
func TestAFloodAtFullSpeedDisconnectsAtOnce(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	cfg := Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20}
	r, _ := floodRoom(t, clock, cfg)
	limit := 10 + DefaultFloodQueue + overflowKickQueues*DefaultFloodQueue // sent, queued, dropped
	paster := mustJoin(t, r, "paster")
	for i := range limit {
		paster.Send(fmt.Sprint(i))
	}
	if paster.Reason() != (Reason{}) {
		t.Fatalf("a paste of %d lines disconnected the paster: %q", limit, paster.Reason())
	}
	flooder := mustJoin(t, r, "flooder")
	for i := range limit + 1 {
		flooder.Send(fmt.Sprint(i))
	}
	if got := flooder.Reason(); got.Kind != ReasonFlood {
		t.Fatalf("after %d lines at once the flooder's reason is %q, want flooding", limit+1, got)
	}
}

// TestSustainedFloodDisconnects: a client that keeps its queue
// overflowing, as one writing lines without pause does, is told once and
// disconnected when FloodKick lines in a row have gone out of a full
// queue: 10 seconds at 2 lines a second. Its queued lines are not sent.
func TestSustainedFloodDisconnects(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	drain(flooder)
	start := clock.now
	for flooder.Reason() == (Reason{}) && clock.now.Sub(start) < time.Minute {
		for range 50 {
			flooder.Send("spam")
		}
		clock.Advance(time.Second / 2)
		timers.fire()
	}
	if flooder.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Fatalf("after a minute of flooding, reason %q, want %q", flooder.Reason(), Reason{Kind: ReasonFlood})
	}
	if took := clock.now.Sub(start); took < 10*time.Second || took > 11*time.Second {
		t.Errorf("disconnected after %v of flooding, want 10s (20 lines out of a full queue at 2 a second)", took)
	}
	events := drain(reader)
	if last := events[len(events)-1]; last.Kind != Leave || last.From != "flooder" || last.Reason != (Reason{Kind: ReasonFlood}) {
		t.Errorf("reader's last event %q", describe(events[len(events)-1:]))
	}
	if got := countKind(events, Chat); got < 10+20 || got > 10+22 {
		t.Errorf("reader got %d lines, want the burst and about 20 that went out of the queue", got)
	}
	got := describe(drain(flooder))
	if len(got) != 2 || !strings.HasPrefix(got[0], "notice 40 lines queued; they go out at 2 per second") ||
		!strings.HasPrefix(got[1], "error ") || !strings.HasSuffix(got[1], " lines dropped: at most 64 lines wait their turn; paste less at once") {
		t.Errorf("the flooder was told %q, want one notice of the queue and one of the lines dropped", got)
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the flooder left", ran)
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
	// 10 and the queue's 64; then the queue is full each time the timer
	// sends lines (here once a second), 20 times.
	if seconds < 80 || seconds > 100 {
		t.Errorf("disconnected after %d s, want about 84", seconds)
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

// TestQuitTakesItsTurn: /quit typed while lines wait is queued behind
// them, with one notice; the lines go out, then the member leaves with
// its parting message. A line typed after the /quit is not sent, and the
// quitter is told.
func TestQuitTakesItsTurn(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	quitter := mustJoin(t, r, "quitter")
	reader := mustJoin(t, r, "reader")
	drain(quitter)
	for i := range 25 {
		quitter.Send(fmt.Sprint("line ", i))
	}
	quitter.Send("/quit bye")
	quitter.Send("too late")
	assertEvents(t, quitter, "notice leaving after the 15 queued lines; /quit again to leave now")
	if got := quitter.Reason(); got != (Reason{}) {
		t.Fatalf("/quit behind 15 queued lines left at once: %q", got)
	}
	var got []string
	for range 10 {
		clock.Advance(time.Second)
		timers.fire()
		got = append(got, describe(drain(reader))...)
	}
	if len(got) != 26 || got[24] != "chat quitter line 24" || got[25] != "leave quitter quit: bye" {
		t.Errorf("the reader got %q, want 25 lines and the leave", got)
	}
	if got := quitter.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "bye"}) {
		t.Errorf("reason %q", got)
	}
	if got := describe(drain(quitter)); !slices.Contains(got, "notice 1 queued line was not sent") {
		t.Errorf("the quitter got %q, want to be told that the line after /quit was not sent", got)
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the quitter left", ran)
	}
}

// TestASecondQuitLeavesAtOnce: a second /quit while the first waits its
// turn leaves at once; the lines still queued are not sent, and the
// quitter is told how many.
func TestASecondQuitLeavesAtOnce(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 10, FloodKick: 20})
	quitter := mustJoin(t, r, "quitter")
	reader := mustJoin(t, r, "reader")
	drain(quitter)
	for i := range 25 {
		quitter.Send(fmt.Sprint("line ", i))
	}
	quitter.Send("/quit")
	quitter.Send("/quit now")
	if got := quitter.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "now"}) {
		t.Fatalf("after a second /quit: reason %q", got)
	}
	assertEvents(t, quitter, "notice leaving after the 15 queued lines; /quit again to leave now", "notice 15 queued lines were not sent")
	events := describe(drain(reader))
	if len(events) != 11 || events[9] != "chat quitter line 9" || events[10] != "leave quitter quit: now" {
		t.Errorf("the reader got %q, want 10 lines and the leave", events)
	}
	clock.Advance(time.Minute)
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after the quitter left", ran)
	}
}

// TestLeaveWhenSentWaitsForTheQueue: a member whose input ended with
// lines queued leaves once they have gone out; one with none leaves at
// once; Leave does not wait.
func TestLeaveWhenSentWaitsForTheQueue(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 2, FloodKick: 20})
	bot := mustJoin(t, r, "bot")
	lost := mustJoin(t, r, "lost")
	idle := mustJoin(t, r, "idle")
	reader := mustJoin(t, r, "reader")
	for i := range 4 {
		bot.Send(fmt.Sprint("bot ", i))
		lost.Send(fmt.Sprint("lost ", i))
	}
	closed := Reason{Kind: ReasonClosed}
	bot.LeaveWhenSent(closed)
	lost.LeaveWhenSent(closed)
	idle.LeaveWhenSent(closed)
	if bot.Reason() != (Reason{}) || idle.Reason() != closed {
		t.Fatalf("bot's reason %q, idle's %q: want bot to wait for its queue, idle to leave", bot.Reason(), idle.Reason())
	}
	lost.Leave(Reason{Kind: ReasonLost}) // a write failed: no waiting
	if lost.Reason() != (Reason{Kind: ReasonLost}) {
		t.Errorf("lost's reason %q", lost.Reason())
	}
	drain(reader)
	clock.Advance(time.Second)
	timers.fire()
	assertEvents(t, reader, "chat bot bot 2", "chat bot bot 3", "leave bot connection closed")
	if bot.Reason() != closed {
		t.Errorf("bot's reason %q", bot.Reason())
	}
	if ran := timers.fire(); ran != 0 {
		t.Errorf("%d timers ran after everyone left", ran)
	}
}

// TestQuitNoticeReachesTheQuitterWithASlowLog: with a Log that is busy
// when the quitter quits, the notice of its lines not sent still reaches
// it before its stream ends.
func TestQuitNoticeReachesTheQuitterWithASlowLog(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	l := newTestLog(t, 100)
	timers := new(fakeTimers)
	r := newLoggedRoom(t, l, Config{Now: clock.Now, afterFunc: timers.after, FloodRate: 2, FloodBurst: 2, FloodKick: 20})
	other := mustJoin(t, r, "other")
	quitter := mustJoin(t, r, "quitter")
	drain(other)
	for range 5 {
		quitter.Send("line")
	}
	drain(quitter)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	sent := make(chan struct{})
	go func() { other.Send("slow line"); close(sent) }() // holds the sequencer in Append
	<-entered
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	quit := make(chan error)
	go func() { quit <- quitter.Quit("bye") }()
	for quitter.Reason() == (Reason{}) { // Quit removed it, and waits for the sequencer
		runtime.Gosched()
	}
	close(gate)
	if err := <-quit; err != nil {
		t.Errorf("Quit: %v", err)
	}
	<-sent
	if got := describe(drain(quitter)); !slices.Contains(got, "notice 3 queued lines were not sent") {
		t.Errorf("the quitter got %q, want to be told that 3 queued lines were not sent", got)
	}
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
// that does not fit is dropped, and the lines that did fit go out in
// order. The paster is told how many were dropped, naming the bound that
// was reached: here the bytes, with room left for lines.
func TestTheQueueIsBoundedInLinesAndBytes(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 2, FloodBurst: 1, FloodKick: 20, FloodQueue: 4, MaxLineBytes: 1500})
	paster := mustJoin(t, r, "paster")
	reader := mustJoin(t, r, "reader")
	drain(paster)
	long := strings.Repeat("x", 1000)
	for _, line := range []string{"a", long, long, long + "y", "b"} { // 3 lines, 2001 bytes
		paster.Send(line)
	}
	if st := r.Stats(); st.Queued != 3 || st.Rejected[RejectFlood] != 1 {
		t.Errorf("queued %d, dropped %d; want 3, 1", st.Queued, st.Rejected[RejectFlood])
	}
	for range 4 { // the bucket holds one token
		clock.Advance(time.Second)
		timers.fire()
	}
	var got []string
	for _, ev := range drain(reader) {
		got = append(got, fmt.Sprint(len(ev.Text)))
	}
	if want := []string{"1", "1000", "1000", "1"}; !slices.Equal(got, want) {
		t.Errorf("the reader got lines of %v bytes, want %v", got, want)
	}
	assertEvents(t, paster,
		"notice 3 lines queued; they go out at 2 per second, the last in about 1s",
		"error 1 line dropped: at most 2 KiB of lines wait their turn; paste less at once")
	for range 6 { // now the lines: 1 at once, 4 queued, 1 dropped
		paster.Send("c")
	}
	paster.Send("/quit") // waits its turn, so the drop is told before it leaves
	for range 4 {
		clock.Advance(time.Second)
		timers.fire()
	}
	got = describe(drain(paster))
	if !slices.Contains(got, "error 1 line dropped: at most 4 lines wait their turn; paste less at once") {
		t.Errorf("the paster got %q, want the line dropped for the 4-line bound", got)
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
	// The token left, then the queue, then a flood that keeps it full
	// while FloodKick lines go out of it.
	for range 1 + 2 + 1 {
		m.Send("this line is far too long")
	}
	for range 5 {
		clock.Advance(time.Second / 2)
		timers.fire()
		for range 2 {
			m.Send("this line is far too long")
		}
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
	quitter.Send("/quit") // waits behind the line queued
	quitter.Send("/quit enough")
	if got := quitter.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "enough"}) {
		t.Errorf("/quit during a flood: reason %q", got)
	}
}
