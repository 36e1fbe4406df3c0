package room

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkedLog is a testLog that can be probed (LogChecker): Check fails
// with checkErr while it is set, and waits for ctx while block is set.
type checkedLog struct {
	*testLog
	checkMu  sync.Mutex
	checkErr error
	block    bool
	checks   atomic.Int64
}

func (l *checkedLog) Check(ctx context.Context) error {
	l.checks.Add(1)
	l.checkMu.Lock()
	err, block := l.checkErr, l.block
	l.checkMu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (l *checkedLog) setCheck(err error, block bool) {
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	l.checkErr, l.block = err, block
}

// newCheckedRoom returns a test room on l, probed as a LogChecker every
// millisecond or so, and closed when the test ends.
func newCheckedRoom(t *testing.T, l *testLog, cfg Config) *Room {
	return newCheckedRoomOn(t, &checkedLog{testLog: l}, cfg)
}

func newCheckedRoomOn(t *testing.T, l *checkedLog, cfg Config) *Room {
	cfg.Log = l
	cfg.probeFirst = time.Millisecond
	r := newTestRoom(t, cfg)
	l.room.Store(r)
	t.Cleanup(func() { r.Close("") })
	return r
}

// waitWritable waits until the room is writable again.
func waitWritable(t *testing.T, r *Room) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().ReadOnly {
		if time.Now().After(deadline) {
			t.Fatal("the room is still read-only")
		}
		time.Sleep(time.Millisecond)
	}
}

// failing makes every Append of l fail with err (nil: succeed).
func failing(l *testLog, err error) {
	l.set(func(l *testLog) {
		l.failAppend = nil
		if err != nil {
			l.failAppend = func(*Event) error { return err }
		}
	})
}

// appendCalls is how many Appends reached l's memory log or failed: its
// calls since the test began, counted by the failing function too.
func countAppends(l *testLog) *atomic.Int64 {
	var n atomic.Int64
	l.set(func(l *testLog) {
		fail := l.failAppend
		l.failAppend = func(ev *Event) error {
			n.Add(1)
			if fail != nil {
				return fail(ev)
			}
			return nil
		}
	})
	return &n
}

