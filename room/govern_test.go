package room

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPolicy is a Policy for tests: operators by address, mutes by
// nickname, each with its end (zero: until unmuted).
type testPolicy struct {
	mu        sync.Mutex
	operators map[string]bool      // by Identity.Address
	muted     map[string]time.Time // by nickname
	refused   map[string]error     // by Identity.Address
}

func newTestPolicy() *testPolicy {
	return &testPolicy{operators: make(map[string]bool), muted: make(map[string]time.Time), refused: make(map[string]error)}
}

func (p *testPolicy) Admit(id Identity) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused[id.Address]
}

// refuse makes the policy refuse the holders of address with err.
func (p *testPolicy) refuse(address string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused[address] = err
}

func (p *testPolicy) Operator(id Identity) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.operators[id.Address]
}

func (p *testPolicy) Muted(nick string, _ Identity) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.muted[nick]
	return until, ok
}

func (p *testPolicy) mute(nick string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.muted[nick] = until
}

// kicked is the reason an operator's kick gives.
var kicked = Reason{Kind: ReasonKicked, Detail: "alice: spam"}

// byNick matches the member called nick.
func byNick(nick string) func(MemberInfo) bool {
	return func(mi MemberInfo) bool { return mi.Nick == nick }
}

// TestRemoveEndsTheStreamsAndAnnouncesEachLeave: every matching member
// leaves with the reason, which ends its stream; each leave is announced
// to everyone, even in a room too big to announce leaves one by one; the
// removed are returned sorted; a member already gone is not removed twice.
func TestRemoveEndsTheStreamsAndAnnouncesEachLeave(t *testing.T) {
	r := newTestRoom(t, Config{QuietJoinsAbove: 1, PresenceEvery: time.Hour})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	mallory, _ := joinAs(r, "mallory", Identity{Address: "198.51.100.7"})
	zed, _ := joinAs(r, "zed", Identity{Address: "198.51.100.7"})
	bob, _ := joinAs(r, "bob", Identity{Address: "192.0.2.2"})
	drain(alice)
	drain(mallory)
	drain(zed)
	got := r.Remove(func(mi MemberInfo) bool { return mi.Identity.Address == "198.51.100.7" }, kicked)
	if !slices.Equal(got, []string{"mallory", "zed"}) {
		t.Fatalf("Remove = %q, want mallory and zed", got)
	}
	for _, m := range []*Member{alice, bob} {
		assertEvents(t, m, "leave mallory kicked by alice: spam", "leave zed kicked by alice: spam")
	}
	for _, m := range []*Member{mallory, zed} {
		if drain(m); !ended(m) || m.Reason() != kicked {
			t.Errorf("%s: ended %v, reason %#v", m.Nick(), ended(m), m.Reason())
		}
	}
	if got := r.Members(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("members %q", got)
	}
	if got := r.Remove(func(MemberInfo) bool { return false }, kicked); len(got) != 0 {
		t.Errorf("Remove of nobody = %q", got)
	}
	if st := r.Stats(); st.Leaves[ClassRemoved] != 2 {
		t.Errorf("leaves %v, want 2 removed by an operator", st.Leaves)
	}
}

// TestRemoveBoundsItsReason: the reason's Detail, an operator's words, is
// cleaned and cut like any line.
func TestRemoveBoundsItsReason(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 64})
	alice := mustJoin(t, r, "alice")
	mallory := mustJoin(t, r, "mallory")
	drain(alice)
	r.Remove(byNick("mallory"), Reason{Kind: ReasonBanned, Detail: "alice: \x1b[31mspam\n" + strings.Repeat("x", 500)})
	got := drain(alice)
	if len(got) != 1 || got[0].Kind != Leave {
		t.Fatalf("alice got %q", describe(got))
	}
	detail := got[0].Reason.Detail
	if len(detail) > 64 || strings.ContainsAny(detail, "\x1b\n") || !strings.HasPrefix(detail, "alice: spam") {
		t.Errorf("detail %q: not cleaned and bounded", detail)
	}
	if mallory.Reason() != got[0].Reason {
		t.Errorf("mallory's reason %#v, announced %#v", mallory.Reason(), got[0].Reason)
	}
}

