package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

// history returns the events between HistoryBegin and HistoryEnd, as
// "kind from text", and the count HistoryBegin announced (-1 if none).
func history(events []*room.Event) (lines []string, count int) {
	count = -1
	in := false
	for _, ev := range events {
		switch {
		case ev.Kind == room.HistoryBegin:
			in, count = true, ev.Count
		case ev.Kind == room.HistoryEnd:
			in = false
		case in:
			lines = append(lines, strings.TrimSpace(ev.Kind.String()+" "+ev.From+" "+ev.Text))
		}
	}
	return lines, count
}

// TestResumeShowsExactlyWhatWasMissed: a session that resumes is replayed
// the events after the last one it showed, by number: what was said while
// it was away, once, framed as history, without its own line; when more
// was missed than the server keeps, a notice says how many are gone.
func TestResumeShowsExactlyWhatWasMissed(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{HistorySize: 4, FloodBurst: 1000, FloodRate: 1000})})
	g := testproc.StartGate(t, ts.addr)
	bob := ts.join(t, "bob")
	r := startSessionWith(t, ts, g, "alice", nil, &proto.ResumePoint{})
	nextEvent(t, r.Events(), room.Members)
	bob.send("one")
	nextWhere(t, r.Events(), "one", func(ev *room.Event) bool { return ev.Text == "one" })
	r.Send("mine")
	bob.expect("<alice> mine")
	bob.send("two")
	nextWhere(t, r.Events(), "two", func(ev *room.Event) bool { return ev.Text == "two" })

	cut(t, r, g)
	bob.expect("*** alice left")
	bob.send("away 1")
	bob.send("/who")
	bob.expect("*** 1 member: bob")
	g.Reopen()
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	lines, count := history(got)
	if want := []string{"leave alice", "chat bob away 1"}; strings.Join(lines, "|") != strings.Join(want, "|") || count != 2 {
		t.Errorf("the first resume passed on %q (announced %d), want %q:\n%s", lines, count, want, texts(got))
	}
	for _, ev := range got {
		if ev.Kind == room.Join || strings.HasPrefix(ev.Text, "Welcome") || strings.Contains(ev.Text, "no longer kept") {
			t.Errorf("passed on: %s %s %q\n%s", ev.Kind, ev.From, ev.Text, texts(got))
		}
	}

	// Away again while more is said than the server keeps.
	r.Send("mine again")
	bob.expect("<alice> mine again")
	cut(t, r, g)
	bob.expect("*** alice left")
	for i := range 6 {
		bob.send(fmt.Sprint("more ", i))
	}
	bob.send("/who")
	bob.expect("*** 1 member: bob")
	g.Reopen()
	got = collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	lines, count = history(got)
	if want := []string{"chat bob more 2", "chat bob more 3", "chat bob more 4", "chat bob more 5"}; strings.Join(lines, "|") != strings.Join(want, "|") || count != 4 {
		t.Errorf("the second resume passed on %q (announced %d), want %q:\n%s", lines, count, want, texts(got))
	}
	// Missed after alice's join: her own line, her leave, more 0..5; 4 kept.
	if n := strings.Count(texts(got), "4 events were missed and are no longer kept"); n != 1 {
		t.Errorf("the notice of what is gone is there %d times:\n%s", n, texts(got))
	}
	r.Send("back")
	bob.expect("<alice> back")
}

