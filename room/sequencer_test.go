package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failingNicks is a Nicks whose writes can be made to fail: Claim as a
// network store refuses a nickname that another node's member has and the
// local replica has not seen yet, Release and Hold as an unreachable store
// does.
type failingNicks struct {
	*MemoryNicks

	mu          sync.Mutex
	claimErr    func(nick string) error // nil: claims go through
	failRelease bool                    // Release and Hold fail
}

func (n *failingNicks) set(f func(*failingNicks)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

func (n *failingNicks) Claim(nick string, c NickClaim) error {
	n.mu.Lock()
	claimErr := n.claimErr
	n.mu.Unlock()
	if claimErr != nil {
		if err := claimErr(nick); err != nil {
			return err
		}
	}
	return n.MemoryNicks.Claim(nick, c)
}

func (n *failingNicks) Release(nick string, c NickClaim) error {
	if n.failing() {
		return errors.New("store unreachable")
	}
	return n.MemoryNicks.Release(nick, c)
}

func (n *failingNicks) Hold(nick string, c NickClaim, grace time.Duration) error {
	if n.failing() {
		return errors.New("store unreachable")
	}
	return n.MemoryNicks.Hold(nick, c, grace)
}

func (n *failingNicks) failing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.failRelease
}

// TestRenameRefusedByTheStoreKeepsTheNickname: a rename is claimed in the
// store before it is made: if the store refuses the new nickname, the
// member keeps its old one, in the room and in the store, nothing is
// announced, and Rename returns the store's error (ErrNickTaken as the
// store worded it, anything else as ErrUnavailable, counted).
func TestRenameRefusedByTheStoreKeepsTheNickname(t *testing.T) {
	nicks := &failingNicks{MemoryNicks: NewMemoryNicks(10, nil)}
	nicks.claimErr = func(nick string) error {
		switch nickKey(nick) {
		case nickKey("bob"): // another node's member has it
			return errNickInUse(nick)
		case nickKey("down"):
			return errors.New("store unreachable")
		}
		return nil
	}
	r := newTestRoom(t, Config{Nicks: nicks, NickBurst: 10}) // a refused rename counts too
	alice := mustJoin(t, r, "alice")
	carol := mustJoin(t, r, "carol")
	drain(alice)
	me := claimOf(alice)

	if err := alice.Rename("bob"); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), `"bob" is already in use`) {
		t.Errorf("Rename(bob) = %v, want the store's refusal", err)
	}
	if err := alice.Rename("down"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "store unreachable") {
		t.Errorf("Rename(down) = %v, want ErrUnavailable with the store's error", err)
	}
	if got := r.Stats().StoreErrors; got != 1 {
		t.Errorf("StoreErrors = %d, want 1 (a refused nickname is no store error)", got)
	}
	if got := alice.Nick(); got != "alice" {
		t.Errorf("alice is now %q", got)
	}
	if owner, ok := nicks.Owner("alice"); !ok || owner.Claim != me {
		t.Errorf("the store has alice as %+v, %v; want alice's claim", owner, ok)
	}
	for _, nick := range []string{"bob", "down"} {
		if owner, ok := nicks.Owner(nick); ok {
			t.Errorf("the store has %s as %+v", nick, owner)
		}
	}
	assertEvents(t, alice)
	assertEvents(t, carol)
	if err := carol.Whisper("alice", "still you?"); err != nil {
		t.Errorf("a private message to alice: %v", err)
	}

	alice.Send("/nick bob")
	assertEvents(t, alice, "private carol alice still you?", `error nickname taken: "bob" is already in use, choose another`)
	if err := alice.Rename("Al"); err != nil {
		t.Fatalf("Rename(Al): %v", err)
	}
	assertEvents(t, carol, "private-sent carol alice still you?", "nick alice Al")
	if owner, ok := nicks.Owner("Al"); !ok || owner.Claim != me {
		t.Errorf("the store has Al as %+v, %v; want alice's claim", owner, ok)
	}
	if _, ok := nicks.Owner("alice"); ok {
		t.Error("the store still has alice after the rename")
	}
}