// TestRemovedNicknameIsNotHeld: a member removed by an operator does not
// keep its nickname for the grace period (as a lost connection does): the
// room meant it to go, and a banned member could not use it anyway. Anyone
// may take it at once.
func TestRemovedNicknameIsNotHeld(t *testing.T) {
	for _, reason := range []Reason{kicked, {Kind: ReasonBanned, Detail: "alice: spam"}} {
		t.Run(reason.String(), func(t *testing.T) {
			r := newTestRoom(t, Config{})
			if _, err := joinAs(r, "mallory", Identity{Address: "198.51.100.7"}); err != nil {
				t.Fatal(err)
			}
			r.Remove(byNick("mallory"), reason)
			if _, err := joinAs(r, "mallory", Identity{Address: "192.0.2.9"}); err != nil {
				t.Errorf("someone else could not take a removed member's nickname: %v", err)
			}
		})
	}
}

// TestAnnounceTellsEveryoneAndStoresNothing: an announcement is a Notice to
// each member, cleaned and bounded, kept out of the log (a joiner's
// history does not show it); an empty one, or one to a closed room, is
// not sent.
func TestAnnounceTellsEveryoneAndStoresNothing(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 40})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	r.Announce("mallory was kicked\x1b]0;pwned\x07 by alice: " + strings.Repeat("z", 100))
	r.Announce("\x1b[2J")
	for _, m := range []*Member{alice, bob} {
		got := drain(m)
		if len(got) != 1 || got[0].Kind != Notice || got[0].Time.IsZero() {
			t.Fatalf("%s got %q", m.Nick(), describe(got))
		}
		if text := got[0].Text; len(text) > 40 || !strings.HasPrefix(text, "mallory was kicked by alice: zz") {
			t.Errorf("%s was told %q", m.Nick(), text)
		}
	}
	carol, err := r.Join("carol", JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range drain(carol) {
		if ev.Kind == Notice {
			t.Errorf("the announcement was stored: carol got %q", describe([]*Event{ev}))
		}
	}
	r.Close(ShutdownNotice)
	r.Announce("too late")
	for _, ev := range drain(alice) {
		if ev.Text == "too late" {
			t.Error("a closed room announced")
		}
	}
}

// TestMutedMemberReadsButCannotSend: a muted member's chat (typed or
// called), actions, private messages, renames and parting words are
// refused or dropped, with ErrMuted worded with until when; it still reads
// what others say, and runs commands that send nothing (/who). A mute
// that has ended refuses nothing.
func TestMutedMemberReadsButCannotSend(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	p := newTestPolicy()
	r := newTestRoom(t, Config{Policy: p, Now: clock.Now})
	alice := mustJoin(t, r, "alice")
	mallory := mustJoin(t, r, "mallory")
	drain(alice)
	until := fixedTime.Add(time.Hour)
	p.mute("mallory", until)
	const words = "you are muted by an operator until 2026-11-28 13:00:00 UTC: you can read, but not send"
	for name, op := range map[string]func() error{
		"Say":     func() error { return mallory.Say("hi") },
		"Act":     func() error { return mallory.Act("waves") },
		"Whisper": func() error { return mallory.Whisper("alice", "psst") },
		"Rename":  func() error { return mallory.Rename("trudy") },
	} {
		if err := op(); !errors.Is(err, ErrMuted) || err.Error() != words {
			t.Errorf("%s: %v, want ErrMuted worded %q", name, err, words)
		}
	}
	for _, line := range []string{"hello", "/me waves", "/msg alice psst", "/nick trudy", "//slash"} {
		mallory.Send(line)
	}
	got := describe(drain(mallory))
	if len(got) != 5 || slices.ContainsFunc(got, func(s string) bool { return s != "error "+words }) {
		t.Errorf("mallory's typed lines: %q, want 5 refusals", got)
	}
	assertEvents(t, alice)
	alice.Say("can you hear me?")
	mallory.Send("/who")
	assertEvents(t, mallory, "chat alice can you hear me?", "members alice,mallory")

	p.mute("mallory", time.Time{}) // until an operator unmutes
	if err := mallory.Say("hi"); !errors.Is(err, ErrMuted) || !strings.Contains(err.Error(), "you are muted by an operator: you can read") {
		t.Errorf("an open-ended mute: %v", err)
	}
	p.mute("mallory", until)
	clock.Advance(time.Hour)
	if err := mallory.Say("free"); err != nil {
		t.Errorf("a mute that has ended still refuses: %v", err)
	}
	assertEvents(t, alice, "chat mallory free")
	p.mute("mallory", time.Time{})
	mallory.Send("/quit buy cheap pills")
	assertEvents(t, alice, "leave mallory quit")
}