// TestResumeFromAServerWithoutTheExtension: a server that refuses the
// resume request, as an older chatd does (an error and the prompt again),
// is joined all the same, without sequence numbers; a "#" line from it is
// shown as it came.
func TestResumeFromAServerWithoutTheExtension(t *testing.T) {
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan []string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- nil
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		io.WriteString(conn, "*** Welcome.\n*** "+proto.NickPrompt+"\n")
		var got []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			line = strings.TrimSpace(line)
			got = append(got, line)
			if strings.HasPrefix(line, "/") {
				io.WriteString(conn, "!!! "+room.VisitorRefusal+"\n*** "+proto.NickPrompt+"\n")
				continue
			}
			io.WriteString(conn, "[12:00:00] *** "+line+" joined\n#7 [12:00:01] <bob> #7 is not a number here\n")
			break
		}
		served <- got
		r.ReadString('\n') // until the client closes
	}()
	c, err := Dial(context.Background(), Config{Addr: ln.Addr().String(), Nick: "alice", TLS: &tls.Config{InsecureSkipVerify: true}, Resume: &proto.ResumePoint{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Close()
		for range c.Events() {
		}
	}()
	if got := <-served; strings.Join(got, "|") != "/resume 0|alice" {
		t.Errorf("the server read %q", got)
	}
	if _, ok := c.Resumed(); ok {
		t.Error("the session resumed with a server that refused")
	}
	nextEvent(t, c.Events(), room.Join)
	if ev := nextEvent(t, c.Events(), room.Notice, room.Chat); ev.Kind != room.Notice || ev.Seq != 0 || !strings.HasPrefix(ev.Text, "#7 ") {
		t.Errorf("the numbered line from a server that did not acknowledge came as %s %q (Seq %d)", ev.Kind, ev.Text, ev.Seq)
	}
}

// TestResumeFilterAgainstAWildServer: on a resumed rejoin, what the server
// replays at or below the point resumed from is left out; live events are
// never left out by number (one sent again is shown, a wild number hides
// nothing after it), and the session remembers the last number it passed
// on, not the largest, so that the next resume is asked from there.
func TestResumeFilterAgainstAWildServer(t *testing.T) {
	s := newSeenLog()
	first := newRejoinFilter(s, "alice", false, proto.ResumePoint{Log: "L"}, true)
	first.pass(&room.Event{Kind: room.Join, From: "alice", Seq: 1})
	first.pass(&room.Event{Kind: room.Chat, From: "bob", Text: "seen", Seq: 2})
	f := newRejoinFilter(s, "alice", true, proto.ResumePoint{After: 2, Log: "L"}, true)
	var got []*room.Event
	for _, ev := range []*room.Event{
		{Kind: room.HistoryBegin, Count: 3},
		{Kind: room.Chat, From: "bob", Text: "seen", Seq: 2}, // replayed too much
		{Kind: room.Leave, From: "alice", Seq: 3},
		{Kind: room.Chat, From: "bob", Text: "new", Seq: 4},
		{Kind: room.HistoryEnd},
		{Kind: room.Join, From: "alice", Seq: 5},
		{Kind: room.Chat, From: "bob", Text: "again", Seq: 2},              // a live number at or below the point
		{Kind: room.Chat, From: "bob", Text: "wild", Seq: 1 << 62},         // a wild number
		{Kind: room.Chat, From: "bob", Text: "after the wild one", Seq: 6}, // still shown
	} {
		got = append(got, f.pass(ev)...)
	}
	lines, count := history(got)
	if strings.Join(lines, "|") != "leave alice|chat bob new" || count != 2 {
		t.Errorf("replay passed on %q (announced %d)", lines, count)
	}
	if n := countLines(got, "bob", "seen"); n != 0 {
		t.Errorf("a replayed event shown before was passed on again %d times:\n%s", n, texts(got))
	}
	if countLines(got, "bob", "again") != 1 || countLines(got, "bob", "wild") != 1 || countLines(got, "bob", "after the wild one") != 1 {
		t.Errorf("live events were left out by number:\n%s", texts(got))
	}
	if s.lastSeq != 6 {
		t.Errorf("the session resumes after %d, want 6, the last number it passed on", s.lastSeq)
	}
	next := newRejoinFilter(s, "alice", true, proto.ResumePoint{After: 0, Log: "L"}, true)
	if next.bySeq || s.lastSeq != 0 {
		t.Errorf("a resume the server answered from 0 is taken as by number (bySeq %v, lastSeq %d)", next.bySeq, s.lastSeq)
	}
}

// TestResumeBeyondTheLogShowsTheRecentHistory: a session whose last number
// is beyond the real server's log (a wild "#N" line was the last it passed
// on, or the log lost its tail) is acknowledged from 0, forgets its
// numbers, and shows the server's recent history and every live event
// after it, whatever their numbers.
func TestResumeBeyondTheLogShowsTheRecentHistory(t *testing.T) {
	rm := room.New(room.Config{HistorySize: 10, FloodBurst: 1000, FloodRate: 1000})
	ts := startServer(t, tlsgw.Config{Room: rm})
	bob := ts.join(t, "bob")
	for i := range 3 {
		bob.send(fmt.Sprint("said ", i))
	}
	bob.send("/who")
	bob.expect("*** 1 member")

	// What the session keeps after a wild line was the last it passed on.
	s := newSeenLog()
	first := newRejoinFilter(s, "alice", false, proto.ResumePoint{Log: rm.LogID()}, true)
	first.pass(&room.Event{Kind: room.Join, From: "alice", Seq: 1})
	first.pass(&room.Event{Kind: room.Chat, From: "mallory", Text: "wild", Seq: 1 << 62})
	if s.lastSeq != 1<<62 {
		t.Fatalf("the session would resume after %d", s.lastSeq)
	}
	c, err := Dial(context.Background(), Config{Addr: ts.addr, Nick: "alice", TLS: &tls.Config{RootCAs: ts.roots, ServerName: "localhost"}, Resume: &proto.ResumePoint{After: s.lastSeq, Log: s.logID}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Close()
		for range c.Events() {
		}
	}()
	resumed, ok := c.Resumed()
	if !ok || resumed.After != 0 || resumed.Log != rm.LogID() {
		t.Errorf("the server acknowledged %+v (%v), want after 0 in its log", resumed, ok)
	}
	f := newRejoinFilter(s, "alice", true, resumed, ok)
	var got []*room.Event
	for ev := range c.Events() {
		got = append(got, f.pass(ev)...)
		if ev.Kind == room.Members {
			break
		}
	}
	bob.send("live after")
	for ev := range c.Events() {
		got = append(got, f.pass(ev)...)
		if ev.Text == "live after" {
			break
		}
	}
	for i := range 3 {
		if n := countLines(got, "bob", fmt.Sprint("said ", i)); n != 1 {
			t.Errorf("said %d was passed on %d times:\n%s", i, n, texts(got))
		}
	}
	if countLines(got, "bob", "live after") != 1 {
		t.Errorf("a live event after a resume beyond the log was hidden:\n%s", texts(got))
	}
	if n := strings.Count(texts(got), room.ResumeResetNotice); n != 1 {
		t.Errorf("the reset notice is there %d times:\n%s", n, texts(got))
	}
	if s.lastSeq == 0 || s.lastSeq >= 1<<62 {
		t.Errorf("the session would next resume after %d", s.lastSeq)
	}
}

// TestResumedReplayTooLongToHold: a resumed replay longer than the session
// holds (maxHeldReplay) is passed on as it comes, still without what is
// numbered at or below the resume point, the event that overflowed the
// hold included, and every event after it once.
func TestResumedReplayTooLongToHold(t *testing.T) {
	s := newSeenLog()
	first := newRejoinFilter(s, "alice", false, proto.ResumePoint{Log: "L"}, true)
	first.pass(&room.Event{Kind: room.Join, From: "alice", Seq: 1})
	first.pass(&room.Event{Kind: room.Chat, From: "bob", Text: "seen", Seq: 2})
	f := newRejoinFilter(s, "alice", true, proto.ResumePoint{After: 2, Log: "L"}, true)
	const last = 1100
	replay := []*room.Event{{Kind: room.HistoryBegin, Count: last}, {Kind: room.Chat, From: "bob", Text: "seen", Seq: 2}}
	for seq := uint64(3); len(replay) < maxHeldReplay+1; seq++ { // the hold is full: "seen" and 3..1025
		replay = append(replay, &room.Event{Kind: room.Chat, From: "bob", Text: fmt.Sprint(seq), Seq: seq})
	}
	replay = append(replay, &room.Event{Kind: room.Chat, From: "bob", Text: "seen", Seq: 2}) // overflows the hold
	for seq := uint64(maxHeldReplay + 2); seq <= last; seq++ {                               // 1026..
		replay = append(replay, &room.Event{Kind: room.Chat, From: "bob", Text: fmt.Sprint(seq), Seq: seq})
	}
	replay = append(replay, &room.Event{Kind: room.HistoryEnd})
	var got []*room.Event
	for _, ev := range replay {
		got = append(got, f.pass(ev)...)
	}
	if n := countLines(got, "bob", "seen"); n != 0 {
		t.Errorf("an event numbered at or below the resume point was passed on %d times", n)
	}
	for seq := 3; seq <= last; seq++ {
		if n := countLines(got, "bob", fmt.Sprint(seq)); n != 1 {
			t.Fatalf("event %d was passed on %d times", seq, n)
		}
	}
	if s.lastSeq != last {
		t.Errorf("the session would resume after %d, want %d", s.lastSeq, last)
	}
}
