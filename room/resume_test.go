package room

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// resumeLogs are the logs the resume tests run against: the memory one
// (the room stores under its member lock alone) and one the room treats as
// slow (stored under the sequencer, completed after Join read it).
var resumeLogs = map[string]func(t *testing.T, size int) Log{
	"memory": func(t *testing.T, size int) Log { return NewMemoryLog(size) },
	"slow":   func(t *testing.T, size int) Log { return newTestLog(t, size) },
}

// resumeRoom is a room of history size whose alice has seen the events up
// to the one returned, and then lost her connection; bob then says the
// lines of said.
func resumeRoom(t *testing.T, newLog func(*testing.T, int) Log, size int, said ...string) (r *Room, bob *Member, last uint64) {
	t.Helper()
	return resumeRoomSized(t, newLog, Config{HistorySize: size}, said...)
}

// resumeRoomSized is resumeRoom for a room of cfg, whose log newLog makes
// of cfg.HistorySize.
func resumeRoomSized(t *testing.T, newLog func(*testing.T, int) Log, cfg Config, said ...string) (r *Room, bob *Member, last uint64) {
	t.Helper()
	cfg.Log = newLog(t, cfg.HistorySize)
	r = newTestRoom(t, cfg)
	alice := mustJoin(t, r, "alice")
	bob = mustJoin(t, r, "bob")
	bob.Send("before")
	for _, ev := range drain(alice) {
		last = max(last, ev.Seq)
	}
	if last != 3 {
		t.Fatalf("alice saw up to %d, want 3", last)
	}
	alice.Leave(Reason{Kind: ReasonLost})
	for _, line := range said {
		bob.Send(line)
	}
	drain(bob)
	return r, bob, last
}

func resumeJoin(t *testing.T, r *Room, after uint64) []*Event {
	t.Helper()
	m, err := r.Join("alice", JoinOptions{Resume: true, ResumeAfter: after})
	if err != nil {
		t.Fatal(err)
	}
	return drain(m)
}

// TestResumeReplaysExactlyWhatWasMissed: a member that resumes after the
// last event it was shown is replayed the events after it, no more, then
// its join; their numbers follow on.
func TestResumeReplaysExactlyWhatWasMissed(t *testing.T) {
	for name, newLog := range resumeLogs {
		t.Run(name, func(t *testing.T) {
			r, _, last := resumeRoom(t, newLog, 10, "w1", "w2")
			got := resumeJoin(t, r, last)
			want := []string{"history-begin 3", "leave alice connection lost", "chat bob w1", "chat bob w2", "history-end", "join alice", "members alice,bob"}
			if d := describe(got); !slices.Equal(d, want) {
				t.Fatalf("resumed with\n  %q\nwant\n  %q", d, want)
			}
			for i, ev := range got[1:4] {
				if ev.Seq != last+1+uint64(i) {
					t.Errorf("replayed event %d has Seq %d, want %d", i, ev.Seq, last+1+uint64(i))
				}
			}
		})
	}
}

// TestResumeSaysHowManyAreGone: more was missed than the history holds:
// a notice says how many are not shown, then the latest are.
func TestResumeSaysHowManyAreGone(t *testing.T) {
	for name, newLog := range resumeLogs {
		t.Run(name, func(t *testing.T) {
			r, _, last := resumeRoom(t, newLog, 3, "w1", "w2", "w3", "w4", "w5")
			// missed: alice's leave and w1..w5, 6 events; 3 are kept
			want := []string{"notice 3 events were missed and are no longer kept", "history-begin 3", "chat bob w3", "chat bob w4", "chat bob w5", "history-end", "join alice", "members alice,bob"}
			if d := describe(resumeJoin(t, r, last)); !slices.Equal(d, want) {
				t.Fatalf("resumed with\n  %q\nwant\n  %q", d, want)
			}
		})
	}
}