// TestOperatorOnlyCommands: an operator (Config.Policy) runs an
// OperatorOnly command; anyone else is refused with "permission denied".
func TestOperatorOnlyCommands(t *testing.T) {
	p := newTestPolicy()
	p.operators["192.0.2.1"] = true
	r := newTestRoom(t, Config{Policy: p})
	var ran []string
	err := r.Register(Command{Name: "/kick", Args: "NICK", Help: "Remove NICK.", OperatorOnly: true, Handler: func(m *Member, args string) error {
		ran = append(ran, m.Nick()+" "+args)
		return m.Tell("kicked " + args)
	}})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	mallory, _ := joinAs(r, "mallory", Identity{Address: "198.51.100.7"})
	drain(alice)
	alice.Send("/kick mallory")
	mallory.Send("/kick alice")
	assertEvents(t, alice, "notice kicked mallory")
	got := drain(mallory)
	if len(got) != 1 || got[0].Kind != Error || got[0].Text != "permission denied: /kick is for the room's operators only" {
		t.Errorf("mallory got %q", describe(got))
	}
	if !slices.Equal(ran, []string{"alice mallory"}) {
		t.Errorf("ran %q", ran)
	}
	if st := r.Stats(); st.Rejected[RejectCommand] != 1 {
		t.Errorf("rejected %v", st.Rejected)
	}
}

// TestHelpListsOperatorCommandsToOperators: /help lists an OperatorOnly
// command to an operator, and not to anyone else, for whom it only
// answers "permission denied".
func TestHelpListsOperatorCommandsToOperators(t *testing.T) {
	p := newTestPolicy()
	p.operators["192.0.2.1"] = true
	r := newTestRoom(t, Config{Policy: p})
	if err := r.Register(Command{Name: "/kick", Args: "NICK", Help: "Remove NICK.", OperatorOnly: true, Handler: func(*Member, string) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	mallory, _ := joinAs(r, "mallory", Identity{Address: "198.51.100.7"})
	drain(alice)
	drain(mallory)
	alice.Send("/help")
	mallory.Send("/help")
	if got := describe(drain(alice)); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "/kick NICK") }) {
		t.Errorf("the operator's /help lacks /kick:\n%q", got)
	}
	got := describe(drain(mallory))
	if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "/kick") }) || !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "/who") }) {
		t.Errorf("a member's /help lists /kick, or not /who:\n%q", got)
	}
}

// TestTellIsBounded: Member.Tell cleans each line, cuts it to the line
// limit and sends at most MaxTellLines; a member that left is told
// nothing.
func TestTellIsBounded(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 32})
	alice := mustJoin(t, r, "alice")
	lines := make([]string, MaxTellLines+10)
	for i := range lines {
		lines[i] = "\x1b[1mline\r\n" + strings.Repeat("é", 40)
	}
	if err := alice.Tell(lines...); err != nil {
		t.Fatal(err)
	}
	got := drain(alice)
	if len(got) != MaxTellLines {
		t.Fatalf("told %d lines, want %d", len(got), MaxTellLines)
	}
	for _, ev := range got {
		if ev.Kind != Notice || len(ev.Text) > 32 || !strings.HasPrefix(ev.Text, "lineé") || Clean(ev.Text) != ev.Text {
			t.Fatalf("told %q", ev.Text)
		}
	}
	alice.Leave(Reason{Kind: ReasonQuit})
	if err := alice.Tell("anyone?"); !errors.Is(err, ErrNotInRoom) {
		t.Errorf("Tell after leaving: %v", err)
	}
}

