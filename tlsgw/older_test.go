package tlsgw

import (
	"fmt"
	"strings"
	"testing"

	"chatd/proto"
	"chatd/room"
)

// olderServer is a server whose log keeps 100 events and whose history
// shows 5; alice has said "line 1" to "line 40" (events 2 to 41, after
// her join).
func olderServer(t *testing.T) (*testServer, *client) {
	t.Helper()
	ts := startServer(t, Config{Room: room.New(room.Config{HistorySize: 5, FloodBurst: 100, Log: room.NewMemoryLog(100)})})
	alice := ts.join(t, "alice")
	for i := 1; i <= 40; i++ {
		alice.send(fmt.Sprint("line ", i))
	}
	alice.send("/who")
	alice.expect("*** 1 member: alice")
	return ts, alice
}

// numberedJoin connects, asks for numbered lines and joins as nick,
// reading up to the member list.
func numberedJoin(t *testing.T, ts *testServer, nick string) *client {
	t.Helper()
	c := ts.connect(t)
	c.send("/resume 0")
	c.expect("*** " + proto.NickPrompt)
	c.send(nick)
	c.expect(" members: ")
	return c
}

// TestOlderPageIsFramed: a numbered client asks for the page before an
// event and gets it as one framed block of numbered lines, oldest first;
// paging back reaches the first event with a short page; the block is
// whole even while others talk.
func TestOlderPageIsFramed(t *testing.T) {
	ts, alice := olderServer(t)
	bob := numberedJoin(t, ts, "bob")
	bob.send("/older 10 3")
	bob.expectPrefixed(
		[2]string{"*** older before 10: 3", ""},
		[2]string{"#7 [", "<alice> line 6"},
		[2]string{"#8 [", "<alice> line 7"},
		[2]string{"#9 [", "<alice> line 8"},
		[2]string{"*** older end", ""})
	bob.send("/older 3 100")
	bob.expectPrefixed(
		[2]string{"*** older before 3: 2", ""},
		[2]string{"#1 [", "*** alice joined"},
		[2]string{"#2 [", "<alice> line 1"},
		[2]string{"*** older end", ""})
	bob.send("/older 1 5")
	bob.expectLines("*** older before 1: 0", "*** older end")

	// While alice talks, a page of 40 is still one block.
	go func() {
		for i := range 20 {
			fmt.Fprintf(alice.conn, "live %d\n", i)
		}
	}()
	bob.send("/older 42 40")
	bob.expect("*** older before 42: 40")
	for i := 2; i <= 41; i++ {
		if line := bob.readLine(); !strings.HasPrefix(line, fmt.Sprintf("#%d [", i)) {
			t.Fatalf("line %d of the block is %q", i-1, line)
		}
	}
	bob.expectLines("*** older end")
}

// TestHostileOlderRequests: malformed requests are refused with the
// reason, without reading the log; requests faster than the page rate are
// answered "busy"; a client that keeps asking regardless is disconnected
// as flooding. A client that did not ask for numbered lines never sees the
// extension: /older is an unknown command to it, and /help does not list
// it; at the nickname prompt it is no nickname.
func TestHostileOlderRequests(t *testing.T) {
	ts, _ := olderServer(t)
	bob := numberedJoin(t, ts, "bob")
	for _, line := range []string{"/older", "/older x 5", "/older 10", "/older 10 0", "/older 10 101", "/older 10 5 5",
		"/older -1 5", "/older 99999999999999999999999 5", "/OLDER 10 +5", "/older " + strings.Repeat("9", 1500) + " 5"} {
		bob.send(line)
		if got := bob.readLine(); !strings.HasPrefix(got, "!!! invalid /older request: ") {
			t.Errorf("%.40q was answered %q", line, got)
		}
	}

	carol := numberedJoin(t, ts, "carol")
	pages, busy := 0, 0
	for range 10 {
		carol.send("/older 30 100")
	}
	for range 10 {
		line := carol.readLine()
		switch {
		case line == "*** older before 30: busy":
			busy++
		case line == "*** older before 30: 29":
			pages++
			carol.expect("*** older end")
		default:
			t.Fatalf("unexpected answer %q", line)
		}
	}
	if pages > room.PageBurst+1 || busy < 10-room.PageBurst-1 {
		t.Errorf("10 requests at once: %d pages, %d busy; want at most %d pages", pages, busy, room.PageBurst+1)
	}
	for range maxOlderRefused {
		carol.send("/older 30 1")
	}
	lines := carol.expectClosed()
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "flood") {
		t.Errorf("a client that kept asking was not disconnected for flooding: last lines %q", lines[max(0, len(lines)-3):])
	}

	plain := ts.join(t, "dave")
	plain.send("/older 10 5")
	if line := plain.readLine(); !strings.Contains(line, `unknown command "/older"`) {
		t.Errorf("/older from a client without numbers was answered %q", line)
	}
	plain.send("/help")
	line, skipped := plain.expect("/quit")
	for _, l := range append(skipped, line) {
		if strings.Contains(l, "older") {
			t.Errorf("/help lists the extension: %q", l)
		}
	}

	early := ts.connect(t)
	early.send("/older 10 5")
	if line := early.readLine(); !strings.HasPrefix(line, "!!! ") || strings.Contains(line, "older before") {
		t.Errorf("/older at the prompt was answered %q", line)
	}
	early.expectLines("*** " + proto.NickPrompt)
}
