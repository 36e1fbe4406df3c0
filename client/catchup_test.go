package client

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

// unthrottled is a room whose flood control lets a test's bursts through.
func unthrottled() *room.Room {
	return room.New(room.Config{FloodRate: 1000, FloodBurst: 1000})
}

// countLines counts the chat lines from from saying text.
func countLines(events []*room.Event, from, text string) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == room.Chat && ev.From == from && ev.Text == text {
			n++
		}
	}
	return n
}

// TestRejoinHidesALongMonologue: twenty of the user's own lines in a row
// (more than any small window of remembered lines), then a loss: none of
// them comes back after the rejoin.
func TestRejoinHidesALongMonologue(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	g := testproc.StartGate(t, ts.addr)
	bob := ts.join(t, "bob")
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)
	bob.send("hello alice")
	nextWhere(t, r.Events(), "bob's hello", func(ev *room.Event) bool { return ev.Text == "hello alice" })
	for i := range 20 {
		r.Send(fmt.Sprint("my line ", i))
		bob.expect(fmt.Sprint("<alice> my line ", i))
	}
	nextWhere(t, r.Events(), "the last echo", func(ev *room.Event) bool { return ev.Text == "my line 19" })
	cut(t, r, g)
	bob.expect("*** alice left")
	g.Reopen()
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	for i := range 20 {
		if n := countLines(got, "alice", fmt.Sprint("my line ", i)); n != 0 {
			t.Errorf("own line %d shown %d more times after the rejoin:\n%s", i, n, texts(got))
		}
	}
	if countLines(got, "bob", "hello alice") != 0 {
		t.Errorf("bob's line seen before the loss shown again:\n%s", texts(got))
	}
}

// TestCatchUpShowsWhatANicknameThiefSaid: while the session is away,
// someone takes its nickname and says a line the user said earlier, and
// another. Rejoining under another nickname, the session shows both: a
// line is the user's only if it was the user's when it was said.
func TestCatchUpShowsWhatANicknameThiefSaid(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	g := testproc.StartGate(t, ts.addr)
	asked := make(chan error, 1)
	r := startSession(t, ts, g, "alice", func(err error) { asked <- err })
	nextEvent(t, r.Events(), room.Members)
	bob := ts.join(t, "bob")
	r.Send("ok")
	bob.expect("<alice> ok")
	bob.send("later")
	nextWhere(t, r.Events(), "bob's line", func(ev *room.Event) bool { return ev.Text == "later" })
	cut(t, r, g)
	bob.expect("*** alice left")
	thief := ts.join(t, "alice")
	thief.send("ok")
	thief.send("send me your password")
	bob.expect("<alice> ok")
	bob.expect("<alice> send me your password")
	g.Reopen()
	select {
	case <-asked:
	case <-time.After(waitTime):
		t.Fatal("the session never asked for another nickname")
	}
	if err := r.Rejoin("alice2"); err != nil {
		t.Fatal(err)
	}
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	if countLines(got, "alice", "ok") != 1 || countLines(got, "alice", "send me your password") != 1 {
		t.Errorf("the thief's two lines are not each shown once:\n%s", texts(got))
	}
}

// TestCatchUpAfterTakingAnEarlierMembersNickname: the user takes a
// nickname another member used earlier; that member's lines, seen before
// the loss, are still theirs, and the rejoin shows nothing again.
func TestCatchUpAfterTakingAnEarlierMembersNickname(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	g := testproc.StartGate(t, ts.addr)
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)
	bob := ts.join(t, "bob")
	carol := ts.join(t, "carol")
	for i := range 5 {
		bob.send(fmt.Sprint("bob says ", i))
	}
	carol.send("carol was here")
	carol.send("/nick carol2")
	bob.expect("carol is now known as carol2") // before bob's next line, in the room's order
	bob.send("after carol")
	nextWhere(t, r.Events(), "bob's last line", func(ev *room.Event) bool { return ev.Text == "after carol" })
	r.Send("/nick carol")
	bob.expect("alice is now known as carol")
	nextWhere(t, r.Events(), "the rename", func(ev *room.Event) bool { return ev.Kind == room.NickChange && ev.To == "carol" })
	r.Send("mine as carol")
	bob.expect("<carol> mine as carol")
	nextWhere(t, r.Events(), "the echo", func(ev *room.Event) bool { return ev.Text == "mine as carol" })
	cut(t, r, g)
	bob.expect("*** carol left")
	g.Reopen()
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	var public []string
	for _, ev := range got {
		if ev.Kind.Public() {
			public = append(public, ev.Kind.String()+" "+ev.From+" "+ev.Text)
		}
	}
	if len(public) != 1 || public[0] != "leave carol " {
		t.Errorf("after the rejoin, passed on %q, want only the leave:\n%s", public, texts(got))
	}
}