// TestFindSeesLookAlikes: Find returns the member whose nickname is the
// one asked for or a look-alike of it (nobody else can hold one), under
// its own spelling, with its identity and when it joined; nobody for a
// nickname nobody has.
func TestFindSeesLookAlikes(t *testing.T) {
	r := newTestRoom(t, Config{})
	id := Identity{Transport: TransportTLS, Address: "192.0.2.1", CertFingerprint: "AB:CD"}
	if _, err := joinAs(r, "alice", id); err != nil {
		t.Fatal(err)
	}
	for _, nick := range []string{"alice", "ALICE", "a1ice", "alIce", "AL1CE"} {
		mi, ok := r.Find(nick)
		if !ok || mi.Nick != "alice" || mi.Identity != id || !mi.Joined.Equal(fixedTime) {
			t.Errorf("Find(%q) = %+v, %v", nick, mi, ok)
		}
	}
	for _, nick := range []string{"alicia", "", strings.Repeat("a", 4096)} {
		if mi, ok := r.Find(nick); ok {
			t.Errorf("Find(%q) = %+v", nick, mi)
		}
	}
}

// TestGreetingFollowsTheMemberList: each joiner is shown the greeting
// after its history, its Join and the member list, cleaned and bounded;
// members already present are not.
func TestGreetingFollowsTheMemberList(t *testing.T) {
	var asked []string
	greeting := func(nick string, id Identity) []string {
		asked = append(asked, nick+" "+id.Address)
		lines := []string{"Welcome, " + nick + "\x1b[5m!", strings.Repeat("w", 100)}
		for range 2 * MaxDescriptionLines {
			lines = append(lines, "rule")
		}
		return lines
	}
	r := newTestRoom(t, Config{Greeting: greeting, MaxLineBytes: 50})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	alice.Say("hi")
	bob, err := r.Join("bob", JoinOptions{Identity: Identity{Address: "192.0.2.2"}})
	if err != nil {
		t.Fatal(err)
	}
	got := describe(drain(bob))
	want := []string{"history-begin 2", "join alice", "chat alice hi", "history-end", "join bob", "members alice,bob", "notice Welcome, bob!", "notice " + strings.Repeat("w", 50)}
	for range MaxDescriptionLines - 2 {
		want = append(want, "notice rule")
	}
	if !slices.Equal(got, want) {
		t.Errorf("bob got\n  %q\nwant\n  %q", got, want)
	}
	assertEvents(t, alice, "join bob")
	if !slices.Equal(asked, []string{"alice 192.0.2.1", "bob 192.0.2.2"}) {
		t.Errorf("Greeting asked for %q", asked)
	}
}

// TestGreetingAlwaysFitsTheOutbox: with the smallest outbox, a full
// history and a resume, the joiner still gets its whole greeting.
func TestGreetingAlwaysFitsTheOutbox(t *testing.T) {
	greeting := func(string, Identity) []string {
		lines := make([]string, MaxDescriptionLines)
		for i := range lines {
			lines[i] = "motd"
		}
		return lines
	}
	r := newTestRoom(t, Config{Greeting: greeting, OutboxSize: 1, HistorySize: 20, ResumeSize: 30})
	alice := mustJoin(t, r, "alice")
	for range 40 {
		alice.Say("x")
	}
	for _, opts := range []JoinOptions{{}, {Resume: true, ResumeAfter: 2}} {
		m, err := r.Join("bob", opts)
		if err != nil {
			t.Fatal(err)
		}
		got := drain(m)
		n := 0
		for _, ev := range got {
			if ev.Kind == Notice && ev.Text == "motd" {
				n++
			}
		}
		if n != MaxDescriptionLines || got[len(got)-1].Text != "motd" {
			t.Errorf("resume %v: %d greeting lines of %d events, want %d at the end", opts.Resume, n, len(got), MaxDescriptionLines)
		}
		m.Leave(Reason{Kind: ReasonQuit})
	}
}

// TestRemoveAndAnnounceWithAStoredLog: with a Log that is not the memory
// one (the room's work goes through its sequencer), the leave of a
// removed member is stored and shown before the announcement that follows
// it, which is not stored.
func TestRemoveAndAnnounceWithAStoredLog(t *testing.T) {
	l := newTestLog(t, 100)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "mallory")
	drain(alice)
	alice.Say("before")
	r.Remove(byNick("mallory"), kicked)
	r.Announce("mallory was kicked by alice: spam")
	assertEvents(t, alice, "leave mallory kicked by alice: spam", "notice mallory was kicked by alice: spam")
	stored, err := l.Replay(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(stored); !slices.Equal(got[len(got)-2:], []string{"chat alice before", "leave mallory kicked by alice: spam"}) {
		t.Errorf("stored %q", got)
	}
}

