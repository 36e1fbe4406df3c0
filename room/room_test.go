package room

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedTime = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// newTestRoom returns a room on a frozen clock. Unless cfg sets them, flood
// limits are lifted so that tests can send freely; flood tests set them,
// and drive the timer of queued lines with floodRoom.
func newTestRoom(t *testing.T, cfg Config) *Room {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedTime }
	}
	if cfg.FloodBurst == 0 {
		cfg.FloodBurst, cfg.FloodKick = 1<<20, 1<<20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.afterFunc == nil { // queued lines wait until a test fires them (floodRoom)
		cfg.afterFunc = new(fakeTimers).after
	}
	return New(cfg)
}

func mustJoin(t *testing.T, r *Room, nick string) *Member {
	t.Helper()
	m, err := r.Join(nick, JoinOptions{})
	if err != nil {
		t.Fatalf("Join(%q): %v", nick, err)
	}
	drain(m)
	return m
}

// drain returns the events queued for m. The room delivers synchronously,
// so everything caused by a call is queued when the call returns.
func drain(m *Member) []*Event {
	out, _ := takeAll(m)
	return out
}

// ended reports whether m's events have ended: it has left and everything
// queued for it was taken.
func ended(m *Member) bool {
	_, open := m.Take(nil, 1)
	return !open
}

// wokenMember joins nick as a member whose Wake signals the channel
// returned, for tests that wait for events the room sends by itself.
func wokenMember(t *testing.T, r *Room, nick string) (*Member, <-chan struct{}) {
	t.Helper()
	wake := make(chan struct{}, 1)
	m, err := r.Join(nick, JoinOptions{Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatalf("Join(%q): %v", nick, err)
	}
	drain(m)
	return m, wake
}

// awaitEvents takes m's events until it has n of them, waiting on wake
// for more for up to limit in all; it returns what it took.
func awaitEvents(m *Member, wake <-chan struct{}, n int, limit time.Duration) []*Event {
	timeout := time.After(limit)
	var got []*Event
	for len(got) < n {
		batch, open := m.Take(nil, n-len(got))
		got = append(got, batch...)
		if len(batch) > 0 {
			continue
		}
		if !open {
			return got
		}
		select {
		case <-wake:
		case <-timeout:
			return got
		}
	}
	return got
}

// describe renders events compactly for comparisons.
func describe(events []*Event) []string {
	var out []string
	for _, ev := range events {
		s := ev.Kind.String()
		for _, f := range []string{ev.From, ev.To, ev.Text, ev.Reason.String()} {
			if f != "" {
				s += " " + f
			}
		}
		if ev.Kind == Members {
			s += " " + strings.Join(ev.Nicks, ",")
			if ev.Count != len(ev.Nicks) {
				s += fmt.Sprintf(" of %d", ev.Count)
			}
		}
		if ev.Kind == Presence {
			s += fmt.Sprintf(" +%d -%d =%d", ev.Joined, ev.Left, ev.Count)
		}
		if ev.Kind == HistoryBegin {
			s += fmt.Sprint(" ", ev.Count)
		}
		out = append(out, s)
	}
	return out
}

func assertEvents(t *testing.T, m *Member, want ...string) {
	t.Helper()
	got := describe(drain(m))
	if !slices.Equal(got, want) {
		t.Errorf("%s got events\n  %q\nwant\n  %q", m.Nick(), got, want)
	}
}

func TestJoinStreamWithoutHistory(t *testing.T) {
	r := newTestRoom(t, Config{})
	m, err := r.Join("alice", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, m, "join alice", "members alice")
}

func TestJoinStreamReplaysHistoryFirst(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	alice.Send("hello")
	bob, err := r.Join("bob", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, bob,
		"history-begin 2", "join alice", "chat alice hello", "history-end",
		"join bob", "members alice,bob")
	assertEvents(t, alice, "join bob")
}

func TestHistoryKeepsOnlyTheLastEvents(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 3})
	alice := mustJoin(t, r, "alice")
	for i := range 5 {
		alice.Send(fmt.Sprint("message ", i))
	}
	bob, _ := r.Join("bob", JoinOptions{})
	assertEvents(t, bob,
		"history-begin 3", "chat alice message 2", "chat alice message 3", "chat alice message 4", "history-end",
		"join bob", "members alice,bob")
}

