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
	return a.Kind == b.Kind && a.From == b.From && a.To == b.To && a.Text == b.Text &&
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
	{room.Event{Kind: room.Leave, Time: stamp, From: "carol", Text: "quit: bye (for now)"}, "[09:05:07] *** carol left (quit: bye (for now))"},
	{room.Event{Kind: room.NickChange, Time: stamp, From: "carol", To: "Caro"}, "[09:05:07] *** carol is now known as Caro"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 2, Nicks: []string{"alice", "bob"}}, "[09:05:07] *** 2 members: alice, bob"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 1, Nicks: []string{"alice"}}, "[09:05:07] *** 1 member: alice"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 10000, Nicks: []string{"alice", "bob"}}, "[09:05:07] *** 10000 members: alice, bob and 9998 more"},
	{room.Event{Kind: room.Members, Time: stamp, Count: 2, Nicks: []string{"alice"}}, "[09:05:07] *** 2 members: alice and 1 more"},
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
	f.Fuzz(func(t *testing.T, line string) {
		ev := ParseLine(line, stamp)
		for _, s := range append([]string{ev.From, ev.To, ev.Text}, ev.Nicks...) {
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
