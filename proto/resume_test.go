package proto

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

// TestParseResumeRefusesHostileRequests: a resume request is "/resume SEQ
// [LOG]" and nothing else; every other form is a clear error.
func TestParseResumeRefusesHostileRequests(t *testing.T) {
	good := map[string]ResumePoint{
		"/resume 0":                    {},
		"/RESUME 42 abcDEF_12-z":       {After: 42, Log: "abcDEF_12-z"},
		"  /resume   7  ":              {After: 7},
		"/resume 18446744073709551615": {After: math.MaxUint64},
		"/resume 00012 x":              {After: 12, Log: "x"},
		"/resume 9 L 0123456789abcdef": {After: 9, Log: "L", Stamp: "0123456789abcdef"},
	}
	for line, want := range good {
		if got, err := ParseResume(line); err != nil || got != want {
			t.Errorf("ParseResume(%q) = %+v, %v; want %+v", line, got, err, want)
		}
	}
	for _, line := range []string{
		"/resume", "/resume -1", "/resume +1", "/resume abc", "/resume 1.5", "/resume 0x10",
		"/resume 18446744073709551616", "/resume 123456789012345678901", "/resume 1 a b",
		"/resume 1 " + strings.Repeat("a", MaxLogIDLen+1), "/resume 1 bad!log", "/resume 1 ünï",
		"/resume ١٢", "/resumex 1", "/resume\x001",
		"/resume 1 L 0123456789ABCDEF", "/resume 1 L 0123456789abcde", "/resume 1 L 0123456789abcdef0",
		"/resume 1 L 0123456789abcdeg", "/resume 1 L 0123456789abcdef x",
	} {
		if p, err := ParseResume(line); !errors.Is(err, ErrBadResume) {
			t.Errorf("ParseResume(%q) = %+v, %v; want an ErrBadResume", line, p, err)
		}
	}
	if !IsResume("/Resume junk") || IsResume("/resumed 1") || IsResume("resume 1") {
		t.Error("IsResume does not recognise the first word alone")
	}
}

// TestResumeRoundTrip: the request, the acknowledgement and the "#SEQ "
// prefix read back as they were written.
func TestResumeRoundTrip(t *testing.T) {
	p := ResumePoint{After: 99, Log: "LOG7"}
	line := string(AppendResume(nil, p))
	if line != "/resume 99 LOG7\n" {
		t.Fatalf("AppendResume = %q", line)
	}
	if got, err := ParseResume(strings.TrimSuffix(line, "\n")); err != nil || got != p {
		t.Errorf("ParseResume(AppendResume) = %+v, %v", got, err)
	}
	ack := strings.TrimSuffix(string(AppendEvent(nil, ResumeAck(p))), "\n")
	if got, ok := ParseResumeAck(ParseLine(ack, stamp)); !ok || got != p {
		t.Errorf("ack %q reads back as %+v, %v", ack, got, ok)
	}
	for _, text := range []string{"resume after x in log L", "resume after 1 in log ", "resume after 1 in log a b", "resume after -1 in log L"} {
		if _, ok := ParseResumeAck(&room.Event{Kind: room.Notice, Text: text}); ok {
			t.Errorf("%q taken for an acknowledgement", text)
		}
	}
	when := time.Date(2026, 1, 2, 9, 14, 2, 0, time.UTC)
	chat := &room.Event{Seq: 41, Kind: room.Chat, Time: when, From: "alice", Text: "#2 hi"}
	wire := string(AppendEventSeq(nil, chat))
	if wire != "#41 [09:14:02] <alice> #2 hi\n" {
		t.Fatalf("AppendEventSeq = %q", wire)
	}
	seq, rest := CutSeq(strings.TrimSuffix(wire, "\n"))
	if seq != 41 || rest != "[09:14:02] <alice> #2 hi" {
		t.Errorf("CutSeq = %d, %q", seq, rest)
	}
	private := &room.Event{Kind: room.Notice, Text: "x", Seq: 5} // not public: never numbered
	if got := string(AppendEventSeq(nil, private)); got != "*** x\n" {
		t.Errorf("a notice is numbered: %q", got)
	}
	for _, line := range []string{"#", "#0 x", "#-1 x", "#1x y", "#99999999999999999999999 x", "# x", "#12"} {
		if seq, rest := CutSeq(line); seq != 0 || rest != line {
			t.Errorf("CutSeq(%q) = %d, %q; want no prefix", line, seq, rest)
		}
	}
	if seq, _ := CutSeq("#" + strconv.FormatUint(math.MaxUint64, 10) + " x"); seq != math.MaxUint64 {
		t.Errorf("the largest sequence number does not read back")
	}
}

// TestEventStampReadsBack: the stamp a client computes from a public event
// it parsed off the wire is the one the server computes from the event it
// sent, for every kind of public event; another event numbered the same
// has another stamp. The stamp goes with the log in a request, and never
// in an acknowledgement.
func TestEventStampReadsBack(t *testing.T) {
	when := time.Date(2026, 1, 2, 23, 59, 58, 0, time.UTC)
	events := []*room.Event{
		{Kind: room.Chat, From: "alice", Text: "hello <there> *** [x]"},
		{Kind: room.Action, From: "bob", Text: "waves"},
		{Kind: room.Join, From: "carol"},
		{Kind: room.Leave, From: "carol", Reason: room.Reason{Kind: room.ReasonQuit, Detail: "bye now"}},
		{Kind: room.Leave, From: "dave", Reason: room.Reason{Kind: room.ReasonLost}},
		{Kind: room.NickChange, From: "carol", To: "carole"},
		{Kind: room.Presence, Count: 250, Joined: 3, Left: 1},
	}
	seen := map[string]bool{}
	for _, ev := range events {
		ev.Seq, ev.Time = 7, when
		wire := strings.TrimSuffix(string(AppendEventSeq(nil, ev)), "\n")
		seq, rest := CutSeq(wire)
		parsed := ParseLine(rest, when.Add(time.Hour))
		parsed.Seq = seq
		if got, want := EventStamp(parsed), EventStamp(ev); got != want || len(got) != StampLen || !validStamp(got) {
			t.Errorf("%q: the client's stamp %q is not the server's %q", wire, got, want)
		}
		if seen[EventStamp(ev)] {
			t.Errorf("%q has the stamp of another event", wire)
		}
		seen[EventStamp(ev)] = true
	}
	p := ResumePoint{After: 7, Log: "LOG7", Stamp: EventStamp(events[0])}
	line := strings.TrimSuffix(string(AppendResume(nil, p)), "\n")
	if got, err := ParseResume(line); err != nil || got != p {
		t.Errorf("ParseResume(%q) = %+v, %v", line, got, err)
	}
	if line := string(AppendResume(nil, ResumePoint{After: 7, Stamp: p.Stamp})); line != "/resume 7\n" {
		t.Errorf("a stamp without a log is written: %q", line)
	}
	if ack := string(AppendEvent(nil, ResumeAck(p))); strings.Contains(ack, p.Stamp) {
		t.Errorf("the acknowledgement %q carries the stamp", ack)
	}
}
