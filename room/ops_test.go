package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestOperationsDoWhatTheirLinesDo runs each typed operation in one room and
// the slash line for it in another, and compares what everyone was sent.
func TestOperationsDoWhatTheirLinesDo(t *testing.T) {
	for _, tc := range []struct {
		line string
		op   func(m *Member) error
	}{
		{"hello there", func(m *Member) error { return m.Say("hello there") }},
		{"//etc is a path", func(m *Member) error { return m.Say("/etc is a path") }},
		{"red \x1b[31malert ", func(m *Member) error { return m.Say("red \x1b[31malert ") }},
		{"/me waves", func(m *Member) error { return m.Act("waves") }},
		{"/msg bob psst", func(m *Member) error { return m.Whisper("bob", "psst") }},
		{"/msg BOB  two  words ", func(m *Member) error { return m.Whisper("BOB", " two  words ") }},
		{"/nick Al", func(m *Member) error { return m.Rename("Al") }},
		{"/who", func(m *Member) error { return m.Who() }},
		{"/help", func(m *Member) error { return m.Help() }},
		{"/quit", func(m *Member) error { return m.Quit("") }},
		{"/quit off to lunch", func(m *Member) error { return m.Quit("off to lunch") }},
	} {
		byLine, byOp := newTestRoom(t, Config{}), newTestRoom(t, Config{})
		aliceL, bobL := mustJoin(t, byLine, "alice"), mustJoin(t, byLine, "bob")
		aliceO, bobO := mustJoin(t, byOp, "alice"), mustJoin(t, byOp, "bob")
		drain(aliceL)
		drain(aliceO)
		aliceL.Send(tc.line)
		if err := tc.op(aliceO); err != nil {
			t.Errorf("%q: the operation failed: %v", tc.line, err)
		}
		sent := 0
		for _, pair := range [][2]*Member{{aliceL, aliceO}, {bobL, bobO}} {
			want, got := describe(drain(pair[0])), describe(drain(pair[1]))
			if !slices.Equal(got, want) {
				t.Errorf("%q: %s got %q from the operation, %q from the line", tc.line, pair[0].Nick(), got, want)
			}
			sent += len(want)
		}
		if sent == 0 {
			t.Errorf("%q: nobody was sent anything", tc.line)
		}
		if aliceO.Reason() != aliceL.Reason() {
			t.Errorf("%q: reason %v from the operation, %v from the line", tc.line, aliceO.Reason(), aliceL.Reason())
		}
	}
}

// TestOperationsReturnErrorsAndTellNothing: an operation's refusal is its
// error, with a sentinel to test and the words Send would show; the member
// is sent nothing, since its gateway decides how to show it.
func TestOperationsReturnErrorsAndTellNothing(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, MaxLineBytes: 64, NickBurst: 1})
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "bob")
	drain(alice)
	for _, tc := range []struct {
		name string
		op   func() error
		want error
		text string
	}{
		{"whisper to nobody", func() error { return alice.Whisper("nobody", "hi") }, ErrNoSuchMember, `no one called "nobody" is here`},
		{"empty say", func() error { return alice.Say(" \x1b[2J ") }, ErrEmpty, "nothing to send"},
		{"empty act", func() error { return alice.Act("") }, ErrEmpty, "nothing to send"},
		{"empty whisper", func() error { return alice.Whisper("bob", " ") }, ErrEmpty, "nothing to send"},
		{"too long", func() error { return alice.Say(strings.Repeat("x", 65)) }, ErrTooLong, "line too long (65 bytes, the limit is 64)"},
		{"bad nick", func() error { return alice.Rename("bad nick!") }, ErrInvalidNick, "invalid nickname"},
		{"empty nick", func() error { return alice.Rename("") }, ErrInvalidNick, "it is empty"},
		{"taken nick", func() error { return alice.Rename("BOB") }, ErrNickTaken, "already in use"},
		{"same nick", func() error { return alice.Rename("alice") }, ErrNickUnchanged, "you are already alice"},
		{"renamed", func() error { return alice.Rename("al") }, nil, ""},
		{"renamed again", func() error { return alice.Rename("alicia") }, ErrTooManyRenames, "too many nickname changes"},
	} {
		err := tc.op()
		if !errors.Is(err, tc.want) || tc.want != nil && !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want an error wrapping %v that says %q", tc.name, err, tc.want, tc.text)
		}
		if got := drain(alice); countKind(got, Error) > 0 {
			t.Errorf("%s: the member was told %q", tc.name, describe(got))
		}
	}
	if st := r.Stats(); st.Rejected[RejectTooLong] != 1 {
		t.Errorf("rejected %v, want the line too long counted", st.Rejected)
	}
	alice.Quit("")
	if err := alice.Say("still here?"); !errors.Is(err, ErrNotInRoom) {
		t.Errorf("Say after Quit: %v, want ErrNotInRoom", err)
	}
	if err := alice.Quit(""); !errors.Is(err, ErrNotInRoom) {
		t.Errorf("Quit after Quit: %v, want ErrNotInRoom", err)
	}
}