// TestReadOnlyWhenTheLogFails: an Append that fails turns the room
// read-only: the sender is refused, everyone is told once, nobody is shown
// what was not stored, later lines and nickname changes are refused
// without calling the log, private messages still go, a joiner gets in
// unannounced with the history and the notice; once a probe finds the log
// back, everyone is told once and lines go through again.
func TestReadOnlyWhenTheLogFails(t *testing.T) {
	l := &checkedLog{testLog: newTestLog(t, 10)}
	l.setCheck(errors.New("still down"), false)
	r := newCheckedRoomOn(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	alice.Send("stored")
	drain(alice)
	drain(bob)
	failing(l.testLog, errors.New("disk full"))
	calls := countAppends(l.testLog)
	alice.Send("doomed words")
	assertEvents(t, alice, "notice "+ReadOnlyNotice, "error "+ReadOnlyText)
	assertEvents(t, bob, "notice "+ReadOnlyNotice)
	alice.Send("more words")
	alice.Send("/me tries")
	if err := bob.Say("bob too"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Say while read-only = %v, want ErrReadOnly", err)
	}
	if err := bob.Rename("robert"); !errors.Is(err, ErrReadOnly) || bob.Nick() != "bob" {
		t.Errorf("Rename while read-only = %v (bob is %q), want ErrReadOnly", err, bob.Nick())
	}
	evs := drain(alice)
	if got := describe(evs); !slices.Equal(got, []string{"error " + ReadOnlyText, "error " + ReadOnlyText}) {
		t.Errorf("alice got %q", got)
	}
	for _, ev := range evs {
		if ev.Store != StoreReadOnly {
			t.Errorf("%q: Store = %d, want StoreReadOnly", ev.Text, ev.Store)
		}
	}
	assertEvents(t, bob)
	if n := calls.Load(); n != 1 {
		t.Errorf("the log was asked %d times to append, want 1 (the line that failed)", n)
	}
	alice.Send("/msg bob psst") // not stored: still goes
	assertEvents(t, bob, "private alice bob psst")

	carol, err := r.Join("carol", JoinOptions{})
	if err != nil {
		t.Fatalf("a join while read-only: %v", err)
	}
	joined := drain(carol)
	assertDescribed(t, "carol", joined, "history-begin 3", "join alice", "join bob", "chat alice stored", "history-end", "join carol",
		"members alice,bob,carol", "notice "+ReadOnlyNotice)
	if ev := joined[5]; ev.Seq != 0 {
		t.Errorf("carol's unstored join has Seq %d", ev.Seq)
	}
	assertEvents(t, alice, "private-sent alice bob psst") // and no join
	assertEvents(t, bob)
	st := r.Stats()
	if !st.ReadOnly || st.ReadOnlyTurns != 1 || st.StoreErrors != 1 || st.Rejected[RejectReadOnly] != 5 {
		t.Errorf("Stats while read-only: ReadOnly %v, turns %d, StoreErrors %d, rejected %d",
			st.ReadOnly, st.ReadOnlyTurns, st.StoreErrors, st.Rejected[RejectReadOnly])
	}

	failing(l.testLog, nil)
	l.setCheck(nil, false)
	waitWritable(t, r)
	for _, m := range []*Member{alice, bob, carol} {
		evs := drain(m)
		assertDescribed(t, m.Nick(), evs, "notice "+WritableNotice)
		if len(evs) == 1 && evs[0].Store != StoreWritable {
			t.Errorf("%s: the writable notice has Store %d", m.Nick(), evs[0].Store)
		}
	}
	alice.Send("back")
	assertEvents(t, bob, "chat alice back")
	for _, ev := range drain(mustJoinKeep(t, r, "dave")) {
		if strings.Contains(ev.Text, "doomed") || ev.From == "carol" {
			t.Errorf("dave was shown %q, which the log did not store", describe([]*Event{ev}))
		}
	}
	if st := r.Stats(); st.ReadOnly || st.ReadOnlyTurns != 1 {
		t.Errorf("Stats once back: ReadOnly %v, turns %d", st.ReadOnly, st.ReadOnlyTurns)
	}
}

func assertDescribed(t *testing.T, who string, evs []*Event, want ...string) {
	t.Helper()
	if got := describe(evs); !slices.Equal(got, want) {
		t.Errorf("%s got events\n  %q\nwant\n  %q", who, got, want)
	}
}

// TestReadOnlyLeaveIsNotAnnounced: a member who leaves while the room is
// read-only leaves; nobody is shown a Leave the log did not store.
func TestReadOnlyLeaveIsNotAnnounced(t *testing.T) {
	l := &checkedLog{testLog: newTestLog(t, 10)}
	l.setCheck(errors.New("down"), false)
	r := newCheckedRoomOn(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	failing(l.testLog, errors.New("down"))
	alice.Send("x")
	drain(alice)
	drain(bob)
	bob.Send("/quit")
	assertEvents(t, alice)
	if got := r.Members(); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("Members() = %q", got)
	}
}

// TestReadOnlyWithoutChecker: a Log without LogChecker is probed by the
// Append of a line at most once per backoff interval (on the room's
// clock); the lines in between are refused without calling it.
func TestReadOnlyWithoutChecker(t *testing.T) {
	var now atomic.Int64
	now.Store(fixedTime.UnixNano())
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	failing(l, errors.New("unreachable"))
	calls := countAppends(l)
	alice.Send("one")
	assertEvents(t, bob, "notice "+ReadOnlyNotice)
	for range 5 {
		alice.Send("refused")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d appends, want 1", n)
	}
	now.Add(int64(probeFirst)) // the first probe is due: it fails
	alice.Send("probe")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d appends after the first interval, want 2", n)
	}
	now.Add(int64(probeFirst)) // the next waits twice as long
	alice.Send("too soon")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d appends before the doubled interval, want 2", n)
	}
	assertEvents(t, bob)
	if got := describe(drain(alice)); len(got) != 9 || got[0] != "notice "+ReadOnlyNotice {
		t.Errorf("alice got %q, want the notice and 8 refusals", got)
	}
	failing(l, nil)
	calls = countAppends(l)
	now.Add(int64(probeFirst))
	alice.Send("through")
	assertEvents(t, bob, "notice "+WritableNotice, "chat alice through")
	assertEvents(t, alice, "notice "+WritableNotice)
	if !slices.Equal(seqs(drain(mustJoinKeep(t, r, "carol"))), []uint64{1, 2, 3, 4}) {
		t.Error("carol's history is not alice, bob, through and her join")
	}
}

