package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

// startSession joins ts, through g, as nick in a reconnecting session that
// echoes its own lines, as the screen's does.
func startSession(t *testing.T, ts *testServer, g *testproc.Gate, nick string, askNick func(error)) *Redialer {
	t.Helper()
	return startSessionWith(t, ts, g, nick, askNick, nil)
}

// startSessionWith is startSession asking to resume from resume (nil: the
// session does not use the resume extension).
func startSessionWith(t *testing.T, ts *testServer, g *testproc.Gate, nick string, askNick func(error), resume *proto.ResumePoint) *Redialer {
	t.Helper()
	trust := Trust{CAFile: ts.caFile(t)}
	tlsCfg, err := trust.ClientTLSConfig(g.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: g.Addr(), Nick: nick, TLS: tlsCfg, Resume: resume}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Reconnect: true, Echo: true, AskNick: askNick,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, c)
	t.Cleanup(func() {
		r.Close()
		for range r.Events() {
		}
	})
	return r
}

// cut cuts the session's connection at the gate, as a lost network would,
// keeps it away, and waits until the session knows.
func cut(t *testing.T, r *Redialer, g *testproc.Gate) {
	t.Helper()
	g.Cut(false)
	waitLink(t, r, func(l Link) bool { return l.Down })
}

// collect returns the session's events up to and including the first that
// stop accepts.
func collect(t *testing.T, r *Redialer, stop func(*room.Event) bool) []*room.Event {
	t.Helper()
	var got []*room.Event
	nextWhere(t, r.Events(), "the end of what to collect", func(ev *room.Event) bool {
		got = append(got, ev)
		return stop(ev)
	})
	return got
}

func texts(events []*room.Event) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "%s %s: %s (%d)\n", ev.Kind, ev.From, ev.Text, ev.Count)
	}
	return b.String()
}

// TestRejoinShowsOnlyWhatWasMissed: the connection is lost while the server
// keeps running. On the way back the server greets again and replays its
// history; the session passes on only the notice that it is back, what was
// said while it was away, framed as history, and the member list: not the
// greeting, not what it showed already (its own line included), not its
// own join.
func TestRejoinShowsOnlyWhatWasMissed(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	g := testproc.StartGate(t, ts.addr)
	bob := ts.join(t, "bob")
	r := startSession(t, ts, g, "alice", nil)
	nextEvent(t, r.Events(), room.Members)
	bob.send("one")
	bob.send("two")
	nextWhere(t, r.Events(), "two", func(ev *room.Event) bool { return ev.Text == "two" })
	r.Send("mine")
	bob.expect("<alice> mine")
	nextWhere(t, r.Events(), "the echo", func(ev *room.Event) bool { return ev.Text == "mine" })

	cut(t, r, g)
	bob.expect("*** alice left")
	bob.send("while you were away")
	bob.send("/who") // answered once the line before is in the history
	bob.expect("*** 1 member: bob")
	g.Reopen()

	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	text := texts(got)
	if got[0].Kind != room.Notice || !strings.HasPrefix(got[0].Text, "reconnected after ") {
		t.Errorf("the first event back is not the notice that says so:\n%s", text)
	}
	var history []string
	in := false
	for _, ev := range got {
		switch {
		case ev.Kind == room.HistoryBegin:
			in = true
			if ev.Count != 2 {
				t.Errorf("the replay is announced with %d events, want 2:\n%s", ev.Count, text)
			}
		case ev.Kind == room.HistoryEnd:
			in = false
		case in:
			history = append(history, ev.Kind.String()+" "+ev.From+" "+ev.Text)
		}
	}
	if want := []string{"leave alice ", "chat bob while you were away"}; strings.Join(history, "|") != strings.Join(want, "|") {
		t.Errorf("the replay passed on %q, want %q:\n%s", history, want, text)
	}
	for _, ev := range got {
		if ev.Kind == room.Join || strings.HasPrefix(ev.Text, "Welcome") || ev.Text == "one" || ev.Text == "mine" {
			t.Errorf("passed on again: %s %s %q\n%s", ev.Kind, ev.From, ev.Text, text)
		}
	}
	if m := got[len(got)-1]; len(m.Nicks) != 2 {
		t.Errorf("member list %q after rejoining", m.Nicks)
	}

	// A second loss, with nothing said meanwhile but the leave and join:
	// only those are new.
	cut(t, r, g)
	bob.expect("*** alice left")
	g.Reopen()
	bob.expect("*** alice joined")
	got = collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	var replayed []string
	for _, ev := range got {
		if ev.Kind.Public() {
			replayed = append(replayed, ev.Kind.String()+" "+ev.From)
		}
	}
	if strings.Join(replayed, "|") != "leave alice" {
		t.Errorf("after a second loss, passed on %q, want only the leave:\n%s", replayed, texts(got))
	}
}

