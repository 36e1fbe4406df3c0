package client

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

func pageSeqs(evs []*room.Event) []uint64 {
	s := make([]uint64, len(evs))
	for i, ev := range evs {
		s[i] = ev.Seq
	}
	return s
}

// TestOlderPagesOverTheWire: a session whose events are numbered reads
// the pages before its history from the server (/older), oldest first, to
// the first event; live events said meanwhile still arrive as live ones,
// and no line of a page does.
func TestOlderPagesOverTheWire(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{HistorySize: 5, FloodBurst: 1000, FloodRate: 1000, Log: room.NewMemoryLog(100)})})
	bob := ts.join(t, "bob") // 1
	for i := 1; i <= 40; i++ {
		bob.send(fmt.Sprint("line ", i)) // 2..41
	}
	bob.send("/who")
	bob.expect("*** 1 member: bob")
	g := testproc.StartGate(t, ts.addr)
	r := startSessionWith(t, ts, g, "alice", nil, &proto.ResumePoint{}) // 42
	nextEvent(t, r.Events(), room.Members)

	page, err := r.Older(38, 5)
	if err != nil || !slices.Equal(pageSeqs(page), []uint64{33, 34, 35, 36, 37}) || page[0].Text != "line 32" || page[0].From != "bob" {
		t.Fatalf("Older(38, 5) = %v %v, %v", pageSeqs(page), texts(page), err)
	}
	bob.send("live one")
	var all []*room.Event
	for before := uint64(38); ; {
		time.Sleep(time.Second / room.PageRate) // within the server's rate
		page, err := r.Older(before, 10)
		if err != nil {
			t.Fatalf("Older(%d, 10): %v", before, err)
		}
		all = append(page, all...)
		if len(page) < 10 {
			break
		}
		before = page[0].Seq
	}
	if len(all) != 37 || all[0].Seq != 1 || all[0].Kind != room.Join {
		t.Fatalf("paging back got %d events from %v, want 37 from bob's join", len(all), pageSeqs(all[:min(3, len(all))]))
	}
	live := nextWhere(t, r.Events(), "the live line", func(ev *room.Event) bool { return ev.Kind == room.Chat })
	if live.Text != "live one" || live.Seq != 43 {
		t.Fatalf("the first chat passed on live is %q #%d, want the live one #43", live.Text, live.Seq)
	}
}

// TestOlderWithoutNumbers: a session that did not ask for numbers cannot
// page, and sends nothing.
func TestOlderWithoutNumbers(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	g := testproc.StartGate(t, ts.addr)
	r := startSessionWith(t, ts, g, "alice", nil, nil)
	nextEvent(t, r.Events(), room.Members)
	if _, err := r.Older(10, 5); !errors.Is(err, room.ErrNoPaging) {
		t.Fatalf("Older = %v, want ErrNoPaging", err)
	}
}

// TestTakePageHoldsTheFrame: the reader takes out of the stream only the
// answer to the request waiting, as framed; a line that breaks the frame
// ends the request with ErrPageAnswer and passes on as live.
func TestTakePageHoldsTheFrame(t *testing.T) {
	chat := func(seq uint64, text string) *room.Event {
		return &room.Event{Kind: room.Chat, Seq: seq, From: "bob", Text: text}
	}
	header := func(before uint64, n int) *room.Event {
		return proto.OlderHeader(proto.OlderReply{Before: before, Status: proto.OlderPage, Count: n})
	}
	cases := []struct {
		name   string
		lines  []*room.Event
		taken  int // how many lines are taken
		want   []uint64
		err    error
		finish bool
	}{
		{"a page", []*room.Event{header(10, 2), chat(7, "a"), chat(9, "b"), proto.OlderEnd()}, 4, []uint64{7, 9}, nil, true},
		{"live before the answer", []*room.Event{chat(11, "live"), header(10, 0), proto.OlderEnd()}, 2, nil, nil, true},
		{"another request's header", []*room.Event{header(99, 1)}, 1, nil, nil, false}, // dropped as stray
		{"busy", []*room.Event{proto.OlderHeader(proto.OlderReply{Before: 10, Status: proto.OlderBusy})}, 1, nil, room.ErrPageLimit, true},
		{"more than asked", []*room.Event{header(10, 3)}, 1, nil, ErrPageAnswer, true},
		{"a line not below", []*room.Event{header(10, 2), chat(10, "x")}, 1, nil, ErrPageAnswer, true},
		{"out of order", []*room.Event{header(10, 2), chat(5, "a"), chat(4, "b")}, 2, nil, ErrPageAnswer, true},
		{"unnumbered", []*room.Event{header(10, 1), {Kind: room.Notice, Text: "x"}}, 1, nil, ErrPageAnswer, true},
		{"no end", []*room.Event{header(10, 1), chat(5, "a"), chat(12, "live")}, 2, nil, ErrPageAnswer, true},
	}
	for _, c := range cases {
		conn := &Conn{}
		w := &pageWait{req: proto.OlderRequest{Before: 10, N: 2}, result: make(chan pageResult, 1)}
		conn.page = w
		taken := 0
		for _, ev := range c.lines {
			if conn.takePage(ev) {
				taken++
			}
		}
		if taken != c.taken {
			t.Errorf("%s: %d lines taken, want %d", c.name, taken, c.taken)
		}
		select {
		case r := <-w.result:
			if !c.finish || !errors.Is(r.err, c.err) || !slices.Equal(pageSeqs(r.events), c.want) {
				t.Errorf("%s: result %v, %v; want %v, %v", c.name, pageSeqs(r.events), r.err, c.want, c.err)
			}
		default:
			if c.finish {
				t.Errorf("%s: no result", c.name)
			}
		}
		if c.finish && conn.page != nil {
			t.Errorf("%s: the request still waits", c.name)
		}
	}
}

// TestOlderOnlyInTheFirstLog: after a reconnect to another log (a server
// restarted with its history in memory), the screen's numbers mean
// nothing there: the session refuses to page rather than send them.
func TestOlderOnlyInTheFirstLog(t *testing.T) {
	r := &Redialer{firstLog: "first", client: &Conn{seqs: true, resumed: proto.ResumePoint{Log: "second"}}}
	if _, err := r.Older(10, 5); !errors.Is(err, room.ErrNoPaging) {
		t.Fatalf("Older on another log = %v, want ErrNoPaging", err)
	}
	r = &Redialer{}
	if _, err := r.Older(10, 5); err == nil {
		t.Fatal("Older while disconnected succeeded")
	}
}
