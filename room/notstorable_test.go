package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// grownLine is maxLine bytes that cleaning makes twice as long: each
// invalid byte becomes a 3-byte U+FFFD.
func grownLine(maxLine int) string { return strings.Repeat("\xffa", maxLine/2) }

// TestCleanedTextStaysWithinTheLimit: a line within MaxLineBytes as typed
// that cleaning makes longer is refused as too long, whichever way it is
// sent, and a parting message (a /quit's, a gateway's Leave) is cut to the
// limit once cleaned: the room never hands its log text over the limit.
// The log here refuses such text as an ordinary failure, as jetlog did
// before it said ErrNotStorable: any of it would turn the room read-only.
func TestCleanedTextStaysWithinTheLimit(t *testing.T) {
	const maxLine = 64
	l := newTestLog(t, 50)
	l.failAppend = func(ev *Event) error {
		if len(ev.Text) > maxLine || len(ev.Reason.Detail) > maxLine {
			return fmt.Errorf("text of %d bytes, reason of %d", len(ev.Text), len(ev.Reason.Detail))
		}
		return nil
	}
	r := newLoggedRoom(t, l, Config{MaxLineBytes: maxLine, HistorySize: 50})
	alice, bob, carol, dave := mustJoin(t, r, "alice"), mustJoin(t, r, "bob"), mustJoin(t, r, "carol"), mustJoin(t, r, "dave")
	drain(alice)
	drain(bob)
	line := grownLine(maxLine)

	alice.Send(line)
	alice.Send("/me " + line[:maxLine-4])
	for _, op := range []func() error{
		func() error { return alice.Say(line) },
		func() error { return alice.Act(line) },
		func() error { return alice.Whisper("bob", line) },
	} {
		if err := op(); !errors.Is(err, ErrTooLong) {
			t.Errorf("an operation with %d bytes that clean to %d: %v, want ErrTooLong", len(line), len(Clean(line)), err)
		}
	}
	got := describe(drain(alice))
	if len(got) != 2 || !strings.Contains(got[0], "line too long once cleaned") || !strings.Contains(got[1], "line too long once cleaned") {
		t.Errorf("alice was told %q, want two refusals as too long once cleaned", got)
	}
	if err := carol.Quit(line); err != nil {
		t.Fatal(err)
	}
	dave.Leave(Reason{Kind: ReasonLost, Detail: line + line})
	if r.Stats().ReadOnly || r.Stats().StoreErrors != 0 {
		t.Fatalf("the room turned read-only: %+v", r.Stats())
	}
	seen := drain(bob)
	if got := describe(seen); len(got) != 2 || !strings.HasPrefix(got[0], "leave carol") || !strings.HasPrefix(got[1], "leave dave") {
		t.Fatalf("bob saw %q, want carol's and dave's leaves only", got)
	}
	for _, ev := range seen {
		if d := ev.Reason.Detail; len(d) > maxLine || len(d) < maxLine-3 || Clean(d) != d {
			t.Errorf("%s's parting message is %d bytes (%q), want it clean and cut to about %d", ev.From, len(d), d, maxLine)
		}
	}
}

// refusingLog refuses, as a log refuses an event it can never store, the
// events whose text is poison (ErrNotStorable); it fails everything with
// down while down is set.
func refusing(l *testLog, poison string) {
	l.set(func(l *testLog) {
		l.failAppend = func(ev *Event) error {
			if ev.Text == poison {
				return fmt.Errorf("log: %w: %q is poison", ErrNotStorable, ev.Text)
			}
			return nil
		}
	})
}

// TestNotStorableRefusesThatEventAlone: an Append error that wraps
// ErrNotStorable refuses that one event: its sender is told so, nobody is
// shown it, and the room stays writable; it is no store failure. The
// other members are told nothing, and the next line goes through.
func TestNotStorableRefusesThatEventAlone(t *testing.T) {
	l := newTestLog(t, 50)
	refusing(l, "poison")
	var failures atomic.Int64
	r := newCheckedRoom(t, l, Config{HistorySize: 50, StoreFailed: func(error) { failures.Add(1) }})
	alice, bob := mustJoin(t, r, "alice"), mustJoin(t, r, "bob")
	drain(alice)
	alice.Send("poison")
	if err := alice.Act("poison"); err != nil {
		t.Errorf("Act: %v", err)
	}
	alice.Send("fine")
	assertEvents(t, alice, "error "+NotStorableText, "error "+NotStorableText)
	assertEvents(t, bob, "chat alice fine")
	st := r.Stats()
	if st.ReadOnly || st.StoreErrors != 0 || failures.Load() != 0 || st.Rejected[RejectNotStorable] != 2 {
		t.Errorf("stats %+v, %d store failures heard; want writable, no store error, 2 rejected as not storable", st, failures.Load())
	}
}

// TestBatchNotStorableRefusesThoseEventsAlone: a BatchLog's error that
// wraps ErrNotStorable does not turn the room read-only. An event not
// stored before one the batch stored is refused alone; one after every
// stored event is appended again, alone, in order: stored if the log takes
// it alone, refused alone if the log refuses it again.
func TestBatchNotStorableRefusesThoseEventsAlone(t *testing.T) {
	const senders = 6
	l := &batchTestLog{testLog: newTestLog(t, 50)}
	l.refuse = func(ev *Event) error {
		switch ev.Text {
		case "line 1", "line 5":
			return fmt.Errorf("%w: %s", ErrNotStorable, ev.Text)
		case "line 4": // not stored in the batch, stored alone
			return errors.New("a passing failure")
		}
		return nil
	}
	refusing(l.testLog, "line 5")
	r := newBatchRoom(t, l)
	_, watcher, ms := sendersQueued(t, l, r, senders)
	want := []string{"chat alice first", "chat s0 line 0", "chat s2 line 2", "chat s3 line 3", "chat s4 line 4"}
	live := drain(watcher)
	if got := describe(live); !slices.Equal(got, want) {
		t.Fatalf("watcher saw %q, want %q", got, want)
	}
	if s := seqs(live); !slices.IsSorted(s) {
		t.Errorf("sequence numbers %v out of order", s)
	}
	for i, m := range ms {
		got := strings.Join(describe(drain(m)), "|")
		if told := strings.Contains(got, "error "+NotStorableText); told != (i == 1 || i == 5) {
			t.Errorf("s%d was shown %q", i, got)
		}
	}
	if st := r.Stats(); st.ReadOnly || st.StoreErrors != 0 || st.Rejected[RejectNotStorable] != 2 {
		t.Errorf("stats %+v; want writable, no store error, 2 rejected as not storable", st)
	}
}