func TestNickRules(t *testing.T) {
	valid := []string{"a", "Alice", "bob_2", "x-y", strings.Repeat("z", MaxNickLen)}
	invalid := []string{"", "al ice", "émile", "bob!", "<bob>", strings.Repeat("z", MaxNickLen+1), "a\x1b", "名前"}
	for _, nick := range valid {
		if err := ValidateNick(nick); err != nil {
			t.Errorf("ValidateNick(%q) = %v, want nil", nick, err)
		}
	}
	for _, nick := range invalid {
		err := ValidateNick(nick)
		if !errors.Is(err, ErrInvalidNick) {
			t.Errorf("ValidateNick(%q) = %v, want ErrInvalidNick", nick, err)
		} else if !strings.Contains(err.Error(), NickRules) {
			t.Errorf("ValidateNick(%q) error %q does not explain the rules", nick, err)
		}
	}
}

func TestNicksAreUniqueIgnoringCase(t *testing.T) {
	r := newTestRoom(t, Config{})
	mustJoin(t, r, "Alice")
	_, err := r.Join("aLiCe", JoinOptions{})
	if !errors.Is(err, ErrNickTaken) {
		t.Fatalf("second Alice: err = %v, want ErrNickTaken", err)
	}
	if got := r.Members(); !slices.Equal(got, []string{"Alice"}) {
		t.Errorf("Members() = %q after a refused join", got)
	}
}

func TestChatGoesToOthersWithoutEcho(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	alice.Send("hi bob")
	assertEvents(t, bob, "chat alice hi bob")
	assertEvents(t, alice)
}

func TestEchoOption(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice, _ := r.Join("alice", JoinOptions{Echo: true})
	drain(alice)
	alice.Send("hello")
	alice.Send("/me waves")
	assertEvents(t, alice, "chat alice hello", "action alice waves")
}

func TestCommands(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	carol := mustJoin(t, r, "carol")
	drain(alice)
	drain(bob)

	alice.Send("/me waves")
	assertEvents(t, bob, "action alice waves")

	alice.Send("/msg bob a secret")
	assertEvents(t, bob, "private alice bob a secret")
	assertEvents(t, alice, "private-sent alice bob a secret")
	assertEvents(t, carol, "action alice waves")

	alice.Send("/msg BOB case-insensitive")
	assertEvents(t, bob, "private alice bob case-insensitive")
	drain(alice)

	alice.Send("/who")
	assertEvents(t, alice, "members alice,bob,carol")
	alice.Send("!users")
	assertEvents(t, alice, "members alice,bob,carol")

	alice.Send("/nick Al")
	assertEvents(t, bob, "nick alice Al")
	assertEvents(t, alice, "nick alice Al")
	if alice.Nick() != "Al" {
		t.Errorf("Nick() = %q after /nick Al", alice.Nick())
	}
	if _, err := r.Join("alice", JoinOptions{}); err != nil {
		t.Errorf("old nick should be free after /nick: %v", err)
	}
	drain(bob)
	drain(carol)

	bob.Send("/quit off to lunch")
	assertEvents(t, carol, "leave bob quit: off to lunch")
	if !ended(bob) {
		t.Error("bob's events still open after /quit")
	}
	if got := bob.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "off to lunch"}) || got.String() != "quit: off to lunch" {
		t.Errorf("Reason() = %q", got)
	}

	carol.Send("!exit")
	if got := carol.Reason(); got != (Reason{Kind: ReasonQuit}) {
		t.Errorf("!exit: Reason() = %q, want %q", got, Reason{Kind: ReasonQuit})
	}
}

func TestCommandErrorsGoOnlyToTheSender(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	for line, want := range map[string]string{
		"/msg nobody hi":  `no one called "nobody" is here`,
		"/msg bob":        "usage: /msg NICK TEXT",
		"/me":             "usage: /me ACTION",
		"/nick":           "usage: /nick NEW",
		"/nick bad nick!": "invalid nickname",
		"/nick BOB":       "nickname taken",
		"/nick alice":     "you are already alice",
		"/frobnicate x":   `unknown command "/frobnicate"`,
	} {
		alice.Send(line)
		got := drain(alice)
		if len(got) != 1 || got[0].Kind != Error || !strings.Contains(got[0].Text, want) {
			t.Errorf("%q: got %q, want one error containing %q", line, describe(got), want)
		}
	}
	assertEvents(t, bob)
}

func TestSlashEscapeAndBangAreChat(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	alice.Send("//etc/passwd is a path")
	alice.Send("!!! wow")
	assertEvents(t, bob, "chat alice /etc/passwd is a path", "chat alice !!! wow")
}