// TestFailedReleaseIsRetriedBeforeTheNicknameIsClaimedAgain: a release the
// store failed to write is kept and written again before the nickname is
// claimed again, so the nickname of a member who left while the store was
// down is free once the store is back; the failure is counted.
func TestFailedReleaseIsRetriedBeforeTheNicknameIsClaimedAgain(t *testing.T) {
	nicks := &failingNicks{MemoryNicks: NewMemoryNicks(10, nil)}
	r := newTestRoom(t, Config{Nicks: nicks})
	alice := mustJoin(t, r, "alice")
	nicks.set(func(n *failingNicks) { n.failRelease = true })
	alice.Send("/quit")
	if got := r.Stats().StoreErrors; got != 1 {
		t.Errorf("StoreErrors = %d, want the failed release", got)
	}
	if _, err := r.Join("alice", JoinOptions{}); !errors.Is(err, ErrNickTaken) {
		t.Errorf("joining as alice while the store cannot release it: %v, want ErrNickTaken", err)
	}
	nicks.set(func(n *failingNicks) { n.failRelease = false }) // the store is back
	again, err := r.Join("alice", JoinOptions{})
	if err != nil {
		t.Fatalf("alice left with /quit and the store is back, yet joining as alice: %v", err)
	}
	if owner, ok := nicks.Owner("alice"); !ok || owner.Claim != claimOf(again) {
		t.Errorf("the store has alice as %+v, %v; want the new member's claim", owner, ok)
	}
	r.mu.Lock()
	left := len(r.jobs.retry)
	r.mu.Unlock()
	if left != 0 {
		t.Errorf("%d jobs left to retry", left)
	}
}

// TestFailedReleaseIsRetriedWhenTheRoomIsQuiet: with nothing else going
// on, a failed release is retried after a while, and the nickname is freed
// in the store once it is back; a failed hold likewise.
func TestFailedReleaseIsRetriedWhenTheRoomIsQuiet(t *testing.T) {
	nicks := &failingNicks{MemoryNicks: NewMemoryNicks(10, nil)}
	r := newTestRoom(t, Config{Nicks: nicks})
	alice := mustJoin(t, r, "alice")
	bob, _ := joinAs(r, "bob", Identity{Address: "192.0.2.2"})
	nicks.set(func(n *failingNicks) { n.failRelease = true })
	alice.Quit("")
	bob.Leave(Reason{Kind: ReasonLost})
	nicks.set(func(n *failingNicks) { n.failRelease = false })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, aliceTaken := nicks.Owner("alice")
		bobOwner, bobTaken := nicks.Owner("bob")
		if !aliceTaken && bobTaken && bobOwner.held() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still has alice: %v, bob: %+v, %v", aliceTaken, bobOwner, bobTaken)
		}
	}
	if got := r.Stats().StoreErrors; got < 2 {
		t.Errorf("StoreErrors = %d, want at least the two failures", got)
	}
}

// TestRetriesAreBounded: while the store fails, at most maxRetryJobs
// releases wait to be retried; the oldest are given up. Once the store is
// back, the others are written.
func TestRetriesAreBounded(t *testing.T) {
	nicks := &failingNicks{MemoryNicks: NewMemoryNicks(10, nil), failRelease: true}
	r := newTestRoom(t, Config{Nicks: nicks})
	const leavers = maxRetryJobs + 5
	for i := range leavers {
		m := mustJoin(t, r, fmt.Sprint("m", i))
		m.Leave(Reason{Kind: ReasonQuit})
	}
	r.mu.Lock()
	waiting := len(r.jobs.retry)
	r.mu.Unlock()
	if waiting != maxRetryJobs {
		t.Errorf("%d releases wait to be retried, want %d", waiting, maxRetryJobs)
	}
	if got := r.Stats().StoreErrors; got < leavers {
		t.Errorf("StoreErrors = %d, want at least %d", got, leavers)
	}
	nicks.set(func(n *failingNicks) { n.failRelease = false })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		waiting = len(r.jobs.retry) + len(r.jobs.inflight)
		r.mu.Unlock()
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d releases still wait", waiting)
		}
	}
	if _, ok := nicks.Owner("m0"); !ok {
		t.Error("m0's release, given up, was written")
	}
	if _, ok := nicks.Owner(fmt.Sprint("m", leavers-1)); ok {
		t.Error("the last release was never written")
	}
}