// TestHeldReplayOfMemberListsStaysBounded: a hostile server replays long
// member lists; what the session holds until the replay ends, nicknames
// included, stays within maxHeldBytes (and so the heap grows by about that).
func TestHeldReplayOfMemberListsStaysBounded(t *testing.T) {
	s := newSeenLog()
	first := newRejoinFilter(s, "alice", false, proto.ResumePoint{}, false)
	first.pass(&room.Event{Kind: room.Join, From: "alice"})
	first.pass(&room.Event{Kind: room.Chat, From: "bob", Text: "seen"})
	f := newRejoinFilter(s, "alice", true, proto.ResumePoint{}, false)
	f.pass(&room.Event{Kind: room.HistoryBegin, Count: 1})
	nicks := make([]string, 2700)
	for i := range nicks {
		nicks[i] = string(rune('a' + i%26))
	}
	line := fmt.Sprintf("*** %d members: %s", len(nicks), strings.Join(nicks, ", "))
	if len(line) > maxServerLine {
		t.Fatalf("the line is %d bytes, more than a server line", len(line))
	}
	parse := func() *room.Event {
		ev := proto.ParseLine(line, time.Now())
		if ev.Kind != room.Members || len(ev.Nicks) != len(nicks) {
			t.Fatalf("not the member list: %v with %d nicknames", ev.Kind, len(ev.Nicks))
		}
		return ev
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// Held as long as they fit: the most the session ever holds.
	for ev := parse(); len(f.held) < maxHeldReplay-1 && f.bytes+heldSize(ev) <= maxHeldBytes; ev = parse() {
		if out := f.pass(ev); len(out) != 0 {
			t.Fatalf("passed on %d events while they fit", len(out))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("held %d member lists, estimated %d bytes; the heap grew %d KiB", len(f.held), f.bytes, grew>>10)
	if len(f.held) == 0 {
		t.Fatal("nothing held")
	}
	if limit := int64(maxHeldBytes) * 5 / 4; grew > limit {
		t.Errorf("the heap grew %d KiB holding the replay, more than %d KiB", grew>>10, limit>>10)
	}
	// One more than fits: all of it is passed on, and nothing is held.
	held := len(f.held)
	if out := f.pass(parse()); len(out) != held+2 || len(f.held) != 0 {
		t.Errorf("the event beyond the bound: %d passed on, %d still held; want %d and 0", len(out), len(f.held), held+2)
	}
	runtime.KeepAlive(f)
}

// TestQuitWhileDisconnectedEndsTheSession: /quit typed while the session
// is away is not refused: the session ends at once, as a quit.
func TestQuitWhileDisconnectedEndsTheSession(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	g := testproc.StartGate(t, ts.addr)
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)
	cut(t, r, g)
	r.Send("/quit")
	deadline := time.After(waitTime)
	for {
		select {
		case ev, ok := <-r.Events():
			if !ok {
				if k := r.Reason().Kind; k != room.ReasonQuit {
					t.Errorf("ended with %v, want a quit", r.Reason())
				}
				return
			}
			if ev.Kind == room.Error {
				t.Errorf("/quit while away was refused: %s", ev.Text)
			}
		case <-deadline:
			t.Fatal("the session did not end after /quit while away")
		}
	}
}

// TestRefusedLineDoesNotMarkTheSessionQuitting: a line refused while away
// leaves the session as it was: once back, a second loss is reconnected.
func TestRefusedLineDoesNotMarkTheSessionQuitting(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	g := testproc.StartGate(t, ts.addr)
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)
	cut(t, r, g)
	r.Send("hello?")
	nextWhere(t, r.Events(), "the refusal", func(ev *room.Event) bool { return ev.Kind == room.Error })
	g.Reopen()
	nextNotice(t, r.Events(), "reconnected after")
	nextEvent(t, r.Events(), room.Members)
	g.Cut(true) // cut, but let it back at once
	for {
		select {
		case ev, ok := <-r.Events():
			if !ok {
				t.Fatalf("the session ended after the second loss instead of reconnecting: %v", r.Reason())
			}
			if ev.Kind == room.Notice && strings.HasPrefix(ev.Text, "reconnected after") {
				return
			}
		case <-time.After(waitTime):
			t.Fatal("no reconnect after the second loss")
		}
	}
}

// TestReplayedRenameIsNotTheClients: the history replayed to a joiner
// holds a rename of someone who had its nickname earlier; the client keeps
// the nickname it joined as.
func TestReplayedRenameIsNotTheClients(t *testing.T) {
	ts := startServer(t, tlsgw.Config{Room: unthrottled()})
	bob := ts.join(t, "bob")
	carol := ts.join(t, "carol")
	carol.send("/nick carol2")
	bob.expect("carol is now known as carol2")
	c, err := dialClient(t, ts.addr, "carol", Trust{CAFile: ts.caFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c.Events(), room.Members)
	if c.Nick() != "carol" {
		t.Errorf("Nick() = %q after joining as carol, want carol", c.Nick())
	}
	c.Send("/nick carol3")
	nextWhere(t, c.Events(), "the own rename", func(ev *room.Event) bool { return ev.Kind == room.NickChange && ev.To == "carol3" })
	if c.Nick() != "carol3" {
		t.Errorf("Nick() = %q after /nick carol3", c.Nick())
	}
}