func TestHelpListsTheRegistry(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	alice.Send("/help")
	got := drain(alice)
	if len(got) != len(Commands())+1 {
		t.Fatalf("/help sent %d lines, want %d", len(got), len(Commands())+1)
	}
	for i, c := range Commands() {
		if got[i].Kind != Notice || !strings.HasPrefix(got[i].Text, c.Usage()) || !strings.Contains(got[i].Text, c.Help) {
			t.Errorf("help line %d = %q, want %q and its help", i, got[i].Text, c.Usage())
		}
		for _, alias := range c.Aliases {
			if !strings.Contains(got[i].Text, alias) {
				t.Errorf("help line %q does not mention alias %s", got[i].Text, alias)
			}
		}
	}
}

func TestInputIsCleanedAndBounded(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 64})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	alice.Send("red \x1b[31malert\x1b[0m\r<bob> forged\tx \xff")
	alice.Send("   ")
	alice.Send(strings.Repeat("x", 65))
	assertEvents(t, bob, "chat alice red alert<bob> forged x \uFFFD")
	got := drain(alice)
	if len(got) != 1 || got[0].Kind != Error || !strings.Contains(got[0].Text, "too long") {
		t.Errorf("a 65-byte line got %q, want one 'too long' error", describe(got))
	}
}

func TestConcurrentSendersAllSeeOneOrder(t *testing.T) {
	const senders, perSender = 8, 50
	r := newTestRoom(t, Config{OutboxSize: senders*perSender + 64})
	watchers := []*Member{mustJoin(t, r, "w1"), mustJoin(t, r, "w2"), mustJoin(t, r, "w3")}
	var members []*Member
	for i := range senders {
		members = append(members, mustJoin(t, r, fmt.Sprint("s", i)))
	}
	for _, w := range watchers {
		drain(w)
	}
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			for j := range perSender {
				m.Send(fmt.Sprintf("%d-%d", i, j))
			}
		})
	}
	wg.Wait()
	var first []string
	for _, w := range watchers {
		var seqs []uint64
		var texts []string
		for _, ev := range drain(w) {
			seqs = append(seqs, ev.Seq)
			texts = append(texts, ev.Text)
		}
		if len(texts) != senders*perSender {
			t.Fatalf("%s got %d messages, want %d", w.Nick(), len(texts), senders*perSender)
		}
		if !slices.IsSorted(seqs) {
			t.Errorf("%s saw sequence numbers out of order", w.Nick())
		}
		if first == nil {
			first = texts
		} else if !slices.Equal(first, texts) {
			t.Errorf("%s saw a different order than w1", w.Nick())
		}
	}
}

// TestMemberThatFallsBehindStaysAndIsToldWhatItMissed: a member whose
// outbox fills skips what does not fit, without delaying anyone, and keeps
// its place; when it catches up it is told how many events it missed and
// who is here, then sees the room live again.
func TestMemberThatFallsBehindStaysAndIsToldWhatItMissed(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 4, OutboxSize: 32})
	sleeper := mustJoin(t, r, "sleeper") // not drained while the others talk
	sender := mustJoin(t, r, "sender")
	reader := mustJoin(t, r, "reader")
	const n = 500
	chats := 0
	for i := range n {
		sender.Send(fmt.Sprint("m", i)) // must never block
		chats += countKind(drain(reader), Chat)
	}
	if chats != n {
		t.Errorf("reader got %d of %d messages", chats, n)
	}
	if got := sleeper.Reason(); got != (Reason{}) {
		t.Fatalf("sleeper left (%q); falling behind must not cost a member its place", got)
	}
	if !slices.Contains(r.Members(), "sleeper") {
		t.Fatal("sleeper is no longer a member")
	}
	backlog := drain(sleeper)
	// Events for the joins of sender and reader, then the chat that fitted,
	// leaving 4 places (an eighth, at least 4) for replies and reports.
	if len(backlog) != 28 || backlog[27].Kind != Chat {
		t.Fatalf("sleeper's backlog: %d events, want the 28 that fitted", len(backlog))
	}
	skipped := n + 2 - 28
	sender.Send("after")
	assertEvents(t, sleeper,
		fmt.Sprintf("notice you fell behind: %d events were skipped", skipped),
		"members reader,sender,sleeper",
		"chat sender after")
	if got := r.Stats().Skipped; got != uint64(skipped) {
		t.Errorf("Stats().Skipped = %d, want %d", got, skipped)
	}
}