// TestResumeWithNothingMissed: a member that missed nothing is replayed
// nothing; one that asks for 0 gets the recent history, as any joiner.
func TestResumeWithNothingMissed(t *testing.T) {
	for name, newLog := range resumeLogs {
		t.Run(name, func(t *testing.T) {
			r := newTestRoom(t, Config{HistorySize: 5, Log: newLog(t, 5)})
			bob := mustJoin(t, r, "bob")
			bob.Send("hi")
			if d := describe(resumeJoin(t, r, 2)); !slices.Equal(d, []string{"join alice", "members alice,bob"}) {
				t.Errorf("resumed after the last event with %q", d)
			}
			r.Join("carol", JoinOptions{})
			want := []string{"history-begin 4", "join bob", "chat bob hi", "join alice", "join carol", "history-end", "join dave", "members alice,bob,carol,dave"}
			m, err := r.Join("dave", JoinOptions{Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := describe(drain(m)); !slices.Equal(d, want) {
				t.Errorf("resumed after 0 with\n  %q\nwant\n  %q", d, want)
			}
		})
	}
}

// TestResumeBeyondTheLog: a point past the log's last event (a restarted
// memory log, a made-up number) gets the recent history and a notice
// saying so; no number is too large.
func TestResumeBeyondTheLog(t *testing.T) {
	for name, newLog := range resumeLogs {
		for _, after := range []uint64{3, 1000, math.MaxUint64} {
			t.Run(fmt.Sprint(name, after), func(t *testing.T) {
				r := newTestRoom(t, Config{HistorySize: 5, Log: newLog(t, 5)})
				bob := mustJoin(t, r, "bob")
				bob.Send("hi")
				want := []string{"notice " + ResumeResetNotice, "history-begin 2", "join bob", "chat bob hi", "history-end", "join alice", "members alice,bob"}
				if d := describe(resumeJoin(t, r, after)); !slices.Equal(d, want) {
					t.Errorf("resumed after %d with\n  %q\nwant\n  %q", after, d, want)
				}
			})
		}
	}
}

// TestLogIDNamesTheLog: a room names its MemoryLog's identifier; each
// MemoryLog has its own, fit for the line protocol.
func TestLogIDNamesTheLog(t *testing.T) {
	l := NewMemoryLog(1)
	if r := New(Config{Log: l}); r.LogID() != l.LogID() {
		t.Errorf("room's LogID %q, its log's %q", r.LogID(), l.LogID())
	}
	a, b := New(Config{}).LogID(), New(Config{}).LogID()
	if a == b || len(a) != 16 {
		t.Errorf("two rooms' logs are named %q and %q", a, b)
	}
}

// sloppyLog is a MemoryLog whose Replay returns its last n events whatever
// after asks, as a log whose after+1 wraps does for the largest after.
type sloppyLog struct{ *MemoryLog }

func (l sloppyLog) Replay(after uint64, n int) ([]*Event, error) { return l.MemoryLog.Replay(0, n) }

// TestResumeFromALogThatReplaysTooMuch: what a log replays at or below the
// resume point is not shown again, and not counted as gone.
func TestResumeFromALogThatReplaysTooMuch(t *testing.T) {
	newLog := func(t *testing.T, size int) Log { return sloppyLog{NewMemoryLog(size)} }
	r, _, last := resumeRoom(t, newLog, 10, "w1", "w2")
	want := []string{"history-begin 3", "leave alice connection lost", "chat bob w1", "chat bob w2", "history-end", "join alice", "members alice,bob"}
	if d := describe(resumeJoin(t, r, last)); !slices.Equal(d, want) {
		t.Fatalf("resumed with\n  %q\nwant\n  %q", d, want)
	}
}

// TestResumeAfterTheLargestNumber: the history of a member resuming after
// math.MaxUint64 holds nothing, and no gone count, whatever the log
// returned: after+1 wraps to 0, and must not make the log's latest events
// look missed, nor their count wrap.
func TestResumeAfterTheLargestNumber(t *testing.T) {
	for name, newLog := range resumeLogs {
		t.Run(name, func(t *testing.T) {
			l := newLog(t, 5)
			r := newTestRoom(t, Config{HistorySize: 5, Log: l})
			bob := mustJoin(t, r, "bob")
			bob.Send("hi")
			past, err := l.Replay(0, 5) // what a log whose after+1 wraps returns
			if err != nil || len(past) != 2 {
				t.Fatalf("the log holds %d events (%v)", len(past), err)
			}
			m := newMember(r, "alice", JoinOptions{})
			r.mu.Lock()
			r.replayHistory(m, &arrival{after: math.MaxUint64, past: past})
			r.mu.release()
			if d := describe(drain(m)); len(d) != 0 {
				t.Errorf("resumed after MaxUint64 with %q, want nothing", d)
			}
		})
	}
}

// countingLog is a MemoryLog that counts the calls to Replay.
type countingLog struct {
	*MemoryLog
	replays atomic.Int64
}

func (l *countingLog) Replay(after uint64, n int) ([]*Event, error) {
	l.replays.Add(1)
	return l.MemoryLog.Replay(after, n)
}

// LastSeq counts as a read of the log too.
func (l *countingLog) LastSeq() (uint64, error) {
	l.replays.Add(1)
	return l.MemoryLog.LastSeq()
}

// TestResumeBeyondTheLogCostsOneRead: whether a resume point is beyond the
// log is decided from the last number the room appended, without reading
// the log: asking (ResumeFrom, what a gateway acknowledges) costs nothing,
// and joining from such a point reads the recent history once, as any
// joiner. A room that has appended nothing yet (a durable log opened with
// events in it) reads the log's last event once, for its first resume.
func TestResumeBeyondTheLogCostsOneRead(t *testing.T) {
	l := &countingLog{MemoryLog: NewMemoryLog(5)}
	for _, text := range []string{"from before", "a restart"} {
		l.Append(&Event{Kind: Chat, From: "bob", Text: text})
	}
	r := newTestRoom(t, Config{HistorySize: 5, Log: l})
	reads := func() int64 { return l.replays.Swap(0) }
	for i, want := range []int64{1, 0} {
		if from, reset, err := r.ResumeFrom(2); from != 2 || reset || err != nil {
			t.Fatalf("ResumeFrom(2) = %d, %v, %v in a log whose last event is 2", from, reset, err)
		}
		if n := reads(); n != want {
			t.Errorf("ResumeFrom %d read the log %d times, want %d", i+1, n, want)
		}
	}
	mustJoin(t, r, "bob").Send("hi")
	reads()
	if from, reset, err := r.ResumeFrom(1000); from != 0 || !reset || err != nil {
		t.Errorf("ResumeFrom(1000) = %d, %v, %v", from, reset, err)
	}
	if n := reads(); n != 0 {
		t.Errorf("ResumeFrom beyond the log read it %d times", n)
	}
	want := []string{"notice " + ResumeResetNotice, "history-begin 4", "chat bob from before", "chat bob a restart", "join bob", "chat bob hi", "history-end", "join alice", "members alice,bob"}
	if d := describe(resumeJoin(t, r, 1000)); !slices.Equal(d, want) {
		t.Errorf("resumed beyond the log with\n  %q\nwant\n  %q", d, want)
	}
	if n := reads(); n != 1 {
		t.Errorf("a join resuming beyond the log read it %d times, want 1", n)
	}
}

// expiringLog is a MemoryLog whose events up to a number can be made to
// expire (--history-max-age): Replay no longer returns them; LastSeq, if
// lastSeq is set, still knows the last number.
type expiringLog struct {
	*MemoryLog
	expired atomic.Uint64
}

func (l *expiringLog) Replay(after uint64, n int) ([]*Event, error) {
	return l.MemoryLog.Replay(max(after, l.expired.Load()), n)
}

// TestResumeAfterEveryEventExpired: a member resuming into a log whose
// events after its point all expired is told how many are gone, not that
// its place is not in the log: whether the room appended them, or the log
// (a durable one, reopened) says where it ends (LogEnd).
func TestResumeAfterEveryEventExpired(t *testing.T) {
	t.Run("appended", func(t *testing.T) {
		l := &expiringLog{MemoryLog: NewMemoryLog(5)}
		r, _, last := resumeRoom(t, func(*testing.T, int) Log { return l }, 5, "w1", "w2")
		l.expired.Store(last + 3)
		// missed: alice's leave, w1, w2
		want := []string{"notice 3 events were missed and are no longer kept", "join alice", "members alice,bob"}
		if d := describe(resumeJoin(t, r, last)); !slices.Equal(d, want) {
			t.Errorf("resumed with\n  %q\nwant\n  %q", d, want)
		}
	})
	t.Run("reopened", func(t *testing.T) {
		l := &expiringLog{MemoryLog: NewMemoryLog(5)}
		for _, text := range []string{"seen", "missed", "missed too"} {
			l.Append(&Event{Kind: Chat, From: "bob", Text: text})
		}
		l.expired.Store(3)
		r := newTestRoom(t, Config{HistorySize: 5, Log: l})
		want := []string{"notice 2 events were missed and are no longer kept", "join alice", "members alice"}
		if d := describe(resumeJoin(t, r, 1)); !slices.Equal(d, want) {
			t.Errorf("resumed with\n  %q\nwant\n  %q", d, want)
		}
	})
}

// FirstSeq is the memory log's: the slow test log can say where it starts
// (LogStart), as a durable one can.
func (l *testLog) FirstSeq() (uint64, error) { return l.mem.FirstSeq() }

// TestResumeTellsGoneFromNotShown: a resume that missed more than the
// history shows is told how many of those not shown the log no longer
// keeps and how many it keeps but the history (--history) does not show;
// a log that cannot say where it starts (no LogStart) is said to be so.
func TestResumeTellsGoneFromNotShown(t *testing.T) {
	// alice saw up to 3; missed: her leave (4) and w1..w5 (5..9); shown: 7, 8, 9.
	for _, c := range []struct {
		name   string
		newLog func(*testing.T, int) Log
		want   []string
	}{
		{"all kept", func(*testing.T, int) Log { return NewMemoryLog(20) }, []string{"notice 3 events were missed and are not shown: a resume shows at most 3 events and 256 KiB"}},
		{"some gone", func(*testing.T, int) Log { return NewMemoryLog(4) }, []string{"notice 2 events were missed and are no longer kept", "notice 1 event was missed and is not shown: a resume shows at most 3 events and 256 KiB"}},
		{"all gone", func(*testing.T, int) Log { return NewMemoryLog(3) }, []string{"notice 3 events were missed and are no longer kept"}},
		{"log cannot say", func(t *testing.T, _ int) Log { return struct{ Log }{newTestLog(t, 20)} }, []string{"notice 3 events were missed and are not shown (a resume shows at most 3 events and 256 KiB; the log may no longer keep some)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _, last := resumeRoomSized(t, c.newLog, Config{HistorySize: 3, ResumeSize: 3}, "w1", "w2", "w3", "w4", "w5")
			want := append(c.want, "history-begin 3", "chat bob w3", "chat bob w4", "chat bob w5", "history-end", "join alice", "members alice,bob")
			if d := describe(resumeJoin(t, r, last)); !slices.Equal(d, want) {
				t.Errorf("resumed with\n  %q\nwant\n  %q", d, want)
			}
		})
	}
}

// TestResumeShowsMoreThanTheHistory: a resume that missed more than the
// history shows (--history) is replayed all it missed that the log keeps,
// up to Config.ResumeSize: the 1200 events missed after a history of 3
// are shown but the oldest 200, which the notice counts, and every one of
// the 1000 fits in the member's outbox. Scrolling up could not reach
// the events a notice said were not shown.
func TestResumeShowsMoreThanTheHistory(t *testing.T) {
	for name, newLog := range map[string]func(*testing.T, int) Log{
		"memory": func(*testing.T, int) Log { return NewMemoryLog(2000) },
		"slow":   func(t *testing.T, _ int) Log { return newTestLog(t, 2000) },
	} {
		t.Run(name, func(t *testing.T) {
			said := []string{"w1", "w2", "w3", "w4", "w5"}
			r, bob, last := resumeRoom(t, newLog, 3, said...)
			// missed: her leave (4) and w1..w5: all six shown.
			want := []string{"history-begin 6", "leave alice connection lost", "chat bob w1", "chat bob w2", "chat bob w3", "chat bob w4", "chat bob w5", "history-end", "join alice", "members alice,bob"}
			m, err := r.Join("alice", JoinOptions{Resume: true, ResumeAfter: last})
			if err != nil {
				t.Fatal(err)
			}
			got := drain(m)
			if d := describe(got); !slices.Equal(d, want) {
				t.Fatalf("resumed with\n  %q\nwant\n  %q", d, want)
			}
			seen := got[len(got)-2].Seq // her join
			m.Leave(Reason{Kind: ReasonLost})
			for i := range 1199 {
				bob.Send(fmt.Sprint("m", i))
			}
			drain(bob)
			got = resumeJoin(t, r, seen) // missed: her leave and 1199 lines
			if len(got) < 3 || got[0].Text != "200 events were missed and are not shown: a resume shows at most 1000 events and 256 KiB" || got[1].Kind != HistoryBegin || got[1].Count != 1000 {
				t.Fatalf("resumed with %q...", describe(got[:min(3, len(got))]))
			}
			for i, ev := range got[2:1002] {
				if want := seen + 201 + uint64(i); ev.Seq != want {
					t.Fatalf("replayed event %d is numbered %d, want %d", i, ev.Seq, want)
				}
			}
			if d := describe(got[1002:]); !slices.Equal(d, []string{"history-end", "join alice", "members alice,bob"}) {
				t.Errorf("the replay ended with %q", d)
			}
		})
	}
}

// TestResumeIsBoundedInBytes: a resumed replay of long lines holds at most
// maxResumeBytes of text beyond the history's size; the older ones are
// counted as not shown.
func TestResumeIsBoundedInBytes(t *testing.T) {
	r, bob, last := resumeRoom(t, func(*testing.T, int) Log { return NewMemoryLog(1000) }, 3)
	long := strings.Repeat("x", DefaultMaxLineBytes-8)
	for i := range 200 {
		bob.Send(fmt.Sprintf("%03d %s", i, long)) // 5..204
	}
	drain(bob)
	got := resumeJoin(t, r, last)
	if len(got) < 2 || got[1].Kind != HistoryBegin {
		t.Fatalf("resumed with %q", describe(got[:min(2, len(got))]))
	}
	shown := got[1].Count
	bytes := 0
	for _, ev := range got[2 : 2+shown] {
		bytes += eventBytes(ev)
	}
	if bytes > maxResumeBytes || shown < 100 {
		t.Errorf("the replay holds %d events, %d bytes of text; want at most %d bytes, and most of it", shown, bytes, maxResumeBytes)
	}
	if want := fmt.Sprintf("%d events were missed and are not shown: a resume shows at most 1000 events and 256 KiB", 201-shown); got[0].Text != want {
		t.Errorf("the notice says %q, want %q", got[0].Text, want)
	}
}

// TestJoinerIsNotShownTheStoreError: a joiner whose history cannot be read
// is told so plainly; what the store said (which may name its internals,
// such as a file path) goes to the room's log only.
func TestJoinerIsNotShownTheStoreError(t *testing.T) {
	var logged strings.Builder
	log := newTestLog(t, 10)
	r := newTestRoom(t, Config{Log: log, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	log.room.Store(r)
	log.set(func(l *testLog) {
		l.failReplay = errors.New("jetlog: replay: /var/lib/chatd/nats: outbound buffer limit exceeded")
	})
	m, err := r.Join("alice", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(m)
	if len(got) == 0 || got[0].Kind != Error || got[0].Text != "the history cannot be read now: storage unavailable" {
		t.Fatalf("the joiner was shown %q", describe(got))
	}
	for _, ev := range got {
		if strings.Contains(ev.Text, "jetlog") || strings.Contains(ev.Text, "/var/lib") {
			t.Errorf("the joiner was shown the store's words: %q", ev.Text)
		}
	}
	if out := logged.String(); !strings.Contains(out, "outbound buffer limit exceeded") || !strings.Contains(out, "alice") {
		t.Errorf("the room's log does not have the error:\n%s", out)
	}
}

// TestResumeAtChecksTheEventShown: a resume that names the event it was
// shown (ResumeAt) is served from its point if the log's event there is
// that one, reset (ResetOtherEvent) if another event is there or the log
// holds an earlier one but not it, and taken as it is when the log can no
// longer say (the event expired, or the log cannot read back); the check
// reads one event.
func TestResumeAtChecksTheEventShown(t *testing.T) {
	r, _, last := resumeRoom(t, func(*testing.T, int) Log { return NewMemoryLog(4) }, 4, "w1", "w2", "w3")
	// The log keeps 4..7 (alice's leave, w1..w3); she saw 3 ("before").
	isText := func(text string) func(*Event) bool { return func(ev *Event) bool { return ev.Text == text } }
	for _, c := range []struct {
		after uint64
		shown func(*Event) bool
		from  uint64
		reset ResumeReset
	}{
		{6, isText("w2"), 6, ResumeKept},
		{6, isText("something else"), 0, ResetOtherEvent},
		{6, nil, 6, ResumeKept},
		{last, isText("anything"), last, ResumeKept}, // expired: cannot say
		{99, isText("w2"), 0, ResetBeyond},
	} {
		from, reset, err := r.ResumeAt(c.after, c.shown)
		if err != nil || from != c.from || reset != c.reset {
			t.Errorf("ResumeAt(%d) = %d, %v, %v; want %d, %v", c.after, from, reset, err, c.from, c.reset)
		}
	}
	if ResetOtherEvent.Notice() != ResumeOtherEventNotice || ResetNoLog.Notice() != ResumeNoLogNotice || ResumeKept.Notice() != "" {
		t.Error("the resets' notices are not theirs")
	}

	// A log without LogPager cannot be asked: the number is taken.
	r2, _, _ := resumeRoom(t, func(t *testing.T, _ int) Log { return struct{ Log }{NewMemoryLog(10)} }, 10, "w1")
	if from, reset, err := r2.ResumeAt(4, isText("not it")); from != 4 || reset != ResumeKept || err != nil {
		t.Errorf("ResumeAt on a log that cannot read back = %d, %v, %v", from, reset, err)
	}

	// A log that holds an earlier event but not the one asked for (it
	// was deleted there) is not the history the member saw.
	gappy := &gapLog{MemoryLog: NewMemoryLog(10), missing: 5}
	r3, _, _ := resumeRoom(t, func(*testing.T, int) Log { return gappy }, 10, "w1", "w2")
	if from, reset, err := r3.ResumeAt(5, isText("w1")); from != 0 || reset != ResetOtherEvent || err != nil {
		t.Errorf("ResumeAt at a missing event = %d, %v, %v", from, reset, err)
	}
}

// gapLog is a memory log whose pages skip the event numbered missing.
type gapLog struct {
	*MemoryLog
	missing uint64
}

func (l *gapLog) Before(seq uint64, n int) ([]*Event, error) {
	evs, err := l.MemoryLog.Before(seq, n+1)
	evs = slices.DeleteFunc(evs, func(ev *Event) bool { return ev.Seq == l.missing })
	return evs[max(0, len(evs)-n):], err
}