// TestOperationsAreFloodControlled: every operation counts against flood
// control as a line would, but Quit; the error says how many were dropped,
// and which one disconnected the member.
func TestOperationsAreFloodControlled(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, FloodRate: 2, FloodBurst: 3, FloodKick: 3})
	flooder := mustJoin(t, r, "flooder")
	reader := mustJoin(t, r, "reader")
	drain(flooder)
	for _, op := range []func() error{
		func() error { return flooder.Say("one") },
		func() error { return flooder.Act("two") },
		func() error { return flooder.Who() },
	} {
		if err := op(); err != nil {
			t.Fatalf("within the burst: %v", err)
		}
	}
	for i, op := range []func() error{
		func() error { return flooder.Whisper("reader", "four") },
		func() error { return flooder.Help() },
	} {
		var flood *FloodError
		if err := op(); !errors.As(err, &flood) || !errors.Is(err, ErrFlood) || flood.Dropped != i+1 || flood.Disconnected {
			t.Fatalf("drop %d: %v (%+v), want a FloodError", i+1, err, flood)
		}
		if !strings.HasPrefix(flood.Error(), "slow down: you may send 3 lines at once and 2 per second") {
			t.Errorf("flood error says %q", flood.Error())
		}
	}
	if err := flooder.Quit("no more"); err != nil {
		t.Errorf("Quit while flood-limited: %v", err)
	}
	if got := flooder.Reason(); got != (Reason{Kind: ReasonQuit, Detail: "no more"}) {
		t.Errorf("reason %v", got)
	}
	if got := describe(drain(reader)); !slices.Equal(got, []string{"chat flooder one", "action flooder two", "leave flooder quit: no more"}) {
		t.Errorf("reader got %q", got)
	}

	kicked := mustJoin(t, r, "kicked")
	for range 3 {
		kicked.Say("x")
	}
	var flood *FloodError
	for i := 1; i <= 3; i++ {
		if err := kicked.Say("x"); !errors.As(err, &flood) || flood.Dropped != i || flood.Disconnected != (i == 3) {
			t.Fatalf("drop %d: %v (%+v)", i, err, flood)
		}
	}
	if kicked.Reason() != (Reason{Kind: ReasonFlood}) {
		t.Errorf("after FloodKick drops, reason %v", kicked.Reason())
	}
}

// TestPrivateLimitIsAnError: the per-sender limit on private messages is
// ErrPrivateLimit, counted as a refusal.
func TestPrivateLimitIsAnError(t *testing.T) {
	r := newTestRoom(t, Config{PrivateBurst: 2})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	mustJoin(t, r, "bob")
	for range 2 {
		if err := alice.Whisper("bob", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.Whisper("bob", "hi"); !errors.Is(err, ErrPrivateLimit) || !strings.Contains(err.Error(), "bob is receiving too many private messages") {
		t.Errorf("third message: %v", err)
	}
	if got := r.Stats().Rejected[RejectPrivate]; got != 1 {
		t.Errorf("rejected %d, want 1", got)
	}
}

// TestQuitCutsALongPartingMessage: Quit with a parting message over
// MaxLineBytes quits, with the message cut to the limit at a character
// boundary; it is not refused, nor charged to flood control.
func TestQuitCutsALongPartingMessage(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 21, FloodBurst: 1, FloodKick: 100})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	if err := alice.Say("the one line allowed"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Quit(strings.Repeat("é", 20)); err != nil { // 40 bytes
		t.Fatalf("Quit with a long parting message: %v", err)
	}
	want := Reason{Kind: ReasonQuit, Detail: strings.Repeat("é", 10)} // 20 bytes: the 11th é does not fit
	if got := alice.Reason(); got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	assertEvents(t, bob, "chat alice the one line allowed", "leave alice "+want.String())
}
