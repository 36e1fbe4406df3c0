package proto

import (
	"slices"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

var stamp = time.Date(2026, 11, 28, 9, 5, 7, 0, time.UTC)

func sameEvent(a, b *room.Event) bool {
	return a.Kind == b.Kind && a.From == b.From && a.To == b.To && a.Text == b.Text && a.Reason == b.Reason &&
		a.Count == b.Count && a.Joined == b.Joined && a.Left == b.Left && slices.Equal(a.Nicks, b.Nicks) && a.Time.Equal(b.Time)
}

// codecCases are one event of every kind with the line each encodes to.
var codecCases = []struct {
	ev   room.Event
	line string
}{
	{room.Event{Kind: room.Chat, Time: stamp, From: "alice", Text: "hello <world> * ***"}, "[09:05:07] <alice> hello <world> * ***"},
	{room.Event{Kind: room.Action, Time: stamp, From: "bob", Text: "waves"}, "[09:05:07] * bob waves"},
	{room.Event{Kind: room.Private, Time: stamp, From: "alice", Text: "psst"}, "[09:05:07] *alice* psst"},
	{room.Event{Kind: room.PrivateSent, Time: stamp, To: "bob", Text: "psst"}, "[09:05:07] -> *bob* psst"},
	{room.Event{Kind: room.Join, Time: stamp, From: "carol"}, "[09:05:07] *** carol joined"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonQuit, Detail: "bye (for now)"}}, "[09:05:07] *** carol left (quit: bye (for now))"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonQuit}}, "[09:05:07] *** carol left (quit)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonClosed}}, "[09:05:07] *** carol left (connection closed)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonLost}}, "[09:05:07] *** carol left (connection lost)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonLost, Detail: "reset"}}, "[09:05:07] *** carol left (connection lost: reset)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonSlowConsumer}}, "[09:05:07] *** carol left (slow consumer)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonFlood}}, "[09:05:07] *** carol left (flooding)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonShutdown}}, "[09:05:07] *** carol left (server shutting down)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonProtocol, Detail: DetailNoNewline}}, "[09:05:07] *** carol left (sent too much without a newline)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonProtocol}}, "[09:05:07] *** carol left (protocol error)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Reason: room.Reason{Kind: room.ReasonOther, Detail: "kicked: spam"}}, "[09:05:07] *** carol left (kicked: spam)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "mallory", Reason: room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}}, "[09:05:07] *** mallory left (kicked by alice: spam)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "mallory", Reason: room.Reason{Kind: room.ReasonKicked}}, "[09:05:07] *** mallory left (kicked)"},
	{room.Event{Kind: room.Leave, Time: stamp, From: "mallory", Reason: room.Reason{Kind: room.ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam (again)"}},
		"[09:05:07] *** mallory left (banned by alice until 2026-12-01 18:00:00 UTC: spam (again))"},
	{room.Event{Kind: room.Bye, Text: "Goodbye.", Reason: room.Reason{Kind: room.ReasonQuit}}, "*** Goodbye."},
	{room.Event{Kind: room.Bye, Text: "disconnected: kicked by alice: spam", Reason: room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}},
		"!!! disconnected: kicked by alice: spam"},
	{room.Event{Kind: room.Bye, Text: "disconnected: banned by alice: spam", Reason: room.Reason{Kind: room.ReasonBanned, Detail: "alice: spam"}},
		"!!! disconnected: banned by alice: spam"},
	{room.Event{Kind: room.Bye, Text: "disconnected: refused: you are banned until 2026-12-01 18:00:00 UTC: spam", Reason: room.Reason{Kind: room.ReasonRefused, Detail: "you are banned until 2026-12-01 18:00:00 UTC: spam"}},
		"!!! disconnected: refused: you are banned until 2026-12-01 18:00:00 UTC: spam"},
	{room.Event{Kind: room.Bye, Time: stamp, Text: room.ShutdownNotice, Reason: room.Reason{Kind: room.ReasonShutdown}}, "[09:05:07] *** The server is shutting down. Goodbye!"},
	{room.Event{Kind: room.Bye, Text: "disconnected: you were not reading fast enough (slow consumer)", Reason: room.Reason{Kind: room.ReasonSlowConsumer}},
		"!!! disconnected: you were not reading fast enough (slow consumer)"},
	{room.Event{Kind: room.Bye, Text: "disconnected: flooding (too many lines too fast)", Reason: room.Reason{Kind: room.ReasonFlood}},
		"!!! disconnected: flooding (too many lines too fast)"},
	{room.Event{Kind: room.Bye, Text: "disconnected: sent too much without a newline", Reason: room.Reason{Kind: room.ReasonProtocol, Detail: DetailNoNewline}},
		"!!! disconnected: sent too much without a newline"},
	{room.Event{Kind: room.Bye, Text: "disconnected: kicked: spam", Reason: room.Reason{Kind: room.ReasonOther, Detail: "kicked: spam"}},
		"!!! disconnected: kicked: spam"},
	{room.Event{Kind: room.NickChange, Time: stamp, From: "carol", To: "Caro"}, "[09:05:07] *** carol is now known as Caro"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 2, Nicks: []string{"alice", "bob"}}, "[09:05:07] *** 2 members: alice, bob"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 1, Nicks: []string{"alice"}}, "[09:05:07] *** 1 member: alice"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 10000, Nicks: []string{"alice", "bob"}}, "[09:05:07] *** 10000 members: alice, bob and 9998 more"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 2, Nicks: []string{"alice"}}, "[09:05:07] *** 2 members: alice and 1 more"},
	{room.Event{Kind: room.Members, Time: stamp}, "[09:05:07] *** 0 members"},
	{room.Event{Kind: room.Presence, Time: stamp, Joined: 12, Left: 3, Count: 10009}, "[09:05:07] *** 12 joined, 3 left, 10009 members now"},
	{room.Event{Kind: room.Presence, Time: stamp, Joined: 0, Left: 1, Count: 1}, "[09:05:07] *** 0 joined, 1 left, 1 member now"},
	{room.Event{Kind: room.Notice, Time: stamp, Text: "/who List the members of the room."}, "[09:05:07] *** /who List the members of the room."},
	{room.Event{Kind: room.Notice, Text: "Welcome to chatd."}, "*** Welcome to chatd."},
	{room.Event{Kind: room.Error, Time: stamp, Text: `no one called "x" is here`}, `[09:05:07] !!! no one called "x" is here`},
	{room.Event{Kind: room.HistoryBegin, Time: stamp, Count: 1}, "[09:05:07] *** recent history: 1 event"},
	{room.Event{Kind: room.HistoryBegin, Time: stamp, Count: 100}, "[09:05:07] *** recent history: 100 events"},
	{room.Event{Kind: room.HistoryEnd, Time: stamp}, "[09:05:07] *** end of recent history"},
}