// TestCatchUpWithoutTheLastSeenEvent: a replay that does not reach back to
// what the session saw (a restarted server, or a long absence) is all new;
// the user's own lines in it are recognised only after the place found.
func TestCatchUpWithoutTheLastSeenEvent(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	chat := func(from, text string, sec int) *room.Event {
		return &room.Event{Kind: room.Chat, From: from, Text: text, Time: at.Add(time.Duration(sec) * time.Second)}
	}
	s := newSeenLog()
	s.nick = "alice"
	for i := range 20 {
		s.public.add(wireKey(chat("bob", fmt.Sprint(i), i)))
	}
	s.echoed(chat("alice", "earlier", 15))
	s.echoed(chat("alice", "mine", 30))

	fresh := []*room.Event{chat("carol", "new", 100), chat("alice", "mine", 101)}
	if got := s.catchUp(fresh); len(got) != 2 {
		t.Errorf("a replay without the last seen event: %d of 2 passed on", len(got))
	}
	// The same text at another time is another event.
	again := []*room.Event{chat("bob", "19", 40)}
	if got := s.catchUp(again); len(got) != 1 {
		t.Errorf("a line like the last seen one, said later: %d of 1 passed on", len(got))
	}
	// The run of what was seen, the own line inside it, then new events.
	var replay []*room.Event
	for i := 10; i < 20; i++ {
		replay = append(replay, chat("bob", fmt.Sprint(i), i))
		if i == 15 {
			replay = append(replay, chat("alice", "earlier", 15))
		}
	}
	replay = append(replay, chat("alice", "mine", 30), chat("bob", "missed", 31))
	got := s.catchUp(replay)
	if len(got) != 1 || got[0].Text != "missed" {
		t.Errorf("caught up with %s, want only bob's missed line", texts(got))
	}
}

// TestTakenNicknameOnRejoinAsksForAnother: someone took the nickname while
// the session was away. The session asks (AskNick), stays away while the
// answers are refused, and rejoins under the first the server accepts.
func TestTakenNicknameOnRejoinAsksForAnother(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	g := testproc.StartGate(t, ts.addr)
	asked := make(chan error, 1)
	r := startSession(t, ts, g, "alice", func(refused error) { asked <- refused })
	nextEvent(t, r.Events(), room.Members)
	if err := r.Rejoin("alice2"); !errors.Is(err, ErrNotAsking) {
		t.Errorf("Rejoin while connected: %v, want ErrNotAsking", err)
	}
	watcher := ts.join(t, "watcher")
	cut(t, r, g)
	watcher.expect("*** alice left")
	// The nickname is held for its owner, whose address this is too.
	thief := ts.join(t, "alice")
	g.Reopen()
	var refused error
	select {
	case refused = <-asked:
	case <-time.After(waitTime):
		t.Fatal("the session never asked for another nickname")
	}
	var nr *NickRefusedError
	if !errors.As(refused, &nr) || nr.Nick != "alice" || !strings.Contains(nr.Reason, "already in use") {
		t.Fatalf("AskNick(%v), want the server's refusal of alice", refused)
	}
	if l := r.Link(); !l.Down || !l.RetryAt.IsZero() {
		t.Errorf("Link() %+v while asking, want down with no attempt planned", l)
	}
	if err := r.Rejoin("alice"); !errors.Is(err, ErrNickRefused) {
		t.Errorf("Rejoin as the taken nickname: %v", err)
	}
	if err := r.Rejoin("alice2"); err != nil {
		t.Fatalf("Rejoin as alice2: %v", err)
	}
	thief.expect("*** alice2 joined")
	nextNotice(t, r.Events(), "reconnected after")
	if r.Nick() != "alice2" || r.Link().Down {
		t.Errorf("Nick() %q, Link() %+v after rejoining", r.Nick(), r.Link())
	}
	r.Send("hello as alice2")
	thief.expect("<alice2> hello as alice2")
}

// TestRejoinPassesOnAReplayTooLongToHold: a server that replays more than
// a rejoin holds to compare gets it all passed on, in order, and the
// session's memory stays bounded.
func TestRejoinPassesOnAReplayTooLongToHold(t *testing.T) {
	s := newSeenLog()
	first := newRejoinFilter(s, "alice", false, proto.ResumePoint{}, false)
	first.pass(&room.Event{Kind: room.Join, From: "alice"})
	first.pass(&room.Event{Kind: room.Chat, From: "bob", Text: "seen"})

	f := newRejoinFilter(s, "alice", true, proto.ResumePoint{}, false)
	var out []*room.Event
	take := func(ev *room.Event) { out = append(out, f.pass(ev)...) }
	take(&room.Event{Kind: room.HistoryBegin, Count: 5000})
	long := strings.Repeat("x", 4000)
	for i := range 5000 {
		take(&room.Event{Kind: room.Chat, From: "bob", Text: fmt.Sprint(i, long)})
		if f.bytes > maxHeldBytes || len(f.held) > maxHeldReplay {
			t.Fatalf("holding %d events, %d bytes", len(f.held), f.bytes)
		}
	}
	take(&room.Event{Kind: room.HistoryEnd})
	if len(out) != 5002 || out[0].Kind != room.HistoryBegin || out[5001].Kind != room.HistoryEnd {
		t.Fatalf("passed on %d events, want the 5000 replayed between their markers", len(out))
	}
	for i, ev := range out[1:5001] {
		if !strings.HasPrefix(ev.Text, fmt.Sprint(i, "x")) {
			t.Fatalf("event %d is %.10q: out of order", i, ev.Text)
		}
	}
}