// TestReadOnlyLogsOncePerTransition: the room logs why it turned read-only
// once, with the error, however many lines are refused, and once when it
// is writable again; StoreFailed hears every failed Append and probe.
func TestReadOnlyLogsOncePerTransition(t *testing.T) {
	var buf syncBuffer
	var failures atomic.Int64
	l := &checkedLog{testLog: newTestLog(t, 10)}
	l.setCheck(errors.New("probe failed"), false)
	r := newCheckedRoomOn(t, l, Config{
		Logger:      slog.New(slog.NewTextHandler(&buf, nil)),
		StoreFailed: func(error) { failures.Add(1) },
	})
	alice := mustJoin(t, r, "alice")
	failing(l.testLog, errors.New("no space left on device"))
	for range 20 {
		alice.Send("x")
	}
	for l.checks.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	failing(l.testLog, nil)
	l.setCheck(nil, false)
	waitWritable(t, r)
	out := buf.String()
	if n := strings.Count(out, "read-only"); n != 1 || !strings.Contains(out, "no space left on device") {
		t.Errorf("the log says read-only %d times; want once, with the error:\n%s", n, out)
	}
	if n := strings.Count(out, "writable again"); n != 1 {
		t.Errorf("the log says writable %d times:\n%s", n, out)
	}
	if n := failures.Load(); n < 3 || n != l.checks.Load() { // 1 Append, the failed probes
		t.Errorf("StoreFailed heard %d failures; %d probes", n, l.checks.Load())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestCloseStopsTheProbe: closing a read-only room stops its probe, even
// one waiting in a Check that hangs, and waits for it (goleak checks).
func TestCloseStopsTheProbe(t *testing.T) {
	l := &checkedLog{testLog: newTestLog(t, 10)}
	l.setCheck(nil, true)
	r := newCheckedRoomOn(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	failing(l.testLog, errors.New("down"))
	alice.Send("x")
	for l.checks.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	r.Close("")
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
}

// TestReadOnlyAgainSoonKeepsTheBackoff: a store that fails again soon
// after it came back is first probed twice as late as the last time.
func TestReadOnlyAgainSoonKeepsTheBackoff(t *testing.T) {
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	for range 3 {
		failing(l, errors.New("flap"))
		alice.Send("x")
		failing(l, nil)
		r.sequencer.Lock()
		r.gate.nextTry = time.Time{} // due now
		r.sequencer.Unlock()
		alice.Send("y")
	}
	r.sequencer.Lock()
	first := r.gate.first
	r.sequencer.Unlock()
	if first != 4*probeFirst {
		t.Errorf("after three flaps the first probe waits %v, want %v", first, 4*probeFirst)
	}
	drain(alice)
}

// TestProbeBackoffIsBounded: probes back off to probeMaxWait, or to the
// first wait of an outage that came after flaps, itself at most
// maxFlapWait however often the store flaps.
func TestProbeBackoffIsBounded(t *testing.T) {
	w := probeFirst
	for range 20 {
		w = nextWait(w, probeFirst)
	}
	if w != probeMaxWait {
		t.Errorf("the backoff reached %v, want %v", w, probeMaxWait)
	}
	if got := nextWait(maxFlapWait, maxFlapWait); got != maxFlapWait {
		t.Errorf("after flaps the backoff grows to %v, want %v", got, maxFlapWait)
	}
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	for range 20 { // flaps, on the room's frozen clock
		failing(l, errors.New("flap"))
		alice.Send("x")
		failing(l, nil)
		r.sequencer.Lock()
		r.gate.nextTry = time.Time{}
		r.sequencer.Unlock()
		alice.Send("y")
	}
	r.sequencer.Lock()
	first := r.gate.first
	r.sequencer.Unlock()
	if first != maxFlapWait {
		t.Errorf("after 20 flaps the first probe waits %v, want %v", first, maxFlapWait)
	}
	drain(alice)
}

// TestAfterRunTurnsReadOnly: a run of events appended together (a
// BatchLog) of which one was not stored turns the room read-only once,
// with that job; every job not stored is refused with ErrReadOnly, the
// stored ones are left alone; no run is batched while read-only.
func TestAfterRunTurnsReadOnly(t *testing.T) {
	var failures atomic.Int64
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{StoreFailed: func(error) { failures.Add(1) }})
	down := errors.New("down")
	run := []job{{kind: publishJob}, {kind: publishJob, err: down}, {kind: publishJob, err: down}}
	r.sequencer.Lock()
	if !r.batchable() {
		t.Error("a sound room does not batch")
	}
	r.afterRun(run)
	if r.batchable() {
		t.Error("a read-only room still batches")
	}
	r.sequencer.Unlock()
	if run[0].err != nil || run[0].turn != noTurn {
		t.Errorf("the stored job: err %v, turn %d", run[0].err, run[0].turn)
	}
	if !errors.Is(run[1].err, ErrReadOnly) || run[1].turn != turnReadOnly || !errors.Is(run[2].err, ErrReadOnly) || run[2].turn != noTurn {
		t.Errorf("the jobs not stored: %v/%d, %v/%d; want ErrReadOnly, the first turning the room", run[1].err, run[1].turn, run[2].err, run[2].turn)
	}
	if n := failures.Load(); n != 1 {
		t.Errorf("StoreFailed heard %d failures of one run", n)
	}
}
