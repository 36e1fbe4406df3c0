package tlsgw

import (
	"strings"
	"testing"
	"time"

	"chatd/proto"
	"chatd/room"
)

// expectLines reads the next lines and checks that each ends with the
// one wanted (server lines may carry a stamp).
func (c *client) expectLines(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if line := c.readLine(); !strings.HasSuffix(line, w) {
			c.t.Fatalf("got %q, want ...%q", line, w)
		}
	}
}

// TestWhoBeforeJoining: at the nickname prompt, /who (and !users) shows
// the member list and the prompt again, other commands are refused with
// the prompt again, and none of it joins or is announced; then the client
// joins as usual.
func TestWhoBeforeJoining(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	ts.join(t, "bob")
	alice.expect("*** bob joined")

	visitor := ts.connect(t)
	visitor.send("/who")
	visitor.expectLines("*** 2 members: alice, bob", "*** "+proto.NickPrompt)
	visitor.send("!USERS")
	visitor.expectLines("*** 2 members: alice, bob", "*** "+proto.NickPrompt)
	visitor.send("/nick carol")
	visitor.expectLines("!!! "+room.VisitorRefusal, "*** "+proto.NickPrompt)
	visitor.send("/frobnicate")
	visitor.expectLines("!!! "+room.VisitorRefusal, "*** "+proto.NickPrompt)
	if n := ts.room.Len(); n != 2 {
		t.Errorf("the room has %d members while the visitor looks, want 2", n)
	}
	visitor.send("carol")
	visitor.expect("*** carol joined")
	if line, skipped := alice.expect("carol"); !strings.HasSuffix(line, "*** carol joined") || len(skipped) > 0 {
		t.Errorf("alice got %q, then %q: the visitor's looking around was shown", skipped, line)
	}
}

// TestWhoBeforeJoiningAnEmptyRoom: the list of an empty room says so.
func TestWhoBeforeJoiningAnEmptyRoom(t *testing.T) {
	ts := startServer(t, Config{})
	visitor := ts.connect(t)
	visitor.send("/who")
	visitor.expectLines("*** 0 members", "*** "+proto.NickPrompt)
}

// TestQuitBeforeJoining: /quit at the nickname prompt says goodbye and
// closes the connection, announcing nothing.
func TestQuitBeforeJoining(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	visitor := ts.connect(t)
	visitor.send("/who")
	visitor.send("/quit")
	if lines := visitor.expectClosed(); len(lines) != 3 || !strings.HasSuffix(lines[0], "*** 1 member: alice") || lines[2] != "*** Goodbye." {
		t.Errorf("the visitor got %q, want the list, the prompt and a goodbye", lines)
	}
	alice.send("/who")
	if line, skipped := alice.expect("member"); !strings.HasSuffix(line, "*** 1 member: alice") || len(skipped) > 0 {
		t.Errorf("alice got %q, then %q", skipped, line)
	}
}

// TestWhoBeforeJoiningKeepsTheNicknameBounds: looking cannot keep a
// connection open: each /who is one of the 10 attempts, and the time to
// choose a nickname runs on while the client looks.
func TestWhoBeforeJoiningKeepsTheNicknameBounds(t *testing.T) {
	ts := startServer(t, Config{NickTimeout: time.Second})
	looker := ts.connect(t)
	for range maxNickAttempts {
		looker.send("/who")
	}
	lines := looker.expectClosed()
	if n := len(lines); n != 2*maxNickAttempts+1 || lines[n-1] != "!!! too many attempts; goodbye" {
		t.Errorf("after %d /who the looker got %d lines, ending %q; want %d lists and prompts, then a goodbye",
			maxNickAttempts, n, lines[max(n-1, 0)], maxNickAttempts)
	}

	start := time.Now()
	idler := ts.connect(t)
	for range maxNickAttempts - 1 {
		idler.send("/who")
		idler.expect(proto.NickPrompt)
	}
	lines = idler.expectClosed()
	if len(lines) != 1 || lines[0] != "!!! no nickname chosen in time; goodbye" {
		t.Errorf("a client that looked and then chose nothing got %q", lines)
	}
	if took := time.Since(start); took > time.Second+waitTime/2 {
		t.Errorf("the connection lasted %v with a nickname timeout of 1s", took)
	}
}