// TestRemoveReachesAMemberStillArriving: with a slow store, a joiner the
// door let in may still be arriving (its Join being stored) when an
// operator bans it; Remove finds it too, and it leaves as soon as it has
// arrived, its leave announced, so that a ban never misses a connection
// that was on its way in.
func TestRemoveReachesAMemberStillArriving(t *testing.T) {
	l := newTestLog(t, 100)
	r := newLoggedRoom(t, l, Config{})
	alice := mustJoin(t, r, "alice")
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	type joined struct {
		m   *Member
		err error
	}
	done := make(chan joined)
	go func() {
		m, err := r.Join("mallory", JoinOptions{Identity: Identity{Address: "198.51.100.7"}})
		done <- joined{m, err}
	}()
	<-entered // the sequencer stores mallory's Join
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	banned := Reason{Kind: ReasonBanned, Detail: "alice: spam"}
	got := r.Remove(func(mi MemberInfo) bool { return mi.Identity.Address == "198.51.100.7" }, banned)
	close(gate)
	j := <-done
	if !slices.Equal(got, []string{"mallory"}) || j.err != nil {
		t.Fatalf("Remove = %q; Join: %v", got, j.err)
	}
	if drain(j.m); !ended(j.m) || j.m.Reason() != banned {
		t.Errorf("mallory: ended %v, reason %#v", ended(j.m), j.m.Reason())
	}
	assertEvents(t, alice, "join mallory", "leave mallory banned by alice: spam")
	if got := r.Members(); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("members %q", got)
	}
}

// TestJoinAsksThePolicy: a join the policy refuses fails with the policy's
// own error, unwrapped, before the nickname is looked at (a taken one
// too), and nobody sees it; the one admitted joins.
func TestJoinAsksThePolicy(t *testing.T) {
	p := newTestPolicy()
	r := newTestRoom(t, Config{Policy: p})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	drain(alice)
	banned := errors.New("you are banned: spam")
	p.refuse("198.51.100.7", banned)
	for _, nick := range []string{"mallory", "alice"} {
		m, err := r.Join(nick, JoinOptions{Identity: Identity{Address: "198.51.100.7"}})
		if err != banned || m != nil {
			t.Fatalf("Join(%s) of the refused = %v, %v; want the policy's error as is", nick, m, err)
		}
	}
	if got := r.Members(); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("members %q", got)
	}
	assertEvents(t, alice)
	if _, err := joinAs(r, "bob", Identity{Address: "192.0.2.2"}); err != nil {
		t.Fatalf("Join of the admitted: %v", err)
	}
}

// TestRemoveThenJoinIsRefused: a ban made while a joiner is on its way
// (its Remove, then its policy's answer) leaves no gap: the Remove takes
// the joiner already admitted, and the join after it is refused.
func TestRemoveThenJoinIsRefused(t *testing.T) {
	p := newTestPolicy()
	r := newTestRoom(t, Config{Policy: p})
	eve := Identity{Address: "198.51.100.7"}
	banned := errors.New("you are banned")
	ban := func() {
		p.refuse(eve.Address, banned)
		r.Remove(func(mi MemberInfo) bool { return mi.Identity.Address == eve.Address }, Reason{Kind: ReasonBanned, Detail: "op: spam"})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ban() }()
	m, err := r.Join("eve", JoinOptions{Identity: eve})
	wg.Wait()
	switch {
	case err == nil:
		// Admitted before the ban: the ban's Remove took it.
		if drain(m); !ended(m) || m.Reason().Kind != ReasonBanned {
			t.Fatalf("eve joined before the ban and stayed: ended %v, reason %v", ended(m), m.Reason())
		}
	case err != banned:
		t.Fatalf("Join = %v, want the ban", err)
	}
	if got := r.Members(); len(got) != 0 {
		t.Errorf("members %q after the ban", got)
	}
}