func TestCodecRoundTrip(t *testing.T) {
	now := stamp.Add(time.Hour)
	for _, tc := range codecCases {
		line := string(AppendEvent(nil, &tc.ev))
		if line != tc.line+"\n" {
			t.Errorf("%v encodes to %q, want %q", tc.ev.Kind, line, tc.line)
		}
		got := ParseLine(tc.line, now)
		if !sameEvent(got, &tc.ev) {
			t.Errorf("ParseLine(%q) = %+v, want %+v", tc.line, *got, tc.ev)
		}
	}
}

// TestFarewellsAreWordedFromTheirReason: a Bye a gateway builds from a
// reason alone gets the standard words, the very lines clients have always
// been sent, and parses back to the same reason.
func TestFarewellsAreWordedFromTheirReason(t *testing.T) {
	for _, tc := range []struct {
		reason room.Reason
		line   string
	}{
		{room.Reason{Kind: room.ReasonQuit}, "*** Goodbye."},
		{room.Reason{Kind: room.ReasonQuit, Detail: "off to lunch"}, "*** Goodbye."},
		{room.Reason{Kind: room.ReasonShutdown}, "*** The server is shutting down. Goodbye!"},
		{room.Reason{Kind: room.ReasonSlowConsumer}, "!!! disconnected: you were not reading fast enough (slow consumer)"},
		{room.Reason{Kind: room.ReasonFlood}, "!!! disconnected: flooding (too many lines too fast)"},
		{room.Reason{Kind: room.ReasonProtocol, Detail: DetailNoNewline}, "!!! disconnected: sent too much without a newline"},
		{room.Reason{Kind: room.ReasonLost}, "!!! disconnected: connection lost"},
		{room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}, "!!! disconnected: kicked by alice: spam"},
		{room.Reason{Kind: room.ReasonKicked}, "!!! disconnected: kicked"},
		{room.Reason{Kind: room.ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam"}, "!!! disconnected: banned by alice until 2026-12-01 18:00:00 UTC: spam"},
		{room.Reason{Kind: room.ReasonRefused, Detail: "you are banned until 2026-12-01 18:00:00 UTC: spam"}, "!!! disconnected: refused: you are banned until 2026-12-01 18:00:00 UTC: spam"},
		{room.Reason{Kind: room.ReasonRefused, Detail: "this server admits registered users only; ask an operator to /allow you"}, "!!! disconnected: refused: this server admits registered users only; ask an operator to /allow you"},
	} {
		line := string(AppendEvent(nil, &room.Event{Kind: room.Bye, Reason: tc.reason}))
		if line != tc.line+"\n" {
			t.Errorf("Bye(%v) encodes to %q, want %q", tc.reason, line, tc.line)
		}
		got := ParseLine(tc.line, stamp)
		want := tc.reason
		if want.Kind == room.ReasonQuit {
			want.Detail = "" // the parting message is for the others
		}
		if got.Kind != room.Bye || got.Reason != want || got.Text != tc.line[len("*** "):] {
			t.Errorf("ParseLine(%q) = %v %q %v, want bye %v", tc.line, got.Kind, got.Text, got.Reason, want)
		}
	}
}

// TestErrorsThatAreNoFarewellStayErrors: only the words of a farewell make
// an error line a Bye.
func TestErrorsThatAreNoFarewellStayErrors(t *testing.T) {
	for _, line := range []string{
		"!!! disconnected: quit",                 // nobody is told "quit" as an error
		"!!! disconnected: server shutting down", // nor shutdown
		"!!! no nickname chosen in time; goodbye",
		"!!! Goodbye.",
	} {
		if got := ParseLine(line, stamp); got.Kind != room.Error || got.Text != line[len("!!! "):] {
			t.Errorf("ParseLine(%q) = %v %q, want it as an error", line, got.Kind, got.Text)
		}
	}
	for _, line := range []string{"*** goodbye.", "*** The server is shutting down.", "*** Goodbye. See you"} {
		if got := ParseLine(line, stamp); got.Kind != room.Notice {
			t.Errorf("ParseLine(%q) = %v, want a notice", line, got.Kind)
		}
	}
}

func TestParseLineDatesStampsOnTheLatestDay(t *testing.T) {
	justAfterMidnight := time.Date(2026, 11, 28, 0, 0, 30, 0, time.UTC)
	got := ParseLine("[23:59:50] <a> late", justAfterMidnight)
	if want := time.Date(2026, 11, 27, 23, 59, 50, 0, time.UTC); !got.Time.Equal(want) {
		t.Errorf("time = %v, want %v", got.Time, want)
	}
}

func TestParseLineFallsBackToNotice(t *testing.T) {
	for _, line := range []string{
		"plain text from some other server",
		"<not a nick!> hi",
		"*** 3 members: a, b", // count does not match
		"*** 4 members: a, b and 1 more",
		"*** 3 members: a, b and 0 more",
		"*** 3 members: a, b, and 1 more",
		"*** 1 joined, 2 left, 3 members",
		"*** x joined, 2 left, 3 members now",
		"*** bad nick! joined",    // not a nick
		"[99:00:00] <a> bad time", // not a stamp
		"",
	} {
		got := ParseLine(line, stamp)
		if got.Kind != room.Notice {
			t.Errorf("ParseLine(%q).Kind = %v, want notice", line, got.Kind)
		}
	}
}

func TestParseLineCleansHostileText(t *testing.T) {
	got := ParseLine("<mallory> \x1b]52;c;ZXZpbA==\x07hi\x1b[2J\u202e", stamp)
	if got.Kind != room.Chat || got.Text != "hi" {
		t.Errorf("got %v %q, want chat %q", got.Kind, got.Text, "hi")
	}
	// Padding is collapsed, in notices too: the server's own /help pads
	// its columns, and a hostile server could pad a line into a fake one.
	got = ParseLine("[09:05:07] *** /who             List\u3000\u3000the\u00ad members.", stamp)
	if got.Kind != room.Notice || got.Text != "/who List the members." {
		t.Errorf("got %v %q, want a notice with single spaces", got.Kind, got.Text)
	}
}

func TestAppendEventAllocatesNothingWithRoom(t *testing.T) {
	ev := &room.Event{Kind: room.Chat, Time: stamp, From: "alice", Text: "hello there"}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], ev) }); n != 0 {
		t.Errorf("AppendEvent allocated %v times", n)
	}
}