// TestManySendersCannotEvictAMember is the eviction attack: 60 members all
// send a burst at once while a member reads slowly; then one of them tries
// to take her nickname. She stays, keeps her nickname, and everything said
// after she catches up reaches her.
func TestManySendersCannotEvictAMember(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, HistorySize: 10, OutboxSize: 64, FloodBurst: 10, FloodRate: 2, FloodKick: 20})
	alice, wakes := pullMember(t, r, "alice")
	takeAll(alice)
	var mob []*Member
	for i := range 60 {
		mob = append(mob, mustJoin(t, r, fmt.Sprint("mob", i)))
	}
	for _, m := range mob {
		m.Send("/msg alice you are out")
		for j := range 9 {
			m.Send(fmt.Sprint("burst ", j))
		}
	}
	if alice.Reason() != (Reason{}) || !slices.Contains(r.Members(), "alice") {
		t.Fatalf("alice was evicted (%q)", alice.Reason())
	}
	clock.Advance(time.Minute)
	mob[0].Send("/quit")
	drain(mob[1])
	mob[1].Send("/nick alice")
	if evs := drain(mob[1]); len(evs) == 0 || evs[len(evs)-1].Kind != Error || !strings.Contains(evs[len(evs)-1].Text, "already in use") {
		t.Errorf("taking alice's nick: %q, want an 'already in use' error", describe(evs))
	}
	if wakes.Load() == 0 {
		t.Error("alice was never woken")
	}
	takeAll(alice) // she catches up
	mob[2].Send("still here?")
	got, open := takeAll(alice)
	if !open || len(got) != 3 || got[0].Kind != Notice || !strings.Contains(got[0].Text, "you fell behind") ||
		got[1].Kind != Members || got[1].Count != 60 || got[2].Text != "still here?" {
		t.Errorf("after catching up alice took %q (open %v), want the missed report, the members and the new line", describe(got), open)
	}
}

// TestPrivateMessagesToOneMemberAreLimited: each sender (address, or key)
// has its own share of the private messages one member receives, so the
// members of one address cannot starve another's; a sender whose message
// is refused, or does not fit, is told, and never told it was delivered.
func TestPrivateMessagesToOneMemberAreLimited(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, PrivateRate: 1, PrivateBurst: 3, OutboxSize: 120, HistorySize: 1})
	target := mustJoin(t, r, "target")
	mob := Identity{Address: "198.51.100.7"}
	a, _ := joinAs(r, "a", mob)
	a2, _ := joinAs(r, "a2", mob)
	b, _ := joinAs(r, "b", Identity{Address: "192.0.2.2"})
	drain(target)
	drain(a2)
	a.Send("/msg target one")
	a2.Send("/msg target two")
	a.Send("/msg target three")
	a2.Send("/msg target four") // the fourth from one address
	b.Send("/msg target five")  // another address has its own share
	assertEvents(t, target, "private a target one", "private a2 target two", "private a target three", "private b target five")
	assertEvents(t, a2, "private-sent a2 target two",
		"error target is receiving too many private messages; yours was not delivered, try again later")
	assertEvents(t, b, "private-sent b target five")
	if got := r.Stats().Rejected[RejectPrivate]; got != 1 {
		t.Errorf("Stats().Rejected[%q] = %d, want 1", RejectPrivate, got)
	}
	clock.Advance(time.Second)
	a2.Send("/msg target six")
	assertEvents(t, target, "private a2 target six")

	// A full outbox, the places kept for replies too: refused, and the
	// sender is not told it was delivered.
	for range 200 {
		a.Send("filler")
		drain(b)
	}
	for i := range 30 {
		clock.Advance(time.Minute)
		b.Send(fmt.Sprint("/msg target fill ", i))
	}
	drain(b)
	clock.Advance(time.Minute)
	b.Send("/msg target seven")
	assertEvents(t, b, "error target is not keeping up with the room; your message was not delivered")
}

func TestCloseTellsEveryoneAndRefusesJoins(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	r.Close("going down")
	r.Close("again") // harmless
	for _, m := range []*Member{alice, bob} {
		got := describe(drain(m))
		if !slices.Equal(got, []string{"bye going down server shutting down"}) {
			t.Errorf("%s got %q at close", m.Nick(), got)
		}
		if !ended(m) {
			t.Errorf("%s's events still open", m.Nick())
		}
		if m.Reason() != (Reason{Kind: ReasonShutdown}) {
			t.Errorf("%s's reason = %q", m.Nick(), m.Reason())
		}
	}
	if _, err := r.Join("carol", JoinOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	alice.Send("anyone?") // must not panic on a closed stream
	alice.Leave(Reason{Detail: "late"})
}

func TestLeaveIsIdempotent(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	alice.Leave(Reason{Kind: ReasonClosed})
	alice.Leave(Reason{Kind: ReasonClosed})
	assertEvents(t, bob, "leave alice connection closed")
}

func TestMessageLogRecordsBodiesOnlyWhenAsked(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	r := newTestRoom(t, Config{MessageLog: logger})
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "bob")
	alice.Send("public words")
	alice.Send("/msg bob private words")
	alice.Send("/me acts")
	for _, want := range []string{`kind=chat`, `text="public words"`, `kind=private`, `to=bob text="private words"`, `kind=action`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("message log lacks %s:\n%s", want, buf.String())
		}
	}

	quiet := newTestRoom(t, Config{})
	carol := mustJoin(t, quiet, "carol")
	carol.Send("not logged anywhere") // and no panic without a log
}

