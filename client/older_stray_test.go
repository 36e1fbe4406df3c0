package client

import (
	"errors"
	"fmt"
	"testing"

	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

// TestStrayPageDropped: an answer to no request of the client's is taken
// out of the stream whole, never passed on as live events; a line that
// breaks its frame, and what follows, pass on.
func TestStrayPageDropped(t *testing.T) {
	chat := func(seq uint64, text string) *room.Event {
		return &room.Event{Kind: room.Chat, Seq: seq, From: "bob", Text: text}
	}
	header := func(before uint64, n int) *room.Event {
		return proto.OlderHeader(proto.OlderReply{Before: before, Status: proto.OlderPage, Count: n})
	}
	cases := []struct {
		name  string
		lines []*room.Event
		live  int // the lines passed on, at the end of lines
	}{
		{"a page", []*room.Event{header(4, 3), chat(1, "a"), chat(2, "b"), chat(3, "c"), proto.OlderEnd(), chat(50, "live")}, 1},
		{"busy", []*room.Event{proto.OlderHeader(proto.OlderReply{Before: 4, Status: proto.OlderBusy}), chat(50, "live")}, 1},
		{"empty", []*room.Event{header(1, 0), proto.OlderEnd(), chat(50, "live")}, 1},
		{"broken by a live line", []*room.Event{header(4, 2), chat(1, "a"), chat(50, "live"), chat(51, "live")}, 2},
		{"no end", []*room.Event{header(4, 1), chat(1, "a"), chat(50, "live")}, 1},
	}
	for _, c := range cases {
		conn := &Conn{}
		var passed []*room.Event
		for _, ev := range c.lines {
			if !conn.takePage(ev) {
				passed = append(passed, ev)
			}
		}
		if len(passed) != c.live || passed[0].Seq < 50 {
			t.Errorf("%s: passed on %v, want the last %d (live)", c.name, pageSeqs(passed), c.live)
		}
	}
}

// TestTypedOlderNotSent: /older and /resume typed in the bundled client
// after joining are not sent: the user is told, and no page comes in as
// live events (which would move the point the next resume starts from).
func TestTypedOlderNotSent(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{HistorySize: 5, FloodBurst: 1000, FloodRate: 1000, Log: room.NewMemoryLog(100)})})
	bob := ts.join(t, "bob") // 1
	for i := 1; i <= 10; i++ {
		bob.send(fmt.Sprint("line ", i)) // 2..11
	}
	bob.send("/who")
	bob.expect("*** 1 member: bob")
	g := testproc.StartGate(t, ts.addr)
	r := startSessionWith(t, ts, g, "alice", nil, &proto.ResumePoint{}) // 12
	nextEvent(t, r.Events(), room.Members)
	for _, line := range []string{"/older 4 3", "  /OLDER 9 2", "/resume 0"} {
		r.Send(line)
		ev := nextWhere(t, r.Events(), "the local refusal", func(ev *room.Event) bool { return ev.Kind == room.Error })
		if ev.Text != ErrClientCommand.Error() {
			t.Fatalf("%q: %q, want the refusal", line, ev.Text)
		}
	}
	bob.send("live one") // 13
	live := nextWhere(t, r.Events(), "the live line", func(ev *room.Event) bool { return ev.Kind == room.Chat || ev.Kind == room.Notice })
	if live.Text != "live one" || live.Seq != 13 {
		t.Fatalf("the first chat or notice passed on is %q #%d, want the live one #13", live.Text, live.Seq)
	}
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if err := c.Send("/older 4 3"); !errors.Is(err, ErrClientCommand) {
		t.Fatalf("Conn.Send(/older) = %v, want ErrClientCommand", err)
	}
}