// TestAddressedEventsDoNotOvertakePublicOnes: while the log stores a
// member's NickChange, a private message to its new nickname, a member
// list and an error reach their members after the NickChange, in the
// room's order.
func TestAddressedEventsDoNotOvertakePublicOnes(t *testing.T) {
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	l.room.Store(nil) // the lock check needs one goroutine at a time
	alice := mustJoin(t, r, "alice")
	carol := mustJoin(t, r, "carol")
	dave := mustJoin(t, r, "dave")
	drain(alice)
	drain(carol)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { alice.Send("/nick bob") })
	<-entered // the NickChange waits in the log
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	wg.Go(func() { carol.Send("/msg bob hi") })
	waitQueued(t, r, 1)
	wg.Go(func() { dave.Send("/who") })
	waitQueued(t, r, 2)
	wg.Go(func() { dave.Send("/frob") })
	waitQueued(t, r, 3)
	close(gate)
	wg.Wait()
	assertEvents(t, alice, "nick alice bob", "private carol bob hi")
	assertEvents(t, carol, "nick alice bob", "private-sent carol bob hi")
	assertEvents(t, dave, "nick alice bob", "members bob,carol,dave", `error unknown command "/frob"; /help lists the commands`)
}

// TestOperationsFailOnceTheRoomIsClosing: between Close and its Bye (the
// log is slow), operations fail with ErrClosed instead of reporting
// success for what nobody will be shown.
func TestOperationsFailOnceTheRoomIsClosing(t *testing.T) {
	l := newTestLog(t, 10)
	r := newLoggedRoom(t, l, Config{})
	l.room.Store(nil)
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { bob.Send("slow") })
	<-entered
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	wg.Go(func() { r.Close("down") })
	waitQueued(t, r, 1)
	for name, op := range map[string]func() error{
		"Say":     func() error { return alice.Say("are you there?") },
		"Act":     func() error { return alice.Act("waves") },
		"Whisper": func() error { return alice.Whisper("bob", "psst") },
		"Rename":  func() error { return alice.Rename("zed") },
		"Who":     alice.Who,
		"Help":    alice.Help,
		"Quit":    func() error { return alice.Quit("") },
	} {
		if err := op(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s while the room closes: %v, want ErrClosed", name, err)
		}
	}
	alice.Send("/nick zed") // refused, and not explained: the Bye says it all
	close(gate)
	wg.Wait()
	assertEvents(t, alice, "chat bob slow", "bye down server shutting down")
	assertEvents(t, bob, "bye down server shutting down")
}