// FuzzParseLine checks that the client-side parser survives any server line,
// never returns terminal controls, and agrees with the encoder.
func FuzzParseLine(f *testing.F) {
	for _, tc := range codecCases {
		f.Add(tc.line)
	}
	f.Add("\x1b[31m<a> x")
	f.Add("[00:00:00] *** 0 members: ")
	f.Add("!!! disconnected: quit: bye")
	f.Add("*** bob left (connection lost: quit: x)")
	f.Fuzz(func(t *testing.T, line string) {
		ev := ParseLine(line, stamp)
		for _, s := range append([]string{ev.From, ev.To, ev.Text, ev.Reason.Detail}, ev.Nicks...) {
			if room.Clean(s) != s || strings.ContainsAny(s, "\r\n") {
				t.Fatalf("ParseLine(%q) kept unsafe text %q", line, s)
			}
		}
		again := ParseLine(strings.TrimSuffix(string(AppendEvent(nil, ev)), "\n"), stamp)
		if ev.Kind != room.Notice && !sameEvent(ev, again) {
			t.Fatalf("re-encoding %q changed it: %+v then %+v", line, *ev, *again)
		}
	})
}

// BenchmarkAppendEvent measures encoding one chat event as a line.
func BenchmarkAppendEvent(b *testing.B) {
	ev := &room.Event{Kind: room.Chat, Time: stamp, Seq: 1, From: "alice", Text: "a line of chat of an ordinary length, about sixty bytes"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for range b.N {
		buf = AppendEvent(buf[:0], ev)
	}
}

// BenchmarkParseLine measures the client's parsing of one chat line.
func BenchmarkParseLine(b *testing.B) {
	line := "[09:05:07] <alice> a line of chat of an ordinary length, about sixty bytes"
	b.ReportAllocs()
	for range b.N {
		ParseLine(line, stamp)
	}
}

// TestFinalFarewellsStayFinal: the farewell of a member an operator removed
// or the door refused parses back to a reason that is Final, so that a
// client does not redial; an error line that merely mentions such words
// is no farewell.
func TestFinalFarewellsStayFinal(t *testing.T) {
	for _, reason := range []room.Reason{
		{Kind: room.ReasonKicked, Detail: "alice: spam"},
		{Kind: room.ReasonBanned, Detail: "alice: spam"},
		{Kind: room.ReasonRefused, Detail: "you are banned"},
	} {
		line := strings.TrimSuffix(string(AppendEvent(nil, &room.Event{Kind: room.Bye, Time: stamp, Reason: reason})), "\n")
		if got := ParseLine(line, stamp); got.Kind != room.Bye || !got.Reason.Final() || got.Reason != reason {
			t.Errorf("ParseLine(%q) = %v %#v, want a final bye %#v", line, got.Kind, got.Reason, reason)
		}
	}
	for _, line := range []string{"!!! kicked by alice: spam", "*** disconnected: kicked by alice", "!!! permission denied: /kick is for the room's operators only"} {
		if got := ParseLine(line, stamp); got.Kind == room.Bye {
			t.Errorf("ParseLine(%q) is a farewell: %#v", line, got.Reason)
		}
	}
}