// TestEchoOfAgreesWithTheRoom checks EchoOf against what the room itself
// delivers for the same lines.
func TestEchoOfAgreesWithTheRoom(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice, _ := r.Join("alice", JoinOptions{Echo: true})
	for _, line := range []string{"hello", "//slash", "/me waves", "!!! wow", "/who", "!users", "/msg x y", "/nope", "   ", "tab\there \x1b[1m", "/me", strings.Repeat("x", DefaultMaxLineBytes+1)} {
		drain(alice)
		alice.Send(line)
		var delivered *Event
		for _, ev := range drain(alice) {
			if ev.Kind == Chat || ev.Kind == Action {
				delivered = ev
			}
		}
		echo := EchoOf("alice", line, 0)
		switch {
		case delivered == nil && echo != nil:
			t.Errorf("EchoOf(%q) = %v %q, but the room sent nothing", line, echo.Kind, echo.Text)
		case delivered != nil && (echo == nil || echo.Kind != delivered.Kind || echo.Text != delivered.Text || echo.From != delivered.From):
			t.Errorf("EchoOf(%q) = %+v, the room sent %v %q", line, echo, delivered.Kind, delivered.Text)
		}
	}
}

// TestRepliesToAMemberWhoseOutboxFillsMidway is the regression test for a
// crash: /help queues several notices, and when the outbox filled part way
// the member was removed and the next notice was sent on its closed stream.
// Now what does not fit is skipped and the member stays.
func TestRepliesToAMemberWhoseOutboxFillsMidway(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 4, OutboxSize: 24})
	laggard := mustJoin(t, r, "laggard")
	talker := mustJoin(t, r, "talker")
	for i := range 24 - 3 { // leave room for 3 of /help's notices
		talker.Send(fmt.Sprint("filler ", i))
	}
	laggard.Send("/help") // must not panic
	if laggard.Reason() != (Reason{}) {
		t.Errorf("laggard left (%q)", laggard.Reason())
	}
	if got := len(drain(laggard)); got != 24 {
		t.Errorf("laggard had %d events queued, want 24", got)
	}
}

// TestFallingBehindIsReportedWhenTheRoomFallsSilent: a member that missed
// events is told so once it has caught up, even if nothing else is said.
func TestFallingBehindIsReportedWhenTheRoomFallsSilent(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 1, OutboxSize: 21})
	defer r.Close("bye")
	talker := mustJoin(t, r, "talker")
	lagger, wake := wokenMember(t, r, "lagger")
	for range 30 {
		talker.Send("x")
	}
	if got := len(drain(lagger)); got != 17 {
		t.Fatalf("lagger had %d events queued, want 17 (4 places are kept for replies)", got)
	}
	got := awaitEvents(lagger, wake, 2, 10*time.Second)
	if len(got) < 2 {
		t.Fatalf("lagger was never told what it missed; got %q", describe(got))
	}
	if want := []string{"notice you fell behind: 13 events were skipped", "members lagger,talker"}; !slices.Equal(describe(got), want) {
		t.Errorf("got %q, want %q", describe(got), want)
	}
}

// TestRepliesReachAMemberThatFellBehind: public events leave places in an
// outbox for what is addressed to the member alone, so a member behind a
// flood still gets the answers to its own commands and its private
// messages, in order after what it already had.
func TestRepliesReachAMemberThatFellBehind(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 1, OutboxSize: 40})
	laggard := mustJoin(t, r, "laggard")
	talker := mustJoin(t, r, "talker")
	for range 100 {
		talker.Send("flood")
	}
	laggard.Send("/msg nobody hello")
	talker.Send("/msg laggard psst")
	got := describe(drain(laggard))
	want := []string{"notice you fell behind: 66 events were skipped", "members laggard,talker",
		`error no one called "nobody" is here; /who lists the members`, "private talker laggard psst"}
	if n := len(got); n < 4 || !slices.Equal(got[n-4:], want) {
		t.Errorf("laggard's last events: %q, want the report of what it missed, its error, then the private message", got[max(0, n-4):])
	}
}