// TestNickChangeFailureIsToldToTheRenamedMember: when the log cannot store
// a NickChange, the member renamed is told (the room is read-only), not
// whoever has its new nickname by then.
func TestNickChangeFailureIsToldToTheRenamedMember(t *testing.T) {
	l := newTestLog(t, 10)
	r := newCheckedRoom(t, l, Config{})
	l.room.Store(nil)
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	l.set(func(l *testLog) {
		l.failAppend = func(ev *Event) error {
			if ev.Kind == NickChange && ev.From == "alice" {
				return errors.New("log down")
			}
			return nil
		}
	})
	if err := alice.Rename("al"); err != nil {
		t.Fatal(err)
	}
	assertEvents(t, alice, "notice "+ReadOnlyNotice, "error "+ReadOnlyText)
	assertEvents(t, bob, "notice "+ReadOnlyNotice)
	l.set(func(l *testLog) { l.failAppend = nil })
	waitWritable(t, r)
	drain(alice)
	drain(bob)

	// The same, while alice leaves and bob takes her new nickname before
	// the failure is known.
	if err := alice.Rename("alice"); err != nil {
		t.Fatal(err)
	}
	drain(bob)
	l.set(func(l *testLog) {
		l.failAppend = func(ev *Event) error {
			if ev.Kind == NickChange && ev.From == "alice" {
				return errors.New("log down")
			}
			return nil
		}
	})
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { alice.Rename("carl") }) // its NickChange waits in the log
	<-entered
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	wg.Go(func() { alice.Leave(Reason{Kind: ReasonQuit}) })
	waitQueued(t, r, 2) // the release of carl, the Leave
	var renamed error
	wg.Go(func() { renamed = bob.Rename("carl") })
	waitQueued(t, r, 3)
	close(gate)
	wg.Wait()
	if renamed != nil || bob.Nick() != "carl" {
		t.Fatalf("bob's rename to carl: %v, bob is %q", renamed, bob.Nick())
	}
	// The room turned read-only: bob is told so, and his own change,
	// made, is refused its announcement; alice's failure is not his.
	assertEvents(t, bob, "notice "+ReadOnlyNotice, "error "+ReadOnlyText)
}

// TestJoinerSeesItsOwnJoinBehindAFullHistory: however HistorySize and
// OutboxSize compare, a joiner's outbox holds its whole history, its own
// Join and the member list.
func TestJoinerSeesItsOwnJoinBehindAFullHistory(t *testing.T) {
	for _, tc := range []struct{ history, outbox int }{
		{1, 1}, {1, 20}, {64, 64}, {240, 0}, {240, 256}, {300, 100},
	} {
		r := newTestRoom(t, Config{HistorySize: tc.history, OutboxSize: tc.outbox})
		talker := mustJoin(t, r, "talker")
		for i := range tc.history {
			talker.Send(fmt.Sprint("m", i))
		}
		late, err := r.Join("late", JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := describe(drain(late))
		want := []string{fmt.Sprint("history-begin ", tc.history), fmt.Sprint("chat talker m", tc.history-1), "history-end", "join late", "members late,talker"}
		if len(got) != tc.history+4 || got[0] != want[0] || !equalTail(got, want[1:]) {
			t.Errorf("history %d, outbox %d: the joiner got %d events, ending %q; want %d ending %q",
				tc.history, tc.outbox, len(got), got[max(0, len(got)-4):], tc.history+4, want[1:])
		}
		r.Close("bye")
	}
}

// equalTail reports whether s ends with tail.
func equalTail(s, tail []string) bool {
	if len(s) < len(tail) {
		return false
	}
	for i, v := range tail {
		if s[len(s)-len(tail)+i] != v {
			return false
		}
	}
	return true
}

// lockCheckingHandler is a slog.Handler that fails the test if the room's
// member lock is held when a record is written.
type lockCheckingHandler struct {
	t       *testing.T
	room    atomic.Pointer[Room]
	records atomic.Int32
}

func (h *lockCheckingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *lockCheckingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lockCheckingHandler) WithGroup(string) slog.Handler            { return h }

func (h *lockCheckingHandler) Handle(context.Context, slog.Record) error {
	checkUnlocked(h.t, h.room.Load(), "MessageLog")
	h.records.Add(1)
	return nil
}

// TestMessageLogIsWrittenWithoutTheMemberLock: the message log, which may
// be slow, is written without the member lock, and before the operation
// that sent the message returns.
func TestMessageLogIsWrittenWithoutTheMemberLock(t *testing.T) {
	h := &lockCheckingHandler{t: t}
	r := newTestRoom(t, Config{MessageLog: slog.New(h)})
	h.room.Store(r)
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "bob")
	alice.Send("public words")
	alice.Send("/me acts")
	if err := alice.Whisper("bob", "private words"); err != nil {
		t.Fatal(err)
	}
	if got := h.records.Load(); got != 3 {
		t.Errorf("%d messages logged, want 3", got)
	}
}
